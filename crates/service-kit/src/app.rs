//! A service's life: configuration, database, HTTP server, graceful stop.
//! Each service implements [`Service`]; its binary calls [`main`], its tests
//! call [`Application::build`] with a port of 0.

use std::{future::Future, net::TcpListener, process::ExitCode};

use actix_web::{App, HttpServer, dev::Server, web};

use crate::{
    config::{CommonConfig, ConfigError, Env},
    db::{Database, DbError, Migrations, Opened},
    http,
};

/// What differs between the Cruddur services.
pub trait Service: 'static {
    /// The service name, used for `OTEL_SERVICE_NAME`'s default and the database name.
    const NAME: &'static str;
    const DEFAULT_PORT: u16;
    /// The service's own settings (beyond [`CommonConfig`]), read before
    /// anything is opened so a bad value stops the start with nothing touched.
    type Config: Send + 'static;
    /// Shared by all workers (behind `web::Data`).
    type State: Send + Sync + 'static;

    fn migrations() -> &'static Migrations;
    fn config(env: &Env) -> Result<Self::Config, ConfigError>;
    /// Builds the state from the database, the config and the one shared HTTP client.
    fn state(db: Database, config: Self::Config, http: telemetry::HttpClient) -> Self::State;
    fn routes(config: &mut web::ServiceConfig);
    /// Loads the seed data (API.md) into this service's own tables; idempotent.
    fn seed(db: &Database) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Brings rows an earlier build wrote up to this one, after the
    /// migrations, where SQL alone cannot; idempotent. Most services have
    /// nothing to do.
    fn upgrade_rows(db: &Database) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        let _ = db;
        async { Ok(()) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("seeding failed: {0}")]
    Seed(#[source] sqlx::Error),
    #[error("upgrading stored rows failed: {0}")]
    UpgradeRows(#[source] sqlx::Error),
    #[error("cannot listen on port {port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

pub struct Application {
    port: u16,
    server: Server,
    db: Database,
}

impl Application {
    pub async fn build<S: Service>(env: &Env) -> Result<Self, StartError> {
        let config = CommonConfig::from_env(env, S::DEFAULT_PORT)?;
        let service_config = S::config(env)?;
        // Calls between the services never redirect, and they are HTTP/1.1
        // (reqwest's default retry covers only HTTP/2 refusals): without
        // these, the two layers copied every request's headers for nothing.
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeouts.upstream_connect)
            .timeout(config.timeouts.upstream_request)
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .build()
            .map_err(StartError::HttpClient)?;
        let http = telemetry::http_client(http);

        let opened = open_database::<S>(&config).await?;
        let db = opened.db;
        S::upgrade_rows(&db).await.map_err(StartError::UpgradeRows)?;
        // The embedded default seeds itself on first start so a bare laptop
        // shows a feed; PostgreSQL is seeded by the documented `seed` command.
        if opened.created && config.database_url.is_none() {
            S::seed(&db).await.map_err(StartError::Seed)?;
            tracing::info!("seeded the new embedded database");
        }
        let state = web::Data::new(S::state(db.clone(), service_config, http));

        let listener = TcpListener::bind((config.bind_address, config.port))
            .map_err(|source| StartError::Bind { port: config.port, source })?;
        let port = listener.local_addr().map_err(|source| StartError::Bind { port: config.port, source })?.port();
        let origins = config.cors_origins.clone();
        let body_deadline = config.timeouts.request_body;
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(move |req, next| {
                    crate::body_deadline::read_body_within(body_deadline, req, next)
                }))
                .wrap(http::cors(&origins))
                .wrap(actix_web::middleware::from_fn(http::cors_errors_as_json))
                .wrap(telemetry::RequestTelemetry)
                .wrap(actix_web::middleware::from_fn(crate::request_task::on_own_task))
                .app_data(state.clone())
                .app_data(http::json_config())
                .app_data(http::path_config())
                .app_data(http::query_config())
                .service(http::Endpoint::new("/api/health-check").get(http::health_check))
                .configure(S::routes)
                .default_service(web::to(http::not_found))
        })
        // Signals are ours (see `main`): actix would stop at once on SIGINT.
        .disable_signals()
        // actix counts whole seconds: round up so the grace is never shorter.
        .shutdown_timeout(config.timeouts.shutdown.as_millis().div_ceil(1000).max(1) as u64)
        .listen(listener)
        .map_err(|source| StartError::Bind { port, source })?
        .run();
        tracing::info!(port, database = db.system_name(), "listening");
        Ok(Self { port, server, db })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then closes the database pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.db.close().await;
        served
    }
}

/// The whole binary of a service: `NAME [serve]` or `NAME seed`.
pub fn main<S: Service>() -> ExitCode {
    let command = std::env::args().nth(1);
    match command.as_deref() {
        None | Some("serve") => serve::<S>(),
        Some("seed") => run(seed::<S>),
        Some("health-check") => health_check::<S>(),
        Some("-h" | "--help" | "help") => {
            println!(
                "usage: {name} [serve]   serve the API on $PORT (default {port})\n       {name} seed      load the seed data into $DATABASE_URL",
                name = S::NAME,
                port = S::DEFAULT_PORT
            );
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("{}: unknown command {other:?} (try --help)", S::NAME);
            ExitCode::from(2)
        }
    }
}

fn run<F, Fut>(command: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    match actix_web::rt::System::new().block_on(command()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}", err);
            ExitCode::FAILURE
        }
    }
}

/// Telemetry starts before the runtime and is flushed after it has stopped,
/// on this plain thread: flushing blocks, and must not block a runtime.
fn serve<S: Service>() -> ExitCode {
    // One reader for telemetry's variables and the service's.
    let env = Env::process();
    let telemetry = match telemetry::init_with(S::NAME, &env) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("{}: {err}", S::NAME);
            return ExitCode::FAILURE;
        }
    };
    let code = run(|| async {
        let app = Application::build::<S>(&env).await.map_err(|err| format!("{}: {err}", S::NAME))?;
        let handle = app.handle();
        actix_web::rt::spawn(async move {
            stop_signal().await;
            tracing::info!("stopping: finishing in-flight requests");
            handle.stop(true).await;
        });
        app.run_until_stopped().await?;
        tracing::info!("stopped");
        Ok(())
    });
    telemetry.shutdown();
    code
}

async fn seed<S: Service>() -> Result<(), Box<dyn std::error::Error>> {
    let config = CommonConfig::from_env(&Env::process(), S::DEFAULT_PORT)?;
    let opened = open_database::<S>(&config).await?;
    S::seed(&opened.db).await?;
    opened.db.close().await;
    println!("{}: seed data loaded into {}", S::NAME, opened.db.system_name());
    Ok(())
}

/// For container health checks (a minimal image has no curl): asks the
/// service on this machine's `$PORT` for `/api/health-check`.
fn health_check<S: Service>() -> ExitCode {
    let port = match CommonConfig::from_env(&Env::process(), S::DEFAULT_PORT) {
        Ok(config) => config.port,
        Err(err) => {
            eprintln!("{}: {err}", S::NAME);
            return ExitCode::FAILURE;
        }
    };
    let url = format!("http://127.0.0.1:{port}/api/health-check");
    let answer = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .and_then(|client| client.get(&url).send())
        .and_then(|response| response.error_for_status())
        .and_then(|response| response.json::<serde_json::Value>());
    match answer {
        Ok(body) if body["success"] == true => ExitCode::SUCCESS,
        Ok(body) => {
            eprintln!("{}: unhealthy: {body}", S::NAME);
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("{}: {url}: {err}", S::NAME);
            ExitCode::FAILURE
        }
    }
}

/// The service's database as the common config says, created and migrated.
async fn open_database<S: Service>(config: &CommonConfig) -> Result<Opened, DbError> {
    Database::open(
        config.database_url.as_deref(),
        S::NAME,
        &config.data_dir,
        config.timeouts.db_acquire,
        S::migrations(),
    )
    .await
}

/// SIGTERM (docker stop, Kubernetes) or SIGINT (Ctrl-C): both stop gracefully.
async fn stop_signal() {
    use actix_web::rt::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot listen for stop signals");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
