//! Segment documents to the X-Ray daemon over UDP, from the batch
//! processor's thread: the request path only queues the span. UDP never
//! waits for the daemon, so a missing daemon costs the datagrams and nothing
//! else.

use std::{
    net::{SocketAddr, ToSocketAddrs, UdpSocket},
    sync::Mutex,
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
        Self { address, documents, target: Mutex::new(None) }
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
        let mut failed = None;
        let too_large = self.documents.each_datagram(&batch, &mut |datagram| {
            if let Err(err) = socket.send_to(datagram, address) {
                failed = Some(err);
            }
        });
        if let Some(err) = failed {
            // Resolve again next time: the daemon may have moved.
            *target = None;
            return Err(OTelSdkError::InternalFailure(format!("sending to the X-Ray daemon: {err}")));
        }
        if too_large > 0 {
            return Err(OTelSdkError::InternalFailure(format!(
                "{too_large} segment documents over the daemon's datagram size even without subsegments and metadata"
            )));
        }
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}
