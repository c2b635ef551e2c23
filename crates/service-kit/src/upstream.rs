//! A typed client for another Cruddur service over the shared HTTP client.
//! Failures become [`UpstreamError`]s that answer 503 (unreachable),
//! 504 (timed out) or 502 (a bad answer), always as JSON.

use actix_web::http::StatusCode;
use serde::{Serialize, de::DeserializeOwned};
use telemetry::HttpClient;
use url::Url;

#[derive(Clone, Debug)]
pub struct Upstream {
    service: &'static str,
    base: Url,
    http: HttpClient,
}

#[derive(Debug, thiserror::Error)]
#[error("{service} service {failure}")]
pub struct UpstreamError {
    pub service: &'static str,
    pub failure: UpstreamFailure,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamFailure {
    #[error("is unreachable")]
    Unreachable,
    #[error("timed out")]
    TimedOut,
    #[error("answered {0}")]
    BadStatus(u16),
    #[error("sent an answer that could not be read")]
    BadBody,
}

impl UpstreamError {
    pub fn status_code(&self) -> StatusCode {
        match self.failure {
            UpstreamFailure::Unreachable => StatusCode::SERVICE_UNAVAILABLE,
            UpstreamFailure::TimedOut => StatusCode::GATEWAY_TIMEOUT,
            UpstreamFailure::BadStatus(_) | UpstreamFailure::BadBody => StatusCode::BAD_GATEWAY,
        }
    }

    pub fn code(&self) -> &'static str {
        match self.failure {
            UpstreamFailure::Unreachable => "upstream_unavailable",
            UpstreamFailure::TimedOut => "upstream_timeout",
            UpstreamFailure::BadStatus(_) | UpstreamFailure::BadBody => "upstream_bad_response",
        }
    }
}

impl Upstream {
    pub fn new(service: &'static str, base: Url, http: HttpClient) -> Self {
        Self { service, base, http }
    }

    /// `base` with `segments` appended, each percent-encoded as one segment.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut().expect("http(s) base URLs can have paths").pop_if_empty().extend(segments);
        url
    }

    /// GET a JSON answer; a 404 is `None`.
    pub async fn get_optional<T: DeserializeOwned>(&self, url: Url) -> Result<Option<T>, UpstreamError> {
        let response = self.http.get(url).send().await.map_err(|err| self.failed(&err))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.read(response).await.map(Some)
    }

    pub async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, UpstreamError> {
        let response = self.http.get(url).send().await.map_err(|err| self.failed(&err))?;
        self.read(response).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, url: Url, body: &B) -> Result<T, UpstreamError> {
        let response = self.http.post(url).json(body).send().await.map_err(|err| self.failed(&err))?;
        self.read(response).await
    }

    /// Sends `body` and hands back the answer as is when it is a 2xx or 4xx
    /// with a JSON body; a 5xx or anything unreadable is the upstream's failure.
    pub async fn forward<B: Serialize>(
        &self,
        method: reqwest::Method,
        url: Url,
        body: &B,
    ) -> Result<(u16, serde_json::Value), UpstreamError> {
        let response = self.http.request(method, url).json(body).send().await.map_err(|err| self.failed(&err))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(self.error(UpstreamFailure::BadStatus(status.as_u16())));
        }
        let answer = response.json().await.map_err(|err| self.unread(&err))?;
        Ok((status.as_u16(), answer))
    }

    async fn read<T: DeserializeOwned>(&self, response: reqwest::Response) -> Result<T, UpstreamError> {
        let status = response.status();
        if !status.is_success() {
            return Err(self.error(UpstreamFailure::BadStatus(status.as_u16())));
        }
        response.json().await.map_err(|err| self.unread(&err))
    }

    /// Why an answer's body could not be read: the peer went away while
    /// sending it (it died mid-answer: unreachable, as for a refused
    /// connection), took too long, or sent something that is not the JSON
    /// expected.
    fn unread(&self, err: &reqwest::Error) -> UpstreamError {
        // reqwest calls both a cut-off body and JSON it cannot parse "decode"
        // errors; only the second carries serde_json's error.
        let not_json = std::error::Error::source(err).is_some_and(|source| source.is::<serde_json::Error>());
        let failure = if err.is_timeout() {
            UpstreamFailure::TimedOut
        } else if not_json {
            UpstreamFailure::BadBody
        } else {
            UpstreamFailure::Unreachable
        };
        self.error(failure)
    }

    fn failed(&self, err: &reqwest_middleware::Error) -> UpstreamError {
        let failure = match err {
            // A connect timeout is an unreachable peer, not a slow one.
            reqwest_middleware::Error::Reqwest(err) if err.is_connect() => UpstreamFailure::Unreachable,
            reqwest_middleware::Error::Reqwest(err) if err.is_timeout() => UpstreamFailure::TimedOut,
            _ => UpstreamFailure::Unreachable,
        };
        self.error(failure)
    }

    fn error(&self, failure: UpstreamFailure) -> UpstreamError {
        UpstreamError { service: self.service, failure }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::TcpListener,
    };

    use super::*;

    /// A peer that reads one request and answers `answer`, then hangs up.
    fn peer(answer: &'static str) -> Url {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(answer.as_bytes());
        });
        url
    }

    async fn get_from(answer: &'static str) -> UpstreamFailure {
        let upstream = Upstream::new("users", peer(answer), telemetry::http_client(reqwest::Client::new()));
        let url = upstream.url(&["api", "users"]);
        upstream.get::<Vec<serde_json::Value>>(url).await.unwrap_err().failure
    }

    #[tokio::test]
    async fn a_peer_dying_mid_answer_is_unreachable_and_nonsense_is_a_bad_answer() {
        let cut = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n[{\"uuid\"";
        assert!(matches!(get_from(cut).await, UpstreamFailure::Unreachable));
        let nonsense = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5\r\n\r\nhello";
        assert!(matches!(get_from(nonsense).await, UpstreamFailure::BadBody));
    }
}
