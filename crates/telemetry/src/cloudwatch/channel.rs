//! What the layer and the shipper share: the messages on the queue between
//! them, the counters both update, and the mark of the shipper's own thread.
//! It sits below both so that the layer (which feeds the queue) and the
//! shipper (which drains it) never import each other.

use std::{
    cell::Cell,
    sync::atomic::{AtomicBool, AtomicU64},
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
    pub queue_full_reported: AtomicBool,
    pub failure_reported: AtomicBool,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            enabled: AtomicBool::new(true),
            dropped: AtomicU64::new(0),
            queue_full_reported: AtomicBool::new(false),
            failure_reported: AtomicBool::new(false),
        }
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
