//! Trace ids X-Ray accepts: the first 32 bits are the trace's start, in
//! seconds since the epoch, and the other 96 are random (X-Ray shows them
//! as `1-<time>-<random>`), so every trace can go to X-Ray as it is.
//!
//! Hand-written, not opentelemetry-aws's `XrayIdGenerator`: that one makes
//! the same id by formatting a random id and the time as hex and parsing the
//! text back, ~2.8 k instructions of every request that starts a trace
//! (scripts/bench --instructions). Here the bits are shifted into place.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

#[derive(Debug, Default)]
pub struct XrayIdGenerator {
    random: RandomIdGenerator,
}

impl IdGenerator for XrayIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        let random = u128::from_be_bytes(self.random.new_trace_id().to_bytes());
        // The time's low 32 bits on top (the shift drops the rest), then the
        // top 96 bits of the random id.
        TraceId::from((u128::from(seconds) << 96) | (random >> 32))
    }

    fn new_span_id(&self) -> SpanId {
        self.random.new_span_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn a_trace_id_starts_with_its_time_and_the_rest_is_random() {
        let generator = XrayIdGenerator::default();
        let before = now();
        let ids: Vec<TraceId> = (0..64).map(|_| generator.new_trace_id()).collect();
        let after = now();
        for id in &ids {
            let seconds = u64::from_str_radix(&id.to_string()[..8], 16).unwrap();
            assert!((before..=after).contains(&seconds), "{id}");
        }
        let mut randoms: Vec<String> = ids.iter().map(|id| id.to_string()[8..].to_owned()).collect();
        randoms.sort();
        randoms.dedup();
        assert_eq!(randoms.len(), ids.len(), "no two random parts alike");
        assert!(ids.iter().all(|id| *id != TraceId::INVALID));
        assert_ne!(generator.new_span_id(), SpanId::INVALID);
    }
}
