//! The one error type of the crate: what stops a service at start.

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid {variable}={value:?}: {reason}")]
    InvalidEndpoint { variable: &'static str, value: String, reason: String },
    #[error("OTEL_EXPORTER_OTLP_PROTOCOL={0:?} is not supported: only http/protobuf")]
    UnsupportedProtocol(String),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("invalid {variable}={value:?}: {reason}")]
    InvalidVariable { variable: &'static str, value: String, reason: String },
    #[error("invalid RUST_LOG: {0}")]
    Filter(String),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}
