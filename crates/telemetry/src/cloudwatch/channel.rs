//! What the layer and the shipper share: the messages on the queue between
//! them, the counters both update, and the mark of the shipper's own thread.
//! It sits below both so that the layer (which feeds the queue) and the
//! shipper (which drains it) never import each other.

use std::{
    cell::Cell,
    sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
};

use super::batch::LogEvent;

pub(super) enum Message {
    Event(LogEvent),
    /// Send everything still queued, then stop and say so.
    Shutdown(std::sync::mpsc::Sender<()>),
}

/// What the layer and the shipper both see.
pub(super) struct Shared {
    /// Off when CloudWatch cannot be used at all (no region, no credentials).
    pub enabled: AtomicBool,
    /// Lines lost, for the report at shutdown.
    pub dropped: AtomicU64,
    /// Lines the shipper took off the queue and has not shipped yet (those
    /// of a call in flight included): lost with them if shutdown's budget
    /// runs out first, and said.
    pub held: AtomicU64,
    pub queue_full_reported: AtomicBool,
    pub failure_reported: AtomicBool,
    /// Bytes of the lines on the queue, and the most it may hold.
    queued_bytes: AtomicUsize,
    max_queued_bytes: usize,
}

impl Shared {
    pub fn new(max_queued_bytes: usize) -> Self {
        Self {
            enabled: AtomicBool::new(true),
            dropped: AtomicU64::new(0),
            held: AtomicU64::new(0),
            queue_full_reported: AtomicBool::new(false),
            failure_reported: AtomicBool::new(false),
            queued_bytes: AtomicUsize::new(0),
            max_queued_bytes,
        }
    }

    /// Whether a line of `size` bytes fits on the queue; if so it is counted
    /// as queued. Two threads may both fit a line at the same moment: the
    /// bound can be passed by a line per thread, not more.
    pub fn admit(&self, size: usize) -> bool {
        if self.queued_bytes.load(Ordering::Relaxed) + size > self.max_queued_bytes {
            return false;
        }
        self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        true
    }

    /// A line of `size` bytes left the queue (taken by the shipper, or never sent).
    pub fn release(&self, size: usize) {
        self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
    }
}

thread_local! {
    /// Set on the shipper's thread: nothing it logs is shipped (no feedback loop).
    static SHIPPER_THREAD: Cell<bool> = const { Cell::new(false) };
}

pub(super) fn mark_shipper_thread() {
    SHIPPER_THREAD.with(|flag| flag.set(true));
}

/// Whether this thread's events are kept from CloudWatch (checked on every
/// event, hence inline).
#[inline]
pub(super) fn on_shipper_thread() -> bool {
    SHIPPER_THREAD.with(Cell::get)
}

/// Runs `log` as if on the shipper's thread, so what it logs is not shipped.
pub(super) fn unshipped(log: impl FnOnce()) {
    SHIPPER_THREAD.with(|flag| {
        let was = flag.replace(true);
        log();
        flag.set(was);
    });
}

#[cfg(test)]
mod tests {
    use super::Shared;

    #[test]
    fn the_queue_takes_lines_up_to_its_bytes() {
        let shared = Shared::new(100);
        assert!(shared.admit(60));
        assert!(!shared.admit(50), "60 + 50 is over 100");
        assert!(shared.admit(40));
        shared.release(60);
        assert!(shared.admit(50));
    }
}
