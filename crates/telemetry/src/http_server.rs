//! The HTTP server span of every request, with the current stable semantic
//! conventions (tracing-actix-web's default builder still emits the old
//! `http.method`/`http.status_code` names and ignores `Ok` 5xx answers).

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use actix_web::{
    Error,
    body::MessageBody,
    dev::{Service, ServiceRequest, ServiceResponse, Transform},
    http::header::{HeaderName, HeaderValue},
};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_semantic_conventions::attribute as attr;
use tracing::{Span, field::Empty};
use tracing_actix_web::{RootSpan, RootSpanBuilder, StreamSpan, TracingLogger};
use uuid::Uuid;

use crate::{bridge::OpenTelemetrySpan, propagation::ActixHeaders};

/// The acting user's handle: Cruddur's own attribute (the conventions have
/// `user.id` and `user.name`, and a handle is neither), next to `user.id`.
pub(crate) const USER_HANDLE: &str = "user.handle";

/// The server span alone; [`RequestTelemetry`] is what an `App` wraps.
type RequestTracing = TracingLogger<ServerSpanBuilder>;

pub struct ServerSpanBuilder;

impl RootSpanBuilder for ServerSpanBuilder {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let method = request.method().as_str();
        // The matched route template keeps span names low-cardinality; an
        // unmatched request is named by its method alone, as the spec says.
        let route = request.match_pattern();
        let name = match &route {
            Some(route) => format!("{method} {route}"),
            None => method.to_owned(),
        };
        let connection = request.connection_info();
        // `Host` (or `X-Forwarded-Host`) is `host[:port]`; the conventions want them apart.
        let (host, port) = split_host_port(connection.host());
        let user_agent = request
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        // Attribute names are the conventions' constants (`{ CONST } = …`);
        // `otel.*` are tracing-opentelemetry's own fields, not attributes.
        let span = tracing::info_span!(
            "http.server.request",
            otel.name = name,
            otel.kind = "server",
            otel.status_code = Empty,
            otel.status_description = Empty,
            { attr::HTTP_REQUEST_METHOD } = method,
            { attr::HTTP_ROUTE } = Empty,
            { attr::URL_PATH } = request.path(),
            { attr::URL_QUERY } = Empty,
            { attr::URL_SCHEME } = connection.scheme(),
            { attr::SERVER_ADDRESS } = host,
            { attr::SERVER_PORT } = port,
            { attr::CLIENT_ADDRESS } = request.peer_addr().map(|addr| addr.ip().to_string()).unwrap_or_default(),
            { attr::USER_AGENT_ORIGINAL } = user_agent,
            { attr::NETWORK_PROTOCOL_VERSION } = network_protocol_version(request.version()),
            { attr::HTTP_RESPONSE_STATUS_CODE } = Empty,
            { attr::ERROR_TYPE } = Empty,
            { attr::EXCEPTION_MESSAGE } = Empty,
            { attr::USER_ID } = Empty,
            { USER_HANDLE } = Empty,
        );
        if let Some(route) = &route {
            span.record(attr::HTTP_ROUTE, route.as_str());
        }
        if !request.query_string().is_empty() {
            span.record(attr::URL_QUERY, request.query_string());
        }
        // Continue the caller's trace. A missing or malformed header yields no
        // valid parent, and the request simply starts a new trace.
        let parent =
            opentelemetry::global::get_text_map_propagator(|p| p.extract(&ActixHeaders::new(request.headers())));
        span.set_parent(parent);
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(response) => (response.status(), response.response().error()),
            Err(error) => (error.as_response_error().status_code(), Some(error)),
        };
        span.record(attr::HTTP_RESPONSE_STATUS_CODE, status.as_u16());
        // Server spans: only 5xx is an error (a 4xx is the client's mistake).
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
            span.record(attr::ERROR_TYPE, status.as_str());
            if let Some(error) = error {
                span.record("otel.status_description", tracing::field::display(error));
                span.record(attr::EXCEPTION_MESSAGE, tracing::field::display(error));
            }
        }
    }
}

/// Records the user a request acts for on the request's root span, which
/// is where the fields are declared: `Span::current()` in a handler may be a
/// child span, on which recording a root-span field silently does nothing.
/// Extract the [`RootSpan`] in the handler (it is an actix extractor).
pub trait ActingUser {
    /// `user.handle`, known before the user is looked up: a failed lookup
    /// still shows who asked.
    fn record_user_handle(&self, handle: &str);
    /// `user.id`, once the user is known.
    fn record_user_id(&self, id: Uuid);
}

impl ActingUser for RootSpan {
    fn record_user_handle(&self, handle: &str) {
        self.record(USER_HANDLE, handle);
    }

    fn record_user_id(&self, id: Uuid) {
        self.record(attr::USER_ID, tracing::field::display(id));
    }
}

/// `example.com:8080` → (`example.com`, 8080); `[::1]:80` → (`::1`, 80).
fn split_host_port(authority: &str) -> (&str, Option<u16>) {
    if let Some((host, port)) = authority.rsplit_once(':')
        && let Ok(port) = port.parse()
        && (!host.contains(':') || host.ends_with(']'))
    {
        return (host.trim_start_matches('[').trim_end_matches(']'), Some(port));
    }
    (authority.trim_start_matches('[').trim_end_matches(']'), None)
}

fn network_protocol_version(version: actix_web::http::Version) -> &'static str {
    use actix_web::http::Version;
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// The middleware to put on every actix `App`: the request's server span
/// ([`ServerSpanBuilder`]) and, inside it, [`AfterRequest`]. One transform,
/// because the two only work stacked in this order: outside the span, the
/// access log line would carry no trace ids and there would be no trace to
/// name in `traceresponse`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestTelemetry;

impl<S, B> Transform<S, ServiceRequest> for RequestTelemetry
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<StreamSpan<B>>;
    type Error = Error;
    // tracing-actix-web does not export its middleware's name; the
    // projection names it without boxing anything.
    type Transform = <RequestTracing as Transform<AfterRequest<S>, ServiceRequest>>::Transform;
    type InitError = ();
    type Future = <RequestTracing as Transform<AfterRequest<S>, ServiceRequest>>::Future;

    fn new_transform(&self, service: S) -> Self::Future {
        // Once per worker, after telemetry is installed: whether X-Ray
        // propagation is on (`OTEL_PROPAGATORS`), so whether responses carry
        // `X-Amzn-Trace-Id`.
        let xray = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.fields().any(|field| field == crate::xray::TRACE_HEADER)
        });
        RequestTracing::new().new_transform(AfterRequest { service, xray })
    }
}

/// What happens after every request, inside its span: the access log line
/// (the seed journal's `after_request`: client address, method, scheme, path
/// with query, status, and the duration, at info level), and the
/// `traceresponse` header (W3C Trace Context Level 2) so whoever made the
/// request can look up its trace, and with X-Ray propagation on, the
/// `X-Amzn-Trace-Id` the X-Ray SDKs answer with (see
/// [`crate::xray::response_header`]). Only [`RequestTelemetry`] builds it;
/// it is `pub` (and not exported) because that transform's types name it.
pub struct AfterRequest<S> {
    service: S,
    xray: bool,
}

impl<S, B> Service<ServiceRequest> for AfterRequest<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = AfterRequestFuture<S::Future>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        AfterRequestFuture { response: self.service.call(request), started, xray: self.xray }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's answer, then `after_request` on it. A named
    /// future, not `from_fn`'s: nothing is boxed per request.
    pub struct AfterRequestFuture<F> {
        #[pin]
        response: F,
        started: Instant,
        xray: bool,
    }
}

impl<F, B> Future for AfterRequestFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.response.poll(cx))?;
        after_request(&mut response, *this.started, *this.xray);
        Poll::Ready(Ok(response))
    }
}

/// Runs in the request's span: [`AfterRequestFuture`] is polled by the
/// server span's future, which enters the span around every poll.
fn after_request<B>(response: &mut ServiceResponse<B>, started: Instant, xray: bool) {
    let context = Span::current().context();
    let span = context.span();
    let ids = span.span_context();
    // A remote context is the caller's own, passed through with the SDK
    // disabled (bridge.rs, `PassedThrough`): no span of ours to name.
    if ids.is_valid() && !ids.is_remote() {
        let value = crate::propagation::traceparent(ids, ids.trace_flags().to_u8());
        if let Ok(value) = HeaderValue::try_from(value) {
            response.headers_mut().insert(HeaderName::from_static("traceresponse"), value);
        }
        if xray {
            let name = HeaderName::from_static(crate::xray::TRACE_HEADER);
            let request = response.request().headers().get(&name).and_then(|value| value.to_str().ok());
            let value = crate::xray::response_header(request, ids);
            if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    let request = response.request();
    let client_address = request.peer_addr().map(|addr| tracing::field::display(addr.ip()));
    tracing::info!(
        client_address,
        method = %request.method(),
        scheme = %request.connection_info().scheme(),
        path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        status = response.status().as_u16(),
        duration_ms = millis(started.elapsed()),
        "request"
    );
}

/// `elapsed` in milliseconds, nanosecond digits kept. One division rounds
/// once: `as_secs_f64() * 1000.0` rounds twice, and its lines read
/// `5.335964000000001` where this reads `5.335964`.
fn millis(elapsed: Duration) -> f64 {
    // Exact below 2^53 ns (104 days); a request never takes that long.
    elapsed.as_nanos() as f64 / 1e6
}

#[cfg(test)]
mod tests {
    #[test]
    fn milliseconds_read_as_they_were_measured() {
        use std::time::Duration;
        let millis = |nanos| super::millis(Duration::from_nanos(nanos)).to_string();
        assert_eq!(millis(5_335_964), "5.335964");
        assert_eq!(millis(150_624), "0.150624");
        assert_eq!(millis(3_000_000), "3");
        assert_eq!(millis(1), "0.000001");
    }

    #[test]
    fn host_and_port_are_split() {
        use super::split_host_port as split;
        assert_eq!(split("127.0.0.1:4567"), ("127.0.0.1", Some(4567)));
        assert_eq!(split("api.example.com"), ("api.example.com", None));
        assert_eq!(split("[::1]:80"), ("::1", Some(80)));
        assert_eq!(split("::1"), ("::1", None));
    }
}
