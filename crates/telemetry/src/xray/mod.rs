//! AWS X-Ray from the same spans that go to OTLP: the `X-Amzn-Trace-Id`
//! propagator, the sampler that applies the `xray.json` rules once at the root
//! of a trace, and the exporter that sends segment documents to the X-Ray
//! daemon over UDP.
//!
//! Replaced upstream later: `opentelemetry-aws` 0.21 ships an X-Ray exporter,
//! but it needs OpenTelemetry 0.33, and the workspace is on 0.32. Once it
//! moves, `daemon`, `document` and `translation` give
//! way to `opentelemetry_aws::trace::XrayExporter` (keep the sampler and propagator:
//! upstream has no local-rules sampler and ties X-Ray's `Sampled` to the
//! OpenTelemetry sampling flag).
//!
//! Two decisions ride on every trace. The W3C `sampled` flag is
//! OpenTelemetry's (`OTEL_TRACES_SAMPLER`; by default every trace goes to
//! Honeycomb). X-Ray's is made by the rules at the first service that sees the
//! trace and travels as the `xray` entry of W3C `tracestate` and as `Sampled`
//! in `X-Amzn-Trace-Id`, so every service of a trace agrees and X-Ray traces
//! are whole.

mod config;
mod daemon;
mod decision;
mod document;
mod id_generator;
mod naming;
mod propagator;
mod rules;
mod sampler;
mod statements;
mod trace_id;
mod translation;

pub use config::XrayConfig;
pub use daemon::DaemonExporter;
pub use decision::{sampled_for_xray, tracestate_header};
pub use id_generator::XrayIdGenerator;
pub use propagator::XrayPropagator;
pub use sampler::XraySampler;
pub use trace_id::XrayTraceId;
pub use translation::Documents;
// For the parsers' seam (`crate::parsers`): the fuzz targets and property tests.
#[cfg(any(test, feature = "fuzzing"))]
pub use {
    decision::{decision, with_decision},
    naming::wildcard_match,
    rules::{RulesError, SamplingRules},
};
