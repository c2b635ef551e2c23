//! What a client can make the libraries log, kept out of every log: a
//! client's mistake is not the service's error, and nothing a client sends is
//! copied into a log line.
//!
//! - actix-http logs at ERROR each connection a client breaks (a request line
//!   or header that does not parse, a body cut short, a socket gone): 400s
//!   and closed connections that say nothing about the service's health.
//! - The OpenTelemetry baggage propagator WARNs about a malformed `baggage`
//!   header with the whole header in the line, unbounded.

use tracing::{Level, Metadata};

/// Whether a log line may carry the event: the stdout and CloudWatch layers
/// ask it for each event.
pub(crate) fn keep(metadata: &Metadata<'_>) -> bool {
    let broken_connection =
        metadata.is_event() && *metadata.level() == Level::ERROR && metadata.target().starts_with("actix_http::h1");
    let malformed_baggage = metadata.is_event() && metadata.name().starts_with("BaggagePropagator.");
    !(broken_connection || malformed_baggage)
}
