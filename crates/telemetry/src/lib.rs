//! Tracing and logging for every Cruddur service: one call at start-up
//! ([`init`], which returns the guard that flushes everything), one middleware
//! on the actix `App` ([`RequestTelemetry`]), one
//! shared HTTP client ([`http_client`]), one span per database query
//! ([`db_client_span!`]), and the acting user on the request's root span
//! ([`ActingUser`]).
//!
//! Configuration comes only from the standard `OTEL_*` variables (see
//! README.md); `RUST_LOG` filters the stdout logs, not the spans.

mod batch;
mod bridge;
mod client_noise;
mod cloudwatch;
mod config;
mod console;
mod db;
mod error;
mod hex_ids;
mod http_client;
mod http_server;
mod instance;
mod log_format;
mod logs;
mod otlp;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod parsers;
mod propagation;
mod rust_log;
mod span_budget;
mod stdout_writer;
mod string_values;
mod traces;
mod xray;

use std::{io::IsTerminal, sync::Arc};

use environment::Env;
use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt};

// What the services use; everything else stays inside the crate.
use cloudwatch::CloudWatchConfig;
use config::TelemetryConfig;
pub use db::record_result;
pub use error::TelemetryError;
pub use http_client::{HttpClient, http_client};
pub use http_server::{ActingUser, RequestTelemetry};
use log_format::{LogFormat, StdoutLines};
/// The request's root span, an actix extractor: where [`ActingUser`] records.
pub use tracing_actix_web::RootSpan;
use xray::XrayConfig;

/// Keeps telemetry running. [`Telemetry::shutdown`] (or drop) flushes the
/// buffered spans, then the buffered log lines. Call it after the HTTP server
/// has stopped and outside any async runtime: flushing blocks.
#[must_use = "dropping the guard stops telemetry"]
pub struct Telemetry {
    spans: Option<Arc<traces::SpanPipeline>>,
    cloudwatch: Option<cloudwatch::Shipper>,
    stdout: Option<stdout_writer::StdoutGuard>,
    /// `TELEMETRY_SHUTDOWN_TIMEOUT_MS`: all the flushing at shutdown shares it.
    shutdown_budget: std::time::Duration,
}

/// Installs logs and tracing for `service` (the default `OTEL_SERVICE_NAME`),
/// configured by the process environment. Call it once, before the async
/// runtime starts.
pub fn init(service: &'static str) -> Result<Telemetry, TelemetryError> {
    init_with(service, &Env::process())
}

/// [`init`] reading its variables from `env` (the same reader service-kit's
/// configuration uses), so a test can install telemetry from a map.
pub fn init_with(service: &'static str, env: &Env) -> Result<Telemetry, TelemetryError> {
    let config = TelemetryConfig::from_env(service, env)?;
    let cloudwatch_config = CloudWatchConfig::from_env(env)?;
    let xray_config = XrayConfig::from_env(&config.service_name, env)?;
    let (lines, ansi) = match LogFormat::from_env(env, std::io::stdout().is_terminal())? {
        LogFormat::Json => {
            (StdoutLines::Json(logs::JsonLines::new(&config.service_name, cloudwatch_config.is_some())), false)
        }
        LogFormat::Human { ansi } => (StdoutLines::Human(log_format::HumanLines::new(&config.service_name)), ansi),
    };
    // Lossy: when stdout cannot keep up, lines are dropped (and counted)
    // rather than making a request wait.
    let (stdout, stdout_guard) =
        stdout_writer::start(std::io::stdout(), config.stdout_buffer_lines, config::STDOUT_STOP_TIMEOUT)
            .map_err(|source| TelemetryError::Thread { name: "stdout".into(), source })?;
    let logs = tracing_subscriber::fmt::layer()
        .fmt_fields(logs::NoSpanFields)
        .event_format(lines)
        .with_ansi(ansi)
        .with_writer(stdout);
    let logs = rust_log::RustLogFilter::new(logs, env.get("RUST_LOG").as_deref())?;

    let service_name = config.service_name.clone();
    // Propagation stays on with the SDK disabled: a request's trace context
    // still passes through to the services it calls (bridge.rs, `PassedThrough`).
    opentelemetry::global::set_text_map_propagator(propagation::composite(&config.propagators));
    let (span_layer, spans) = if config.sdk_disabled {
        (None, None)
    } else {
        let instance = instance::instance_id(&config.service_name);
        let pipeline = Arc::new(traces::SpanPipeline::new(&config, &xray_config, &instance)?);
        let layer = bridge::OtelLayer::new(pipeline.clone());
        (Some(layer), Some(pipeline))
    };
    let (cloudwatch, cloudwatch_layer) = match cloudwatch_config {
        Some(config) => {
            let (shipper, layer) = cloudwatch::Shipper::start(config, &service_name)?;
            (Some(shipper), Some(layer))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(logs)
        .with(span_layer)
        .with(cloudwatch_layer)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;

    let otlp = config.otlp.as_ref();
    tracing::info!(
        traces_endpoint = otlp.map(|o| config::loggable(&o.traces_endpoint)).as_deref().unwrap_or("off"),
        export_headers = ?otlp.map(|o| &o.header_names),
        console = config.console,
        sdk_disabled = config.sdk_disabled,
        propagators = ?config.propagators,
        xray_daemon = if config.sdk_disabled { None } else { xray_config.daemon.as_deref() }.unwrap_or("off"),
        xray_sampling_rules = ?xray_config.rules.rules().iter().map(|rule| rule.name.as_str()).collect::<Vec<_>>(),
        cloudwatch_log_group = cloudwatch.as_ref().map(|c| c.log_group.as_str()).unwrap_or("off"),
        cloudwatch_log_stream = cloudwatch.as_ref().map(|c| c.log_stream.as_str()).unwrap_or("off"),
        "telemetry started"
    );
    for note in &config.notes {
        tracing::warn!(target: "telemetry", "{note}");
    }
    Ok(Telemetry { spans, cloudwatch, stdout: Some(stdout_guard), shutdown_budget: config.shutdown_budget })
}

impl Telemetry {
    /// Flushes and stops everything, in order: spans first (their export may
    /// still log), then CloudWatch, then the stdout writer.
    pub fn shutdown(mut self) {
        self.close();
    }

    /// One budget for every flush, spent in order: a dead span exporter
    /// leaves CloudWatch only what remains, and shutdown never takes longer
    /// than the budget (plus the stdout writer's last lines).
    fn close(&mut self) {
        let deadline = std::time::Instant::now() + self.shutdown_budget;
        if let Some(spans) = self.spans.take()
            && let Err(err) = spans.shutdown_with_timeout(self.shutdown_budget)
        {
            tracing::warn!(
                target: "telemetry",
                error = %err,
                budget_ms = self.shutdown_budget.as_millis() as u64,
                "spans still buffered at shutdown were not flushed"
            );
        }
        if let Some(cloudwatch) = self.cloudwatch.take() {
            cloudwatch.shutdown(deadline.saturating_duration_since(std::time::Instant::now()));
        }
        if let Some(stdout) = self.stdout.take() {
            let dropped = stdout.dropped_lines();
            if dropped > 0 {
                tracing::warn!(target: "telemetry", dropped_lines = dropped, "log lines stdout could not keep up with were dropped");
            }
            stdout.stop();
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.close();
    }
}

#[doc(hidden)]
pub mod __private {
    pub use opentelemetry_semantic_conventions::attribute as semconv;
    pub use tracing;
}
