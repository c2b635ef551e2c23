//! The service binaries as processes: commands, start-up errors, signals.

mod cloudwatch;
mod launch_scripts;
mod moto;
mod otlp;
mod process;
mod telemetry;
mod xray;
mod xray_scripts;

use std::{
    io::{Read, Write},
    net::TcpListener,
    thread,
    time::{Duration, Instant},
};

use process::{Service, run};
use sqlx::{Connection, PgConnection};

fn postgres_server() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

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
        ("RUST_LOG", "info,[[["),
        ("CLOUDWATCH_RETENTION_DAYS", "2"),
        ("AWS_XRAY_DAEMON_ADDRESS", "xray-daemon"),
        ("AWS_XRAY_SAMPLING_RULES", "/nonexistent/xray.json"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team hcaik_SECRET"),
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
