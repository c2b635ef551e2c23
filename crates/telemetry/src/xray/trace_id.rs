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
    /// The text, from a stack buffer.
    pub fn to_hex(&self) -> XrayHex {
        let digits = crate::hex_ids::trace_hex(self.0);
        let digits = digits.as_str();
        let mut text = *b"1-00000000-000000000000000000000000";
        text[2..10].copy_from_slice(&digits.as_bytes()[..8]);
        text[11..].copy_from_slice(&digits.as_bytes()[8..]);
        XrayHex(text)
    }
}

/// An X-Ray trace id's text (`1-…-…`), ASCII.
pub struct XrayHex([u8; 35]);

impl XrayHex {
    pub fn as_str(&self) -> &str {
        // Hex digits and dashes only: never the empty default.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for XrayTraceId {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str(self.to_hex().as_str())
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
