//! The trace view (`tools/trace-view`) as a process: what the three services
//! export to it, OTLP/JSON sent by hand, its cap, its terminal lines, and
//! its pages, the waterfall as headless Chromium renders it.

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    process::binary,
    stack::{start_stack, trace_id_of},
};

/// A running `trace-view` on two free loopback ports; its stdout lines are
/// collected as they come.
pub struct TraceView {
    child: Child,
    /// `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub otlp: String,
    /// `http://127.0.0.1:<port>`: the pages.
    pub ui: String,
    /// The base of the links it prints (`http://localhost:<port>`).
    pub printed_base: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl TraceView {
    pub fn start(env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(binary("trace-view"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs([("TRACE_VIEW_OTLP_ADDRESS", "127.0.0.1:0"), ("TRACE_VIEW_UI_ADDRESS", "127.0.0.1:0")])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (lines, out) = (stdout.clone(), child.stdout.take().unwrap());
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                first_tx.send(line.clone()).ok();
                lines.lock().unwrap().push(line);
            }
        });
        let (text, mut err) = (stderr.clone(), child.stderr.take().unwrap());
        thread::spawn(move || {
            let mut buffer = String::new();
            err.read_to_string(&mut buffer).ok();
            text.lock().unwrap().push_str(&buffer);
        });
        // trace view: http://localhost:PORT  (OTLP/HTTP in: http://127.0.0.1:PORT/v1/traces; keeps …)
        let first = first_rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            panic!("trace-view did not start: {}", stderr.lock().unwrap());
        });
        let words: Vec<&str> = first.split_whitespace().collect();
        assert_eq!(words[..2], ["trace", "view:"], "{first}");
        let printed_base = words[2].to_owned();
        let traces_endpoint = words.iter().find(|w| w.ends_with("/v1/traces;")).expect("the OTLP URL");
        let otlp = traces_endpoint.trim_end_matches("/v1/traces;").to_owned();
        let ui = printed_base.replace("localhost", "127.0.0.1");
        Self { child, otlp, ui, printed_base, stdout, stderr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.ui)
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = reqwest::get(self.url(path)).await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// The trace's JSON once `done` holds for it (at most 20 s).
    pub async fn wait_for_trace(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, trace) = self.get_json(&format!("/api/traces/{id}")).await;
            if status == 200 && done(&trace) {
                return trace;
            }
            assert!(Instant::now() < deadline, "trace {id} incomplete: {trace:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The stdout line that links trace `id` (printed once it finished).
    pub async fn wait_for_line(&self, id: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self.stdout_lines().into_iter().find(|l| l.ends_with(&format!("/trace/{id}"))) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no line for {id}: {:?} {}",
                self.stdout_lines(),
                self.stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for TraceView {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

pub fn services_of(trace: &Value) -> Vec<String> {
    let mut services: Vec<String> =
        trace["spans"].as_array().unwrap().iter().map(|s| s["service"].as_str().unwrap().to_owned()).collect();
    services.sort();
    services.dedup();
    services
}

/// The three services, each with its server span, all in.
fn whole_cross_service_trace(trace: &Value) -> bool {
    let spans = trace["spans"].as_array().unwrap();
    ["activities", "notifications", "users"]
        .iter()
        .all(|service| spans.iter().any(|s| s["service"] == *service && s["kind"] == "server"))
        && trace["root_received"] == true
}

fn attribute<'a>(attributes: &'a Value, key: &str) -> Option<&'a Value> {
    attributes.as_array().unwrap().iter().find(|a| a["key"] == key).map(|a| &a["value"])
}

#[tokio::test]
async fn what_the_three_services_export_is_one_trace_with_its_line_and_its_page() {
    let view = TraceView::start(&[]);
    let stack = start_stack(&view.otlp, &[]);
    let response = reqwest::get(stack.activities.url("/api/activities/notifications")).await.unwrap();
    assert_eq!(response.status(), 200);
    let id = trace_id_of(&response);
    view.wait_for_trace(&id, whole_cross_service_trace).await;

    // Printed once finished: then every span has arrived.
    let line = view.wait_for_line(&id).await;
    let (_, trace) = view.get_json(&format!("/api/traces/{id}")).await;
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(services_of(&trace), ["activities", "notifications", "users"]);
    assert_eq!(trace["services"][0], "activities", "the edge started first");
    assert_eq!(trace["root_name"], "GET /api/activities/notifications");
    let prefix = format!("GET /api/activities/notifications  3 services  {} spans  ", spans.len());
    assert!(line.starts_with(&prefix), "{line}");
    assert!(line.ends_with(&format!(" ms  {}/trace/{id}", view.printed_base)), "{line}");

    // Decoded from the services' protobuf: one root, every other span under a
    // span of the trace, attributes and resource intact.
    let ids: Vec<&str> = spans.iter().map(|s| s["span_id"].as_str().unwrap()).collect();
    let roots: Vec<&Value> = spans.iter().filter(|s| s["parent_span_id"].is_null()).collect();
    assert_eq!(roots.len(), 1, "{trace:#}");
    assert_eq!(roots[0]["name"], "GET /api/activities/notifications");
    assert_eq!(attribute(&roots[0]["attributes"], "http.request.method"), Some(&json!("GET")));
    let status = attribute(&roots[0]["attributes"], "http.response.status_code").expect("a status code");
    assert_eq!(status.to_string().trim_matches('"'), "200");
    for span in spans.iter().filter(|s| !s["parent_span_id"].is_null()) {
        assert!(ids.contains(&span["parent_span_id"].as_str().unwrap()), "{span:#}");
        assert_eq!(attribute(&span["resource"], "service.name"), Some(&span["service"]));
        assert!(span["start_ms"].as_f64().unwrap() >= 0.0 && span["duration_ms"].as_f64().unwrap() >= 0.0);
    }
    // The callees' server spans hang under the edge's client spans.
    for service in ["users", "notifications"] {
        let server = spans.iter().find(|s| s["service"] == service && s["kind"] == "server").unwrap();
        let parent = spans.iter().find(|s| s["span_id"] == server["parent_span_id"]).unwrap();
        assert_eq!(parent["kind"], "client", "{service}");
    }

    // The list and the page.
    let (_, list) = view.get_json(&format!("/api/traces?service=users&trace={}", &id[..8])).await;
    assert_eq!(list["traces"][0]["trace_id"], id.as_str());
    assert_eq!(list["traces"][0]["span_count"], spans.len());
    let page = reqwest::get(view.url(&format!("/trace/{id}"))).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/assets/trace.js"));
}

/// Two services' spans of one trace, as OTLP/JSON writes them.
fn json_export(trace_id: &str, service: &str, span_id: &str, parent: &str, name: &str, start_ms: u64) -> Value {
    let nanos = |ms: u64| (1_700_000_000_000 + ms) * 1_000_000;
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "by-hand"}, "spans": [{
            "traceId": trace_id, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": 2,
            "startTimeUnixNano": nanos(start_ms).to_string(), "endTimeUnixNano": nanos(start_ms + 10),
            "attributes": [{"key": "http.response.status_code", "value": {"intValue": "503"}}],
            "status": {"code": 2, "message": "upstream down"}
        }]}]
    }]})
}

async fn post(view: &TraceView, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut request =
        reqwest::Client::new().post(format!("{}/v1/traces", view.otlp)).header("content-type", content_type);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    request.body(body).send().await.unwrap()
}

#[tokio::test]
async fn otlp_json_and_gzip_are_taken_and_answered_as_the_spec_says() {
    let view = TraceView::start(&[]);
    let id = "5b8efff798038103d269b633813fc60c";
    let root = json_export(id, "frontend", "eee19b7ec3c1b173", "", "GET /cart", 0);
    let child = json_export(id, "checkout", "eee19b7ec3c1b174", "eee19b7ec3c1b173", "POST /pay", 2);

    let response = post(&view, "application/json", None, serde_json::to_vec(&root).unwrap()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let answer: Value = response.json().await.unwrap();
    assert!(answer.get("partialSuccess").is_none_or(Value::is_null), "{answer}");

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &serde_json::to_vec(&child).unwrap()).unwrap();
    let response = post(&view, "application/json", Some("gzip"), gz.finish().unwrap()).await;
    assert_eq!(response.status(), 200);

    let trace = view.wait_for_trace(id, |t| t["span_count"] == 2).await;
    assert_eq!(trace["services"], json!(["frontend", "checkout"]));
    assert_eq!(trace["error"], true);
    let pay = &trace["spans"][1];
    assert_eq!(
        (&pay["name"], &pay["parent_span_id"], &pay["status"]),
        (&json!("POST /pay"), &json!("eee19b7ec3c1b173"), &json!("error"))
    );
    assert_eq!(attribute(&pay["attributes"], "http.response.status_code"), Some(&json!(503)));
    assert_eq!((pay["start_ms"].as_f64(), pay["duration_ms"].as_f64()), (Some(2.0), Some(10.0)));
    let line = view.wait_for_line(id).await;
    assert!(line.starts_with("GET /cart  2 services  2 spans  12.0 ms  ERROR  "), "{line}");

    // Refusals: the type, then a body that does not decode (its Status in JSON).
    assert_eq!(post(&view, "text/plain", None, b"hi".to_vec()).await.status(), 415);
    let response = post(&view, "application/json", None, br#"{"resourceSpans": {}}"#.to_vec()).await;
    assert_eq!(response.status(), 400);
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["code"], 3, "{status}");
    assert_eq!(post(&view, "application/x-protobuf", Some("gzip"), b"not gzip".to_vec()).await.status(), 400);
}

#[tokio::test]
async fn past_its_cap_the_view_lets_the_oldest_trace_go() {
    let view = TraceView::start(&[("TRACE_VIEW_MAX_TRACES", "2")]);
    let ids =
        ["10000000000000000000000000000001", "20000000000000000000000000000002", "30000000000000000000000000000003"];
    for (n, id) in ids.iter().enumerate() {
        // Oldest first in arrival; their start times say otherwise, which must not matter.
        let export = json_export(id, "a", "1000000000000001", "", "root", 100 - n as u64);
        assert_eq!(post(&view, "application/json", None, serde_json::to_vec(&export).unwrap()).await.status(), 200);
    }
    let (_, list) = view.get_json("/api/traces").await;
    let mut kept: Vec<&str> =
        list["traces"].as_array().unwrap().iter().map(|t| t["trace_id"].as_str().unwrap()).collect();
    kept.sort();
    assert_eq!(kept, ids[1..]);
    assert_eq!((&list["stats"]["max_traces"], &list["stats"]["evicted_traces"]), (&json!(2), &json!(1)));
    assert_eq!(view.get_json(&format!("/api/traces/{}", ids[0])).await.0, 404);
}

/// Debian's Chromium (scripts/test installs it).
fn chromium() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|path| path.is_file())
        .expect("chromium is not installed: scripts/test installs it (apt-get install chromium)")
}

/// The page at `url` as headless Chromium has it once its scripts ran.
async fn rendered_dom(url: String) -> String {
    tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // Lets the page's timers and fetches settle before the dump.
                "--virtual-time-budget=15000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut dom = String::new();
        let mut out = child.stdout.take().unwrap();
        let reader = thread::spawn(move || {
            out.read_to_string(&mut dom).ok();
            dom
        });
        let deadline = Instant::now() + Duration::from_secs(90);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().ok();
                panic!("chromium did not finish rendering {url}");
            }
            thread::sleep(Duration::from_millis(100));
        }
        reader.join().unwrap()
    })
    .await
    .unwrap()
}

/// `left` and `width` (per cent) of the timing bar in the row of `span_id`.
fn bar_of(dom: &str, span_id: &str) -> (f64, f64) {
    let row = &dom[dom.find(&format!("data-span-id=\"{span_id}\"")).expect("a row for the span")..];
    let style = &row[row.find("class=\"span-bar\" style=\"").expect("a bar in the row")..];
    let number = |name: &str| -> f64 {
        let at = &style[style.find(&format!("{name}: ")).unwrap() + name.len() + 2..];
        at[..at.find('%').unwrap()].parse().unwrap()
    };
    (number("left"), number("width"))
}

#[tokio::test]
async fn the_waterfall_renders_every_span_and_service_in_a_headless_browser() {
    let view = TraceView::start(&[]);
    let stack = start_stack(&view.otlp, &[]);
    let response = reqwest::get(stack.activities.url("/api/activities/notifications")).await.unwrap();
    let id = trace_id_of(&response);
    let traceresponse = response.headers()["traceresponse"].to_str().unwrap().to_owned();
    view.wait_for_line(&id).await;
    let (_, trace) = view.get_json(&format!("/api/traces/{id}")).await;
    let spans = trace["spans"].as_array().unwrap();

    let dom = rendered_dom(view.url(&format!("/trace/{id}"))).await;
    assert_eq!(dom.matches("class=\"span-row").count(), spans.len(), "one row per span: {dom}");
    for span in spans {
        let row = format!(
            "data-span-id=\"{}\" data-service=\"{}\"",
            span["span_id"].as_str().unwrap(),
            span["service"].as_str().unwrap()
        );
        assert!(dom.contains(&row), "no row {row}: {dom}");
        assert!(dom.contains(&format!(">{}</span>", span["name"].as_str().unwrap())), "{dom}");
    }
    for service in ["activities", "notifications", "users"] {
        assert!(dom.contains(&format!("</span>{service}</span></li>")), "no {service} in the legend: {dom}");
    }
    assert!(dom.contains("<h1 id=\"title\">GET /api/activities/notifications</h1>"), "{dom}");
    // Each bar is placed on the trace's time line by its span's start and duration.
    let total = trace["duration_ms"].as_f64().unwrap();
    for span in spans {
        let (left, width) = bar_of(&dom, span["span_id"].as_str().unwrap());
        let expected_left = span["start_ms"].as_f64().unwrap() / total * 100.0;
        let expected_width = (span["duration_ms"].as_f64().unwrap() / total * 100.0).max(0.2);
        assert!(
            (left - expected_left).abs() < 0.01 && (width - expected_width).abs() < 0.01,
            "{span:#}: {left}% {width}%"
        );
    }

    // /trace/<id>#<span id> opens that span: every attribute of it and of its resource.
    let root = spans.iter().find(|s| s["parent_span_id"].is_null()).unwrap();
    let root_id = root["span_id"].as_str().unwrap();
    let dom = rendered_dom(view.url(&format!("/trace/{id}#{root_id}"))).await;
    let detail = &dom[dom.find(&format!("data-detail-of=\"{root_id}\"")).expect("the root's details shown")..];
    let detail = &detail[..detail.find("class=\"span-row").unwrap_or(detail.len())];
    for list in ["attributes", "resource"] {
        let pairs = root[list].as_array().unwrap();
        assert!(pairs.len() >= 3, "{list}: {root:#}");
        for pair in pairs {
            let value = pair["value"].as_str().map_or_else(|| pair["value"].to_string(), str::to_owned);
            let row = format!("<tr><th>{}</th><td>{value}</td></tr>", pair["key"].as_str().unwrap());
            assert!(detail.contains(&row), "{list}: no {row} in {detail}");
        }
    }

    // A whole traceresponse value pasted into the list's trace filter opens the trace.
    let dom = rendered_dom(view.url(&format!("/?trace={traceresponse}"))).await;
    assert_eq!(dom.matches("class=\"span-row").count(), spans.len(), "{dom}");
}
