//! The one outbound HTTP client of a service: reqwest behind reqwest-tracing,
//! so every call is an HTTP client span and carries the trace context.

use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_tracing::{SpanBackendWithUrl, TracingMiddleware};

pub type HttpClient = ClientWithMiddleware;

/// Wraps a configured reqwest client (timeouts, pool) with tracing.
pub fn http_client(client: reqwest::Client) -> HttpClient {
    ClientBuilder::new(client).with(TracingMiddleware::<SpanBackendWithUrl>::new()).build()
}
