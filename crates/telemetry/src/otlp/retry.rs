//! When an export that failed is tried again. The OTLP specification asks
//! for transient failures (HTTP 429, 502, 503 and 504, and a server that
//! cannot be reached) to be retried with exponential back-off and jitter,
//! and for a `Retry-After` answer to be honoured; it fixes no numbers.
//!
//! Written here rather than with a back-off crate: the wait must also end at
//! once when the service stops (the last flush then tries each batch once,
//! within the shutdown budget), and honour `Retry-After`; what is left is a
//! doubling and a random factor.

use std::{
    sync::{Condvar, Mutex, PoisonError},
    time::{Duration, SystemTime},
};

use reqwest::header::HeaderValue;

/// How often, and how far apart, an export is tried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RetryPolicy {
    /// Tries of one batch in all, the first included.
    pub(crate) max_attempts: u32,
    /// The wait before the first retry, doubled for each one after it…
    pub(crate) first_backoff: Duration,
    /// …up to this.
    pub(crate) max_backoff: Duration,
    /// The longest `Retry-After` waited for; a server asking for more is
    /// not retried (the batch's spans would be stale, and newer ones wait
    /// behind it in the queue).
    pub(crate) max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Five tries over about 12 s of waiting (1, 2, 4, 5 s, each between
    /// half and all of it): a collector or Honeycomb restarting, or a rate
    /// limit's short pause, is ridden out; spans made meanwhile wait in the
    /// queue, bounded in bytes and count like any others.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first), or `None`
    /// when the batch is given up: tries used up, or the server asks for a
    /// longer pause than [`Self::max_retry_after`].
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if retry >= self.max_attempts {
            return None;
        }
        if let Some(asked) = retry_after {
            return (asked <= self.max_retry_after).then_some(asked);
        }
        let doubled = self.first_backoff.saturating_mul(1 << (retry - 1).min(16));
        // Between half and all of the back-off, so services that failed
        // together do not all try again in the same instant.
        Some(doubled.min(self.max_backoff).mul_f64(0.5 + fastrand::f64() / 2.0))
    }
}

/// A `Retry-After` value: delay-seconds, or an HTTP date (RFC 9110 §10.2.3);
/// `None` if it is neither.
pub(crate) fn retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Ends the waits between tries when the service stops.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    stopped: Mutex<bool>,
    woken: Condvar,
}

impl Stop {
    pub(crate) fn raise(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.woken.notify_all();
    }

    /// Waits `delay`; `false` if the stop came first.
    pub(crate) fn wait(&self, delay: Duration) -> bool {
        let stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        let (stopped, _) =
            self.woken.wait_timeout_while(stopped, delay, |stopped| !*stopped).unwrap_or_else(PoisonError::into_inner);
        !*stopped
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Instant};

    use super::*;

    #[test]
    fn backs_off_doubling_with_jitter_then_gives_up() {
        let policy = RetryPolicy::default();
        for (retry, full) in [(1, 1), (2, 2), (3, 4), (4, 5)] {
            let full = Duration::from_secs(full);
            for _ in 0..50 {
                let delay = policy.delay(retry, None).unwrap();
                assert!(delay >= full / 2 && delay <= full, "retry {retry}: {delay:?}");
            }
        }
        assert_eq!(policy.delay(5, None), None, "five tries in all");
    }

    #[test]
    fn a_retry_after_is_honoured_unless_it_is_too_long() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, Some(Duration::from_secs(7))), Some(Duration::from_secs(7)));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(31))), None);
        assert_eq!(policy.delay(5, Some(Duration::from_secs(1))), None, "tries still count");
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let parse = |text: &'static str| retry_after(&HeaderValue::from_static(text), now);
        assert_eq!(parse("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse("Wed, 21 Oct 2015 07:28:09 GMT"), Some(Duration::from_secs(9)));
        assert_eq!(parse("Wed, 21 Oct 2015 07:27:00 GMT"), Some(Duration::ZERO), "a date past");
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("soon"), None);
    }

    #[test]
    fn a_stop_ends_the_wait() {
        let stop = Arc::new(Stop::default());
        assert!(stop.wait(Duration::from_millis(1)), "not stopped: waited it out");
        let raiser = {
            let stop = stop.clone();
            std::thread::spawn(move || stop.raise())
        };
        let started = Instant::now();
        assert!(!stop.wait(Duration::from_secs(3600)));
        assert!(started.elapsed() < Duration::from_secs(3600));
        raiser.join().unwrap();
        assert!(!stop.wait(Duration::from_secs(3600)), "and every wait after it");
    }
}
