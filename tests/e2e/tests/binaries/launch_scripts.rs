//! The Honeycomb key check against a loopback stand-in of its auth endpoint,
//! and the traffic generator against the running stack.

use std::{path::PathBuf, process::Command};

use actix_web::{HttpRequest, HttpResponse, web};

use crate::stack::start_stack;

const GOOD_KEY: &str = "hcaik_GOOD0KEY0000000000000000000000000000000000";

fn script(name: &str) -> Command {
    let mut command = Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts").join(name));
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// Honeycomb's `GET /1/auth`: team and environment for the good key, 401 otherwise.
fn honeycomb_auth() -> String {
    e2e::serve_on_loopback(|config| {
        config.route(
            "/1/auth",
            web::get().to(|request: HttpRequest| async move {
                match request.headers().get("x-honeycomb-team").and_then(|v| v.to_str().ok()) {
                    Some(GOOD_KEY) => HttpResponse::Ok().json(serde_json::json!({
                        "id": "abc",
                        "type": "configuration",
                        "api_key_access": {"events": true, "markers": true},
                        "environment": {"name": "cruddur-dev", "slug": "cruddur-dev"},
                        "team": {"name": "Cruddur", "slug": "cruddur"}
                    })),
                    _ => HttpResponse::Unauthorized().json(serde_json::json!({"error": "unknown API key"})),
                }
            }),
        );
    })
}

#[tokio::test]
async fn the_key_check_names_team_and_environment_or_refuses() {
    let endpoint = honeycomb_auth();
    let run = |key: Option<&'static str>| {
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || {
            let mut command = script("honeycomb-check-key");
            command.env("HONEYCOMB_API_ENDPOINT", endpoint);
            if let Some(key) = key {
                command.env("HONEYCOMB_API_KEY", key);
            }
            command.output().unwrap()
        })
    };
    let good = run(Some(GOOD_KEY)).await.unwrap();
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert!(good.status.success(), "{stdout}");
    assert!(stdout.contains("team Cruddur (cruddur)") && stdout.contains("environment cruddur-dev"), "{stdout}");
    assert!(!stdout.contains(GOOD_KEY));

    let wrong = run(Some("hcaik_wrong")).await.unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("refused the key"));
    let unset = run(None).await.unwrap();
    assert_eq!(unset.status.code(), Some(2));
}

#[tokio::test]
async fn the_traffic_generator_calls_every_route_without_a_5xx() {
    let stack = start_stack("http://127.0.0.1:9", &[("OTEL_TRACES_EXPORTER", "none")]);
    let backend = stack.activities.url("");
    let output =
        tokio::task::spawn_blocking(move || script("traffic").env("BACKEND", backend).arg("2").output().unwrap())
            .await
            .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2 * 16, "{stdout}");
    // Every call answered, 2xx for the routes and 4xx for the mistakes, each with its trace id.
    for line in &lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields[0].starts_with('2') || fields[0].starts_with('4'), "{line}");
        assert_eq!(fields[3].len(), 32, "{line}");
    }
    assert!(lines.iter().any(|l| l.starts_with("422 POST  /api/activities")));
    assert!(lines.iter().any(|l| l.starts_with("200 POST  /api/messages")));

    // --load: a bounded mix at a set rate, summarised.
    let backend = stack.activities.url("");
    let args = ["--load", "--rate", "40", "--concurrency", "3", "--duration", "2", "--requests", "60"];
    let output =
        tokio::task::spawn_blocking(move || script("traffic").env("BACKEND", backend).args(args).output().unwrap())
            .await
            .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let summary = stdout.lines().next().unwrap();
    let requests: usize = summary.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((1..=60).contains(&requests), "bounded by count and time: {summary}");
    assert!(summary.contains("2xx") && !summary.contains("5xx") && !summary.contains("failed"), "{summary}");
    assert!(stdout.lines().any(|l| l.starts_with("latency ms: p50")), "{stdout}");
    let traces: Vec<&str> = stdout.lines().filter(|l| l.starts_with("trace ")).collect();
    assert_eq!(traces.len(), 3, "{stdout}");
    assert!(traces.iter().all(|l| l.split_whitespace().nth(1).unwrap().len() == 32), "{stdout}");
}
