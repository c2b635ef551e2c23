//! The `FAULT_*` knobs (service_kit::faults) seen where a person would look
//! for them: in the exported trace, as a slow query and as a real failure.

use std::time::{Duration, Instant};

use crate::{
    otlp::{ReceivedSpan, Receiver, servers},
    stack::{start_stack, trace_id_of},
};

const CLIENT: i32 = 3;
const STATUS_ERROR: i32 = 2;

fn duration(span: &ReceivedSpan) -> Duration {
    Duration::from_nanos(span.span.end_time_unix_nano - span.span.start_time_unix_nano)
}

fn db_span<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> Option<&'a ReceivedSpan> {
    spans.iter().find(|s| s.service == service && s.span.name == name && s.attribute("db.system.name").is_some())
}

fn failed(span: &ReceivedSpan) -> bool {
    span.span.status.as_ref().is_some_and(|status| status.code == STATUS_ERROR)
}

#[tokio::test]
async fn injected_latency_is_the_querys_and_an_injected_error_is_a_real_failure() {
    const LATENCY: Duration = Duration::from_millis(300);
    let receiver = Receiver::start();
    // One environment for the stack, as a shell or .env gives it: each
    // service applies the knobs of its own spots.
    let stack = start_stack(
        &receiver.endpoint,
        &[("FAULT_USERS_BATCH_LATENCY_MS", "300"), ("FAULT_NOTIFICATIONS_INBOX_ERROR_RATE", "1")],
    );
    let client = reqwest::Client::new();

    // Latency: the home feed waits for the authors, and the users service's
    // batched query is the slow span; the edge's own query is not.
    let started = Instant::now();
    let response = client.get(stack.activities.url("/api/activities/home")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= LATENCY);
    let trace_id = trace_id_of(&response);
    let spans = receiver
        .wait_for_trace(&trace_id, |spans| {
            !servers(spans, "activities").is_empty()
                && !servers(spans, "users").is_empty()
                && db_span(spans, "users", "SELECT users").is_some()
        })
        .await;
    let query = db_span(&spans, "users", "SELECT users").unwrap();
    assert!(duration(query) >= LATENCY, "{:?}", duration(query));
    assert!(!failed(query));
    let batch = servers(&spans, "users").into_iter().find(|s| s.span.name == "GET /api/users").expect("the batch call");
    assert_eq!(query.parent_span_id(), batch.span_id(), "the slow query is inside the batch request");
    assert!(duration(batch) >= LATENCY);
    let call = spans.iter().find(|s| s.span_id() == batch.parent_span_id()).expect("the edge's call");
    assert_eq!((call.service.as_str(), call.span.kind), ("activities", CLIENT));
    assert!(duration(call) >= LATENCY);
    let own = db_span(&spans, "activities", "SELECT activities").expect("the edge's own query");
    assert!(duration(own) < LATENCY, "only the knob's spot is slow: {:?}", duration(own));

    // Error: the inbox query fails, and everything above it fails as a
    // real database failure would make it.
    let response = client.get(stack.activities.url("/api/activities/notifications")).send().await.unwrap();
    assert_eq!(response.status(), 502);
    let trace_id = trace_id_of(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "upstream_bad_response");
    let spans = receiver
        .wait_for_trace(&trace_id, |spans| {
            !servers(spans, "activities").is_empty()
                && !servers(spans, "notifications").is_empty()
                && db_span(spans, "notifications", "SELECT notifications").is_some()
        })
        .await;
    let query = db_span(&spans, "notifications", "SELECT notifications").unwrap();
    assert!(failed(query), "{query:#?}");
    assert!(query.attribute("error.type").is_some(), "{query:#?}");
    let message = query.attribute("exception.message").unwrap_or_default();
    assert!(message.contains("fault injected by FAULT_NOTIFICATIONS_INBOX_ERROR_RATE"), "{message}");
    let inbox = servers(&spans, "notifications")[0];
    assert!(failed(inbox));
    assert_eq!(inbox.attribute("http.response.status_code").as_deref(), Some("500"));
    assert_eq!(inbox.attribute("error.type").as_deref(), Some("500"));
    let edge = servers(&spans, "activities")[0];
    assert!(failed(edge));
    assert_eq!(edge.attribute("error.type").as_deref(), Some("502"));
    // Ordinary spans of ordinary kinds: server, client, internal.
    assert!(spans.iter().all(|s| (1..=3).contains(&s.span.kind)), "{spans:#?}");

    // The service's own answer is the project's JSON error, and its ERROR
    // line says what happened, in the trace.
    let inbox_url = format!("/api/notifications?recipient_user_uuid={}", contracts::seed::ANDREWBROWN);
    let response = client.get(stack.notifications.url(&inbox_url)).send().await.unwrap();
    assert_eq!(response.status(), 500);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "database_unavailable");
    assert!(body["message"].is_string());
    assert!(!body.to_string().contains("FAULT_"), "the database's message is logged, never sent: {body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = stack.notifications.stdout_lines();
    let logged = lines.iter().find(|line| line.contains("fault injected")).expect("the failure is logged");
    let line: serde_json::Value = serde_json::from_str(logged).unwrap();
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
}
