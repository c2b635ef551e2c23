//! Direct messages (API.md): stored by notifications, named by users, served
//! by the edge in the shapes the week-2 message pages render.

use serde_json::{Value, json};

use crate::helpers::{Backend, Stack, on_both_databases, read};

on_both_databases!(
    message_groups_are_the_acting_users_conversations_newest_first,
    a_conversation_is_oldest_first_with_each_authors_name,
    sending_a_message_stores_it_and_moves_its_group_up,
    a_message_is_validated_before_anything_is_stored,
    bad_message_bodies_are_json_4xx_and_store_nothing,
);

fn texts(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|m| m["message"].as_str().unwrap()).collect()
}

fn handles(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|m| m["handle"].as_str().unwrap()).collect()
}

/// The shape every message page renders, with an ISO 8601 time and offset.
fn assert_item_shape(item: &Value) {
    let keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5, "{item}");
    for key in ["uuid", "display_name", "handle", "message", "created_at"] {
        assert!(item[key].is_string(), "{key} in {item}");
    }
    let created = item["created_at"].as_str().unwrap();
    assert!(created.ends_with("+00:00"), "{created}");
    chrono::DateTime::parse_from_rfc3339(created).unwrap();
}

async fn message_groups_are_the_acting_users_conversations_newest_first(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let (status, groups) = stack.get_json("/api/message_groups").await;
    assert_eq!(status, 200);
    // The other person of each conversation, with its last message.
    assert_eq!(handles(&groups), ["bayko", "worf"]);
    assert_eq!(groups[0]["display_name"], "Andrew Bayko");
    assert_eq!(texts(&groups), ["This platform is great!", "Your cloud has honor."]);
    for group in groups.as_array().unwrap() {
        assert_item_shape(group);
    }
    assert_ne!(groups[0]["uuid"], groups[1]["uuid"]);
}

async fn a_conversation_is_oldest_first_with_each_authors_name(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let (status, messages) = stack.get_json("/api/messages/@bayko").await;
    assert_eq!(status, 200);
    assert_eq!(texts(&messages), ["Cloud is fun!", "This platform is great!"]);
    assert_eq!(handles(&messages), ["andrewbrown", "bayko"]);
    assert_eq!(messages[0]["display_name"], "Andrew Brown");
    for message in messages.as_array().unwrap() {
        assert_item_shape(message);
    }
    let (status, none) = stack.get_json("/api/messages/@londo").await;
    assert_eq!((status, none), (200, json!([])), "a known user with no conversation yet");
    let (status, body) = stack.get_json("/api/messages/@nobody").await;
    assert_eq!((status, &body["error"]), (404, &json!("not_found")));
}

async fn sending_a_message_stores_it_and_moves_its_group_up(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let (status, sent) =
        stack.post_json("/api/messages", json!({"message": "  Qapla'!  ", "user_receiver_handle": "worf"})).await;
    assert_eq!(status, 200, "the week-2 form appends the answer when it is a 200: {sent}");
    assert_item_shape(&sent);
    assert_eq!((&sent["handle"], &sent["display_name"]), (&json!("andrewbrown"), &json!("Andrew Brown")));
    assert_eq!(sent["message"], "Qapla'!");

    let (_, conversation) = stack.get_json("/api/messages/@worf").await;
    assert_eq!(texts(&conversation), ["Your cloud has honor.", "Qapla'!"]);
    assert_eq!(conversation[1]["uuid"], sent["uuid"]);
    let (_, groups) = stack.get_json("/api/message_groups").await;
    assert_eq!(handles(&groups), ["worf", "bayko"], "the newest conversation first");
    assert_eq!(groups[0]["message"], "Qapla'!");

    // A first message to someone opens a new conversation.
    let (status, _) = stack.post_json("/api/messages", json!({"message": "hi", "user_receiver_handle": "londo"})).await;
    assert_eq!(status, 200);
    let (_, groups) = stack.get_json("/api/message_groups").await;
    assert_eq!(handles(&groups), ["londo", "worf", "bayko"]);
    let (status, _) =
        stack.post_json("/api/messages", json!({"message": "x".repeat(1024), "user_receiver_handle": "londo"})).await;
    assert_eq!(status, 200, "1024 characters is the limit, not past it");
}

async fn a_message_is_validated_before_anything_is_stored(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let cases = [
        (json!({"message": "", "user_receiver_handle": "bayko"}), json!(["message_blank"])),
        (json!({"message": "   ", "user_receiver_handle": "bayko"}), json!(["message_blank"])),
        (json!({"user_receiver_handle": "bayko"}), json!(["message_blank"])),
        (json!({"message": "é".repeat(1025), "user_receiver_handle": "bayko"}), json!(["message_exceed_max_chars"])),
        (json!({"message": "hi", "user_receiver_handle": ""}), json!(["user_reciever_handle_blank"])),
        (json!({"message": "hi"}), json!(["user_reciever_handle_blank"])),
        (json!({}), json!(["message_blank", "user_reciever_handle_blank"])),
    ];
    for (body, codes) in cases {
        assert_eq!(stack.post_json("/api/messages", body.clone()).await, (422, codes), "{body}");
    }
    let (status, body) =
        stack.post_json("/api/messages", json!({"message": "hi", "user_receiver_handle": "nobody"})).await;
    assert_eq!((status, &body["error"]), (404, &json!("not_found")));
    let (_, conversation) = stack.get_json("/api/messages/@bayko").await;
    assert_eq!(conversation.as_array().unwrap().len(), 2, "nothing was stored");
    let (_, groups) = stack.get_json("/api/message_groups").await;
    assert_eq!(groups.as_array().unwrap().len(), 2);

    // The notifications service refuses what it cannot resolve on its own too.
    let internal = format!("{}/api/messages", stack.notifications.address);
    let unknown = json!({"sender_user_uuid": uuid::Uuid::new_v4(), "receiver_user_uuid": contracts::seed::BAYKO, "message": "hi"});
    let (status, _) = read(stack.http.post(&internal).json(&unknown).send().await.unwrap()).await;
    assert_eq!(status, 404);
    let blank = json!({"sender_user_uuid": contracts::seed::ANDREWBROWN, "receiver_user_uuid": contracts::seed::BAYKO, "message": " "});
    assert_eq!(
        read(stack.http.post(&internal).json(&blank).send().await.unwrap()).await,
        (422, json!(["message_blank"]))
    );
}

async fn bad_message_bodies_are_json_4xx_and_store_nothing(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let post = |body: String, content_type: &'static str| {
        stack.http.post(stack.url("/api/messages")).header("content-type", content_type).body(body).send()
    };
    for (body, content_type, status, code) in [
        ("{\"message\": ".to_owned(), "application/json", 400, "malformed_json"),
        ("[\"hi\"]".to_owned(), "application/json", 400, "malformed_json"),
        ("{\"message\": 5, \"user_receiver_handle\": \"bayko\"}".to_owned(), "application/json", 400, "malformed_json"),
        (
            "message=hi&user_receiver_handle=bayko".to_owned(),
            "application/x-www-form-urlencoded",
            400,
            "content_type_not_json",
        ),
        (
            json!({"message": "x".repeat(64 * 1024), "user_receiver_handle": "bayko"}).to_string(),
            "application/json",
            413,
            "body_too_large",
        ),
    ] {
        let (got, answer) = read(post(body.clone(), content_type).await.unwrap()).await;
        assert_eq!((got, &answer["error"]), (status, &json!(code)), "{}", &body[..body.len().min(80)]);
    }
    let (_, conversation) = stack.get_json("/api/messages/@bayko").await;
    assert_eq!(conversation.as_array().unwrap().len(), 2, "nothing was stored");
    // The internal routes reject what they cannot parse with a 400 as well.
    let url = format!("{}/api/messages/groups?user_uuid=42", stack.notifications.address);
    assert_eq!(read(stack.http.get(url).send().await.unwrap()).await.0, 400);
}
