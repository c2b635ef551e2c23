//! X-Ray's sampling decision as it travels with a trace: the `xray` entry of
//! W3C `tracestate`. The sampler writes it, the propagator carries it on the
//! wire, and the exporters' filter reads it; one codec keeps them agreeing.

use opentelemetry::trace::{SpanContext, TraceState};

/// The W3C `tracestate` entry that carries X-Ray's decision: `xray=1` or `xray=0`.
pub const TRACESTATE_KEY: &str = "xray";

/// X-Ray's decision recorded in a trace state, if any.
pub fn decision(trace_state: &TraceState) -> Option<bool> {
    match trace_state.get(TRACESTATE_KEY) {
        Some("1") => Some(true),
        Some("0") => Some(false),
        _ => None,
    }
}

/// `trace_state` with X-Ray's decision set (untouched, not copied, when it
/// already says so: the common case of a child span).
pub fn with_decision(trace_state: TraceState, sampled: bool) -> TraceState {
    if decision(&trace_state) == Some(sampled) {
        return trace_state;
    }
    match trace_state.insert(TRACESTATE_KEY, if sampled { "1" } else { "0" }) {
        Ok(updated) => updated,
        Err(_) => trace_state,
    }
}

/// Whether X-Ray sampled the trace of `context` (its `xray` trace state entry).
pub fn sampled_for_xray(context: &SpanContext) -> bool {
    decision(context.trace_state()) == Some(true)
}
