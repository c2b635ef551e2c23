//! The one outbound HTTP client of a service: reqwest behind reqwest-tracing,
//! so every call is an HTTP client span and carries the trace context.

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Result};
use reqwest_tracing::{
    HTTP_RESPONSE_STATUS_CODE, OTEL_STATUS_CODE, ReqwestOtelSpanBackend, SpanBackendWithUrl, TracingMiddleware,
    default_on_request_failure,
};
use tracing::Span;

pub type HttpClient = ClientWithMiddleware;

/// Wraps a configured reqwest client (timeouts, pool) with tracing.
pub fn http_client(client: reqwest::Client) -> HttpClient {
    ClientBuilder::new(client).with(TracingMiddleware::<ClientSpan>::new()).build()
}

/// reqwest-tracing's client span with `url.full`, and the answer's status
/// code as an integer: its default records a `u16`, which
/// tracing-opentelemetry 0.33 has no visitor for and exports as a string.
pub struct ClientSpan;

impl ReqwestOtelSpanBackend for ClientSpan {
    fn on_request_start(request: &Request, extensions: &mut Extensions) -> Span {
        SpanBackendWithUrl::on_request_start(request, extensions)
    }

    fn on_request_end(span: &Span, outcome: &Result<Response>, _: &mut Extensions) {
        match outcome {
            Ok(response) => {
                let status = response.status();
                // Client spans: a 4xx is an error too (the conventions' status mapping).
                if status.is_client_error() || status.is_server_error() {
                    span.record(OTEL_STATUS_CODE, "ERROR");
                }
                span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
            }
            Err(error) => default_on_request_failure(span, error),
        }
    }
}
