//! The users service: profiles and handles. Port 4568.

mod routes;
mod store;

use actix_web::web;
use service_kit::{ConfigError, Database, Env, Fault, Faults, Service};

pub struct Users;

pub struct State {
    pub(crate) db: Database,
    /// `FAULT_USERS_BATCH_*` (service_kit::faults): the batched lookup's query.
    pub(crate) batch_fault: Fault,
}

impl Service for Users {
    const NAME: &'static str = "users";
    const DEFAULT_PORT: u16 = 4568;
    type Config = Faults;
    type State = State;

    service_kit::embedded_migrations!();

    /// The `FAULT_*` knobs.
    fn config(env: &Env) -> Result<Faults, ConfigError> {
        Faults::from_env(env)
    }

    fn state(db: Database, faults: Faults, _http: telemetry::HttpClient) -> State {
        State { db, batch_fault: faults.users_batch }
    }

    fn routes(config: &mut web::ServiceConfig) {
        routes::configure(config);
    }

    async fn seed(db: &Database) -> Result<(), sqlx::Error> {
        store::seed(db).await
    }
}
