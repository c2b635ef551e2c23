//! Direct messages (internal routes, called by the edge): a user's
//! conversations, one conversation, and a new message. Authors and the other
//! person of each conversation are hydrated from the users service in one
//! batched call.

pub mod store;

use actix_web::{HttpResponse, web};
use contracts::{MAX_MESSAGE_CHARS, Message, MessageGroup, NewMessage, message_group_uuid};
use serde::Deserialize;
use service_kit::{ApiError, http::Endpoint};
use uuid::Uuid;

use crate::State;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(Endpoint::new("/api/messages/groups").get(groups))
        .service(Endpoint::new("/api/messages").get(conversation).post(create));
}

#[derive(Deserialize)]
struct GroupsQuery {
    user_uuid: Uuid,
}

/// `GET /api/messages/groups?user_uuid=`: the user's conversations, newest first.
async fn groups(state: web::Data<State>, query: web::Query<GroupsQuery>) -> Result<HttpResponse, ApiError> {
    let user = query.user_uuid;
    let rows = store::latest_per_group(&state.db, user).await?;
    let people = state.users.shorts(rows.iter().map(|row| row.other_than(user))).await?;
    let groups: Vec<MessageGroup> = rows
        .into_iter()
        .filter_map(|row| {
            // A deleted user drops the conversation rather than the page.
            let other_user = people.get(&row.other_than(user))?.clone();
            Some(MessageGroup {
                uuid: row.message_group_uuid,
                other_user,
                message: row.message,
                created_at: row.created_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(groups))
}

#[derive(Deserialize)]
struct ConversationQuery {
    user_uuid: Uuid,
    other_user_uuid: Uuid,
}

/// `GET /api/messages?user_uuid=&other_user_uuid=`: the latest messages
/// between the two, oldest first.
async fn conversation(state: web::Data<State>, query: web::Query<ConversationQuery>) -> Result<HttpResponse, ApiError> {
    let rows = store::in_group(&state.db, message_group_uuid(query.user_uuid, query.other_user_uuid)).await?;
    let authors = state.users.shorts(rows.iter().map(|row| row.sender_user_uuid)).await?;
    let messages: Vec<Message> =
        rows.into_iter().filter_map(|row| Some(hydrated(authors.get(&row.sender_user_uuid)?.clone(), row))).collect();
    Ok(HttpResponse::Ok().json(messages))
}

/// `POST /api/messages`: refuses what it cannot resolve (a blank or oversized
/// message, a sender or receiver the users service does not know) before
/// storing anything.
async fn create(state: web::Data<State>, body: web::Json<NewMessage>) -> Result<HttpResponse, ApiError> {
    let text = body.message.trim();
    if text.is_empty() {
        return Err(ApiError::Validation(vec!["message_blank"]));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::Validation(vec!["message_exceed_max_chars"]));
    }
    if !service_kit::storable(text) {
        return Err(ApiError::Validation(vec!["message_invalid_characters"]));
    }
    let people = state.users.shorts([body.sender_user_uuid, body.receiver_user_uuid]).await?;
    let sender = people.get(&body.sender_user_uuid).ok_or(ApiError::NotFound("sender"))?.clone();
    if !people.contains_key(&body.receiver_user_uuid) {
        return Err(ApiError::NotFound("receiver"));
    }
    let new = NewMessage { message: text.to_owned(), ..body.into_inner() };
    let row = store::insert(&state.db, &new, Uuid::new_v4(), service_kit::now()).await?;
    Ok(HttpResponse::Created().json(hydrated(sender, row)))
}

fn hydrated(author: contracts::UserShort, row: store::Row) -> Message {
    Message {
        uuid: row.uuid,
        message_group_uuid: row.message_group_uuid,
        author,
        message: row.message,
        created_at: row.created_at,
    }
}
