//! The `notifications` table.

use chrono::{DateTime, Duration, Utc};
use contracts::{NewNotification, NotificationKind, seed};
use service_kit::{Database, Fault, db_query};
use uuid::Uuid;

/// A stored notification; its actor is hydrated by the caller.
#[derive(sqlx::FromRow)]
pub struct Row {
    pub uuid: Uuid,
    pub actor_user_uuid: Uuid,
    pub activity_uuid: Uuid,
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// Newest first; a recipient sees at most this many. Written into the SQL,
/// not bound: SQLite re-prepares a statement whose bound LIMIT changes.
macro_rules! page {
    () => {
        "50"
    };
}

/// A recipient's inbox, slowed or failed inside its span as `fault` says.
pub async fn for_recipient(db: &Database, fault: &Fault, recipient: Uuid) -> Result<Vec<Row>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT uuid, actor_user_uuid, activity_uuid, kind, created_at, read_at FROM notifications \
         WHERE recipient_user_uuid = $1 ORDER BY created_at DESC LIMIT ",
        page!()
    );
    db_query!(db, "SELECT", "notifications", SQL, |pool| {
        fault.around(sqlx::query_as::<_, Row>(SQL).bind(recipient).fetch_all(pool)).await
    })
}

pub async fn insert(db: &Database, new: &NewNotification, uuid: Uuid, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO notifications (uuid, recipient_user_uuid, actor_user_uuid, activity_uuid, kind, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (uuid) DO NOTHING";
    db_query!(db, "INSERT", "notifications", SQL, |pool| {
        sqlx::query(SQL)
            .bind(uuid)
            .bind(new.recipient_user_uuid)
            .bind(new.actor_user_uuid)
            .bind(new.activity_uuid)
            .bind(new.kind.as_str())
            .bind(at)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })
    .map(drop)
}

/// The week-2 mock: Coco's "I am white unicorn", shown to andrewbrown.
pub async fn seed(db: &Database) -> Result<(), sqlx::Error> {
    let unicorn = NewNotification {
        recipient_user_uuid: seed::ANDREWBROWN,
        actor_user_uuid: seed::COCO,
        activity_uuid: seed::WHITE_UNICORN,
        kind: NotificationKind::Mention,
    };
    insert(db, &unicorn, seed::UNICORN_NOTIFICATION, service_kit::now() - Duration::hours(48)).await
}
