//! `RUST_LOG` for the stdout log lines: a layer around the lines layer that
//! hands it only the events the `EnvFilter` admits.
//!
//! Not tracing-subscriber's per-layer filter (`with_filter`): its `Filtered`
//! looks each span up in the registry on every enter and exit (every poll of
//! a request's futures, ~30 a request) to see whether the filter took the
//! span, and the `EnvFilter` then takes a lock to see whether a directive
//! names it; the lines layer does nothing with spans (lines carry no span
//! fields and there are no span events), so all of that was waste, telemetry
//! on or off (figures in docs/telemetry-cost.md). As the bridge and the CloudWatch layer
//! do, this layer decides in `on_event`, and its level hint keeps callsites
//! more verbose than `RUST_LOG` off. It never turns a span away: the bridge
//! picks its own, and `RUST_LOG=warn` must not stop traces.
//!
//! Records of the `log` crate (actix-web, reqwest and others log through it)
//! arrive as events of the target `log`; they are judged by their own
//! target, as `Filtered` judged them, so `RUST_LOG=info,actix_web=error`
//! still quiets actix-web.
//!
//! `RUST_LOG` keeps all of its syntax. Directives that name spans or fields
//! (`target[span{field=value}]=level`, the only syntax with a `[`) need the
//! filter to follow the spans a thread is in: then, and only then, it is told
//! of every span as `Filtered` would tell it.

use tracing::{Event, Metadata, Subscriber, level_filters::LevelFilter, span, subscriber::Interest};
use tracing_log::NormalizeEvent;
use tracing_subscriber::{EnvFilter, Layer, layer::Context, layer::Filter, registry::LookupSpan};

use crate::{client_noise, error::TelemetryError};

/// What `RUST_LOG` means when it is not set.
const DEFAULT_DIRECTIVES: &str = "info";

pub(crate) struct RustLogFilter<L> {
    lines: L,
    filter: EnvFilter,
    /// Some directive names a span or a field: the filter follows spans.
    follows_spans: bool,
}

impl<L> RustLogFilter<L> {
    /// `lines` filtered by `directives` (`RUST_LOG`; `info` when unset) and
    /// the client noise filter.
    pub(crate) fn new(lines: L, directives: Option<&str>) -> Result<Self, TelemetryError> {
        let directives = directives.unwrap_or(DEFAULT_DIRECTIVES);
        let filter = EnvFilter::try_new(directives).map_err(|err| TelemetryError::Filter(err.to_string()))?;
        Ok(Self { lines, filter, follows_spans: directives.contains('[') })
    }

    fn admits<S>(&self, metadata: &Metadata<'_>, ctx: &Context<'_, S>) -> bool {
        client_noise::keep(metadata) && Filter::<S>::enabled(&self.filter, metadata, ctx)
    }
}

impl<S, L> Layer<S> for RustLogFilter<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.lines.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.lines.on_layer(subscriber);
    }

    /// Every callsite stays open to the other layers; the filter still sees
    /// each one, to learn which spans its directives name.
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.follows_spans {
            Filter::<S>::callsite_enabled(&self.filter, metadata);
        }
        Interest::always()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Filter::<S>::max_level_hint(&self.filter)
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let from_log = event.normalized_metadata();
        if self.admits(from_log.as_ref().unwrap_or_else(|| event.metadata()), &ctx) {
            self.lines.on_event(event, ctx);
        }
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if self.follows_spans {
            Filter::<S>::on_new_span(&self.filter, attrs, id, ctx);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if self.follows_spans {
            Filter::<S>::on_record(&self.filter, id, values, ctx);
        }
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        if self.follows_spans {
            Filter::<S>::on_enter(&self.filter, id, ctx);
        }
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        if self.follows_spans {
            Filter::<S>::on_exit(&self.filter, id, ctx);
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        if self.follows_spans {
            Filter::<S>::on_close(&self.filter, id, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// The messages of the events a layer was handed.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Seen {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            struct Message<'a>(&'a mut Vec<String>);
            impl tracing::field::Visit for Message<'_> {
                fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                    if field.name() == "message" {
                        self.0.push(format!("{value:?}"));
                    }
                }
            }
            event.record(&mut Message(&mut self.0.lock().unwrap()));
        }
    }

    /// Which of a fixed set of events reach the lines under `directives`.
    fn seen(directives: Option<&str>) -> Vec<String> {
        let seen = Seen::default();
        let layer = RustLogFilter::new(seen.clone(), directives).unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::debug!("debug");
            tracing::info!("info");
            tracing::warn!(target: "noisy::module", "noisy warn");
            tracing::info_span!("quiet").in_scope(|| tracing::debug!("debug in quiet"));
            tracing::info_span!("chatty", user = "andrew").in_scope(|| tracing::debug!("debug in chatty"));
            tracing::debug!("debug after chatty");
            // A field recorded after the span is made, and a span made after
            // one closed (the registry may give it the closed one's id).
            let later = tracing::info_span!("later", user = tracing::field::Empty);
            later.record("user", "andrew");
            later.in_scope(|| tracing::debug!("debug in later"));
            drop(later);
            tracing::info_span!("quiet").in_scope(|| tracing::debug!("debug in quiet again"));
            tracing::error!(target: "actix_http::h1::dispatcher", "a client broke its connection");
            // What tracing-log's `LogTracer` makes of a `log` record.
            let record = |level, message| {
                tracing_log::format_trace(
                    &tracing_log::log::Record::builder()
                        .target("noisy::module")
                        .level(level)
                        .args(format_args!("{message}"))
                        .build(),
                )
                .unwrap();
            };
            record(tracing_log::log::Level::Warn, "log warn");
            record(tracing_log::log::Level::Info, "log info");
        });
        seen.0.lock().unwrap().clone()
    }

    #[test]
    fn unset_is_info() {
        assert_eq!(seen(None), ["info", "noisy warn", "log warn", "log info"]);
    }

    #[test]
    fn levels_and_targets_as_env_filter_reads_them() {
        assert_eq!(seen(Some("warn")), ["noisy warn", "log warn"]);
        assert_eq!(seen(Some("info,noisy=error")), ["info"]);
        assert_eq!(seen(Some("warn,noisy=info")), ["noisy warn", "log warn", "log info"]);
        assert_eq!(
            seen(Some("debug")),
            [
                "debug",
                "info",
                "noisy warn",
                "debug in quiet",
                "debug in chatty",
                "debug after chatty",
                "debug in later",
                "debug in quiet again",
                "log warn",
                "log info"
            ]
        );
    }

    #[test]
    fn span_directives_follow_the_spans_a_thread_is_in() {
        let logs = ["log warn", "log info"];
        assert_eq!(seen(Some("info,[chatty]=debug")), [&["info", "noisy warn", "debug in chatty"][..], &logs].concat());
        assert_eq!(
            seen(Some("info,[{user=andrew}]=debug")),
            [&["info", "noisy warn", "debug in chatty", "debug in later"][..], &logs].concat()
        );
        assert_eq!(seen(Some("info,[{user=kevin}]=debug")), [&["info", "noisy warn"][..], &logs].concat());
    }

    #[test]
    fn the_hint_is_the_most_verbose_level_asked_for() {
        let hint = |directives| {
            Layer::<tracing_subscriber::Registry>::max_level_hint(
                &RustLogFilter::new(Seen::default(), Some(directives)).unwrap(),
            )
        };
        assert_eq!(hint("warn"), Some(LevelFilter::WARN));
        assert_eq!(hint("warn,sqlx=debug"), Some(LevelFilter::DEBUG));
    }

    /// Beside a layer that wants info spans (the bridge), `RUST_LOG=error`
    /// leaves them alone.
    #[test]
    fn spans_are_never_turned_away() {
        let layer = RustLogFilter::new(Seen::default(), Some("error")).unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer).with(LevelFilter::INFO), || {
            assert!(!tracing::info_span!("request").is_disabled());
        });
    }

    #[test]
    fn a_malformed_rust_log_is_an_error() {
        let err = RustLogFilter::new(Seen::default(), Some("info,[[[")).err().unwrap();
        assert!(err.to_string().starts_with("invalid RUST_LOG: "), "{err}");
    }
}
