//! The four trace headers a service reads (`traceparent`, `tracestate`,
//! `baggage`, `X-Amzn-Trace-Id`; one per line of the input) through the
//! propagators it installs by default: no panic, and a context that is
//! continued propagates unchanged, its X-Ray decision (the `xray` entry of
//! `tracestate`) included.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use opentelemetry::{propagation::TextMapPropagator, trace::TraceContextExt};
use telemetry::parsers::{default_propagator, xray_decision};

const HEADERS: [&str; 4] = ["traceparent", "tracestate", "baggage", "x-amzn-trace-id"];

fuzz_target!(|input: &str| {
    let headers: HashMap<String, String> =
        HEADERS.iter().zip(input.split('\n')).map(|(name, value)| (name.to_string(), value.to_owned())).collect();
    let propagator = default_propagator();
    let cx = propagator.extract(&headers);
    let context = cx.span().span_context().clone();
    if !context.is_valid() {
        return;
    }
    let mut written = HashMap::new();
    propagator.inject_context(&cx, &mut written);
    let again = propagator.extract(&written).span().span_context().clone();
    assert_eq!((again.trace_id(), again.span_id()), (context.trace_id(), context.span_id()), "{input:?}");
    if let Some(decided) = xray_decision(context.trace_state()) {
        assert_eq!(xray_decision(again.trace_state()), Some(decided), "{input:?}");
    }
});
