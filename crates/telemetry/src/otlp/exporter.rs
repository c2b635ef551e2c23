//! The span exporter: one POST of the encoded batch per export, from the
//! batch processor's own thread (so a blocking client is the right one).

use std::{
    io::Write as _,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{SpanData, SpanExporter},
};
use reqwest::{
    StatusCode,
    blocking::Client,
    header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT},
};
use url::Url;

use super::{
    encode::{self, EncodedResource},
    retry::{self, RetryPolicy, Stop},
};
use crate::{
    config::{self, OtlpTarget},
    error::TelemetryError,
};

/// The longest wait for a connection (the specification's default export
/// timeout), whatever `OTEL_EXPORTER_OTLP_TIMEOUT` says.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error("the OTLP exporter is shut down")]
    ShutDown,
    // Neither the URL's query nor the request's headers are shown: keys live there.
    #[error("POST {endpoint}: {what}")]
    Transport {
        endpoint: String,
        what: &'static str,
        /// No connection, a timeout, or the request broken off: worth another try.
        transient: bool,
    },
    #[error("POST {endpoint}: answered {status}: rejected: check the API key (OTEL_EXPORTER_OTLP_HEADERS)")]
    Rejected { endpoint: String, status: StatusCode },
    // The answer's body is not shown: collectors may echo the request's key.
    #[error("POST {endpoint}: answered {status}")]
    Status { endpoint: String, status: StatusCode, retry_after: Option<Duration> },
    #[error("gzip: {0}")]
    Gzip(#[from] std::io::Error),
}

/// POSTs spans as OTLP/HTTP protobuf to the resolved traces endpoint, with the
/// headers, compression and timeout of the `OTEL_EXPORTER_OTLP_*` variables.
#[derive(Debug)]
pub(crate) struct OtlpExporter {
    client: Client,
    endpoint: Url,
    /// The endpoint as errors may show it.
    shown: String,
    headers: HeaderMap,
    gzip: bool,
    resource: EncodedResource,
    /// The encoded request, reused from batch to batch. Exports come one at
    /// a time from the processor's thread: the lock is never contended.
    body: Mutex<Vec<u8>>,
    retry: RetryPolicy,
    /// Raised when the service stops: no more waiting between tries.
    stop: Arc<Stop>,
    shut_down: AtomicBool,
}

impl OtlpExporter {
    pub(crate) fn new(target: &OtlpTarget) -> Result<Self, TelemetryError> {
        let mut headers = HeaderMap::new();
        // The OTLP spec's form (exporter, language, version), naming this crate.
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!(
                "OTel-OTLP-Exporter-Rust/",
                env!("CARGO_PKG_VERSION"),
                " (cruddur-telemetry)"
            )),
        );
        // The configured ones may replace the user agent, as before.
        for header in &target.headers {
            // Checked when the configuration was read; failing here is a bug,
            // reported without the value.
            let invalid = || TelemetryError::Exporter(format!("export header {} cannot be sent", header.name));
            let name = HeaderName::from_bytes(header.name.as_bytes()).map_err(|_| invalid())?;
            let mut value = HeaderValue::from_str(&header.value).map_err(|_| invalid())?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(Self {
            client: blocking_client(target.timeout)?,
            endpoint: target.traces_endpoint.clone(),
            shown: config::loggable(&target.traces_endpoint),
            headers,
            gzip: target.gzip,
            resource: EncodedResource::default(),
            body: Mutex::new(Vec::new()),
            retry: RetryPolicy::default(),
            stop: Arc::default(),
            shut_down: AtomicBool::new(false),
        })
    }

    /// What, raised, ends the waits between tries: from then on each batch
    /// is tried once (the last flush at shutdown has its own budget).
    pub(crate) fn stop_signal(&self) -> Arc<Stop> {
        self.stop.clone()
    }

    fn send(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(ExportError::ShutDown);
        }
        // Held through the send: only the queue's one thread exports.
        let mut body = self.body.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        encode::export_request(batch, &self.resource, &mut body);
        let (payload, encoding) = if self.gzip {
            let mut gz =
                flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 2), flate2::Compression::default());
            gz.write_all(&body)?;
            (Bytes::from(gz.finish()?), Some(HeaderValue::from_static("gzip")))
        } else {
            // reqwest wants an owned body: it is lent the buffer itself, not
            // a copy of the whole batch (memcpy −2 k instructions of a home
            // request with OTLP on, scripts/bench --instructions).
            (Bytes::from(std::mem::take(&mut *body)), None)
        };
        let outcome = self.post_with_retries(&payload, encoding);
        // Taken back for the next batch once reqwest has let go of it (it
        // has when the answer is in); if not, the next batch grows a new one.
        if !self.gzip
            && let Ok(buffer) = payload.try_into_mut()
        {
            *body = Vec::from(buffer);
        }
        outcome
    }

    /// Posts, and posts again after a transient failure as [`RetryPolicy`]
    /// says, until the service stops.
    fn post_with_retries(&self, payload: &Bytes, encoding: Option<HeaderValue>) -> Result<(), ExportError> {
        let mut retry = 0;
        loop {
            let err = match self.post(payload.clone(), encoding.clone()) {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            let retry_after = match &err {
                ExportError::Transport { transient: true, .. } => None,
                ExportError::Status { status, retry_after, .. } if transient(*status) => *retry_after,
                _ => return Err(err),
            };
            retry += 1;
            let Some(delay) = self.retry.delay(retry, retry_after) else { return Err(err) };
            if !self.stop.wait(delay) {
                return Err(err);
            }
        }
    }

    fn post(&self, payload: Bytes, encoding: Option<HeaderValue>) -> Result<(), ExportError> {
        let mut request = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"))
            .body(payload);
        if let Some(encoding) = encoding {
            request = request.header(CONTENT_ENCODING, encoding);
        }
        let endpoint = || self.shown.clone();
        let response = request.send().map_err(|err| ExportError::Transport {
            endpoint: endpoint(),
            transient: err.is_timeout() || err.is_connect() || err.is_request(),
            what: if err.is_timeout() {
                "timed out (OTEL_EXPORTER_OTLP_TIMEOUT)"
            } else if err.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            },
        })?;
        let status = response.status();
        // A partial success (some spans refused) is a 2xx too; opentelemetry-otlp
        // only logged it under a target our logs turn off, so it is not read.
        match status {
            _ if status.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(ExportError::Rejected { endpoint: endpoint(), status })
            }
            _ => {
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|value| retry::retry_after(value, std::time::SystemTime::now()));
                Err(ExportError::Status { endpoint: endpoint(), status, retry_after })
            }
        }
    }
}

/// The answers the OTLP/HTTP specification says to retry; every other 4xx
/// and 5xx is final.
fn transient(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

/// reqwest's blocking client runs its own runtime, which may be neither
/// built nor dropped inside an async one (services start inside tokio): it is
/// built on a thread of its own, like opentelemetry-otlp did. `timeout`
/// `None`: no limit on an export, but connecting is still bounded, so a
/// collector that never accepts cannot hold the queue's thread forever.
fn blocking_client(timeout: Option<Duration>) -> Result<Client, TelemetryError> {
    let connect = timeout.unwrap_or(CONNECT_TIMEOUT).min(CONNECT_TIMEOUT);
    std::thread::spawn(move || Client::builder().timeout(timeout).connect_timeout(connect).build())
        .join()
        .map_err(|_| TelemetryError::Exporter("building the HTTP client panicked".into()))?
        .map_err(|err| TelemetryError::Exporter(err.without_url().to_string()))
}

impl SpanExporter for OtlpExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.send(&batch).map_err(|err| match err {
            ExportError::ShutDown => OTelSdkError::AlreadyShutdown,
            err => OTelSdkError::InternalFailure(err.to_string()),
        })
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        // Nothing is buffered here (the processor holds the spans).
        if self.shut_down.swap(true, Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = EncodedResource::new(resource);
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{BufRead, BufReader, Read},
        net::TcpListener,
        thread::JoinHandle,
    };

    use super::*;
    use crate::config::ExportHeader;

    /// Answers one request with `status` (and a body echoing a key, as some
    /// collectors do); hands back the request's head and body.
    fn answer_once(status: &'static str) -> (Url, JoinHandle<Received>) {
        let (url, server) = answer(&[status]);
        (url, std::thread::spawn(move || server.join().unwrap().remove(0)))
    }

    /// A request as the server read it: its head and its body.
    type Received = (String, Vec<u8>);

    /// Answers one request per status, each on its own connection; a status
    /// may carry header lines after it (`"429 Too Many Requests\r\nretry-after: 0"`).
    fn answer(statuses: &[&'static str]) -> (Url, JoinHandle<Vec<Received>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/v1/traces?api_key=QUERYKEY", listener.local_addr().unwrap())).unwrap();
        let statuses = statuses.to_vec();
        let server = std::thread::spawn(move || {
            statuses
                .into_iter()
                .map(|status| {
                    let (stream, _) = listener.accept().unwrap();
                    let mut reader = BufReader::new(stream);
                    let mut head = String::new();
                    while !head.ends_with("\r\n\r\n") {
                        reader.read_line(&mut head).unwrap();
                    }
                    let length = head
                        .lines()
                        .find_map(|line| {
                            line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let answer =
                        format!("HTTP/1.1 {status}\r\ncontent-length: 9\r\nconnection: close\r\n\r\nSECRETKEY");
                    std::io::Write::write_all(reader.get_mut(), answer.as_bytes()).unwrap();
                    (head, body)
                })
                .collect()
        });
        (url, server)
    }

    /// Retries a millisecond apart: the tests wait for nothing.
    const QUICK: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        max_retry_after: Duration::from_secs(1),
    };

    fn exporter(url: Url, gzip: bool) -> OtlpExporter {
        OtlpExporter { retry: QUICK, ..OtlpExporter::new(&target(url, gzip)).unwrap() }
    }

    fn target(url: Url, gzip: bool) -> OtlpTarget {
        OtlpTarget {
            traces_endpoint: url,
            header_names: vec!["x-honeycomb-team".into()],
            headers: vec![ExportHeader { name: "x-honeycomb-team".into(), value: "SECRETKEY".into() }],
            gzip,
            timeout: Some(Duration::from_secs(5)),
        }
    }

    #[test]
    fn posts_protobuf_with_the_configured_headers() {
        let (url, server) = answer_once("200 OK");
        let exporter = exporter(url, false);
        exporter.send(&[]).unwrap();
        let (head, body) = server.join().unwrap();
        let head = head.to_ascii_lowercase();
        assert!(head.starts_with("post /v1/traces?api_key=querykey "), "{head}");
        assert!(head.contains("content-type: application/x-protobuf"), "{head}");
        assert!(head.contains("x-honeycomb-team: secretkey"), "{head}");
        assert!(!head.contains("content-encoding"), "{head}");
        let mut expected = Vec::new();
        encode::export_request(&[], &EncodedResource::default(), &mut expected);
        assert_eq!(body, expected);
    }

    #[test]
    fn each_batch_gets_its_own_body_whether_or_not_the_buffer_came_back() {
        // Whether reqwest has let go of the lent buffer when the answer is
        // in depends on its connection task: either way the next body is whole.
        let (url, server) = answer(&["200 OK"; 2]);
        let exporter = exporter(url, false);
        exporter.send(&[]).unwrap();
        exporter.send(&[]).unwrap();
        let bodies = server.join().unwrap();
        let (first, second) = (&bodies[0].1, &bodies[1].1);
        assert_eq!(first, second);
        assert!(!second.is_empty());
    }

    #[test]
    fn gzip_when_asked() {
        let (url, server) = answer_once("200 OK");
        exporter(url, true).send(&[]).unwrap();
        let (head, body) = server.join().unwrap();
        assert!(head.to_ascii_lowercase().contains("content-encoding: gzip"), "{head}");
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(body.as_slice()).read_to_end(&mut decoded).unwrap();
        let mut expected = Vec::new();
        encode::export_request(&[], &EncodedResource::default(), &mut expected);
        assert_eq!(decoded, expected);
    }

    #[test]
    fn a_refused_key_is_said_without_any_secret() {
        for (status, says) in [
            ("401 Unauthorized", "rejected: check the API key (OTEL_EXPORTER_OTLP_HEADERS)"),
            ("403 Forbidden", "rejected: check the API key"),
            ("500 Internal Server Error", "answered 500 Internal Server Error"),
        ] {
            let (url, server) = answer_once(status);
            let err = exporter(url, false).send(&[]).unwrap_err().to_string();
            server.join().unwrap();
            assert!(err.contains(says), "{err}");
            assert!(!err.contains("SECRETKEY") && !err.contains("QUERYKEY"), "{err}");
        }
    }

    #[test]
    fn transient_failures_are_tried_again_with_the_same_body() {
        let (url, server) = answer(&[
            "503 Service Unavailable",
            "429 Too Many Requests\r\nretry-after: 0",
            "502 Bad Gateway",
            "504 Gateway Timeout",
            "200 OK",
        ]);
        exporter(url, false).send(&[]).unwrap();
        let bodies: Vec<Vec<u8>> = server.join().unwrap().into_iter().map(|(_, body)| body).collect();
        assert_eq!(bodies.len(), 5);
        assert!(bodies.iter().all(|body| *body == bodies[0] && !body.is_empty()));
    }

    #[test]
    fn other_failures_and_long_pauses_are_final() {
        // Were either tried again, the second try would find nobody
        // listening and fail for another reason than the answer.
        for (status, says) in [
            ("400 Bad Request", "answered 400"),
            ("500 Internal Server Error", "answered 500"),
            ("429 Too Many Requests\r\nretry-after: 3600", "answered 429"),
        ] {
            let (url, server) = answer_once(status);
            let err = exporter(url, false).send(&[]).unwrap_err().to_string();
            server.join().unwrap();
            assert!(err.contains(says), "{status}: {err}");
        }
    }

    #[test]
    fn tries_are_bounded() {
        let (url, server) = answer(&["503 Service Unavailable"; 5]);
        let err = exporter(url, false).send(&[]).unwrap_err().to_string();
        assert_eq!(server.join().unwrap().len(), 5);
        assert!(err.contains("answered 503"), "{err}");
    }

    #[test]
    fn once_stopped_a_batch_is_tried_once() {
        let (url, server) = answer_once("503 Service Unavailable");
        let exporter = exporter(url, false);
        exporter.stop_signal().raise();
        let err = exporter.send(&[]).unwrap_err().to_string();
        server.join().unwrap();
        assert!(err.contains("answered 503"), "not tried again: {err}");
    }

    #[test]
    fn nothing_is_sent_after_shutdown() {
        let url = Url::parse("http://127.0.0.1:9/v1/traces").unwrap();
        let exporter = exporter(url, false);
        exporter.shutdown_with_timeout(Duration::from_secs(1)).unwrap();
        assert!(matches!(exporter.send(&[]), Err(ExportError::ShutDown)));
        assert!(exporter.shutdown_with_timeout(Duration::from_secs(1)).is_err());
    }

    #[test]
    fn an_unreachable_endpoint_is_said_without_its_query() {
        let url = Url::parse("http://127.0.0.1:9/v1/traces?api_key=QUERYKEY").unwrap();
        let err = exporter(url, false).send(&[]).unwrap_err().to_string();
        assert!(err.contains("http://127.0.0.1:9/v1/traces") && !err.contains("QUERYKEY"), "{err}");
    }
}
