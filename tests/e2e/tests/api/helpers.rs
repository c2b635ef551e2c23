//! Spawns the three services in-process on random ports (zero2prod style),
//! each with a fresh database of its own on the chosen backend.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicUsize, Ordering},
};

use actix_web::{HttpRequest, HttpResponse, web};
use e2e::postgres_server;
use service_kit::{Application, Env, Service};
use sqlx::{Connection, PgConnection};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Generates `NAME::postgres` and `NAME::sqlite` tests from `async fn NAME(Backend)`.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
        }
    )*};
}
pub(crate) use on_both_databases;

const TEST_DATABASE_PREFIX: &str = "cruddur_test_";

/// Drops the test databases earlier runs left behind: each name carries the
/// pid of the run that made it, and only those of finished runs are dropped.
async fn drop_stale_test_databases() {
    static ONCE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    ONCE.get_or_init(|| async {
        let mut conn = PgConnection::connect(&format!("{}/postgres", postgres_server()))
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (set TEST_POSTGRES_URL to use another)");
        let names: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'cruddur_test_%'")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let run_alive = |name: &str| {
            let pid = name.trim_start_matches(TEST_DATABASE_PREFIX).split('_').next().unwrap_or_default();
            pid.parse::<u32>().is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
        };
        for name in names.into_iter().filter(|name| !run_alive(name)) {
            let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut conn).await.ok();
        }
    })
    .await;
}

fn unique_id() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub struct TestApp {
    pub address: String,
}

/// Which upstream a service should call: the real sibling, or something else.
#[derive(Clone, Default)]
pub struct Overrides {
    /// One database for all three services instead of one each.
    pub database_url: Option<String>,
    pub users_url: Option<String>,
    pub notifications_url: Option<String>,
    pub env: Vec<(String, String)>,
}

pub struct Stack {
    pub activities: TestApp,
    pub users: TestApp,
    pub notifications: TestApp,
    pub http: reqwest::Client,
    activities_database_url: String,
    _data: tempfile::TempDir,
}

impl Stack {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, Overrides::default()).await
    }

    /// Users, then notifications, then activities, each seeded.
    pub async fn spawn_with(backend: Backend, overrides: Overrides) -> Self {
        if backend == Backend::Postgres {
            drop_stale_test_databases().await;
        }
        let data = tempfile::tempdir().unwrap();
        let run = format!("{TEST_DATABASE_PREFIX}{}_{}", std::process::id(), unique_id());
        let database_url = |service: &str| match (&overrides.database_url, backend) {
            (Some(shared), _) => shared.clone(),
            (None, backend) => match backend {
                Backend::Postgres => format!("{}/{run}_{service}", postgres_server()),
                Backend::Sqlite => format!("sqlite://{}/{service}.db", data.path().display()),
            },
        };
        let users = spawn_service::<users::Users>(&database_url("users"), vec![], &overrides).await;
        let users_url = overrides.users_url.clone().unwrap_or_else(|| users.address.clone());
        let notifications = spawn_service::<notifications::Notifications>(
            &database_url("notifications"),
            vec![("USERS_URL", users_url.clone())],
            &overrides,
        )
        .await;
        let notifications_url = overrides.notifications_url.clone().unwrap_or_else(|| notifications.address.clone());
        let activities_database_url = database_url("activities");
        let activities = spawn_service::<activities::Activities>(
            &activities_database_url,
            vec![("USERS_URL", users_url), ("NOTIFICATIONS_URL", notifications_url)],
            &overrides,
        )
        .await;
        Self { activities, users, notifications, http: reqwest::Client::new(), activities_database_url, _data: data }
    }

    pub fn activities_database_url(&self) -> String {
        self.activities_database_url.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.activities.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("activities answers")
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        read(self.get(path).await).await
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        read(self.http.post(self.url(path)).json(&body).send().await.expect("activities answers")).await
    }
}

pub async fn read(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    assert_eq!(content_type.as_deref(), Some("application/json"), "status {status}, body {body:?}");
    (status, serde_json::from_str(&body).unwrap_or_else(|err| panic!("{err}: {body:?}")))
}

pub async fn spawn_service<S: Service>(
    database_url: &str,
    mut env: Vec<(&str, String)>,
    overrides: &Overrides,
) -> TestApp {
    env.extend([
        ("PORT", "0".to_owned()),
        ("BIND_ADDRESS", "127.0.0.1".to_owned()),
        ("DATABASE_URL", database_url.to_owned()),
    ]);
    let mut pairs: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    pairs.extend(overrides.env.iter().cloned());
    let app = Application::build::<S>(&Env::from_pairs(pairs)).await.expect("the service starts");
    S::seed(app.database()).await.expect("seeded");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp { address }
}

pub use e2e::{closed_port_url, silent_peer_url};

/// A reverse proxy that counts the requests it forwards, to prove a route
/// makes one batched call instead of one per row.
pub struct CountingProxy {
    pub url: String,
    pub count: Arc<AtomicUsize>,
    target: Arc<OnceLock<String>>,
}

impl CountingProxy {
    pub fn start() -> Self {
        let count = Arc::new(AtomicUsize::new(0));
        let target: Arc<OnceLock<String>> = Arc::default();
        let (counter, to) = (count.clone(), target.clone());
        let url = e2e::serve_on_loopback(move |config| {
            let (counter, to) = (counter.clone(), to.clone());
            config.default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (counter, to) = (counter.clone(), to.clone());
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let url = format!("{}{}", to.get().expect("proxy target set"), req.uri());
                    let answer = reqwest::Client::new()
                        .request(reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap(), url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    let status = answer.status().as_u16();
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .content_type("application/json")
                        .body(answer.bytes().await.unwrap())
                }
            }));
        });
        Self { url, count, target }
    }

    pub fn forward_to(&self, target: &str) {
        self.target.set(target.to_owned()).unwrap();
    }

    pub fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}
