//! What a client can make the libraries log, kept out of every log: a
//! client's mistake is not the service's error, and nothing a client sends is
//! copied into a log line.
//!
//! - actix-http logs at ERROR each connection a client breaks (a request line
//!   or header that does not parse, a body cut short, a socket gone): 400s
//!   and closed connections that say nothing about the service's health.
//! - The OpenTelemetry baggage propagator WARNs about a malformed `baggage`
//!   header with the whole header in the line, unbounded.

use tracing::{Level, Metadata, level_filters::LevelFilter};
use tracing_subscriber::filter::{FilterFn, filter_fn};

/// A per-layer filter that drops those events, to combine (`and`) with the
/// level filter of each layer that writes log lines. Not a global filter: a
/// global filter without a level hint makes tracing treat every trace and
/// debug callsite of every library as possibly wanted, and ask the layers at
/// run time (about 30 disabled events and sqlx's formatted debug lines on
/// each request). It admits every level itself, and says so.
pub fn filter() -> FilterFn<fn(&Metadata<'_>) -> bool> {
    filter_fn(keep as fn(&Metadata<'_>) -> bool).with_max_level_hint(LevelFilter::TRACE)
}

/// Whether a log line may carry the event (layers without a filter ask it).
pub(crate) fn keep(metadata: &Metadata<'_>) -> bool {
    let broken_connection =
        metadata.is_event() && *metadata.level() == Level::ERROR && metadata.target().starts_with("actix_http::h1");
    let malformed_baggage = metadata.is_event() && metadata.name().starts_with("BaggagePropagator.");
    !(broken_connection || malformed_baggage)
}
