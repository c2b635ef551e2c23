//! Trace and span ids as lowercase hex, written into stack buffers: through
//! `Display` each digit went through the formatting machinery, and the ids
//! are on every log line, propagation header and X-Ray segment.

use opentelemetry::trace::{SpanId, TraceId};

/// `N` hex digits, ASCII.
pub(crate) struct Hex<const N: usize>([u8; N]);

impl<const N: usize> Hex<N> {
    /// `bytes` must be `N / 2` long (the typed constructors below are);
    /// a wrong length leaves zeros rather than panicking.
    fn of(bytes: &[u8]) -> Self {
        let mut digits = [b'0'; N];
        let _ = hex::encode_to_slice(bytes, &mut digits);
        Self(digits)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Hex digits only: never the empty default.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

pub(crate) fn trace_hex(id: TraceId) -> Hex<32> {
    Hex::of(&id.to_bytes())
}

pub(crate) fn span_hex(id: SpanId) -> Hex<16> {
    Hex::of(&id.to_bytes())
}

pub(crate) fn byte_hex(byte: u8) -> Hex<2> {
    Hex::of(&[byte])
}

/// The last 8 digits of a trace id (the human log lines' short form).
pub(crate) fn trace_hex_tail(id: TraceId) -> Hex<8> {
    Hex::of(&id.to_bytes()[12..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_hex_of_their_bytes() {
        let trace = TraceId::from(0x4bf92f3577b34da6a3ce929d0e0e4736_u128);
        assert_eq!(trace_hex(trace).as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(trace_hex_tail(trace).as_str(), "0e0e4736");
        assert_eq!(span_hex(SpanId::from(0x00f067aa0ba902b7_u64)).as_str(), "00f067aa0ba902b7");
        assert_eq!(byte_hex(1).as_str(), "01");
    }
}
