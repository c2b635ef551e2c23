//! An OTLP/HTTP receiver for the tests: decodes the real protobuf
//! (`opentelemetry-proto`), gzip or not, and keeps what it got.

use std::{
    io::Read,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use actix_web::{HttpRequest, HttpResponse, web};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::Span,
};
use prost::Message;

/// `Span.kind` of a server span (OTLP's `SPAN_KIND_SERVER`).
const SERVER: i32 = 2;

/// The server spans `service` sent.
pub fn servers<'a>(spans: &'a [ReceivedSpan], service: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.service == service && s.span.kind == SERVER).collect()
}

/// One span as received, with the `service.name` of its resource.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    pub service: String,
    pub span: Span,
}

impl ReceivedSpan {
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    pub fn parent_span_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    pub fn attribute(&self, key: &str) -> Option<String> {
        attribute(&self.span.attributes, key)
    }

    /// The attribute when it was exported as an integer (not as text).
    pub fn int_attribute(&self, key: &str) -> Option<i64> {
        match value(&self.span.attributes, key)? {
            Value::IntValue(i) => Some(*i),
            _ => None,
        }
    }

    pub fn attributes(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.span.attributes.iter().map(|kv| (kv.key.clone(), value_text(kv.value.as_ref())))
    }
}

#[derive(Clone, Debug)]
pub struct Export {
    pub headers: Vec<(String, String)>,
    pub gzip: bool,
    /// Each resource's attributes, as text.
    pub resources: Vec<Vec<(String, String)>>,
}

#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    exports: Vec<Export>,
    /// Answered, in order, before any export is taken (and then 200).
    failures: Vec<u16>,
}

pub struct Receiver {
    pub endpoint: String,
    received: Arc<Mutex<Received>>,
}

impl Receiver {
    pub fn start() -> Self {
        Self::start_failing(&[])
    }

    /// A receiver that first answers `failures` (HTTP statuses, each with
    /// `Retry-After: 0`), one per export, taking none of them.
    pub fn start_failing(failures: &[u16]) -> Self {
        let received = Arc::new(Mutex::new(Received { failures: failures.to_vec(), ..Received::default() }));
        let state = web::Data::from(received.clone());
        let endpoint = e2e::serve_on_loopback(move |config| {
            config.app_data(state.clone()).app_data(web::PayloadConfig::new(64 << 20)).route(
                "/v1/traces",
                web::post().to(
                    |request: HttpRequest, body: web::Bytes, state: web::Data<Mutex<Received>>| async move {
                        let gzip = request.headers().get("content-encoding").is_some_and(|v| v == "gzip");
                        let bytes = if gzip {
                            let mut plain = Vec::new();
                            flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain).unwrap();
                            plain
                        } else {
                            body.to_vec()
                        };
                        let export = ExportTraceServiceRequest::decode(&bytes[..]).expect("a valid OTLP protobuf body");
                        let headers = request
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                            .collect();
                        let mut received = state.lock().unwrap();
                        if !received.failures.is_empty() {
                            let status = received.failures.remove(0);
                            return HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                                .insert_header(("retry-after", "0"))
                                .finish();
                        }
                        let resources = export
                            .resource_spans
                            .iter()
                            .map(|resource_spans| {
                                let attributes = resource_spans.resource.as_ref().map(|r| r.attributes.as_slice());
                                attributes
                                    .unwrap_or_default()
                                    .iter()
                                    .map(|kv| (kv.key.clone(), value_text(kv.value.as_ref())))
                                    .collect()
                            })
                            .collect();
                        received.exports.push(Export { headers, gzip, resources });
                        for resource_spans in export.resource_spans {
                            let service = resource_spans
                                .resource
                                .as_ref()
                                .and_then(|r| attribute(&r.attributes, "service.name"))
                                .unwrap_or_default();
                            for scope_spans in resource_spans.scope_spans {
                                for span in scope_spans.spans {
                                    received.spans.push(ReceivedSpan { service: service.clone(), span });
                                }
                            }
                        }
                        HttpResponse::Ok().content_type("application/x-protobuf").body(Vec::<u8>::new())
                    },
                ),
            );
        });
        Self { endpoint, received }
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.lock().unwrap().spans.clone()
    }

    /// How many of the failures it was started with it has still to answer.
    pub fn failures_left(&self) -> usize {
        self.received.lock().unwrap().failures.len()
    }

    pub fn exports(&self) -> Vec<Export> {
        self.received.lock().unwrap().exports.clone()
    }

    /// Waits until `done` holds for the spans of `trace_id` (at most 20 s).
    pub async fn wait_for_trace(&self, trace_id: &str, done: impl Fn(&[ReceivedSpan]) -> bool) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans: Vec<ReceivedSpan> = self.spans().into_iter().filter(|s| s.trace_id() == trace_id).collect();
            if done(&spans) {
                return spans;
            }
            assert!(Instant::now() < deadline, "trace {trace_id} incomplete: {spans:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    entry(attributes, key).map(|kv| value_text(kv.value.as_ref()))
}

/// The typed value of `key`, if it has one.
fn value<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    entry(attributes, key)?.value.as_ref()?.value.as_ref()
}

fn entry<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a KeyValue> {
    attributes.iter().find(|kv| kv.key == key)
}

fn value_text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}
