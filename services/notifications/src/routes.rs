//! The notifications service's HTTP routes (internal: called by activities).

use actix_web::{HttpResponse, web};
use contracts::{NewNotification, Notification, NotificationKind};
use serde::Deserialize;
use serde_json::json;
use service_kit::{ApiError, http::Endpoint};
use uuid::Uuid;

use crate::{State, store};

pub fn configure(config: &mut web::ServiceConfig) {
    config.service(Endpoint::new("/api/notifications").get(list).post(create));
}

#[derive(Deserialize)]
struct ListQuery {
    recipient_user_uuid: Uuid,
}

/// A recipient's notifications, newest first, each actor hydrated from the
/// users service in one batched call.
async fn list(state: web::Data<State>, query: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let rows = store::for_recipient(&state.db, &state.inbox_fault, query.recipient_user_uuid).await?;
    let actors = state.users.shorts(rows.iter().map(|row| row.actor_user_uuid)).await?;
    let notifications: Vec<Notification> = rows
        .into_iter()
        .filter_map(|row| {
            // A deleted actor or an unknown kind drops the row rather than the page.
            let actor = actors.get(&row.actor_user_uuid)?.clone();
            Some(Notification {
                uuid: row.uuid,
                kind: NotificationKind::parse(&row.kind)?,
                activity_uuid: row.activity_uuid,
                actor,
                created_at: row.created_at,
                read_at: row.read_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(notifications))
}

/// Refuses what it cannot resolve: a recipient or actor the users service
/// does not know is a 404, and nothing is stored.
async fn create(state: web::Data<State>, body: web::Json<NewNotification>) -> Result<HttpResponse, ApiError> {
    let people = state.users.shorts([body.recipient_user_uuid, body.actor_user_uuid]).await?;
    if !people.contains_key(&body.recipient_user_uuid) {
        return Err(ApiError::NotFound("recipient"));
    }
    if !people.contains_key(&body.actor_user_uuid) {
        return Err(ApiError::NotFound("actor"));
    }
    let uuid = Uuid::new_v4();
    store::insert(&state.db, &body, uuid, service_kit::now()).await?;
    Ok(HttpResponse::Created().json(json!({ "uuid": uuid })))
}
