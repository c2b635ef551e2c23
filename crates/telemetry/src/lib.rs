//! Tracing and logging for every Cruddur service: one call at start-up
//! ([`init`]), one middleware on the actix `App` ([`RequestTracing`]), one
//! shared HTTP client ([`http_client`]) and one span per database query
//! ([`db_client_span!`]).

mod db;
mod http_client;
mod http_server;
mod logs;

pub use db::record_result;
pub use http_client::{HttpClient, http_client};
pub use http_server::{RequestTracing, ServerSpanBuilder};
pub use logs::{Telemetry, TelemetryError, init};

#[doc(hidden)]
pub mod __private {
    pub use tracing;
}
