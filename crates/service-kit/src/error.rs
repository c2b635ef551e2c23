//! The JSON error answers of the Cruddur contract (API.md): 422 with an array
//! of codes, 401 with `{}`, and `{"error": code, "message": text}` otherwise.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde_json::json;

use crate::upstream::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed: {0:?}")]
    Validation(Vec<&'static str>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("unauthorized")]
    Unauthorized,
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Upstream(err) => err.status_code(),
            Self::Database(sqlx::Error::PoolTimedOut) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        match self {
            Self::Validation(codes) => response.json(codes),
            Self::Unauthorized => response.json(json!({})),
            Self::NotFound(what) => response.json(error_body("not_found", &format!("{what} not found"))),
            Self::Upstream(err) => response.json(error_body(err.code(), &err.to_string())),
            // The database's own message can name tables or values: log it, never send it.
            Self::Database(err) => {
                tracing::error!(error = %err, "database error");
                response.json(error_body("database_unavailable", "the database could not answer"))
            }
        }
    }
}

pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({ "error": code, "message": message })
}
