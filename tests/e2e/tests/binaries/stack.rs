//! The three services as processes, started in dependency order (users,
//! then notifications, then the edge) and exporting spans: the stack the
//! telemetry, X-Ray, CloudWatch and launch tests share.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use crate::process::Service;

/// Stands in for a Honeycomb API key; must never show up in logs or spans.
pub const API_KEY: &str = "hcaik_TEST0SECRET0VALUE0000000000000000000000";

pub struct Stack {
    pub users: Service,
    pub notifications: Service,
    pub activities: Service,
    /// What each service was started with, to start it again.
    envs: Vec<(&'static str, Vec<(String, String)>)>,
    _data: tempfile::TempDir,
}

/// Where the three services keep their data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Database {
    /// The embedded default, in a temporary directory.
    Sqlite,
    /// A fresh database per service on the test server, seeded with `<service> seed`.
    Postgres,
}

/// The three services as processes on SQLite, exporting to `endpoint` with `extra` variables.
pub fn start_stack(endpoint: &str, extra: &[(&str, &str)]) -> Stack {
    start_stack_on(Database::Sqlite, endpoint, extra)
}

/// [`start_stack`] on `database`.
pub fn start_stack_on(database: Database, endpoint: &str, extra: &[(&str, &str)]) -> Stack {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let data = tempfile::tempdir().unwrap();
    let headers = format!("x-honeycomb-team={API_KEY}");
    let mut env: Vec<(String, String)> = [
        ("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_HEADERS", &headers),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("RUST_LOG", "debug"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    // Names the api suite's clean-up knows: dropped once this process has ended.
    let run = format!("cruddur_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let with_database = |env: &[(String, String)], service: &str| -> Vec<(String, String)> {
        let mut env = env.to_vec();
        if database == Database::Postgres {
            let url = format!("{}/{run}_stack_{service}", e2e::postgres_server());
            let (status, _, stderr) = crate::process::run(service, &["seed"], &[("DATABASE_URL", &url)]);
            assert!(status.success(), "seeding {service}: {stderr}");
            env.push(("DATABASE_URL".to_owned(), url));
        }
        env
    };
    let users_env = with_database(&env, "users");
    let users = Service::start("users", &pairs(&users_env));
    env.push(("USERS_URL".to_owned(), users.url("")));
    let notifications_env = with_database(&env, "notifications");
    let notifications = Service::start("notifications", &pairs(&notifications_env));
    env.push(("NOTIFICATIONS_URL".to_owned(), notifications.url("")));
    let activities_env = with_database(&env, "activities");
    let activities = Service::start("activities", &pairs(&activities_env));
    let envs = vec![("users", users_env), ("notifications", notifications_env), ("activities", activities_env)];
    Stack { users, notifications, activities, envs, _data: data }
}

fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

impl Stack {
    pub fn service(&mut self, name: &str) -> &mut Service {
        match name {
            "users" => &mut self.users,
            "notifications" => &mut self.notifications,
            "activities" => &mut self.activities,
            other => panic!("no service {other}"),
        }
    }

    /// SIGKILL: `name` dies at once, with no chance to finish anything.
    pub fn kill(&mut self, name: &str) {
        let service = self.service(name);
        service.signal("KILL");
        service.wait(Duration::from_secs(10));
    }

    /// Starts `name` again, as before and on the same port; returns once it listens.
    pub fn restart(&mut self, name: &str) {
        let env = self.envs.iter().find(|(service, _)| *service == name).expect("a service of the stack").1.clone();
        let port = self.service(name).port;
        *self.service(name) = Service::start_on(name, &pairs(&env), port);
    }

    /// What the three services wrote on stderr (a panic's message goes there).
    pub fn stderr(&self) -> String {
        [&self.users, &self.notifications, &self.activities].iter().map(|s| s.stderr()).collect()
    }
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
