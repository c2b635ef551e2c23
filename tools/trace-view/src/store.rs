//! The traces kept in memory, bounded: at most `max_traces` traces and
//! `max_spans` spans in all; past either, the trace that arrived first goes.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::trace::{Origin, StoredSpan, Trace, TraceId, TraceSummary, service_name};

#[derive(Debug)]
pub struct Store {
    traces: HashMap<TraceId, Trace>,
    /// Trace ids in the order their first span arrived: the front goes first.
    arrival: VecDeque<TraceId>,
    spans: usize,
    max_traces: usize,
    max_spans: usize,
    evicted_traces: u64,
    dropped_spans: u64,
}

/// What became of an export's spans.
#[derive(Debug, Default, PartialEq)]
pub struct Ingested {
    pub accepted: usize,
    /// Spans without a valid trace or span id: refused, as OTLP's partial success says.
    pub rejected: usize,
}

/// What the list is narrowed to.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Traces with a span of this service.
    pub service: Option<String>,
    /// Traces whose id starts with these hex digits (lower case).
    pub trace_id_prefix: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Stats {
    pub traces: usize,
    pub spans: usize,
    pub max_traces: usize,
    pub max_spans: usize,
    /// Traces that went to make room since start.
    pub evicted_traces: u64,
    /// Spans of a single trace larger than the whole span cap, not kept.
    pub dropped_spans: u64,
}

impl Store {
    pub fn new(max_traces: usize, max_spans: usize) -> Self {
        assert!(max_traces > 0 && max_spans > 0, "caps of at least 1");
        Self {
            traces: HashMap::new(),
            arrival: VecDeque::new(),
            spans: 0,
            max_traces,
            max_spans,
            evicted_traces: 0,
            dropped_spans: 0,
        }
    }

    pub fn ingest(&mut self, request: ExportTraceServiceRequest, now: Instant) -> Ingested {
        let mut outcome = Ingested::default();
        for resource_spans in request.resource_spans {
            let resource = resource_spans.resource.map(|r| r.attributes).unwrap_or_default();
            let service = service_name(&resource);
            for scope_spans in resource_spans.scope_spans {
                let scope = scope_spans
                    .scope
                    .map(|s| if s.version.is_empty() { s.name } else { format!("{} {}", s.name, s.version) })
                    .unwrap_or_default();
                let origin = Arc::new(Origin { service: service.clone(), resource: resource.clone(), scope });
                for span in scope_spans.spans {
                    let valid_parent = span.parent_span_id.is_empty() || span.parent_span_id.len() == 8;
                    let id = <[u8; 16]>::try_from(&span.trace_id[..]).ok().filter(|id| *id != [0; 16]);
                    match id {
                        Some(id) if span.span_id.len() == 8 && span.span_id != [0; 8] && valid_parent => {
                            self.add(TraceId(id), StoredSpan { span, origin: origin.clone() }, now);
                            outcome.accepted += 1;
                        }
                        _ => outcome.rejected += 1,
                    }
                }
            }
        }
        outcome
    }

    fn add(&mut self, id: TraceId, span: StoredSpan, now: Instant) {
        let trace = self.traces.entry(id).or_insert_with(|| {
            self.arrival.push_back(id);
            Trace::new(id, now)
        });
        if !trace.add(span, now) {
            return;
        }
        self.spans += 1;
        while self.traces.len() > self.max_traces || self.spans > self.max_spans {
            // The oldest trace other than the one just written to.
            match self.arrival.iter().position(|oldest| *oldest != id) {
                Some(position) => {
                    let oldest = self.arrival.remove(position).expect("a position in range");
                    let evicted = self.traces.remove(&oldest).expect("every id in arrival is stored");
                    self.spans -= evicted.spans.len();
                    self.evicted_traces += 1;
                }
                None => {
                    // This trace alone is larger than the span cap: it keeps what it had.
                    self.traces.get_mut(&id).expect("just written").remove_last();
                    self.spans -= 1;
                    self.dropped_spans += 1;
                    break;
                }
            }
        }
    }

    pub fn trace(&self, id: &TraceId) -> Option<&Trace> {
        self.traces.get(id)
    }

    /// Summaries of the matching traces, the latest start first.
    pub fn summaries(&self, filter: &Filter) -> Vec<TraceSummary> {
        let mut matching: Vec<TraceSummary> = self
            .traces
            .values()
            .filter(|trace| {
                filter.trace_id_prefix.as_ref().is_none_or(|prefix| trace.id.to_string().starts_with(prefix.as_str()))
            })
            .filter(|trace| {
                filter.service.as_ref().is_none_or(|service| trace.spans.iter().any(|s| &s.origin.service == service))
            })
            .map(Trace::summary)
            .collect();
        matching.sort_by(|a, b| b.start_unix_nano.cmp(&a.start_unix_nano).then(a.id.cmp(&b.id)));
        matching.truncate(filter.limit);
        matching
    }

    /// Every service seen in the kept traces, sorted.
    pub fn services(&self) -> Vec<String> {
        let mut services: Vec<String> =
            self.traces.values().flat_map(|t| t.spans.iter().map(|s| s.origin.service.clone())).collect();
        services.sort();
        services.dedup();
        services
    }

    /// Traces that finished since the last call, oldest start first: their
    /// root has arrived and nothing of them for `quiet`. Each is returned once.
    pub fn take_finished(&mut self, now: Instant, quiet: Duration) -> Vec<TraceSummary> {
        let mut finished: Vec<TraceSummary> = self
            .traces
            .values_mut()
            .filter(|t| !t.announced && now.saturating_duration_since(t.last_arrival) >= quiet && t.has_root())
            .map(|trace| {
                trace.announced = true;
                trace.summary()
            })
            .collect();
        finished.sort_by_key(|summary| summary.start_unix_nano);
        finished
    }

    pub fn stats(&self) -> Stats {
        Stats {
            traces: self.traces.len(),
            spans: self.spans,
            max_traces: self.max_traces,
            max_spans: self.max_spans,
            evicted_traces: self.evicted_traces,
            dropped_spans: self.dropped_spans,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use opentelemetry_proto::tonic::{
        common::v1::{AnyValue, KeyValue, any_value::Value},
        resource::v1::Resource,
        trace::v1::{ResourceSpans, ScopeSpans, Span},
    };

    use super::*;

    /// An export of `spans` (trace id byte, span id byte, parent id byte or 0,
    /// name, start ms, end ms) from `service`.
    pub(crate) fn export(service: &str, spans: &[(u8, u8, u8, &str, u64, u64)]) -> ExportTraceServiceRequest {
        let spans = spans
            .iter()
            .map(|&(trace, span, parent, name, start, end)| Span {
                trace_id: vec![trace; 16],
                span_id: vec![span; 8],
                parent_span_id: if parent == 0 { vec![] } else { vec![parent; 8] },
                name: name.to_owned(),
                start_time_unix_nano: start * 1_000_000,
                end_time_unix_nano: end * 1_000_000,
                ..Default::default()
            })
            .collect();
        let name = AnyValue { value: Some(Value::StringValue(service.to_owned())) };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue { key: "service.name".into(), value: Some(name), ..Default::default() }],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                ..Default::default()
            }],
        }
    }

    fn ids(store: &Store) -> Vec<u8> {
        let mut ids: Vec<u8> = store.traces.keys().map(|id| id.0[0]).collect();
        ids.sort();
        ids
    }

    #[test]
    fn spans_of_several_services_make_one_trace() {
        let mut store = Store::new(10, 100);
        let now = Instant::now();
        store.ingest(export("users", &[(1, 3, 2, "GET /api/users", 2, 4)]), now);
        store
            .ingest(export("activities", &[(1, 1, 0, "GET /api/activities/home", 0, 10), (1, 2, 1, "GET", 1, 5)]), now);
        let summary = store.trace(&TraceId([1; 16])).unwrap().summary();
        assert_eq!(summary.root_name, "GET /api/activities/home");
        assert_eq!(summary.services, ["activities", "users"]);
        assert_eq!((summary.span_count, summary.duration_nanos, summary.error), (3, 10_000_000, false));
        assert_eq!(store.stats().spans, 3);
        assert_eq!(store.services(), ["activities", "users"]);
    }

    #[test]
    fn past_the_trace_cap_the_trace_that_arrived_first_goes() {
        let mut store = Store::new(2, 100);
        let now = Instant::now();
        for trace in 1..=3 {
            store.ingest(export("a", &[(trace, 1, 0, "root", 0, 1)]), now);
        }
        assert_eq!(ids(&store), [2, 3]);
        // A late span of a kept trace does not make it new again.
        store.ingest(export("a", &[(2, 2, 1, "child", 0, 1), (4, 1, 0, "root", 0, 1)]), now);
        assert_eq!(ids(&store), [3, 4]);
        assert_eq!(
            store.stats(),
            Stats { traces: 2, spans: 2, max_traces: 2, max_spans: 100, evicted_traces: 2, dropped_spans: 0 }
        );
    }

    #[test]
    fn past_the_span_cap_the_oldest_traces_go_and_a_huge_trace_stops_growing() {
        let mut store = Store::new(100, 4);
        let now = Instant::now();
        store.ingest(export("a", &[(1, 1, 0, "r", 0, 1), (1, 2, 1, "c", 0, 1)]), now);
        store.ingest(export("a", &[(2, 1, 0, "r", 0, 1), (2, 2, 1, "c", 0, 1)]), now);
        store.ingest(export("a", &[(3, 1, 0, "r", 0, 1)]), now);
        assert_eq!(ids(&store), [2, 3]);
        assert_eq!(store.stats().spans, 3);
        let spans: Vec<_> = (1..=6).map(|span| (4, span, 0, "r", 0, 1)).collect();
        store.ingest(export("a", &spans), now);
        assert_eq!(ids(&store), [4]);
        let stats = store.stats();
        assert_eq!((stats.spans, stats.dropped_spans, stats.evicted_traces), (4, 2, 3));
    }

    #[test]
    fn spans_without_valid_ids_are_rejected_and_a_resent_span_counts_once() {
        let mut store = Store::new(10, 100);
        let mut request =
            export("a", &[(1, 1, 0, "r", 0, 1), (0, 2, 0, "no trace id", 0, 1), (1, 0, 0, "no id", 0, 1)]);
        request.resource_spans[0].scope_spans[0].spans.push(Span { trace_id: vec![1; 3], ..Default::default() });
        let outcome = store.ingest(request, Instant::now());
        assert_eq!(outcome, Ingested { accepted: 1, rejected: 3 });
        store.ingest(export("a", &[(1, 1, 0, "r", 0, 1)]), Instant::now());
        assert_eq!(store.stats().spans, 1);
    }

    #[test]
    fn a_trace_is_finished_once_its_root_is_in_and_it_has_been_quiet() {
        let mut store = Store::new(10, 100);
        let start = Instant::now();
        let quiet = Duration::from_millis(500);
        store.ingest(export("users", &[(1, 2, 1, "child", 1, 2)]), start);
        assert!(store.take_finished(start + quiet * 3, quiet).is_empty(), "no root yet");
        let later = start + quiet * 3;
        store.ingest(export("edge", &[(1, 1, 0, "root", 0, 3)]), later);
        assert!(store.take_finished(later + quiet / 2, quiet).is_empty(), "not quiet yet");
        let finished = store.take_finished(later + quiet, quiet);
        assert_eq!(finished.len(), 1);
        assert_eq!((finished[0].root_name.as_str(), finished[0].span_count), ("root", 2));
        assert!(store.take_finished(later + quiet * 10, quiet).is_empty(), "said once");
    }

    #[test]
    fn the_list_is_newest_first_and_filters_by_service_and_id() {
        let mut store = Store::new(10, 100);
        let now = Instant::now();
        store.ingest(export("edge", &[(1, 1, 0, "old", 0, 1), (2, 1, 0, "new", 50, 51)]), now);
        store.ingest(export("users", &[(2, 2, 1, "child", 50, 51)]), now);
        let all = store.summaries(&Filter { limit: 10, ..Default::default() });
        assert_eq!(all.iter().map(|s| s.root_name.as_str()).collect::<Vec<_>>(), ["new", "old"]);
        let users = store.summaries(&Filter { service: Some("users".into()), limit: 10, ..Default::default() });
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].root_name, "new");
        let by_id = store.summaries(&Filter { trace_id_prefix: Some("0101".into()), limit: 10, ..Default::default() });
        assert_eq!(by_id.iter().map(|s| s.id).collect::<Vec<_>>(), [TraceId([1; 16])]);
        assert_eq!(store.summaries(&Filter { limit: 1, ..Default::default() }).len(), 1);
    }
}
