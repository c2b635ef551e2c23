//! The users service's HTTP routes.

use actix_web::{HttpResponse, web};
use contracts::{ACTING_USER_HANDLE, ProfileUpdate};
use serde::Deserialize;
use service_kit::{ApiError, http::Endpoint};
use telemetry::{ActingUser, RootSpan};
use uuid::Uuid;

use crate::{State, store};

/// At most this many users per batched lookup; callers split longer lists.
const MAX_BATCH: usize = service_kit::clients::MAX_USERS_PER_CALL;
const MAX_DISPLAY_NAME: usize = 100;
const MAX_BIO: usize = 500;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(Endpoint::new("/api/users").get(users_by_uuid))
        .service(Endpoint::new("/api/users/@{handle}").get(profile))
        .service(Endpoint::new("/api/users/@{handle}/short").get(short))
        .service(Endpoint::new("/api/profile/update").post(update_profile).put(update_profile));
}

/// A handle no user can have (a NUL, too long) is simply not found: no query.
fn possible_handle(handle: &str) -> Result<&str, ApiError> {
    if service_kit::possible_handle(handle) { Ok(handle) } else { Err(ApiError::NotFound("user")) }
}

async fn short(state: web::Data<State>, handle: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let handle = possible_handle(&handle)?;
    let user = store::short_by_handle(&state.db, handle).await?.ok_or(ApiError::NotFound("user"))?;
    Ok(HttpResponse::Ok().json(user))
}

async fn profile(state: web::Data<State>, handle: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let handle = possible_handle(&handle)?;
    let user = store::profile_by_handle(&state.db, handle).await?.ok_or(ApiError::NotFound("user"))?;
    Ok(HttpResponse::Ok().json(user))
}

#[derive(Deserialize)]
struct UuidsQuery {
    /// Comma-separated.
    uuids: String,
}

/// `GET /api/users?uuids=a,b,c`: the authors of a feed in one call; unknown
/// uuids are left out of the answer.
async fn users_by_uuid(state: web::Data<State>, query: web::Query<UuidsQuery>) -> Result<HttpResponse, ApiError> {
    let parts: Vec<&str> = query.uuids.split(',').map(str::trim).filter(|part| !part.is_empty()).collect();
    if parts.len() > MAX_BATCH {
        return Err(ApiError::Validation(vec!["uuids_too_many"]));
    }
    let uuids = parts
        .iter()
        .map(|part| Uuid::parse_str(part))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ApiError::Validation(vec!["uuids_invalid"]))?;
    let users = store::short_by_uuids(&state.db, &state.batch_fault, &uuids).await?;
    Ok(HttpResponse::Ok().json(users))
}

async fn update_profile(
    state: web::Data<State>,
    root: RootSpan,
    body: web::Json<ProfileUpdate>,
) -> Result<HttpResponse, ApiError> {
    let display_name = body.display_name.as_deref().map(str::trim).unwrap_or_default();
    let bio = body.bio.as_deref().map(str::trim).filter(|bio| !bio.is_empty());
    let mut errors = Vec::new();
    if display_name.is_empty() {
        errors.push("display_name_blank");
    } else if display_name.chars().count() > MAX_DISPLAY_NAME {
        errors.push("display_name_exceed_max_chars");
    }
    if !service_kit::storable(display_name) {
        errors.push("display_name_invalid_characters");
    }
    if bio.is_some_and(|bio| bio.chars().count() > MAX_BIO) {
        errors.push("bio_exceed_max_chars");
    } else if bio.is_some_and(|bio| !service_kit::storable(bio)) {
        errors.push("bio_invalid_characters");
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    root.record_user_handle(ACTING_USER_HANDLE);
    let user = store::update_profile(&state.db, ACTING_USER_HANDLE, display_name, bio)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    root.record_user_id(user.uuid);
    Ok(HttpResponse::Ok().json(user))
}
