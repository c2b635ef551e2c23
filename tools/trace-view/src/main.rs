//! `trace-view`: the local trace view (see the crate's documentation and
//! the README's "Trace view" section).

use std::process::ExitCode;

use anyhow::Context;
use environment::Env;
use trace_view::{config::Config, server::Running};

const USAGE: &str = "usage: trace-view [serve]       receive OTLP/HTTP traces and show them (TRACE_VIEW_* variables)
       trace-view health-check  say whether a trace view answers on the configured addresses";

fn main() -> ExitCode {
    let outcome = match std::env::args().nth(1).as_deref() {
        None | Some("serve") => serve(),
        Some("health-check") => health_check(),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("trace-view: unknown command {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("trace-view: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve() -> anyhow::Result<()> {
    let config = Config::from_env(&Env::process())?;
    actix_web::rt::System::new().block_on(async {
        let running = Running::start(&config)?;
        println!(
            "trace view: {}  (OTLP/HTTP in: {}; keeps the latest {} traces, {} spans)",
            running.ui_base(),
            running.traces_endpoint(),
            config.max_traces,
            config.max_spans
        );
        let (otlp, ui) = (running.otlp.handle(), running.ui.handle());
        actix_web::rt::spawn(async move {
            stop_signal().await;
            tokio::join!(otlp.stop(true), ui.stop(true));
        });
        running.serve(&config).await.context("serving")
    })
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn stop_signal() {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Both listeners answer: the page's health route, and an empty export.
fn health_check() -> anyhow::Result<()> {
    let config = Config::from_env(&Env::process())?;
    let local = |mut address: std::net::SocketAddr| {
        if address.ip().is_unspecified() {
            address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        address
    };
    let client = reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(3)).build()?;
    let ui = format!("http://{}/api/health", local(config.ui_address));
    client.get(&ui).send().and_then(|r| r.error_for_status()).with_context(|| ui.clone())?;
    let otlp = format!("http://{}/v1/traces", local(config.otlp_address));
    client
        .post(&otlp)
        .header("content-type", "application/x-protobuf")
        .body(Vec::new())
        .send()
        .and_then(|r| r.error_for_status())
        .with_context(|| otlp.clone())?;
    Ok(())
}
