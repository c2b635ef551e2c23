//! The three services as processes, started in dependency order (users,
//! then notifications, then the edge) and exporting spans: the stack the
//! telemetry, X-Ray, CloudWatch and launch tests share.

use crate::process::Service;

/// Stands in for a Honeycomb API key; must never show up in logs or spans.
pub const API_KEY: &str = "hcaik_TEST0SECRET0VALUE0000000000000000000000";

pub struct Stack {
    pub users: Service,
    pub notifications: Service,
    pub activities: Service,
    _data: tempfile::TempDir,
}

/// The three services as processes, exporting to `endpoint` with `extra` variables.
pub fn start_stack(endpoint: &str, extra: &[(&str, &str)]) -> Stack {
    let data = tempfile::tempdir().unwrap();
    let headers = format!("x-honeycomb-team={API_KEY}");
    let mut env: Vec<(&str, &str)> = vec![
        ("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_HEADERS", &headers),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("RUST_LOG", "debug"),
    ];
    env.extend_from_slice(extra);
    let users = Service::start("users", &env);
    let users_url = users.url("");
    let with_users = [env.clone(), vec![("USERS_URL", users_url.as_str())]].concat();
    let notifications = Service::start("notifications", &with_users);
    let notifications_url = notifications.url("");
    let with_both = [with_users.clone(), vec![("NOTIFICATIONS_URL", notifications_url.as_str())]].concat();
    let activities = Service::start("activities", &with_both);
    Stack { users, notifications, activities, _data: data }
}

/// The trace id of an answer, from its `traceresponse` header.
pub fn trace_id_of(response: &reqwest::Response) -> String {
    let value = response.headers().get("traceresponse").expect("a traceresponse header").to_str().unwrap();
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value}");
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1].len(), 32);
    assert_eq!(parts[2].len(), 16);
    parts[1].to_owned()
}
