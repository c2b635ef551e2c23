//! Splitting log events into PutLogEvents calls within the API's limits
//! (moto does not enforce them, so they are unit-tested here).

/// At most this many events per call.
pub const MAX_EVENTS: usize = 10_000;
/// At most this many bytes per call, counting [`EVENT_OVERHEAD`] per event.
pub const MAX_BYTES: usize = 1_048_576;
/// Lines are sent once this many bytes are pending (or the flush interval
/// has passed), well below [`MAX_BYTES`]: what a call holds at once (the
/// lines, their copy kept for a retry, the JSON body) stays a fraction of a
/// MiB under load instead of several MiB (heaptrack, scripts/bench; 128
/// rather than 256 KiB: another ~0.5 MiB of heap in the edge under load).
pub const FLUSH_BYTES: usize = 128 * 1024;
/// What CloudWatch adds to each event's UTF-8 size when counting a batch.
pub const EVENT_OVERHEAD: usize = 26;
/// The largest event, overhead included (the limit this project follows: 256 KiB).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// No call may span more than 24 hours of timestamps.
pub const MAX_SPAN_MILLIS: i64 = 24 * 60 * 60 * 1000;

pub const TRUNCATED_MARKER: &str = "…[truncated]";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    pub message: String,
}

impl LogEvent {
    /// An event, its message cut (on a character boundary, with a marker)
    /// when it would exceed [`MAX_EVENT_BYTES`].
    pub fn new(timestamp: i64, mut message: String) -> Self {
        let limit = MAX_EVENT_BYTES - EVENT_OVERHEAD;
        if message.len() > limit {
            let mut cut = limit - TRUNCATED_MARKER.len();
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(TRUNCATED_MARKER);
        }
        Self { timestamp, message }
    }

    pub fn size(&self) -> usize {
        self.message.len() + EVENT_OVERHEAD
    }
}

/// Orders `events` by time and cuts them into batches that each respect the
/// count, size and 24-hour limits.
pub fn into_batches(mut events: Vec<LogEvent>) -> Vec<Vec<LogEvent>> {
    // Stable: events of the same millisecond keep their arrival order.
    events.sort_by_key(|event| event.timestamp);
    let mut batches = Vec::new();
    let mut batch: Vec<LogEvent> = Vec::new();
    let mut bytes = 0;
    for event in events {
        let full = batch.len() == MAX_EVENTS
            || bytes + event.size() > MAX_BYTES
            || batch.first().is_some_and(|first| event.timestamp - first.timestamp > MAX_SPAN_MILLIS);
        if full {
            batches.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += event.size();
        batch.push(event);
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(timestamp: i64, size: usize) -> LogEvent {
        LogEvent::new(timestamp, "x".repeat(size))
    }

    fn assert_within_limits(batches: &[Vec<LogEvent>]) {
        for batch in batches {
            assert!(!batch.is_empty());
            assert!(batch.len() <= MAX_EVENTS);
            assert!(batch.iter().map(LogEvent::size).sum::<usize>() <= MAX_BYTES);
            assert!(batch.windows(2).all(|w| w[0].timestamp <= w[1].timestamp), "in time order");
            assert!(batch.last().unwrap().timestamp - batch[0].timestamp <= MAX_SPAN_MILLIS);
        }
    }

    #[test]
    fn ten_thousand_and_one_events_make_two_calls() {
        let batches = into_batches((0..10_001).map(|i| event(i, 10)).collect());
        assert_within_limits(&batches);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [10_000, 1]);
    }

    #[test]
    fn one_point_two_megabytes_make_two_calls_under_the_byte_limit() {
        // 1200 events of 1000 bytes (+26 each): 1,231,200 bytes in all.
        let batches = into_batches((0..1200).map(|i| event(i, 1000)).collect());
        assert_within_limits(&batches);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].len(), MAX_BYTES / 1026);
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 1200);
    }

    #[test]
    fn events_25_hours_apart_never_share_a_call() {
        let hour = 60 * 60 * 1000;
        let batches = into_batches(vec![event(0, 5), event(hour, 5), event(25 * hour, 5), event(25 * hour + 1, 5)]);
        assert_within_limits(&batches);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
        // Exactly 24 hours apart is still allowed.
        assert_eq!(into_batches(vec![event(0, 5), event(24 * hour, 5)]).len(), 1);
    }

    #[test]
    fn out_of_order_input_is_sent_in_time_order() {
        let batches = into_batches(vec![event(30, 1), event(10, 2), event(20, 3), event(10, 4)]);
        assert_within_limits(&batches);
        let order: Vec<(i64, usize)> = batches[0].iter().map(|e| (e.timestamp, e.message.len())).collect();
        assert_eq!(order, [(10, 2), (10, 4), (20, 3), (30, 1)]);
    }

    #[test]
    fn an_oversized_event_is_truncated_with_a_marker() {
        let big = LogEvent::new(0, "é".repeat(300 * 1024));
        assert!(big.size() <= MAX_EVENT_BYTES);
        assert!(big.message.ends_with(TRUNCATED_MARKER));
        let small = LogEvent::new(0, "fits".to_owned());
        assert_eq!(small.message, "fits");
        let exact = LogEvent::new(0, "y".repeat(MAX_EVENT_BYTES - EVENT_OVERHEAD));
        assert!(!exact.message.ends_with(TRUNCATED_MARKER));
    }

    #[test]
    fn nothing_in_nothing_out() {
        assert!(into_batches(Vec::new()).is_empty());
    }
}
