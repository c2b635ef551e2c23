//! OTLP/HTTP trace export, protobuf written by hand.
//!
//! opentelemetry-otlp did the same job, but converting each span into
//! opentelemetry-proto's structs, encoding them with prost (lengths computed
//! again at every level) and dropping them cost about 100k instructions per
//! request with five spans (callgrind, GET /api/activities/home): most of
//! what export cost. Here the request body is written straight from the
//! spans into one reused buffer. The price is owning an encoder of a
//! well-kept crate's format: the tests check it against opentelemetry-proto's
//! own conversion, and any change of the SDK or proto version must keep them green.

mod encode;
mod exporter;
mod retry;

pub(crate) use exporter::OtlpExporter;
pub(crate) use retry::Stop;
