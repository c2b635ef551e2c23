//! The `activities` table. Replies are activities with a
//! `reply_to_activity_uuid`.

use chrono::{DateTime, Duration, Utc};
use contracts::seed;
use service_kit::{Database, Fault, db_query};
use uuid::Uuid;

/// Feeds show at most this many activities (the original's profile page: 40).
/// The limit is written into the statements, not bound: SQLite (measured on 3.51) lets a bound LIMIT steer the plan, so
/// binding it expires the prepared statement and every execution parsed and
/// planned the query again (a fifth of a home request's instructions).
macro_rules! page {
    () => {
        "40"
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActivityRow {
    pub uuid: Uuid,
    pub user_uuid: Uuid,
    pub message: String,
    pub replies_count: i64,
    pub reposts_count: i64,
    pub likes_count: i64,
    pub reply_to_activity_uuid: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The columns of [`ActivityRow`], in bind order: every statement below is
/// built from this one literal at compile time.
macro_rules! columns {
    () => {
        "uuid, user_uuid, message, replies_count, reposts_count, likes_count, reply_to_activity_uuid, expires_at, created_at"
    };
}

/// `SELECT {columns} FROM activities {rest…}`.
macro_rules! select {
    ($($rest:tt)+) => {
        concat!("SELECT ", columns!(), " FROM activities ", $($rest)+)
    };
}

/// `INSERT INTO activities ({columns}, message_folded) VALUES ($1, …, $10){rest}`,
/// bound by [`insert_query`].
macro_rules! insert {
    ($rest:literal) => {
        concat!(
            "INSERT INTO activities (",
            columns!(),
            ", message_folded) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            $rest
        )
    };
}

/// What search compares: text case-folded by Unicode's full rules ("Straße"
/// and "STRASSE" alike, every form of sigma alike), in Rust, so both
/// databases match alike (migration 0003 says why). A change to this rule
/// needs a migration that empties `message_folded`, so that older rows are
/// folded again at start.
fn folded(text: &str) -> String {
    icu_casemap::CaseMapper::new().fold_string(text).into_owned()
}

/// The home feed: top-level activities that have not expired, newest first
/// (two posted at the same instant in uuid order, the same on both
/// databases), and the replies to them, oldest first.
#[derive(Debug)]
pub struct HomeRows {
    pub parents: Vec<ActivityRow>,
    pub replies: Vec<ActivityRow>,
}

/// The feed and its replies in one statement (one round trip; slowed or
/// failed inside its span as `fault` says). The page's filter runs twice,
/// once for the page and once to join the replies, because a shared or
/// `IN (…)` list is one more temporary table per request in SQLite; `CROSS
/// JOIN` keeps SQLite reading the page first, from the index, without one.
pub async fn home(db: &Database, fault: &Fault, now: DateTime<Utc>) -> Result<HomeRows, sqlx::Error> {
    macro_rules! page_filter {
        () => {
            concat!(
                "WHERE reply_to_activity_uuid IS NULL AND (expires_at IS NULL OR expires_at > $1) \
                 ORDER BY created_at DESC, uuid LIMIT ",
                page!()
            )
        };
    }
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM (",
        select!(page_filter!()),
        ") AS page UNION ALL SELECT ",
        columns!(),
        " FROM (SELECT uuid AS parent_uuid FROM activities ",
        page_filter!(),
        ") AS parent CROSS JOIN activities WHERE reply_to_activity_uuid = parent_uuid"
    );
    let rows = db_query!(db, "SELECT", "activities", SQL, |pool| {
        fault.around(sqlx::query_as::<_, ActivityRow>(SQL).bind(now).fetch_all(pool)).await
    })?;
    // UNION ALL promises no order: each part is put in its own here.
    let (mut replies, mut parents): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|row| row.reply_to_activity_uuid.is_some());
    parents.sort_unstable_by(|a, b| b.created_at.cmp(&a.created_at).then(a.uuid.cmp(&b.uuid)));
    replies.sort_unstable_by(|a, b| a.created_at.cmp(&b.created_at).then(a.uuid.cmp(&b.uuid)));
    Ok(HomeRows { parents, replies })
}

/// Activities whose message contains `term` (case-insensitive), newest first.
/// A row an older build wrote, not folded yet, is compared as SQL's `LOWER`
/// folds it (until the next start folds it; during a rolling deploy, say).
pub async fn search(db: &Database, term: &str, now: DateTime<Utc>) -> Result<Vec<ActivityRow>, sqlx::Error> {
    const SQL: &str = select!(
        "WHERE COALESCE(message_folded, LOWER(message)) LIKE $1 ESCAPE '\\' \
         AND (expires_at IS NULL OR expires_at > $2) \
         ORDER BY created_at DESC LIMIT ",
        page!()
    );
    let pattern = format!("%{}%", escape_like(&folded(term)));
    db_query!(db, "SELECT", "activities", SQL, |pool| {
        sqlx::query_as::<_, ActivityRow>(SQL).bind(&pattern).bind(now).fetch_all(pool).await
    })
}

/// `%`, `_` and `\` in a search term match themselves.
fn escape_like(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len());
    for ch in term.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    escaped
}

/// A user's latest activities (profile page), newest first; expired ones
/// left out, as everywhere.
pub async fn by_user(db: &Database, user: Uuid, now: DateTime<Utc>) -> Result<Vec<ActivityRow>, sqlx::Error> {
    const SQL: &str = select!(
        "WHERE user_uuid = $1 AND reply_to_activity_uuid IS NULL AND (expires_at IS NULL OR expires_at > $2) \
         ORDER BY created_at DESC LIMIT ",
        page!()
    );
    db_query!(db, "SELECT", "activities", SQL, |pool| {
        sqlx::query_as::<_, ActivityRow>(SQL).bind(user).bind(now).fetch_all(pool).await
    })
}

/// The activity, unless it has expired: an expired one is gone for every
/// route, as for the feeds (a reply shares its parent's expiry).
pub async fn find(db: &Database, uuid: Uuid, now: DateTime<Utc>) -> Result<Option<ActivityRow>, sqlx::Error> {
    const SQL: &str = select!("WHERE uuid = $1 AND (expires_at IS NULL OR expires_at > $2)");
    db_query!(db, "SELECT", "activities", SQL, |pool| {
        sqlx::query_as::<_, ActivityRow>(SQL).bind(uuid).bind(now).fetch_optional(pool).await
    })
}

/// The given activities that have not expired, in one query, in no
/// particular order.
pub async fn find_many(db: &Database, uuids: &[Uuid], now: DateTime<Utc>) -> Result<Vec<ActivityRow>, sqlx::Error> {
    const SQL: &str = select!("WHERE uuid IN ($1, …)");
    let mut rows = in_list(db, SQL, "WHERE uuid IN (", uuids, ")").await?;
    rows.retain(|row| row.expires_at.is_none_or(|expires_at| expires_at > now));
    Ok(rows)
}

/// The replies to the given activities, oldest first.
pub async fn replies_to(db: &Database, parents: &[Uuid]) -> Result<Vec<ActivityRow>, sqlx::Error> {
    const SQL: &str = select!("WHERE reply_to_activity_uuid IN ($1, …) ORDER BY created_at");
    in_list(db, SQL, "WHERE reply_to_activity_uuid IN (", parents, ") ORDER BY created_at").await
}

/// `SELECT … {head}$1, $2, …{tail}`: one query for a list of ids.
async fn in_list(
    db: &Database,
    sql: &'static str,
    head: &str,
    uuids: &[Uuid],
    tail: &str,
) -> Result<Vec<ActivityRow>, sqlx::Error> {
    if uuids.is_empty() {
        return Ok(Vec::new());
    }
    db_query!(db, "SELECT", "activities", sql, |pool| {
        let mut query = sqlx::QueryBuilder::new(select!(""));
        query.push(head);
        let mut list = query.separated(", ");
        for uuid in uuids {
            list.push_bind(*uuid);
        }
        list.push_unseparated(tail);
        query.build_query_as::<ActivityRow>().fetch_all(pool).await
    })
}

pub async fn insert(db: &Database, row: &ActivityRow) -> Result<(), sqlx::Error> {
    const SQL: &str = insert!("");
    db_query!(db, "INSERT", "activities", SQL, |pool| {
        insert_query(SQL, row).execute(pool).await.map(|done| done.rows_affected())
    })
    .map(drop)
}

/// Stores a reply and counts it on its parent, atomically. `None` when the
/// parent does not exist.
pub async fn insert_reply(db: &Database, reply: &ActivityRow) -> Result<Option<()>, sqlx::Error> {
    const COUNT: &str = "UPDATE activities SET replies_count = replies_count + 1 WHERE uuid = $1";
    const INSERT: &str = insert!("");
    const SQL: &str =
        "UPDATE activities SET replies_count = replies_count + 1 WHERE uuid = $1; INSERT INTO activities …";
    let parent = reply.reply_to_activity_uuid.expect("a reply has a parent");
    db_query!(db, "INSERT", "activities", SQL, |pool| {
        let mut tx = pool.begin().await?;
        let counted = sqlx::query(COUNT).bind(parent).execute(&mut *tx).await?.rows_affected();
        if counted == 0 {
            return Ok(None);
        }
        insert_query(INSERT, reply).execute(&mut *tx).await?;
        tx.commit().await.map(Some)
    })
}

fn insert_query<'q, DB>(sql: &'static str, row: &'q ActivityRow) -> sqlx::query::Query<'q, DB, DB::Arguments>
where
    DB: sqlx::Database,
    Uuid: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<Uuid>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<DateTime<Utc>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(sql)
        .bind(row.uuid)
        .bind(row.user_uuid)
        .bind(row.message.clone())
        .bind(row.replies_count)
        .bind(row.reposts_count)
        .bind(row.likes_count)
        .bind(row.reply_to_activity_uuid)
        .bind(row.expires_at)
        .bind(row.created_at)
        .bind(folded(&row.message))
}

/// Fills `message_folded` for the activities stored before it existed;
/// returns how many. A batch at a time in uuid order, each row written on
/// its own and only while still unfolded: no long transaction holds locks a
/// running instance needs, instances starting together cannot deadlock, and
/// rows an older build adds meanwhile cannot keep the loop going.
pub async fn fold_unfolded(db: &Database) -> Result<u64, sqlx::Error> {
    const BATCH: i64 = 500;
    const SELECT: &str =
        "SELECT uuid, message FROM activities WHERE message_folded IS NULL AND uuid > $1 ORDER BY uuid LIMIT $2";
    const UPDATE: &str = "UPDATE activities SET message_folded = $1 WHERE uuid = $2 AND message_folded IS NULL";
    let mut after = Uuid::nil();
    let mut folded_rows = 0;
    loop {
        let rows: Vec<(Uuid, String)> = db_query!(db, "SELECT", "activities", SELECT, |pool| {
            sqlx::query_as(SELECT).bind(after).bind(BATCH).fetch_all(pool).await
        })?;
        for (uuid, message) in &rows {
            folded_rows += db_query!(db, "UPDATE", "activities", UPDATE, |pool| {
                sqlx::query(UPDATE)
                    .bind(folded(message))
                    .bind(uuid)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected())
            })?;
        }
        match rows.last() {
            Some((last, _)) if rows.len() as i64 == BATCH => after = *last,
            _ => return Ok(folded_rows),
        }
    }
}

/// The seed activities (API.md), relative to now; idempotent.
pub async fn seed(db: &Database) -> Result<(), sqlx::Error> {
    const SQL: &str = insert!(" ON CONFLICT (uuid) DO NOTHING");
    let now = service_kit::now();
    // Parents before replies, for the foreign key.
    let mut activities: Vec<_> = seed::ACTIVITIES.iter().collect();
    activities.sort_by_key(|activity| activity.reply_to.is_some());
    for activity in activities {
        let replies = seed::ACTIVITIES.iter().filter(|reply| reply.reply_to == Some(activity.uuid)).count();
        let row = ActivityRow {
            uuid: activity.uuid,
            user_uuid: activity.user_uuid,
            message: activity.message.to_owned(),
            replies_count: replies as i64,
            reposts_count: 0,
            likes_count: 0,
            reply_to_activity_uuid: activity.reply_to,
            expires_at: Some(now + Duration::hours(activity.expires_in_hours)),
            created_at: now - Duration::hours(activity.age_hours),
        };
        db_query!(db, "INSERT", "activities", SQL, |pool| {
            insert_query(SQL, &row).execute(pool).await.map(|done| done.rows_affected())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_in_a_term_are_escaped() {
        assert_eq!(super::escape_like(r"100%_a\b"), r"100\%\_a\\b");
    }
}
