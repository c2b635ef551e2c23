//! The troubleshooting exporter of the seed journal (`ConsoleSpanExporter`).
//! Hand-written because `opentelemetry-stdout` 0.33 can only print to stdout,
//! where our JSON logs go; this one writes to stderr, one line per span, from
//! the batch processor's thread (never from the request path).

use std::{
    fmt::Write as _,
    io::Write as _,
    time::{Duration, SystemTime},
};

use opentelemetry::trace::Status;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};

#[derive(Debug, Default)]
pub struct ConsoleExporter {
    service: String,
}

impl SpanExporter for ConsoleExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut text = String::new();
        for span in &batch {
            format_span(&mut text, &self.service, span);
        }
        // Losing troubleshooting output to a closed stderr is not an error worth raising.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.service = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.to_string())
            .unwrap_or_default();
    }
}

/// `span <service> "<name>" kind=… trace=… span=… parent=… <duration> status=… key=value…`
pub fn format_span(out: &mut String, service: &str, span: &SpanData) {
    let duration = span.end_time.duration_since(span.start_time).unwrap_or(Duration::ZERO);
    let _ = write!(
        out,
        "span {service} {:?} kind={:?} trace={} span={} parent={} start={} duration={:.3}ms",
        span.name,
        span.span_kind,
        span.span_context.trace_id(),
        span.span_context.span_id(),
        span.parent_span_id,
        unix_millis(span.start_time),
        duration.as_secs_f64() * 1000.0,
    );
    match &span.status {
        Status::Unset => {}
        Status::Ok => out.push_str(" status=ok"),
        Status::Error { description } => {
            let _ = write!(out, " status=error({description:?})");
        }
    }
    for attribute in &span.attributes {
        let _ = write!(out, " {}={:?}", attribute.key, attribute.value.as_str());
    }
    for event in span.events.iter() {
        let _ = write!(out, " event={:?}", event.name);
    }
    out.push('\n');
}

fn unix_millis(at: SystemTime) -> u128 {
    at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis()
}
