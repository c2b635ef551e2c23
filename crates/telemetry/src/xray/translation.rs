//! Spans → X-Ray segment documents, following the segment document reference
//! and the translation of the AWS Distro for OpenTelemetry's X-Ray exporter:
//! a server span (or one whose parent is in another process) is a segment;
//! every other span is a subsegment, nested in its parent when both are in
//! the batch, else sent on its own (`type: subsegment` with `parent_id`).

use std::{
    borrow::Cow,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use opentelemetry::{
    KeyValue, Value as OtelValue,
    trace::{SpanId, SpanKind, Status},
};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_semantic_conventions::attribute as attr;
use rustc_hash::FxHashMap;

use super::{
    document::{
        Annotations, Aws, Cause, Document, Exception, Http, HttpRequest, HttpResponse, Metadata, Query, Sdk, Sql, fit,
    },
    naming::SegmentNaming,
    statements::Statements,
    trace_id::XrayTraceId,
};
use crate::http_server::USER_HANDLE;

/// A span's attributes sorted in one pass: those the `http`, `sql` and
/// `cause` blocks carry, by name; those worth filtering traces on in the
/// X-Ray console, indexed as annotations (`user.id` → `user_id`); and the
/// others, for metadata. (Looked up by name one at a time, each of ~20
/// names was compared with a span's attributes in turn.)
#[derive(Default)]
struct Read<'a> {
    method: Option<&'a OtelValue>,
    status: Option<&'a OtelValue>,
    url_full: Option<&'a OtelValue>,
    url_path: Option<&'a OtelValue>,
    url_scheme: Option<&'a OtelValue>,
    server_address: Option<&'a OtelValue>,
    server_port: Option<&'a OtelValue>,
    client_address: Option<&'a OtelValue>,
    user_agent: Option<&'a OtelValue>,
    db_system: Option<&'a OtelValue>,
    db_query: Option<&'a OtelValue>,
    db_namespace: Option<&'a OtelValue>,
    error_type: Option<&'a OtelValue>,
    error_message: Option<&'a OtelValue>,
    exception_message: Option<&'a OtelValue>,
    exception_type: Option<&'a OtelValue>,
    user_handle: Option<&'a OtelValue>,
    annotations: Vec<&'a KeyValue>,
    metadata: Vec<&'a KeyValue>,
}

impl<'a> Read<'a> {
    fn of(attributes: &'a [KeyValue]) -> Self {
        let mut read = Self::default();
        for kv in attributes {
            let slot = match kv.key.as_str() {
                attr::HTTP_REQUEST_METHOD => &mut read.method,
                attr::HTTP_RESPONSE_STATUS_CODE => &mut read.status,
                attr::URL_FULL => &mut read.url_full,
                attr::URL_PATH => &mut read.url_path,
                attr::URL_SCHEME => &mut read.url_scheme,
                attr::SERVER_ADDRESS => &mut read.server_address,
                attr::SERVER_PORT => &mut read.server_port,
                attr::CLIENT_ADDRESS => &mut read.client_address,
                attr::USER_AGENT_ORIGINAL => &mut read.user_agent,
                attr::DB_SYSTEM_NAME => &mut read.db_system,
                attr::DB_QUERY_TEXT => &mut read.db_query,
                attr::DB_NAMESPACE => &mut read.db_namespace,
                attr::ERROR_TYPE => &mut read.error_type,
                ERROR_MESSAGE => &mut read.error_message,
                attr::EXCEPTION_MESSAGE => &mut read.exception_message,
                attr::EXCEPTION_TYPE => &mut read.exception_type,
                USER_HANDLE => {
                    read.annotations.push(kv);
                    &mut read.user_handle
                }
                attr::USER_ID => {
                    read.annotations.push(kv);
                    continue;
                }
                _ => {
                    read.metadata.push(kv);
                    continue;
                }
            };
            // The first of a name, as a search by name would find.
            slot.get_or_insert(&kv.value);
        }
        read
    }
}

fn text<'a>(value: Option<&'a OtelValue>) -> Option<Cow<'a, str>> {
    value.map(OtelValue::as_str)
}

/// Obsoleted by the conventions (hence the deprecated constant), and still
/// read: other instrumentations set it.
#[allow(deprecated)]
const ERROR_MESSAGE: &str = attr::ERROR_MESSAGE;

/// Builds the datagrams for a batch of spans.
#[derive(Debug)]
pub struct Documents {
    naming: SegmentNaming,
    /// Only the exporter's one thread locks it, once a batch.
    statements: Mutex<Statements>,
}

impl Documents {
    pub fn new(naming: SegmentNaming) -> Self {
        Self { naming, statements: Mutex::default() }
    }

    /// The batch's datagrams, gathered.
    #[cfg(test)]
    pub fn datagrams(&self, batch: &[SpanData]) -> super::document::Datagrams {
        let mut out = super::document::Datagrams::default();
        out.too_large = self.each_datagram(batch, &mut |datagram| out.payloads.push(datagram.to_vec()));
        out
    }

    /// Hands `send` each datagram of the batch as it is made, so that only
    /// one is held at a time (a batch of 512 spans makes ~250 KB of them);
    /// returns how many documents were too large to send.
    pub fn each_datagram(&self, batch: &[SpanData], send: &mut dyn FnMut(&[u8])) -> u64 {
        let mut statements = self.statements.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        statements.add_from(batch);
        let statements = &*statements;
        // Keyed by random span ids and batch positions: FxHash, not SipHash's
        // defence against chosen keys (~1.8 k instructions a sampled request).
        let position: FxHashMap<SpanId, usize> =
            batch.iter().enumerate().map(|(i, span)| (span.span_context.span_id(), i)).collect();
        // A subsegment goes inside its parent when the parent is in this batch.
        let mut children: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
        let mut top_level = Vec::new();
        for (i, span) in batch.iter().enumerate() {
            match position.get(&span.parent_span_id) {
                Some(&parent) if !is_segment(span) => children.entry(parent).or_default().push(i),
                _ => top_level.push(i),
            }
        }
        let mut too_large = 0;
        let mut buffer = Vec::with_capacity(4096);
        for i in top_level {
            let span = &batch[i];
            let trace_id = XrayTraceId(span.span_context.trace_id()).to_string();
            let mut document = self.document(batch, i, &children, statements);
            document.trace_id = Some(&trace_id);
            if !is_segment(span) {
                document.kind = Some("subsegment");
            }
            if span.parent_span_id != SpanId::INVALID {
                document.parent_id = Some(span.parent_span_id);
            }
            too_large += fit(document, &trace_id, &mut buffer, send);
        }
        too_large
    }

    /// One span's document, with its children in the batch nested inside.
    fn document<'a>(
        &self,
        batch: &'a [SpanData],
        i: usize,
        children: &FxHashMap<usize, Vec<usize>>,
        statements: &'a Statements,
    ) -> Document<'a> {
        let mut document = self.translate(&batch[i], statements);
        if let Some(nested) = children.get(&i) {
            document.subsegments = nested.iter().map(|&c| self.document(batch, c, children, statements)).collect();
        }
        document
    }

    fn translate<'a>(&self, span: &'a SpanData, statements: &'a Statements) -> Document<'a> {
        let read = Read::of(&span.attributes);
        let segment = is_segment(span);
        let status = read.status.and_then(|v| match v {
            OtelValue::I64(code) => Some(*code),
            other => other.as_str().parse().ok(),
        });
        let is_db = read.db_system.is_some();
        let method = text(read.method);

        let name = if segment {
            let host = text(read.server_address);
            self.naming.name(host.as_deref()).to_owned()
        } else if is_db {
            text(read.db_namespace).or_else(|| text(read.db_system)).unwrap_or_default().into_owned()
        } else if method.is_some() && span.span_kind == SpanKind::Client {
            text(read.server_address).map(Cow::into_owned).unwrap_or_else(|| span.name.to_string())
        } else {
            span.name.to_string()
        };

        let http = method.map(|method| {
            let url = text(read.url_full).or_else(|| {
                let (scheme, host, path) = (text(read.url_scheme)?, text(read.server_address)?, text(read.url_path)?);
                let port = text(read.server_port).map(|p| format!(":{p}")).unwrap_or_default();
                Some(format!("{scheme}://{host}{port}{path}").into())
            });
            Http {
                request: HttpRequest {
                    method,
                    url,
                    user_agent: text(read.user_agent).filter(|a| !a.is_empty()),
                    client_ip: text(read.client_address).filter(|c| !c.is_empty()),
                },
                response: status.map(|status| HttpResponse { status }),
            }
        });
        let sql = is_db.then(|| Sql {
            database_type: text(read.db_system).unwrap_or_default(),
            // Parameterised statements: values are bound, never in the text.
            preparation: "statement",
            sanitized_query: match read.db_query {
                Some(OtelValue::String(text)) if let Some(json) = statements.get(text) => Some(Query::Written(json)),
                _ => text(read.db_query).map(Query::Text),
            },
            url: text(read.db_namespace).or_else(|| text(read.server_address)),
        });
        // `namespace` is for subsegments only.
        let remote =
            !segment && matches!(span.span_kind, SpanKind::Client | SpanKind::Producer) && (http.is_some() || is_db);

        // 4xx: error (429 also throttle), 5xx: fault; without a status, a
        // failed span is a fault.
        let failed = matches!(span.status, Status::Error { .. });
        let (error, throttle, fault) = match status {
            Some(429) => (true, true, false),
            Some(400..=499) => (true, false, false),
            Some(500..=599) => (false, false, true),
            None => (false, false, failed),
            _ => (false, false, false),
        };

        Document {
            name: sanitized_name(&name),
            id: span.span_context.span_id(),
            start_time: seconds(span.start_time),
            end_time: seconds(span.end_time),
            trace_id: None,
            kind: None,
            parent_id: None,
            namespace: remote.then_some("remote"),
            http,
            sql,
            error,
            throttle,
            fault,
            cause: cause(span, &read),
            user: if segment { text(read.user_handle) } else { None },
            annotations: Annotations(read.annotations),
            metadata: (!read.metadata.is_empty()).then_some(Metadata(read.metadata)),
            aws: segment.then_some(Aws { xray: Sdk { sdk: "opentelemetry for rust" } }),
            subsegments: Vec::new(),
        }
    }
}

/// A server span, or the first span of this process in a trace.
fn is_segment(span: &SpanData) -> bool {
    span.span_kind == SpanKind::Server || span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote
}

/// The exception of a failed span: its `exception.*`/`error.*` attributes
/// and any `exception` events. The span id stands in for the exception id
/// (one per span, unique in the trace).
fn cause<'a>(span: &'a SpanData, read: &Read<'a>) -> Option<Cause<'a>> {
    let mut exceptions = Vec::new();
    let id = span.span_context.span_id();
    if let Some(message) = text(read.exception_message).or_else(|| text(read.error_message)) {
        let kind = text(read.exception_type).or_else(|| text(read.error_type));
        exceptions.push(Exception { id, message: Some(message), kind });
    }
    for event in span.events.iter().filter(|event| event.name == "exception") {
        let field = |key: &str| event.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.as_str());
        exceptions.push(Exception { id, message: field(attr::EXCEPTION_MESSAGE), kind: field(attr::EXCEPTION_TYPE) });
    }
    (!exceptions.is_empty()).then_some(Cause { exceptions })
}

/// Epoch seconds with microseconds, as the X-Ray SDKs write them.
fn seconds(time: SystemTime) -> f64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    since.as_secs() as f64 + f64::from(since.subsec_micros()) / 1e6
}

/// X-Ray names: at most 200 of letters, digits, whitespace and `_.:/%&#=+\-@`.
fn sanitized_name(name: &str) -> String {
    let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/%&#=+\\-@".contains(c);
    let name: String = name.chars().map(|c| if allowed(c) { c } else { '_' }).take(200).collect();
    if name.is_empty() { "unknown".to_owned() } else { name }
}

/// The tests' spans are also the daemon exporter's tests'.
#[cfg(test)]
pub(super) mod tests {
    use std::time::Duration;

    use opentelemetry::{
        InstrumentationScope, KeyValue,
        trace::{SpanContext, TraceFlags, TraceId, TraceState},
    };
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use serde_json::{Value, json};

    use super::*;
    use crate::xray::document::MAX_DATAGRAM;

    const TRACE: &str = "5759e988bd862e3fe1be46a994272793";

    pub(in crate::xray) fn span(
        id: u64,
        parent: u64,
        remote: bool,
        kind: SpanKind,
        name: &str,
        attributes: Vec<KeyValue>,
    ) -> SpanData {
        let start = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_hex(TRACE).unwrap(),
                SpanId::from(id),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: remote,
            span_kind: kind,
            name: name.to_owned().into(),
            start_time: start,
            end_time: start + Duration::from_millis(5),
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("activities").build(),
        }
    }

    pub(in crate::xray) fn server(id: u64, parent: u64, status: i64) -> SpanData {
        span(
            id,
            parent,
            true,
            SpanKind::Server,
            "GET /api/activities/{uuid}",
            vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.scheme", "http"),
                KeyValue::new("server.address", "4567-abc.ws.gitpod.io"),
                KeyValue::new("server.port", 4567),
                KeyValue::new("url.path", "/api/activities/home"),
                KeyValue::new("client.address", "10.0.0.5"),
                KeyValue::new("user_agent.original", "curl/8"),
                KeyValue::new("http.response.status_code", status),
                KeyValue::new("http.route", "/api/activities/home"),
                KeyValue::new("user.handle", "andrewbrown"),
                KeyValue::new("user.id", "0b5e1b32-2b5f-4f6e-9f0a-0c3b1c1e1a11"),
            ],
        )
    }

    fn documents(pattern: Option<&str>) -> Documents {
        Documents::new(SegmentNaming { service: "activities".into(), host_pattern: pattern.map(Into::into) })
    }

    fn parse(datagram: &[u8]) -> Value {
        let text = std::str::from_utf8(datagram).unwrap();
        let (header, body) = text.split_once('\n').unwrap();
        assert_eq!(header, r#"{"format": "json", "version": 1}"#);
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn a_request_becomes_one_segment_with_nested_subsegments() {
        let batch = vec![
            span(
                3,
                2,
                false,
                SpanKind::Client,
                "GET",
                vec![
                    KeyValue::new("http.request.method", "GET"),
                    KeyValue::new("url.full", "http://users:4568/api/users?handles=a"),
                    KeyValue::new("server.address", "users"),
                    KeyValue::new("http.response.status_code", 200),
                ],
            ),
            span(
                4,
                2,
                false,
                SpanKind::Client,
                "SELECT activities",
                vec![
                    KeyValue::new("db.system.name", "postgresql"),
                    KeyValue::new("db.query.text", "SELECT * FROM activities WHERE uuid = $1"),
                    KeyValue::new("db.operation.name", "SELECT"),
                ],
            ),
            span(5, 2, false, SpanKind::Internal, "render {feed}", vec![]),
            server(2, 1, 200),
        ];
        let out = documents(Some("*4567-abc.ws.gitpod.io*")).datagrams(&batch);
        assert_eq!((out.payloads.len(), out.too_large), (1, 0));
        let segment = parse(&out.payloads[0]);
        assert_eq!(segment["name"], "4567-abc.ws.gitpod.io", "dynamic naming");
        assert_eq!(segment["id"], "0000000000000002");
        assert_eq!(segment["parent_id"], "0000000000000001", "the caller's subsegment");
        assert_eq!(segment["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(segment.get("type"), None);
        assert_eq!(segment["start_time"], 1_700_000_000.123456);
        assert_eq!(segment["end_time"], 1_700_000_000.128456);
        assert_eq!(
            segment["http"],
            json!({
                "request": {"method": "GET", "url": "http://4567-abc.ws.gitpod.io:4567/api/activities/home",
                            "user_agent": "curl/8", "client_ip": "10.0.0.5"},
                "response": {"status": 200}
            })
        );
        assert_eq!(segment["user"], "andrewbrown");
        assert_eq!(
            segment["annotations"],
            json!({"user_handle": "andrewbrown", "user_id": "0b5e1b32-2b5f-4f6e-9f0a-0c3b1c1e1a11"})
        );
        assert_eq!(segment["metadata"], json!({"default": {"http.route": "/api/activities/home"}}));
        assert_eq!(segment["aws"]["xray"]["sdk"], "opentelemetry for rust");
        for flag in ["error", "throttle", "fault"] {
            assert_eq!(segment.get(flag), None, "{flag}");
        }

        let subsegments = segment["subsegments"].as_array().unwrap();
        assert_eq!(subsegments.len(), 3);
        let http = &subsegments[0];
        assert_eq!((http["name"].as_str(), http["namespace"].as_str()), (Some("users"), Some("remote")));
        assert_eq!(http["http"]["request"]["url"], "http://users:4568/api/users?handles=a");
        assert_eq!(http["http"]["response"]["status"], 200);
        assert_eq!(http.get("trace_id"), None, "nested: no trace id or parent id of its own");
        let sql = &subsegments[1];
        assert_eq!((sql["name"].as_str(), sql["namespace"].as_str()), (Some("postgresql"), Some("remote")));
        assert_eq!(
            sql["sql"],
            json!({"database_type": "postgresql", "preparation": "statement",
                   "sanitized_query": "SELECT * FROM activities WHERE uuid = $1"})
        );
        assert_eq!(sql["metadata"]["default"]["db.operation.name"], "SELECT");
        let internal = &subsegments[2];
        assert_eq!(internal["name"], "render _feed_", "X-Ray's name characters");
        assert_eq!(internal.get("namespace"), None);
        assert_eq!(internal.get("aws"), None);
    }

    #[test]
    fn a_statement_reads_the_same_written_once_or_escaped_each_time() {
        let text = "SELECT \"uuid\" FROM activities WHERE message LIKE '%\\n%'";
        let query = |value: opentelemetry::StringValue| {
            let attributes = vec![KeyValue::new("db.system.name", "sqlite"), KeyValue::new("db.query.text", value)];
            span(3, 2, true, SpanKind::Client, "SELECT activities", attributes)
        };
        let shared = opentelemetry::StringValue::from(std::sync::Arc::<str>::from(text));
        let owned = opentelemetry::StringValue::from(text.to_owned());
        let documents = documents(None);
        // Twice each: the shared text is written by the first batch, then reused.
        for value in [shared.clone(), shared, owned.clone(), owned] {
            let out = documents.datagrams(&[query(value)]);
            assert_eq!(parse(&out.payloads[0])["sql"]["sanitized_query"], text);
        }
    }

    #[test]
    fn status_codes_set_error_throttle_and_fault() {
        for (status, flags) in [
            (404, vec!["error"]),
            (422, vec!["error"]),
            (429, vec!["error", "throttle"]),
            (502, vec!["fault"]),
            (200, vec![]),
        ] {
            let out = documents(None).datagrams(&[server(2, 0, status)]);
            let segment = parse(&out.payloads[0]);
            assert_eq!(segment["name"], "activities", "the host does not match: the service's name");
            assert_eq!(segment.get("parent_id"), None, "a root segment");
            for flag in ["error", "throttle", "fault"] {
                assert_eq!(segment.get(flag).is_some(), flags.contains(&flag), "{status} {flag}");
            }
        }
        let mut failed = span(
            3,
            2,
            false,
            SpanKind::Client,
            "SELECT users",
            vec![
                KeyValue::new("db.system.name", "sqlite"),
                KeyValue::new("error.type", "sqlx::Error"),
                KeyValue::new("exception.message", "no such table: users"),
            ],
        );
        failed.status = Status::error("no such table: users");
        let document = parse(&documents(None).datagrams(&[failed]).payloads[0]);
        assert_eq!(document["fault"], true);
        assert_eq!(
            document["cause"],
            json!({"exceptions": [{"id": "0000000000000003", "message": "no such table: users", "type": "sqlx::Error"}]})
        );
        assert_eq!(document["type"], "subsegment", "its parent was in another batch");
        assert_eq!(document["parent_id"], "0000000000000002");
        assert_eq!(document["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(document.get("metadata"), None, "nothing left untranslated");
    }

    #[test]
    fn a_tree_too_large_for_one_datagram_is_sent_in_parts() {
        let big = "x".repeat(10_000);
        let mut batch: Vec<SpanData> = (10..20)
            .map(|id| span(id, 2, false, SpanKind::Internal, "chunk", vec![KeyValue::new("app.blob", big.clone())]))
            .collect();
        batch.push(server(2, 0, 200));
        let out = documents(None).datagrams(&batch);
        assert_eq!(out.too_large, 0);
        assert!(out.payloads.len() > 1);
        assert!(out.payloads.iter().all(|p| p.len() <= MAX_DATAGRAM));
        let documents: Vec<Value> = out.payloads.iter().map(|p| parse(p)).collect();
        let segment = documents.iter().find(|d| d["id"] == "0000000000000002").unwrap();
        assert_eq!(segment.get("subsegments"), None);
        let parts = documents.iter().filter(|d| d["type"] == "subsegment").count();
        assert_eq!(parts, 10, "every subsegment sent, on its own");
        assert!(documents.iter().filter(|d| d["type"] == "subsegment").all(|d| d["parent_id"] == "0000000000000002"
            && d["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"));

        // One span whose own metadata cannot fit: sent without it.
        let huge = span(3, 2, false, SpanKind::Internal, "huge", vec![KeyValue::new("app.blob", "y".repeat(70_000))]);
        let out = super::Documents::new(SegmentNaming { service: "a".into(), host_pattern: None }).datagrams(&[huge]);
        assert_eq!(out.too_large, 0);
        assert_eq!(parse(&out.payloads[0]).get("metadata"), None);

        // A document too large even bare (its statement alone): counted,
        // not sent; the rest of the batch still is.
        let statement = format!("SELECT '{}'", "z".repeat(70_000));
        let attributes =
            vec![KeyValue::new(attr::DB_SYSTEM_NAME, "sqlite"), KeyValue::new(attr::DB_QUERY_TEXT, statement)];
        let query = span(4, 2, false, SpanKind::Client, "select", attributes);
        let out = super::Documents::new(SegmentNaming { service: "a".into(), host_pattern: None })
            .datagrams(&[query, server(2, 0, 200)]);
        assert_eq!(out.too_large, 1);
        let sent: Vec<Value> = out.payloads.iter().map(|p| parse(p)).collect();
        assert_eq!(sent.len(), 1, "the segment without the subsegment: {sent:?}");
        assert_eq!(sent[0]["id"], "0000000000000002");
    }
}
