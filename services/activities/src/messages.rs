//! Direct messages on the edge (API.md): the notifications service stores
//! them, the users service names the people; each route crosses all three.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use contracts::{MAX_MESSAGE_CHARS, Message, MessageGroup, NewMessage, UserShort};
use serde::{Deserialize, Serialize};
use service_kit::{ApiError, http::Endpoint};
use telemetry::RootSpan;
use uuid::Uuid;

use crate::{
    State,
    model::{iso8601, message_errors},
    routes::acting_user,
};

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(Endpoint::new("/api/message_groups").get(groups))
        .service(Endpoint::new("/api/messages/@{handle}").get(conversation))
        .service(Endpoint::new("/api/messages").post(create));
}

/// What the week-2 message pages render: a person's name and handle beside
/// a message and its time (for a group: the other person and the last message).
#[derive(Serialize)]
struct MessageItem {
    uuid: Uuid,
    display_name: String,
    handle: String,
    message: String,
    #[serde(serialize_with = "iso8601")]
    created_at: DateTime<Utc>,
}

impl MessageItem {
    fn new(uuid: Uuid, person: UserShort, message: String, created_at: DateTime<Utc>) -> Self {
        Self { uuid, display_name: person.display_name, handle: person.handle, message, created_at }
    }
}

impl From<Message> for MessageItem {
    fn from(message: Message) -> Self {
        Self::new(message.uuid, message.author, message.message, message.created_at)
    }
}

impl From<MessageGroup> for MessageItem {
    fn from(group: MessageGroup) -> Self {
        Self::new(group.uuid, group.other_user, group.message, group.created_at)
    }
}

/// `GET /api/message_groups`: the acting user's conversations, newest first.
async fn groups(state: web::Data<State>, root: RootSpan) -> Result<HttpResponse, ApiError> {
    let user = acting_user(&state, &root).await?;
    let groups = state.notifications.message_groups(user.uuid).await?;
    Ok(HttpResponse::Ok().json(groups.into_iter().map(MessageItem::from).collect::<Vec<_>>()))
}

/// `GET /api/messages/@{handle}`: the conversation with `handle`, oldest first.
async fn conversation(
    state: web::Data<State>,
    root: RootSpan,
    handle: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = acting_user(&state, &root).await?;
    let other = state.users.short(&handle).await?.ok_or(ApiError::NotFound("user"))?;
    let messages = state.notifications.messages(user.uuid, other.uuid).await?;
    Ok(HttpResponse::Ok().json(messages.into_iter().map(MessageItem::from).collect::<Vec<_>>()))
}

#[derive(Deserialize)]
struct NewMessageBody {
    message: Option<String>,
    user_receiver_handle: Option<String>,
}

/// `POST /api/messages`: every 422 code that applies, then an unknown
/// receiver is a 404; the created message comes back with its author.
async fn create(
    state: web::Data<State>,
    root: RootSpan,
    body: web::Json<NewMessageBody>,
) -> Result<HttpResponse, ApiError> {
    let receiver = body.user_receiver_handle.as_deref().map(str::trim).unwrap_or_default();
    let mut errors = Vec::new();
    message_errors(body.message.as_deref(), MAX_MESSAGE_CHARS, &mut errors);
    if receiver.is_empty() {
        // The original's spelling, which the frontend knows.
        errors.push("user_reciever_handle_blank");
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let sender = acting_user(&state, &root).await?;
    let receiver = state.users.short(receiver).await?.ok_or(ApiError::NotFound("user"))?;
    let message = body.message.as_deref().unwrap_or_default().trim().to_owned();
    let new = NewMessage { sender_user_uuid: sender.uuid, receiver_user_uuid: receiver.uuid, message };
    let created = state.notifications.create_message(&new).await?;
    Ok(HttpResponse::Ok().json(MessageItem::from(created)))
}
