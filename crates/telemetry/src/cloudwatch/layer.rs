//! The tracing layer that offers each event to the shipper's queue.

use std::sync::{Arc, atomic::Ordering};

use tokio::sync::mpsc;
use tracing::{Event, Subscriber};
use tracing_subscriber::{Layer, layer::Context, registry::LookupSpan};

use super::{
    batch::LogEvent,
    channel::{Message, Shared, on_shipper_thread, unshipped},
};
use crate::logs::{cloudwatch_line, otel_ids, take_line_for};

/// Targets of the libraries the shipper itself uses (some work on other
/// threads, e.g. DNS lookups): never shipped either.
const OWN_TRANSPORT: &[&str] = &["aws_", "hyper", "h2", "rustls", "tower", "reqwest"];

/// Offers events to the shipper. Which levels and targets: the layer's
/// filter (see `Shipper::start`), so callsites below the level stay disabled.
pub struct CloudWatchLayer {
    service: String,
    queue: mpsc::Sender<Message>,
    shared: Arc<Shared>,
}

impl CloudWatchLayer {
    pub(super) fn new(service: &str, queue: mpsc::Sender<Message>, shared: Arc<Shared>) -> Self {
        Self { service: service.to_owned(), queue, shared }
    }
}

impl<S> Layer<S> for CloudWatchLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Taken first, whatever happens next: a line is only ever offered to
        // the dispatch that wrote it.
        let written = take_line_for(event);
        let meta = event.metadata();
        if !self.shared.enabled.load(Ordering::Relaxed)
            || on_shipper_thread()
            || OWN_TRANSPORT.iter().any(|prefix| meta.target().starts_with(prefix))
        {
            return;
        }
        let message = written.unwrap_or_else(|| {
            // stdout is in the human format, or filtered this event out.
            let current = ctx.lookup_current();
            let span = current.as_ref().map(|span| span.name());
            let ids = otel_ids(current);
            // A field that fails to format leaves the line cut short; it is shipped as it is.
            cloudwatch_line(&self.service, event, span, ids.as_ref()).0
        });
        let event = LogEvent::new(chrono::Utc::now().timestamp_millis(), message);
        let size = event.size();
        let full = if self.shared.admit(size) {
            match self.queue.try_send(Message::Event(event)) {
                Ok(()) => false,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.shared.release(size);
                    true
                }
                // The shipper has stopped (the process is stopping): the queue
                // is not full, and the line is on stdout; nothing to report.
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.shared.release(size);
                    false
                }
            }
        } else {
            true
        };
        if full {
            // CloudWatch away or slow: drop, count, say so once.
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            if !self.shared.queue_full_reported.swap(true, Ordering::Relaxed) {
                report_first_drop();
            }
        }
    }
}

/// Reporting a drop must not itself go through the layer that is dropping.
fn report_first_drop() {
    unshipped(|| {
        tracing::warn!(target: "telemetry", "CloudWatch log queue full: log lines are dropped (total reported at shutdown)");
    });
}
