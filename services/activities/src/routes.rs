//! The routes the Cruddur frontend calls (API.md). Fixed words (`home`,
//! `notifications`, `search`) are registered before `@{handle}` and `{uuid}`
//! so they win.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use contracts::{ACTING_USER_HANDLE, NewNotification, NotificationKind, ProfileUpdate, UserShort};
use serde::Deserialize;
use serde_json::json;
use service_kit::{ApiError, http::Endpoint};
use telemetry::{ActingUser, RootSpan};
use tracing::{Instrument, field::Empty};
use uuid::Uuid;

use crate::{
    State,
    model::{self, Activity, MAX_ACTIVITY_CHARS, MAX_REPLY_CHARS},
    store::{self, ActivityRow},
};

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(Endpoint::new("/api/activities/home").get(home))
        .service(Endpoint::new("/api/activities/notifications").get(notifications))
        .service(Endpoint::new("/api/activities/search").get(search))
        .service(Endpoint::new("/api/activities").post(create))
        .service(Endpoint::new("/api/activities/@{handle}").get(user_feed))
        .service(Endpoint::new("/api/activities/@{handle}/status/{uuid}").get(show_by_handle))
        .service(Endpoint::new("/api/activities/{uuid}").get(show))
        .service(Endpoint::new("/api/activities/{uuid}/reply").post(reply))
        // Answered by the users service; the frontend calls them on the edge.
        .service(Endpoint::new("/api/users/@{handle}/short").get(user_short))
        .service(Endpoint::new("/api/profile/update").post(update_profile).put(update_profile));
}

async fn user_short(state: web::Data<State>, handle: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let user = state.users.short(&handle).await?.ok_or(ApiError::NotFound("user"))?;
    Ok(HttpResponse::Ok().json(user))
}

/// Passed through to the users service, which validates and answers.
async fn update_profile(
    state: web::Data<State>,
    root: RootSpan,
    request: actix_web::HttpRequest,
    body: web::Json<ProfileUpdate>,
) -> Result<HttpResponse, ApiError> {
    root.record_user_handle(ACTING_USER_HANDLE);
    let method =
        if request.method() == actix_web::http::Method::PUT { reqwest::Method::PUT } else { reqwest::Method::POST };
    let (status, answer) = state.users.update_profile(method, &body).await?;
    let status = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    Ok(HttpResponse::build(status).json(answer))
}

/// The acting user (week 2: always `andrewbrown`), recorded on the request span.
pub(crate) async fn acting_user(state: &State, root: &RootSpan) -> Result<UserShort, ApiError> {
    root.record_user_handle(ACTING_USER_HANDLE);
    let user = state.users.short(ACTING_USER_HANDLE).await?.ok_or(ApiError::NotFound("acting user"))?;
    root.record_user_id(user.uuid);
    Ok(user)
}

/// Turns rows into Activities with their authors, fetched in one batched call.
async fn with_authors(state: &State, rows: Vec<ActivityRow>) -> Result<Vec<Activity>, ApiError> {
    let authors = state.users.shorts(rows.iter().map(|row| row.user_uuid)).await?;
    Ok(hydrate(rows, &authors))
}

fn hydrate(rows: Vec<ActivityRow>, authors: &HashMap<Uuid, UserShort>) -> Vec<Activity> {
    rows.into_iter()
        .filter_map(|row| match authors.get(&row.user_uuid) {
            Some(author) => Some(Activity::new(row, author)),
            None => {
                tracing::warn!(activity = %row.uuid, user = %row.user_uuid, "activity author unknown to users; left out");
                None
            }
        })
        .collect()
}

/// `GET /api/activities/home`: the feed, each activity with its replies.
async fn home(state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let now = service_kit::now();
    // The Rust twin of the seed journal's `home-activities-mock-data` span.
    // A `&str`, not `%`: the bridge would format a displayed value again.
    let now_text = now.to_rfc3339_opts(SecondsFormat::Micros, false);
    let span = tracing::info_span!("home-activities", app.now = now_text.as_str(), app.result_length = Empty,);
    async {
        tracing::info!("home activities requested");
        let store::HomeRows { parents, replies } = store::home(&state.db, &state.home_fault, now).await?;
        let authors = state.users.shorts(parents.iter().chain(&replies).map(|row| row.user_uuid)).await?;

        let mut replies_by_parent: HashMap<Uuid, Vec<Activity>> = HashMap::new();
        for reply in hydrate(replies, &authors) {
            if let Some(parent) = reply.reply_to_activity_uuid {
                replies_by_parent.entry(parent).or_default().push(reply);
            }
        }
        let mut feed = hydrate(parents, &authors);
        for activity in &mut feed {
            activity.replies = replies_by_parent.remove(&activity.uuid).unwrap_or_default();
        }
        // An integer, as the journal's Python sets it.
        tracing::Span::current().record("app.result_length", feed.len());
        Ok(HttpResponse::Ok().json(feed))
    }
    .instrument(span)
    .await
}

/// `GET /api/activities/notifications`: crosses all three services
/// (activities → users, activities → notifications → users).
async fn notifications(state: web::Data<State>, root: RootSpan) -> Result<HttpResponse, ApiError> {
    let user = acting_user(&state, &root).await?;
    let notifications = state.notifications.for_recipient(user.uuid).await?;
    let activity_ids: Vec<Uuid> = notifications.iter().map(|n| n.activity_uuid).collect();
    let activities: HashMap<Uuid, ActivityRow> = store::find_many(&state.db, &activity_ids, service_kit::now())
        .await?
        .into_iter()
        .map(|row| (row.uuid, row))
        .collect();
    // Activity-shaped, as the original's mock was: the actor's name on the
    // activity that caused the notification.
    let answer: Vec<_> = notifications
        .into_iter()
        .filter_map(|notification| {
            let row = activities.get(&notification.activity_uuid)?.clone();
            let mut body = serde_json::to_value(Activity::new(row, &notification.actor)).ok()?;
            body["notification_uuid"] = json!(notification.uuid);
            body["kind"] = json!(notification.kind);
            body["notified_at"] = json!(notification.created_at.to_rfc3339_opts(SecondsFormat::AutoSi, false));
            Some(body)
        })
        .collect();
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Deserialize)]
struct SearchQuery {
    term: Option<String>,
}

async fn search(state: web::Data<State>, query: web::Query<SearchQuery>) -> Result<HttpResponse, ApiError> {
    let term = query.term.as_deref().map(str::trim).unwrap_or_default();
    if term.is_empty() {
        return Err(ApiError::Validation(vec!["search_term_blank"]));
    }
    if !service_kit::storable(term) {
        return Err(ApiError::Validation(vec!["search_term_invalid_characters"]));
    }
    if term.chars().count() > model::MAX_SEARCH_TERM_CHARS {
        return Err(ApiError::Validation(vec!["search_term_exceed_max_chars"]));
    }
    let rows = store::search(&state.db, term, service_kit::now()).await?;
    Ok(HttpResponse::Ok().json(with_authors(&state, rows).await?))
}

#[derive(Deserialize)]
struct NewActivity {
    message: Option<String>,
    ttl: Option<String>,
}

/// `POST /api/activities`: answers 200 with the Activity, as the original did
/// (the frontend checks for 200).
async fn create(
    state: web::Data<State>,
    root: RootSpan,
    body: web::Json<NewActivity>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    model::message_errors(body.message.as_deref(), MAX_ACTIVITY_CHARS, &mut errors);
    let ttl = body.ttl.as_deref().and_then(model::ttl);
    if ttl.is_none() {
        errors.push("ttl_blank");
    }
    let (Some(ttl), true) = (ttl, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let user = acting_user(&state, &root).await?;
    let now = service_kit::now();
    let row = new_row(&user, body.message.as_deref().unwrap_or_default(), None, Some(now + ttl), now);
    store::insert(&state.db, &row).await?;
    Ok(HttpResponse::Ok().json(Activity::new(row, &user)))
}

#[derive(Deserialize)]
struct NewReply {
    message: Option<String>,
}

/// `POST /api/activities/{uuid}/reply`: stores the reply, then tells the
/// notifications service. A notifications outage costs the notification,
/// never the reply: it is logged and the reply is answered.
async fn reply(
    state: web::Data<State>,
    root: RootSpan,
    parent: web::Path<Uuid>,
    body: web::Json<NewReply>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    model::message_errors(body.message.as_deref(), MAX_REPLY_CHARS, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let now = service_kit::now();
    // An expired activity takes no replies: it is gone.
    let parent = store::find(&state.db, *parent, now).await?.ok_or(ApiError::NotFound("activity"))?;
    let user = acting_user(&state, &root).await?;
    let row = new_row(&user, body.message.as_deref().unwrap_or_default(), Some(parent.uuid), parent.expires_at, now);
    store::insert_reply(&state.db, &row).await?.ok_or(ApiError::NotFound("activity"))?;

    if parent.user_uuid != user.uuid {
        let notification = NewNotification {
            recipient_user_uuid: parent.user_uuid,
            actor_user_uuid: user.uuid,
            activity_uuid: row.uuid,
            kind: NotificationKind::Reply,
        };
        if let Err(err) = state.notifications.create(&notification).await {
            tracing::error!(error = %err, reply = %row.uuid, "reply stored but its notification was not sent");
        }
    }
    Ok(HttpResponse::Ok().json(Activity::new(row, &user)))
}

fn new_row(
    user: &UserShort,
    message: &str,
    reply_to: Option<Uuid>,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ActivityRow {
    ActivityRow {
        uuid: Uuid::new_v4(),
        user_uuid: user.uuid,
        message: message.trim().to_owned(),
        replies_count: 0,
        reposts_count: 0,
        likes_count: 0,
        reply_to_activity_uuid: reply_to,
        expires_at,
        created_at: now,
    }
}

/// `GET /api/activities/@{handle}`: that user's latest activities, as the
/// bare array the week-2 user page maps over.
async fn user_feed(state: web::Data<State>, handle: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let author = state.users.short(&handle).await?.ok_or(ApiError::NotFound("user"))?;
    let rows = store::by_user(&state.db, author.uuid, service_kit::now()).await?;
    let activities: Vec<Activity> = rows.into_iter().map(|row| Activity::new(row, &author)).collect();
    Ok(HttpResponse::Ok().json(activities))
}

async fn show(state: web::Data<State>, uuid: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    show_activity(&state, *uuid, None).await
}

async fn show_by_handle(state: web::Data<State>, path: web::Path<(String, Uuid)>) -> Result<HttpResponse, ApiError> {
    let (handle, uuid) = path.into_inner();
    show_activity(&state, uuid, Some(&handle)).await
}

/// `{activity, replies}`; with a handle, the activity must be that user's.
async fn show_activity(state: &State, uuid: Uuid, handle: Option<&str>) -> Result<HttpResponse, ApiError> {
    let row = store::find(&state.db, uuid, service_kit::now()).await?.ok_or(ApiError::NotFound("activity"))?;
    let replies = store::replies_to(&state.db, &[uuid]).await?;
    let authors = state.users.shorts(std::iter::once(row.user_uuid).chain(replies.iter().map(|r| r.user_uuid))).await?;
    let author = authors.get(&row.user_uuid).ok_or(ApiError::NotFound("activity"))?;
    if handle.is_some_and(|handle| handle != author.handle) {
        return Err(ApiError::NotFound("activity"));
    }
    let activity = Activity::new(row, author);
    Ok(HttpResponse::Ok().json(json!({ "activity": activity, "replies": hydrate(replies, &authors) })))
}
