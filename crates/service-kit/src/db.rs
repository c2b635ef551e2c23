//! One database per service: PostgreSQL in production, an embedded SQLite file
//! when `DATABASE_URL` is unset. Both run the service's own migrations at start.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    PgPool, Postgres, SqlitePool,
    migrate::{MigrateDatabase, MigrateError, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
};
use url::Url;

/// A service's pool. Queries are written once and run on either pool through
/// [`db_query!`](crate::db_query): sqlx's `Any` driver cannot carry `uuid` or
/// `timestamptz`, so we dispatch to the concrete pool instead.
#[derive(Clone, Debug)]
pub enum Database {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// The two migration sets of a service (`migrations/postgres`, `migrations/sqlite`).
pub struct Migrations {
    pub postgres: Migrator,
    pub sqlite: Migrator,
}

/// [`Service::migrations`](crate::Service::migrations) for a service whose
/// migrations sit in its crate's `migrations/postgres` and
/// `migrations/sqlite` folders (embedded at compile time). Use it inside the
/// `impl Service` block.
#[macro_export]
macro_rules! embedded_migrations {
    () => {
        fn migrations() -> &'static $crate::Migrations {
            static MIGRATIONS: $crate::Migrations = $crate::Migrations {
                postgres: ::sqlx::migrate!("./migrations/postgres"),
                sqlite: ::sqlx::migrate!("./migrations/sqlite"),
            };
            &MIGRATIONS
        }
    };
}

/// `set`, recording its history in `_sqlx_migrations_{service}`, so services
/// pointed at one database (a shared `DATABASE_URL`) never mistake each
/// other's migrations for their own.
fn for_service(set: &Migrator, service: &str) -> Migrator {
    let mut migrator = Migrator::with_migrations(set.iter().cloned().collect());
    migrator.dangerous_set_table_name(format!("_sqlx_migrations_{service}"));
    migrator
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL is not a postgres:// or sqlite: URL")]
    UnsupportedUrl,
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot create database {database}: {source}")]
    Create { database: String, source: sqlx::Error },
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] MigrateError),
}

/// An opened database, and whether this start created it (the embedded
/// default is seeded on its first start).
pub struct Opened {
    pub db: Database,
    pub created: bool,
}

/// Connections per pool: the services are small; PostgreSQL's default
/// `max_connections` (100) comfortably holds three services times this.
const MAX_CONNECTIONS: u32 = 10;

/// Connections of the embedded SQLite pool: one writer at a time whatever
/// the count, and readers are CPU-bound in this process, so more
/// connections only add threads and page caches (scripts/bench, every
/// exporter on: activities' heap 18.9 → 17.3 MiB going from 10 to 4, same
/// throughput).
const SQLITE_MAX_CONNECTIONS: u32 = 4;

impl Database {
    /// Opens (and if needed creates) the service's database, then migrates it.
    /// A PostgreSQL URL without a database name gets `cruddur_{service}`, so one
    /// server URL serves all three services with separate migration histories.
    pub async fn open(
        url: Option<&str>,
        service: &str,
        data_dir: &str,
        acquire_timeout: Duration,
        migrations: &Migrations,
    ) -> Result<Opened, DbError> {
        match url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let url = with_default_database(url, service)?;
                let created = ensure_postgres_database(&url).await?;
                let options = PgConnectOptions::from_str(&url).map_err(DbError::Connect)?;
                let pool = PgPoolOptions::new()
                    .max_connections(MAX_CONNECTIONS)
                    .acquire_timeout(acquire_timeout)
                    .connect_with(options)
                    .await
                    .map_err(DbError::Connect)?;
                for_service(&migrations.postgres, service).run(&pool).await?;
                Ok(Opened { db: Self::Postgres(pool), created })
            }
            Some(url) if url.starts_with("sqlite:") => {
                let options = SqliteConnectOptions::from_str(url).map_err(DbError::Connect)?;
                let created = !options.get_filename().exists();
                Self::open_sqlite(options, acquire_timeout, migrations, service, created).await
            }
            Some(_) => Err(DbError::UnsupportedUrl),
            None => {
                let path = Path::new(data_dir).join(format!("cruddur_{service}.db"));
                std::fs::create_dir_all(data_dir)
                    .map_err(|source| DbError::DataDir { path: data_dir.to_owned(), source })?;
                let created = !path.exists();
                let options = SqliteConnectOptions::new().filename(&path);
                Self::open_sqlite(options, acquire_timeout, migrations, service, created).await
            }
        }
    }

    async fn open_sqlite(
        options: SqliteConnectOptions,
        acquire_timeout: Duration,
        migrations: &Migrations,
        service: &str,
        created: bool,
    ) -> Result<Opened, DbError> {
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            // WAL lets readers run beside the one writer; the busy timeout makes
            // a second writer wait instead of failing with SQLITE_BUSY.
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(SQLITE_MAX_CONNECTIONS)
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await
            .map_err(DbError::Connect)?;
        for_service(&migrations.sqlite, service).run(&pool).await?;
        Ok(Opened { db: Self::Sqlite(pool), created })
    }

    /// The OpenTelemetry `db.system.name` of this database.
    pub fn system_name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgresql",
            Self::Sqlite(_) => "sqlite",
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }
}

fn with_default_database(url: &str, service: &str) -> Result<String, DbError> {
    let mut parsed = Url::parse(url).map_err(|_| DbError::UnsupportedUrl)?;
    if parsed.path().trim_matches('/').is_empty() {
        parsed.set_path(&format!("/cruddur_{service}"));
    }
    Ok(parsed.into())
}

/// Creates the database if it is missing; true when this call created it.
async fn ensure_postgres_database(url: &str) -> Result<bool, DbError> {
    let database = Url::parse(url).map(|u| u.path().trim_start_matches('/').to_owned()).unwrap_or_default();
    let create_error = |source| DbError::Create { database: database.clone(), source };
    if Postgres::database_exists(url).await.map_err(create_error)? {
        return Ok(false);
    }
    match Postgres::create_database(url).await {
        Ok(()) => Ok(true),
        // Another instance created it between our check and our CREATE.
        Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("42P04") => Ok(false),
        Err(err) => Err(create_error(err)),
    }
}

/// Runs one query body on whichever pool the service has, inside a database
/// client span (`{operation} {collection}`) with the OpenTelemetry `db.*`
/// attributes; a failed query marks the span as an error. A `SELECT` that
/// fails because the server dropped the connection runs once more.
///
/// ```ignore
/// let rows = db_query!(&state.db, "SELECT", "activities", SQL, |pool| {
///     sqlx::query_as::<_, Row>(SQL).bind(id).fetch_all(pool).await
/// })?;
/// ```
#[macro_export]
macro_rules! db_query {
    ($db:expr, $operation:literal, $collection:literal, $sql:expr, |$pool:ident| $body:expr) => {{
        let db: &$crate::db::Database = $db;
        let span = $crate::db::__private::query_span!(
            concat!($operation, " ", $collection),
            db.system_name(),
            $operation,
            $collection,
            $sql
        );
        let result = $crate::db::__private::Instrument::instrument(
            async {
                let result = match db {
                    $crate::db::Database::Postgres($pool) => $body,
                    $crate::db::Database::Sqlite($pool) => $body,
                };
                // A read on a connection the server closed is tried once more
                // on another: nothing was written, so nothing can be doubled.
                if $operation == "SELECT" && $crate::db::connection_lost(&result) {
                    match db {
                        $crate::db::Database::Postgres($pool) => $body,
                        $crate::db::Database::Sqlite($pool) => $body,
                    }
                } else {
                    result
                }
            },
            span.clone(),
        )
        .await;
        $crate::db::__private::record_result(&span, &result);
        result
    }};
}

/// Whether `result` failed because the connection is gone (the server closed
/// it, as PostgreSQL does on `pg_terminate_backend` or a restart), not
/// because of the query: another connection may well succeed.
pub fn connection_lost<T>(result: &Result<T, sqlx::Error>) -> bool {
    match result {
        Err(sqlx::Error::Io(_)) => true,
        // 08xxx: connection exception; 57P01..57P03: the server is shutting down.
        Err(sqlx::Error::Database(err)) => {
            err.code().is_some_and(|code| code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

#[doc(hidden)]
pub mod __private {
    pub use telemetry::{db_client_span as query_span, record_result};
    pub use tracing::Instrument;
}

#[cfg(test)]
mod tests {
    use super::connection_lost;

    #[test]
    fn only_a_lost_connection_is_worth_another_try() {
        let io = || sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(connection_lost::<()>(&Err(io())));
        assert!(!connection_lost::<()>(&Err(sqlx::Error::RowNotFound)));
        assert!(!connection_lost::<()>(&Err(sqlx::Error::PoolTimedOut)));
        assert!(!connection_lost(&Ok(1)));
    }
}
