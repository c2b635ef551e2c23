//! The notifications service: who should hear about what, and the direct
//! messages people send each other (a per-user inbox). Port 4569.

mod messages;
mod routes;
mod store;

use actix_web::web;
use service_kit::{ConfigError, Database, Env, Fault, Faults, Service, clients::UsersClient};

pub struct Notifications;

/// Where the users service is, and the `FAULT_*` knobs.
pub struct Config {
    users_url: url::Url,
    faults: Faults,
}

pub struct State {
    pub(crate) db: Database,
    pub(crate) users: UsersClient,
    /// `FAULT_NOTIFICATIONS_INBOX_*` (service_kit::faults): the inbox query.
    pub(crate) inbox_fault: Fault,
}

impl Service for Notifications {
    const NAME: &'static str = "notifications";
    const DEFAULT_PORT: u16 = 4569;
    type Config = Config;
    type State = State;

    service_kit::embedded_migrations!();

    /// `USERS_URL` and the `FAULT_*` knobs.
    fn config(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config { users_url: UsersClient::url_from_env(env)?, faults: Faults::from_env(env)? })
    }

    fn state(db: Database, config: Config, http: telemetry::HttpClient) -> State {
        State { db, users: UsersClient::new(config.users_url, http), inbox_fault: config.faults.notifications_inbox }
    }

    fn routes(config: &mut web::ServiceConfig) {
        routes::configure(config);
        messages::configure(config);
    }

    async fn seed(db: &Database) -> Result<(), sqlx::Error> {
        store::seed(db).await?;
        messages::store::seed(db).await
    }
}
