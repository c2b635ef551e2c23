//! Faults while clients keep the edge busy (README, "Failure behaviour"): a
//! dependency killed and started again, exporters that are closed, silent or
//! refusing, and SIGTERM. Each asserts what every client saw, request by
//! request; bounds on time are generous (a loaded two-core CI machine), as
//! these check behaviour, not speed (that is scripts/bench).

use std::time::{Duration, Instant};

use crate::{
    cloudwatch::{fake_cloudwatch_env, forbidding_cloudwatch},
    load::{Answer, Load, Outcome, slow_proxy, tally},
    process::Service,
    stack::start_stack,
    xray::{ALWAYS, rules_file, stop},
};

/// Concurrent clients: more than the edge's two workers, few enough for two cores.
const CLIENTS: usize = 4;

fn answered(outcome: &Outcome, status: u16) -> bool {
    matches!(outcome.answer, Answer::Status(s, _) if s == status)
}

/// Only what README's failure table documents for a dependency that is down
/// (503 `upstream_unavailable`) or too slow (504 `upstream_timeout`).
fn documented_outage_answer(outcome: &Outcome) -> bool {
    match &outcome.answer {
        Answer::Status(200, _) => true,
        Answer::Status(503, Some(code)) => code == "upstream_unavailable",
        Answer::Status(504, Some(code)) => code == "upstream_timeout",
        _ => false,
    }
}

/// users (under the home feed) and notifications (under the notifications
/// page) are each SIGKILLed under load and started again on the same port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_killed_under_load_is_a_503_while_down_and_served_again_within_a_second_of_its_return() {
    let mut stack = start_stack("", &[("RUST_LOG", "info")]);
    for (dependency, path) in [("users", "/api/activities/home"), ("notifications", "/api/activities/notifications")] {
        let load = Load::start(&stack.activities.url(path), CLIENTS);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let killed = Instant::now();
        tokio::task::block_in_place(|| stack.kill(dependency));
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let restarting = Instant::now();
        tokio::task::block_in_place(|| stack.restart(dependency));
        let back = Instant::now();
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let outcomes = load.stop().await;
        let summary = format!("{dependency}: {:?}", tally(&outcomes));

        let before: Vec<&Outcome> = outcomes.iter().filter(|o| o.sent < killed).collect();
        let down: Vec<&Outcome> = outcomes.iter().filter(|o| o.sent >= killed && o.sent < restarting).collect();
        let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.sent >= back + Duration::from_secs(1)).collect();
        assert!(!before.is_empty() && !down.is_empty() && !after.is_empty(), "{summary}");
        // Requests already in flight at the kill may see it too.
        assert!(outcomes.iter().all(documented_outage_answer), "{summary}");
        assert!(outcomes.iter().filter(|o| o.sent < killed - Duration::from_millis(200)).all(|o| answered(o, 200)));
        assert!(down.iter().any(|o| answered(o, 503)), "the outage was seen: {summary}");
        assert!(
            down.iter().filter(|o| o.sent > killed + Duration::from_millis(200)).all(|o| answered(o, 503)),
            "down is a 503 at once, not a wait: {summary}"
        );
        assert!(after.iter().all(|o| answered(o, 200)), "2xx within a second of its return: {summary}");
    }
    assert!(!stack.stderr().contains("panicked"), "{}", stack.stderr());
    stop(stack);
}

/// The three exporters at once (OTLP, CloudWatch Logs, and the X-Ray daemon
/// with every request sampled), each failing one way, under load: no client
/// notices, and each service still stops cleanly within its budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporters_closed_silent_or_refusing_under_load_fail_no_request() {
    let rules = rules_file(ALWAYS);
    let (silent_url, _silent) = e2e::silent_peer_url();
    // A UDP port nobody reads (the datagrams queue up unread) and one nobody has.
    let silent_daemon = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let gone_daemon = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let silent_daemon_address = silent_daemon.local_addr().unwrap().to_string();
    for (fault, endpoint, daemon) in [
        ("closed", e2e::closed_port_url(), gone_daemon.as_str()),
        ("silent", silent_url.clone(), silent_daemon_address.as_str()),
        ("refusing (403)", forbidding_cloudwatch(), gone_daemon.as_str()),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut env = fake_cloudwatch_env(&endpoint, &data);
        env.extend([
            ("AWS_XRAY_DAEMON_ADDRESS", daemon),
            ("AWS_XRAY_SAMPLING_RULES", rules.path().to_str().unwrap()),
            ("OTEL_BSP_SCHEDULE_DELAY", "20"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
            ("TELEMETRY_SHUTDOWN_TIMEOUT_MS", "1000"),
            ("RUST_LOG", "info"),
        ]);
        let stack = start_stack(&endpoint, &env);
        // The notifications page crosses all three services.
        let load = Load::start(&stack.activities.url("/api/activities/notifications"), CLIENTS);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let outcomes = load.stop().await;
        let summary = format!("{fault}: {:?}", tally(&outcomes));
        assert!(outcomes.len() >= CLIENTS * 10, "{summary}");
        assert!(outcomes.iter().all(|o| answered(o, 200)), "{summary}");
        assert!(!stack.stderr().contains("panicked"), "{}", stack.stderr());
        let stopping = Instant::now();
        tokio::task::block_in_place(|| stop(stack));
        // Each service: the drain (nothing in flight) plus the 1 s telemetry budget.
        assert!(stopping.elapsed() < Duration::from_secs(15), "{fault}: stopped in {:?}", stopping.elapsed());
    }
    drop(silent_daemon);
}

/// SIGTERM to the edge while clients keep it busy, each request held 300 ms
/// by a slow users service so that many are in flight at the signal: every
/// request sent before the signal is answered, and the process exits within
/// the drain plus the telemetry budget, here with an exporter that never
/// answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_every_request_sent_and_exits_within_the_budget() {
    let (endpoint, _silent) = e2e::silent_peer_url();
    let data = tempfile::tempdir().unwrap();
    let users = Service::start("users", &[("CRUDDUR_DATA_DIR", data.path().to_str().unwrap())]);
    let slow_users = slow_proxy(users.port, Duration::from_millis(300));
    let (drain_ms, telemetry_ms) = (5000, 1000);
    let (drain, telemetry) = (drain_ms.to_string(), telemetry_ms.to_string());
    let mut activities = Service::start(
        "activities",
        &[
            ("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()),
            ("USERS_URL", &slow_users),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000"),
            ("SHUTDOWN_TIMEOUT_MS", &drain),
            ("TELEMETRY_SHUTDOWN_TIMEOUT_MS", &telemetry),
        ],
    );
    let load = Load::start(&activities.url("/api/activities/home"), CLIENTS);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let signalled = Instant::now();
    activities.signal("TERM");
    let exit = tokio::task::block_in_place(|| activities.wait(Duration::from_secs(60)));
    let stopped_in = signalled.elapsed();
    let outcomes = load.stop().await;
    let summary = format!("{:?}", tally(&outcomes));

    assert!(exit.success(), "{exit:?}: {}", activities.stderr());
    // Sent well before the signal (the client's clock is not the wire's on a
    // busy machine), answered well after it: in flight at the signal.
    let in_flight: Vec<&Outcome> =
        outcomes.iter().filter(|o| o.sent + Duration::from_millis(100) < signalled && o.done > signalled).collect();
    let before: Vec<&Outcome> = outcomes.iter().filter(|o| o.sent + Duration::from_millis(100) < signalled).collect();
    assert!(before.len() >= CLIENTS * 3, "{summary}");
    assert!(before.iter().all(|o| answered(o, 200)), "every request sent before the signal: {summary}");
    assert!(!in_flight.is_empty(), "some were in flight at the signal: {summary}");
    // After it: answered, or refused a new connection. A request sent on a
    // kept-alive connection just as the edge stops taking new ones is closed
    // unanswered without being started (actix-http drains a connection by
    // finishing its current request only): HTTP/1.1's keep-alive race, which
    // a client retries (RFC 9112, 9.3.1). At most once per connection: the
    // client's next request needs a new connection, and is refused.
    let lost = outcomes.iter().filter(|o| matches!(o.answer, Answer::Lost(_))).count();
    assert!(
        outcomes.iter().all(|o| answered(o, 200) || matches!(o.answer, Answer::Refused | Answer::Lost(_))),
        "{summary}"
    );
    assert!(lost <= CLIENTS, "at most one per client connection: {summary}");
    // The documented budget (actix counts the drain in whole seconds), plus
    // the process's own exit; generous for CI.
    let budget = Duration::from_millis(drain_ms + telemetry_ms);
    assert!(stopped_in < budget + Duration::from_secs(5), "stopped in {stopped_in:?}");
    let lines = activities.stdout_lines();
    assert!(lines.iter().any(|l| l.contains("finishing in-flight requests")), "{lines:#?}");
    assert!(!activities.stderr().contains("panicked"), "{}", activities.stderr());
}
