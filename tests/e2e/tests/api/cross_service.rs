//! The calls between services: batched, with timeouts, and with a clear
//! answer when a dependency is down or slow.

use std::time::{Duration, Instant};

use contracts::seed;
use serde_json::json;
use sqlx::Connection;

use crate::helpers::{
    Backend, CountingProxy, Overrides, Stack, closed_port_url, on_both_databases, read, silent_peer_url,
};

on_both_databases!(
    feeds_ask_users_once_per_request,
    users_down_is_a_503_json,
    users_silent_is_a_504_json_within_the_timeout,
    notifications_down_still_stores_and_answers_the_reply,
);

async fn feeds_ask_users_once_per_request(backend: Backend) {
    let proxy = CountingProxy::start();
    let stack =
        Stack::spawn_with(backend, Overrides { users_url: Some(proxy.url.clone()), ..Default::default() }).await;
    proxy.forward_to(&stack.users.address);
    for (path, calls) in [
        ("/api/activities/home".to_owned(), 1),
        ("/api/activities/search?term=i".to_owned(), 1),
        (format!("/api/activities/{}", seed::CLOUD_IS_FUN), 1),
        ("/api/activities/@worf".to_owned(), 1),
        // Acting user, then the notifications service's actor lookup.
        ("/api/activities/notifications".to_owned(), 2),
    ] {
        let before = proxy.requests();
        let (status, _) = stack.get_json(&path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(proxy.requests() - before, calls, "{path}: calls to users");
    }
}

async fn users_down_is_a_503_json(backend: Backend) {
    let stack =
        Stack::spawn_with(backend, Overrides { users_url: Some(closed_port_url()), ..Default::default() }).await;
    for path in ["/api/activities/home", "/api/activities/notifications", "/api/activities/@worf"] {
        let (status, body) = stack.get_json(path).await;
        assert_eq!(status, 503, "{path}");
        assert_eq!(body["error"], "upstream_unavailable");
        assert!(body["message"].as_str().unwrap().contains("users"), "{body}");
    }
}

async fn users_silent_is_a_504_json_within_the_timeout(backend: Backend) {
    let (url, _silent) = silent_peer_url();
    let overrides = Overrides {
        users_url: Some(url),
        env: vec![("UPSTREAM_TIMEOUT_MS".to_owned(), "300".to_owned())],
        ..Default::default()
    };
    let stack = Stack::spawn_with(backend, overrides).await;
    let started = Instant::now();
    let (status, body) = stack.get_json("/api/activities/home").await;
    assert_eq!((status, &body["error"]), (504, &json!("upstream_timeout")));
    // Bounded by the configured timeout, not hanging (generous for a busy machine).
    assert!(started.elapsed() < Duration::from_secs(10));
}

async fn notifications_down_still_stores_and_answers_the_reply(backend: Backend) {
    let stack =
        Stack::spawn_with(backend, Overrides { notifications_url: Some(closed_port_url()), ..Default::default() })
            .await;
    let path = format!("/api/activities/{}/reply", seed::PRUNE_JUICE);
    let (status, reply) = stack.post_json(&path, json!({"message": "Still here"})).await;
    assert_eq!(status, 200);
    let (_, shown) = stack.get_json(&format!("/api/activities/{}", seed::PRUNE_JUICE)).await;
    assert_eq!(shown["replies"][0]["uuid"], reply["uuid"]);
    assert_eq!(shown["activity"]["replies_count"], 1);
    let (status, body) = read(stack.http.get(stack.url("/api/activities/notifications")).send().await.unwrap()).await;
    assert_eq!((status, &body["error"]), (503, &json!("upstream_unavailable")));
}

/// PostgreSQL closing every pooled connection (`pg_terminate_backend`, as a
/// failover or an admin does) costs no request: dead connections are
/// replaced, and a read that meets one runs again on another.
#[tokio::test]
async fn terminated_database_connections_fail_no_request() {
    let stack = Stack::spawn(Backend::Postgres).await;
    for _ in 0..5 {
        assert_eq!(stack.get_json("/api/activities/notifications").await.0, 200);
    }
    let url = stack.activities_database_url();
    let (server, database) = url.rsplit_once('/').unwrap();
    let run = database.trim_end_matches("_activities");
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await.unwrap();
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname LIKE $1 AND pid <> pg_backend_pid()",
    )
    .bind(format!("{run}_%"))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(terminated.len() >= 3, "every service had pooled connections: {terminated:?}");
    for path in ["/api/activities/home", "/api/activities/notifications", "/api/messages/@bayko"] {
        for _ in 0..5 {
            let (status, body) = stack.get_json(path).await;
            assert_eq!(status, 200, "{path}: {body}");
        }
    }
}
