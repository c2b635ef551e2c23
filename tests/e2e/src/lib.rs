//! End-to-end tests of the Cruddur services live in `tests/`; this library
//! holds what both test binaries use.

use std::net::TcpListener;

use actix_web::{App, HttpServer, web};

/// The PostgreSQL server the tests use: `TEST_POSTGRES_URL`, else the local
/// one (every machine here has one). A URL without a database name.
pub fn postgres_server() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Serves `routes` on a random loopback port from the current tokio runtime,
/// for stand-ins of the services ours talk to (OTLP, AWS, Honeycomb…).
/// Returns the base URL.
pub fn serve_on_loopback(routes: impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://127.0.0.1:{}", listener.local_addr().expect("a bound port").port());
    let server = HttpServer::new(move || App::new().configure(routes.clone()))
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listening")
        .run();
    tokio::spawn(server);
    url
}

/// A loopback URL with nothing listening: connections are refused at once.
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("a bound port").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A loopback peer that accepts connections and never answers (while the
/// returned listener lives).
pub fn silent_peer_url() -> (String, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://127.0.0.1:{}", listener.local_addr().expect("a bound port").port());
    (url, listener)
}
