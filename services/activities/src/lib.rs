//! The activities service: the edge the Cruddur frontend talks to (port 4567,
//! the original backend's). It owns activities and asks the users and
//! notifications services for everything else.

mod model;
mod routes;
mod store;

use actix_web::web;
use service_kit::{
    ConfigError, Database, Env, Migrations, Service,
    clients::{NotificationsClient, UsersClient},
};

pub struct Activities;

pub struct State {
    pub(crate) db: Database,
    pub(crate) users: UsersClient,
    pub(crate) notifications: NotificationsClient,
}

static MIGRATIONS: Migrations =
    Migrations { postgres: sqlx::migrate!("./migrations/postgres"), sqlite: sqlx::migrate!("./migrations/sqlite") };

impl Service for Activities {
    const NAME: &'static str = "activities";
    const DEFAULT_PORT: u16 = 4567;
    type State = State;

    fn migrations() -> &'static Migrations {
        &MIGRATIONS
    }

    fn state(db: Database, env: &Env, http: telemetry::HttpClient) -> Result<State, ConfigError> {
        Ok(State {
            db,
            users: UsersClient::from_env(env, http.clone())?,
            notifications: NotificationsClient::from_env(env, http)?,
        })
    }

    fn routes(config: &mut web::ServiceConfig) {
        routes::configure(config);
    }

    async fn seed(db: &Database) -> Result<(), sqlx::Error> {
        store::seed(db).await
    }
}
