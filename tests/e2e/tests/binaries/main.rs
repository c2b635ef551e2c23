//! The service binaries as processes: commands, start-up errors, signals.

mod cloudwatch;
mod faults;
mod hostile_input;
mod launch_scripts;
mod load;
mod log_format;
mod moto;
mod otlp;
mod process;
mod stack;
mod telemetry;
mod trace_view;
mod under_load;
mod xray;
mod xray_scripts;

use std::{
    io::{Read, Write},
    net::TcpListener,
    thread,
    time::{Duration, Instant},
};

use e2e::postgres_server;
use process::{Service, run};
use sqlx::{Connection, PgConnection};

#[tokio::test]
async fn seed_command_creates_migrates_and_seeds_postgres_idempotently() {
    let database = format!("cruddur_test_{}_seedcmd", std::process::id());
    let url = format!("{}/{database}", postgres_server());
    for _ in 0..2 {
        let (status, stdout, stderr) = run("users", &["seed"], &[("DATABASE_URL", &url)]);
        assert!(status.success(), "{stderr}");
        assert_eq!(stdout.trim(), "users: seed data loaded into postgresql");
    }
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut conn).await.unwrap();
    assert_eq!(count, 7);
    conn.close().await.unwrap();
    let mut admin = PgConnection::connect(&format!("{}/postgres", postgres_server())).await.unwrap();
    let drop = format!("DROP DATABASE \"{database}\" WITH (FORCE)");
    sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await.unwrap();
}

#[test]
fn a_bad_variable_stops_the_service_with_one_line_naming_it_before_touching_anything() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("data");
    for (variable, value) in [
        ("PORT", "45x67"),
        ("USERS_URL", "users:4568"),
        ("NOTIFICATIONS_URL", "ftp://x"),
        ("UPSTREAM_TIMEOUT_MS", "soon"),
        ("REQUEST_BODY_TIMEOUT_MS", "-1"),
        ("TELEMETRY_SHUTDOWN_TIMEOUT_MS", "3s"),
        ("RUST_LOG", "info,[[["),
        ("CLOUDWATCH_RETENTION_DAYS", "2"),
        ("AWS_XRAY_DAEMON_ADDRESS", "xray-daemon"),
        ("AWS_XRAY_SAMPLING_RULES", "/nonexistent/xray.json"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team hcaik_SECRET"),
        ("LOG_FORMAT", "pretty"),
        ("FAULT_USERS_BATCH_ERROR_RATE", "10%"),
        ("FAULT_ACTIVITIES_HOME_LATENCY_MS", "0.5"),
    ] {
        let env = [(variable, value), ("CRUDDUR_DATA_DIR", dir.to_str().unwrap()), ("CLOUDWATCH_LOG_GROUP", "g")];
        let (status, _, stderr) = run("activities", &[], &env);
        assert_eq!(status.code(), Some(1), "{variable}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].contains(variable), "{stderr}");
        assert!(!lines[0].contains("hcaik_SECRET"), "a key is never shown: {stderr}");
        assert!(!dir.exists(), "{variable}: the database was created before the variable was checked");
    }
    let (status, _, stderr) = run("users", &["frobnicate"], &[]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("unknown command"));
}

/// A users service stand-in that answers every request after `delay`.
fn slow_users(delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                thread::sleep(delay);
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n[]");
            });
        }
    });
    url
}

#[tokio::test]
async fn sigterm_and_sigint_let_in_flight_requests_finish() {
    for signal in ["TERM", "INT"] {
        let data = tempfile::tempdir().unwrap();
        let users = slow_users(Duration::from_millis(1500));
        let env = [
            ("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()),
            ("USERS_URL", users.as_str()),
            ("UPSTREAM_TIMEOUT_MS", "5000"),
        ];
        let mut service = Service::start("activities", &env);
        let url = service.url("/api/activities/home");
        let in_flight = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status().as_u16()) });
        tokio::time::sleep(Duration::from_millis(400)).await;
        let signalled = Instant::now();
        service.signal(signal);

        let status = in_flight.await.unwrap().expect("the in-flight request is answered");
        assert_eq!(status, 200, "SIG{signal}");
        assert!(signalled.elapsed() >= Duration::from_millis(900), "the request was not cut short");
        let exit = service.wait(Duration::from_secs(15));
        assert!(exit.success(), "SIG{signal}: {exit:?} {}", service.stderr());
        let lines = service.stdout_lines();
        assert!(lines.iter().any(|line| line.contains("finishing in-flight requests")), "{lines:?}");
    }
}

#[test]
fn the_health_check_command_says_whether_the_service_answers() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start("notifications", &[("CRUDDUR_DATA_DIR", data.path().to_str().unwrap())]);
    let port = service.port.to_string();
    let (status, _, stderr) = run("notifications", &["health-check"], &[("PORT", &port)]);
    assert!(status.success(), "{stderr}");
    drop(service);
    let (status, _, stderr) = run("notifications", &["health-check"], &[("PORT", &port)]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("/api/health-check"), "{stderr}");
}

/// A client's mistakes are not the service's errors: broken requests and
/// malformed baggage leave no ERROR or WARN line, and nothing they sent is
/// copied into a log line.
#[tokio::test]
async fn a_clients_malformed_requests_are_not_logged_as_errors_nor_copied_into_logs() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start("users", &[("CRUDDUR_DATA_DIR", data.path().to_str().unwrap())]);
    for raw in [
        "GET /api/health-check HTTP/1.1\r\nHost: x\r\nno colon CLIENTJUNK\r\n\r\n".to_owned(),
        "GARBAGE CLIENTJUNK\r\n\r\n".to_owned(),
        "POST /api/profile/update HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\n{\"CLIENTJUNK".to_owned(),
    ] {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", service.port)).unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(!answer.starts_with("HTTP/1.1 5"), "{answer}");
    }
    let client = reqwest::Client::new();
    for baggage in ["CLIENTJUNK", "a=b,CLIENTJUNK;;;", &"x".repeat(10_000)] {
        let response = client.get(service.url("/api/health-check")).header("baggage", baggage).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines = service.stdout_lines();
    assert!(lines.iter().any(|line| line.contains("/api/health-check")), "the request lines are there: {lines:?}");
    // (The start-up notes of telemetry itself are WARN lines of their own.)
    for line in lines.iter().filter(|line| !line.contains("\"target\":\"telemetry\"")) {
        assert!(!line.contains("\"level\":\"ERROR\"") && !line.contains("\"level\":\"WARN\""), "{line}");
        assert!(!line.contains("CLIENTJUNK") && !line.contains("xxxxxxxxxx"), "{line}");
    }
}
