//! Trace context on the wire: W3C `traceparent`/`tracestate`, `baggage`, and
//! AWS `X-Amzn-Trace-Id`, as `OTEL_PROPAGATORS` says.

use std::cell::OnceCell;

use actix_web::http::header::{HeaderMap, HeaderName};
use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapCompositePropagator, TextMapPropagator, text_map_propagator::FieldIter},
    trace::{SpanContext, TraceContextExt},
};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::{
    config::PropagatorKind,
    hex_ids::{byte_hex, span_hex, trace_hex},
    xray::{self, XrayPropagator},
};

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
                PropagatorKind::TraceContext => Box::new(W3cTraceContext::default()),
                PropagatorKind::Baggage => Box::new(BaggagePropagator::new()),
            }
        })
        .collect();
    TextMapCompositePropagator::new(propagators)
}

/// W3C Trace Context: the SDK's propagator, except that `traceparent` is
/// written from a stack buffer ([`traceparent`]); the SDK's `format!` of
/// the ids cost ~2 k instructions of every service-to-service call. What it
/// extracts is the SDK's, from a `traceparent` of the specification's exact
/// form only ([`well_formed_traceparent`]); the fields it names are the SDK's.
#[derive(Debug, Default)]
pub struct W3cTraceContext(TraceContextPropagator);

impl TextMapPropagator for W3cTraceContext {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let context = span.span_context();
        if context.is_valid() {
            // Only the sampled flag travels, as the SDK sends it.
            injector.set("traceparent", traceparent(context, context.trace_flags().to_u8() & 1));
            injector.set("tracestate", xray::tracestate_header(context.trace_state()));
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match extractor.get("traceparent") {
            // Ignored, and its tracestate with it, as the specification says.
            Some(value) if !well_formed_traceparent(value) => cx.clone(),
            _ => self.0.extract_with_context(cx, extractor),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        self.0.fields()
    }
}

/// Whether `value` has the form W3C Trace Context gives `traceparent`:
/// `version-trace_id-parent_id-flags` in lowercase hex of 2, 32, 16 and 2
/// digits; version `ff` is invalid; version `00` ends there, a later version
/// may go on after a `-`. The SDK's parser (0.33) splits on `-` and reads
/// each part as a number, so it took `00-1-2-01` (short ids), a leading `+`,
/// a trailing `-`, and a one-digit version. (All-zero ids it refuses itself.)
pub(crate) fn well_formed_traceparent(value: &str) -> bool {
    let value = value.trim().as_bytes();
    let hex = |from: usize, to: usize| value[from..to].iter().all(|&c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    let dash = |at: usize| value[at] == b'-';
    value.len() >= 55
        && hex(0, 2)
        && &value[..2] != b"ff"
        && dash(2)
        && hex(3, 35)
        && dash(35)
        && hex(36, 52)
        && dash(52)
        && hex(53, 55)
        && if &value[..2] == b"00" { value.len() == 55 } else { value.len() == 55 || dash(55) }
}

/// `00-<trace id>-<span id>-<flags>`: the W3C `traceparent` (and
/// `traceresponse`) value of `context`, with `flags` as given.
pub fn traceparent(context: &SpanContext, flags: u8) -> String {
    let mut value = String::with_capacity(55);
    value.push_str("00-");
    value.push_str(trace_hex(context.trace_id()).as_str());
    value.push('-');
    value.push_str(span_hex(context.span_id()).as_str());
    value.push('-');
    value.push_str(byte_hex(flags).as_str());
    value
}

/// Reads propagation headers from an actix request (actix has its own
/// `HeaderMap` type, so `opentelemetry-http`'s extractor does not apply).
pub struct ActixHeaders<'a> {
    headers: &'a HeaderMap,
    /// `tracestate` and `baggage` sent on several lines, joined (below).
    tracestate: OnceCell<Option<String>>,
    baggage: OnceCell<Option<String>>,
}

impl<'a> ActixHeaders<'a> {
    pub fn new(headers: &'a HeaderMap) -> Self {
        Self { headers, tracestate: OnceCell::new(), baggage: OnceCell::new() }
    }

    /// A list header: W3C Trace Context and Baggage read several lines of
    /// one as a single comma-separated value (RFC 9110, 5.3). The SDK's
    /// propagators ask for one value, so the lines are joined here, once,
    /// and only when there are several; a line that is not text spoils the
    /// whole list, as a bad single line would.
    fn list<'s>(&'s self, name: HeaderName, joined: &'s OnceCell<Option<String>>) -> Option<&'s str> {
        let mut lines = self.headers.get_all(&name);
        let first = lines.next()?;
        if lines.len() == 0 {
            return first.to_str().ok();
        }
        joined
            .get_or_init(|| {
                let lines: Result<Vec<&str>, _> = self.headers.get_all(&name).map(|line| line.to_str()).collect();
                lines.ok().map(|lines| lines.join(","))
            })
            .as_deref()
    }
}

impl Extractor for ActixHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        // The names our propagators ask for, without parsing them again.
        let value = match key {
            "traceparent" => self.headers.get(HeaderName::from_static("traceparent")),
            "tracestate" => return self.list(HeaderName::from_static("tracestate"), &self.tracestate),
            "baggage" => return self.list(HeaderName::from_static("baggage"), &self.baggage),
            "x-amzn-trace-id" => self.headers.get(HeaderName::from_static("x-amzn-trace-id")),
            other => self.headers.get(other),
        };
        value.and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.headers.keys().map(|name| name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    fn injected(propagator: &dyn TextMapPropagator, context: SpanContext) -> HashMap<String, String> {
        let mut headers = HashMap::new();
        propagator.inject_context(&Context::new().with_remote_span_context(context), &mut headers);
        headers
    }

    #[test]
    fn w3c_headers_are_the_sdks() {
        let state = TraceState::from_key_value([("xray", "1"), ("vendor", "value")]).unwrap();
        for (flags, state) in [(TraceFlags::SAMPLED, state), (TraceFlags::new(0x02), TraceState::NONE)] {
            let context = SpanContext::new(
                TraceId::from(0x4bf92f3577b34da6a3ce929d0e0e4736_u128),
                SpanId::from(0x00f067aa0ba902b7_u64),
                flags,
                false,
                state,
            );
            let ours = injected(&W3cTraceContext::default(), context.clone());
            assert_eq!(ours, injected(&TraceContextPropagator::new(), context.clone()));
            // And it reads back.
            let back = W3cTraceContext::default().extract(&ours);
            assert_eq!(back.span().span_context().trace_id(), context.trace_id());
            assert_eq!(back.span().span_context().span_id(), context.span_id());
        }
        assert!(injected(&W3cTraceContext::default(), SpanContext::empty_context()).is_empty());
        assert_eq!(
            traceparent(
                &SpanContext::new(
                    TraceId::from(1_u128),
                    SpanId::from(2_u64),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::NONE
                ),
                0x01
            ),
            "00-00000000000000000000000000000001-0000000000000002-01"
        );
    }

    #[test]
    fn only_a_traceparent_of_the_exact_form_is_continued() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let span = "00f067aa0ba902b7";
        let extract = |value: &str| {
            let headers = HashMap::from([
                ("traceparent".to_owned(), value.to_owned()),
                ("tracestate".to_owned(), "a=1".to_owned()),
            ]);
            let context = W3cTraceContext::default().extract(&headers);
            let span = context.span();
            let continued = span.span_context().is_valid();
            // A traceparent that is ignored takes its tracestate with it.
            assert_eq!(span.span_context().trace_state().get("a").is_some(), continued, "{value}");
            continued
        };
        for good in [
            format!("00-{trace}-{span}-01"),
            format!("00-{trace}-{span}-00"),
            format!("cc-{trace}-{span}-01"),
            format!("cc-{trace}-{span}-01-what-the-future-holds"),
        ] {
            assert!(well_formed_traceparent(&good) && extract(&good), "{good}");
        }
        for bad in [
            "00-1-2-01".to_owned(),
            format!("0-{trace}-{span}-1"),
            format!("00-{trace}-{span}-01-"),
            format!("00-{trace}-{span}-01-extra"),
            format!("00-+{}-{span}-01", &trace[1..]),
            format!("00-{trace}-+{}-01", &span[1..]),
            format!("00-{}-{span}-01", trace.to_uppercase()),
            format!("ff-{trace}-{span}-01"),
            format!("cc-{trace}-{span}-01.what"),
            format!("00_{trace}-{span}-01"),
            format!("00-{trace}-{span}-0x"),
            format!("00-00000000000000000000000000000000-{span}-01"),
            format!("00-{trace}-0000000000000000-01"),
        ] {
            assert!(!extract(&bad), "{bad}");
        }
    }

    #[test]
    fn list_headers_sent_on_several_lines_are_read_as_one() {
        use actix_web::http::header::HeaderValue;
        use opentelemetry::baggage::BaggageExt;

        let mut headers = HeaderMap::new();
        let mut add = |name: &'static str, value: &'static str| {
            headers.append(HeaderName::from_static(name), HeaderValue::from_static(value));
        };
        add("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        add("tracestate", "a=1");
        add("tracestate", "xray=0,b=2");
        add("baggage", "k=v");
        add("baggage", "k2=v2");
        let propagator = composite(&[PropagatorKind::TraceContext, PropagatorKind::Baggage, PropagatorKind::Xray]);
        let context = propagator.extract(&ActixHeaders::new(&headers));
        let state = context.span().span_context().trace_state().clone();
        assert_eq!((state.get("a"), state.get("b")), (Some("1"), Some("2")), "{state:?}");
        assert_eq!(xray::decision(&state), Some(false), "the caller's X-Ray decision is kept");
        assert_eq!(context.baggage().get("k").map(|v| v.as_str().to_owned()), Some("v".to_owned()));
        assert_eq!(context.baggage().get("k2").map(|v| v.as_str().to_owned()), Some("v2".to_owned()));

        // One line is read as it is; a line that is not text spoils its list.
        let mut one = HeaderMap::new();
        one.insert(HeaderName::from_static("tracestate"), HeaderValue::from_static("a=1"));
        assert_eq!(ActixHeaders::new(&one).get("tracestate"), Some("a=1"));
        one.append(HeaderName::from_static("tracestate"), HeaderValue::from_bytes(b"b=\xff").unwrap());
        assert_eq!(ActixHeaders::new(&one).get("tracestate"), None);
    }
}
