//! The one error type of the crate: what stops a service at start.

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A variable that does not parse, endpoints included: the same one-line
    /// error service-kit stops with.
    #[error(transparent)]
    InvalidVariable(#[from] environment::InvalidVariable),
    #[error("OTEL_EXPORTER_OTLP_PROTOCOL={0:?} is not supported: only http/protobuf")]
    UnsupportedProtocol(String),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("cannot start the {name} thread: {source}")]
    Thread { name: String, source: std::io::Error },
    #[error("invalid RUST_LOG: {0}")]
    Filter(String),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}
