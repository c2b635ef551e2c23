//! The bound on the spans each exporter holds, in count
//! (`OTEL_BSP_MAX_QUEUE_SIZE`) and in bytes: spans vary in size with what
//! clients send (paths, queries, user agents), and while an exporter is down
//! 2,048 large spans could hold tens of MiB.
//!
//! A span is admitted when it fits both bounds and released once its batch
//! has been exported or given up on. It is the only bound: the batch queue
//! (`batch.rs`) holds what this budget admitted.

use std::{
    mem::size_of,
    sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
};

use opentelemetry::{KeyValue, Value, trace::Event};
use opentelemetry_sdk::trace::SpanData;

#[derive(Debug)]
pub struct SpanBudget {
    exporter: &'static str,
    max_bytes: usize,
    max_spans: usize,
    bytes: AtomicUsize,
    spans: AtomicUsize,
    dropped: AtomicU64,
    reported: AtomicBool,
}

impl SpanBudget {
    pub fn new(exporter: &'static str, max_bytes: usize, max_spans: usize) -> Self {
        Self {
            exporter,
            max_bytes,
            max_spans,
            bytes: AtomicUsize::new(0),
            spans: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            reported: AtomicBool::new(false),
        }
    }

    /// Takes the place of a span of `size` ([`held_bytes`]) in the budget,
    /// or counts it as dropped.
    pub fn admit(&self, size: usize) -> bool {
        let spans = self.spans.fetch_add(1, Ordering::AcqRel) + 1;
        let bytes = self.bytes.fetch_add(size, Ordering::AcqRel) + size;
        if spans <= self.max_spans && bytes <= self.max_bytes {
            return true;
        }
        self.spans.fetch_sub(1, Ordering::AcqRel);
        self.bytes.fetch_sub(size, Ordering::AcqRel);
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if !self.reported.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "telemetry",
                exporter = self.exporter,
                max_bytes = self.max_bytes,
                max_spans = self.max_spans,
                "span queue full: spans are dropped until the exporter catches up (total reported at shutdown)"
            );
        }
        false
    }

    /// The place `batch` takes, given back when the returned guard is dropped:
    /// once the batch is exported, given up on, or its export cancelled.
    pub fn release_after(&self, batch: &[SpanData]) -> Release<'_> {
        Release { budget: self, spans: batch.len(), bytes: batch.iter().map(held_bytes).sum() }
    }

    pub fn exporter(&self) -> &'static str {
        self.exporter
    }

    /// Spans turned away since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub fn held(&self) -> (usize, usize) {
        (self.spans.load(Ordering::Acquire), self.bytes.load(Ordering::Acquire))
    }
}

#[must_use = "the batch's place is given back when this is dropped"]
pub struct Release<'a> {
    budget: &'a SpanBudget,
    spans: usize,
    bytes: usize,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.budget.spans.fetch_sub(self.spans, Ordering::AcqRel);
        self.budget.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// What a finished span keeps in memory, near enough: the struct itself and
/// the text of its name, attributes, events and status. Shared strings
/// (static keys, the resource) are counted as if owned: an overestimate,
/// never an underestimate, of what an outage can pile up.
pub fn held_bytes(span: &SpanData) -> usize {
    let attributes = |list: &[KeyValue]| -> usize {
        list.iter().map(|kv| size_of::<KeyValue>() + kv.key.as_str().len() + value_bytes(&kv.value)).sum()
    };
    let events: usize = span
        .events
        .iter()
        .map(|event: &Event| size_of::<Event>() + event.name.len() + attributes(&event.attributes))
        .sum();
    let links: usize = span.links.iter().map(|link| size_of_val(link) + attributes(&link.attributes)).sum();
    let status = match &span.status {
        opentelemetry::trace::Status::Error { description } => description.len(),
        _ => 0,
    };
    size_of::<SpanData>() + span.name.len() + attributes(&span.attributes) + events + links + status
}

fn value_bytes(value: &Value) -> usize {
    match value {
        Value::String(text) => text.as_str().len(),
        Value::Array(opentelemetry::Array::String(list)) => list.iter().map(|text| text.as_str().len()).sum(),
        Value::Array(_) => 64,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::{borrow::Cow, time::SystemTime};

    use opentelemetry::{
        InstrumentationScope,
        trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState},
    };
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    fn span(path_bytes: usize) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(1),
                SpanId::from(1),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: Cow::Borrowed("GET /api/activities/{handle}"),
            start_time: SystemTime::UNIX_EPOCH,
            end_time: SystemTime::UNIX_EPOCH,
            attributes: vec![KeyValue::new("url.path", "x".repeat(path_bytes))],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    #[test]
    fn a_spans_size_grows_with_what_it_carries() {
        assert_eq!(held_bytes(&span(10_000)) - held_bytes(&span(0)), 10_000);
        assert!(held_bytes(&span(0)) >= size_of::<SpanData>());
    }

    #[test]
    fn spans_beyond_the_byte_bound_are_dropped_and_counted_until_released() {
        let large = span(10_000);
        let size = held_bytes(&large);
        let budget = SpanBudget::new("test", 3 * size, 2048);
        let admitted: Vec<bool> = (0..5).map(|_| budget.admit(size)).collect();
        assert_eq!(admitted, [true, true, true, false, false]);
        assert_eq!(budget.held(), (3, 3 * size));
        assert_eq!(budget.dropped(), 2);
        // Small spans still fit beside the large ones only within the bound.
        assert!(!budget.admit(held_bytes(&span(0))));
        drop(budget.release_after(&[large.clone(), large.clone()]));
        assert_eq!(budget.held(), (1, size));
        assert!(budget.admit(size));
    }

    #[test]
    fn the_count_bound_holds_too() {
        let small = held_bytes(&span(0));
        let budget = SpanBudget::new("test", usize::MAX / 2, 2);
        assert!(budget.admit(small) && budget.admit(small));
        assert!(!budget.admit(small));
        assert_eq!(budget.held().0, 2);
    }
}
