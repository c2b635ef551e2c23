//! The JSON the pages read: trace summaries for the list, and one trace
//! with every span, times relative to the trace's start, for the waterfall.

use opentelemetry_proto::tonic::{
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::{span::SpanKind, status::StatusCode},
};
use serde::Serialize;
use serde_json::json;

use crate::trace::{StoredSpan, Trace, TraceSummary};

#[derive(Debug, Serialize)]
pub struct SummaryView {
    pub trace_id: String,
    pub root_name: String,
    pub root_service: String,
    pub root_received: bool,
    pub services: Vec<String>,
    pub span_count: usize,
    /// Milliseconds since the Unix epoch (a float: JavaScript's Date takes it).
    pub start_unix_ms: f64,
    pub duration_ms: f64,
    pub error: bool,
}

impl From<&TraceSummary> for SummaryView {
    fn from(summary: &TraceSummary) -> Self {
        Self {
            trace_id: summary.id.to_string(),
            root_name: summary.root_name.clone(),
            root_service: summary.root_service.clone(),
            root_received: summary.root_received,
            services: summary.services.clone(),
            span_count: summary.span_count,
            start_unix_ms: millis(summary.start_unix_nano),
            duration_ms: millis(summary.duration_nanos),
            error: summary.error,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TraceView {
    #[serde(flatten)]
    pub summary: SummaryView,
    /// In order of start.
    pub spans: Vec<SpanView>,
}

#[derive(Debug, Serialize)]
pub struct SpanView {
    pub span_id: String,
    /// `None` for a root.
    pub parent_span_id: Option<String>,
    pub name: String,
    pub service: String,
    pub kind: &'static str,
    /// From the trace's start.
    pub start_ms: f64,
    pub duration_ms: f64,
    /// `unset`, `ok` or `error`.
    pub status: &'static str,
    pub status_message: String,
    pub attributes: Vec<Attribute>,
    pub resource: Vec<Attribute>,
    pub scope: String,
    pub events: Vec<EventView>,
    pub links: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct Attribute {
    pub key: String,
    pub value: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct EventView {
    pub name: String,
    /// From the trace's start.
    pub at_ms: f64,
    pub attributes: Vec<Attribute>,
}

impl From<&Trace> for TraceView {
    fn from(trace: &Trace) -> Self {
        let start = trace.start_unix_nano();
        let mut spans: Vec<&StoredSpan> = trace.spans.iter().collect();
        spans.sort_by_key(|s| s.span.start_time_unix_nano);
        Self {
            summary: SummaryView::from(&trace.summary()),
            spans: spans.into_iter().map(|s| span(s, start)).collect(),
        }
    }
}

fn span(stored: &StoredSpan, trace_start: u64) -> SpanView {
    let span = &stored.span;
    let status = span.status.as_ref();
    SpanView {
        span_id: hex::encode(&span.span_id),
        parent_span_id: (!span.parent_span_id.is_empty()).then(|| hex::encode(&span.parent_span_id)),
        name: span.name.clone(),
        service: stored.origin.service.clone(),
        kind: kind(span.kind),
        start_ms: millis(span.start_time_unix_nano.saturating_sub(trace_start)),
        duration_ms: millis(span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano)),
        status: match status.map(|s| StatusCode::try_from(s.code)) {
            Some(Ok(StatusCode::Ok)) => "ok",
            Some(Ok(StatusCode::Error)) => "error",
            _ => "unset",
        },
        status_message: status.map(|s| s.message.clone()).unwrap_or_default(),
        attributes: attributes(&span.attributes),
        resource: attributes(&stored.origin.resource),
        scope: stored.origin.scope.clone(),
        events: span
            .events
            .iter()
            .map(|event| EventView {
                name: event.name.clone(),
                at_ms: millis(event.time_unix_nano.saturating_sub(trace_start)),
                attributes: attributes(&event.attributes),
            })
            .collect(),
        links: span
            .links
            .iter()
            .map(|link| json!({"trace_id": hex::encode(&link.trace_id), "span_id": hex::encode(&link.span_id)}))
            .collect(),
    }
}

fn kind(kind: i32) -> &'static str {
    match SpanKind::try_from(kind) {
        Ok(SpanKind::Internal) => "internal",
        Ok(SpanKind::Server) => "server",
        Ok(SpanKind::Client) => "client",
        Ok(SpanKind::Producer) => "producer",
        Ok(SpanKind::Consumer) => "consumer",
        _ => "unspecified",
    }
}

fn attributes(attributes: &[KeyValue]) -> Vec<Attribute> {
    attributes.iter().map(|kv| Attribute { key: kv.key.clone(), value: value(kv.value.as_ref()) }).collect()
}

/// An attribute value as JSON for display: integers past JavaScript's exact
/// range as strings, bytes in hex.
fn value(value: Option<&AnyValue>) -> serde_json::Value {
    const EXACT: i64 = 1 << 53;
    match value.and_then(|v| v.value.as_ref()) {
        None => serde_json::Value::Null,
        Some(Value::StringValue(s)) => json!(s),
        Some(Value::BoolValue(b)) => json!(b),
        Some(Value::IntValue(i)) if (-EXACT..=EXACT).contains(i) => json!(i),
        Some(Value::IntValue(i)) => json!(i.to_string()),
        Some(Value::DoubleValue(d)) => json!(d),
        Some(Value::ArrayValue(array)) => array.values.iter().map(Some).map(self::value).collect(),
        Some(Value::KvlistValue(list)) => {
            list.values.iter().map(|kv| (kv.key.clone(), self::value(kv.value.as_ref()))).collect()
        }
        Some(Value::BytesValue(bytes)) => json!(hex::encode(bytes)),
        Some(Value::StringValueStrindex(index)) => json!(format!("(string table index {index})")),
    }
}

fn millis(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::{store::Store, store::tests::export, trace::TraceId};

    #[test]
    fn a_trace_names_every_span_and_service_with_times_relative_to_its_start() {
        let mut store = Store::new(10, 100);
        store.ingest(export("activities", &[(1, 1, 0, "GET /home", 10, 20)]), Instant::now());
        store.ingest(export("users", &[(1, 2, 1, "GET /api/users", 12, 15)]), Instant::now());
        let view = TraceView::from(store.trace(&TraceId([1; 16])).unwrap());
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["trace_id"], "01".repeat(16));
        assert_eq!(json["services"], json!(["activities", "users"]));
        assert_eq!(json["duration_ms"], 10.0);
        let spans = json["spans"].as_array().unwrap();
        assert_eq!(spans[0]["name"], "GET /home");
        assert_eq!(spans[0]["parent_span_id"], serde_json::Value::Null);
        assert_eq!(spans[1]["parent_span_id"], "01".repeat(8));
        assert_eq!((spans[1]["start_ms"].as_f64(), spans[1]["duration_ms"].as_f64()), (Some(2.0), Some(3.0)));
        assert_eq!(spans[1]["resource"][0], json!({"key": "service.name", "value": "users"}));
    }

    #[test]
    fn attribute_values_keep_their_type_where_javascript_can() {
        let v = |value| super::value(Some(&AnyValue { value: Some(value) }));
        assert_eq!(v(Value::IntValue(200)), json!(200));
        assert_eq!(v(Value::IntValue(i64::MAX)), json!(i64::MAX.to_string()));
        assert_eq!(v(Value::BoolValue(true)), json!(true));
        assert_eq!(v(Value::BytesValue(vec![0xab])), json!("ab"));
        assert_eq!(super::value(None), serde_json::Value::Null);
    }
}
