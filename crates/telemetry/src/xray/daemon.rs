//! Segment documents to the X-Ray daemon over UDP, from the batch
//! processor's thread: the request path only queues the span. UDP never
//! waits for the daemon, so a missing daemon costs the datagrams and nothing
//! else.

use std::{
    net::{SocketAddr, ToSocketAddrs, UdpSocket},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use opentelemetry_sdk::{
    error::{OTelSdkError, OTelSdkResult},
    trace::{SpanData, SpanExporter},
};

use super::translation::Documents;

/// How long a resolved daemon address is trusted: compose may restart the
/// daemon under a new IP.
const RESOLVE_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct DaemonExporter {
    address: String,
    documents: Documents,
    target: Mutex<Option<Target>>,
    /// From batches that were otherwise sent (a batch that went not at all
    /// is an error, counted by the caller in spans): documents too large to
    /// send at all, and datagrams the socket refused (a datagram is a
    /// document or a part of one).
    lost_documents: AtomicU64,
    lost_datagrams: AtomicU64,
    /// Whether the first such loss was logged: once, then the total at shutdown.
    reported: AtomicBool,
}

#[derive(Debug)]
struct Target {
    address: SocketAddr,
    socket: UdpSocket,
    resolved_at: Instant,
}

impl DaemonExporter {
    /// `address` is `host:port`; it is resolved when the first batch goes out.
    pub fn new(address: String, documents: Documents) -> Self {
        Self {
            address,
            documents,
            target: Mutex::new(None),
            lost_documents: AtomicU64::new(0),
            lost_datagrams: AtomicU64::new(0),
            reported: AtomicBool::new(false),
        }
    }

    fn connect(&self) -> Result<Target, String> {
        // Blocking DNS, on the exporter's thread only.
        let address = self
            .address
            .to_socket_addrs()
            .map_err(|err| format!("cannot resolve the X-Ray daemon {}: {err}", self.address))?
            .next()
            .ok_or_else(|| format!("the X-Ray daemon {} resolves to no address", self.address))?;
        let local: SocketAddr = if address.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let socket = UdpSocket::bind(local).map_err(|err| format!("cannot open a UDP socket: {err}"))?;
        Ok(Target { address, socket, resolved_at: Instant::now() })
    }
}

impl SpanExporter for DaemonExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut target = self.target.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if target.as_ref().is_none_or(|t| t.resolved_at.elapsed() > RESOLVE_EVERY) {
            *target = Some(self.connect().map_err(OTelSdkError::InternalFailure)?);
        }
        let Some(Target { address, socket, .. }) = target.as_ref() else { unreachable!("set above") };
        let (mut sent, mut failed, mut error) = (0u64, 0u64, None);
        let too_large = self.documents.each_datagram(&batch, &mut |datagram| match socket.send_to(datagram, address) {
            Ok(_) => sent += 1,
            Err(err) => {
                failed += 1;
                error.get_or_insert(err);
            }
        });
        if failed > 0 {
            // Resolve again next time: the daemon may have moved.
            *target = None;
        }
        if failed + too_large == 0 {
            return Ok(());
        }
        if sent == 0 {
            // Nothing went: the whole batch is lost (the caller counts its spans).
            return Err(OTelSdkError::InternalFailure(describe(failed, too_large, error)));
        }
        // Some datagrams went: counting the whole batch lost would overstate
        // it, so only the documents that did not go are counted, here.
        self.lost_documents.fetch_add(too_large, Ordering::Relaxed);
        self.lost_datagrams.fetch_add(failed, Ordering::Relaxed);
        if !self.reported.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "telemetry",
                exporter = "xray",
                error = %describe(failed, too_large, error),
                "segment documents not sent; the rest of their batch was (total reported at shutdown)"
            );
        }
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        let documents = self.lost_documents.load(Ordering::Relaxed);
        let datagrams = self.lost_datagrams.load(Ordering::Relaxed);
        if documents + datagrams > 0 {
            tracing::warn!(
                target: "telemetry",
                exporter = "xray",
                lost_documents = documents,
                lost_datagrams = datagrams,
                "segment documents too large to send, and datagrams not sent"
            );
        }
        Ok(())
    }
}

/// Why documents were not sent, for the log line.
fn describe(failed: u64, too_large: u64, error: Option<std::io::Error>) -> String {
    let mut reasons = Vec::with_capacity(2);
    if let Some(error) = error {
        reasons.push(format!("{failed} datagrams not sent to the X-Ray daemon: {error}"));
    }
    if too_large > 0 {
        reasons.push(format!(
            "{too_large} segment documents over the daemon's datagram size even without subsegments and metadata"
        ));
    }
    reasons.join("; ")
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use opentelemetry::{KeyValue, trace::SpanKind};
    use opentelemetry_semantic_conventions::attribute as attr;

    use super::*;
    use crate::xray::{
        document::MAX_DATAGRAM,
        naming::SegmentNaming,
        translation::tests::{server, span},
    };

    fn documents() -> Documents {
        Documents::new(SegmentNaming { service: "activities".into(), host_pattern: None })
    }

    fn export(daemon: &UdpSocket, batch: Vec<SpanData>) -> (DaemonExporter, OTelSdkResult) {
        let exporter = DaemonExporter::new(daemon.local_addr().unwrap().to_string(), documents());
        let result = futures_executor::block_on(exporter.export(batch));
        (exporter, result)
    }

    /// What the stand-in daemon has received: every datagram that comes
    /// before it has been quiet for a moment.
    fn received(daemon: &UdpSocket) -> Vec<Vec<u8>> {
        daemon.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut buffer = vec![0; 65_536];
        let mut datagrams = Vec::new();
        while let Ok((length, _)) = daemon.recv_from(&mut buffer) {
            datagrams.push(buffer[..length].to_vec());
        }
        datagrams
    }

    /// A request and one child whose document, whole, makes a datagram of
    /// exactly `size` bytes (header line included).
    fn request_of(size: usize) -> Vec<SpanData> {
        let batch = |blob: usize| {
            let child =
                span(3, 2, false, SpanKind::Internal, "chunk", vec![KeyValue::new("app.blob", "x".repeat(blob))]);
            vec![child, server(2, 0, 200)]
        };
        let small = documents().datagrams(&batch(0)).payloads;
        assert_eq!(small.len(), 1);
        batch(size - small[0].len())
    }

    #[test]
    fn a_document_over_the_udp_payload_limit_is_split_not_lost() {
        // 65,508 to 65,536 bytes: under 64 KiB, over what a UDP datagram over
        // IPv4 carries (the socket refuses it with EMSGSIZE).
        for size in [65_508, 65_536] {
            let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
            let (_, result) = export(&daemon, request_of(size));
            assert!(result.is_ok(), "{size}: {result:?}");
            let datagrams = received(&daemon);
            assert_eq!(datagrams.len(), 2, "{size}: the segment and its subsegment, apart");
            assert!(datagrams.iter().all(|d| d.len() <= MAX_DATAGRAM), "{size}");
        }
        // The limit itself still goes whole.
        let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (_, result) = export(&daemon, request_of(MAX_DATAGRAM));
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(received(&daemon).iter().map(Vec::len).collect::<Vec<_>>(), [MAX_DATAGRAM]);
    }

    #[test]
    fn a_document_too_large_to_send_costs_itself_not_its_batch() {
        // A query too large even bare (its statement alone), under a request
        // that fits: the request's segment goes, the query is counted lost.
        let statement = format!("SELECT '{}'", "z".repeat(70_000));
        let attributes =
            vec![KeyValue::new(attr::DB_SYSTEM_NAME, "sqlite"), KeyValue::new(attr::DB_QUERY_TEXT, statement)];
        let query = span(4, 2, false, SpanKind::Client, "select", attributes);
        let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (exporter, result) = export(&daemon, vec![query, server(2, 0, 200)]);
        // An error would have the caller count both spans lost.
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(received(&daemon).len(), 1, "the request's segment");
        assert_eq!(exporter.lost_documents.load(Ordering::Relaxed), 1);

        // Nothing sent at all: the batch is lost, and that is an error.
        let statement = format!("SELECT '{}'", "z".repeat(70_000));
        let attributes =
            vec![KeyValue::new(attr::DB_SYSTEM_NAME, "sqlite"), KeyValue::new(attr::DB_QUERY_TEXT, statement)];
        let (exporter, result) = export(&daemon, vec![span(4, 2, false, SpanKind::Client, "select", attributes)]);
        assert!(result.is_err());
        assert_eq!((received(&daemon).len(), exporter.lost_documents.load(Ordering::Relaxed)), (0, 0));
    }
}
