//! X-Ray segment documents as the daemon takes them: the fields of the
//! segment document reference that spans can fill, and how a document goes
//! into datagrams. What a span becomes is `translation`'s.
//!
//! Documents borrow from the spans and serialise straight into the datagram
//! (no intermediate JSON tree): this runs for every sampled span.

use std::borrow::Cow;

use opentelemetry::{Array, KeyValue, Value as OtelValue, trace::SpanId};
use serde::{Serialize, Serializer, ser::SerializeMap};
use serde_json::value::RawValue;

/// Every datagram starts with the daemon protocol's header line.
const HEADER: &[u8] = b"{\"format\": \"json\", \"version\": 1}\n";

/// The largest datagram, header line included: the most a UDP datagram over
/// IPv4 can carry (65,535 less the IP and UDP headers). A larger one is
/// refused by the socket (EMSGSIZE), so a document that would not fit is
/// sent as several (its subsegment trees on their own).
pub const MAX_DATAGRAM: usize = 65_507;

/// What a batch became, gathered (the exporter sends each datagram as it is
/// made): datagrams to send, and documents too large to send at all.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct Datagrams {
    pub payloads: Vec<Vec<u8>>,
    pub too_large: u64,
}

/// One segment or subsegment (the fields of the segment document reference
/// that spans can fill).
#[derive(Serialize)]
pub(super) struct Document<'a> {
    pub(super) name: String,
    #[serde(serialize_with = "span_id")]
    pub(super) id: SpanId,
    pub(super) start_time: f64,
    pub(super) end_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) trace_id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(super) kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "span_id_some")]
    pub(super) parent_id: Option<SpanId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) namespace: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) http: Option<Http<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sql: Option<Sql<'a>>,
    #[serde(skip_serializing_if = "is_false")]
    pub(super) error: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub(super) throttle: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub(super) fault: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cause: Option<Cause<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Annotations::is_empty")]
    pub(super) annotations: Annotations<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) metadata: Option<Metadata<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) aws: Option<Aws>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) subsegments: Vec<Document<'a>>,
}

#[derive(Serialize)]
pub(super) struct Http<'a> {
    pub(super) request: HttpRequest<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response: Option<HttpResponse>,
}

#[derive(Serialize)]
pub(super) struct HttpRequest<'a> {
    pub(super) method: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) url: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user_agent: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) client_ip: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
pub(super) struct HttpResponse {
    pub(super) status: i64,
}

#[derive(Serialize)]
pub(super) struct Sql<'a> {
    pub(super) database_type: Cow<'a, str>,
    pub(super) preparation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sanitized_query: Option<Query<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) url: Option<Cow<'a, str>>,
}

/// A statement's text: already a JSON string when `Statements` wrote it.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum Query<'a> {
    Written(&'a RawValue),
    Text(Cow<'a, str>),
}

#[derive(Serialize)]
pub(super) struct Cause<'a> {
    pub(super) exceptions: Vec<Exception<'a>>,
}

#[derive(Serialize)]
pub(super) struct Exception<'a> {
    #[serde(serialize_with = "span_id")]
    pub(super) id: SpanId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) message: Option<Cow<'a, str>>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(super) kind: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
pub(super) struct Aws {
    pub(super) xray: Sdk,
}

#[derive(Serialize)]
pub(super) struct Sdk {
    pub(super) sdk: &'static str,
}

/// `user.id` → `"user_id"`: letters, digits and underscores only, or X-Ray's
/// filter expressions cannot name them; values a string, number or boolean.
pub(super) struct Annotations<'a>(pub(super) Vec<&'a KeyValue>);

impl Annotations<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Annotations<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for kv in &self.0 {
            let key: String =
                kv.key.as_str().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            match &kv.value {
                OtelValue::Bool(_) | OtelValue::I64(_) | OtelValue::F64(_) => {
                    map.serialize_entry(&key, &Attribute(&kv.value))?
                }
                other => map.serialize_entry(&key, &other.as_str())?,
            }
        }
        map.end()
    }
}

/// The other attributes, under `metadata.default` as the ADOT exporter puts them.
pub(super) struct Metadata<'a>(pub(super) Vec<&'a KeyValue>);

impl Serialize for Metadata<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Default<'b>(&'b [&'b KeyValue]);
        impl Serialize for Default<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for kv in self.0 {
                    map.serialize_entry(kv.key.as_str(), &Attribute(&kv.value))?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("default", &Default(&self.0))?;
        map.end()
    }
}

/// An OpenTelemetry value as the JSON value it is.
pub(super) struct Attribute<'a>(&'a OtelValue);

impl Serialize for Attribute<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            OtelValue::Bool(b) => serializer.serialize_bool(*b),
            OtelValue::I64(i) => serializer.serialize_i64(*i),
            OtelValue::F64(f) if f.is_finite() => serializer.serialize_f64(*f),
            OtelValue::String(s) => serializer.serialize_str(s.as_str()),
            OtelValue::Array(Array::Bool(values)) => values.serialize(serializer),
            OtelValue::Array(Array::I64(values)) => values.serialize(serializer),
            OtelValue::Array(Array::String(values)) => {
                serializer.collect_seq(values.iter().map(|value| value.as_str()))
            }
            other => serializer.serialize_str(&other.as_str()),
        }
    }
}

fn span_id<S: Serializer>(value: &SpanId, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(crate::hex_ids::span_hex(*value).as_str())
}

fn span_id_some<S: Serializer>(value: &Option<SpanId>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => span_id(value, serializer),
        None => serializer.serialize_none(),
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Sends `document` whole if it fits in a datagram; otherwise its
/// subsegments go on their own (each split again if needed), then its
/// metadata is dropped. Returns how many documents were still too large,
/// and so dropped.
pub(super) fn fit<'a>(
    mut document: Document<'a>,
    trace_id: &'a str,
    buffer: &mut Vec<u8>,
    send: &mut dyn FnMut(&[u8]),
) -> u64 {
    buffer.clear();
    buffer.extend_from_slice(HEADER);
    serde_json::to_writer(&mut *buffer, &document).expect("a document always serialises");
    if buffer.len() <= MAX_DATAGRAM {
        send(buffer);
        return 0;
    }
    if !document.subsegments.is_empty() {
        let mut too_large = 0;
        for mut child in std::mem::take(&mut document.subsegments) {
            child.kind = Some("subsegment");
            child.parent_id = Some(document.id);
            child.trace_id = Some(trace_id);
            too_large += fit(child, trace_id, buffer, send);
        }
        return too_large + fit(document, trace_id, buffer, send);
    }
    if document.metadata.take().is_some() {
        return fit(document, trace_id, buffer, send);
    }
    1
}
