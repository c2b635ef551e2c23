//! `LOG_FORMAT`: human lines for a person, JSON for everything else.

use std::time::Duration;

use crate::{process::Service, stack::trace_id_of};

/// `21:30:06.123`
fn is_clock_time(text: &str) -> bool {
    text.len() == 12
        && text.bytes().enumerate().all(|(i, b)| match i {
            2 | 5 => b == b':',
            8 => b == b'.',
            _ => b.is_ascii_digit(),
        })
}

/// Waits for the access line of the request whose path is `path`.
async fn request_line(service: &Service, path: &str) -> String {
    for _ in 0..100 {
        if let Some(line) = service.stdout_lines().into_iter().find(|l| l.contains(path) && l.contains("request")) {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no request line for {path}: {:?}", service.stdout_lines());
}

#[tokio::test]
async fn human_lines_carry_time_service_level_message_and_a_short_trace_id() {
    let data = tempfile::tempdir().unwrap();
    let service =
        Service::start("users", &[("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()), ("LOG_FORMAT", "human")]);
    let response = reqwest::get(service.url("/api/users/@andrewbrown/short")).await.unwrap();
    assert_eq!(response.status(), 200);
    let trace_id = trace_id_of(&response);

    let line = request_line(&service, "/api/users/@andrewbrown/short").await;
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(is_clock_time(words[0]), "{line}");
    assert_eq!(&words[1..4], ["users", "INFO", "request"], "{line}");
    assert!(words.contains(&"status=200"), "the event's fields follow the message: {line}");
    // The last 8 hex digits: the first 8 are the trace's start time.
    assert_eq!(words.last(), Some(&format!("trace={}", &trace_id[24..]).as_str()), "{line}");
    // Not a terminal, so no escape sequences, and no line is JSON.
    for line in service.stdout_lines() {
        assert!(!line.contains('\x1b') && !line.starts_with('{'), "{line}");
    }
}

#[tokio::test]
async fn json_is_the_default_when_stdout_is_not_a_terminal() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start("users", &[("CRUDDUR_DATA_DIR", data.path().to_str().unwrap())]);
    let response = reqwest::get(service.url("/api/users/@andrewbrown/short")).await.unwrap();
    let trace_id = trace_id_of(&response);
    let line = request_line(&service, "/api/users/@andrewbrown/short").await;
    let json: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!((json["service"].as_str(), json["message"].as_str()), (Some("users"), Some("request")));
    assert_eq!(json["trace_id"], trace_id.as_str());
    for line in service.stdout_lines() {
        assert!(serde_json::from_str::<serde_json::Value>(&line).is_ok(), "{line}");
    }
}

/// A stdout nobody reads neither stalls requests nor holds more than
/// TELEMETRY_STDOUT_BUFFER_LINES lines: the rest are dropped, and how many is
/// said at shutdown.
#[tokio::test]
async fn lines_a_stalled_stdout_cannot_take_are_dropped_and_counted() {
    let data = tempfile::tempdir().unwrap();
    let env = [
        ("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()),
        ("OTEL_SDK_DISABLED", "true"),
        ("LOG_FORMAT", "json"),
        ("TELEMETRY_STDOUT_BUFFER_LINES", "16"),
    ];
    let mut users = Service::start("users", &env);
    users.hold_stdout();
    let client = reqwest::Client::new();
    // One access line each, ~250 bytes: far more than the pipe's 64 KiB and
    // the 16 queued lines together.
    for _ in 0..1000 {
        let response = client.get(users.url("/api/health-check")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    users.release_stdout();
    // Read until the writer has caught up (no new line for half a second),
    // so that the report at shutdown finds room in the queue.
    let mut seen = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = users.stdout_lines().len();
        if now == seen {
            break;
        }
        seen = now;
    }
    users.signal("TERM");
    assert!(users.wait(Duration::from_secs(30)).success(), "{}", users.stderr());
    let lines = users.stdout_lines();
    let report = lines
        .iter()
        .find(|l| l.contains("log lines stdout could not keep up with were dropped"))
        .unwrap_or_else(|| panic!("no drop report in {} lines", lines.len()));
    let report: serde_json::Value = serde_json::from_str(report).unwrap();
    let dropped = report["dropped_lines"].as_u64().unwrap();
    let access_lines = lines.iter().filter(|l| l.contains("/api/health-check")).count() as u64;
    // Every access line was either written or counted as dropped.
    assert!(dropped > 0 && access_lines < 1000, "dropped {dropped}, written {access_lines}");
    assert!(access_lines + dropped >= 1000, "dropped {dropped}, written {access_lines}");
}
