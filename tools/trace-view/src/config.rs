//! The `TRACE_VIEW_*` variables, read once at start through an `Env` (so
//! tests never touch the process environment).

use std::{net::SocketAddr, time::Duration};

use environment::{Env, InvalidVariable};

/// OTLP/HTTP's standard port, on loopback: a development tool is not a
/// collector for the network.
pub const DEFAULT_OTLP_ADDRESS: &str = "127.0.0.1:4318";
/// The port Jaeger's UI made familiar for a trace view.
pub const DEFAULT_UI_ADDRESS: &str = "127.0.0.1:16686";
pub const DEFAULT_MAX_TRACES: usize = 1000;
pub const DEFAULT_MAX_SPANS: usize = 50_000;
/// Longer than the services' batch delay under `scripts/run` (200 ms), so
/// the spans the three services export apart have all arrived.
pub const DEFAULT_QUIET: Duration = Duration::from_millis(1000);
/// The largest request body taken, compressed or not (OTLP exporters send
/// batches of 512 spans by default, far below this).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `TRACE_VIEW_OTLP_ADDRESS`: where OTLP/HTTP is received (`POST /v1/traces`).
    pub otlp_address: SocketAddr,
    /// `TRACE_VIEW_UI_ADDRESS`: where the pages are served.
    pub ui_address: SocketAddr,
    /// `TRACE_VIEW_MAX_TRACES`: traces kept; past it the oldest go.
    pub max_traces: usize,
    /// `TRACE_VIEW_MAX_SPANS`: spans kept across all traces; past it the oldest traces go.
    pub max_spans: usize,
    /// `TRACE_VIEW_QUIET_MS`: a trace whose root has arrived is finished (and
    /// printed) once no span of it has arrived for this long.
    pub quiet: Duration,
    /// `TRACE_VIEW_MAX_BODY_BYTES`: the largest export body, before and after gunzip.
    pub max_body_bytes: usize,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, InvalidVariable> {
        let config = Self {
            otlp_address: address(env, "TRACE_VIEW_OTLP_ADDRESS", DEFAULT_OTLP_ADDRESS)?,
            ui_address: address(env, "TRACE_VIEW_UI_ADDRESS", DEFAULT_UI_ADDRESS)?,
            max_traces: at_least_one(env, "TRACE_VIEW_MAX_TRACES", DEFAULT_MAX_TRACES)?,
            max_spans: at_least_one(env, "TRACE_VIEW_MAX_SPANS", DEFAULT_MAX_SPANS)?,
            quiet: env.millis_or("TRACE_VIEW_QUIET_MS", DEFAULT_QUIET)?,
            max_body_bytes: at_least_one(env, "TRACE_VIEW_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
        };
        Ok(config)
    }
}

/// `host:port` with an IP address (port 0: any free port).
fn address(env: &Env, variable: &'static str, default: &str) -> Result<SocketAddr, InvalidVariable> {
    let value = env.get(variable).unwrap_or_else(|| default.to_owned());
    value.parse().map_err(|_| InvalidVariable::new(variable, value, "expected IP:PORT, e.g. 127.0.0.1:4318"))
}

fn at_least_one(env: &Env, variable: &'static str, default: usize) -> Result<usize, InvalidVariable> {
    match env.parse_or(variable, default)? {
        0 => Err(InvalidVariable::new(variable, "0", "must be at least 1")),
        value => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_loopback_on_the_standard_ports() {
        let config = Config::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        assert_eq!(config.otlp_address.to_string(), "127.0.0.1:4318");
        assert_eq!(config.ui_address.to_string(), "127.0.0.1:16686");
        assert_eq!((config.max_traces, config.max_spans), (1000, 50_000));
        assert_eq!(config.quiet, Duration::from_secs(1));
    }

    #[test]
    fn every_variable_is_read_and_a_bad_value_names_its_variable() {
        let env = Env::from_pairs([
            ("TRACE_VIEW_OTLP_ADDRESS", "127.0.0.1:0"),
            ("TRACE_VIEW_UI_ADDRESS", "0.0.0.0:8080"),
            ("TRACE_VIEW_MAX_TRACES", "3"),
            ("TRACE_VIEW_MAX_SPANS", "40"),
            ("TRACE_VIEW_QUIET_MS", "250"),
            ("TRACE_VIEW_MAX_BODY_BYTES", "1024"),
        ]);
        let config = Config::from_env(&env).unwrap();
        assert_eq!(config.ui_address.to_string(), "0.0.0.0:8080");
        assert_eq!((config.max_traces, config.max_spans, config.max_body_bytes), (3, 40, 1024));
        assert_eq!(config.quiet, Duration::from_millis(250));

        for (variable, value) in [
            ("TRACE_VIEW_OTLP_ADDRESS", "localhost:4318"),
            ("TRACE_VIEW_UI_ADDRESS", "16686"),
            ("TRACE_VIEW_MAX_TRACES", "0"),
            ("TRACE_VIEW_MAX_SPANS", "many"),
            ("TRACE_VIEW_QUIET_MS", "1s"),
        ] {
            let err = Config::from_env(&Env::from_pairs([(variable, value)])).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
        }
    }
}
