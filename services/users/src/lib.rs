//! The users service: profiles and handles. Port 4568.

mod routes;
mod store;

use actix_web::web;
use service_kit::{ConfigError, Database, Env, Service};

pub struct Users;

pub struct State {
    pub(crate) db: Database,
}

impl Service for Users {
    const NAME: &'static str = "users";
    const DEFAULT_PORT: u16 = 4568;
    type Config = ();
    type State = State;

    service_kit::embedded_migrations!();

    fn config(_env: &Env) -> Result<(), ConfigError> {
        Ok(())
    }

    fn state(db: Database, _config: (), _http: telemetry::HttpClient) -> State {
        State { db }
    }

    fn routes(config: &mut web::ServiceConfig) {
        routes::configure(config);
    }

    async fn seed(db: &Database) -> Result<(), sqlx::Error> {
        store::seed(db).await
    }
}
