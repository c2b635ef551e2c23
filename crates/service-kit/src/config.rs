//! Configuration from the environment. Every variable has a working default;
//! a value that does not parse stops the service at start with one line that
//! names the variable (`ConfigError`'s `Display`).

use std::time::Duration;

/// The reader and its error are shared with telemetry (crates/environment),
/// so every variable of a service is read and refused the same way.
pub use environment::{Env, InvalidVariable as ConfigError};
use url::Url;

/// What every service reads the same way.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// `PORT`: where the service listens.
    pub port: u16,
    /// `BIND_ADDRESS`: the interface to listen on (default all, `0.0.0.0`,
    /// as a container needs; tests use `127.0.0.1`).
    pub bind_address: std::net::IpAddr,
    /// `DATABASE_URL`: PostgreSQL (`postgres://…`) or SQLite (`sqlite://…`).
    /// Unset: an embedded SQLite file of the service's own under `CRUDDUR_DATA_DIR`.
    pub database_url: Option<String>,
    /// `CRUDDUR_DATA_DIR`: where the embedded SQLite files live (default `data`).
    pub data_dir: String,
    /// `FRONTEND_URL` and `BACKEND_URL`: the CORS origins allowed on `/api/*`.
    pub cors_origins: Vec<String>,
    pub timeouts: Timeouts,
}

impl CommonConfig {
    pub fn from_env(env: &Env, default_port: u16) -> Result<Self, ConfigError> {
        let frontend = env.url_or("FRONTEND_URL", "http://localhost:3000")?;
        let backend = env.url_or("BACKEND_URL", "http://localhost:4567")?;
        Ok(Self {
            port: env.parse_or("PORT", default_port)?,
            bind_address: env.parse_or("BIND_ADDRESS", std::net::IpAddr::from([0, 0, 0, 0]))?,
            database_url: env.get("DATABASE_URL"),
            data_dir: env.get("CRUDDUR_DATA_DIR").unwrap_or_else(|| "data".to_owned()),
            cors_origins: vec![origin(&frontend), origin(&backend)],
            timeouts: Timeouts::from_env(env)?,
        })
    }
}

/// A CORS origin is scheme, host and port, without a path or trailing slash.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Every latency knob of a service, in one place (Jaeger HotROD style).
/// All are milliseconds in the environment.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// `UPSTREAM_CONNECT_TIMEOUT_MS` (250): connecting to another service.
    /// Short, because the services sit next to each other; a refused or
    /// unroutable peer should fail fast with a 503.
    pub upstream_connect: Duration,
    /// `UPSTREAM_TIMEOUT_MS` (2000): a whole call to another service,
    /// connect to last byte. Past it the caller answers 504.
    pub upstream_request: Duration,
    /// `DB_ACQUIRE_TIMEOUT_MS` (3000): waiting for a pooled connection.
    pub db_acquire: Duration,
    /// `SHUTDOWN_TIMEOUT_MS` (10000): how long in-flight requests may run
    /// after SIGTERM before workers are stopped.
    pub shutdown: Duration,
    /// `REQUEST_BODY_TIMEOUT_MS` (5000): reading a request's whole body, from
    /// the end of its headers (actix bounds the headers themselves with its
    /// 5 s request timeout). A body that trickles in past it gets 408 and the
    /// connection is closed, so slow clients cannot hold connections open.
    pub request_body: Duration,
}

impl Timeouts {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            upstream_connect: env.millis_or("UPSTREAM_CONNECT_TIMEOUT_MS", Duration::from_millis(250))?,
            upstream_request: env.millis_or("UPSTREAM_TIMEOUT_MS", Duration::from_millis(2000))?,
            db_acquire: env.millis_or("DB_ACQUIRE_TIMEOUT_MS", Duration::from_millis(3000))?,
            shutdown: env.millis_or("SHUTDOWN_TIMEOUT_MS", Duration::from_millis(10_000))?,
            request_body: env.millis_or("REQUEST_BODY_TIMEOUT_MS", Duration::from_millis(5000))?,
        })
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::from_env(&Env::from_fn(|_| None)).expect("the defaults parse")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let config = CommonConfig::from_env(&env(&[("PORT", "")]), 4567).unwrap();
        assert_eq!(config.port, 4567);
        assert_eq!(config.cors_origins, ["http://localhost:3000", "http://localhost:4567"]);
        assert_eq!(config.timeouts.upstream_request, Duration::from_secs(2));
        assert!(config.database_url.is_none());
    }

    #[test]
    fn a_bad_value_names_its_variable_in_one_line() {
        let err = CommonConfig::from_env(&env(&[("PORT", "45x67")]), 4567).unwrap_err();
        let line = err.to_string();
        assert!(line.starts_with("invalid PORT=\"45x67\": "), "{line}");
        assert!(!line.contains('\n'));

        let err = CommonConfig::from_env(&env(&[("FRONTEND_URL", "localhost:3000")]), 1).unwrap_err();
        assert_eq!(err.variable, "FRONTEND_URL");
        let err = CommonConfig::from_env(&env(&[("UPSTREAM_TIMEOUT_MS", "-5")]), 1).unwrap_err();
        assert_eq!(err.variable, "UPSTREAM_TIMEOUT_MS");
    }

    #[test]
    fn cors_origins_drop_paths_and_trailing_slashes() {
        let config = CommonConfig::from_env(
            &env(&[("FRONTEND_URL", "https://3000-ws.gitpod.io/"), ("BACKEND_URL", "https://4567-ws.gitpod.io/api")]),
            1,
        )
        .unwrap();
        assert_eq!(config.cors_origins, ["https://3000-ws.gitpod.io", "https://4567-ws.gitpod.io"]);
    }
}
