//! The activities service: the edge the Cruddur frontend talks to (port 4567,
//! the original backend's). It owns activities and asks the users and
//! notifications services for everything else.

mod messages;
mod model;
mod routes;
mod store;

use actix_web::web;
use service_kit::{
    ConfigError, Database, Env, Fault, Faults, Service,
    clients::{NotificationsClient, UsersClient},
};

pub struct Activities;

/// Where the other services are, and the `FAULT_*` knobs.
pub struct Config {
    users_url: url::Url,
    notifications_url: url::Url,
    faults: Faults,
}

pub struct State {
    pub(crate) db: Database,
    pub(crate) users: UsersClient,
    pub(crate) notifications: NotificationsClient,
    /// `FAULT_ACTIVITIES_HOME_*` (service_kit::faults): the home feed's query.
    pub(crate) home_fault: Fault,
}

impl Service for Activities {
    const NAME: &'static str = "activities";
    const DEFAULT_PORT: u16 = 4567;
    type Config = Config;
    type State = State;

    service_kit::embedded_migrations!();

    /// `USERS_URL`, `NOTIFICATIONS_URL` and the `FAULT_*` knobs.
    fn config(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            users_url: UsersClient::url_from_env(env)?,
            notifications_url: NotificationsClient::url_from_env(env)?,
            faults: Faults::from_env(env)?,
        })
    }

    fn state(db: Database, config: Config, http: telemetry::HttpClient) -> State {
        State {
            db,
            users: UsersClient::new(config.users_url, http.clone()),
            notifications: NotificationsClient::new(config.notifications_url, http),
            home_fault: config.faults.activities_home,
        }
    }

    fn routes(config: &mut web::ServiceConfig) {
        routes::configure(config);
        messages::configure(config);
    }

    async fn seed(db: &Database) -> Result<(), sqlx::Error> {
        store::seed(db).await
    }

    /// Folds the messages of activities stored before search had its column.
    async fn upgrade_rows(db: &Database) -> Result<(), sqlx::Error> {
        let folded = store::fold_unfolded(db).await?;
        if folded > 0 {
            tracing::info!(folded, "folded older messages for search");
        }
        Ok(())
    }
}
