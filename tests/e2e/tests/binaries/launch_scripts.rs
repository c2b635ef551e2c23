//! The Honeycomb key check against a loopback stand-in of its auth endpoint,
//! the traffic generator against the running stack, and `scripts/run` itself
//! (with the trace view, and without it when an endpoint is configured).

use std::{
    io::Read,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

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

/// `scripts/run` listens on the fixed ports of the README (4567–4569, and
/// the trace view's 4318 and 16686): its tests take turns.
static FIXED_PORTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `scripts/run` with the binaries the tests built (`CRUDDUR_BIN`), in a
/// process group of its own so nothing it started outlives the test.
struct RunScript {
    child: std::process::Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    _data: tempfile::TempDir,
}

impl RunScript {
    fn start(env: &[(&str, &str)]) -> Self {
        for port in [4567, 4568, 4569, 4318, 16686] {
            assert!(
                std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
                "port {port} is taken: scripts/run cannot be tested while something (scripts/run?) listens there"
            );
        }
        let data = tempfile::tempdir().unwrap();
        let bin = crate::process::binary("trace-view").parent().unwrap().to_owned();
        let mut command = script("run");
        command
            .env("CRUDDUR_BIN", bin)
            .env("CRUDDUR_DATA_DIR", data.path())
            .envs(env.iter().copied())
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let collect = |mut pipe: Box<dyn Read + Send>| {
            let text = Arc::new(Mutex::new(String::new()));
            let sink = text.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 8192];
                while let Ok(n @ 1..) = pipe.read(&mut buffer) {
                    sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            });
            text
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()));
        let stderr = collect(Box::new(child.stderr.take().unwrap()));
        Self { child, stdout, stderr, _data: data }
    }

    /// Started with home held `latency_ms` at its database query, and a home
    /// request 0.5 s into it.
    async fn start_with_home_in_flight(
        latency_ms: &str,
    ) -> (Self, tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>) {
        let run = Self::start(&[("FAULT_ACTIVITIES_HOME_LATENCY_MS", latency_ms)]);
        run.wait_for("start", |_, err| err.contains("Cruddur is up")).await;
        let request = tokio::spawn(reqwest::get("http://127.0.0.1:4567/api/activities/home"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        (run, request)
    }

    async fn wait_for(&self, what: &str, holds: impl Fn(&str, &str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !holds(&self.stdout.lock().unwrap(), &self.stderr.lock().unwrap()) {
            assert!(
                Instant::now() < deadline,
                "no {what}: {}\n{}",
                self.stderr.lock().unwrap(),
                self.stdout.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ctrl-C, as a terminal sends it: to the script's whole process group.
    fn send_ctrl_c(&self) {
        let group = format!("-{}", self.child.id());
        let status = Command::new("kill").args(["-INT", "--", &group]).status().unwrap();
        assert!(status.success());
    }

    /// Ctrl-C; waits for the script to end.
    async fn interrupt(&mut self) -> std::process::ExitStatus {
        self.send_ctrl_c();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "scripts/run still running 30 s after Ctrl-C");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for RunScript {
    /// Kills the script's process group and the services' (each runs in a
    /// group of its own), so nothing outlives a failed test.
    fn drop(&mut self) {
        let script = self.child.id().to_string();
        let children = Command::new("pgrep").args(["-P", &script]).output().map(|o| o.stdout).unwrap_or_default();
        let children = String::from_utf8_lossy(&children);
        for pid in std::iter::once(script.as_str()).chain(children.split_whitespace()) {
            let group = format!("-{pid}");
            Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status().ok();
        }
        self.child.wait().ok();
    }
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[tokio::test]
async fn run_starts_the_trace_view_first_and_the_services_export_to_it() {
    let _turn = FIXED_PORTS.lock().await;
    let mut run = RunScript::start(&[]);
    run.wait_for("start", |_, err| err.contains("Cruddur is up")).await;
    let stderr = run.stderr.lock().unwrap().clone();
    assert!(stderr.contains("Trace view: http://localhost:16686"), "{stderr}");

    let response = reqwest::get("http://127.0.0.1:4567/api/activities/notifications").await.unwrap();
    assert_eq!(response.status(), 200);
    let id = crate::stack::trace_id_of(&response);
    // Its line, once the trace has finished: every service's spans are in.
    let link = format!("http://localhost:16686/trace/{id}");
    run.wait_for("line for the trace", |out, _| out.lines().any(|l| l.ends_with(&link))).await;
    let stdout = run.stdout.lock().unwrap().clone();
    let line = stdout.lines().find(|l| l.ends_with(&link)).unwrap();
    assert!(line.starts_with("GET /api/activities/notifications  3 services  "), "{line}");
    let trace: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:16686/api/traces/{id}")).await.unwrap().json().await.unwrap();
    assert_eq!(trace["services"].as_array().unwrap().len(), 3, "{trace}");

    // Ctrl-C stops the services, then the trace view; no span export fails on the way.
    let status = run.interrupt().await;
    assert_eq!(status.code(), Some(130), "ended as interrupted, after stopping everything: {status:?}");
    for port in [4567, 4568, 4569, 4318, 16686] {
        assert!(!listening(port), "port {port} still answers after Ctrl-C");
    }
    let stdout = run.stdout.lock().unwrap().clone();
    assert!(!stdout.contains("spans lost to export failures"), "{stdout}");
}

/// Ctrl-C while the edge serves home: the edge finishes the request before
/// users stops (stopped all at once, the edge's call to users was refused:
/// 503).
#[tokio::test]
async fn run_finishes_a_request_in_flight_across_services_on_ctrl_c() {
    let _turn = FIXED_PORTS.lock().await;
    // Home waits 2 s at its database query, before it calls users.
    let (mut run, request) = RunScript::start_with_home_in_flight("2000").await;
    assert_eq!(run.interrupt().await.code(), Some(130));
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    for port in [4567, 4568, 4569] {
        assert!(!listening(port), "port {port} still answers after Ctrl-C");
    }
}

/// A second Ctrl-C while the services stop kills them all at once.
#[tokio::test]
async fn run_stops_everything_at_once_on_a_second_ctrl_c() {
    let _turn = FIXED_PORTS.lock().await;
    let (mut run, request) = RunScript::start_with_home_in_flight("20000").await;
    run.send_ctrl_c();
    // The edge is now waiting for its request: stopping would take ~10 s.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    assert_eq!(run.interrupt().await.code(), Some(130));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(request.await.unwrap().is_err(), "the request in flight was cut off");
    for port in [4567, 4568, 4569, 4318, 16686] {
        assert!(!listening(port), "port {port} still answers after a second Ctrl-C");
    }
}

#[tokio::test]
async fn run_with_an_endpoint_configured_starts_no_trace_view() {
    let _turn = FIXED_PORTS.lock().await;
    let receiver = crate::otlp::Receiver::start();
    let mut run = RunScript::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint)]);
    run.wait_for("start", |_, err| err.contains("Cruddur is up")).await;
    assert!(!run.stderr.lock().unwrap().contains("Trace view"));
    assert!(!listening(16686) && !listening(4318));
    let response = reqwest::get("http://127.0.0.1:4567/api/activities/notifications").await.unwrap();
    let id = crate::stack::trace_id_of(&response);
    receiver.wait_for_trace(&id, |spans| spans.iter().any(|s| s.service == "users")).await;
    assert_eq!(run.interrupt().await.code(), Some(130));
}
