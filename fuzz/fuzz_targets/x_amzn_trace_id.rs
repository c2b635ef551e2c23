//! `X-Amzn-Trace-Id` as a client or a load balancer sends it: read without a
//! panic, and a context that is continued is written out and read back as
//! the same trace, parent and X-Ray decision.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use opentelemetry::{propagation::TextMapPropagator, trace::TraceContextExt};
use telemetry::parsers::{XrayPropagator, xray_decision};

fuzz_target!(|header: &str| {
    let headers = HashMap::from([("x-amzn-trace-id".to_owned(), header.to_owned())]);
    let cx = XrayPropagator.extract(&headers);
    let context = cx.span().span_context().clone();
    if !context.is_valid() {
        return;
    }
    let mut written = HashMap::new();
    XrayPropagator.inject_context(&cx, &mut written);
    let again = XrayPropagator.extract(&written).span().span_context().clone();
    assert_eq!((again.trace_id(), again.span_id()), (context.trace_id(), context.span_id()), "{header:?}");
    if let Some(decided) = xray_decision(context.trace_state()) {
        assert_eq!(xray_decision(again.trace_state()), Some(decided), "{header:?}");
    }
});
