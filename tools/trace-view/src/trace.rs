//! One trace as received: its spans, each with where it came from, and the
//! summary the list and the terminal show.

use std::{collections::HashSet, fmt, str::FromStr, sync::Arc, time::Instant};

use opentelemetry_proto::tonic::{
    common::v1::{KeyValue, any_value::Value},
    trace::v1::{Span, status::StatusCode},
};

/// A 16-byte W3C trace id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(pub [u8; 16]);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("not a trace id: 32 hex digits, or a traceparent/traceresponse value 00-<trace id>-<span id>-<flags>")]
pub struct NotATraceId;

impl FromStr for TraceId {
    type Err = NotATraceId;

    /// 32 hex digits, or a whole `traceparent`/`traceresponse` value (what a
    /// user copies out of a response's headers).
    fn from_str(text: &str) -> Result<Self, NotATraceId> {
        let text = text.trim();
        let hex_id = match text.split('-').collect::<Vec<_>>()[..] {
            [id] => id,
            [version, id, span, flags] if version.len() == 2 && span.len() == 16 && flags.len() == 2 => id,
            _ => return Err(NotATraceId),
        };
        let mut id = [0u8; 16];
        hex::decode_to_slice(hex_id, &mut id).map_err(|_| NotATraceId)?;
        if id == [0; 16] {
            return Err(NotATraceId);
        }
        Ok(Self(id))
    }
}

/// The resource and instrumentation scope a batch of spans came with,
/// shared by those spans.
#[derive(Debug)]
pub struct Origin {
    /// `service.name` of the resource (`unknown_service` when it has none, as the SDKs name it).
    pub service: String,
    pub resource: Vec<KeyValue>,
    /// The scope's name (and version).
    pub scope: String,
}

#[derive(Debug, Clone)]
pub struct StoredSpan {
    pub span: Span,
    pub origin: Arc<Origin>,
}

impl StoredSpan {
    pub fn is_root(&self) -> bool {
        self.span.parent_span_id.is_empty()
    }

    pub fn is_error(&self) -> bool {
        self.span.status.as_ref().is_some_and(|status| status.code == StatusCode::Error as i32)
    }

    fn end(&self) -> u64 {
        self.span.end_time_unix_nano.max(self.span.start_time_unix_nano)
    }
}

#[derive(Debug)]
pub struct Trace {
    pub id: TraceId,
    pub spans: Vec<StoredSpan>,
    span_ids: HashSet<Vec<u8>>,
    /// When the last span of it arrived.
    pub last_arrival: Instant,
    /// Printed on the terminal already.
    pub announced: bool,
}

/// What the list and the terminal line show of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    pub id: TraceId,
    /// The root span's name, else (root not received yet) the earliest span's.
    pub root_name: String,
    pub root_service: String,
    pub root_received: bool,
    /// Every service with a span in the trace, in the order they started.
    pub services: Vec<String>,
    pub span_count: usize,
    pub start_unix_nano: u64,
    pub duration_nanos: u64,
    /// Some span's status is Error.
    pub error: bool,
}

impl Trace {
    pub fn new(id: TraceId, now: Instant) -> Self {
        Self { id, spans: Vec::new(), span_ids: HashSet::new(), last_arrival: now, announced: false }
    }

    /// Adds a span; `false` if a span with its id is here already (an
    /// exporter's retry sends a batch again).
    pub fn add(&mut self, span: StoredSpan, now: Instant) -> bool {
        if !self.span_ids.insert(span.span.span_id.clone()) {
            return false;
        }
        self.spans.push(span);
        self.last_arrival = now;
        true
    }

    /// Takes the span just added back out (when it would break the span cap).
    pub fn remove_last(&mut self) {
        if let Some(span) = self.spans.pop() {
            self.span_ids.remove(&span.span.span_id);
        }
    }

    pub fn has_root(&self) -> bool {
        self.spans.iter().any(StoredSpan::is_root)
    }

    pub fn start_unix_nano(&self) -> u64 {
        self.spans.iter().map(|s| s.span.start_time_unix_nano).min().unwrap_or_default()
    }

    pub fn end_unix_nano(&self) -> u64 {
        self.spans.iter().map(StoredSpan::end).max().unwrap_or_default()
    }

    /// Services in the order their first span started.
    pub fn services(&self) -> Vec<String> {
        let mut by_start: Vec<&StoredSpan> = self.spans.iter().collect();
        by_start.sort_by_key(|s| s.span.start_time_unix_nano);
        let mut services: Vec<String> = Vec::new();
        for span in by_start {
            if !services.contains(&span.origin.service) {
                services.push(span.origin.service.clone());
            }
        }
        services
    }

    pub fn summary(&self) -> TraceSummary {
        let earliest = |span: &&StoredSpan| span.span.start_time_unix_nano;
        let root = self.spans.iter().filter(|s| s.is_root()).min_by_key(earliest);
        let shown = root.or_else(|| self.spans.iter().min_by_key(earliest));
        let start = self.start_unix_nano();
        TraceSummary {
            id: self.id,
            root_name: shown.map(|s| s.span.name.clone()).unwrap_or_default(),
            root_service: shown.map(|s| s.origin.service.clone()).unwrap_or_default(),
            root_received: root.is_some(),
            services: self.services(),
            span_count: self.spans.len(),
            start_unix_nano: start,
            duration_nanos: self.end_unix_nano().saturating_sub(start),
            error: self.spans.iter().any(StoredSpan::is_error),
        }
    }
}

/// `service.name` among resource attributes.
pub fn service_name(resource: &[KeyValue]) -> String {
    resource
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(name) => Some(name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "unknown_service".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_id_is_32_hex_digits_or_taken_from_a_traceresponse_value() {
        let id = "6b04b578d4d5136deead73f69490eabe";
        assert_eq!(id.parse::<TraceId>().unwrap().to_string(), id);
        assert_eq!(id.to_uppercase().parse::<TraceId>().unwrap().to_string(), id);
        let header = format!(" 00-{id}-923a715880cd24e8-01 ");
        assert_eq!(header.parse::<TraceId>().unwrap().to_string(), id);
        for bad in
            ["", "6b04b578", "00000000000000000000000000000000", "00-6b04b578-923a715880cd24e8-01", &"g".repeat(32)]
        {
            assert_eq!(bad.parse::<TraceId>(), Err(NotATraceId), "{bad}");
        }
    }
}
