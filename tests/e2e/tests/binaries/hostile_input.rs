//! A corpus of hostile input against the three services as processes, with
//! telemetry as in production (every propagator parsing its header), once on
//! SQLite and once on PostgreSQL: malformed and oversized bodies, paths, and
//! the four trace headers (`traceparent`, `tracestate`, `baggage`,
//! `X-Amzn-Trace-Id`). No answer is a 5xx, the services stay healthy, nothing
//! panics, nothing is logged at ERROR, and no header value reaches a log line.
//! (tests/api/bad_input.rs checks the exact 4xx of each mistake in-process.)

use reqwest::{
    Method,
    header::{HeaderName, HeaderValue},
};

use crate::stack::{Database, start_stack_on};

/// Put in every hostile header value; must never show up in a log line.
const MARKER: &str = "HOSTILEHDR";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

struct Probe {
    method: Method,
    path: String,
    headers: Vec<(&'static str, HeaderValue)>,
    body: Option<(&'static str, Vec<u8>)>,
}

impl Probe {
    fn get(path: impl Into<String>) -> Self {
        Self { method: Method::GET, path: path.into(), headers: Vec::new(), body: None }
    }
}

fn value(bytes: impl AsRef<[u8]>) -> HeaderValue {
    HeaderValue::from_bytes(bytes.as_ref()).expect("a value HTTP can carry")
}

/// Malformed and oversized values of each trace header.
fn trace_header_values() -> Vec<(&'static str, HeaderValue)> {
    let oversized = |unit: &str| value(unit.repeat(8 * 1024 / unit.len() + 1));
    // Far past what proxies pass on (8–16 KiB): still answered, and as JSON.
    let huge = value(format!("{MARKER}{}", "x".repeat(100 * 1024)));
    let mut values = Vec::new();
    for traceparent in [
        MARKER.to_owned(),
        format!("00-{MARKER}-{PARENT}-01"),
        format!("00-{}-{PARENT}-01", "0".repeat(32)),
        format!("00-{TRACE}-{}-01", "0".repeat(16)),
        format!("ff-{TRACE}-{PARENT}-01"),
        format!("00-{TRACE}-{PARENT}-01-{MARKER}"),
        format!("cc-{TRACE}-{PARENT}-zz-{MARKER}"),
        format!("00-{}-{PARENT}-01", TRACE.to_uppercase()),
        format!("00-{TRACE}-{PARENT}-0x{MARKER}"),
        format!("00-{TRACE}{MARKER}"),
        "-".repeat(55),
    ] {
        values.push(("traceparent", value(traceparent)));
    }
    values.push(("traceparent", oversized(&format!("00-{TRACE}-{PARENT}-01,"))));
    values.push(("traceparent", value(b"00-\xff\xfe-\x80\x81-01")));
    for tracestate in [
        format!("xray=2,{MARKER}=1"),
        "xray=,xray=1,xray=0".to_owned(),
        format!("=,=,={MARKER}"),
        (0..40).map(|i| format!("k{i}={MARKER}")).collect::<Vec<_>>().join(","),
        format!("{}={MARKER}", "k".repeat(300)),
        format!("xray={}", MARKER.repeat(30)),
    ] {
        values.push(("tracestate", value(tracestate)));
    }
    values.push(("tracestate", oversized(&format!("a{MARKER}=b,"))));
    values.push(("tracestate", value(b"xray=\xff")));
    for baggage in [
        MARKER.to_owned(),
        format!("a=b,{MARKER};;;"),
        format!("%zz={MARKER}%zz"),
        format!("k=v;{MARKER}=;=;%"),
        (0..200).map(|i| format!("k{i}={MARKER}")).collect::<Vec<_>>().join(","),
        format!("{}=v", MARKER.repeat(500)),
    ] {
        values.push(("baggage", value(baggage)));
    }
    values.push(("baggage", oversized(&format!("{MARKER}=%F0%9F%98%80,"))));
    values.push(("baggage", value(b"k=\xff\xfe")));
    for xray in [
        format!("Root={MARKER}"),
        format!("Root=1-{MARKER}-bd862e3fe1be46a994272793"),
        format!("Root=1-5759e988-bd862e3fe1be46a994272793;Parent={MARKER};Sampled=1"),
        format!("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled={MARKER}"),
        "Root=1-00000000-000000000000000000000000;Parent=0000000000000000".to_owned(),
        format!("Sampled=1;Parent=53995c3f42cd8ad8;{MARKER}"),
        format!(";;;==;Root=;Root=1-;Root=1--;{MARKER}"),
        format!("Root=1-5759e988-bd862e3fe1be46a994272793;Root=2-{MARKER}"),
        format!("Root=1-5759e988-bd862e3fe1be46a9942727931;Parent=53995c3f42cd8ad8{MARKER}"),
        "Root=1-5759e988-bd862e3fe1be46a99427279é;Parent=53995c3f42cd8ad8".to_owned(),
    ] {
        values.push(("x-amzn-trace-id", value(xray)));
    }
    values.push(("x-amzn-trace-id", oversized(&format!("Self=1-{MARKER};"))));
    values.push(("x-amzn-trace-id", value(b"Root=1-\xff\xff\xff\xff-bd862e3fe1be46a994272793")));
    for header in ["traceparent", "tracestate", "baggage", "x-amzn-trace-id"] {
        values.push((header, huge.clone()));
    }
    values
}

fn probes() -> Vec<Probe> {
    let mut probes = Vec::new();
    // Each header value alone, on a route that calls users and on one that
    // crosses all three services (what is injected downstream is parsed again).
    for (name, value) in trace_header_values() {
        for path in ["/api/activities/home", "/api/activities/notifications"] {
            let mut probe = Probe::get(path);
            probe.headers.push((name, value.clone()));
            probes.push(probe);
        }
    }
    // All four malformed at once, W3C and X-Ray disagreeing.
    let mut all = Probe::get("/api/activities/notifications");
    all.headers = vec![
        ("traceparent", value(format!("00-{TRACE}-{PARENT}-01"))),
        ("tracestate", value(format!("xray=9,{MARKER}"))),
        ("baggage", value(format!("{MARKER};;=="))),
        ("x-amzn-trace-id", value("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")),
    ];
    probes.push(all);

    let reply = format!("/api/activities/{}/reply", contracts::seed::PRUNE_JUICE);
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
    let bodies: Vec<(&'static str, Vec<u8>)> = vec![
        ("application/json", b"".to_vec()),
        ("application/json", b"null".to_vec()),
        ("application/json", b"{}".to_vec()),
        ("application/json", b"{\"message\": ".to_vec()),
        ("application/json", b"{\"message\": \"\xff\xfe\", \"ttl\": \"1-day\"}".to_vec()),
        ("application/json", b"{\"message\": \"\\ud800\", \"ttl\": \"1-day\"}".to_vec()),
        (
            "application/json",
            b"{\"message\": \"a\\u0000b\", \"ttl\": \"1-day\", \"display_name\": \"\\u0000\"}".to_vec(),
        ),
        ("application/json", b"{\"message\": 1e999999, \"ttl\": -1}".to_vec()),
        (
            "application/json",
            b"{\"message\": \"hi\", \"ttl\": \"forever\", \"user_receiver_handle\": \"@@@\"}".to_vec(),
        ),
        ("application/json", b"{\"message\": \"hi\", \"user_receiver_handle\": \"nobody-at-all\"}".to_vec()),
        ("application/json", b"{\"message\": [], \"ttl\": {}, \"bio\": 5}".to_vec()),
        ("application/json", nested(10_000)),
        ("application/json", format!("{{\"message\": \"{}\", \"ttl\": \"1-day\"}}", "é".repeat(2000)).into_bytes()),
        ("application/json", format!("{{\"message\": \"{}\"}}", "x".repeat(100 * 1024)).into_bytes()),
        ("application/json; charset=latin1", b"{\"message\": \"hi\", \"ttl\": \"1-day\"}".to_vec()),
        ("application/x-www-form-urlencoded", b"message=hi&ttl=1-day".to_vec()),
        ("text/plain", b"\x00\x01\x02".to_vec()),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--".to_vec()),
    ];
    for path in ["/api/activities", reply.as_str(), "/api/messages", "/api/profile/update"] {
        for (content_type, body) in &bodies {
            probes.push(Probe {
                method: Method::POST,
                path: path.to_owned(),
                headers: Vec::new(),
                body: Some((content_type, body.clone())),
            });
        }
    }

    let long = "a".repeat(8 * 1024);
    for path in [
        "/api/activities/%ff%fe".to_owned(),
        "/api/activities/%".to_owned(),
        "/api/activities/%2e%2e/%2e%2e/etc/passwd".to_owned(),
        "/api/activities/00000000-0000-0000-0000-000000000000".to_owned(),
        format!("/api/activities/{}x", contracts::seed::PRUNE_JUICE),
        "/api/activities/@".to_owned(),
        format!("/api/activities/@{long}"),
        format!("/api/activities/{long}"),
        "/api/activities/@andrewbrown/status/not-a-uuid".to_owned(),
        "/api/activities/@%F0%9F%98%80/status/00000000-0000-0000-0000-000000000000".to_owned(),
        "/api/activities/search?term=%".to_owned(),
        "/api/activities/search?term=%ff%fe".to_owned(),
        "/api/activities/search?term=%25%5F%5C".to_owned(),
        format!("/api/activities/search?term={long}"),
        "/api/activities/search?term=a&term=b".to_owned(),
        format!("/api/activities/home?{long}"),
        "/api/users/@%00/short".to_owned(),
        "/api/users/@%F0%9F%98%80/short".to_owned(),
        "/api/messages/@".to_owned(),
        "/api/messages/@%ff".to_owned(),
        "//api//activities//home".to_owned(),
        "/api/activities/home/".to_owned(),
        format!("/{}", "a/".repeat(2000)),
    ] {
        probes.push(Probe::get(path));
    }
    probes
}

fn header_name(name: &str) -> HeaderName {
    HeaderName::from_bytes(name.as_bytes()).unwrap()
}

async fn the_corpus_gets_no_5xx_and_leaves_the_services_healthy(database: Database) {
    let stack = tokio::task::block_in_place(|| start_stack_on(database, "", &[("RUST_LOG", "info")]));
    let client = reqwest::Client::new();
    let probes = probes();
    let mut answers = Vec::new();
    for probe in &probes {
        let mut request = client.request(probe.method.clone(), stack.activities.url(&probe.path));
        for (name, value) in &probe.headers {
            request = request.header(header_name(name), value.clone());
        }
        if let Some((content_type, body)) = &probe.body {
            request = request.header("content-type", *content_type).body(body.clone());
        }
        let label = format!(
            "{} {} {:?}",
            probe.method,
            &probe.path[..probe.path.len().min(80)],
            probe
                .headers
                .iter()
                .map(|(n, v)| format!("{n}: {:.60}", String::from_utf8_lossy(v.as_bytes())))
                .collect::<Vec<_>>()
        );
        let response = request.send().await.unwrap_or_else(|err| panic!("{database:?} {label}: no answer: {err}"));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let body = response.text().await.unwrap_or_default();
        answers.push((label, status, content_type, body));
    }
    let server_errors: Vec<_> = answers.iter().filter(|(_, status, _, _)| *status >= 500).collect();
    assert!(server_errors.is_empty(), "{database:?}: {server_errors:#?}");
    // Every mistake is a JSON 4xx.
    let not_json: Vec<_> = answers
        .iter()
        .filter(|(_, status, content_type, _)| *status >= 400 && content_type != "application/json")
        .collect();
    assert!(not_json.is_empty(), "{database:?}: {not_json:#?}");
    assert!(answers.iter().filter(|(_, status, _, _)| *status == 200).count() > 20, "{database:?}: {answers:#?}");

    // Still healthy: every service answers, and the edge's feeds work.
    for service in [&stack.users, &stack.notifications, &stack.activities] {
        assert_eq!(client.get(service.url("/api/health-check")).send().await.unwrap().status(), 200);
    }
    for path in ["/api/activities/home", "/api/activities/notifications", "/api/messages/@bayko"] {
        assert_eq!(client.get(stack.activities.url(path)).send().await.unwrap().status(), 200, "{database:?} {path}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!stack.stderr().contains("panicked"), "{database:?}: {}", stack.stderr());
    for service in [&stack.users, &stack.notifications, &stack.activities] {
        for line in service.stdout_lines() {
            assert!(!line.contains("\"level\":\"ERROR\""), "{database:?}: {line}");
            assert!(!line.contains(MARKER), "{database:?}: a header value reached the logs: {line:.300}");
        }
    }
    crate::xray::stop(stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_on_sqlite() {
    the_corpus_gets_no_5xx_and_leaves_the_services_healthy(Database::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_on_postgres() {
    the_corpus_gets_no_5xx_and_leaves_the_services_healthy(Database::Postgres).await
}
