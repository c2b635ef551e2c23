//! Fault injection: knobs that make traces worth looking at, in the spirit of
//! Jaeger's HotROD (whose config file has one documented knob per delay).
//! Every knob is off by default and read once at start, through the same
//! [`Env`] as every other variable; a value that does not parse stops the
//! service, naming the variable.
//!
//! A knob acts *inside* the real work, so the trace shows it as it would
//! show the real thing: the database query's span is the slow one (and, up
//! the call chain, the client and server spans that wait for it), and an
//! injected failure is a failed query: its span is an error, the service
//! answers 500 `database_unavailable` with the usual JSON body, its server
//! span gets `error.type` `500`, and a caller answers 502
//! `upstream_bad_response`. No span of a special kind says "injected"; the
//! failed query's message does, in the span and in the ERROR log line.
//!
//! Each knob is two variables, `FAULT_<SPOT>_LATENCY_MS` (whole milliseconds
//! added to every run of the query) and `FAULT_<SPOT>_ERROR_RATE` (the
//! fraction of runs that fail, from 0 to 1, after the latency). Every
//! service reads them all, so one environment (a shell, `.env`) serves the
//! stack; each applies the knobs of its own spots.

use std::{borrow::Cow, future::Future, time::Duration};

use sqlx::error::{DatabaseError, ErrorKind};

use crate::config::{ConfigError, Env};

/// Every knob, in one place.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// `FAULT_USERS_BATCH_*`: the users service's batched lookup
    /// (`GET /api/users?uuids=…`), its `SELECT users` query. Every feed of
    /// the edge (home, search, a user's page) and the notifications inbox
    /// fetch their authors with it, so this one knob slows or breaks most
    /// pages, one hop down.
    pub users_batch: Fault,
    /// `FAULT_NOTIFICATIONS_INBOX_*`: the notifications service's inbox
    /// (`GET /api/notifications`), its `SELECT notifications` query: what
    /// the edge's `/api/activities/notifications` waits for, two hops down.
    pub notifications_inbox: Fault,
    /// `FAULT_ACTIVITIES_HOME_*`: the edge's own home feed query
    /// (`GET /api/activities/home`, the `SELECT activities` of the
    /// top-level activities), before it asks users for the authors.
    pub activities_home: Fault,
}

impl Faults {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            users_batch: Fault::from_env(env, "FAULT_USERS_BATCH_LATENCY_MS", "FAULT_USERS_BATCH_ERROR_RATE")?,
            notifications_inbox: Fault::from_env(
                env,
                "FAULT_NOTIFICATIONS_INBOX_LATENCY_MS",
                "FAULT_NOTIFICATIONS_INBOX_ERROR_RATE",
            )?,
            activities_home: Fault::from_env(
                env,
                "FAULT_ACTIVITIES_HOME_LATENCY_MS",
                "FAULT_ACTIVITIES_HOME_ERROR_RATE",
            )?,
        })
    }
}

/// Extra latency and an error rate at one spot. The default is off.
#[derive(Debug, Clone, Default)]
pub struct Fault {
    latency: Duration,
    error_rate: f64,
    /// The error rate's variable, named by the failure it causes.
    rate_variable: &'static str,
}

impl Fault {
    fn from_env(env: &Env, latency: &'static str, error_rate: &'static str) -> Result<Self, ConfigError> {
        let rate = env.parse_or(error_rate, 0.0_f64)?;
        if !(0.0..=1.0).contains(&rate) {
            let value = env.get(error_rate).unwrap_or_default();
            return Err(ConfigError::new(error_rate, value, "expected a fraction from 0 to 1, e.g. 0.1"));
        }
        Ok(Self { latency: env.millis_or(latency, Duration::ZERO)?, error_rate: rate, rate_variable: error_rate })
    }

    /// Runs `query` the knob's latency later, or fails it instead at the
    /// knob's rate. Use it inside the query's span (the body of
    /// [`db_query!`](crate::db_query)), so the span is the slow or failed one.
    pub async fn around<T>(&self, query: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, sqlx::Error> {
        self.around_with(fastrand::f64, query).await
    }

    /// [`Self::around`] with the random source given: `draw` yields a number
    /// in `[0, 1)`, and the run fails when it is below the rate (so a rate of
    /// 0 never fails and 1 always does, whatever the source).
    pub async fn around_with<T>(
        &self,
        draw: impl FnOnce() -> f64,
        query: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if self.error_rate > 0.0 && draw() < self.error_rate {
            return Err(sqlx::Error::Database(Box::new(InjectedFault { variable: self.rate_variable })));
        }
        query.await
    }
}

/// A query failed on purpose. It reaches the service as a database error,
/// as PostgreSQL's own cancellation would (SQLSTATE 57014, `query_canceled`,
/// what a `statement_timeout` gives): not a lost connection, so the read is
/// not retried, and the knob's rate is the rate of failed requests.
#[derive(Debug, thiserror::Error)]
#[error("query canceled: fault injected by {variable}")]
pub struct InjectedFault {
    variable: &'static str,
}

impl DatabaseError for InjectedFault {
    fn message(&self) -> &str {
        "query canceled: fault injected"
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed("57014"))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn faults(pairs: &'static [(&'static str, &'static str)]) -> Result<Faults, ConfigError> {
        Faults::from_env(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn every_knob_is_off_by_default() {
        let faults = faults(&[]).unwrap();
        for fault in [&faults.users_batch, &faults.notifications_inbox, &faults.activities_home] {
            assert_eq!((fault.latency, fault.error_rate), (Duration::ZERO, 0.0));
        }
    }

    #[test]
    fn knobs_are_read_per_spot() {
        let faults = faults(&[
            ("FAULT_USERS_BATCH_LATENCY_MS", "300"),
            ("FAULT_USERS_BATCH_ERROR_RATE", "0.25"),
            ("FAULT_NOTIFICATIONS_INBOX_ERROR_RATE", " 1 "),
            ("FAULT_ACTIVITIES_HOME_LATENCY_MS", "20"),
        ])
        .unwrap();
        assert_eq!((faults.users_batch.latency, faults.users_batch.error_rate), (Duration::from_millis(300), 0.25));
        assert_eq!(faults.users_batch.rate_variable, "FAULT_USERS_BATCH_ERROR_RATE");
        assert_eq!(faults.notifications_inbox.latency, Duration::ZERO);
        assert_eq!(faults.notifications_inbox.error_rate, 1.0);
        assert_eq!(faults.activities_home.latency, Duration::from_millis(20));
        assert_eq!(faults.activities_home.error_rate, 0.0);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (variable, value) in [
            ("FAULT_USERS_BATCH_LATENCY_MS", "300ms"),
            ("FAULT_USERS_BATCH_LATENCY_MS", "-1"),
            ("FAULT_USERS_BATCH_ERROR_RATE", "10%"),
            ("FAULT_NOTIFICATIONS_INBOX_ERROR_RATE", "1.5"),
            ("FAULT_ACTIVITIES_HOME_ERROR_RATE", "-0.1"),
            ("FAULT_ACTIVITIES_HOME_ERROR_RATE", "NaN"),
        ] {
            let err = Faults::from_env(&Env::from_pairs([(variable, value)])).unwrap_err();
            assert_eq!(err.variable, variable, "{value}");
            let line = err.to_string();
            assert!(line.starts_with(&format!("invalid {variable}={value:?}: ")), "{line}");
        }
    }

    async fn query_ran(ran: &Cell<bool>) -> Result<u8, sqlx::Error> {
        ran.set(true);
        Ok(7)
    }

    #[tokio::test]
    async fn a_run_fails_when_the_draw_is_below_the_rate_and_the_query_is_then_not_run() {
        let fault = Fault { error_rate: 0.25, rate_variable: "FAULT_X_ERROR_RATE", ..Fault::default() };
        let ran = Cell::new(false);
        assert_eq!(fault.around_with(|| 0.3, query_ran(&ran)).await.unwrap(), 7);
        assert!(ran.get());

        let ran = Cell::new(false);
        let err = fault.around_with(|| 0.2, query_ran(&ran)).await.unwrap_err();
        assert!(!ran.get(), "a failed run does not touch the database");
        let sqlx::Error::Database(db) = &err else { panic!("{err:?}") };
        assert_eq!(db.code().as_deref(), Some("57014"));
        assert!(err.to_string().contains("fault injected by FAULT_X_ERROR_RATE"), "{err}");
        assert!(!crate::db::connection_lost(&Err::<(), _>(err)), "an injected failure is not retried");
    }

    #[tokio::test]
    async fn rates_of_zero_and_one_never_and_always_fail() {
        let ran = Cell::new(false);
        let never = Fault::default();
        assert!(never.around_with(|| 0.0, query_ran(&ran)).await.is_ok());
        let always = Fault { error_rate: 1.0, ..Fault::default() };
        assert!(always.around_with(|| 0.999_999, query_ran(&Cell::new(false))).await.is_err());
        assert!(always.around(query_ran(&Cell::new(false))).await.is_err());
    }

    #[tokio::test]
    async fn the_latency_comes_before_the_query_and_before_a_failure() {
        for error_rate in [0.0, 1.0] {
            let fault = Fault { latency: Duration::from_millis(50), error_rate, ..Fault::default() };
            let started = std::time::Instant::now();
            let ran = Cell::new(false);
            let result = fault.around(async {
                ran.set(true);
                Ok(started.elapsed())
            });
            match result.await {
                Ok(elapsed) => assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}"),
                Err(_) => assert!(started.elapsed() >= Duration::from_millis(50) && !ran.get()),
            }
        }
    }
}
