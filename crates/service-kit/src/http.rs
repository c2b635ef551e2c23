//! The pieces of an actix `App` every service shares: routes that answer
//! HEAD and 405 as HTTP says, JSON error answers for bad bodies, paths and
//! queries, unknown routes, CORS, and the health check.

use actix_cors::{Cors, CorsError};
use actix_web::{
    FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder,
    body::{BoxBody, MessageBody},
    dev::{AppService, HttpServiceFactory, ServiceRequest, ServiceResponse},
    error::{InternalError, JsonPayloadError, PathError, QueryPayloadError},
    guard,
    http::{Method, StatusCode, header},
    middleware::Next,
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

/// Unknown paths.
pub async fn not_found(_req: HttpRequest) -> HttpResponse {
    not_found_response()
}

/// One path and its methods, registered with `config.service(…)`: GET also
/// answers HEAD (actix sends the headers without the body), and any other
/// method gets 405 with `Allow` (RFC 9110 §15.5.6) instead of a 404.
pub struct Endpoint {
    resource: Resource,
    allow: Vec<Method>,
}

impl Endpoint {
    pub fn new(path: &str) -> Self {
        Self { resource: web::resource(path), allow: Vec::new() }
    }

    pub fn get<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::route().guard(guard::Any(guard::Get()).or(guard::Head())).to(handler);
        self.resource = self.resource.route(route);
        self.allow.extend([Method::GET, Method::HEAD]);
        self
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method(Method::POST, handler)
    }

    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method(Method::PUT, handler)
    }

    fn method<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(web::route().method(method.clone()).to(handler));
        self.allow.push(method);
        self
    }
}

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut AppService) {
        let allow = self.allow.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
        let not_allowed = web::to(move || {
            let allow = allow.clone();
            async move {
                HttpResponse::MethodNotAllowed()
                    .insert_header((header::ALLOW, allow))
                    .json(error_body("method_not_allowed", "this path does not take that method"))
            }
        });
        self.resource.default_service(not_allowed).register(config);
    }
}

pub async fn health_check() -> impl Responder {
    web::Json(json!({ "success": true, "ver": 1 }))
}

/// A refused CORS request (foreign origin, method or header) answered as JSON
/// like every other error: actix-cors writes its reason as `text/plain`.
pub async fn cors_errors_as_json(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(req).await?;
    let Some(refusal) = response.response().error().and_then(|err| err.as_error::<CorsError>()) else {
        return Ok(response.map_into_boxed_body());
    };
    let answer = HttpResponse::build(response.status()).json(error_body("cors_refused", &refusal.to_string()));
    Ok(response.into_response(answer))
}

/// CORS as the original backend set it (API.md, "Conventions"), plus the
/// trace response headers (`traceresponse`, and X-Ray's `X-Amzn-Trace-Id`
/// when X-Ray propagation is on) so a browser can read a request's trace id.
pub fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(["OPTIONS", "GET", "HEAD", "POST", "PUT"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::IF_MODIFIED_SINCE])
        .expose_headers([
            header::LOCATION,
            header::LINK,
            header::HeaderName::from_static("traceresponse"),
            header::HeaderName::from_static("x-amzn-trace-id"),
        ])
        .max_age(3600)
}
