//! The one outbound HTTP client of a service: reqwest behind reqwest-tracing,
//! so every call is an HTTP client span, and [`InjectTraceContext`], so it
//! carries the trace context.

use std::borrow::Cow;

use http::Extensions;
use opentelemetry::propagation::Injector;
use opentelemetry_semantic_conventions::attribute as attr;
use reqwest::{
    Request, Response, Url,
    header::{HeaderMap, HeaderName, HeaderValue, USER_AGENT},
};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next, Result};
use reqwest_tracing::{
    DisableOtelPropagation, ERROR_CAUSE_CHAIN, ERROR_MESSAGE, ReqwestOtelSpanBackend, TracingMiddleware,
    default_on_request_failure, default_span_name,
};
use tracing::{Span, field::Empty};

use crate::bridge::OpenTelemetrySpan;

pub type HttpClient = ClientWithMiddleware;

/// Wraps a configured reqwest client (timeouts, pool) with tracing.
pub fn http_client(client: reqwest::Client) -> HttpClient {
    // Inside the tracing middleware, so the current span is the client span.
    ClientBuilder::new(client).with(TracingMiddleware::<ClientSpan>::new()).with(InjectTraceContext).build()
}

/// Puts the current span's context into the request's headers, in every
/// format `OTEL_PROPAGATORS` names. reqwest-tracing's own injection goes
/// through tracing-opentelemetry, which our spans do not use (bridge.rs);
/// like it, this honours [`DisableOtelPropagation`].
struct InjectTraceContext;

#[async_trait::async_trait]
impl Middleware for InjectTraceContext {
    async fn handle(&self, mut request: Request, extensions: &mut Extensions, next: Next<'_>) -> Result<Response> {
        if extensions.get::<DisableOtelPropagation>().is_none() {
            let context = Span::current().context();
            opentelemetry::global::get_text_map_propagator(|propagator| {
                propagator.inject_context(&context, &mut HeaderInjector(request.headers_mut()))
            });
        }
        next.run(request, extensions).await
    }
}

/// Writes propagation headers into a reqwest request (what
/// opentelemetry-http's injector does, without one more dependency).
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The names our propagators write, without parsing them again.
        let name = match key {
            "traceparent" => Ok(HeaderName::from_static("traceparent")),
            "tracestate" => Ok(HeaderName::from_static("tracestate")),
            "baggage" => Ok(HeaderName::from_static("baggage")),
            "x-amzn-trace-id" => Ok(HeaderName::from_static("x-amzn-trace-id")),
            other => HeaderName::from_bytes(other.as_bytes()),
        };
        // Anything not header-safe is left out rather than sent malformed.
        if let (Ok(name), Ok(value)) = (name, HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

/// reqwest-tracing's client span with `url.full` (its `SpanBackendWithUrl`:
/// the same name and fields), with two differences.
/// - `server.port` is an integer (its span formats the port into a string).
/// - Every value is recorded as it is, not through `Display`: each
///   displayed field cost the bridge a `format!`, seven per call (~5 k
///   instructions of a home request, scripts/bench --instructions).
pub struct ClientSpan;

impl ReqwestOtelSpanBackend for ClientSpan {
    fn on_request_start(request: &Request, extensions: &mut Extensions) -> Span {
        let url = request.url();
        let user_agent = request.headers().get(USER_AGENT).and_then(|value| value.to_str().ok()).unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            otel.name = default_span_name(request, extensions).as_ref(),
            otel.kind = "client",
            otel.status_code = Empty,
            { attr::HTTP_REQUEST_METHOD } = request.method().as_str(),
            { attr::URL_SCHEME } = url.scheme(),
            { attr::SERVER_ADDRESS } = url.host_str().unwrap_or_default(),
            { attr::SERVER_PORT } = url.port_or_known_default(),
            { attr::USER_AGENT_ORIGINAL } = user_agent,
            { attr::URL_FULL } = without_credentials(url).as_ref(),
            { attr::HTTP_RESPONSE_STATUS_CODE } = Empty,
            // What reqwest-tracing's `default_on_request_failure` records.
            { ERROR_MESSAGE } = Empty,
            { ERROR_CAUSE_CHAIN } = Empty,
        )
    }

    fn on_request_end(span: &Span, outcome: &Result<Response>, _: &mut Extensions) {
        match outcome {
            Ok(response) => {
                let status = response.status();
                // Client spans: a 4xx is an error too (the conventions' status mapping).
                if status.is_client_error() || status.is_server_error() {
                    span.record("otel.status_code", "ERROR");
                }
                span.record(attr::HTTP_RESPONSE_STATUS_CODE, status.as_u16());
            }
            Err(error) => default_on_request_failure(span, error),
        }
    }
}

/// `url` without a user name or password, which must not reach a span
/// (reqwest-tracing's own version of this is private to it).
fn without_credentials(url: &Url) -> Cow<'_, str> {
    if url.username().is_empty() && url.password().is_none() {
        return Cow::Borrowed(url.as_str());
    }
    let mut url = url.clone();
    // Only a URL that cannot have credentials refuses these, and it has none.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Cow::Owned(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_url_full() {
        let url = |text: &str| Url::parse(text).unwrap();
        assert_eq!(without_credentials(&url("http://user:secret@users:4568/api?x=1")), "http://users:4568/api?x=1");
        assert_eq!(without_credentials(&url("http://:secret@users/")), "http://users/");
        assert_eq!(without_credentials(&url("http://user@users/")), "http://users/");
        assert!(matches!(without_credentials(&url("http://users:4568/api")), Cow::Borrowed("http://users:4568/api")));
    }
}
