//! One exporter's queue of finished spans and the thread that exports them in
//! batches: what the SDK's `BatchSpanProcessor` does (the same `OTEL_BSP_*`
//! settings, an export when a batch is full or the delay has passed,
//! everything queued flushed at shutdown), written here for its memory. The
//! SDK queues spans in std's `sync_channel`, which allocates and touches all
//! of its `OTEL_BSP_MAX_QUEUE_SIZE` slots at start: 2,048 × 368 bytes, 0.75
//! MiB resident for each exporter whether or not a span ever waits
//! (heaptrack). Here the queue holds the spans that wait, no more.
//!
//! How many spans may wait, and how many bytes, is the [`SpanBudget`]'s to
//! say: `Fanout` asks it before a span gets here, so the queue has no bound of
//! its own.
//!
//! [`SpanBudget`]: crate::span_budget::SpanBudget

use std::{
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use opentelemetry::Context;
use opentelemetry_sdk::{
    error::{OTelSdkError, OTelSdkResult},
    trace::{SpanData, SpanExporter},
};

use crate::config::SpanQueueLimits;

/// The queue, and the thread that empties it into the exporter.
#[derive(Debug)]
pub struct BatchExport {
    shared: Arc<Shared>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// The worker waits here for a full batch, the delay, or the stop.
    to_worker: Condvar,
    /// Shutdown waits here for the worker's last export.
    from_worker: Condvar,
    /// When a batch goes out: `max_batch` spans, or `delay` after the last
    /// export, whichever comes first.
    schedule: SpanQueueLimits,
}

#[derive(Debug, Default)]
struct Queue {
    spans: Vec<SpanData>,
    stopping: bool,
    stopped: bool,
}

impl Shared {
    /// The queue, even if a thread panicked holding it: spans are plain data.
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl BatchExport {
    /// Starts the thread that exports to `exporter` (named `name`, as the
    /// thread is).
    pub fn start<E: SpanExporter + 'static>(
        name: &str,
        exporter: E,
        schedule: SpanQueueLimits,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::default(),
            to_worker: Condvar::new(),
            from_worker: Condvar::new(),
            schedule,
        });
        let worker = std::thread::Builder::new().name(format!("spans-{name}")).spawn({
            let shared = shared.clone();
            move || run(&shared, exporter)
        })?;
        Ok(Self { shared, worker: Mutex::new(Some(worker)) })
    }

    /// Queues a finished span; a full batch wakes the worker.
    pub fn push(&self, span: SpanData) {
        let mut queue = self.shared.queue();
        // Nobody would export it.
        if queue.stopping || queue.stopped {
            return;
        }
        queue.spans.push(span);
        // Only at the threshold: waking a thread is a system call.
        if queue.spans.len() == self.shared.schedule.max_batch {
            self.shared.to_worker.notify_one();
        }
    }

    /// Tells the thread to export what is queued, shut the exporter down and
    /// stop; returns at once.
    pub fn stop(&self) -> OTelSdkResult {
        let mut queue = self.shared.queue();
        if queue.stopping {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        queue.stopping = true;
        self.shared.to_worker.notify_one();
        Ok(())
    }

    /// Waits at most `timeout` for the thread told to [`stop`](Self::stop)
    /// (an export may be stuck on a dead endpoint: the thread is then left to
    /// finish on its own).
    pub fn wait_stopped(&self, timeout: Duration) -> OTelSdkResult {
        let deadline = Instant::now() + timeout;
        let mut queue = self.shared.queue();
        while !queue.stopped {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(OTelSdkError::Timeout(timeout));
            }
            queue = self.shared.from_worker.wait_timeout(queue, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        drop(queue);
        if let Some(worker) = self.worker.lock().unwrap_or_else(PoisonError::into_inner).take() {
            worker.join().map_err(|_| OTelSdkError::InternalFailure("the span export thread panicked".into()))?;
        }
        Ok(())
    }
}

/// The worker: waits for a full batch, the delay or the stop, exports, and
/// at the stop exports everything left and shuts the exporter down.
fn run<E: SpanExporter>(shared: &Shared, exporter: E) {
    // The exporter's own HTTP calls make no telemetry of their own.
    let _suppressed = Context::enter_telemetry_suppressed_scope();
    // Said however the thread ends: were the exporter to panic, shutdown
    // would otherwise wait out its whole budget, and every flush after it.
    let _stopped = MarkStopped(shared);
    let SpanQueueLimits { max_batch, delay, .. } = shared.schedule;
    let mut next_export = Instant::now() + delay;
    loop {
        let (batch, stopping) = {
            let mut queue = shared.queue();
            while !queue.stopping && queue.spans.len() < max_batch {
                let left = next_export.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                queue = shared.to_worker.wait_timeout(queue, left).unwrap_or_else(PoisonError::into_inner).0;
            }
            let batch = if queue.spans.len() <= max_batch {
                std::mem::take(&mut queue.spans)
            } else {
                queue.spans.drain(..max_batch).collect()
            };
            (batch, queue.stopping)
        };
        let emptied = batch.len() < max_batch;
        if !batch.is_empty() {
            // Failures are the exporter's to report (ReportingExporter).
            let _ = futures_executor::block_on(exporter.export(batch));
        }
        next_export = Instant::now() + delay;
        if stopping && emptied && shared.queue().spans.is_empty() {
            break;
        }
    }
    let _ = exporter.shutdown();
}

/// Marks the worker stopped when dropped, on return or on unwinding.
struct MarkStopped<'a>(&'a Shared);

impl Drop for MarkStopped<'_> {
    fn drop(&mut self) {
        self.0.queue().stopped = true;
        self.0.from_worker.notify_all();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::{
        borrow::Cow,
        sync::mpsc,
        time::{SystemTime, UNIX_EPOCH},
    };

    use opentelemetry::{
        InstrumentationScope,
        trace::{SpanContext, SpanId, SpanKind, Status},
    };
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    /// Each batch it is given, on a channel; `hold` keeps an export waiting.
    #[derive(Debug)]
    struct Recorder {
        batches: mpsc::Sender<Vec<u64>>,
        shut_down: mpsc::Sender<()>,
        hold: Option<Mutex<mpsc::Receiver<()>>>,
        panics: bool,
    }

    impl SpanExporter for Recorder {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            assert!(!self.panics, "an exporter with a bug");
            if let Some(hold) = &self.hold {
                let _ = hold.lock().unwrap().recv();
            }
            let ids = batch.iter().map(|span| u64::from_be_bytes(span.span_context.span_id().to_bytes())).collect();
            let _ = self.batches.send(ids);
            Ok(())
        }

        fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
            let _ = self.shut_down.send(());
            Ok(())
        }
    }

    struct Started {
        export: BatchExport,
        batches: mpsc::Receiver<Vec<u64>>,
        shut_down: mpsc::Receiver<()>,
    }

    fn start(max_batch: usize, delay: Duration, hold: Option<mpsc::Receiver<()>>) -> Started {
        start_with(max_batch, delay, hold, false)
    }

    fn start_with(max_batch: usize, delay: Duration, hold: Option<mpsc::Receiver<()>>, panics: bool) -> Started {
        let (batches_to, batches) = mpsc::channel();
        let (shut_down_to, shut_down) = mpsc::channel();
        let recorder = Recorder { batches: batches_to, shut_down: shut_down_to, hold: hold.map(Mutex::new), panics };
        let limits = SpanQueueLimits { max_spans: 2048, max_bytes: 1 << 20, max_batch, delay };
        let export = BatchExport::start("test", recorder, limits).unwrap();
        Started { export, batches, shut_down }
    }

    /// A finished span with span id `id`.
    pub(crate) fn span(id: u64) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                1_u128.into(),
                SpanId::from(id),
                Default::default(),
                false,
                Default::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed("span"),
            start_time: UNIX_EPOCH,
            end_time: SystemTime::now(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::default(),
        }
    }

    impl BatchExport {
        /// Stop, then wait: what `Fanout` does for each queue.
        fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
            self.stop()?;
            self.wait_stopped(timeout)
        }
    }

    /// Long enough for any thread to be scheduled; these tests check what
    /// happens, not how fast.
    const PATIENCE: Duration = Duration::from_secs(10);
    const NEVER: Duration = Duration::from_secs(3600);

    #[test]
    fn a_full_batch_goes_out_without_waiting_for_the_delay() {
        let started = start(3, NEVER, None);
        for id in 1..=7 {
            started.export.push(span(id));
        }
        assert_eq!(started.batches.recv_timeout(PATIENCE).unwrap(), [1, 2, 3]);
        assert_eq!(started.batches.recv_timeout(PATIENCE).unwrap(), [4, 5, 6]);
        // The seventh waits for a full batch, the delay or the shutdown.
        assert!(started.batches.recv_timeout(Duration::from_millis(200)).is_err());
        started.export.shutdown_with_timeout(PATIENCE).unwrap();
        assert_eq!(started.batches.recv_timeout(PATIENCE).unwrap(), [7]);
        started.shut_down.recv_timeout(PATIENCE).unwrap();
    }

    #[test]
    fn a_partial_batch_goes_out_after_the_delay() {
        let delay = Duration::from_millis(200);
        let started = start(512, delay, None);
        let pushed = Instant::now();
        started.export.push(span(1));
        assert_eq!(started.batches.recv_timeout(PATIENCE).unwrap(), [1]);
        // The delay runs from the last export (here the thread's start, just
        // before the push): a little less than the delay, never at once.
        assert!(pushed.elapsed() >= delay / 2, "sent after {:?}, before the delay", pushed.elapsed());
        started.export.shutdown_with_timeout(PATIENCE).unwrap();
    }

    #[test]
    fn shutdown_exports_everything_queued_in_batches_then_shuts_the_exporter_down() {
        let started = start(4, NEVER, None);
        for id in 1..=10 {
            started.export.push(span(id));
        }
        started.export.shutdown_with_timeout(PATIENCE).unwrap();
        let batches: Vec<Vec<u64>> = started.batches.try_iter().collect();
        assert!(batches.iter().all(|batch| batch.len() <= 4), "{batches:?}");
        assert_eq!(batches.concat(), (1..=10).collect::<Vec<_>>());
        started.shut_down.try_recv().expect("the exporter was shut down");
        // After shutdown nothing is queued, and a second shutdown says so.
        started.export.push(span(11));
        assert!(started.export.shared.queue().spans.is_empty());
        assert!(matches!(started.export.shutdown_with_timeout(PATIENCE), Err(OTelSdkError::AlreadyShutdown)));
        assert!(started.batches.try_recv().is_err());
    }

    #[test]
    fn shutdown_gives_up_on_an_export_that_does_not_return() {
        let (release, hold) = mpsc::channel();
        let started = start(1, NEVER, Some(hold));
        started.export.push(span(1));
        let outcome = started.export.shutdown_with_timeout(Duration::from_millis(100));
        assert!(matches!(outcome, Err(OTelSdkError::Timeout(_))), "{outcome:?}");
        // Let the stuck export return: the thread then finishes on its own.
        release.send(()).unwrap();
        assert_eq!(started.batches.recv_timeout(PATIENCE).unwrap(), [1]);
        started.shut_down.recv_timeout(PATIENCE).unwrap();
    }

    #[test]
    fn the_queue_keeps_no_memory_once_its_spans_are_sent() {
        let started = start(3, NEVER, None);
        for id in 1..=3 {
            started.export.push(span(id));
        }
        assert_eq!(started.batches.recv_timeout(PATIENCE).unwrap(), [1, 2, 3]);
        // The batch left with its allocation: nothing is held for the next.
        assert_eq!(started.export.shared.queue().spans.capacity(), 0);
        started.export.shutdown_with_timeout(PATIENCE).unwrap();
    }

    #[test]
    fn a_panicking_exporter_does_not_make_shutdown_wait_out_its_budget() {
        let started = start_with(1, NEVER, None, true);
        started.export.push(span(1));
        let began = Instant::now();
        let outcome = started.export.shutdown_with_timeout(PATIENCE);
        assert!(matches!(outcome, Err(OTelSdkError::InternalFailure(_))), "{outcome:?}");
        assert!(began.elapsed() < PATIENCE, "shutdown waited out its budget");
        // Spans after the thread's end are turned away, not kept.
        started.export.push(span(2));
        assert!(started.export.shared.queue().spans.is_empty());
    }
}
