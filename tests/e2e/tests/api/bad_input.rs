//! Client mistakes get a 4xx with a JSON body, never a 500 or a panic.

use serde_json::json;

use crate::helpers::{Backend, Stack, on_both_databases, read};

on_both_databases!(
    malformed_bodies_wrong_types_and_oversize,
    unknown_routes_and_methods,
    cors_allows_only_configured_origins,
    a_nul_character_is_the_clients_mistake_on_either_database,
    a_body_that_trickles_in_is_cut_off_and_others_are_served_meanwhile,
    internal_routes_refuse_people_they_cannot_resolve,
    overlong_handles_and_search_terms_are_the_clients_mistake,
);

async fn malformed_bodies_wrong_types_and_oversize(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let post = |body: &'static str, content_type: &'static str| {
        stack.http.post(stack.url("/api/activities")).header("content-type", content_type).body(body).send()
    };
    let (status, body) = read(post("{\"message\": ", "application/json").await.unwrap()).await;
    assert_eq!((status, &body["error"]), (400, &json!("malformed_json")));
    let (status, body) = read(post("[1, 2]", "application/json").await.unwrap()).await;
    assert_eq!((status, &body["error"]), (400, &json!("malformed_json")));
    let (status, body) = read(post("{\"message\": 5, \"ttl\": \"1-day\"}", "application/json").await.unwrap()).await;
    assert_eq!((status, &body["error"]), (400, &json!("malformed_json")));
    // A duplicate key is malformed on every body, the passed-through profile update too.
    let (status, body) =
        read(post("{\"message\": \"a\", \"message\": \"b\", \"ttl\": \"1-day\"}", "application/json").await.unwrap())
            .await;
    assert_eq!((status, &body["error"]), (400, &json!("malformed_json")));
    let duplicate = stack
        .http
        .post(stack.url("/api/profile/update"))
        .header("content-type", "application/json")
        .body("{\"display_name\": \"a\", \"display_name\": \"b\"}")
        .send()
        .await
        .unwrap();
    let (status, body) = read(duplicate).await;
    assert_eq!((status, &body["error"]), (400, &json!("malformed_json")));
    let (status, body) = read(post("message=hi", "application/x-www-form-urlencoded").await.unwrap()).await;
    assert_eq!((status, &body["error"]), (400, &json!("content_type_not_json")));

    let huge = json!({"message": "x".repeat(64 * 1024), "ttl": "1-day"});
    let (status, body) = read(stack.http.post(stack.url("/api/activities")).json(&huge).send().await.unwrap()).await;
    assert_eq!((status, &body["error"]), (413, &json!("body_too_large")));

    // Nothing was stored by any of it.
    let (_, feed) = stack.get_json("/api/activities/home").await;
    assert_eq!(feed.as_array().unwrap().len(), 4);

    let users = &stack.users.address;
    for query in ["uuids=not-a-uuid", "uuids=6f3a0b7e-1c1d-4c0e-9a55-0d5e3f0b6a01,x", "nothing=1"] {
        let (status, _) = read(stack.http.get(format!("{users}/api/users?{query}")).send().await.unwrap()).await;
        assert!((400..500).contains(&status), "{query}: {status}");
    }
    let empty = read(stack.http.get(format!("{users}/api/users?uuids=")).send().await.unwrap()).await;
    assert_eq!(empty, (200, json!([])), "an empty list is an empty answer");
    let url = format!("{}/api/notifications?recipient_user_uuid=42", stack.notifications.address);
    let (status, _) = read(stack.http.get(url).send().await.unwrap()).await;
    assert_eq!(status, 400);
}

async fn unknown_routes_and_methods(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let (status, body) = stack.get_json("/api/nothing/here").await;
    assert_eq!((status, &body["error"]), (404, &json!("not_found")));
    // A known path with a method it does not take: 405 with Allow, as JSON.
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/api/activities/home", "GET, HEAD"),
        (reqwest::Method::POST, "/api/activities/home", "GET, HEAD"),
        (reqwest::Method::GET, "/api/activities", "POST"),
        (reqwest::Method::DELETE, "/api/profile/update", "POST, PUT"),
        (reqwest::Method::PUT, "/api/messages", "POST"),
    ] {
        let response = stack.http.request(method.clone(), stack.url(path)).send().await.unwrap();
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let (status, body) = read(response).await;
        assert_eq!((status, &body["error"]), (405, &json!("method_not_allowed")), "{method} {path}");
    }
    // HEAD is GET without the body, on every service.
    for url in [stack.url("/api/activities/home"), format!("{}/api/health-check", stack.users.address)] {
        let head = stack.http.head(&url).send().await.unwrap();
        assert_eq!(head.status(), 200, "{url}");
        assert_eq!(head.headers()["content-type"], "application/json");
        assert!(head.bytes().await.unwrap().is_empty(), "{url}: no body");
    }
    // The fixed words win over @handle and {uuid}.
    let (status, home) = stack.get_json("/api/activities/home").await;
    assert_eq!(status, 200);
    assert!(home.is_array());
    let (status, notifications) = stack.get_json("/api/activities/notifications").await;
    assert_eq!(status, 200);
    assert_eq!(notifications[0]["handle"], "coco");
    assert_eq!(stack.get_json("/api/activities/search").await, (422, json!(["search_term_blank"])));
}

async fn cors_allows_only_configured_origins(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let preflight = |origin: &'static str| {
        stack
            .http
            .request(reqwest::Method::OPTIONS, stack.url("/api/activities"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("http://localhost:3000").await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "http://localhost:3000");
    let methods = allowed.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
    for method in ["GET", "POST", "PUT", "HEAD", "OPTIONS"] {
        assert!(methods.contains(method), "{methods}");
    }
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    let (status, body) = read(refused).await;
    assert_eq!((status, &body["error"]), (400, &json!("cors_refused")), "JSON like every other error");

    let simple = stack
        .http
        .get(stack.url("/api/activities/home"))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    let exposed = simple.headers()["access-control-expose-headers"].to_str().unwrap().to_lowercase();
    for header in ["location", "link", "traceresponse"] {
        assert!(exposed.contains(header), "{exposed}");
    }
}

/// PostgreSQL's text cannot hold NUL: such input is a 4xx before any query,
/// and both databases answer alike (no 5xx, nothing stored, no odd matches).
async fn a_nul_character_is_the_clients_mistake_on_either_database(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let reply = format!("/api/activities/{}/reply", contracts::seed::PRUNE_JUICE);
    for (path, body, codes) in [
        ("/api/activities", json!({"message": "a\u{0}b", "ttl": "1-day"}), json!(["message_invalid_characters"])),
        (reply.as_str(), json!({"message": "a\u{0}b"}), json!(["message_invalid_characters"])),
        (
            "/api/messages",
            json!({"message": "a\u{0}b", "user_receiver_handle": "bayko"}),
            json!(["message_invalid_characters"]),
        ),
        (
            "/api/profile/update",
            json!({"display_name": "An\u{0}drew", "bio": "b\u{0}io"}),
            json!(["display_name_invalid_characters", "bio_invalid_characters"]),
        ),
    ] {
        assert_eq!(stack.post_json(path, body.clone()).await, (422, codes), "{path} {body}");
    }
    for term in ["%00", "%00zzzz", "a%00"] {
        let path = format!("/api/activities/search?term={term}");
        assert_eq!(stack.get_json(&path).await, (422, json!(["search_term_invalid_characters"])), "{path}");
    }
    for path in [
        "/api/activities/@andrewbrown%00",
        "/api/activities/@%00",
        "/api/users/@worf%00/short",
        "/api/messages/@bayko%00",
        &format!("/api/activities/@worf%00/status/{}", contracts::seed::PRUNE_JUICE),
    ] {
        let (status, body) = stack.get_json(path).await;
        assert_eq!((status, &body["error"]), (404, &json!("not_found")), "{path}");
    }
    let (status, _) =
        stack.post_json("/api/messages", json!({"message": "hi", "user_receiver_handle": "bay\u{0}ko"})).await;
    assert_eq!(status, 404, "no user can have that handle");
    let users = &stack.users.address;
    let (status, _) = read(stack.http.get(format!("{users}/api/users/@worf%00")).send().await.unwrap()).await;
    assert_eq!(status, 404);

    // Nothing was stored, and the profile is unchanged.
    let (_, feed) = stack.get_json("/api/activities/home").await;
    assert_eq!(feed.as_array().unwrap().len(), 4);
    let (_, shown) = stack.get_json(&format!("/api/activities/{}", contracts::seed::PRUNE_JUICE)).await;
    assert_eq!(shown["replies"], json!([]));
    let (_, conversation) = stack.get_json("/api/messages/@bayko").await;
    assert_eq!(conversation.as_array().unwrap().len(), 2);
    let (_, me) = stack.get_json("/api/users/@andrewbrown/short").await;
    assert_eq!(me["display_name"], "Andrew Brown");
}

/// A handle longer than any user's is not found, without a call to users
/// (percent-encoded for it, a long one passed the HTTP client's URL limit:
/// that was a 503); a search term longer than any message is a 422 (SQLite
/// refused a LIKE pattern that long: a 500).
async fn overlong_handles_and_search_terms_are_the_clients_mistake(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    // `%` not followed by hex travels as it is, and comes back out as the
    // three bytes `%25` in the URL of the call to users.
    let percents = "%".repeat(22_000);
    let longest = "a".repeat(service_kit::MAX_HANDLE_CHARS);
    for handle in [percents.as_str(), &"é".repeat(service_kit::MAX_HANDLE_CHARS + 1)] {
        for path in [
            format!("/api/activities/@{handle}"),
            format!("/api/messages/@{handle}"),
            format!("/api/users/@{handle}/short"),
            format!("/api/activities/@{handle}/status/{}", contracts::seed::PRUNE_JUICE),
        ] {
            let (status, body) = stack.get_json(&path).await;
            assert_eq!((status, &body["error"]), (404, &json!("not_found")), "{:.80}", path);
        }
    }
    let receiver = "é".repeat(service_kit::MAX_HANDLE_CHARS + 1);
    let message = json!({"message": "hi", "user_receiver_handle": receiver});
    assert_eq!(stack.post_json("/api/messages", message).await.0, 404);
    // The longest a handle can be is still looked up: unknown, so 404 too,
    // but from users.
    let (status, body) = stack.get_json(&format!("/api/activities/@{longest}")).await;
    assert_eq!((status, &body["error"]), (404, &json!("not_found")));

    let term = |chars: usize| format!("/api/activities/search?term={}", "é".repeat(chars));
    assert_eq!(stack.get_json(&term(1024)).await, (200, json!([])));
    assert_eq!(stack.get_json(&term(1025)).await, (422, json!(["search_term_exceed_max_chars"])));
    let long = format!("/api/activities/search?term={}", "a".repeat(50_001));
    assert_eq!(stack.get_json(&long).await, (422, json!(["search_term_exceed_max_chars"])));
}

/// The bound itself: a stored user with a handle of the longest length is
/// found at the edge; one a character longer is not looked up at all.
#[tokio::test]
async fn a_handle_of_the_longest_length_is_looked_up_and_one_longer_is_not() {
    let data = tempfile::tempdir().unwrap();
    let shared = format!("sqlite://{}/shared.db", data.path().display());
    let overrides = crate::helpers::Overrides { database_url: Some(shared.clone()), ..Default::default() };
    let stack = Stack::spawn_with(Backend::Sqlite, overrides).await;
    let users = service_kit::Database::open(
        Some(&shared),
        "users",
        "",
        std::time::Duration::from_secs(5),
        <users::Users as service_kit::Service>::migrations(),
    )
    .await
    .unwrap()
    .db;
    let longest = "é".repeat(service_kit::MAX_HANDLE_CHARS);
    let longer = "é".repeat(service_kit::MAX_HANDLE_CHARS + 1);
    const SQL: &str = "INSERT INTO users (uuid, display_name, handle, email, created_at) VALUES ($1, $2, $3, $4, $5)";
    for handle in [&longest, &longer] {
        service_kit::db_query!(&users, "INSERT", "users", SQL, |pool| {
            sqlx::query(SQL)
                .bind(uuid::Uuid::new_v4())
                .bind("Long")
                .bind(handle)
                .bind("long@example.com")
                .bind(chrono::Utc::now())
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .unwrap();
    }
    assert_eq!(stack.get_json(&format!("/api/activities/@{longest}")).await, (200, json!([])));
    let (_, short) = stack.get_json(&format!("/api/users/@{longest}/short")).await;
    assert_eq!(short["handle"], json!(longest));
    let (status, body) = stack.get_json(&format!("/api/activities/@{longer}")).await;
    assert_eq!((status, &body["error"]), (404, &json!("not_found")));
}

/// Headers, then a body that never finishes: 408 and a closed connection once
/// `REQUEST_BODY_TIMEOUT_MS` has passed, while other clients are served.
async fn a_body_that_trickles_in_is_cut_off_and_others_are_served_meanwhile(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let overrides = crate::helpers::Overrides {
        env: vec![("REQUEST_BODY_TIMEOUT_MS".to_owned(), "300".to_owned())],
        ..Default::default()
    };
    let stack = Stack::spawn_with(backend, overrides).await;
    let address = stack.activities.address.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head =
            "POST /api/activities HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
        stream.write_all(format!("{head}{{\"message\":").as_bytes()).await.unwrap();
        slow.push(stream);
    }
    let (status, _) = stack.get_json("/api/activities/home").await;
    assert_eq!(status, 200, "served while the slow ones wait");
    for mut stream in slow {
        let mut answer = String::new();
        // Bounded: a server that never answers fails here instead of hanging.
        tokio::time::timeout(std::time::Duration::from_secs(20), stream.read_to_string(&mut answer))
            .await
            .expect("the server answers and closes the connection")
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("request_body_timeout"), "{answer}");
    }
    let (_, feed) = stack.get_json("/api/activities/home").await;
    assert_eq!(feed.as_array().unwrap().len(), 4, "nothing was stored");
}

/// notifications' `POST /api/notifications` stores nothing for a recipient or
/// actor the users service does not know.
async fn internal_routes_refuse_people_they_cannot_resolve(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let url = format!("{}/api/notifications", stack.notifications.address);
    let known = contracts::seed::WORF;
    let stranger = uuid::Uuid::new_v4();
    for (recipient, actor) in [(stranger, known), (known, stranger)] {
        let body = json!({"recipient_user_uuid": recipient, "actor_user_uuid": actor,
                          "activity_uuid": contracts::seed::PRUNE_JUICE, "kind": "reply"});
        let (status, answer) = read(stack.http.post(&url).json(&body).send().await.unwrap()).await;
        assert_eq!((status, &answer["error"]), (404, &json!("not_found")), "{body}");
    }
    let list = format!("{url}?recipient_user_uuid={stranger}");
    assert_eq!(read(stack.http.get(list).send().await.unwrap()).await, (200, json!([])));
    let body = json!({"recipient_user_uuid": known, "actor_user_uuid": contracts::seed::ANDREWBROWN,
                      "activity_uuid": contracts::seed::PRUNE_JUICE, "kind": "reply"});
    let (status, _) = read(stack.http.post(&url).json(&body).send().await.unwrap()).await;
    assert_eq!(status, 201, "people it knows");
}
