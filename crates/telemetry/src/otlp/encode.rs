//! The OTLP wire format: an `ExportTraceServiceRequest` (collector/trace/v1)
//! written straight from the SDK's spans, field for field as
//! opentelemetry-proto 0.33 converts them (`From<SpanData> for Span`,
//! `group_spans_by_resource_and_scope`), so a collector decodes the same
//! message it got from opentelemetry-otlp.
//!
//! Proto3 rules followed: a scalar or string at its default value is left
//! out; a singular message field opentelemetry-proto sets to `Some` (the
//! resource, the scope, the status, an attribute's value) is written even
//! when empty; a oneof member is written whatever its value.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::{
    Array, InstrumentationScope, KeyValue, Value,
    trace::{SpanId, SpanKind, Status, TraceState},
};
use opentelemetry_sdk::{Resource, trace::SpanData};
use prost::encoding::{WireType, encode_varint, encoded_len_varint, key_len};

/// The part of every request that only changes with the provider's resource:
/// encoded once, copied into each request.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct EncodedResource {
    /// The body of the `Resource` message (its attributes).
    resource: Vec<u8>,
    schema_url: String,
}

impl EncodedResource {
    pub(crate) fn new(resource: &Resource) -> Self {
        let mut body = Vec::new();
        for (key, value) in resource.iter() {
            key_value(&mut body, resource::ATTRIBUTES, key.as_str(), value);
        }
        Self { resource: body, schema_url: resource.schema_url().unwrap_or_default().to_owned() }
    }
}

/// Writes the request for `spans` into `out` (cleared first), one
/// `ResourceSpans` with one `ScopeSpans` per instrumentation scope, scopes in
/// order of first appearance and spans in batch order within each.
pub(crate) fn export_request(spans: &[SpanData], resource: &EncodedResource, out: &mut Vec<u8>) {
    out.clear();
    // Scopes compare by value (name, version, schema URL, attributes), as the
    // grouping of opentelemetry-proto does; a batch rarely holds more than two.
    let mut scopes: Vec<&InstrumentationScope> = Vec::with_capacity(2);
    let mut trace_states = TraceStateHeaders::default();
    for span in spans {
        if !scopes.contains(&&span.instrumentation_scope) {
            scopes.push(&span.instrumentation_scope);
        }
    }
    message(out, request::RESOURCE_SPANS, 3, |out| {
        message(out, resource_spans::RESOURCE, 2, |out| out.extend_from_slice(&resource.resource));
        for scope in &scopes {
            message(out, resource_spans::SCOPE_SPANS, 3, |out| {
                message(out, scope_spans::SCOPE, 1, |out| instrumentation_scope(out, scope));
                let of_scope = spans.iter().filter(|s| scopes.len() == 1 || s.instrumentation_scope == **scope);
                for data in of_scope {
                    message(out, scope_spans::SPANS, 2, |out| span(out, data, &mut trace_states));
                }
                string(out, scope_spans::SCHEMA_URL, scope.schema_url().unwrap_or_default());
            });
        }
        string(out, resource_spans::SCHEMA_URL, &resource.schema_url);
    });
}

fn instrumentation_scope(out: &mut Vec<u8>, scope: &InstrumentationScope) {
    string(out, scope::NAME, scope.name());
    string(out, scope::VERSION, scope.version().unwrap_or_default());
    for kv in scope.attributes() {
        key_value(out, scope::ATTRIBUTES, kv.key.as_str(), &kv.value);
    }
}

fn span<'a>(out: &mut Vec<u8>, data: &'a SpanData, trace_states: &mut TraceStateHeaders<'a>) {
    let context = &data.span_context;
    bytes(out, span::TRACE_ID, &context.trace_id().to_bytes());
    bytes(out, span::SPAN_ID, &context.span_id().to_bytes());
    string(out, span::TRACE_STATE, trace_states.header(context.trace_state()));
    if data.parent_span_id != SpanId::INVALID {
        bytes(out, span::PARENT_SPAN_ID, &data.parent_span_id.to_bytes());
    }
    string(out, span::NAME, &data.name);
    uint(out, span::KIND, kind(&data.span_kind));
    fixed64(out, span::START_TIME_UNIX_NANO, nanos(data.start_time));
    fixed64(out, span::END_TIME_UNIX_NANO, nanos(data.end_time));
    attributes(out, span::ATTRIBUTES, &data.attributes);
    uint(out, span::DROPPED_ATTRIBUTES_COUNT, data.dropped_attributes_count.into());
    for event in data.events.iter() {
        message(out, span::EVENTS, 1, |out| {
            fixed64(out, event::TIME_UNIX_NANO, nanos(event.timestamp));
            string(out, event::NAME, &event.name);
            attributes(out, event::ATTRIBUTES, &event.attributes);
            uint(out, event::DROPPED_ATTRIBUTES_COUNT, event.dropped_attributes_count.into());
        });
    }
    uint(out, span::DROPPED_EVENTS_COUNT, data.events.dropped_count.into());
    for link in data.links.iter() {
        message(out, span::LINKS, 1, |out| {
            let context = &link.span_context;
            bytes(out, link::TRACE_ID, &context.trace_id().to_bytes());
            bytes(out, link::SPAN_ID, &context.span_id().to_bytes());
            string(out, link::TRACE_STATE, trace_states.header(context.trace_state()));
            attributes(out, link::ATTRIBUTES, &link.attributes);
            uint(out, link::DROPPED_ATTRIBUTES_COUNT, link.dropped_attributes_count.into());
            fixed32(out, link::FLAGS, flags(context.trace_flags().to_u8(), context.is_remote()));
        });
    }
    uint(out, span::DROPPED_LINKS_COUNT, data.links.dropped_count.into());
    message(out, span::STATUS, 1, |out| {
        let (code, description) = match &data.status {
            Status::Unset => (status::UNSET, ""),
            Status::Ok => (status::OK, ""),
            Status::Error { description } => (status::ERROR, description.as_ref()),
        };
        string(out, status::MESSAGE, description);
        uint(out, status::CODE, code);
    });
    fixed32(out, span::FLAGS, flags(context.trace_flags().to_u8(), data.parent_span_is_remote));
}

/// The W3C trace flags plus the OTLP bits saying whether the remoteness of
/// the parent (or linked) context is known, which it always is here.
fn flags(trace_flags: u8, remote: bool) -> u32 {
    const HAS_IS_REMOTE: u32 = 0x100;
    const IS_REMOTE: u32 = 0x200;
    u32::from(trace_flags) | HAS_IS_REMOTE | if remote { IS_REMOTE } else { 0 }
}

fn kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// Before the epoch counts as 0 (left out), as opentelemetry-proto has it.
fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64)
}

/// The text of the trace states of one request, each made once: the spans
/// of a batch carry very few distinct ones (X-Ray's decision rides in it,
/// `xray=1` or `xray=0`), and `TraceState::header` allocates and joins its
/// entries on every call (~4 k instructions of a home request).
#[derive(Default)]
struct TraceStateHeaders<'a> {
    seen: Vec<(&'a TraceState, String)>,
}

impl<'a> TraceStateHeaders<'a> {
    /// Past this many distinct states, one is made each time (no search).
    const KEPT: usize = 8;

    fn header(&mut self, state: &'a TraceState) -> &str {
        match self.seen.iter().position(|(seen, _)| *seen == state) {
            Some(index) => &self.seen[index].1,
            None if self.seen.len() < Self::KEPT => {
                self.seen.push((state, state.header()));
                &self.seen[self.seen.len() - 1].1
            }
            None => {
                // Rare; kept as the last entry so the borrow has an owner.
                let last = Self::KEPT - 1;
                self.seen[last] = (state, state.header());
                &self.seen[last].1
            }
        }
    }
}

fn attributes(out: &mut Vec<u8>, field: u32, attributes: &[KeyValue]) {
    for kv in attributes {
        key_value(out, field, kv.key.as_str(), &kv.value);
    }
}

fn key_value(out: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    let Some(value_len) = scalar_any_value_len(value) else {
        // Arrays: lengths found by writing (see `message`).
        message(out, field, 1, |out| {
            string(out, key_value::KEY, key);
            message(out, key_value::VALUE, 1, |out| any_value(out, value));
        });
        return;
    };
    // Lengths known up front: a long string (the SQL) is never moved to
    // make room for a longer length prefix than `message` guessed.
    let key_field =
        if key.is_empty() { 0 } else { key_len(key_value::KEY) + encoded_len_varint(key.len() as u64) + key.len() };
    let value_field = key_len(key_value::VALUE) + encoded_len_varint(value_len as u64) + value_len;
    tag(out, field, WireType::LengthDelimited);
    varint(out, (key_field + value_field) as u64);
    string(out, key_value::KEY, key);
    tag(out, key_value::VALUE, WireType::LengthDelimited);
    varint(out, value_len as u64);
    any_value(out, value);
}

/// The encoded length of a scalar `AnyValue` (what `any_value` writes), or
/// `None` for an array.
fn scalar_any_value_len(value: &Value) -> Option<usize> {
    Some(match value {
        Value::Bool(b) => key_len(any_value::BOOL_VALUE) + encoded_len_varint(u64::from(*b)),
        Value::I64(i) => key_len(any_value::INT_VALUE) + encoded_len_varint(*i as u64),
        Value::F64(_) => key_len(any_value::DOUBLE_VALUE) + 8,
        Value::String(s) => {
            let len = s.as_str().len();
            key_len(any_value::STRING_VALUE) + encoded_len_varint(len as u64) + len
        }
        Value::Array(_) => return None,
        // `any_value` writes nothing for a kind it does not know.
        _ => 0,
    })
}

/// `AnyValue`: the oneof member is written even at its default (false, 0, "").
fn any_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Bool(b) => bool_value(out, *b),
        Value::I64(i) => int_value(out, *i),
        Value::F64(f) => double_value(out, *f),
        Value::String(s) => string_value(out, s.as_str()),
        Value::Array(array) => message(out, any_value::ARRAY_VALUE, 1, |out| match array {
            Array::Bool(values) => array_values(out, values, |out, b| bool_value(out, *b)),
            Array::I64(values) => array_values(out, values, |out, i| int_value(out, *i)),
            Array::F64(values) => array_values(out, values, |out, f| double_value(out, *f)),
            Array::String(values) => array_values(out, values, |out, s| string_value(out, s.as_str())),
            // opentelemetry-proto panics on kinds it does not know; an empty
            // array is the least wrong thing to send for one.
            _ => {}
        }),
        // Likewise: an AnyValue with nothing set is protobuf's "no value".
        _ => {}
    }
}

fn array_values<T>(out: &mut Vec<u8>, values: &[T], each: impl Fn(&mut Vec<u8>, &T)) {
    for value in values {
        message(out, array_value::VALUES, 1, |out| each(out, value));
    }
}

fn bool_value(out: &mut Vec<u8>, value: bool) {
    tag(out, any_value::BOOL_VALUE, WireType::Varint);
    varint(out, u64::from(value));
}

fn int_value(out: &mut Vec<u8>, value: i64) {
    tag(out, any_value::INT_VALUE, WireType::Varint);
    // int64: negative numbers as their two's complement, ten bytes.
    varint(out, value as u64);
}

fn double_value(out: &mut Vec<u8>, value: f64) {
    tag(out, any_value::DOUBLE_VALUE, WireType::SixtyFourBit);
    out.extend_from_slice(&value.to_le_bytes());
}

fn string_value(out: &mut Vec<u8>, value: &str) {
    tag(out, any_value::STRING_VALUE, WireType::LengthDelimited);
    varint(out, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
}

fn string(out: &mut Vec<u8>, field: u32, value: &str) {
    bytes(out, field, value.as_bytes());
}

fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    if !value.is_empty() {
        tag(out, field, WireType::LengthDelimited);
        varint(out, value.len() as u64);
        out.extend_from_slice(value);
    }
}

/// uint32 and enum fields: plain varints.
fn uint(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, WireType::Varint);
        varint(out, value);
    }
}

fn fixed32(out: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        tag(out, field, WireType::ThirtyTwoBit);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, WireType::SixtyFourBit);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// A field's tag (its key). Every field number here is below 16: one byte.
#[inline]
fn tag(out: &mut Vec<u8>, field: u32, wire_type: WireType) {
    varint(out, u64::from(field << 3 | wire_type as u32));
}

/// prost's `encode_varint` is a call and a loop for every value, and nearly
/// every value here (keys, most lengths, the span kind) fits one byte:
/// that byte is pushed in place (~2 k instructions of a home request with
/// OTLP on, scripts/bench --instructions).
#[inline]
fn varint(out: &mut Vec<u8>, value: u64) {
    if value < 0x80 {
        out.push(value as u8);
    } else {
        encode_varint(value, out);
    }
}

/// A nested message, whose length precedes it: `reserve` bytes are set aside
/// for the length (a guess by message kind), the body written after them,
/// and the length put in; only a wrong guess moves the body.
fn message(out: &mut Vec<u8>, field: u32, reserve: usize, body: impl FnOnce(&mut Vec<u8>)) {
    tag(out, field, WireType::LengthDelimited);
    let at = out.len();
    out.resize(at + reserve, 0);
    body(out);
    let len = (out.len() - at - reserve) as u64;
    let needed = encoded_len_varint(len);
    if needed == reserve {
        encode_varint(len, &mut &mut out[at..at + needed]);
    } else {
        let mut length = [0u8; 10];
        encode_varint(len, &mut &mut length[..]);
        out.splice(at..at + reserve, length[..needed].iter().copied());
    }
}

// Field numbers, from opentelemetry-proto's trace.proto, common.proto,
// resource.proto and trace_service.proto (v1).

mod request {
    pub const RESOURCE_SPANS: u32 = 1;
}

mod resource_spans {
    pub const RESOURCE: u32 = 1;
    pub const SCOPE_SPANS: u32 = 2;
    pub const SCHEMA_URL: u32 = 3;
}

mod resource {
    pub const ATTRIBUTES: u32 = 1;
}

mod scope_spans {
    pub const SCOPE: u32 = 1;
    pub const SPANS: u32 = 2;
    pub const SCHEMA_URL: u32 = 3;
}

mod scope {
    pub const NAME: u32 = 1;
    pub const VERSION: u32 = 2;
    pub const ATTRIBUTES: u32 = 3;
}

mod span {
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const TRACE_STATE: u32 = 3;
    pub const PARENT_SPAN_ID: u32 = 4;
    pub const NAME: u32 = 5;
    pub const KIND: u32 = 6;
    pub const START_TIME_UNIX_NANO: u32 = 7;
    pub const END_TIME_UNIX_NANO: u32 = 8;
    pub const ATTRIBUTES: u32 = 9;
    pub const DROPPED_ATTRIBUTES_COUNT: u32 = 10;
    pub const EVENTS: u32 = 11;
    pub const DROPPED_EVENTS_COUNT: u32 = 12;
    pub const LINKS: u32 = 13;
    pub const DROPPED_LINKS_COUNT: u32 = 14;
    pub const STATUS: u32 = 15;
    pub const FLAGS: u32 = 16;
}

mod event {
    pub const TIME_UNIX_NANO: u32 = 1;
    pub const NAME: u32 = 2;
    pub const ATTRIBUTES: u32 = 3;
    pub const DROPPED_ATTRIBUTES_COUNT: u32 = 4;
}

mod link {
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const TRACE_STATE: u32 = 3;
    pub const ATTRIBUTES: u32 = 4;
    pub const DROPPED_ATTRIBUTES_COUNT: u32 = 5;
    pub const FLAGS: u32 = 6;
}

mod status {
    pub const MESSAGE: u32 = 2;
    pub const CODE: u32 = 3;
    pub const UNSET: u64 = 0;
    pub const OK: u64 = 1;
    pub const ERROR: u64 = 2;
}

mod key_value {
    pub const KEY: u32 = 1;
    pub const VALUE: u32 = 2;
}

mod any_value {
    pub const STRING_VALUE: u32 = 1;
    pub const BOOL_VALUE: u32 = 2;
    pub const INT_VALUE: u32 = 3;
    pub const DOUBLE_VALUE: u32 = 4;
    pub const ARRAY_VALUE: u32 = 5;
}

mod array_value {
    pub const VALUES: u32 = 1;
}

#[cfg(test)]
mod tests {
    use std::{borrow::Cow, time::Duration};

    use opentelemetry::{
        StringValue,
        trace::{Event, Link, SpanContext, TraceFlags, TraceId, TraceState},
    };
    use opentelemetry_proto::{
        tonic::collector::trace::v1::ExportTraceServiceRequest,
        transform::{common::tonic::ResourceAttributesWithSchema, trace::tonic::group_spans_by_resource_and_scope},
    };
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message;

    use super::*;

    fn every_kind_of_value() -> Vec<KeyValue> {
        vec![
            KeyValue::new("bool.true", true),
            KeyValue::new("bool.false", false),
            KeyValue::new("int.zero", 0i64),
            KeyValue::new("int.negative", -42i64),
            KeyValue::new("int.max", i64::MAX),
            KeyValue::new("double", 2.5f64),
            KeyValue::new("double.zero", 0.0f64),
            KeyValue::new("string", "héllo"),
            KeyValue::new("string.empty", ""),
            KeyValue::new("", "empty key"),
            KeyValue::new("array.bool", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("array.int", Value::Array(Array::I64(vec![1, -1, 0]))),
            KeyValue::new("array.double", Value::Array(Array::F64(vec![0.5, -0.0]))),
            KeyValue::new(
                "array.string",
                Value::Array(Array::String(vec![StringValue::from("a"), StringValue::from("")])),
            ),
            KeyValue::new("array.empty", Value::Array(Array::I64(vec![]))),
            // Long enough that its length takes more bytes than reserved.
            KeyValue::new("string.long", "x".repeat(70_000)),
        ]
    }

    fn context(trace: u128, span: u64, flags: TraceFlags, remote: bool, state: TraceState) -> SpanContext {
        SpanContext::new(TraceId::from(trace), SpanId::from(span), flags, remote, state)
    }

    fn at(nanos: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(nanos)
    }

    fn batch() -> Vec<SpanData> {
        let scope = InstrumentationScope::builder("cruddur")
            .with_version("1.2.3")
            .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
            .with_attributes([KeyValue::new("scope.attr", 7i64)])
            .build();
        let other_scope = InstrumentationScope::builder("other").build();
        let state = TraceState::from_key_value([("vendor", "value"), ("rojo", "00f067aa0ba902b7")]).unwrap();
        let root = SpanData {
            span_context: context(
                0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10,
                0x1112_1314_1516_1718,
                TraceFlags::SAMPLED,
                false,
                state.clone(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: Cow::Borrowed("GET /api/activities/home"),
            start_time: at(1_700_000_000_000_000_000),
            end_time: at(1_700_000_000_123_456_789),
            attributes: every_kind_of_value(),
            dropped_attributes_count: 3,
            events: {
                let mut events = SpanEvents::default();
                events.events = vec![
                    Event::new("exception", at(1_700_000_000_000_000_500), every_kind_of_value(), 1),
                    Event::new("", UNIX_EPOCH, vec![], 0),
                ];
                events.dropped_count = 4;
                events
            },
            links: {
                let mut links = SpanLinks::default();
                links.links = vec![
                    Link::new(context(9, 8, TraceFlags::SAMPLED, true, state.clone()), every_kind_of_value(), 2),
                    Link::new(context(7, 6, TraceFlags::default(), false, TraceState::NONE), vec![], 0),
                ];
                links.dropped_count = 5;
                links
            },
            status: Status::error("boom"),
            instrumentation_scope: scope.clone(),
        };
        let mut spans = vec![root.clone()];
        for (i, (status, kind)) in [
            (Status::Ok, SpanKind::Client),
            (Status::Unset, SpanKind::Internal),
            (Status::error(""), SpanKind::Producer),
            (Status::Ok, SpanKind::Consumer),
        ]
        .into_iter()
        .enumerate()
        {
            let i = i as u64;
            let mut child = root.clone();
            child.span_context = context(
                0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10,
                0x2000 + i,
                if i.is_multiple_of(2) { TraceFlags::default() } else { TraceFlags::SAMPLED },
                false,
                TraceState::NONE,
            );
            child.parent_span_id = SpanId::from(0x1112_1314_1516_1718);
            child.parent_span_is_remote = i == 1;
            child.span_kind = kind;
            child.name = Cow::Owned(format!("child {i}"));
            child.attributes = vec![KeyValue::new("db.system.name", "postgresql")];
            child.dropped_attributes_count = 0;
            child.events = SpanEvents::default();
            child.links = SpanLinks::default();
            child.status = status;
            child.instrumentation_scope = if i == 3 { other_scope.clone() } else { scope.clone() };
            spans.push(child);
        }
        spans
    }

    fn resource() -> Resource {
        Resource::builder_empty()
            .with_schema_url(
                [
                    KeyValue::new("service.name", "activities"),
                    KeyValue::new("service.instance.id", "i-1"),
                    KeyValue::new("process.pid", 42i64),
                    KeyValue::new("tags", Value::Array(Array::String(vec!["a".into(), "b".into()]))),
                ],
                "https://opentelemetry.io/schemas/1.26.0",
            )
            .build()
    }

    /// Scope order is not specified (opentelemetry-proto groups in a HashMap).
    fn sorted(mut request: ExportTraceServiceRequest) -> ExportTraceServiceRequest {
        for resource_spans in &mut request.resource_spans {
            resource_spans
                .scope_spans
                .sort_by(|a, b| a.scope.as_ref().unwrap().name.cmp(&b.scope.as_ref().unwrap().name));
        }
        request
    }

    fn expected(spans: Vec<SpanData>, resource: &Resource) -> ExportTraceServiceRequest {
        let resource = ResourceAttributesWithSchema::from(resource);
        sorted(ExportTraceServiceRequest { resource_spans: group_spans_by_resource_and_scope(spans, &resource) })
    }

    fn ours(spans: &[SpanData], resource: &Resource) -> ExportTraceServiceRequest {
        let mut out = vec![0xff; 3]; // Left over from a previous batch: cleared.
        export_request(spans, &EncodedResource::new(resource), &mut out);
        sorted(ExportTraceServiceRequest::decode(out.as_slice()).expect("our bytes decode"))
    }

    #[test]
    fn decodes_to_what_opentelemetry_proto_converts() {
        let spans = batch();
        let resource = resource();
        let ours = ours(&spans, &resource);
        assert_eq!(ours.resource_spans[0].scope_spans.len(), 2);
        assert_eq!(ours, expected(spans, &resource));
    }

    #[test]
    fn each_trace_state_is_written_as_its_own_header_past_the_kept_ones() {
        let states: Vec<TraceState> = (0..20)
            .map(|i| {
                TraceState::from_key_value([("xray", if i % 2 == 0 { "1" } else { "0" }), ("n", &*i.to_string())])
                    .unwrap()
            })
            .collect();
        let mut headers = TraceStateHeaders::default();
        for _ in 0..2 {
            for state in states.iter().chain([&TraceState::NONE]) {
                assert_eq!(headers.header(state), state.header());
            }
        }
        assert_eq!(headers.seen.len(), TraceStateHeaders::KEPT);
    }

    #[test]
    fn an_empty_batch_and_an_empty_resource_too() {
        let resource = Resource::builder_empty().build();
        assert_eq!(ours(&[], &resource), expected(vec![], &resource));
        let spans = batch();
        assert_eq!(ours(&spans, &resource), expected(spans, &resource));
    }

    #[test]
    fn the_bytes_are_what_prost_writes_for_one_scope() {
        // With one scope the order is fixed, so the bytes themselves compare:
        // same field order, same minimal lengths.
        let spans: Vec<SpanData> =
            batch().into_iter().filter(|s| s.instrumentation_scope.name() == "cruddur").collect();
        let resource = resource();
        let mut out = Vec::new();
        export_request(&spans, &EncodedResource::new(&resource), &mut out);
        let expected = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans, &ResourceAttributesWithSchema::from(&resource)),
        };
        assert_eq!(out, expected.encode_to_vec());
    }
}
