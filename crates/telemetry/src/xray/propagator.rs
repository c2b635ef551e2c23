//! `X-Amzn-Trace-Id: Root=1-<8 hex epoch>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>`.
//!
//! A load balancer (ALB, API Gateway) sends the `Root` alone: as the X-Ray
//! SDKs do, that trace id is continued and this service's span becomes the
//! trace's root (a remote context with the trace id and no span id, which
//! the SDK continues without a parent), so the balancer's logs and the trace
//! share one id.
//!
//! Written here rather than taken from `opentelemetry-aws` because its
//! `Sampled` is the OpenTelemetry flag, and here it is X-Ray's own decision
//! (the `xray` trace state entry; see the module above). An inbound header
//! says nothing about OpenTelemetry's decision, so a trace continued from it
//! alone is sampled for OTLP: Honeycomb keeps every trace behind a load
//! balancer too.

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};

use super::{
    decision::{decision, with_decision},
    trace_id::XrayTraceId,
};

pub(crate) const HEADER: &str = "x-amzn-trace-id";

#[derive(Debug, Default, Clone, Copy)]
pub struct XrayPropagator;

/// What a header carries: the trace, the caller's segment ([`SpanId::INVALID`]
/// when a load balancer sent the `Root` alone), X-Ray's decision (`None`
/// for `?` or absent: decide here), and whether the caller asked for the
/// decision back (`Sampled=?`).
#[derive(Debug, PartialEq)]
struct Header {
    trace_id: TraceId,
    parent: SpanId,
    sampled: Option<bool>,
    asked: bool,
}

fn parse(value: &str) -> Option<Header> {
    // `parent`: absent is `Some(INVALID)` (Root only), malformed is `None`.
    let (mut trace_id, mut parent, mut sampled, mut asked) = (None, Some(SpanId::INVALID), None, false);
    for part in value.split(';') {
        let Some((key, value)) = part.trim().split_once('=') else { continue };
        match key.trim() {
            "Root" => trace_id = parse_root(value.trim()),
            "Parent" => {
                parent = hex(value.trim(), 16).map(|id| SpanId::from(id as u64)).filter(|&id| id != SpanId::INVALID)
            }
            "Sampled" => {
                let value = value.trim();
                asked = value == "?";
                sampled = match value {
                    "1" => Some(true),
                    "0" => Some(false),
                    _ => None,
                }
            }
            _ => {} // Self= (a load balancer's own), Lineage= and application data.
        }
    }
    Some(Header { trace_id: trace_id?, parent: parent?, sampled, asked })
}

/// `1-5759e988-bd862e3fe1be46a994272793` → the 128-bit id.
fn parse_root(root: &str) -> Option<TraceId> {
    let rest = root.strip_prefix("1-")?;
    let (epoch, random) = rest.split_once('-')?;
    let id = TraceId::from((hex(epoch, 8)? << 96) | hex(random, 24)?);
    (id != TraceId::INVALID).then_some(id)
}

/// Exactly `digits` hex digits as a number. The length and every digit are
/// checked here: `from_str_radix` alone also takes a leading `+`, which
/// made `+759e988` the epoch `0759e988`.
fn hex(text: &str, digits: usize) -> Option<u128> {
    if text.len() != digits || digits > 32 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(text, 16).ok()
}

/// The `X-Amzn-Trace-Id` of a response, as the X-Ray SDKs' middlewares
/// write it: `Root=<trace id>`, and `;Sampled=<1|0>` (X-Ray's decision)
/// only when the request's header parsed and asked for it with `Sampled=?`.
/// `request` is the request's header, if it had one; `context` the server
/// span's.
pub fn response_header(request: Option<&str>, context: &SpanContext) -> ResponseHeader {
    // Most requests (every call between the services) carry a decided
    // header: only one with a `?` in it is parsed again.
    let asked = request.filter(|value| value.contains('?')).and_then(parse).is_some_and(|header| header.asked);
    let mut text = [0; ResponseHeader::LONGEST];
    text[..5].copy_from_slice(b"Root=");
    text[5..40].copy_from_slice(XrayTraceId(context.trace_id()).to_hex().as_str().as_bytes());
    if !asked {
        return ResponseHeader { text, length: 40 };
    }
    let sampled = decision(context.trace_state()).unwrap_or(context.is_sampled());
    text[40..].copy_from_slice(if sampled { b";Sampled=1" } else { b";Sampled=0" });
    ResponseHeader { text, length: ResponseHeader::LONGEST }
}

/// A response's `X-Amzn-Trace-Id`, ASCII, on the stack: no formatting and
/// no allocation of its own on the request path.
pub struct ResponseHeader {
    text: [u8; Self::LONGEST],
    length: usize,
}

impl ResponseHeader {
    /// `Root=1-…-…;Sampled=1`
    const LONGEST: usize = "Root=".len() + 35 + ";Sampled=1".len();

    pub fn as_bytes(&self) -> &[u8] {
        &self.text[..self.length]
    }
}

impl TextMapPropagator for XrayPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let context = span.span_context();
        if !context.is_valid() {
            return;
        }
        // `Root=…;Parent=…;Sampled=…`, from stack buffers: a `format!` of
        // the two ids went through the formatting machinery digit by digit.
        let mut value = String::with_capacity(72);
        value.push_str("Root=");
        value.push_str(XrayTraceId(context.trace_id()).to_hex().as_str());
        value.push_str(";Parent=");
        value.push_str(crate::hex_ids::span_hex(context.span_id()).as_str());
        // No decision when nothing here sampled: a context passed through
        // with the SDK disabled that came without one. The next service's
        // rules decide, as they would have here; W3C's sampled flag is
        // OpenTelemetry's decision, not X-Ray's.
        match decision(context.trace_state()) {
            Some(true) => value.push_str(";Sampled=1"),
            Some(false) => value.push_str(";Sampled=0"),
            None => {}
        }
        injector.set(HEADER, value);
    }

    /// Runs after the W3C propagator (see `propagation::composite`): when a
    /// W3C context for the same trace is already there, only X-Ray's
    /// decision is added to it (if it has none); a different trace is left
    /// alone, so W3C wins.
    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(header) = extractor.get(HEADER).and_then(parse) else { return cx.clone() };
        let existing = cx.span().span_context().clone();
        if existing.is_valid() {
            return match header.sampled {
                Some(sampled)
                    if existing.trace_id() == header.trace_id && decision(existing.trace_state()).is_none() =>
                {
                    let trace_state = with_decision(existing.trace_state().clone(), sampled);
                    cx.with_remote_span_context(SpanContext::new(
                        existing.trace_id(),
                        existing.span_id(),
                        existing.trace_flags(),
                        true,
                        trace_state,
                    ))
                }
                _ => cx.clone(),
            };
        }
        let trace_state = match header.sampled {
            Some(sampled) => with_decision(TraceState::default(), sampled),
            None => TraceState::default(),
        };
        cx.with_remote_span_context(SpanContext::new(
            header.trace_id,
            header.parent,
            TraceFlags::SAMPLED,
            true,
            trace_state,
        ))
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(FIELDS.as_slice())
    }
}

/// `fields()` must hand out `&[String]`, which a `const` cannot hold.
static FIELDS: std::sync::LazyLock<[String; 1]> = std::sync::LazyLock::new(|| [HEADER.to_owned()]);

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    use super::*;

    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

    fn extract(headers: &[(&str, &str)]) -> SpanContext {
        let map: HashMap<String, String> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let cx = TraceContextPropagator::new().extract(&map);
        XrayPropagator.extract_with_context(&cx, &map).span().span_context().clone()
    }

    fn injected(context: SpanContext) -> String {
        let mut headers = HashMap::new();
        XrayPropagator.inject_context(&Context::new().with_remote_span_context(context), &mut headers);
        headers.remove(HEADER).unwrap()
    }

    #[test]
    fn a_context_without_a_decision_leaves_it_to_the_next_service() {
        // What passes through a service with the SDK disabled: W3C's
        // sampled flag is OpenTelemetry's, not a decision of X-Ray's.
        let w3c = extract(&[("traceparent", "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01")]);
        assert_eq!(injected(w3c), format!("Root={ROOT};Parent=53995c3f42cd8ad8"));
        let asked = extract(&[(HEADER, &format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=?"))]);
        assert_eq!(injected(asked), format!("Root={ROOT};Parent=53995c3f42cd8ad8"));
        let decided = extract(&[(HEADER, &format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=0"))]);
        assert_eq!(injected(decided), format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=0"));
    }

    #[test]
    fn a_header_is_continued_with_its_decision() {
        let header = format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1");
        let context = extract(&[(HEADER, &header)]);
        assert_eq!(context.trace_id().to_string(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(context.span_id().to_string(), "53995c3f42cd8ad8");
        assert!(context.is_remote() && context.is_sampled());
        assert_eq!(decision(context.trace_state()), Some(true));

        // Sampled=0: X-Ray said no; OpenTelemetry still records (Honeycomb keeps it).
        let context = extract(&[(HEADER, &format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=0;Lineage=a:1"))]);
        assert_eq!(decision(context.trace_state()), Some(false));
        assert!(context.is_sampled());

        // Sampled=? or no Sampled: no decision yet, the sampler makes it here.
        for header in
            [format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=?"), format!("Parent=53995c3f42cd8ad8; Root={ROOT}")]
        {
            let context = extract(&[(HEADER, &header)]);
            assert!(context.is_valid(), "{header}");
            assert_eq!(decision(context.trace_state()), None);
        }
    }

    #[test]
    fn a_root_alone_continues_the_trace_with_no_parent() {
        for (header, sampled) in [
            (format!("Root={ROOT}"), None),
            (format!("Self=1-67891233-abcdef012345678912345678;Root={ROOT};Sampled=1"), Some(true)),
            (format!("Root={ROOT};Sampled=0"), Some(false)),
            (format!("Root={ROOT};Sampled=?"), None),
        ] {
            let context = extract(&[(HEADER, &header)]);
            assert_eq!(context.trace_id().to_string(), "5759e988bd862e3fe1be46a994272793", "{header}");
            assert_eq!(context.span_id(), SpanId::INVALID, "{header}: no parent");
            assert!(context.is_remote() && context.is_sampled(), "{header}");
            assert_eq!(decision(context.trace_state()), sampled, "{header}");
        }
        // W3C still wins.
        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let context = extract(&[("traceparent", traceparent), (HEADER, &format!("Root={ROOT};Sampled=1"))]);
        assert_eq!(context.trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
    }

    #[test]
    fn malformed_headers_start_a_new_trace() {
        for header in [
            "Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad8",
            "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a99427279",
            "Parent=53995c3f42cd8ad8;Sampled=1",
            &format!("Root={ROOT};Parent=0000000000000000"),
            &format!("Root={ROOT};Parent=zz995c3f42cd8ad8"),
            &format!("Root={ROOT};Parent=53995c3f42cd8ad"),
            // A sign is not a digit (`from_str_radix` takes a leading `+`).
            "Root=1-+759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e988-+d862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            &format!("Root={ROOT};Parent=+3995c3f42cd8ad8;Sampled=1"),
            "Root=1-+759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e98 -bd862e3fe1be46a994272793",
            "garbage",
        ] {
            // Not even a trace id: nothing is continued.
            assert_eq!(extract(&[(HEADER, header)]).trace_id(), TraceId::INVALID, "{header}");
        }
    }

    #[test]
    fn w3c_wins_and_lends_x_ray_its_decision_only_for_the_same_trace() {
        let traceparent = "00-5759e988bd862e3fe1be46a994272793-1111111111111111-01";
        let same = format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1");
        let context = extract(&[("traceparent", traceparent), (HEADER, &same)]);
        assert_eq!(context.span_id().to_string(), "1111111111111111", "W3C's parent");
        assert_eq!(decision(context.trace_state()), Some(true), "X-Ray's decision");

        let context = extract(&[("traceparent", traceparent), ("tracestate", "xray=0"), (HEADER, &same)]);
        assert_eq!(decision(context.trace_state()), Some(false), "tracestate already decided");

        let other = "Root=1-00000001-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let context = extract(&[("traceparent", traceparent), (HEADER, other)]);
        assert_eq!(decision(context.trace_state()), None, "another trace's decision is not taken");
    }

    #[test]
    fn the_response_header_carries_the_root_and_the_decision_only_when_asked() {
        let trace_id = TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap();
        let span_id = SpanId::from_hex("53995c3f42cd8ad8").unwrap();
        let response = |request: Option<&str>, trace_state: &str| {
            let context = SpanContext::new(trace_id, span_id, TraceFlags::SAMPLED, false, trace_state.parse().unwrap());
            String::from_utf8(response_header(request, &context).as_bytes().to_vec()).unwrap()
        };
        let root = format!("Root={ROOT}");
        // As the X-Ray SDKs answer: the root always, the decision only for `Sampled=?`.
        for (request, trace_state, expected) in [
            (None, "xray=1", root.clone()),
            (Some(format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=?")), "xray=1", format!("{root};Sampled=1")),
            (Some(format!("Root={ROOT};Sampled=?")), "xray=0", format!("{root};Sampled=0")),
            (Some(format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1")), "xray=1", root.clone()),
            (Some(format!("Root={ROOT};Parent=53995c3f42cd8ad8")), "xray=0", root.clone()),
            // A header that does not parse is no request for anything.
            (Some("Root=1-+759e988-bd862e3fe1be46a994272793;Sampled=?".to_owned()), "xray=1", root.clone()),
        ] {
            assert_eq!(response(request.as_deref(), trace_state), expected, "{request:?}");
        }
    }

    #[test]
    fn injects_root_parent_and_x_rays_decision() {
        let trace_id = TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap();
        let span_id = SpanId::from_hex("53995c3f42cd8ad8").unwrap();
        // X-Ray's decision, whatever OpenTelemetry's flag says (with none,
        // see a_context_without_a_decision_leaves_it_to_the_next_service).
        for (trace_state, flags, sampled) in
            [("xray=0", TraceFlags::SAMPLED, "0"), ("xray=1", TraceFlags::default(), "1")]
        {
            let trace_state: TraceState = trace_state.parse().unwrap();
            let context = SpanContext::new(trace_id, span_id, flags, false, trace_state);
            assert_eq!(injected(context), format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled={sampled}"));
        }
        let mut headers = HashMap::new();
        XrayPropagator.inject_context(&Context::new(), &mut headers);
        assert!(headers.is_empty());
    }
}
