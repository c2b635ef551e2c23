//! End-to-end tests of the Cruddur services live in `tests/`; this library
//! holds what both test binaries use.

use std::{
    io::{Read, Write},
    net::TcpListener,
};

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

/// A loopback HTTP peer that reads each request whole (headers and the body
/// its Content-Length announces) and sends `answer`, a whole HTTP response:
/// a stand-in for an endpoint that refuses or throttles.
pub fn answering_peer_url(answer: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://127.0.0.1:{}", listener.local_addr().expect("a bound port").port());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut request = Vec::new();
                let mut buffer = [0u8; 65536];
                loop {
                    let Ok(n) = stream.read(&mut buffer) else { return };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0usize);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let _ = stream.write_all(answer.as_bytes());
            });
        }
    });
    url
}

/// A loopback peer that accepts connections and never answers (while the
/// returned listener lives).
pub fn silent_peer_url() -> (String, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://127.0.0.1:{}", listener.local_addr().expect("a bound port").port());
    (url, listener)
}
