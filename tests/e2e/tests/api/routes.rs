//! Every route of API.md, with the seed data.

use contracts::seed;
use serde_json::{Value, json};

use crate::helpers::{Backend, Stack, on_both_databases, read};

on_both_databases!(
    health_check_on_every_service,
    home_feed_is_newest_first_with_replies_and_without_expired,
    home_feed_is_one_page_with_its_replies_oldest_first,
    an_expired_activity_is_gone_from_every_route,
    notifications_are_activity_shaped,
    search_matches_case_insensitively_and_literally,
    search_folds_case_beyond_ascii_alike_on_both_databases,
    create_activity_validates_then_stores,
    reply_counts_on_parent_and_notifies_its_author,
    user_feed_is_the_users_latest_activities,
    every_activity_of_every_answer_has_replies,
    show_activity_by_uuid_and_by_handle,
    users_short_and_profile_update,
    the_edge_answers_the_users_routes_of_the_frontend,
);

async fn health_check_on_every_service(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    for address in [&stack.activities.address, &stack.users.address, &stack.notifications.address] {
        let (status, body) = read(stack.http.get(format!("{address}/api/health-check")).send().await.unwrap()).await;
        assert_eq!((status, body), (200, json!({"success": true, "ver": 1})));
    }
}

fn messages(feed: &Value) -> Vec<&str> {
    feed.as_array().unwrap().iter().map(|a| a["message"].as_str().unwrap()).collect()
}

async fn home_feed_is_newest_first_with_replies_and_without_expired(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let (status, feed) = stack.get_json("/api/activities/home").await;
    assert_eq!(status, 200);
    assert_eq!(
        messages(&feed),
        [
            "My dear doctor, I am just simple tailor",
            "Cloud is very fun!",
            "I am white unicorn",
            "I am out of prune juice"
        ]
    );
    let cloud = &feed[1];
    assert_eq!(cloud["uuid"], seed::CLOUD_IS_FUN.to_string());
    assert_eq!(cloud["handle"], "andrewbrown");
    assert_eq!(cloud["display_name"], "Andrew Brown");
    assert_eq!(cloud["replies_count"], 1);
    assert_eq!(cloud["reply_to_activity_uuid"], Value::Null);
    let replies = cloud["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["message"], "This post has no honor!");
    assert_eq!(replies[0]["handle"], "worf");
    assert_eq!(replies[0]["reply_to_activity_uuid"], seed::CLOUD_IS_FUN.to_string());
    assert_eq!(feed[0]["replies"], json!([]));
    // ISO 8601 with a numeric offset.
    let created = cloud["created_at"].as_str().unwrap();
    assert!(created.ends_with("+00:00"), "{created}");
    chrono::DateTime::parse_from_rfc3339(created).unwrap();

    // A 1-hour activity is on the feed; once expired it is not.
    let (status, _) = stack.post_json("/api/activities", json!({"message": "short-lived", "ttl": "1-hour"})).await;
    assert_eq!(status, 200);
    let (_, feed) = stack.get_json("/api/activities/home").await;
    assert_eq!(messages(&feed)[0], "short-lived");
    expire(&stack, "short-lived").await;
    let (_, feed) = stack.get_json("/api/activities/home").await;
    assert!(!messages(&feed).contains(&"short-lived"));
}

/// Home reads its page and the page's replies in one statement: replies
/// stay under their parent, oldest first, and those of an activity that
/// fell off the page do not come with it.
async fn home_feed_is_one_page_with_its_replies_oldest_first(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let mut posted = Vec::new();
    for n in 0..41 {
        let (status, activity) =
            stack.post_json("/api/activities", json!({"message": format!("post {n}"), "ttl": "30-days"})).await;
        assert_eq!(status, 200);
        posted.push(activity["uuid"].as_str().unwrap().to_owned());
    }
    let newest = &posted[40];
    for message in ["first reply", "second reply"] {
        let (status, _) =
            stack.post_json(&format!("/api/activities/{newest}/reply"), json!({"message": message})).await;
        assert_eq!(status, 200);
    }
    // The seed's activities are now off the 40-activity page; a reply to one
    // of them must not come back with the page.
    let (status, _) =
        stack.post_json(&format!("/api/activities/{}/reply", seed::PRUNE_JUICE), json!({"message": "unseen"})).await;
    assert_eq!(status, 200);

    let (status, feed) = stack.get_json("/api/activities/home").await;
    assert_eq!(status, 200);
    let feed = feed.as_array().unwrap();
    assert_eq!(feed.len(), 40);
    assert_eq!(feed[0]["uuid"], newest.as_str());
    assert_eq!(feed[39]["message"], "post 1");
    let replies: Vec<&str> =
        feed[0]["replies"].as_array().unwrap().iter().map(|r| r["message"].as_str().unwrap()).collect();
    assert_eq!(replies, ["first reply", "second reply"]);
    assert!(feed.iter().all(|a| a["reply_to_activity_uuid"].is_null()), "replies are never top-level");
    assert!(feed[1..].iter().all(|a| a["replies"] == json!([])));
}

/// Home and search leave expired activities out; the user page, the
/// activity's own page, replies and notifications did not (a reply could
/// be stored already expired).
async fn an_expired_activity_is_gone_from_every_route(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let (status, created) =
        stack.post_json("/api/activities", json!({"message": "short-lived", "ttl": "1-hour"})).await;
    assert_eq!(status, 200);
    let uuid = created["uuid"].as_str().unwrap().to_owned();
    let pages = [format!("/api/activities/{uuid}"), format!("/api/activities/@andrewbrown/status/{uuid}")];
    for page in &pages {
        assert_eq!(stack.get_json(page).await.0, 200, "{page}");
    }
    let (_, feed) = stack.get_json("/api/activities/@andrewbrown").await;
    assert!(messages(&feed).contains(&"short-lived"));

    expire(&stack, "short-lived").await;
    let (_, feed) = stack.get_json("/api/activities/@andrewbrown").await;
    assert_eq!(messages(&feed), ["Cloud is very fun!"]);
    for page in &pages {
        let (status, body) = stack.get_json(page).await;
        assert_eq!((status, &body["error"]), (404, &json!("not_found")), "{page}");
    }
    let (status, body) =
        stack.post_json(&format!("/api/activities/{uuid}/reply"), json!({"message": "too late"})).await;
    assert_eq!((status, &body["error"]), (404, &json!("not_found")));

    // The seed's one notification is about this activity.
    expire(&stack, "I am white unicorn").await;
    let (status, notifications) = stack.get_json("/api/activities/notifications").await;
    assert_eq!((status, notifications), (200, json!([])));
}

/// Moves an activity's expiry into the past, straight in the activities database.
async fn expire(stack: &Stack, message: &str) {
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    let db = activities_db(stack).await;
    const SQL: &str = "UPDATE activities SET expires_at = $1 WHERE message = $2";
    let updated = service_kit::db_query!(&db, "UPDATE", "activities", SQL, |pool| {
        sqlx::query(SQL).bind(past).bind(message).execute(pool).await.map(|done| done.rows_affected())
    })
    .unwrap();
    assert_eq!(updated, 1);
}

async fn activities_db(stack: &Stack) -> service_kit::Database {
    // The same database the service opened: ask it where that is.
    let url = stack.activities_database_url();
    service_kit::Database::open(
        Some(&url),
        "activities",
        "",
        std::time::Duration::from_secs(5),
        activities_migrations(),
    )
    .await
    .unwrap()
    .db
}

fn activities_migrations() -> &'static service_kit::Migrations {
    <activities::Activities as service_kit::Service>::migrations()
}

async fn notifications_are_activity_shaped(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let (status, body) = stack.get_json("/api/activities/notifications").await;
    assert_eq!(status, 200);
    let list = body.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["handle"], "coco");
    assert_eq!(list[0]["display_name"], "Coco");
    assert_eq!(list[0]["message"], "I am white unicorn");
    assert_eq!(list[0]["uuid"], seed::WHITE_UNICORN.to_string());
    assert_eq!(list[0]["kind"], "mention");
    for key in ["replies_count", "reposts_count", "likes_count", "created_at", "expires_at", "reply_to_activity_uuid"] {
        assert!(list[0].get(key).is_some(), "{key} missing");
    }
}

async fn search_matches_case_insensitively_and_literally(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let (status, found) = stack.get_json("/api/activities/search?term=CLOUD").await;
    assert_eq!(status, 200);
    assert_eq!(messages(&found), ["Cloud is very fun!"]);
    assert_eq!(found[0]["handle"], "andrewbrown");
    assert_eq!(found[0]["replies"], json!([]), "every Activity has replies");

    let (_, found) = stack.get_json("/api/activities/search?term=%25").await;
    assert_eq!(found, json!([]), "a % in the term is a literal, not a wildcard");
    let (_, found) = stack.get_json("/api/activities/search?term=nothing%20like%20this").await;
    assert_eq!(found, json!([]));

    for path in ["/api/activities/search?term=", "/api/activities/search?term=%20%20", "/api/activities/search"] {
        assert_eq!(stack.get_json(path).await, (422, json!(["search_term_blank"])), "{path}");
    }
}

/// SQLite's LOWER folds ASCII alone: searched with it, "Élan" did not find
/// "Élan" there (it did on PostgreSQL). Search compares messages case-folded
/// by the service; rows an older build wrote are compared as LOWER folds them
/// until the next start folds them.
async fn search_folds_case_beyond_ascii_alike_on_both_databases(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let message = "Élan vital ÄÖÜ naïve, ΟΔΟΣ Straße";
    assert_eq!(stack.post_json("/api/activities", json!({"message": message, "ttl": "1-day"})).await.0, 200);
    let search_on = |address: &str, term: &str| {
        let url = reqwest::Url::parse_with_params(&format!("{address}/api/activities/search"), [("term", term)]);
        let request = stack.http.get(url.unwrap()).send();
        async { read(request.await.unwrap()).await }
    };
    let search = |term: &str| search_on(&stack.activities.address, term);
    for term in ["Élan", "élan", "ÉLAN", "äöü", "NAÏVE", "lan vital", "οδος", "ΟΔΟς", "STRASSE", "strasse"]
    {
        let (status, found) = search(term).await;
        assert_eq!((status, messages(&found)), (200, vec![message]), "{term}");
    }

    // As a database an older build wrote: nothing folded. ASCII still
    // matches (LOWER), and the next start folds every row.
    let db = activities_db(&stack).await;
    const SQL: &str = "UPDATE activities SET message_folded = NULL";
    service_kit::db_query!(&db, "UPDATE", "activities", SQL, |pool| {
        sqlx::query(SQL).execute(pool).await.map(|done| done.rows_affected())
    })
    .unwrap();
    assert_eq!(messages(&search("VITAL").await.1), [message]);
    assert_eq!(search("STRASSE").await.1, json!([]), "not folded yet");
    let restarted = crate::helpers::spawn_service::<activities::Activities>(
        &stack.activities_database_url(),
        vec![("USERS_URL", stack.users.address.clone()), ("NOTIFICATIONS_URL", stack.notifications.address.clone())],
        &crate::helpers::Overrides::default(),
    )
    .await;
    assert_eq!(messages(&search_on(&restarted.address, "STRASSE").await.1), [message]);
    assert_eq!(messages(&search_on(&restarted.address, "cloud").await.1), ["Cloud is very fun!"]);
}

async fn create_activity_validates_then_stores(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let (status, created) =
        stack.post_json("/api/activities", json!({"message": "  Hello Cruddur  ", "ttl": "7-days"})).await;
    assert_eq!(status, 200);
    assert_eq!(created["message"], "Hello Cruddur");
    assert_eq!(created["handle"], "andrewbrown");
    assert_eq!(created["replies_count"], 0);
    let created_at = chrono::DateTime::parse_from_rfc3339(created["created_at"].as_str().unwrap()).unwrap();
    let expires_at = chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires_at - created_at, chrono::Duration::days(7));
    let (_, shown) = stack.get_json(&format!("/api/activities/{}", created["uuid"].as_str().unwrap())).await;
    assert_eq!(shown["activity"]["message"], "Hello Cruddur");

    let cases = [
        (json!({"message": "", "ttl": "7-days"}), json!(["message_blank"])),
        (json!({"message": "   ", "ttl": "7-days"}), json!(["message_blank"])),
        (json!({"ttl": "7-days"}), json!(["message_blank"])),
        (json!({"message": "x".repeat(281), "ttl": "7-days"}), json!(["message_exceed_max_chars"])),
        (json!({"message": "ok", "ttl": "2-days"}), json!(["ttl_blank"])),
        (json!({"message": "ok"}), json!(["ttl_blank"])),
        (json!({}), json!(["message_blank", "ttl_blank"])),
    ];
    for (body, codes) in cases {
        assert_eq!(stack.post_json("/api/activities", body.clone()).await, (422, codes), "{body}");
    }
    let (status, _) = stack.post_json("/api/activities", json!({"message": "x".repeat(280), "ttl": "1-hour"})).await;
    assert_eq!(status, 200, "280 characters is the limit, not past it");
}

async fn reply_counts_on_parent_and_notifies_its_author(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let path = format!("/api/activities/{}/reply", seed::PRUNE_JUICE);
    let (status, reply) = stack.post_json(&path, json!({"message": "Have some tea"})).await;
    assert_eq!(status, 200);
    assert_eq!(reply["reply_to_activity_uuid"], seed::PRUNE_JUICE.to_string());
    assert_eq!(reply["handle"], "andrewbrown");

    let (_, shown) = stack.get_json(&format!("/api/activities/{}", seed::PRUNE_JUICE)).await;
    assert_eq!(shown["activity"]["replies_count"], 1);
    assert_eq!(shown["replies"][0]["message"], "Have some tea");

    // Worf (the parent's author) is notified by the notifications service.
    let url = format!("{}/api/notifications?recipient_user_uuid={}", stack.notifications.address, seed::WORF);
    let (status, notified) = read(stack.http.get(url).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(notified[0]["kind"], "reply");
    assert_eq!(notified[0]["activity_uuid"], reply["uuid"]);
    assert_eq!(notified[0]["actor"]["handle"], "andrewbrown");

    let (status, _) = stack.post_json(&path, json!({"message": "y".repeat(1024)})).await;
    assert_eq!(status, 200, "a reply may be 1024 characters");
    assert_eq!(
        stack.post_json(&path, json!({"message": "y".repeat(1025)})).await,
        (422, json!(["message_exceed_max_chars"]))
    );
    assert_eq!(stack.post_json(&path, json!({"message": " "})).await, (422, json!(["message_blank"])));

    let unknown = format!("/api/activities/{}/reply", uuid::Uuid::new_v4());
    let (status, body) = stack.post_json(&unknown, json!({"message": "hello?"})).await;
    assert_eq!((status, &body["error"]), (404, &json!("not_found")));
}

async fn user_feed_is_the_users_latest_activities(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let (status, body) = stack.get_json("/api/activities/@worf").await;
    assert_eq!(status, 200);
    // A bare array, as the week-2 user page maps over it; replies are not posts.
    assert_eq!(messages(&body), ["I am out of prune juice"]);
    assert_eq!(body[0]["handle"], "worf");
    assert_eq!(body[0]["display_name"], "Worf");
    assert_eq!(body[0]["replies"], json!([]));

    let (status, _) = stack.post_json("/api/activities", json!({"message": "newest", "ttl": "1-day"})).await;
    assert_eq!(status, 200);
    let (_, body) = stack.get_json("/api/activities/@andrewbrown").await;
    assert_eq!(messages(&body), ["newest", "Cloud is very fun!"], "newest first");

    let (status, body) = stack.get_json("/api/activities/@nobody").await;
    assert_eq!((status, &body["error"]), (404, &json!("not_found")));
}

async fn show_activity_by_uuid_and_by_handle(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    for path in [
        format!("/api/activities/{}", seed::CLOUD_IS_FUN),
        format!("/api/activities/@andrewbrown/status/{}", seed::CLOUD_IS_FUN),
    ] {
        let (status, body) = stack.get_json(&path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(body["activity"]["message"], "Cloud is very fun!");
        assert_eq!(body["replies"][0]["message"], "This post has no honor!");
        assert_eq!(body["replies"][0]["handle"], "worf");
    }
    for path in [
        format!("/api/activities/@worf/status/{}", seed::CLOUD_IS_FUN),
        format!("/api/activities/{}", uuid::Uuid::new_v4()),
        "/api/activities/not-a-uuid".to_owned(),
        "/api/activities/@andrewbrown/status/not-a-uuid".to_owned(),
    ] {
        let (status, body) = stack.get_json(&path).await;
        assert_eq!((status, &body["error"]), (404, &json!("not_found")), "{path}");
    }
}

async fn users_short_and_profile_update(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let users = &stack.users.address;
    let (status, short) =
        read(stack.http.get(format!("{users}/api/users/@andrewbrown/short")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(short, json!({"uuid": seed::ANDREWBROWN, "handle": "andrewbrown", "display_name": "Andrew Brown"}));
    let (status, _) = read(stack.http.get(format!("{users}/api/users/@nobody/short")).send().await.unwrap()).await;
    assert_eq!(status, 404);

    for method in [reqwest::Method::POST, reqwest::Method::PUT] {
        let body = json!({"display_name": format!("Andrew {method}"), "bio": "Cloud teacher"});
        let request = stack.http.request(method.clone(), format!("{users}/api/profile/update")).json(&body);
        let (status, updated) = read(request.send().await.unwrap()).await;
        assert_eq!(status, 200, "{method}");
        assert_eq!(updated["display_name"], format!("Andrew {method}"));
        assert_eq!(updated["handle"], "andrewbrown");
    }
    let (_, profile) = read(stack.http.get(format!("{users}/api/users/@andrewbrown")).send().await.unwrap()).await;
    assert_eq!(profile["bio"], "Cloud teacher");
    assert_eq!(profile["display_name"], "Andrew PUT");
    let (_, feed) = stack.get_json("/api/activities/@andrewbrown").await;
    assert_eq!(feed[0]["display_name"], "Andrew PUT", "the user page shows the new name");

    let request = stack.http.post(format!("{users}/api/profile/update")).json(&json!({"display_name": " "}));
    assert_eq!(read(request.send().await.unwrap()).await, (422, json!(["display_name_blank"])));
}

/// API.md lists the users routes among those the frontend calls on the edge.
async fn the_edge_answers_the_users_routes_of_the_frontend(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let (status, short) = stack.get_json("/api/users/@worf/short").await;
    assert_eq!((status, short), (200, json!({"uuid": seed::WORF, "handle": "worf", "display_name": "Worf"})));
    let (status, body) = stack.get_json("/api/users/@nobody/short").await;
    assert_eq!((status, &body["error"]), (404, &json!("not_found")));

    let (status, updated) = stack.post_json("/api/profile/update", json!({"display_name": "Andy", "bio": "hi"})).await;
    assert_eq!(status, 200);
    assert_eq!(updated["display_name"], "Andy");
    let put = stack.http.put(stack.url("/api/profile/update")).json(&json!({"display_name": "Andrew"})).send().await;
    let (status, updated) = read(put.unwrap()).await;
    assert_eq!((status, &updated["display_name"]), (200, &json!("Andrew")));
    // The users service's validation answer comes through the edge unchanged.
    assert_eq!(
        stack.post_json("/api/profile/update", json!({"display_name": ""})).await,
        (422, json!(["display_name_blank"]))
    );
}

/// The week-2 reply form pushes onto `activity.replies` of whatever it
/// replied to: every Activity in every answer carries the array.
async fn every_activity_of_every_answer_has_replies(backend: Backend) {
    let stack = Stack::spawn(backend).await;
    let has_replies = |what: &str, activity: &Value| {
        assert!(activity["replies"].is_array(), "{what}: {activity}");
    };
    let (_, created) = stack.post_json("/api/activities", json!({"message": "fresh", "ttl": "1-day"})).await;
    has_replies("create", &created);
    assert_eq!(created["replies"], json!([]));
    let path = format!("/api/activities/{}/reply", created["uuid"].as_str().unwrap());
    let (_, reply) = stack.post_json(&path, json!({"message": "to a crud posted just now"})).await;
    has_replies("reply", &reply);
    assert_eq!(reply["reply_to_activity_uuid"], created["uuid"]);
    let (_, notifications) = stack.get_json("/api/activities/notifications").await;
    let path = format!("/api/activities/{}/reply", notifications[0]["uuid"].as_str().unwrap());
    let (status, _) = stack.post_json(&path, json!({"message": "to a notification"})).await;
    assert_eq!(status, 200);
    for route in [
        "/api/activities/home",
        "/api/activities/notifications",
        "/api/activities/search?term=e",
        "/api/activities/@andrewbrown",
    ] {
        let (status, list) = stack.get_json(route).await;
        assert_eq!(status, 200, "{route}");
        assert!(!list.as_array().unwrap().is_empty(), "{route}");
        for activity in list.as_array().unwrap() {
            has_replies(route, activity);
            for reply in activity["replies"].as_array().unwrap() {
                has_replies(route, reply);
            }
        }
    }
    let (_, shown) = stack.get_json(&format!("/api/activities/{}", seed::CLOUD_IS_FUN)).await;
    has_replies("show", &shown["activity"]);
    for reply in shown["replies"].as_array().unwrap() {
        has_replies("show's replies", reply);
    }
}

/// Three services on one database keep separate migration histories.
#[tokio::test]
async fn the_three_services_can_share_one_database() {
    let data = tempfile::tempdir().unwrap();
    let shared = format!("sqlite://{}/shared.db", data.path().display());
    let stack = Stack::spawn_with(
        Backend::Sqlite,
        crate::helpers::Overrides { database_url: Some(shared), ..Default::default() },
    )
    .await;
    let (status, feed) = stack.get_json("/api/activities/home").await;
    assert_eq!(status, 200);
    assert_eq!(feed.as_array().unwrap().len(), 4);
    let (status, _) = stack.get_json("/api/activities/notifications").await;
    assert_eq!(status, 200);
}
