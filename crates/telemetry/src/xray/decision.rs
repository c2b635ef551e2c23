//! X-Ray's sampling decision as it travels with a trace: the `xray` entry of
//! W3C `tracestate`. The sampler writes it, the propagator carries it on the
//! wire, and the exporters' filter reads it; one codec keeps them agreeing.

use std::sync::LazyLock;

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

/// The `tracestate` header of `trace_state`. A state that holds X-Ray's
/// decision alone, as every trace this stack starts does, is written
/// without `TraceState::header`, which formats each entry and joins them
/// (~1.5 k instructions of each outgoing request, scripts/bench
/// --instructions).
pub fn tracestate_header(trace_state: &TraceState) -> String {
    static DECISION_ALONE: LazyLock<[(TraceState, &str); 2]> = LazyLock::new(|| {
        [(true, "xray=1"), (false, "xray=0")]
            .map(|(sampled, header)| (with_decision(TraceState::NONE, sampled), header))
    });
    match DECISION_ALONE.iter().find(|(state, _)| state == trace_state) {
        Some((_, header)) => (*header).to_owned(),
        None => trace_state.header(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_the_sdk_s() {
        let states = [
            with_decision(TraceState::NONE, true),
            with_decision(TraceState::NONE, false),
            TraceState::NONE,
            TraceState::from_key_value([("vendor", "v"), ("xray", "1")]).unwrap(),
            with_decision(TraceState::from_key_value([("vendor", "v")]).unwrap(), false),
        ];
        for state in states {
            assert_eq!(tracestate_header(&state), state.header(), "{state:?}");
        }
        assert_eq!(tracestate_header(&with_decision(TraceState::NONE, true)), "xray=1");
    }
}
