//! The `users` table.

use chrono::{DateTime, Utc};
use contracts::{UserProfile, UserShort, seed};
use service_kit::{Database, Fault, db_query};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct ShortRow {
    uuid: Uuid,
    handle: String,
    display_name: String,
}

impl From<ShortRow> for UserShort {
    fn from(row: ShortRow) -> Self {
        Self { uuid: row.uuid, handle: row.handle, display_name: row.display_name }
    }
}

#[derive(sqlx::FromRow)]
struct ProfileRow {
    uuid: Uuid,
    handle: String,
    display_name: String,
    bio: Option<String>,
}

pub async fn profile_by_handle(db: &Database, handle: &str) -> Result<Option<UserProfile>, sqlx::Error> {
    const SQL: &str = "SELECT uuid, handle, display_name, bio FROM users WHERE handle = $1";
    let row = db_query!(db, "SELECT", "users", SQL, |pool| {
        sqlx::query_as::<_, ProfileRow>(SQL).bind(handle).fetch_optional(pool).await
    })?;
    Ok(row.map(|row| UserProfile { uuid: row.uuid, handle: row.handle, display_name: row.display_name, bio: row.bio }))
}

pub async fn short_by_handle(db: &Database, handle: &str) -> Result<Option<UserShort>, sqlx::Error> {
    const SQL: &str = "SELECT uuid, handle, display_name FROM users WHERE handle = $1";
    let row = db_query!(db, "SELECT", "users", SQL, |pool| {
        sqlx::query_as::<_, ShortRow>(SQL).bind(handle).fetch_optional(pool).await
    })?;
    Ok(row.map(UserShort::from))
}

/// Users by uuid in one query (the batched lookup behind every feed),
/// slowed or failed inside its span as `fault` says.
pub async fn short_by_uuids(db: &Database, fault: &Fault, uuids: &[Uuid]) -> Result<Vec<UserShort>, sqlx::Error> {
    const SQL: &str = "SELECT uuid, handle, display_name FROM users WHERE uuid IN ($1, …)";
    if uuids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db_query!(db, "SELECT", "users", SQL, |pool| {
        let mut query = sqlx::QueryBuilder::new("SELECT uuid, handle, display_name FROM users WHERE uuid IN (");
        let mut list = query.separated(", ");
        for uuid in uuids {
            list.push_bind(*uuid);
        }
        list.push_unseparated(")");
        fault.around(query.build_query_as::<ShortRow>().fetch_all(pool)).await
    })?;
    Ok(rows.into_iter().map(UserShort::from).collect())
}

pub async fn update_profile(
    db: &Database,
    handle: &str,
    display_name: &str,
    bio: Option<&str>,
) -> Result<Option<UserShort>, sqlx::Error> {
    const SQL: &str =
        "UPDATE users SET display_name = $1, bio = $2 WHERE handle = $3 RETURNING uuid, handle, display_name";
    let row = db_query!(db, "UPDATE", "users", SQL, |pool| {
        sqlx::query_as::<_, ShortRow>(SQL).bind(display_name).bind(bio).bind(handle).fetch_optional(pool).await
    })?;
    Ok(row.map(UserShort::from))
}

pub async fn seed(db: &Database) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO users (uuid, display_name, handle, email, cognito_user_id, bio, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (uuid) DO NOTHING";
    let now: DateTime<Utc> = service_kit::now();
    for user in seed::USERS {
        db_query!(db, "INSERT", "users", SQL, |pool| {
            sqlx::query(SQL)
                .bind(user.uuid)
                .bind(user.display_name)
                .bind(user.handle)
                .bind(user.email)
                .bind("MOCK")
                .bind(user.bio)
                .bind(now)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
    }
    Ok(())
}
