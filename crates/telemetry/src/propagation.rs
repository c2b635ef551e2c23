//! Trace context on the wire: W3C `traceparent`/`tracestate`, `baggage`, and
//! AWS `X-Amzn-Trace-Id`, as `OTEL_PROPAGATORS` says.

use actix_web::http::header::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapCompositePropagator, TextMapPropagator};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::{config::PropagatorKind, xray::XrayPropagator};

/// The composite extracts in order, each propagator seeing what the previous
/// ones found. X-Ray goes last: it keeps a W3C context when there is one
/// (adding X-Ray's sampling decision for the same trace), so W3C wins.
pub fn composite(kinds: &[PropagatorKind]) -> TextMapCompositePropagator {
    let mut ordered: Vec<PropagatorKind> = kinds.to_vec();
    ordered.sort_by_key(|kind| matches!(kind, PropagatorKind::Xray));
    let propagators: Vec<Box<dyn TextMapPropagator + Send + Sync>> = ordered
        .into_iter()
        .map(|kind| -> Box<dyn TextMapPropagator + Send + Sync> {
            match kind {
                PropagatorKind::Xray => Box::new(XrayPropagator),
                PropagatorKind::TraceContext => Box::new(TraceContextPropagator::new()),
                PropagatorKind::Baggage => Box::new(BaggagePropagator::new()),
            }
        })
        .collect();
    TextMapCompositePropagator::new(propagators)
}

/// Reads propagation headers from an actix request (actix has its own
/// `HeaderMap` type, so `opentelemetry-http`'s extractor does not apply).
pub struct ActixHeaders<'a>(pub &'a HeaderMap);

impl Extractor for ActixHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}
