//! The bridge from tracing spans to OpenTelemetry spans: a tracing layer that
//! keeps each span's OpenTelemetry side in the registry's extensions and, when
//! the span closes, hands its [`SpanData`] to the [`SpanPipeline`].
//!
//! Written here instead of using tracing-opentelemetry 0.33, which was the
//! floor of what spans cost (+72 k instructions of a home request over
//! telemetry off, scripts/bench --instructions; the figures are in docs/telemetry-cost.md).
//! Per span it built an SDK `SpanBuilder`, then an SDK span with its own
//! lock, then the `SpanData`; it kept the data behind an `Arc<Mutex>`; and it
//! stamped an end time on every exit (every poll of the request's futures,
//! ~30 a request). Here a span is one struct in the extensions, the sampler
//! and id generator are called directly, and the end time is taken once.
//! (tracing-opentelemetry 0.34, for OpenTelemetry 0.33, changes nothing of
//! this: its changelog lists only the version move.)
//!
//! What it keeps of tracing-opentelemetry's behaviour: the `otel.name`,
//! `otel.kind`, `otel.status_code` and `otel.status_description` fields;
//! every other field becomes an attribute (a value recorded again replaces
//! the old one, as the specification says); a span starts (gets its ids and
//! sampling decision) only when something needs its context, so
//! [`set_parent`] can still give it a remote parent after it is created.
//! Events are not copied into spans and follows-from links are not kept: no
//! Cruddur code makes them.
//!
//! The layer picks its spans itself ([`OtelLayer::wants`]) instead of
//! through a per-layer filter (`with_filter`): tracing-subscriber's
//! `Filtered` looks each span up in the registry on every enter and exit
//! (every poll of the request's futures, ~30 a request) to see whether its
//! filter took it, though this layer has nothing to do there: −7 k
//! instructions of a home request (scripts/bench --instructions). Its level
//! hint keeps debug and trace callsites off as the filter's did.

use std::{borrow::Cow, fmt, sync::Arc, time::SystemTime};

use opentelemetry::{
    Context, KeyValue, Value,
    baggage::BaggageExt,
    trace::{SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags},
};
use opentelemetry_sdk::trace::{SamplingDecision, SpanData};
use tracing::{
    Dispatch, Metadata, Subscriber,
    field::{Field, Visit},
    level_filters::LevelFilter,
    span::{Attributes, Id, Record},
};
use tracing_subscriber::{
    Registry,
    filter::Targets,
    layer::Context as LayerContext,
    registry::{LookupSpan, SpanRef},
};

use crate::{string_values, traces::SpanPipeline};

/// tracing-opentelemetry's special fields, kept so span sites read the same.
const NAME_FIELD: &str = "otel.name";
const KIND_FIELD: &str = "otel.kind";
const STATUS_CODE_FIELD: &str = "otel.status_code";
const STATUS_DESCRIPTION_FIELD: &str = "otel.status_description";

/// The most verbose spans that become OpenTelemetry spans.
const SPAN_LEVEL: LevelFilter = LevelFilter::INFO;

/// The layer. Reached again through the dispatcher (tracing's downcasting)
/// when a span's context is asked for outside a layer callback.
pub(crate) struct OtelLayer {
    pipeline: Arc<SpanPipeline>,
    /// Targets whose spans never become OpenTelemetry spans.
    targets: Targets,
}

impl OtelLayer {
    pub(crate) fn new(pipeline: Arc<SpanPipeline>) -> Self {
        let targets = Targets::new()
            .with_default(SPAN_LEVEL)
            // The SDK's own diagnostics (no feedback loop through the exporter).
            .with_target("opentelemetry", LevelFilter::OFF)
            .with_target("opentelemetry_sdk", LevelFilter::OFF)
            // The CloudWatch shipper's own AWS SDK calls.
            .with_target("aws_", LevelFilter::OFF);
        Self { pipeline, targets }
    }

    /// Spans of our own code and libraries at [`SPAN_LEVEL`] and above
    /// (only spans reach `on_new_span`). Events never: log lines go to stdout
    /// and CloudWatch with their trace ids, and copying each into its span
    /// cost a measurable share of a request.
    fn wants(&self, metadata: &Metadata<'_>) -> bool {
        self.targets.would_enable(metadata.target(), metadata.level())
    }

    /// Gives a pending span its ids and sampling decision.
    fn start(&self, span: &mut OtelSpan) {
        let parent = match &mut span.state {
            State::Pending { parent } => std::mem::take(parent),
            State::Started(_) => return,
        };
        let parent_span = parent.span();
        let parent_context = parent.has_active_span().then(|| parent_span.span_context());
        let trace_id = match parent_context {
            Some(parent) => parent.trace_id(),
            None => self.pipeline.new_trace_id(),
        };
        // Called with this span's extensions locked: were a sampler to log,
        // the log layers asking for the ids would deadlock. Ours and the
        // SDK's log nothing. (Not guarded by a scoped no-op dispatcher: that
        // panics when a log line starts the span, inside the line's own
        // dispatch, and moves every later dispatch onto tracing's slow path.)
        let result = self.pipeline.should_sample(&parent, trace_id, &span.name, &span.kind, &span.attributes);
        let flags = parent_span.span_context().trace_flags();
        let flags = match result.decision {
            SamplingDecision::RecordAndSample => flags.with_sampled(true),
            SamplingDecision::RecordOnly => flags.with_sampled(false),
            SamplingDecision::Drop => TraceFlags::default(),
        };
        let recording = result.decision != SamplingDecision::Drop;
        if recording {
            span.attributes.extend(result.attributes);
        }
        let own = SpanContext::new(trace_id, self.pipeline.new_span_id(), flags, false, result.trace_state);
        let (parent_span_id, parent_is_remote) = match parent_context {
            Some(parent) => (parent.span_id(), parent.is_valid() && parent.is_remote()),
            None => (SpanId::INVALID, false),
        };
        span.state = State::Started(Started { own, parent, cx: None, parent_span_id, parent_is_remote, recording });
    }

    /// The context a new span continues: that of its explicit parent or of
    /// the current span, or of their nearest ancestor this layer took (a
    /// span it turned away is skipped), or none (a new trace).
    fn parent_of<S>(&self, attrs: &Attributes<'_>, ctx: &LayerContext<'_, S>) -> Context
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let parent = if let Some(parent) = attrs.parent() {
            ctx.span(parent)
        } else if attrs.is_contextual() {
            ctx.lookup_current()
        } else {
            None
        };
        parent
            .and_then(|parent| parent.scope().find_map(|span| self.context(&span, Context::clone)))
            .unwrap_or_default()
    }

    /// Runs `f` on the span context of `span` (started if it was pending):
    /// its ids, flags and trace state. `None` if the span is not one of ours.
    fn span_context<'a, R: LookupSpan<'a>, T>(
        &self,
        span: &SpanRef<'a, R>,
        f: impl FnOnce(&SpanContext) -> T,
    ) -> Option<T> {
        {
            let extensions = span.extensions();
            if let State::Started(started) = &extensions.get::<OtelSpan>()?.state {
                return Some(f(&started.own));
            }
        }
        self.with_started(span, |started| f(&started.own))
    }

    /// Runs `f` on the context of `span` (started if it was pending, its
    /// context made if it had none), or `None` if the span is not one of ours.
    fn context<'a, R: LookupSpan<'a>, T>(&self, span: &SpanRef<'a, R>, f: impl FnOnce(&Context) -> T) -> Option<T> {
        {
            let extensions = span.extensions();
            if let State::Started(Started { cx: Some(cx), .. }) = &extensions.get::<OtelSpan>()?.state {
                return Some(f(cx));
            }
        }
        self.with_started(span, |started| f(started.context()))
    }

    /// The slow path of the two above: starts `span` if it was pending, with
    /// its extensions locked for writing, and runs `f` on its started state.
    fn with_started<'a, R: LookupSpan<'a>, T>(
        &self,
        span: &SpanRef<'a, R>,
        f: impl FnOnce(&mut Started) -> T,
    ) -> Option<T> {
        let mut extensions = span.extensions_mut();
        let otel = extensions.get_mut::<OtelSpan>()?;
        self.start(otel);
        match &mut otel.state {
            State::Started(started) => Some(f(started)),
            State::Pending { .. } => None,
        }
    }
}

/// A span's OpenTelemetry side, in the registry's extensions.
struct OtelSpan {
    name: Cow<'static, str>,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    status: Status,
    start_time: SystemTime,
    state: State,
}

enum State {
    /// Not started: the context it will continue.
    Pending {
        parent: Context,
    },
    Started(Started),
}

struct Started {
    /// The span's own span context, which its `SpanData` takes at the end.
    own: SpanContext,
    /// The context the span continues.
    parent: Context,
    /// `parent` with a copy of `own` in it, made the first time a child span
    /// or an outgoing request needs it: a leaf (the database query) never
    /// does. Making it copies the trace state (X-Ray's decision rides there:
    /// allocations); with it made up front, every span's `SpanData` took one
    /// more copy at the end.
    cx: Option<Context>,
    parent_span_id: SpanId,
    parent_is_remote: bool,
    recording: bool,
}

impl Started {
    fn context(&mut self) -> &Context {
        self.cx.get_or_insert_with(|| self.parent.with_remote_span_context(self.own.clone()))
    }
}

impl<S> tracing_subscriber::Layer<S> for OtelLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    /// What `wants` lets through, said once: tracing's global maximum level
    /// is the highest any layer hints.
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(SPAN_LEVEL)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        if !self.wants(attrs.metadata()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let parent = self.parent_of(attrs, &ctx);
        let mut otel = OtelSpan {
            name: Cow::Borrowed(attrs.metadata().name()),
            kind: SpanKind::Internal,
            attributes: Vec::with_capacity(attribute_fields(attrs)),
            status: Status::Unset,
            start_time: SystemTime::now(),
            state: State::Pending { parent },
        };
        attrs.record(&mut FieldVisitor { span: &mut otel, recorded_before: false });
        span.extensions_mut().insert(otel);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(otel) = span.extensions_mut().get_mut::<OtelSpan>() {
            values.record(&mut FieldVisitor { span: otel, recorded_before: true });
        }
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(mut otel) = span.extensions_mut().remove::<OtelSpan>() else { return };
        // A span nothing asked about (a leaf) starts now.
        self.start(&mut otel);
        let State::Started(Started { own, parent_span_id, parent_is_remote, recording: true, .. }) = otel.state else {
            return;
        };
        let end_time = SystemTime::now();
        let mut attributes = otel.attributes;
        let dropped_attributes_count = self.pipeline.limit_attributes(&mut attributes);
        self.pipeline.export(SpanData {
            span_context: own,
            parent_span_id,
            parent_span_is_remote: parent_is_remote,
            span_kind: otel.kind,
            name: otel.name,
            start_time: otel.start_time,
            end_time,
            attributes,
            dropped_attributes_count,
            events: Default::default(),
            links: Default::default(),
            status: otel.status,
            instrumentation_scope: self.pipeline.scope().clone(),
        });
    }
}

/// How many of a span's fields can become attributes: all but the `otel.*`
/// ones. Room for exactly those keeps the server span's list (15 fields, 56
/// bytes each) within what glibc serves from its per-thread cache (1,032
/// bytes); with room for every field it was not, and each took malloc's
/// slow path.
fn attribute_fields(attrs: &Attributes<'_>) -> usize {
    attrs.fields().iter().filter(|field| !field.name().starts_with("otel.")).count()
}

/// Fields to attributes, except tracing-opentelemetry's `otel.*` fields.
struct FieldVisitor<'a> {
    span: &'a mut OtelSpan,
    /// Whether the span may hold the field already. A new span's fields are
    /// its callsite's, each named once: no search.
    recorded_before: bool,
}

impl FieldVisitor<'_> {
    fn set(&mut self, field: &Field, value: Value) {
        let attributes = &mut self.span.attributes;
        if self.recorded_before
            && let Some(existing) = attributes.iter_mut().find(|kv| kv.key.as_str() == field.name())
        {
            existing.value = value;
            return;
        }
        attributes.push(KeyValue::new(field.name(), value));
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            NAME_FIELD => self.span.name = Cow::Owned(value.to_owned()),
            KIND_FIELD => {
                if let Some(kind) = span_kind(value) {
                    self.span.kind = kind;
                }
            }
            STATUS_CODE_FIELD => self.span.status = status(value),
            STATUS_DESCRIPTION_FIELD => self.span.status = Status::error(value.to_owned()),
            _ => self.set(field, string_values::shared(field.name(), value)),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            NAME_FIELD | KIND_FIELD | STATUS_CODE_FIELD | STATUS_DESCRIPTION_FIELD => {
                self.record_str(field, &format!("{value:?}"))
            }
            _ => self.set(field, Value::from(format!("{value:?}"))),
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, Value::I64(value));
    }

    /// An int, as the conventions want (tracing-opentelemetry exported `u64`
    /// as a string); past `i64::MAX`, the digits.
    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(value) => self.set(field, Value::I64(value)),
            Err(_) => self.set(field, Value::from(value.to_string())),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, Value::Bool(value));
    }
}

fn span_kind(text: &str) -> Option<SpanKind> {
    [
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ]
    .into_iter()
    .find_map(|(name, kind)| text.eq_ignore_ascii_case(name).then_some(kind))
}

fn status(text: &str) -> Status {
    if text.eq_ignore_ascii_case("ok") {
        Status::Ok
    } else if text.eq_ignore_ascii_case("error") {
        Status::error("")
    } else {
        Status::Unset
    }
}

/// Runs `f` on the OpenTelemetry span context of the innermost span of
/// `scope` (innermost first) that has one, starting it if it was pending.
/// Log lines take their ids from here.
pub(crate) fn innermost_span_context<'a, R, T>(
    scope: impl Iterator<Item = SpanRef<'a, R>>,
    dispatch: &Dispatch,
    mut f: impl FnMut(&SpanContext) -> Option<T>,
) -> Option<T>
where
    R: LookupSpan<'a> + 'a,
{
    let layer = dispatch.downcast_ref::<OtelLayer>()?;
    scope.into_iter().find_map(|span| layer.span_context(&span, &mut f).flatten())
}

/// What the services' code does with a span's OpenTelemetry side.
pub(crate) trait OpenTelemetrySpan {
    /// Makes `parent` (a context extracted from a request's headers) the
    /// span's parent. Only before the span has started, that is before any
    /// child span, log line or [`OpenTelemetrySpan::context`] needed its ids;
    /// returns whether it was applied.
    fn set_parent(&self, parent: Context) -> bool;

    /// The span's context (to inject into an outgoing request, say), or an
    /// empty one when the span is disabled or telemetry is off.
    fn context(&self) -> Context;
}

/// With the SDK disabled (`OTEL_SDK_DISABLED=true`) there is no bridge, yet a
/// request's trace context still reaches the services it calls, as with the
/// specification's no-op API (the variable "has no effect on propagators"):
/// the context extracted from the request rides on its server span, and the
/// calls made inside it carry it on. Nothing is recorded.
struct PassedThrough(Context);

impl OpenTelemetrySpan for tracing::Span {
    fn set_parent(&self, parent: Context) -> bool {
        self.with_subscriber(|(id, dispatch)| {
            let Some(span) = dispatch.downcast_ref::<Registry>().and_then(|registry| registry.span(id)) else {
                return false;
            };
            let mut extensions = span.extensions_mut();
            if dispatch.downcast_ref::<OtelLayer>().is_none() {
                let carries = parent.span().span_context().is_valid() || !parent.baggage().is_empty();
                if carries {
                    extensions.replace(PassedThrough(parent));
                }
                return carries;
            }
            match extensions.get_mut::<OtelSpan>() {
                Some(OtelSpan { state: State::Pending { parent: pending }, .. }) => {
                    *pending = parent;
                    true
                }
                _ => false,
            }
        })
        .unwrap_or(false)
    }

    fn context(&self) -> Context {
        self.with_subscriber(|(id, dispatch)| {
            let span = dispatch.downcast_ref::<Registry>()?.span(id)?;
            match dispatch.downcast_ref::<OtelLayer>() {
                Some(layer) => layer.context(&span, Context::clone),
                None => span.scope().find_map(|span| span.extensions().get::<PassedThrough>().map(|p| p.0.clone())),
            }
        })
        .flatten()
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{Arc, Mutex},
        time::Duration,
    };

    use environment::Env;
    use opentelemetry::trace::{TraceId, TraceState};
    use opentelemetry_sdk::{error::OTelSdkResult, trace::SpanExporter};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::{config::TelemetryConfig, xray::XrayConfig};

    #[derive(Debug, Clone, Default)]
    struct Collected(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Collected {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    /// The spans `work` makes, as the exporters get them.
    fn exported(work: impl FnOnce()) -> Vec<SpanData> {
        exported_beside(None, work)
    }

    /// The same, with another layer beside the bridge: one that wants every
    /// level (as the log layer does with `RUST_LOG=trace`), or none.
    fn exported_beside(other: Option<LevelFilter>, work: impl FnOnce()) -> Vec<SpanData> {
        let env = Env::from_pairs([("OTEL_SERVICE_NAME", "bridge-test")]);
        let config = TelemetryConfig::from_env("bridge-test", &env).unwrap();
        let xray = XrayConfig::from_env(&config.service_name, &env).unwrap();
        let mut pipeline = SpanPipeline::new(&config, &xray, "instance").unwrap();
        let collected = Collected::default();
        pipeline.add_exporter(collected.clone());
        let pipeline = Arc::new(pipeline);
        tracing::subscriber::with_default(
            tracing_subscriber::registry().with(OtelLayer::new(pipeline.clone())).with(other),
            work,
        );
        pipeline.shutdown_with_timeout(Duration::from_secs(5)).unwrap();
        collected.0.lock().unwrap().clone()
    }

    fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
        spans.iter().find(|span| span.name == name).unwrap_or_else(|| panic!("no span {name}"))
    }

    fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
        span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
    }

    #[test]
    fn spans_keep_their_tree_their_otel_fields_and_their_attributes() {
        let spans = exported(|| {
            let root = tracing::info_span!(
                "http.server.request",
                otel.name = "GET /api/activities/home",
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
                otel.status_description = tracing::field::Empty,
                http.response.status_code = tracing::field::Empty,
                server.port = 4567_u64,
            );
            let _entered = root.enter();
            let child = tracing::info_span!("db.query", otel.kind = "client", db.query.text = "SELECT 1", ok = true);
            child.in_scope(|| {});
            drop(child);
            root.record("http.response.status_code", 200_i64);
            // Recorded again: the value replaces the first one.
            root.record("http.response.status_code", 503_i64);
            root.record("otel.status_code", "ERROR");
            root.record("otel.status_description", "users service is unreachable");
        });
        assert_eq!(spans.len(), 2);
        let root = named(&spans, "GET /api/activities/home");
        let child = named(&spans, "db.query");

        assert_eq!(root.span_kind, SpanKind::Server);
        assert_eq!(child.span_kind, SpanKind::Client);
        assert_eq!(root.status, Status::error("users service is unreachable"));
        assert_eq!(child.status, Status::Unset);
        assert_eq!(attribute(root, "http.response.status_code"), Some(&Value::I64(503)));
        assert_eq!(root.attributes.iter().filter(|kv| kv.key.as_str() == "http.response.status_code").count(), 1);
        assert_eq!(attribute(root, "server.port"), Some(&Value::I64(4567)), "u64 is an int");
        assert_eq!(attribute(child, "db.query.text"), Some(&Value::from("SELECT 1")));
        assert_eq!(attribute(child, "ok"), Some(&Value::Bool(true)));
        assert!(attribute(root, "otel.kind").is_none() && attribute(root, "otel.name").is_none());

        assert!(root.span_context.is_sampled() && root.span_context.is_valid());
        assert_eq!(child.span_context.trace_id(), root.span_context.trace_id());
        assert_eq!(child.parent_span_id, root.span_context.span_id());
        assert!(!child.parent_span_is_remote);
        assert_eq!(root.parent_span_id, SpanId::INVALID);
        assert!(root.start_time <= child.start_time && child.end_time <= root.end_time);
        assert_eq!(root.instrumentation_scope.name(), "bridge-test");
    }

    #[test]
    fn only_info_spans_become_opentelemetry_spans_and_the_layer_says_so() {
        let env = Env::from_pairs([("OTEL_SERVICE_NAME", "bridge-test")]);
        let config = TelemetryConfig::from_env("bridge-test", &env).unwrap();
        let pipeline =
            SpanPipeline::new(&config, &XrayConfig::from_env("bridge-test", &env).unwrap(), "instance").unwrap();
        // Without a level hint tracing's global maximum is TRACE, and every
        // debug callsite of every library is asked about at run time.
        let layer = OtelLayer::new(Arc::new(pipeline));
        assert_eq!(tracing_subscriber::Layer::<Registry>::max_level_hint(&layer), Some(LevelFilter::INFO));

        let spans = exported_beside(Some(LevelFilter::TRACE), || {
            let root = tracing::info_span!("kept");
            let _root = root.enter();
            let verbose = tracing::debug_span!("too verbose");
            let _verbose = verbose.enter();
            let shipper = tracing::info_span!(target: "aws_smithy_runtime", "the shipper's own");
            let _shipper = shipper.enter();
            let _sdk = tracing::warn_span!(target: "opentelemetry_sdk", "the SDK's own");
            tracing::info!("an event");
            tracing::info_span!("inside spans turned away").in_scope(|| {});
        });
        let mut names: Vec<_> = spans.iter().map(|span| span.name.as_ref()).collect();
        names.sort_unstable();
        assert_eq!(names, ["inside spans turned away", "kept"]);
        let (root, inner) = (named(&spans, "kept"), named(&spans, "inside spans turned away"));
        assert_eq!(inner.span_context.trace_id(), root.span_context.trace_id(), "the nearest kept ancestor's trace");
        assert_eq!(inner.parent_span_id, root.span_context.span_id());
    }

    #[test]
    fn a_leaf_whose_context_nobody_asked_for_keeps_its_trace_state() {
        let spans = exported(|| {
            let root = tracing::info_span!("root");
            // Its context is made (a child needs it); the leaf's never is.
            root.in_scope(|| drop(tracing::info_span!("leaf")));
        });
        let (root, leaf) = (named(&spans, "root"), named(&spans, "leaf"));
        assert_eq!(leaf.parent_span_id, root.span_context.span_id());
        assert_eq!(leaf.span_context.trace_id(), root.span_context.trace_id());
        // X-Ray's decision, which the exporters' filter reads, rides in both.
        assert!(root.span_context.trace_state().get("xray").is_some());
        assert_eq!(leaf.span_context.trace_state(), root.span_context.trace_state());
        assert!(leaf.span_context.is_sampled());
    }

    #[test]
    fn an_explicit_parent_turned_away_hands_on_its_nearest_kept_ancestor() {
        let spans = exported(|| {
            let root = tracing::info_span!("kept");
            let shipper = root.in_scope(|| tracing::info_span!(target: "aws_smithy_runtime", "the shipper's own"));
            drop(tracing::info_span!(parent: &shipper, "child"));
            drop(tracing::info_span!(parent: None, "a root of its own"));
        });
        let (root, child, own) = (named(&spans, "kept"), named(&spans, "child"), named(&spans, "a root of its own"));
        assert_eq!(spans.len(), 3);
        assert_eq!(child.parent_span_id, root.span_context.span_id());
        assert_eq!(child.span_context.trace_id(), root.span_context.trace_id());
        assert_eq!(own.parent_span_id, SpanId::INVALID);
        assert_ne!(own.span_context.trace_id(), root.span_context.trace_id());
    }

    #[test]
    fn a_remote_parent_is_continued_until_the_span_has_started() {
        let trace_id = TraceId::from(0x4bf92f3577b34da6a3ce929d0e0e4736_u128);
        let remote = SpanContext::new(
            trace_id,
            SpanId::from(0x00f067aa0ba902b7_u64),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        );
        let mut applied = (false, true);
        let mut injected = None;
        let spans = exported(|| {
            let root = tracing::info_span!("root");
            applied.0 = root.set_parent(Context::new().with_remote_span_context(remote.clone()));
            injected = Some(root.context().span().span_context().clone());
            // Started now (its context was asked for): too late for a parent.
            applied.1 = root.set_parent(Context::new());
        });
        assert_eq!(applied, (true, false));
        let root = named(&spans, "root");
        assert_eq!(root.span_context.trace_id(), trace_id);
        assert_eq!(root.parent_span_id, remote.span_id());
        assert!(root.parent_span_is_remote);
        assert_eq!(injected.as_ref(), Some(&root.span_context), "context() is the span's own");
    }

    #[test]
    fn without_the_layer_a_span_has_no_context() {
        let span = tracing::info_span!("nobody listens");
        assert!(!span.context().has_active_span());
        assert!(!span.set_parent(Context::new()));
    }
}
