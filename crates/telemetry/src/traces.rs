//! Where spans go: X-Ray-compatible ids, the resource, the sampler
//! (OpenTelemetry's plus X-Ray's decision), and one batch queue per
//! exporter. Each exports from its own thread, so a slow or dead endpoint
//! never touches the request path; a full queue drops spans (counted, and
//! reported once).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use opentelemetry::{
    Array, Context, InstrumentationScope, KeyValue, StringValue, Value,
    trace::{SpanContext, SpanId, SpanKind, TraceId},
};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    resource::TelemetryResourceDetector,
    trace::{Config, IdGenerator, SamplingResult, ShouldSample, SpanData, SpanExporter},
};
use opentelemetry_semantic_conventions::resource;

use crate::{
    batch::BatchExport,
    config::{AttributeLimits, SpanQueueLimits, TelemetryConfig},
    console::ConsoleExporter,
    error::TelemetryError,
    otlp::{self, OtlpExporter},
    span_budget::{SpanBudget, held_bytes},
    xray::{self, XrayConfig, XrayIdGenerator},
};

/// Where the bridge's spans go: the sampler (OpenTelemetry's plus X-Ray's
/// decision), the ids, and the processors. The SDK's tracer provider would
/// do the same for its own spans; the bridge makes `SpanData` itself
/// (bridge.rs says why), so it needs these parts and not the provider.
pub(crate) struct SpanPipeline {
    sampler: xray::XraySampler,
    ids: XrayIdGenerator,
    processor: Fanout,
    scope: InstrumentationScope,
    attribute_limits: AttributeLimits,
    shut_down: AtomicBool,
}

impl SpanPipeline {
    pub(crate) fn new(config: &TelemetryConfig, xray: &XrayConfig, instance_id: &str) -> Result<Self, TelemetryError> {
        // OTEL_RESOURCE_ATTRIBUTES as config.rs decoded it (the SDK's env
        // detector takes them undecoded), then the name, which has a code
        // default the SDK does not know.
        let resource = Resource::builder_empty()
            .with_detector(Box::new(TelemetryResourceDetector))
            .with_attributes(
                config.resource_attributes.iter().map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
            )
            .with_service_name(config.service_name.clone())
            .with_attribute(KeyValue::new(resource::SERVICE_INSTANCE_ID, instance_id.to_owned()))
            .build();
        // OpenTelemetry's decision comes from OTEL_TRACES_SAMPLER/_ARG (the
        // SDK's default config reads them); X-Ray's decision is added to it.
        let sdk = Config::default();
        let sampler = xray::XraySampler::new(sdk.sampler, &xray.rules, xray.naming.clone());
        // One processor: with several, the SDK cloned every finished span for
        // each of them, whether or not it exported the span (that made X-Ray
        // cost as much at 10 % sampling as at 100 %).
        let mut processor = Fanout::new(config.span_queue, resource);
        if let Some(otlp) = &config.otlp {
            // Endpoint, headers, compression and timeout as read and checked in config.rs.
            let exporter = OtlpExporter::new(otlp)?;
            processor.stops.push(exporter.stop_signal());
            processor.add("otlp", exporter, SpanContext::is_sampled)?;
        }
        if config.console {
            processor.add("console", ConsoleExporter::default(), SpanContext::is_sampled)?;
        }
        if let Some(daemon) = &xray.daemon {
            let exporter = xray::DaemonExporter::new(daemon.clone(), xray::Documents::new(xray.naming.clone()));
            processor.add("xray", exporter, xray::sampled_for_xray)?;
        }
        Ok(Self {
            sampler,
            ids: XrayIdGenerator::default(),
            processor,
            // Named as the resource is (OTEL_SERVICE_NAME wins over the code's
            // default), so a span's scope and its service agree. Every span
            // carries a copy of the scope: with the name borrowed for the
            // life of the process (one pipeline per process, leaked once) the
            // copy is free, where an owned name was an allocation a span.
            scope: InstrumentationScope::builder(&*Box::leak(config.service_name.clone().into_boxed_str())).build(),
            attribute_limits: config.attribute_limits,
            shut_down: AtomicBool::new(false),
        })
    }

    /// An exporter of every span, for the bridge's tests.
    #[cfg(test)]
    pub(crate) fn add_exporter<E: SpanExporter + 'static>(&mut self, exporter: E) {
        self.processor.add("test", exporter, |_| true).unwrap();
    }

    pub(crate) fn new_trace_id(&self) -> TraceId {
        self.ids.new_trace_id()
    }

    pub(crate) fn new_span_id(&self) -> SpanId {
        self.ids.new_span_id()
    }

    pub(crate) fn should_sample(
        &self,
        parent: &Context,
        trace_id: TraceId,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
    ) -> SamplingResult {
        self.sampler.should_sample(Some(parent), trace_id, name, kind, attributes, &[])
    }

    /// Drops the attributes past the count limit, as the SDK does, and cuts
    /// string values past the length limit; returns how many were dropped.
    pub(crate) fn limit_attributes(&self, attributes: &mut Vec<KeyValue>) -> u32 {
        let AttributeLimits { count, value_length } = self.attribute_limits;
        let dropped = attributes.len().saturating_sub(count);
        attributes.truncate(count);
        if let Some(length) = value_length {
            for attribute in attributes.iter_mut() {
                cut_to(&mut attribute.value, length);
            }
        }
        u32::try_from(dropped).unwrap_or(u32::MAX)
    }

    pub(crate) fn scope(&self) -> &InstrumentationScope {
        &self.scope
    }

    /// A finished span, to every processor that exports it.
    pub(crate) fn export(&self, span: SpanData) {
        // After shutdown there is nobody to take it.
        if !self.shut_down.load(Ordering::Relaxed) {
            self.processor.on_end(span);
        }
    }

    /// Flushes what is queued, within `timeout`, and stops the processors.
    pub(crate) fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        self.processor.shutdown_with_timeout(timeout)
    }
}

/// Cuts a string value, or each string of an array, to `length` characters
/// (the specification counts characters, not bytes).
fn cut_to(value: &mut Value, length: usize) {
    let cut = |text: &StringValue| {
        // No longer in bytes, so no longer in characters: no scan.
        if text.as_str().len() <= length {
            return None;
        }
        let end = text.as_str().char_indices().nth(length).map(|(at, _)| at)?;
        Some(StringValue::from(text.as_str()[..end].to_owned()))
    };
    match value {
        Value::String(text) => {
            if let Some(shorter) = cut(text) {
                *text = shorter;
            }
        }
        Value::Array(Array::String(texts)) => {
            for text in texts {
                if let Some(shorter) = cut(text) {
                    *text = shorter;
                }
            }
        }
        _ => {}
    }
}

/// Hands each exporter's queue only the spans it exports, and only while they
/// fit its [`SpanBudget`]: spans recorded for X-Ray alone are not sampled for
/// OTLP (and the other way round). A span is copied only when more than one
/// exporter takes it.
#[derive(Debug)]
struct Fanout {
    processors: Vec<Taker>,
    /// Raised first at shutdown: exporters waiting to try a batch again
    /// stop waiting, so the last flush has the budget.
    stops: Vec<Arc<otlp::Stop>>,
    limits: SpanQueueLimits,
    resource: Resource,
}

#[derive(Debug)]
struct Taker {
    processor: BatchExport,
    keep: Keep,
    budget: Arc<SpanBudget>,
}

/// Whether a processor exports a span of this context.
type Keep = fn(&SpanContext) -> bool;

impl Fanout {
    fn new(limits: SpanQueueLimits, resource: Resource) -> Self {
        Self { processors: Vec::new(), stops: Vec::new(), limits, resource }
    }

    /// A batch queue for `exporter`, and its thread.
    fn add<E: SpanExporter + 'static>(
        &mut self,
        name: &'static str,
        exporter: E,
        keep: Keep,
    ) -> Result<(), TelemetryError> {
        let budget = Arc::new(SpanBudget::new(name, self.limits.max_bytes, self.limits.max_spans));
        let mut exporter = ReportingExporter::new(name, exporter, budget.clone());
        exporter.set_resource(&self.resource);
        let processor = BatchExport::start(name, exporter, self.limits)
            .map_err(|source| TelemetryError::Thread { name: format!("{name} span"), source })?;
        self.processors.push(Taker { processor, keep, budget });
        Ok(())
    }

    /// Hands `span` to each processor that exports it.
    fn on_end(&self, span: SpanData) {
        // Measured once, and only if some processor keeps the span.
        let mut size = None;
        let mut takers = self
            .processors
            .iter()
            .filter(|t| (t.keep)(&span.span_context) && t.budget.admit(*size.get_or_insert_with(|| held_bytes(&span))));
        let Some(mut last) = takers.next() else { return };
        for next in takers {
            last.processor.push(span.clone());
            last = next;
        }
        last.processor.push(span);
    }

    /// The queues flush side by side within `timeout`: each is told to stop
    /// before any is waited for, so an exporter stuck on a dead endpoint does
    /// not use up the time of the others.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let deadline = std::time::Instant::now() + timeout;
        for stop in &self.stops {
            stop.raise();
        }
        let told: Vec<OTelSdkResult> = self.processors.iter().map(|taker| taker.processor.stop()).collect();
        // Every queue is waited for even when one fails.
        let mut result = Ok(());
        for (taker, told) in self.processors.iter().zip(told) {
            let outcome = told.and_then(|()| {
                taker.processor.wait_stopped(deadline.saturating_duration_since(std::time::Instant::now()))
            });
            if result.is_ok() {
                result = outcome;
            }
        }
        // Said here, not by the exporter: a processor stuck in an export never
        // reaches its exporter's shutdown.
        for taker in &self.processors {
            let dropped = taker.budget.dropped();
            if dropped > 0 {
                tracing::warn!(
                    target: "telemetry",
                    exporter = taker.budget.exporter(),
                    dropped_spans = dropped,
                    "spans dropped by a full span queue"
                );
            }
        }
        result
    }
}

/// Wraps an exporter so a failing endpoint is reported once (with the count
/// of lost spans at shutdown) instead of once per batch, and so each batch
/// gives its place in the [`SpanBudget`] back once it is sent or given up.
#[derive(Debug)]
struct ReportingExporter<E> {
    name: &'static str,
    inner: E,
    budget: Arc<SpanBudget>,
    reported: AtomicBool,
    lost: AtomicU64,
}

impl<E> ReportingExporter<E> {
    fn new(name: &'static str, inner: E, budget: Arc<SpanBudget>) -> Self {
        Self { name, inner, budget, reported: AtomicBool::new(false), lost: AtomicU64::new(0) }
    }
}

impl<E: SpanExporter> SpanExporter for ReportingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        // Measured before the exporter takes the batch; given back after.
        let release = self.budget.release_after(&batch);
        let outcome = self.inner.export(batch).await;
        drop(release);
        if let Err(err) = outcome {
            self.lost.fetch_add(spans, Ordering::Relaxed);
            if !self.reported.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    target: "telemetry",
                    exporter = self.name,
                    error = %err,
                    "span export failed; spans are dropped until it recovers (total reported at shutdown)"
                );
            }
        }
        // Failure is handled (counted, reported): the SDK need not log it again.
        Ok(())
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        let lost = self.lost.load(Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!(target: "telemetry", exporter = self.name, lost_spans = lost, "spans lost to export failures");
        }

        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, mpsc};

    use opentelemetry_sdk::error::OTelSdkError;

    use super::*;
    use crate::batch::tests::span;

    /// Sends each span id it exports; `stuck` never returns from an export.
    #[derive(Debug)]
    struct Exporter {
        exported: mpsc::Sender<u64>,
        stuck: Option<Mutex<mpsc::Receiver<()>>>,
    }

    impl SpanExporter for Exporter {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            if let Some(stuck) = &self.stuck {
                let _ = stuck.lock().unwrap().recv();
            }
            for span in batch {
                let _ = self.exported.send(u64::from_be_bytes(span.span_context.span_id().to_bytes()));
            }
            Ok(())
        }
    }

    #[test]
    fn long_string_values_are_cut_by_characters() {
        let mut value = Value::from("Straße über alles");
        cut_to(&mut value, 6);
        assert_eq!(value, Value::from("Straße"));
        let mut short = Value::from("ab");
        cut_to(&mut short, 6);
        assert_eq!(short, Value::from("ab"));
        let mut texts = Value::Array(Array::String(vec!["ééé".into(), "a".into()]));
        cut_to(&mut texts, 2);
        assert_eq!(texts, Value::Array(Array::String(vec!["éé".into(), "a".into()])));
        let mut number = Value::I64(123_456);
        cut_to(&mut number, 1);
        assert_eq!(number, Value::I64(123_456), "only strings are cut");
    }

    #[test]
    fn an_exporter_stuck_at_shutdown_leaves_the_others_their_flush() {
        let limits =
            SpanQueueLimits { max_spans: 2048, max_bytes: 1 << 20, max_batch: 512, delay: Duration::from_secs(3600) };
        let mut fanout = Fanout::new(limits, Resource::builder_empty().build());
        let (stuck_exported, _) = mpsc::channel();
        let (release, stuck) = mpsc::channel();
        // Added first: shut down one after the other, it took the whole budget.
        fanout.add("stuck", Exporter { exported: stuck_exported, stuck: Some(Mutex::new(stuck)) }, |_| true).unwrap();
        let (exported_to, exported) = mpsc::channel();
        fanout.add("healthy", Exporter { exported: exported_to, stuck: None }, |_| true).unwrap();
        fanout.on_end(span(7));

        let outcome = fanout.shutdown_with_timeout(Duration::from_millis(500));
        assert!(matches!(outcome, Err(OTelSdkError::Timeout(_))), "{outcome:?}");
        assert_eq!(exported.try_recv(), Ok(7), "the healthy exporter flushed within the budget");
        release.send(()).unwrap();
    }
}
