//! The notifications service: who should hear about what, and the direct
//! messages people send each other (a per-user inbox). Port 4569.

mod messages;
mod routes;
mod store;

use actix_web::web;
use service_kit::{ConfigError, Database, Env, Service, clients::UsersClient};

pub struct Notifications;

pub struct State {
    pub(crate) db: Database,
    pub(crate) users: UsersClient,
}

impl Service for Notifications {
    const NAME: &'static str = "notifications";
    const DEFAULT_PORT: u16 = 4569;
    type Config = url::Url;
    type State = State;

    service_kit::embedded_migrations!();

    /// `USERS_URL`.
    fn config(env: &Env) -> Result<url::Url, ConfigError> {
        UsersClient::url_from_env(env)
    }

    fn state(db: Database, users_url: url::Url, http: telemetry::HttpClient) -> State {
        State { db, users: UsersClient::new(users_url, http) }
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
