//! The pieces of an actix `App` every service shares: JSON error answers for
//! bad bodies, paths and queries, unknown routes and methods, CORS, and the
//! health check.

use actix_cors::Cors;
use actix_web::{
    HttpRequest, HttpResponse, Responder,
    error::{InternalError, JsonPayloadError, PathError, QueryPayloadError},
    http::{StatusCode, header},
    web,
};
use serde_json::json;

use crate::error::error_body;

/// Largest accepted JSON body. A reply is at most 1024 characters (4 KiB of
/// UTF-8); 16 KiB leaves room for the envelope and nothing much more.
pub const JSON_BODY_LIMIT: usize = 16 * 1024;

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(JSON_BODY_LIMIT).error_handler(|err, _req| {
        let (status, code) = match &err {
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
            }
            JsonPayloadError::ContentType => (StatusCode::BAD_REQUEST, "content_type_not_json"),
            _ => (StatusCode::BAD_REQUEST, "malformed_json"),
        };
        let message = err.to_string();
        InternalError::from_response(err, HttpResponse::build(status).json(error_body(code, &message))).into()
    })
}

/// A path that does not parse (say, a non-UUID where a UUID goes) names no
/// resource: 404, as for any unknown path.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err: PathError, _req| InternalError::from_response(err, not_found_response()).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        let message = err.to_string();
        InternalError::from_response(err, HttpResponse::BadRequest().json(error_body("bad_query", &message))).into()
    })
}

fn not_found_response() -> HttpResponse {
    HttpResponse::NotFound().json(error_body("not_found", "no such resource"))
}

/// Unknown paths, and unknown methods on known paths (actix's `App::route`
/// makes the method a guard of its resource, so no route matches either).
pub async fn not_found(_req: HttpRequest) -> HttpResponse {
    not_found_response()
}

pub async fn health_check() -> impl Responder {
    web::Json(json!({ "success": true, "ver": 1 }))
}

/// CORS as the original backend set it (API.md, "Conventions"), plus the
/// trace response header so a browser can read a request's trace id.
pub fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(["OPTIONS", "GET", "HEAD", "POST", "PUT"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::IF_MODIFIED_SINCE])
        .expose_headers([header::LOCATION, header::LINK, header::HeaderName::from_static("traceresponse")])
        .max_age(3600)
}
