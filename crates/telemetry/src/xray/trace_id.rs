//! The X-Ray form of a trace id, `1-<first 8 hex digits>-<other 24>`: what
//! segments, the `X-Amzn-Trace-Id` header and the CloudWatch log lines show.
//! Our trace ids come from `XrayIdGenerator`, so the first 8 digits are the
//! start time X-Ray expects there.

use std::fmt;

use opentelemetry::trace::TraceId;

/// Writes the id where it is formatted (a log line, a header, a segment)
/// with no intermediate string: the hex digits go into a stack buffer that is
/// written whole. (Each byte through `{:02x}` cost the formatting machinery
/// ~5 k instructions an id, and every CloudWatch line carries one.)
pub struct XrayTraceId(pub TraceId);

impl XrayTraceId {
    /// The text, in ASCII.
    pub fn to_ascii(&self) -> [u8; 35] {
        let bytes = self.0.to_bytes();
        let mut text = *b"1-00000000-000000000000000000000000";
        // Both slices are exactly twice their input: encoding cannot fail.
        let _ = hex::encode_to_slice(&bytes[..4], &mut text[2..10]);
        let _ = hex::encode_to_slice(&bytes[4..], &mut text[11..]);
        text
    }
}

impl fmt::Display for XrayTraceId {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str(std::str::from_utf8(&self.to_ascii()).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_eight_digits_then_the_rest() {
        let id = TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap();
        assert_eq!(XrayTraceId(id).to_string(), "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(XrayTraceId(TraceId::from(1)).to_string(), "1-00000000-000000000000000000000001");
    }
}
