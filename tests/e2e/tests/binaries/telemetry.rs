//! One trace across the three services, exported over OTLP/HTTP to a real
//! protobuf receiver, with the processes as they run in production.

use std::time::{Duration, Instant};

use crate::{
    otlp::{ReceivedSpan, Receiver, servers},
    process::Service,
    stack::{API_KEY, Stack, start_stack, trace_id_of},
};

const CLIENT: i32 = 3;

#[tokio::test]
async fn notifications_is_one_trace_across_three_services() {
    let receiver = Receiver::start();
    let stack = start_stack(&receiver.endpoint, &[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")]);
    let response = reqwest::Client::new()
        .get(stack.activities.url("/api/activities/notifications"))
        .header("user-agent", "cruddur-test/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let trace_id = trace_id_of(&response);

    let spans = receiver
        .wait_for_trace(&trace_id, |spans| {
            servers(spans, "activities").len() == 1
                && servers(spans, "notifications").len() == 1
                && servers(spans, "users").len() == 2
        })
        .await;

    // Every server span below the edge is the child of a client span of its caller.
    let by_id = |id: &str| spans.iter().find(|s| s.span_id() == id);
    for (callee, caller) in [("notifications", "activities"), ("users", "activities"), ("users", "notifications")] {
        let children: Vec<_> = servers(&spans, callee)
            .into_iter()
            .filter(|server| by_id(&server.parent_span_id()).is_some_and(|parent| parent.service == caller))
            .collect();
        assert_eq!(children.len(), 1, "{callee} under {caller}");
        let parent = by_id(&children[0].parent_span_id()).unwrap();
        assert_eq!(parent.span.kind, CLIENT, "{callee}'s parent is {caller}'s client span");
        assert_eq!(parent.attribute("http.request.method").as_deref(), Some("GET"));
        assert_eq!(parent.int_attribute("http.response.status_code"), Some(200), "an int, as the conventions say");
        assert_eq!(parent.attribute("server.address").as_deref(), Some("127.0.0.1"));
        let callee_port = if callee == "users" { stack.users.port } else { stack.notifications.port };
        assert_eq!(parent.int_attribute("server.port"), Some(i64::from(callee_port)), "an int");
        assert_eq!(parent.attribute("url.scheme").as_deref(), Some("http"));
        let full = parent.attribute("url.full").unwrap_or_default();
        assert!(full.starts_with(&format!("http://127.0.0.1:{callee_port}/api/")), "{full}");
        assert_eq!(parent.span.name, "GET");
    }

    // The edge's server span: stable HTTP semantic conventions and the acting user.
    let edge = servers(&spans, "activities")[0];
    assert_eq!(edge.span.name, "GET /api/activities/notifications");
    assert!(edge.span.parent_span_id.is_empty(), "the edge span is the root");
    for (key, expected) in [
        ("http.request.method", "GET"),
        ("http.route", "/api/activities/notifications"),
        ("url.path", "/api/activities/notifications"),
        ("http.response.status_code", "200"),
        ("user_agent.original", "cruddur-test/1.0"),
        ("client.address", "127.0.0.1"),
        ("user.handle", "andrewbrown"),
        ("user.id", &contracts::seed::ANDREWBROWN.to_string()),
    ] {
        assert_eq!(edge.attribute(key).as_deref(), Some(expected), "{key}");
    }
    assert_eq!(edge.attribute("server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(edge.int_attribute("server.port"), Some(i64::from(stack.activities.port)), "an int");
    assert_eq!(edge.int_attribute("http.response.status_code"), Some(200), "an int");
    assert_eq!(edge.attribute("url.query"), None, "no empty attributes");
    let route = servers(&spans, "users").iter().map(|s| s.span.name.clone()).collect::<Vec<_>>();
    assert!(route.contains(&"GET /api/users".to_owned()), "{route:?}");
    assert!(route.contains(&"GET /api/users/@{handle}/short".to_owned()), "{route:?}");

    // Database client spans, one per query, inside the requests.
    let db: Vec<_> = spans.iter().filter(|s| s.attribute("db.system.name").is_some()).collect();
    assert!(db.iter().any(|s| s.service == "notifications" && s.span.name == "SELECT notifications"), "{db:#?}");
    assert!(db.iter().any(|s| s.service == "users" && s.span.name == "SELECT users"));
    for span in &db {
        assert_eq!(span.span.kind, CLIENT);
        assert_eq!(span.attribute("db.system.name").as_deref(), Some("sqlite"));
        for key in ["db.operation.name", "db.collection.name", "db.query.text"] {
            assert!(span.attribute(key).is_some(), "{key} on {}", span.span.name);
        }
    }
    // No tracing-opentelemetry bookkeeping leaks into the spans.
    assert!(spans.iter().all(|s| s.attribute("busy_ns").is_none() && s.attribute("code.filepath").is_none()));

    // The key reached the receiver as the Honeycomb header, gzip-compressed as asked.
    let exports = receiver.exports();
    assert!(exports.iter().all(|e| e.gzip));
    assert!(exports.iter().all(|e| e.headers.contains(&("x-honeycomb-team".to_owned(), API_KEY.to_owned()))));
    assert_no_secret(&stack, &receiver.spans());
}

/// A message page: the edge asks users (the acting user and the other
/// person) and notifications, which asks users for the authors; each store
/// answers with a DB span.
#[tokio::test]
async fn a_message_page_is_one_trace_across_three_services() {
    let receiver = Receiver::start();
    let stack = start_stack(&receiver.endpoint, &[]);
    let response = reqwest::Client::new().get(stack.activities.url("/api/messages/@bayko")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let trace_id = trace_id_of(&response);
    let spans = receiver
        .wait_for_trace(&trace_id, |spans| {
            servers(spans, "activities").len() == 1
                && servers(spans, "notifications").len() == 1
                && servers(spans, "users").len() == 3
        })
        .await;
    let edge = servers(&spans, "activities")[0];
    assert_eq!(edge.span.name, "GET /api/messages/@{handle}");
    assert_eq!(edge.attribute("user.handle").as_deref(), Some("andrewbrown"));
    let inbox = servers(&spans, "notifications")[0];
    assert_eq!(inbox.span.name, "GET /api/messages");
    let by_id = |id: &str| spans.iter().find(|s| s.span_id() == id);
    let caller = by_id(&inbox.parent_span_id()).expect("the edge's client span");
    assert_eq!((caller.service.as_str(), caller.span.kind), ("activities", CLIENT));
    let users_callers: Vec<String> = servers(&spans, "users")
        .iter()
        .map(|server| by_id(&server.parent_span_id()).expect("a client span").service.clone())
        .collect();
    assert_eq!(users_callers.iter().filter(|s| *s == "notifications").count(), 1, "{users_callers:?}");
    let db: Vec<_> = spans.iter().filter(|s| s.attribute("db.system.name").is_some()).collect();
    assert!(db.iter().any(|s| s.service == "notifications" && s.span.name == "SELECT messages"), "{db:#?}");
    assert!(db.iter().any(|s| s.service == "users" && s.span.name == "SELECT users"));
}

/// The API key is in no span attribute, log line or error output.
fn assert_no_secret(stack: &Stack, spans: &[ReceivedSpan]) {
    for span in spans {
        for (key, value) in span.attributes() {
            assert!(!value.contains(API_KEY), "{key} on {} carries the key", span.span.name);
        }
    }
    for service in [&stack.users, &stack.notifications, &stack.activities] {
        let lines = service.stdout_lines();
        assert!(lines.len() > 3, "the service logged");
        assert!(lines.iter().any(|l| l.contains("x-honeycomb-team")), "the header name is logged");
        for line in lines.iter().chain(std::iter::once(&service.stderr())) {
            assert!(!line.contains(API_KEY), "the key leaked: {line}");
            assert!(!line.contains("TEST0SECRET"), "part of the key leaked: {line}");
        }
    }
}

#[tokio::test]
async fn inbound_trace_headers_are_continued_and_w3c_wins() {
    let receiver = Receiver::start();
    let stack = start_stack(&receiver.endpoint, &[]);
    let client = reqwest::Client::new();
    let home = stack.activities.url("/api/activities/home");
    let edge_of = |trace: String| {
        let receiver = &receiver;
        async move {
            let spans = receiver.wait_for_trace(&trace, |spans| !servers(spans, "activities").is_empty()).await;
            servers(&spans, "activities")[0].clone()
        }
    };

    let w3c_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = client
        .get(&home)
        .header("traceparent", format!("00-{w3c_trace}-00f067aa0ba902b7-01"))
        .header("tracestate", "vendor=opaque")
        .send()
        .await
        .unwrap();
    assert_eq!(trace_id_of(&response), w3c_trace);
    assert_eq!(edge_of(w3c_trace.to_owned()).await.parent_span_id(), "00f067aa0ba902b7");

    let xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let response = client.get(&home).header("x-amzn-trace-id", xray).send().await.unwrap();
    let xray_trace = "5759e988bd862e3fe1be46a994272793";
    assert_eq!(trace_id_of(&response), xray_trace);
    assert_eq!(edge_of(xray_trace.to_owned()).await.parent_span_id(), "53995c3f42cd8ad8");

    let response = client
        .get(&home)
        .header("x-amzn-trace-id", xray)
        .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .send()
        .await
        .unwrap();
    assert_eq!(trace_id_of(&response), "0af7651916cd43dd8448eb211c80319c", "W3C wins over X-Ray");

    for garbage in ["00-zz-yy-01", "00-00000000000000000000000000000000-b7ad6b7169203331-01", "\u{7f}"] {
        let response = client.get(&home).header("traceparent", garbage).send().await;
        let Ok(response) = response else { continue };
        assert_eq!(response.status(), 200, "{garbage:?}");
        let trace = trace_id_of(&response);
        assert_ne!(trace, "00000000000000000000000000000000");
    }
    let response = client.get(&home).header("x-amzn-trace-id", "Root=nonsense;Parent=x").send().await.unwrap();
    assert_eq!(response.status(), 200);
    trace_id_of(&response);

    // Only W3C's exact form is continued (the SDK's parser took these).
    for (malformed, would_continue) in [
        ("00-1-2-01", "00000000000000000000000000000001"),
        ("00-+af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "0af7651916cd43dd8448eb211c80319c"),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-", "0af7651916cd43dd8448eb211c80319c"),
    ] {
        let response = client.get(&home).header("traceparent", malformed).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_ne!(trace_id_of(&response), would_continue, "{malformed}");
    }
    drop(stack);
}

/// The users service alone, exporting to `receiver` in batches 100 ms
/// apart, with `extra` variables; and its data directory.
fn users_exporting_to(receiver: &Receiver, extra: &[(&str, &str)]) -> (Service, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut env = vec![
        ("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    env.extend_from_slice(extra);
    (Service::start("users", &env), data)
}

/// `OTEL_SDK_DISABLED=true` turns spans off, not propagation (the SDK
/// environment variables' specification): a service in the middle with
/// telemetry off still hands the caller's trace to the services it calls.
#[tokio::test]
async fn with_the_sdk_disabled_trace_headers_still_pass_through() {
    let receiver = Receiver::start();
    let (users, data) = users_exporting_to(&receiver, &[]);
    let users_url = users.url("");
    let data_dir = data.path().to_str().unwrap();
    let activities = Service::start(
        "activities",
        &[("CRUDDUR_DATA_DIR", data_dir), ("OTEL_SDK_DISABLED", "true"), ("USERS_URL", &users_url)],
    );
    let (trace, caller) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let response = reqwest::Client::new()
        .get(activities.url("/api/activities/home"))
        .header("traceparent", format!("00-{trace}-{caller}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("traceresponse").is_none(), "the edge made no span to name");

    let spans = receiver.wait_for_trace(trace, |spans| !servers(spans, "users").is_empty()).await;
    let users_span = servers(&spans, "users")[0];
    assert_eq!(users_span.parent_span_id(), caller, "users continues the edge's caller");
    assert!(spans.iter().all(|span| span.service == "users"), "the edge exported nothing");
    drop((activities, users));
}

/// A collector that answers 503 and 429 for a while (a restart, a rate
/// limit) gets the batch once it recovers: OTLP's retryable answers are
/// tried again, as the exporter specification asks.
#[tokio::test]
async fn spans_refused_for_a_while_arrive_once_the_collector_recovers() {
    let receiver = Receiver::start_failing(&[503, 429, 502]);
    let (users, _data) = users_exporting_to(&receiver, &[]);
    let response = reqwest::get(users.url("/api/health-check")).await.unwrap();
    let trace = trace_id_of(&response);
    let spans = receiver.wait_for_trace(&trace, |spans| !servers(spans, "users").is_empty()).await;
    assert_eq!(servers(&spans, "users")[0].span.name, "GET /api/health-check");
    assert_eq!(receiver.failures_left(), 0, "every refusal was answered to some export");
    // Every refused batch was sent again: none was given up, so none is said lost.
    let lines = users.stdout_lines();
    assert!(!lines.iter().any(|line| line.contains("span export failed")), "{lines:#?}");
    drop(users);
}

/// `OTEL_RESOURCE_ATTRIBUTES` is percent-decoded, as the resource SDK
/// specification says (`,` and `=` in a value must be escaped).
#[tokio::test]
async fn resource_attributes_arrive_decoded() {
    let receiver = Receiver::start();
    let (users, _data) =
        users_exporting_to(&receiver, &[("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=my%20env,team=a%2Cb")]);
    let response = reqwest::get(users.url("/api/health-check")).await.unwrap();
    receiver.wait_for_trace(&trace_id_of(&response), |spans| !spans.is_empty()).await;
    let resource = &receiver.exports()[0].resources[0];
    for expected in [("deployment.environment", "my env"), ("team", "a,b"), ("service.name", "users")] {
        assert!(resource.iter().any(|(k, v)| (k.as_str(), v.as_str()) == expected), "{expected:?} in {resource:?}");
    }
    drop(users);
}

/// `count` home requests, each answered 200, a little apart so batches go
/// out between them; then SIGTERM to the edge. Its stdout lines.
async fn home_requests_then_stop(mut stack: Stack, count: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    for _ in 0..count {
        let response = client.get(stack.activities.url("/api/activities/home")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    stack.activities.signal("TERM");
    assert!(stack.activities.wait(Duration::from_secs(20)).success());
    stack.activities.stdout_lines()
}

#[tokio::test]
async fn an_unreachable_exporter_costs_spans_not_requests_and_is_reported_once() {
    // Nothing listens: every export fails at once.
    let closed = e2e::closed_port_url();
    let lines = home_requests_then_stop(start_stack(&closed, &[("OTEL_BSP_SCHEDULE_DELAY", "20")]), 20).await;
    let reported = lines.iter().filter(|l| l.contains("span export failed")).count();
    assert_eq!(reported, 1, "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("spans lost to export failures") && l.contains("lost_spans")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn an_exporter_that_refuses_the_key_is_reported_as_such_once() {
    let refusing = e2e::answering_peer_url(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
            .to_owned(),
    );
    let lines = home_requests_then_stop(start_stack(&refusing, &[("OTEL_BSP_SCHEDULE_DELAY", "20")]), 10).await;
    let failed: Vec<&String> = lines.iter().filter(|l| l.contains("span export failed")).collect();
    assert_eq!(failed.len(), 1, "{lines:#?}");
    assert!(failed[0].contains("403") && failed[0].contains("rejected: check the API key"), "{}", failed[0]);
    assert!(lines.iter().all(|l| !l.contains(API_KEY)), "the key is never logged");
}

#[tokio::test]
async fn a_silent_exporter_does_not_slow_requests() {
    // Accepts connections and never answers: each export waits out its timeout.
    // The X-Ray daemon is gone too: nothing listens on its UDP port.
    let (endpoint, silent) = e2e::silent_peer_url();
    let gone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let stack = start_stack(
        &endpoint,
        &[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
            ("OTEL_BSP_SCHEDULE_DELAY", "10"),
            ("AWS_XRAY_DAEMON_ADDRESS", &gone),
        ],
    );
    let client = reqwest::Client::new();
    let started = Instant::now();
    for _ in 0..30 {
        let response = client.get(stack.activities.url("/api/activities/home")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // Were export on the request path, 30 requests would wait 30 × 5 s;
    // all of them together take less than one export timeout.
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    drop(silent);
}

/// While an exporter does not answer, spans pile up in its queue only up to
/// TELEMETRY_SPAN_QUEUE_BYTES, however large each span is (here: 4 KiB
/// queries, 40 spans, far below the 2,048-span count bound).
#[tokio::test]
async fn spans_held_for_a_silent_exporter_are_bounded_in_bytes() {
    let (endpoint, silent) = e2e::silent_peer_url();
    let data = tempfile::tempdir().unwrap();
    let env = [
        ("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000"),
        ("OTEL_BSP_SCHEDULE_DELAY", "10"),
        ("TELEMETRY_SPAN_QUEUE_BYTES", "65536"),
        ("TELEMETRY_SHUTDOWN_TIMEOUT_MS", "500"),
    ];
    let mut users = Service::start("users", &env);
    let padding = "x".repeat(4096);
    for _ in 0..40 {
        let url = users.url(&format!("/api/health-check?padding={padding}"));
        assert_eq!(reqwest::get(url).await.unwrap().status(), 200);
    }
    users.signal("TERM");
    assert!(users.wait(Duration::from_secs(30)).success(), "{}", users.stderr());
    let lines = users.stdout_lines();
    let full: Vec<&String> = lines.iter().filter(|l| l.contains("span queue full")).collect();
    assert_eq!(full.len(), 1, "said once: {lines:#?}");
    let dropped =
        lines.iter().find(|l| l.contains("spans dropped by a full span queue")).unwrap_or_else(|| panic!("{lines:#?}"));
    let line: serde_json::Value = serde_json::from_str(dropped).unwrap();
    // 64 KiB holds at most 15 spans of 4 KiB: most of the 40 were turned away.
    assert!(line["dropped_spans"].as_u64().unwrap() >= 25, "{line}");
    drop(silent);
}

/// Exporters that never answer cannot hold a stop past its budget: spans and
/// CloudWatch share TELEMETRY_SHUTDOWN_TIMEOUT_MS, and what was not flushed
/// is said.
#[tokio::test]
async fn a_stop_with_silent_exporters_ends_within_the_shutdown_budget_and_says_what_was_lost() {
    let (endpoint, silent) = e2e::silent_peer_url();
    let data = tempfile::tempdir().unwrap();
    let env = [
        ("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000"),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ("CLOUDWATCH_LOG_GROUP", "cruddur"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("TELEMETRY_SHUTDOWN_TIMEOUT_MS", "1500"),
    ];
    let mut users = Service::start("users", &env);
    for _ in 0..5 {
        assert_eq!(reqwest::get(users.url("/api/health-check")).await.unwrap().status(), 200);
    }
    let signalled = Instant::now();
    users.signal("TERM");
    assert!(users.wait(Duration::from_secs(30)).success(), "{}", users.stderr());
    // The budget, plus the stdout writer and process exit: far from the
    // 30 s export timeout and the old 5 s + 10 s.
    assert!(signalled.elapsed() < Duration::from_millis(1500 + 2500), "{:?}", signalled.elapsed());
    let lines = users.stdout_lines();
    assert!(lines.iter().any(|l| l.contains("spans still buffered at shutdown were not flushed")), "{lines:#?}");
    drop(silent);
}

#[tokio::test]
async fn spans_of_the_last_requests_arrive_after_sigterm() {
    let receiver = Receiver::start();
    // A long schedule: nothing is exported before shutdown forces it.
    let mut stack = start_stack(&receiver.endpoint, &[("OTEL_BSP_SCHEDULE_DELAY", "600000")]);
    let response = reqwest::get(stack.activities.url("/api/activities/home")).await.unwrap();
    let trace_id = trace_id_of(&response);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.spans().iter().all(|s| s.service != "activities"), "nothing exported before shutdown");
    stack.activities.signal("TERM");
    assert!(stack.activities.wait(Duration::from_secs(20)).success());
    let spans = receiver.wait_for_trace(&trace_id, |spans| !servers(spans, "activities").is_empty()).await;
    let server = servers(&spans, "activities")[0];
    assert_eq!(server.span.name, "GET /api/activities/home");
    // The seed journal's custom span, as a child of the request.
    let home = spans.iter().find(|s| s.span.name == "home-activities").expect("the home-activities span");
    assert_eq!(home.parent_span_id(), server.span_id());
    assert_eq!(home.int_attribute("app.result_length"), Some(4), "an int, as the journal's Python sets it");
    let now = home.attribute("app.now").expect("app.now");
    assert!(now.ends_with("+00:00") && now.len() > 20, "{now}");
    // One statement reads the page and its replies: one query span.
    let queries: Vec<_> =
        spans.iter().filter(|s| s.service == "activities" && s.span.name == "SELECT activities").collect();
    assert_eq!(queries.len(), 1, "{queries:#?}");
    assert_eq!(queries[0].parent_span_id(), home.span_id());
}

#[test]
fn an_endpoint_without_a_scheme_stops_the_service_at_start() {
    let (status, _, stderr) = crate::process::run(
        "users",
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "api.honeycomb.io:443"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=k"),
        ],
    );
    assert_eq!(status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{stderr}");
}

#[tokio::test]
async fn failures_mark_spans_as_errors_and_log_lines_carry_the_trace() {
    let receiver = Receiver::start();
    let data = tempfile::tempdir().unwrap();
    let closed = e2e::closed_port_url();
    let users = Service::start(
        "users",
        &[("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()), ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint)],
    );
    let users_url = users.url("");
    let env = [
        ("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("USERS_URL", users_url.as_str()),
        ("NOTIFICATIONS_URL", closed.as_str()),
    ];
    let activities = Service::start("activities", &env);
    let client = reqwest::Client::new();

    // The notifications service is down: the reply is stored, the failure logged inside the request.
    let reply = client
        .post(activities.url(&format!("/api/activities/{}/reply", contracts::seed::PRUNE_JUICE)))
        .json(&serde_json::json!({"message": "Anyone?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let trace_id = trace_id_of(&reply);
    let spans = receiver
        .wait_for_trace(&trace_id, |spans| {
            spans.iter().any(|s| {
                s.service == "activities"
                    && s.span.kind == CLIENT
                    && s.span.status.as_ref().is_some_and(|st| st.code == 2)
            })
        })
        .await;
    let failed_call =
        spans.iter().find(|s| s.span.kind == CLIENT && s.span.status.as_ref().is_some_and(|st| st.code == 2)).unwrap();
    assert!(failed_call.attribute("error.message").is_some(), "{failed_call:#?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = activities.stdout_lines();
    let logged = lines.iter().find(|l| l.contains("notification was not sent")).expect("the failure is logged");
    let line: serde_json::Value = serde_json::from_str(logged).unwrap();
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["trace_id"], trace_id.as_str());
    assert_eq!(line["span_id"].as_str().map(str::len), Some(16));

    // A 5xx answer (users gone) marks the server span as an error.
    drop(users);
    let response = client.get(activities.url("/api/activities/home")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let trace_id = trace_id_of(&response);
    let spans = receiver.wait_for_trace(&trace_id, |spans| !servers(spans, "activities").is_empty()).await;
    let server = servers(&spans, "activities")[0];
    let status = server.span.status.as_ref().expect("a status");
    assert_eq!(status.code, 2, "ERROR");
    assert!(status.message.contains("users"), "{status:?}");
    assert_eq!(server.attribute("error.type").as_deref(), Some("503"));
    assert_eq!(server.attribute("http.response.status_code").as_deref(), Some("503"));

    // A 4xx is the client's mistake: not an error of the server span.
    let response = client.get(activities.url("/api/activities/search?term=")).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let trace_id = trace_id_of(&response);
    let spans = receiver.wait_for_trace(&trace_id, |spans| !servers(spans, "activities").is_empty()).await;
    assert!(servers(&spans, "activities")[0].span.status.as_ref().is_none_or(|s| s.code != 2));
}
