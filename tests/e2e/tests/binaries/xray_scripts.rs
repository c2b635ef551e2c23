//! The X-Ray scripts, run with the real AWS CLI against a loopback endpoint
//! that records what they send (moto has no CreateGroup/CreateSamplingRule).

use std::{
    path::PathBuf,
    process::Command,
    sync::{Arc, Mutex},
};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

#[derive(Default)]
struct Recorded {
    calls: Vec<(String, Value)>,
}

/// Answers each operation: created the first time, "already exists" after,
/// or `AccessDeniedException` when `deny` is set.
fn xray_stand_in(deny: bool) -> (String, Arc<Mutex<Recorded>>) {
    let recorded: Arc<Mutex<Recorded>> = Arc::default();
    let state = web::Data::from(recorded.clone());
    let url = e2e::serve_on_loopback(move |config| {
        config.app_data(state.clone()).default_service(web::to(
            move |request: HttpRequest, body: web::Bytes, state: web::Data<Mutex<Recorded>>| async move {
                let operation = request.path().trim_start_matches('/').to_owned();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let mut recorded = state.lock().unwrap();
                let seen = recorded.calls.iter().any(|(op, _)| *op == operation);
                recorded.calls.push((operation, body));
                let (status, kind, message) = match (deny, seen) {
                    (true, _) => (403, "AccessDeniedException", "not allowed"),
                    (false, false) => return HttpResponse::Ok().json(serde_json::json!({})),
                    (false, true) => (400, "InvalidRequestException", "Cruddur already exists"),
                };
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                    .insert_header(("x-amzn-ErrorType", kind))
                    .json(serde_json::json!({ "message": message }))
            },
        ));
    });
    (url, recorded)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_script(name: &str, args: &[&str], endpoint: &str) -> (bool, String, String) {
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(repo().join("scripts").join(name))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "AKIDTESTING")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("the script runs (the AWS CLI is on PATH: scripts/test installs it)");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_group_script_creates_cruddur_once_then_says_it_exists() {
    let (endpoint, recorded) = xray_stand_in(false);
    let (ok, stdout, stderr) = tokio::task::spawn_blocking({
        let endpoint = endpoint.clone();
        move || run_script("xray-create-group", &[], &endpoint)
    })
    .await
    .unwrap();
    assert!(ok, "{stderr}");
    assert!(stdout.contains("created"), "{stdout}");
    let (operation, body) = recorded.lock().unwrap().calls[0].clone();
    assert_eq!(operation, "CreateGroup");
    assert_eq!(body["GroupName"], "Cruddur");
    let filter = body["FilterExpression"].as_str().unwrap();
    for service in ["activities", "users", "notifications"] {
        assert!(filter.contains(&format!("service(\"{service}\") {{fault OR error}}")), "{filter}");
    }
    let (ok, stdout, stderr) =
        tokio::task::spawn_blocking(move || run_script("xray-create-group", &[], &endpoint)).await.unwrap();
    assert!(ok, "{stderr}");
    assert!(stdout.contains("already exists"), "{stdout}");
}

#[tokio::test]
async fn the_sampling_rule_script_sends_xray_json_as_the_cli_validates_it() {
    let (endpoint, recorded) = xray_stand_in(false);
    let run = |args: Vec<String>| {
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_script("xray-create-sampling-rule", &args, &endpoint)
        })
    };
    let (ok, stdout, stderr) = run(vec![]).await.unwrap();
    assert!(ok, "{stderr}");
    assert!(stdout.contains("created"), "{stdout}");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(repo().join("xray.json")).unwrap()).unwrap();
    let (operation, body) = recorded.lock().unwrap().calls[0].clone();
    assert_eq!(operation, "CreateSamplingRule");
    assert_eq!(body["SamplingRule"], expected["SamplingRule"]);
    assert_eq!(body["SamplingRule"]["FixedRate"], 0.1);
    assert_eq!(body["SamplingRule"]["ReservoirSize"], 5);

    let (ok, stdout, _) = run(vec![]).await.unwrap();
    assert!(ok && stdout.contains("already exists"), "{stdout}");

    // A rules file the CLI's own validation rejects never reaches the endpoint.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"SamplingRule": {"RuleName": "Cruddur", "FixedRate": "lots"}}"#).unwrap();
    let calls = recorded.lock().unwrap().calls.len();
    let (ok, _, stderr) = run(vec![bad.display().to_string()]).await.unwrap();
    assert!(!ok);
    assert!(!stderr.is_empty());
    assert_eq!(recorded.lock().unwrap().calls.len(), calls);
}

#[tokio::test]
async fn other_failures_fail_the_scripts() {
    let (endpoint, _) = xray_stand_in(true);
    for script in ["xray-create-group", "xray-create-sampling-rule"] {
        let endpoint = endpoint.clone();
        let (ok, _, stderr) = tokio::task::spawn_blocking(move || run_script(script, &[], &endpoint)).await.unwrap();
        assert!(!ok, "{script}");
        assert!(stderr.contains("AccessDenied") || stderr.contains("not allowed"), "{script}: {stderr}");
        assert!(!stderr.contains("testing-secret"));
    }
}
