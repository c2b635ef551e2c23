//! JSON log lines on stdout, one object per event, carrying the trace and
//! span ids of the request they belong to. Written by hand because
//! tracing-subscriber's JSON format knows nothing of OpenTelemetry ids. The
//! fmt layer formats into a reused thread-local buffer; a background thread
//! (stdout_writer.rs) does the actual write, so no request waits on stdout.

use std::{
    cell::RefCell,
    fmt::{self, Write},
};

use opentelemetry::trace::{SpanId, TraceId};
use tracing::{Event, Subscriber, field::Field};
use tracing_log::NormalizeEvent;
use tracing_subscriber::{
    field::RecordFields,
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::{LookupSpan, SpanRef},
};

use crate::hex_ids::{span_hex, trace_hex};

pub struct JsonLines {
    service: String,
    /// CloudWatch is on: lines carry its form of the ids too, and each is
    /// left for the CloudWatch layer ([`take_line_for`]) so that an event is
    /// formatted once for both.
    for_cloudwatch: bool,
}

impl JsonLines {
    pub fn new(service: &str, for_cloudwatch: bool) -> Self {
        Self { service: service.to_owned(), for_cloudwatch }
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let current = ctx.lookup_current();
        let span = current.as_ref().map(|span| span.name());
        let ids = otel_ids(current);
        if !self.for_cloudwatch {
            return write_event(&mut writer, &self.service, event, span, ids.as_ref(), TraceIds::Plain);
        }
        let (line, formatted) = cloudwatch_line(&self.service, event, span, ids.as_ref());
        formatted?;
        writer.write_str(&line)?;
        writer.write_char('\n')?;
        LAST_LINE.with(|last| *last.borrow_mut() = Some((EventKey::of(event), line)));
        Ok(())
    }
}

/// `event` as CloudWatch ships it: one JSON object with both forms of the
/// trace id, no newline, sized exactly (it may wait in CloudWatch's queue,
/// which counts it by its length). Formatted in a reused per-thread buffer;
/// the result says whether a field failed to format (the line is then cut
/// short).
pub(crate) fn cloudwatch_line(
    service: &str,
    event: &Event<'_>,
    span: Option<&str>,
    ids: Option<&LineIds>,
) -> (String, fmt::Result) {
    FORMATTED.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        buffer.clear();
        let formatted = write_event(&mut *buffer, service, event, span, ids, TraceIds::WithXray);
        (buffer.trim_end().to_owned(), formatted)
    })
}

thread_local! {
    /// Reused per thread for formatting, before the finished line is copied out.
    static FORMATTED: RefCell<String> = const { RefCell::new(String::new()) };
    /// The line the stdout formatter last wrote on this thread, and for which
    /// event; the CloudWatch layer, next in the same dispatch, takes it.
    static LAST_LINE: RefCell<Option<(EventKey, String)>> = const { RefCell::new(None) };
}

/// Which event a line was formatted for: the event being dispatched (its
/// address) and its callsite. A stale line (stdout formatted an event the
/// CloudWatch layer turned away) can never pass for a later one: what it
/// turns away is the same for every event of a callsite, so a later event
/// of the same callsite at the same address is turned away too.
#[derive(Clone, Copy, PartialEq, Eq)]
struct EventKey {
    event: usize,
    callsite: usize,
}

impl EventKey {
    fn of(event: &Event<'_>) -> Self {
        Self { event: std::ptr::from_ref(event).addr(), callsite: std::ptr::from_ref(event.metadata()).addr() }
    }
}

/// The JSON line (without its newline) stdout wrote for `event` in this
/// dispatch, if it wrote one. Takes it: call once per event.
pub(crate) fn take_line_for(event: &Event<'_>) -> Option<String> {
    let (key, line) = LAST_LINE.with(|last| last.borrow_mut().take())?;
    (key == EventKey::of(event)).then_some(line)
}

/// Lines carry no span fields (only the current span's name and the trace
/// ids), but the fmt layer formats every new span's fields into an ANSI
/// string with its default formatter: a large share of what a request cost
/// (callgrind, scripts/bench). This formatter makes that a no-op.
pub struct NoSpanFields;

impl<'writer> FormatFields<'writer> for NoSpanFields {
    fn format_fields<R: RecordFields>(&self, _writer: Writer<'writer>, _fields: R) -> fmt::Result {
        Ok(())
    }
}

/// Which forms of the trace id a line carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TraceIds {
    Plain,
    /// Also `xray_trace_id` (`1-xxxxxxxx-yyyy…`), to join CloudWatch with X-Ray.
    WithXray,
}

/// The ids a log line carries, copied out of a span context (whose trace
/// state would cost an allocation to clone: X-Ray's decision rides in it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineIds {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
}

/// The ids of the innermost span around an event that has a valid
/// OpenTelemetry span context (the bridge never attaches a span's context
/// as the current one: that would cost every poll of every request future).
pub(crate) fn otel_ids<'a, R: LookupSpan<'a>>(current: Option<SpanRef<'a, R>>) -> Option<LineIds> {
    let current = current?;
    // The global dispatcher in the services; under a scoped (test)
    // subscriber this is the no-op one while an event is being dispatched,
    // and the line simply carries no ids.
    tracing::dispatcher::get_default(|dispatch| {
        crate::bridge::innermost_span_context(current.scope(), dispatch, |span_context| {
            span_context
                .is_valid()
                .then(|| LineIds { trace_id: span_context.trace_id(), span_id: span_context.span_id() })
        })
    })
}

/// One event as one JSON object and a newline: time, level, target, service,
/// the event's fields, the current span's name, and the trace and span ids.
fn write_event(
    out: &mut impl Write,
    service: &str,
    event: &Event<'_>,
    span: Option<&str>,
    line_ids: Option<&LineIds>,
    forms: TraceIds,
) -> fmt::Result {
    // A `log` crate record (tracing-log) shows its own target and level,
    // not `log`, as tracing-subscriber's formatters show it.
    let from_log = event.normalized_metadata();
    let meta = from_log.as_ref().unwrap_or_else(|| event.metadata());
    out.write_str("{\"timestamp\":\"")?;
    out.write_str(timestamp(chrono::Utc::now()).as_str())?;
    out.write_char('"')?;
    write!(out, ",\"level\":\"{}\",\"target\":", meta.level())?;
    write_str(out, meta.target())?;
    out.write_str(",\"service\":")?;
    write_str(out, service)?;
    let mut fields = JsonFields { out, result: Ok(()), from_log: from_log.is_some() };
    event.record(&mut fields);
    fields.result?;
    if let Some(span) = span {
        out.write_str(",\"span\":")?;
        write_str(out, span)?;
    }
    if let Some(&LineIds { trace_id, span_id }) = line_ids {
        out.write_str(",\"trace_id\":\"")?;
        out.write_str(trace_hex(trace_id).as_str())?;
        out.write_str("\",\"span_id\":\"")?;
        out.write_str(span_hex(span_id).as_str())?;
        out.write_char('"')?;
        if forms == TraceIds::WithXray {
            write!(out, ",\"xray_trace_id\":\"{}\"", crate::xray::XrayTraceId(trace_id))?;
        }
    }
    out.write_str("}\n")
}

/// `2026-11-28T16:20:01.123456Z` (what `%Y-%m-%dT%H:%M:%S%.6fZ` gives),
/// written digit by digit: chrono's `format` parses its pattern on every call,
/// a visible share of each log line.
fn timestamp(now: chrono::DateTime<chrono::Utc>) -> Timestamp {
    use chrono::{Datelike, Timelike};
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for digit in text[at..at + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, now.year().clamp(0, 9999) as u32);
    put(5, 2, now.month());
    put(8, 2, now.day());
    put(11, 2, now.hour());
    put(14, 2, now.minute());
    // A leap second shows as :60, as chrono's formatting shows it.
    let nanos = now.nanosecond();
    put(17, 2, now.second() + nanos / 1_000_000_000);
    put(20, 6, (nanos % 1_000_000_000) / 1000);
    Timestamp(text)
}

struct Timestamp([u8; 27]);

impl Timestamp {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII digits and separators")
    }
}

struct JsonFields<'a, W: Write> {
    out: &'a mut W,
    result: fmt::Result,
    /// The event is a `log` crate record: its `log.*` fields carry the
    /// metadata already written (target), or what no line carries (file, line).
    from_log: bool,
}

impl<W: Write> JsonFields<'_, W> {
    /// Whether `field` is written: nothing more after a failure, and no
    /// tracing-log metadata field.
    fn writes(&self, field: &Field) -> bool {
        self.result.is_ok() && !(self.from_log && field.name().starts_with("log."))
    }

    fn key(&mut self, field: &Field) -> fmt::Result {
        self.out.write_char(',')?;
        write_str(self.out, field.name())?;
        self.out.write_char(':')
    }

    fn raw(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.writes(field) {
            self.result = self.key(field).and_then(|()| self.out.write_fmt(value));
        }
    }
}

impl<W: Write> tracing::field::Visit for JsonFields<'_, W> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.writes(field) {
            self.result = self.key(field).and_then(|()| {
                self.out.write_char('"')?;
                write!(Escaped(self.out), "{value:?}")?;
                self.out.write_char('"')
            });
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.writes(field) {
            self.result = self.key(field).and_then(|()| write_str(self.out, value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.writes(field) {
            self.result = self.key(field).and_then(|()| {
                self.out.write_char('"')?;
                write!(Escaped(self.out), "{value}")?;
                self.out.write_char('"')
            });
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, format_args!("{value}"));
        } else {
            self.raw(field, format_args!("null"));
        }
    }
}

fn write_str(out: &mut impl Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(out).write_str(value)?;
    out.write_char('"')
}

/// Escapes what JSON strings cannot hold as is, writing unescaped runs whole.
struct Escaped<'a, W: Write + ?Sized>(&'a mut W);

impl<W: Write + ?Sized> Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Byte by byte, not char by char: everything escaped is ASCII, and
        // no byte of a multi-byte character is, so every escaped byte is a
        // character boundary (and decoding each character was most of the cost).
        let mut start = 0;
        for (index, byte) in s.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                byte if byte < 0x20 => "",
                _ => continue,
            };
            self.0.write_str(&s[start..index])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            start = index + 1;
        }
        self.0.write_str(&s[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_chrono_formats_them() {
        use chrono::TimeZone;
        for (seconds, nanos) in [(0, 0), (1_795_000_000, 123_456_789), (253_402_300_799, 999_999_999)] {
            let at = chrono::Utc.timestamp_opt(seconds, nanos).unwrap();
            assert_eq!(timestamp(at).as_str(), at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
        }
    }

    #[test]
    fn escaping_keeps_json_valid() {
        let mut out = String::new();
        write_str(&mut out, "a \"quoted\" line\nwith \\ and \u{1} and é").unwrap();
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a \"quoted\" line\nwith \\ and \u{1} and é");
    }

    /// The lines `write_event` makes of the events sent inside `emit`.
    fn lines_of(emit: impl FnOnce()) -> Vec<serde_json::Value> {
        use std::sync::{Arc, Mutex};

        use tracing_subscriber::{Layer, layer::SubscriberExt};

        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<String>>>);
        impl<S: Subscriber> Layer<S> for Lines {
            fn on_event(&self, event: &Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
                let mut line = String::new();
                write_event(&mut line, "activities", event, None, None, TraceIds::Plain).unwrap();
                self.0.lock().unwrap().push(line);
            }
        }
        let lines = Lines::default();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(lines.clone()), emit);
        let lines = lines.0.lock().unwrap();
        lines.iter().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    #[test]
    fn a_log_crate_record_shows_its_own_target_and_no_tracing_log_fields() {
        let lines = lines_of(|| {
            // What tracing-log's `LogTracer` makes of a `log` record.
            tracing_log::format_trace(
                &tracing_log::log::Record::builder()
                    .target("reqwest::connect")
                    .module_path(Some("reqwest::connect"))
                    .file(Some("src/connect.rs"))
                    .line(Some(42))
                    .level(tracing_log::log::Level::Warn)
                    .args(format_args!("starting new connection"))
                    .build(),
            )
            .unwrap();
            tracing::info!(target: "activities::routes", message = "a tracing event", log.kept = "yes");
        });
        let object = |line: &serde_json::Value| line.as_object().unwrap().clone();
        let record = object(&lines[0]);
        assert_eq!(record["target"], "reqwest::connect");
        assert_eq!(record["level"], "WARN");
        assert_eq!(record["message"], "starting new connection");
        assert!(record.keys().all(|key| !key.starts_with("log.")), "{record:?}");
        // A tracing event's own fields are its own, whatever their names.
        let event = object(&lines[1]);
        assert_eq!(event["target"], "activities::routes");
        assert_eq!(event["log.kept"], "yes");
    }

    proptest::proptest! {
        #[test]
        fn any_text_reads_back_as_written(text in "\\PC*|[\\x00-\\x7f]*") {
            let mut out = String::new();
            write_str(&mut out, &text).unwrap();
            let parsed: String = serde_json::from_str(&out).unwrap();
            proptest::prop_assert_eq!(parsed, text);
        }
    }
}
