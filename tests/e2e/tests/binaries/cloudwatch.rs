//! Logs shipped to CloudWatch Logs, checked against moto's server, and a
//! CloudWatch that fails, played by a loopback stand-in.

mod stub;

use std::time::{Duration, Instant};

use serde_json::Value;

use self::stub::StubCloudWatch;
use crate::{
    moto::Moto,
    otlp::{Receiver, servers},
    process::Service,
    stack::{start_stack, trace_id_of},
};

/// Must never appear in a log line, here or in CloudWatch.
const SECRET_KEY: &str = "wJalrXUtnFEMI0K7MDENG0bPxRfiCYSECRETKEY";

fn aws_env(moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("CLOUDWATCH_LOG_GROUP", "cruddur".to_owned()),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "AKIDTESTING".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
        // Only the variable the seed journal had to use: it must be enough.
        ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
    ]
}

/// Every event of the `cruddur` group: (stream, parsed message).
async fn events(moto: &Moto) -> Vec<(String, Value)> {
    let client = moto.logs();
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let Ok(page) = client.filter_log_events().log_group_name("cruddur").set_next_token(token).send().await else {
            return all;
        };
        for event in page.events() {
            let message: Value = serde_json::from_str(event.message().unwrap_or_default())
                .unwrap_or_else(|err| panic!("{err}: {:?}", event.message()));
            all.push((event.log_stream_name().unwrap_or_default().to_owned(), message));
        }
        match page.next_token() {
            Some(next) if !page.events().is_empty() => token = Some(next.to_owned()),
            _ => return all,
        }
    }
}

async fn wait_for_events(moto: &Moto, done: impl Fn(&[(String, Value)]) -> bool) -> Vec<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = events(moto).await;
        if done(&all) {
            return all;
        }
        assert!(Instant::now() < deadline, "CloudWatch never got the lines: {all:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn request_line<'a>(all: &'a [(String, Value)], service: &str, path: &str) -> Option<&'a (String, Value)> {
    all.iter().find(|(_, line)| line["service"] == service && line["message"] == "request" && line["path"] == path)
}

#[tokio::test]
async fn request_lines_reach_cloudwatch_tied_to_their_traces() {
    let moto = Moto::start();
    let receiver = Receiver::start();
    let env = aws_env(&moto);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pairs.extend([
        ("CLOUDWATCH_FLUSH_INTERVAL_MS", "200"),
        ("CLOUDWATCH_RETENTION_DAYS", "7"),
        // The shipper's own AWS SDK activity at debug must still not be shipped.
        ("CLOUDWATCH_LOG_LEVEL", "debug"),
    ]);
    let stack = start_stack(&receiver.endpoint, &pairs);
    let client = reqwest::Client::new();
    let home = client.get(stack.activities.url("/api/activities/home?page=1")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let home_trace = trace_id_of(&home);
    let notifications = client.get(stack.activities.url("/api/activities/notifications")).send().await.unwrap();
    let notifications_trace = trace_id_of(&notifications);

    let all = wait_for_events(&moto, |all| {
        request_line(all, "activities", "/api/activities/home?page=1").is_some()
            && all.iter().any(|(_, l)| l["service"] == "users" && l["trace_id"] == notifications_trace.as_str())
            && all.iter().any(|(_, l)| l["service"] == "notifications" && l["trace_id"] == notifications_trace.as_str())
    })
    .await;

    // The seed's request line, as structured fields, at info.
    let (stream, line) = request_line(&all, "activities", "/api/activities/home?page=1").unwrap();
    assert!(stream.starts_with("activities/"), "{stream}");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["scheme"], "http");
    assert_eq!(line["status"], 200);
    assert_eq!(line["client_address"], "127.0.0.1");
    assert!(line["duration_ms"].as_f64().is_some());
    // Tied to the trace the OTLP receiver got, in both forms.
    assert_eq!(line["trace_id"], home_trace.as_str());
    assert_eq!(line["xray_trace_id"], format!("1-{}-{}", &home_trace[..8], &home_trace[8..]).as_str());
    // Formatted once for both: stdout's line for the request is the same JSON.
    let stdout_line = stack
        .activities
        .stdout_lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "request" && l["path"] == "/api/activities/home?page=1")
        .expect("the request line on stdout");
    assert_eq!(&stdout_line, line);
    let spans = receiver.wait_for_trace(&home_trace, |spans| !servers(spans, "activities").is_empty()).await;
    assert_eq!(servers(&spans, "activities")[0].trace_id(), line["trace_id"].as_str().unwrap());
    // The home feed's info line, in the same trace.
    let info = all.iter().find(|(_, l)| l["message"] == "home activities requested").expect("the home info line");
    assert_eq!((info.1["level"].as_str(), info.1["trace_id"].as_str()), (Some("INFO"), Some(home_trace.as_str())));

    // One stream per service instance, named after the service.
    let streams: Vec<&str> = all.iter().map(|(stream, _)| stream.as_str()).collect();
    for service in ["activities/", "users/", "notifications/"] {
        assert!(streams.iter().any(|s| s.starts_with(service)), "{streams:?}");
    }
    // No feedback loop: the shipper's SDK, HTTP and TLS never show up.
    for (_, line) in &all {
        let target = line["target"].as_str().unwrap_or_default();
        assert!(!["aws_", "hyper", "h2", "rustls", "tower"].iter().any(|p| target.starts_with(p)), "{line}");
    }
    let groups = moto.logs().describe_log_groups().log_group_name_prefix("cruddur").send().await.unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(7));

    // The secret key is nowhere.
    for (_, line) in &all {
        assert!(!line.to_string().contains(SECRET_KEY));
    }
    for service in [&stack.users, &stack.notifications, &stack.activities] {
        assert!(service.stdout_lines().iter().all(|l| !l.contains(SECRET_KEY)));
        assert!(!service.stderr().contains(SECRET_KEY));
    }
}

#[tokio::test]
async fn lines_logged_just_before_sigterm_reach_cloudwatch() {
    let moto = Moto::start();
    let data = tempfile::tempdir().unwrap();
    let env = aws_env(&moto);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Nothing would be sent before shutdown but for the final flush.
    pairs.extend([("CLOUDWATCH_FLUSH_INTERVAL_MS", "600000"), ("CRUDDUR_DATA_DIR", data.path().to_str().unwrap())]);
    let mut users = Service::start("users", &pairs);
    let response = reqwest::get(users.url("/api/users/@worf/short")).await.unwrap();
    assert_eq!(response.status(), 200);
    users.signal("TERM");
    assert!(users.wait(Duration::from_secs(30)).success());
    let all = events(&moto).await;
    let (_, line) = request_line(&all, "users", "/api/users/@worf/short").expect("the last request's line");
    assert_eq!(line["status"], 200);
}

#[tokio::test]
async fn a_stream_or_group_deleted_while_running_is_created_again() {
    let moto = Moto::start();
    let data = tempfile::tempdir().unwrap();
    let env = aws_env(&moto);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pairs.extend([("CLOUDWATCH_FLUSH_INTERVAL_MS", "100"), ("CRUDDUR_DATA_DIR", data.path().to_str().unwrap())]);
    let mut users = Service::start("users", &pairs);
    let client = reqwest::Client::new();
    let mut stream = None;
    // A line, then the stream deleted, then the whole group: each time the
    // next line must arrive, in a stream of the same name created again.
    for (n, delete) in ["stream", "group", "nothing"].into_iter().enumerate() {
        let path = format!("/api/health-check?n={n}");
        assert_eq!(client.get(users.url(&path)).send().await.unwrap().status(), 200);
        let all = wait_for_events(&moto, |all| request_line(all, "users", &path).is_some()).await;
        let (name, _) = request_line(&all, "users", &path).unwrap();
        assert_eq!(stream.get_or_insert_with(|| name.clone()), name);
        let logs = moto.logs();
        if delete == "stream" {
            logs.delete_log_stream().log_group_name("cruddur").log_stream_name(name).send().await.unwrap();
        } else if delete == "group" {
            logs.delete_log_group().log_group_name("cruddur").send().await.unwrap();
        }
    }
    users.signal("TERM");
    assert!(users.wait(Duration::from_secs(30)).success());
    let lines = users.stdout_lines();
    assert!(lines.iter().all(|l| !l.contains("log lines not shipped to CloudWatch")), "{lines:#?}");
}

#[tokio::test]
async fn a_role_that_may_not_create_the_group_ships_to_the_group_that_exists() {
    // Least privilege: logs:CreateLogStream and logs:PutLogEvents only, the
    // group made beforehand (moto checks no permissions: a stand-in plays it).
    let cloudwatch =
        StubCloudWatch::start(|operation| (operation == "CreateLogGroup").then_some("AccessDeniedException"));
    let data = tempfile::tempdir().unwrap();
    let pairs = fake_cloudwatch_env(&cloudwatch.endpoint, &data);
    let mut users = Service::start("users", &pairs);
    let response = reqwest::get(users.url("/api/health-check?least=privilege")).await.unwrap();
    assert_eq!(response.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cloudwatch.shipped().iter().any(|l| l["path"] == "/api/health-check?least=privilege") {
        assert!(Instant::now() < deadline, "never shipped: {:?}", cloudwatch.operations());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The stream was created first; the group, there already, was never asked for.
    let operations = cloudwatch.operations();
    assert_eq!(operations[..2], ["CreateLogStream", "PutLogEvents"], "{operations:?}");
    assert!(!operations.iter().any(|o| o == "CreateLogGroup"), "{operations:?}");
    users.signal("TERM");
    assert!(users.wait(Duration::from_secs(30)).success());
    let lines = users.stdout_lines();
    assert!(lines.iter().all(|l| !l.contains("CloudWatch Logs export failed")), "{lines:#?}");
}

/// A CloudWatch that answers every call with throttling.
fn throttling_cloudwatch() -> String {
    let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    e2e::answering_peer_url(format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.1\r\nx-amzn-errortype: ThrottlingException\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// A CloudWatch behind something that refuses the credentials with a bare
/// 403 (a proxy or a policy), no AWS error code in the answer.
pub(crate) fn forbidding_cloudwatch() -> String {
    e2e::answering_peer_url("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned())
}

/// A service shipping to the fake CloudWatch at `endpoint`, flushing often.
pub(crate) fn fake_cloudwatch_env<'a>(endpoint: &'a str, data: &'a tempfile::TempDir) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CLOUDWATCH_LOG_GROUP", "cruddur"),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "AKIDTESTING"),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
        ("CLOUDWATCH_FLUSH_INTERVAL_MS", "50"),
        ("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()),
    ]
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_throttling_cloudwatch_costs_lines_not_requests_and_memory_stays_bounded() {
    let data = tempfile::tempdir().unwrap();
    let endpoint = throttling_cloudwatch();
    let mut pairs = fake_cloudwatch_env(&endpoint, &data);
    pairs.push(("CLOUDWATCH_BUFFER_EVENTS", "200"));
    let mut users = Service::start("users", &pairs);
    let client = reqwest::Client::new();
    let url = users.url("/api/health-check");
    // Warm up, then measure memory across a burst far larger than the buffer.
    for _ in 0..200 {
        assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    }
    let before = rss_kib(users.pid());
    for _ in 0..3000 {
        assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    }
    let after = rss_kib(users.pid());
    assert!(after.saturating_sub(before) < 16 * 1024, "RSS grew from {before} KiB to {after} KiB");

    users.signal("TERM");
    assert!(users.wait(Duration::from_secs(60)).success());
    let lines = users.stdout_lines();
    let failed = lines.iter().filter(|l| l.contains("CloudWatch Logs export failed")).count();
    assert_eq!(failed, 1, "reported once: {lines:#?}");
    let full = lines.iter().filter(|l| l.contains("CloudWatch log queue full")).count();
    assert!(full <= 1, "reported once at most");
    let dropped = lines.iter().find(|l| l.contains("log lines not shipped to CloudWatch")).expect("the drop total");
    let dropped: Value = serde_json::from_str(dropped).unwrap();
    assert!(dropped["dropped_lines"].as_u64().unwrap() > 0);
    assert!(lines.iter().all(|l| !l.contains(SECRET_KEY)));
}

#[tokio::test]
async fn without_credentials_cloudwatch_is_off_and_said_so_once() {
    let data = tempfile::tempdir().unwrap();
    let pairs = [
        ("CLOUDWATCH_LOG_GROUP", "cruddur"),
        ("AWS_REGION", "us-east-1"),
        // No credentials anywhere: not in the environment, not in a profile.
        ("HOME", data.path().to_str().unwrap()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()),
    ];
    let mut users = Service::start("users", &pairs);
    for _ in 0..5 {
        let response = reqwest::get(users.url("/api/health-check")).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    users.signal("TERM");
    assert!(users.wait(Duration::from_secs(30)).success());
    let lines = users.stdout_lines();
    let off: Vec<_> = lines.iter().filter(|l| l.contains("CloudWatch Logs export off")).collect();
    assert_eq!(off.len(), 1, "{lines:#?}");
    assert!(off[0].contains("credentials"));
}

#[tokio::test]
async fn a_cloudwatch_that_refuses_the_credentials_is_reported_as_such_once() {
    let data = tempfile::tempdir().unwrap();
    let endpoint = forbidding_cloudwatch();
    let pairs = fake_cloudwatch_env(&endpoint, &data);
    let mut users = Service::start("users", &pairs);
    let client = reqwest::Client::new();
    for _ in 0..20 {
        assert_eq!(client.get(users.url("/api/health-check")).send().await.unwrap().status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    users.signal("TERM");
    assert!(users.wait(Duration::from_secs(60)).success());
    let lines = users.stdout_lines();
    let failed: Vec<&String> = lines.iter().filter(|l| l.contains("CloudWatch Logs export failed")).collect();
    assert_eq!(failed.len(), 1, "reported once: {lines:#?}");
    let failed: Value = serde_json::from_str(failed[0]).unwrap();
    let error = failed["error"].as_str().unwrap();
    assert!(error.starts_with("rejected (HTTP 403"), "{error}");
    assert!(error.contains("check the AWS credentials"), "{error}");
    // Twenty lines never fill the queue: lines logged after the shipper
    // stopped are not a full queue.
    assert!(lines.iter().all(|l| !l.contains("log queue full")), "{lines:#?}");
    assert!(lines.iter().all(|l| !l.contains(SECRET_KEY)));
}
