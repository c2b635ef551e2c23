//! The `messages` table: direct messages between two users, grouped by
//! conversation ([`contracts::message_group_uuid`]).

use chrono::{DateTime, Duration, Utc};
use contracts::{NewMessage, message_group_uuid, seed};
use service_kit::{Database, db_query};
use uuid::Uuid;

/// A stored message; its author is hydrated by the caller.
#[derive(sqlx::FromRow)]
pub struct Row {
    pub uuid: Uuid,
    pub message_group_uuid: Uuid,
    pub sender_user_uuid: Uuid,
    pub receiver_user_uuid: Uuid,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

impl Row {
    /// The person `user` is talking to in this message's conversation.
    pub fn other_than(&self, user: Uuid) -> Uuid {
        if self.sender_user_uuid == user { self.receiver_user_uuid } else { self.sender_user_uuid }
    }
}

/// An inbox lists at most this many conversations, a conversation at most
/// this many (latest) messages. Written into the SQL, not bound: SQLite
/// re-prepares a statement whose LIMIT is a bound parameter.
macro_rules! page {
    () => {
        "100"
    };
}

/// The last message of each conversation `user` is part of, newest first.
pub async fn latest_per_group(db: &Database, user: Uuid) -> Result<Vec<Row>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT m.uuid, m.message_group_uuid, m.sender_user_uuid, m.receiver_user_uuid, m.message, \
                       m.created_at FROM messages m \
                       WHERE (m.sender_user_uuid = $1 OR m.receiver_user_uuid = $1) \
                       AND NOT EXISTS (SELECT 1 FROM messages later \
                       WHERE later.message_group_uuid = m.message_group_uuid \
                       AND (later.created_at > m.created_at OR (later.created_at = m.created_at AND later.uuid > m.uuid))) \
                       ORDER BY m.created_at DESC LIMIT ",
        page!()
    );
    db_query!(db, "SELECT", "messages", SQL, |pool| { sqlx::query_as::<_, Row>(SQL).bind(user).fetch_all(pool).await })
}

/// The latest messages of one conversation, oldest first.
pub async fn in_group(db: &Database, group: Uuid) -> Result<Vec<Row>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT uuid, message_group_uuid, sender_user_uuid, receiver_user_uuid, message, created_at \
         FROM messages WHERE message_group_uuid = $1 ORDER BY created_at DESC, uuid DESC LIMIT ",
        page!()
    );
    let mut rows = db_query!(db, "SELECT", "messages", SQL, |pool| {
        sqlx::query_as::<_, Row>(SQL).bind(group).fetch_all(pool).await
    })?;
    rows.reverse();
    Ok(rows)
}

pub async fn insert(db: &Database, new: &NewMessage, uuid: Uuid, at: DateTime<Utc>) -> Result<Row, sqlx::Error> {
    const SQL: &str = "INSERT INTO messages (uuid, message_group_uuid, sender_user_uuid, receiver_user_uuid, message, \
                       created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (uuid) DO NOTHING";
    let row = Row {
        uuid,
        message_group_uuid: message_group_uuid(new.sender_user_uuid, new.receiver_user_uuid),
        sender_user_uuid: new.sender_user_uuid,
        receiver_user_uuid: new.receiver_user_uuid,
        message: new.message.clone(),
        created_at: at,
    };
    db_query!(db, "INSERT", "messages", SQL, |pool| {
        sqlx::query(SQL)
            .bind(row.uuid)
            .bind(row.message_group_uuid)
            .bind(row.sender_user_uuid)
            .bind(row.receiver_user_uuid)
            .bind(&row.message)
            .bind(row.created_at)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(row)
}

/// The week-2 mock conversations (API.md), relative to now; idempotent.
pub async fn seed(db: &Database) -> Result<(), sqlx::Error> {
    let now = service_kit::now();
    for message in seed::MESSAGES {
        let new = NewMessage {
            sender_user_uuid: message.sender,
            receiver_user_uuid: message.receiver,
            message: message.message.to_owned(),
        };
        insert(db, &new, message.uuid, now - Duration::minutes(message.age_minutes)).await?;
    }
    Ok(())
}
