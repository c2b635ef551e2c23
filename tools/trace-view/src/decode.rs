//! An OTLP/HTTP trace export body, as the spec defines it: binary protobuf
//! (`application/x-protobuf`) or OTLP/JSON (`application/json`), either of
//! them possibly gzipped. The messages and both mappings are
//! opentelemetry-proto's (prost for protobuf, its `with-serde` derive for JSON).
//!
//! Checked against the spec's JSON rules (tests below): ids in hex, 64-bit
//! integers as strings or numbers, enums as integers, unknown fields ignored,
//! default fields left out. Where the derive is stricter than the rules it is
//! said here: an empty request object is taken (see `JsonRequest`); an
//! empty `AnyValue` (`"value": {}`) and an explicit `null` for a field are
//! refused (400) rather than read as the default. No exporter we know writes either.

use std::io::Read;

use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    trace::v1::ResourceSpans,
};
use prost::Message;

/// The two encodings of OTLP/HTTP; an answer uses the request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From the request's `Content-Type` (parameters such as `charset` ignored).
    pub fn from_content_type(content_type: Option<&str>) -> Result<Self, DecodeError> {
        let essence = content_type.unwrap_or_default().split(';').next().unwrap_or_default().trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/x-protobuf" => Ok(Self::Protobuf),
            "application/json" => Ok(Self::Json),
            _ => Err(DecodeError::UnsupportedContentType(content_type.unwrap_or("none").to_owned())),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }

    /// The success answer (nothing rejected, or `rejected` spans with why).
    pub fn response(self, rejected: i64, why: &str) -> Vec<u8> {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;
        let response = ExportTraceServiceResponse {
            partial_success: (rejected > 0)
                .then(|| ExportTracePartialSuccess { rejected_spans: rejected, error_message: why.to_owned() }),
        };
        match self {
            Self::Protobuf => response.encode_to_vec(),
            Self::Json => serde_json::to_vec(&response).expect("a response serialises"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported content type {0:?}: OTLP/HTTP is application/x-protobuf or application/json")]
    UnsupportedContentType(String),
    #[error("unsupported content encoding {0:?}: gzip or none")]
    UnsupportedContentEncoding(String),
    #[error("the body is not valid gzip: {0}")]
    Gzip(std::io::Error),
    #[error("the body is larger than {limit} bytes once decompressed")]
    TooLarge { limit: usize },
    #[error("the body is not an ExportTraceServiceRequest in protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("the body is not an ExportTraceServiceRequest in OTLP/JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The request's top level as OTLP/JSON has it. opentelemetry-proto's own
/// type requires `resourceSpans`, while the JSON mapping lets a field at its
/// default (an empty list) be left out, so `{}` is a valid, empty export.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonRequest {
    #[serde(default)]
    resource_spans: Vec<ResourceSpans>,
}

/// Decodes one export body. `content_encoding` is the request's
/// `Content-Encoding`; `limit` bounds the body after gunzip too.
pub fn decode(
    encoding: Encoding,
    content_encoding: Option<&str>,
    body: &[u8],
    limit: usize,
) -> Result<ExportTraceServiceRequest, DecodeError> {
    let plain;
    let bytes = match content_encoding.map(str::trim).map(str::to_ascii_lowercase).as_deref() {
        None | Some("" | "identity") => body,
        Some("gzip") => {
            plain = gunzip(body, limit)?;
            &plain[..]
        }
        Some(other) => return Err(DecodeError::UnsupportedContentEncoding(other.to_owned())),
    };
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(bytes)?,
        Encoding::Json => {
            let request: JsonRequest = serde_json::from_slice(bytes)?;
            ExportTraceServiceRequest { resource_spans: request.resource_spans }
        }
    })
}

/// At most `limit` bytes: a small body must not inflate without bound.
fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(body).take(limit as u64 + 1).read_to_end(&mut plain).map_err(DecodeError::Gzip)?;
    if plain.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use opentelemetry_proto::tonic::{
        common::v1::any_value::Value,
        trace::v1::{ScopeSpans, Span, status::StatusCode},
    };

    use super::*;

    /// An export as the OTLP/JSON rules of the spec write it: ids in hex (not
    /// base64), 64-bit integers as decimal strings or as numbers, enums as
    /// integers, lowerCamelCase keys, default fields left out, and a field this
    /// version does not know (which must be ignored).
    const SPEC_JSON: &str = r#"{
      "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeSpans": [{
          "scope": {"name": "manual", "version": "1.0"},
          "spans": [{
            "traceId": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "eee19b7ec3c1b174",
            "parentSpanId": "eee19b7ec3c1b173",
            "name": "GET /cart",
            "kind": 2,
            "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": 1544712661000000000,
            "attributes": [
              {"key": "http.response.status_code", "value": {"intValue": "503"}},
              {"key": "retries", "value": {"intValue": 2}},
              {"key": "ratio", "value": {"doubleValue": 0.5}},
              {"key": "cached", "value": {"boolValue": false}},
              {"key": "raw", "value": {"bytesValue": "aGk="}},
              {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}}
            ],
            "events": [{"timeUnixNano": "1544712660500000000", "name": "retry"}],
            "status": {"code": 2, "message": "upstream down"},
            "someFutureField": {"x": 1}
          }]
        }]
      }]
    }"#;

    #[test]
    fn otlp_json_follows_the_specs_mapping() {
        let request = decode(Encoding::Json, None, SPEC_JSON.as_bytes(), 1 << 20).unwrap();
        let resource = &request.resource_spans[0];
        let span = &resource.scope_spans[0].spans[0];
        assert_eq!(hex::encode(&span.trace_id), "5b8efff798038103d269b633813fc60c");
        assert_eq!(hex::encode(&span.span_id), "eee19b7ec3c1b174");
        assert_eq!(hex::encode(&span.parent_span_id), "eee19b7ec3c1b173");
        assert_eq!((span.kind, span.name.as_str()), (2, "GET /cart"));
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        let values: Vec<_> =
            span.attributes.iter().map(|kv| kv.value.as_ref().unwrap().value.clone().unwrap()).collect();
        assert_eq!(values[0], Value::IntValue(503));
        assert_eq!(values[1], Value::IntValue(2));
        assert_eq!(values[2], Value::DoubleValue(0.5));
        assert_eq!(values[3], Value::BoolValue(false));
        assert_eq!(values[4], Value::BytesValue(b"hi".to_vec()));
        assert!(matches!(&values[5], Value::ArrayValue(array) if array.values.len() == 1));
        assert_eq!(span.events[0].name, "retry");
        let status = span.status.as_ref().unwrap();
        assert_eq!((status.code, status.message.as_str()), (StatusCode::Error as i32, "upstream down"));
        // Left out: the defaults.
        assert_eq!((span.flags, span.dropped_attributes_count, span.trace_state.as_str()), (0, 0, ""));
    }

    #[test]
    fn an_empty_export_is_valid_in_both_encodings() {
        assert!(decode(Encoding::Json, None, b"{}", 1024).unwrap().resource_spans.is_empty());
        assert!(decode(Encoding::Protobuf, None, b"", 1024).unwrap().resource_spans.is_empty());
    }

    #[test]
    fn gzip_is_undone_for_either_encoding_and_bounded() {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span { name: "x".repeat(1000), ..Default::default() }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        for (encoding, plain) in
            [(Encoding::Protobuf, request.encode_to_vec()), (Encoding::Json, serde_json::to_vec(&request).unwrap())]
        {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&plain).unwrap();
            let body = gz.finish().unwrap();
            assert_eq!(decode(encoding, Some("gzip"), &body, 1 << 20).unwrap(), request, "{encoding:?}");
            assert!(matches!(decode(encoding, Some("gzip"), &body, 100), Err(DecodeError::TooLarge { limit: 100 })));
            assert!(matches!(decode(encoding, Some("gzip"), &plain, 1 << 20), Err(DecodeError::Gzip(_))));
        }
    }

    #[test]
    fn what_is_not_otlp_is_refused_with_the_reason() {
        assert!(matches!(decode(Encoding::Json, None, b"{\"resourceSpans\": 3}", 1024), Err(DecodeError::Json(_))));
        assert!(matches!(decode(Encoding::Json, None, b"[", 1024), Err(DecodeError::Json(_))));
        // A span id that is not hex.
        let bad_id = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"zz"}]}]}]}"#;
        assert!(matches!(decode(Encoding::Json, None, bad_id, 1024), Err(DecodeError::Json(_))));
        assert!(matches!(decode(Encoding::Protobuf, None, b"\xff\xff\xff", 1024), Err(DecodeError::Protobuf(_))));
        assert!(matches!(
            decode(Encoding::Protobuf, Some("br"), b"", 1024),
            Err(DecodeError::UnsupportedContentEncoding(e)) if e == "br"
        ));
    }

    #[test]
    fn the_content_type_chooses_the_encoding() {
        assert_eq!(Encoding::from_content_type(Some("application/x-protobuf")).unwrap(), Encoding::Protobuf);
        assert_eq!(Encoding::from_content_type(Some("application/json; charset=utf-8")).unwrap(), Encoding::Json);
        assert!(Encoding::from_content_type(Some("text/plain")).is_err());
        assert!(Encoding::from_content_type(None).is_err());
    }

    #[test]
    fn the_answer_is_in_the_requests_encoding() {
        let json: serde_json::Value = serde_json::from_slice(&Encoding::Json.response(2, "no trace id")).unwrap();
        assert_eq!(json["partialSuccess"]["errorMessage"], "no trace id");
        assert_eq!(json["partialSuccess"]["rejectedSpans"], 2);
        let proto = ExportTraceServiceResponse::decode(&Encoding::Protobuf.response(0, "")[..]).unwrap();
        assert_eq!(proto.partial_success, None);
    }
}
