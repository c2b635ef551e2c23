//! The OTLP/HTTP receiver: `POST /v1/traces`, answered as the OTLP/HTTP
//! spec says: 200 with an `ExportTraceServiceResponse` in the request's
//! encoding (a partial success when spans had no valid ids), 400 for a body
//! that does not decode, 413 past the size limit, 415 for another content
//! type or encoding, each error with a `google.rpc.Status` body.

use std::time::Instant;

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use prost::Message;

use crate::{
    SharedStore,
    decode::{DecodeError, Encoding, decode},
};

pub const TRACES_PATH: &str = "/v1/traces";

/// gRPC's INVALID_ARGUMENT, the code OTLP/HTTP puts in the Status of a 4xx.
const INVALID_ARGUMENT: i32 = 3;

/// `google.rpc.Status`, which OTLP/HTTP sends with every 4xx/5xx. It is not
/// among opentelemetry-proto's messages; prost derives it from its two
/// fields we use (`details`, field 3, stays empty).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[derive(Debug, Clone, Copy)]
struct BodyLimit(usize);

/// The receiver's routes, taking bodies up to `max_body_bytes` (before and after gunzip).
pub fn routes(max_body_bytes: usize) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |config| {
        config
            .app_data(web::Data::new(BodyLimit(max_body_bytes)))
            .app_data(web::PayloadConfig::new(max_body_bytes))
            .service(web::resource(TRACES_PATH).route(web::post().to(export)).default_service(web::to(|| async {
                HttpResponse::MethodNotAllowed().insert_header((header::ALLOW, "POST")).finish()
            })))
            .default_service(web::to(|| async {
                HttpResponse::NotFound().content_type("text/plain").body("OTLP/HTTP traces: POST /v1/traces\n")
            }));
    }
}

async fn export(
    request: HttpRequest,
    body: web::Bytes,
    store: web::Data<SharedStore>,
    limit: web::Data<BodyLimit>,
) -> HttpResponse {
    let header = |name| request.headers().get(name).and_then(|value| value.to_str().ok());
    let encoding = match Encoding::from_content_type(header(header::CONTENT_TYPE)) {
        Ok(encoding) => encoding,
        Err(err) => return failure(Encoding::Protobuf, &err),
    };
    let decoded = decode(encoding, header(header::CONTENT_ENCODING), &body, limit.0);
    let export = match decoded {
        Ok(export) => export,
        Err(err) => return failure(encoding, &err),
    };
    let outcome = store.lock().expect("the store lock is never poisoned").ingest(export, Instant::now());
    let why =
        "spans need a 16-byte trace id and an 8-byte span id (not all zero), and a parent span id of 8 bytes or none";
    HttpResponse::Ok().content_type(encoding.content_type()).body(encoding.response(outcome.rejected as i64, why))
}

fn failure(encoding: Encoding, err: &DecodeError) -> HttpResponse {
    let status = match err {
        DecodeError::UnsupportedContentType(_) | DecodeError::UnsupportedContentEncoding(_) => {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        }
        DecodeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        DecodeError::Gzip(_) | DecodeError::Protobuf(_) | DecodeError::Json(_) => StatusCode::BAD_REQUEST,
    };
    let rpc = RpcStatus { code: INVALID_ARGUMENT, message: err.to_string() };
    let body = match encoding {
        Encoding::Protobuf => rpc.encode_to_vec(),
        Encoding::Json => serde_json::json!({"code": rpc.code, "message": rpc.message}).to_string().into_bytes(),
    };
    HttpResponse::build(status).content_type(encoding.content_type()).body(body)
}

#[cfg(test)]
mod tests {
    use std::{io::Write, sync::Mutex};

    use actix_web::{App, test};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;

    use super::*;
    use crate::{store::Store, store::tests::export as export_of, trace::TraceId};

    async fn post(
        store: &web::Data<SharedStore>,
        content_type: &str,
        encoding: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Option<String>, web::Bytes) {
        let app = test::init_service(App::new().app_data(store.clone()).configure(routes(1 << 20))).await;
        let mut request =
            test::TestRequest::post().uri(TRACES_PATH).insert_header((header::CONTENT_TYPE, content_type));
        if let Some(encoding) = encoding {
            request = request.insert_header((header::CONTENT_ENCODING, encoding));
        }
        let response = test::call_service(&app, request.set_payload(body).to_request()).await;
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned());
        (status, content_type, test::read_body(response).await)
    }

    fn new_store() -> web::Data<SharedStore> {
        web::Data::new(Mutex::new(Store::new(10, 100)))
    }

    #[actix_web::test]
    async fn protobuf_and_json_exports_are_stored_and_answered_in_their_encoding() {
        let store = new_store();
        let request = export_of("users", &[(1, 1, 0, "GET /api/users", 0, 1)]);
        let (status, content_type, body) = post(&store, "application/x-protobuf", None, request.encode_to_vec()).await;
        assert_eq!((status, content_type.as_deref()), (StatusCode::OK, Some("application/x-protobuf")));
        assert_eq!(ExportTraceServiceResponse::decode(body).unwrap().partial_success, None);

        let json = serde_json::to_vec(&export_of("edge", &[(1, 2, 1, "SELECT users", 0, 1)])).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&json).unwrap();
        let (status, content_type, body) = post(&store, "application/json", Some("gzip"), gz.finish().unwrap()).await;
        assert_eq!((status, content_type.as_deref()), (StatusCode::OK, Some("application/json")));
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(answer["partialSuccess"].is_null(), "{answer}");

        let store = store.lock().unwrap();
        let trace = store.trace(&TraceId([1; 16])).unwrap();
        assert_eq!(trace.services(), ["users", "edge"]);
    }

    #[actix_web::test]
    async fn spans_without_ids_are_a_partial_success() {
        let store = new_store();
        let request = export_of("a", &[(0, 1, 0, "no trace id", 0, 1), (1, 1, 0, "fine", 0, 1)]);
        let (status, _, body) = post(&store, "application/x-protobuf", None, request.encode_to_vec()).await;
        assert_eq!(status, StatusCode::OK);
        let partial = ExportTraceServiceResponse::decode(body).unwrap().partial_success.unwrap();
        assert_eq!(partial.rejected_spans, 1);
        assert!(partial.error_message.contains("trace id"));
    }

    #[actix_web::test]
    async fn what_does_not_decode_is_400_and_another_type_415_each_with_a_status() {
        let store = new_store();
        let (status, _, body) = post(&store, "application/x-protobuf", None, b"\xff\xff\xff".to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let rpc = RpcStatus::decode(body).unwrap();
        assert_eq!(rpc.code, INVALID_ARGUMENT);
        assert!(rpc.message.contains("protobuf"), "{}", rpc.message);

        let (status, content_type, body) =
            post(&store, "application/json", None, b"{\"resourceSpans\": 7}".to_vec()).await;
        assert_eq!((status, content_type.as_deref()), (StatusCode::BAD_REQUEST, Some("application/json")));
        let rpc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(rpc["code"], INVALID_ARGUMENT);

        let (status, _, _) = post(&store, "application/json", Some("gzip"), b"{}".to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = post(&store, "text/plain", None, b"hello".to_vec()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (status, _, _) = post(&store, "application/json", Some("zstd"), b"{}".to_vec()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(store.lock().unwrap().stats().spans, 0);
    }

    #[actix_web::test]
    async fn only_post_is_allowed_on_the_traces_path() {
        let app = test::init_service(App::new().app_data(new_store()).configure(routes(1024))).await;
        let response = test::call_service(&app, test::TestRequest::get().uri(TRACES_PATH).to_request()).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers().get(header::ALLOW).unwrap(), "POST");
        let response = test::call_service(&app, test::TestRequest::get().uri("/v1/metrics").to_request()).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
