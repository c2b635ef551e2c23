//! A steady load from a few concurrent clients, each request's outcome kept
//! with when it was sent, so a test can say what clients saw before, during
//! and after a fault. Bounded in time and in count: it stops by itself.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// Far above what a test asks for; a load left running ends here.
const MAX_DURATION: Duration = Duration::from_secs(60);
const MAX_REQUESTS_PER_CLIENT: usize = 50_000;

#[derive(Debug, Clone)]
pub struct Outcome {
    pub sent: Instant,
    /// When the answer (or the failure) came.
    pub done: Instant,
    pub answer: Answer,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The status and the JSON `error` code, if any.
    Status(u16, Option<String>),
    /// No connection could be made: nothing was sent.
    Refused,
    /// Sent, and no answer came (reset, closed, timed out).
    Lost(String),
}

pub struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<Vec<Outcome>>>,
}

impl Load {
    /// `clients` concurrent clients, each sending GET `url` again as soon as
    /// it has its answer, over one pooled HTTP client (keep-alive, as a
    /// browser or a load balancer would).
    pub fn start(url: &str, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let started = Instant::now();
        let clients = (0..clients)
            .map(|_| {
                let (stop, http, url) = (stop.clone(), http.clone(), url.to_owned());
                tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    while !stop.load(Ordering::Relaxed)
                        && started.elapsed() < MAX_DURATION
                        && outcomes.len() < MAX_REQUESTS_PER_CLIENT
                    {
                        let sent = Instant::now();
                        let answer = match http.get(&url).send().await {
                            Ok(response) => {
                                let status = response.status().as_u16();
                                let body: Option<serde_json::Value> = response.json().await.ok();
                                let code =
                                    body.and_then(|b| b.get("error").and_then(|e| e.as_str()).map(str::to_owned));
                                Answer::Status(status, code)
                            }
                            Err(err) if err.is_connect() => Answer::Refused,
                            Err(err) => Answer::Lost(format!("{err:?}")),
                        };
                        outcomes.push(Outcome { sent, done: Instant::now(), answer });
                        // Refused connections fail at once: don't spin.
                        if outcomes.last().is_some_and(|o| o.answer == Answer::Refused) {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                    outcomes
                })
            })
            .collect();
        Self { stop, clients }
    }

    /// Stops the clients; every outcome, in the order sent.
    pub async fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for client in self.clients {
            all.extend(client.await.unwrap());
        }
        all.sort_by_key(|outcome| outcome.sent);
        all
    }
}

/// How many outcomes of each kind: for failure messages.
pub fn tally(outcomes: &[Outcome]) -> std::collections::BTreeMap<String, usize> {
    let mut tally = std::collections::BTreeMap::new();
    for outcome in outcomes {
        let key = match &outcome.answer {
            Answer::Status(status, code) => format!("{status} {}", code.as_deref().unwrap_or("")),
            Answer::Refused => "refused".to_owned(),
            Answer::Lost(error) => format!("lost: {error}"),
        };
        *tally.entry(key).or_insert(0) += 1;
    }
    tally
}

/// A TCP proxy to `upstream` that holds each chunk a client sends for
/// `delay` before passing it on: a dependency that answers every request
/// slowly, so that requests are surely in flight when a test acts.
pub fn slow_proxy(upstream: u16, delay: Duration) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else { return };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let answers = tokio::spawn(async move { tokio::io::copy(&mut server_read, &mut client_write).await });
                let mut buffer = vec![0u8; 65536];
                while let Ok(n) = client_read.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    if server_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
                answers.abort();
            });
        }
    });
    url
}
