//! Both listeners bound and serving, from one store.

use std::{net::SocketAddr, sync::Mutex};

use actix_web::{App, HttpServer, dev::Server, web};

use crate::{SharedStore, config::Config, printer, receiver, store::Store, ui};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {address} ({variable}): {source}")]
    Bind { address: SocketAddr, variable: &'static str, source: std::io::Error },
}

/// The two servers, bound; they serve once awaited.
pub struct Running {
    pub otlp_address: SocketAddr,
    pub ui_address: SocketAddr,
    pub otlp: Server,
    pub ui: Server,
    pub store: web::Data<SharedStore>,
}

impl Running {
    /// Binds both addresses (before anything else, so a port in use is said
    /// at once) and builds the servers. Must run inside an actix runtime.
    pub fn start(config: &Config) -> Result<Self, StartError> {
        let store: web::Data<SharedStore> = web::Data::new(Mutex::new(Store::new(config.max_traces, config.max_spans)));
        let (otlp_listener, otlp_address) = bind(config.otlp_address, "TRACE_VIEW_OTLP_ADDRESS")?;
        let (ui_listener, ui_address) = bind(config.ui_address, "TRACE_VIEW_UI_ADDRESS")?;
        let bind_error = |address, variable| move |source| StartError::Bind { address, variable, source };

        let (receiver_store, max_body) = (store.clone(), config.max_body_bytes);
        let otlp =
            HttpServer::new(move || App::new().app_data(receiver_store.clone()).configure(receiver::routes(max_body)))
                // One worker each: a development tool on a laptop next to the services.
                .workers(1)
                .disable_signals()
                .shutdown_timeout(2)
                .listen(otlp_listener)
                .map_err(bind_error(otlp_address, "TRACE_VIEW_OTLP_ADDRESS"))?
                .run();

        let page_store = store.clone();
        let ui = HttpServer::new(move || App::new().app_data(page_store.clone()).configure(ui::routes))
            .workers(1)
            .disable_signals()
            .shutdown_timeout(2)
            .listen(ui_listener)
            .map_err(bind_error(ui_address, "TRACE_VIEW_UI_ADDRESS"))?
            .run();
        Ok(Self { otlp_address, ui_address, otlp, ui, store })
    }

    /// Where a browser on this machine opens the list: `http://localhost:16686`.
    pub fn ui_base(&self) -> String {
        let ip = self.ui_address.ip();
        let host = if ip.is_loopback() || ip.is_unspecified() { "localhost".to_owned() } else { ip.to_string() };
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        format!("http://{host}:{}", self.ui_address.port())
    }

    /// The URL exporters send to (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    pub fn traces_endpoint(&self) -> String {
        format!("http://{}{}", self.otlp_address, receiver::TRACES_PATH)
    }

    /// Serves and prints finished traces until both servers are stopped.
    pub async fn serve(self, config: &Config) -> std::io::Result<()> {
        let printer = actix_web::rt::spawn(printer::run(self.store.clone(), config.quiet, self.ui_base()));
        let (otlp, ui) = tokio::join!(self.otlp, self.ui);
        printer.abort();
        otlp.and(ui)
    }
}

fn bind(address: SocketAddr, variable: &'static str) -> Result<(std::net::TcpListener, SocketAddr), StartError> {
    let error = |source| StartError::Bind { address, variable, source };
    let listener = std::net::TcpListener::bind(address).map_err(error)?;
    let bound = listener.local_addr().map_err(error)?;
    Ok((listener, bound))
}
