//! AWS X-Ray from the same spans that go to OTLP: the `X-Amzn-Trace-Id`
//! propagator, the sampler that applies the `xray.json` rules once at the root
//! of a trace, and the exporter that sends segment documents to the X-Ray
//! daemon over UDP.
//!
//! Written here though `opentelemetry-aws` 0.21 ships an X-Ray exporter for
//! the workspace's OpenTelemetry 0.33: measured in its place (defaults, same
//! spans, `scripts/bench --instructions`, Dec 7), it cost a home request 92 k
//! instructions over spans alone where `daemon`, `document` and
//! `translation` cost 39 k (serde_json per field, SipHash maps),
//! sent each span as a document of its own, and left out every attribute it
//! does not map (the journal's `app.now` and `app.result_length` among them)
//! unless told to copy them all. Upstream also has no local-rules sampler and
//! ties X-Ray's `Sampled` to the OpenTelemetry sampling flag, so the sampler
//! and the propagator stay ours whatever exports.
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
pub(crate) use propagator::HEADER as TRACE_HEADER;
pub use propagator::{XrayPropagator, response_header};
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
