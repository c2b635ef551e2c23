//! Start-up and shutdown of a service's telemetry.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid RUST_LOG: {0}")]
    Filter(String),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Keeps telemetry alive; dropping it flushes buffered log lines.
#[must_use = "dropping the guard stops telemetry"]
pub struct Telemetry {
    _stdout: WorkerGuard,
}

/// Installs JSON logs on stdout for `service`. stdout is written by a
/// background thread (tracing-appender) so the request path never blocks on it.
pub fn init(service: &'static str) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new("info"))
        .map_err(|err| TelemetryError::Filter(err.to_string()))?;
    let (stdout, guard) = tracing_appender::non_blocking(std::io::stdout());
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_writer(stdout),
        )
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    tracing::info!(service, "telemetry started");
    Ok(Telemetry { _stdout: guard })
}

impl Telemetry {
    /// Flushes and stops everything, in order. Call it after the server has
    /// stopped, outside the actix workers.
    pub fn shutdown(self) {
        drop(self);
    }
}
