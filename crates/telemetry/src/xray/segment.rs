//! Spans → X-Ray segment documents, following the segment document reference
//! and the translation of the AWS Distro for OpenTelemetry's X-Ray exporter:
//! a server span (or one whose parent is in another process) is a segment;
//! every other span is a subsegment, nested in its parent when both are in
//! the batch, else sent on its own (`type: subsegment` with `parent_id`).

use std::{
    collections::HashMap,
    time::{SystemTime, UNIX_EPOCH},
};

use opentelemetry::{
    Array, Value as OtelValue,
    trace::{SpanId, SpanKind, Status},
};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Map, Value, json};

use super::{SegmentNaming, propagator::xray_trace_id};

/// Every datagram starts with the daemon protocol's header line.
const HEADER: &[u8] = b"{\"format\": \"json\", \"version\": 1}\n";

/// The daemon reads datagrams of up to 64 KiB; a document that would not fit
/// is sent as several (its subsegment trees on their own).
pub const MAX_DATAGRAM: usize = 64 * 1024;

/// Attributes worth filtering traces on in the X-Ray console: indexed as
/// annotations (`user.id` → `user_id`); the others go to metadata.
const ANNOTATED: &[&str] = &["user.id", "user.handle"];

/// Attributes the `http`, `sql` and `cause` blocks already carry.
const TRANSLATED: &[&str] = &[
    "http.request.method",
    "http.response.status_code",
    "url.full",
    "url.path",
    "url.scheme",
    "server.address",
    "server.port",
    "client.address",
    "user_agent.original",
    "db.system.name",
    "db.query.text",
    "db.namespace",
    "error.type",
    "error.message",
    "exception.message",
    "exception.type",
];

/// Builds the datagrams for a batch of spans.
#[derive(Debug, Clone)]
pub struct Documents {
    naming: SegmentNaming,
}

/// What a batch became: datagrams to send, and documents too large to send at all.
#[derive(Debug, Default)]
pub struct Datagrams {
    pub payloads: Vec<Vec<u8>>,
    pub too_large: u64,
}

impl Documents {
    pub fn new(naming: SegmentNaming) -> Self {
        Self { naming }
    }

    pub fn datagrams(&self, batch: &[SpanData]) -> Datagrams {
        let position: HashMap<SpanId, usize> =
            batch.iter().enumerate().map(|(i, span)| (span.span_context.span_id(), i)).collect();
        // A subsegment goes inside its parent when the parent is in this batch.
        let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut top_level = Vec::new();
        for (i, span) in batch.iter().enumerate() {
            match position.get(&span.parent_span_id) {
                Some(&parent) if !is_segment(span) => children.entry(parent).or_default().push(i),
                _ => top_level.push(i),
            }
        }
        let mut out = Datagrams::default();
        for i in top_level {
            let span = &batch[i];
            let mut document = self.document(batch, i, &children);
            let trace_id = xray_trace_id(span.span_context.trace_id());
            if !is_segment(span) {
                document.insert("type".into(), "subsegment".into());
            }
            if span.parent_span_id != SpanId::INVALID {
                document.insert("parent_id".into(), span.parent_span_id.to_string().into());
            }
            document.insert("trace_id".into(), trace_id.clone().into());
            fit(document, &trace_id, &mut out);
        }
        out
    }

    /// One span's document, with its children in the batch nested inside.
    fn document(&self, batch: &[SpanData], i: usize, children: &HashMap<usize, Vec<usize>>) -> Map<String, Value> {
        let span = &batch[i];
        let mut document = self.translate(span);
        if let Some(nested) = children.get(&i) {
            let nested: Vec<Value> = nested.iter().map(|&c| Value::Object(self.document(batch, c, children))).collect();
            document.insert("subsegments".into(), nested.into());
        }
        document
    }

    fn translate(&self, span: &SpanData) -> Map<String, Value> {
        let attribute = |key: &str| span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value);
        let text = |key: &str| attribute(key).map(|v| v.as_str().into_owned());
        let segment = is_segment(span);
        let status = attribute("http.response.status_code").and_then(|v| match v {
            OtelValue::I64(code) => Some(*code),
            other => other.as_str().parse().ok(),
        });
        let is_db = attribute("db.system.name").is_some();
        let is_http = attribute("http.request.method").is_some();

        let name = if segment {
            self.naming.name(text("server.address").as_deref()).to_owned()
        } else if is_db {
            text("db.namespace").or_else(|| text("db.system.name")).unwrap_or_default()
        } else if is_http && span.span_kind == SpanKind::Client {
            text("server.address").unwrap_or_else(|| span.name.to_string())
        } else {
            span.name.to_string()
        };
        let mut document = Map::new();
        document.insert("name".into(), sanitized_name(&name).into());
        document.insert("id".into(), span.span_context.span_id().to_string().into());
        document.insert("start_time".into(), seconds(span.start_time).into());
        document.insert("end_time".into(), seconds(span.end_time).into());

        if is_http {
            let mut request = Map::new();
            request.insert("method".into(), text("http.request.method").into());
            let url = text("url.full").or_else(|| {
                let (scheme, host, path) = (text("url.scheme")?, text("server.address")?, text("url.path")?);
                let port = text("server.port").map(|p| format!(":{p}")).unwrap_or_default();
                Some(format!("{scheme}://{host}{port}{path}"))
            });
            if let Some(url) = url {
                request.insert("url".into(), url.into());
            }
            if let Some(agent) = text("user_agent.original").filter(|a| !a.is_empty()) {
                request.insert("user_agent".into(), agent.into());
            }
            if let Some(client) = text("client.address").filter(|c| !c.is_empty()) {
                request.insert("client_ip".into(), client.into());
            }
            let mut http = json!({ "request": request });
            if let Some(status) = status {
                http["response"] = json!({ "status": status });
            }
            document.insert("http".into(), http);
        }
        if is_db {
            let mut sql = Map::new();
            sql.insert("database_type".into(), text("db.system.name").into());
            // Parameterised statements: values are bound, never in the text.
            sql.insert("preparation".into(), "statement".into());
            if let Some(query) = text("db.query.text") {
                sql.insert("sanitized_query".into(), query.into());
            }
            if let Some(url) = text("db.namespace").or_else(|| text("server.address")) {
                sql.insert("url".into(), url.into());
            }
            document.insert("sql".into(), sql.into());
        }
        // `namespace` is for subsegments only.
        if !segment && matches!(span.span_kind, SpanKind::Client | SpanKind::Producer) && (is_http || is_db) {
            document.insert("namespace".into(), "remote".into());
        }

        // 4xx: error (429 also throttle), 5xx: fault; without a status, a
        // failed span is a fault.
        let failed = matches!(span.status, Status::Error { .. });
        match status {
            Some(429) => {
                document.insert("error".into(), true.into());
                document.insert("throttle".into(), true.into());
            }
            Some(400..=499) => {
                document.insert("error".into(), true.into());
            }
            Some(500..=599) => {
                document.insert("fault".into(), true.into());
            }
            None if failed => {
                document.insert("fault".into(), true.into());
            }
            _ => {}
        }
        if let Some(cause) = cause(span, &text) {
            document.insert("cause".into(), cause);
        }

        let (mut annotations, mut metadata) = (Map::new(), Map::new());
        for kv in &span.attributes {
            let key = kv.key.as_str();
            if ANNOTATED.contains(&key) {
                annotations.insert(annotation_key(key), annotation_value(&kv.value));
            } else if !TRANSLATED.contains(&key) {
                metadata.insert(key.to_owned(), json_value(&kv.value));
            }
        }
        if segment && let Some(handle) = text("user.handle") {
            document.insert("user".into(), handle.into());
        }
        if !annotations.is_empty() {
            document.insert("annotations".into(), annotations.into());
        }
        if !metadata.is_empty() {
            document.insert("metadata".into(), json!({ "default": metadata }));
        }
        if segment {
            document.insert("aws".into(), json!({ "xray": { "sdk": "opentelemetry for rust" } }));
        }
        document
    }
}

/// A server span, or the first span of this process in a trace.
fn is_segment(span: &SpanData) -> bool {
    span.span_kind == SpanKind::Server || span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote
}

/// The exception of a failed span: its `exception.*`/`error.*` attributes
/// and any `exception` events. The span id stands in for the exception id
/// (one per span, unique in the trace).
fn cause(span: &SpanData, text: &impl Fn(&str) -> Option<String>) -> Option<Value> {
    let mut exceptions = Vec::new();
    if let Some(message) = text("exception.message").or_else(|| text("error.message")) {
        let mut exception = json!({ "id": span.span_context.span_id().to_string(), "message": message });
        if let Some(kind) = text("exception.type").or_else(|| text("error.type")) {
            exception["type"] = kind.into();
        }
        exceptions.push(exception);
    }
    for event in span.events.iter().filter(|event| event.name == "exception") {
        let field = |key: &str| event.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.as_str());
        let mut exception = json!({ "id": span.span_context.span_id().to_string() });
        if let Some(message) = field("exception.message") {
            exception["message"] = message.as_ref().into();
        }
        if let Some(kind) = field("exception.type") {
            exception["type"] = kind.as_ref().into();
        }
        exceptions.push(exception);
    }
    (!exceptions.is_empty()).then(|| json!({ "exceptions": exceptions }))
}

/// Sends `document` whole if it fits in a datagram; otherwise its
/// subsegments go on their own (each split again if needed), then its
/// metadata is dropped; a document still too large is counted and dropped.
fn fit(mut document: Map<String, Value>, trace_id: &str, out: &mut Datagrams) {
    let datagram = to_datagram(&document);
    if datagram.len() <= MAX_DATAGRAM {
        out.payloads.push(datagram);
        return;
    }
    if let Some(Value::Array(children)) = document.remove("subsegments") {
        let parent = document.get("id").cloned().unwrap_or_default();
        for child in children {
            if let Value::Object(mut child) = child {
                child.insert("type".into(), "subsegment".into());
                child.insert("parent_id".into(), parent.clone());
                child.insert("trace_id".into(), trace_id.into());
                fit(child, trace_id, out);
            }
        }
        return fit(document, trace_id, out);
    }
    if document.remove("metadata").is_some() {
        return fit(document, trace_id, out);
    }
    out.too_large += 1;
}

fn to_datagram(document: &Map<String, Value>) -> Vec<u8> {
    let mut datagram = HEADER.to_vec();
    serde_json::to_writer(&mut datagram, document).expect("a JSON map always serialises");
    datagram
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

/// Annotation keys: letters, digits and underscores only, or X-Ray's filter
/// expressions cannot name them.
fn annotation_key(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// Annotation values: a string, number or boolean.
fn annotation_value(value: &OtelValue) -> Value {
    match value {
        OtelValue::Bool(_) | OtelValue::I64(_) | OtelValue::F64(_) => json_value(value),
        other => other.as_str().into_owned().into(),
    }
}

fn json_value(value: &OtelValue) -> Value {
    match value {
        OtelValue::Bool(b) => (*b).into(),
        OtelValue::I64(i) => (*i).into(),
        OtelValue::F64(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        OtelValue::String(s) => s.as_str().into(),
        OtelValue::Array(array) => match array {
            Array::Bool(values) => values.clone().into(),
            Array::I64(values) => values.clone().into(),
            Array::F64(values) => values.iter().map(|f| json!(f)).collect::<Vec<_>>().into(),
            Array::String(values) => values.iter().map(|s| s.as_str()).collect::<Vec<_>>().into(),
            _ => value.as_str().into_owned().into(),
        },
        _ => value.as_str().into_owned().into(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry::{
        InstrumentationScope, KeyValue,
        trace::{SpanContext, TraceFlags, TraceId, TraceState},
    };
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    const TRACE: &str = "5759e988bd862e3fe1be46a994272793";

    fn span(id: u64, parent: u64, remote: bool, kind: SpanKind, name: &str, attributes: Vec<KeyValue>) -> SpanData {
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

    fn server(id: u64, parent: u64, status: i64) -> SpanData {
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
    }
}
