//! The tracing layer that offers each event to the shipper's queue.

use std::sync::{Arc, atomic::Ordering};

use tokio::sync::mpsc;
use tracing::{Event, Subscriber, level_filters::LevelFilter};
use tracing_log::NormalizeEvent;
use tracing_subscriber::{Layer, layer::Context, registry::LookupSpan};

use super::{
    batch::LogEvent,
    channel::{Message, Shared, on_shipper_thread, unshipped},
};
use crate::logs::{cloudwatch_line, otel_ids, take_line_for};

/// Targets of the libraries the shipper itself uses (some work on other
/// threads, e.g. DNS lookups): never shipped either.
const OWN_TRANSPORT: &[&str] = &["aws_", "hyper", "h2", "rustls", "tower", "reqwest"];

/// Offers events at `CLOUDWATCH_LOG_LEVEL` and above to the shipper, except
/// client noise and the shipper's own transport.
///
/// It checks each event itself instead of through a per-layer filter
/// (`with_filter`): tracing-subscriber's `Filtered` looks each span up in the
/// registry on every enter and exit (every poll of the request's futures,
/// ~30 a request) to see whether its filter took it, though this layer only
/// handles events: −7 k instructions of a home request (scripts/bench
/// --instructions). Its level hint keeps the callsites below its level off
/// as the filter's did.
pub struct CloudWatchLayer {
    service: String,
    level: LevelFilter,
    queue: mpsc::Sender<Message>,
    shared: Arc<Shared>,
}

impl CloudWatchLayer {
    pub(super) fn new(service: &str, level: LevelFilter, queue: mpsc::Sender<Message>, shared: Arc<Shared>) -> Self {
        Self { service: service.to_owned(), level, queue, shared }
    }
}

impl<S> Layer<S> for CloudWatchLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.level)
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Taken first, whatever happens next: a line is only ever offered to
        // the dispatch that wrote it.
        let written = take_line_for(event);
        // A `log` crate record is judged by its own target, not `log`.
        let from_log = event.normalized_metadata();
        let meta = from_log.as_ref().unwrap_or_else(|| event.metadata());
        if *meta.level() > self.level
            || !crate::client_noise::keep(meta)
            || !self.shared.enabled.load(Ordering::Relaxed)
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

#[cfg(test)]
mod tests {
    use tracing_subscriber::{Registry, layer::SubscriberExt};

    use super::*;

    fn layer(level: LevelFilter) -> (CloudWatchLayer, mpsc::Receiver<Message>) {
        let (queue, events) = mpsc::channel(64);
        (CloudWatchLayer::new("svc", level, queue, Arc::new(Shared::new(1 << 20))), events)
    }

    /// The messages of the lines the layer offers the shipper while `work`
    /// runs, beside a layer that wants every level (stdout at `RUST_LOG=trace`).
    fn offered(level: LevelFilter, work: impl FnOnce()) -> Vec<String> {
        let (layer, mut events) = layer(level);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer).with(LevelFilter::TRACE), work);
        let mut messages = Vec::new();
        while let Ok(Message::Event(event)) = events.try_recv() {
            let line: serde_json::Value = serde_json::from_str(&event.message).unwrap();
            messages.push(line["message"].as_str().unwrap().to_owned());
        }
        messages
    }

    #[test]
    fn events_at_its_level_and_above_are_offered_but_not_noise_nor_its_own_transport() {
        let messages = offered(LevelFilter::WARN, || {
            tracing::info_span!("request").in_scope(|| {
                tracing::info!("below the level");
                tracing::warn!("at the level");
                tracing::error!(target: "actix_http::h1::dispatcher", "a client broke its connection");
                tracing::error!(target: "aws_smithy_runtime", "the shipper's own");
                tracing::error!("above the level");
                // A `log` record of the transport's (tracing-log's form of it).
                tracing_log::format_trace(
                    &tracing_log::log::Record::builder()
                        .target("reqwest::connect")
                        .level(tracing_log::log::Level::Error)
                        .args(format_args!("the shipper's own, through log"))
                        .build(),
                )
                .unwrap();
            });
        });
        assert_eq!(messages, ["at the level", "above the level"]);
    }

    #[test]
    fn its_level_is_tracing_s_hint() {
        // With no hint from a layer, tracing's global maximum is TRACE, and
        // every debug callsite of every library is asked about at run time.
        for level in [LevelFilter::OFF, LevelFilter::WARN, LevelFilter::DEBUG] {
            assert_eq!(Layer::<Registry>::max_level_hint(&layer(level).0), Some(level));
        }
        assert!(offered(LevelFilter::OFF, || tracing::error!("nothing at off")).is_empty());
    }
}
