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
