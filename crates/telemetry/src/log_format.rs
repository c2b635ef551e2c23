//! What the stdout lines look like: JSON for machines (compose, files, log
//! shippers), or a compact line for a person at a terminal. `LOG_FORMAT`
//! chooses; by default a terminal gets the human form and anything else
//! JSON. CloudWatch lines are always JSON (their own layer).

use std::fmt;

use environment::{Env, InvalidVariable};
use nu_ansi_term::{Color, Style};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::{
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::{DefaultFields, Writer},
        time::{ChronoLocal, FormatTime},
    },
    registry::LookupSpan,
};

use crate::logs::{JsonLines, otel_ids};

/// `LOG_FORMAT`, resolved against the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Json,
    /// `ansi`: colour, only on a terminal and unless `NO_COLOR` says otherwise.
    Human {
        ansi: bool,
    },
}

impl LogFormat {
    /// `LOG_FORMAT`: `json`, `human`, or `auto` (the default: human when
    /// stdout is a terminal). Colour follows <https://no-color.org>: a
    /// non-empty `NO_COLOR` turns it off, and so does `TERM=dumb`.
    pub(crate) fn from_env(env: &Env, stdout_is_terminal: bool) -> Result<Self, InvalidVariable> {
        let human = match env.get("LOG_FORMAT").map(|value| value.to_ascii_lowercase()).as_deref() {
            None | Some("auto") => stdout_is_terminal,
            Some("json") => false,
            Some("human") => true,
            Some(_) => {
                let value = env.get("LOG_FORMAT").unwrap_or_default();
                return Err(InvalidVariable::new("LOG_FORMAT", value, "expected json, human or auto"));
            }
        };
        if !human {
            return Ok(Self::Json);
        }
        let ansi = stdout_is_terminal && env.get("NO_COLOR").is_none() && env.get("TERM").as_deref() != Some("dumb");
        Ok(Self::Human { ansi })
    }
}

/// The stdout formatter, one of the two. An enum rather than two layer
/// types, so the subscriber's type (and the per-layer filter on it) is the
/// same either way and the JSON path pays one branch.
pub(crate) enum StdoutLines {
    Json(JsonLines),
    Human(HumanLines),
}

impl<S, N> FormatEvent<S, N> for StdoutLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        match self {
            Self::Json(json) => json.format_event(ctx, writer, event),
            Self::Human(human) => human.format_event(ctx, writer, event),
        }
    }
}

/// `21:30:06.123 activities     INFO request method="GET" status=200 trace=9490eabe`:
/// local time, service, level, the message with the event's fields as
/// tracing-subscriber's default formatter writes them (keys in italics, and
/// escape sequences in values neutralised), and the last 8 hex digits of the
/// trace id (its first 8 are the trace's start time: the same for every
/// request of a second).
pub(crate) struct HumanLines {
    service: String,
    timer: ChronoLocal,
    fields: DefaultFields,
}

impl HumanLines {
    pub(crate) fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            timer: ChronoLocal::new("%H:%M:%S%.3f".to_owned()),
            fields: DefaultFields::new(),
        }
    }
}

impl<S, N> FormatEvent<S, N> for HumanLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let ansi = writer.has_ansi_escapes();
        let dimmed = if ansi { Style::new().dimmed() } else { Style::new() };
        write!(writer, "{}", dimmed.prefix())?;
        self.timer.format_time(&mut writer)?;
        // Padded to "notifications", so the three services' lines align in
        // one terminal (scripts/run).
        write!(writer, "{} {:<13} ", dimmed.suffix(), self.service)?;
        let level = *event.metadata().level();
        let style = if ansi { level_style(level) } else { Style::new() };
        write!(writer, "{}{level:>5}{} ", style.prefix(), style.suffix())?;
        self.fields.format_fields(writer.by_ref(), event)?;
        if let Some(ids) = otel_ids(ctx.lookup_current()) {
            let short = crate::hex_ids::trace_hex_tail(ids.trace_id);
            write!(writer, " {}trace={}{}", dimmed.prefix(), short.as_str(), dimmed.suffix())?;
        }
        writeln!(writer)
    }
}

/// The colours tracing-subscriber's own formats give each level.
fn level_style(level: Level) -> Style {
    match level {
        Level::ERROR => Color::Red.normal(),
        Level::WARN => Color::Yellow.normal(),
        Level::INFO => Color::Green.normal(),
        Level::DEBUG => Color::Blue.normal(),
        Level::TRACE => Color::Purple.normal(),
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::Write,
        sync::{Arc, Mutex},
    };

    use tracing_subscriber::{fmt::MakeWriter, layer::SubscriberExt};

    use super::*;

    fn format(pairs: &'static [(&'static str, &'static str)], terminal: bool) -> Result<LogFormat, InvalidVariable> {
        LogFormat::from_env(&Env::from_pairs(pairs.iter().copied()), terminal)
    }

    #[test]
    fn the_default_follows_the_terminal_and_the_switch_wins() {
        assert_eq!(format(&[], true).unwrap(), LogFormat::Human { ansi: true });
        assert_eq!(format(&[], false).unwrap(), LogFormat::Json);
        assert_eq!(format(&[("LOG_FORMAT", "auto")], false).unwrap(), LogFormat::Json);
        assert_eq!(format(&[("LOG_FORMAT", "json")], true).unwrap(), LogFormat::Json);
        assert_eq!(format(&[("LOG_FORMAT", " JSON ")], true).unwrap(), LogFormat::Json);
        // Human lines into a pipe or a file carry no escape sequences.
        assert_eq!(format(&[("LOG_FORMAT", "human")], false).unwrap(), LogFormat::Human { ansi: false });
    }

    #[test]
    fn no_color_and_a_dumb_terminal_turn_colour_off() {
        assert_eq!(format(&[("NO_COLOR", "1")], true).unwrap(), LogFormat::Human { ansi: false });
        assert_eq!(format(&[("TERM", "dumb")], true).unwrap(), LogFormat::Human { ansi: false });
        // no-color.org: an empty NO_COLOR is as if unset.
        assert_eq!(format(&[("NO_COLOR", "")], true).unwrap(), LogFormat::Human { ansi: true });
    }

    #[test]
    fn an_unknown_format_names_the_variable() {
        let err = format(&[("LOG_FORMAT", "pretty")], true).unwrap_err();
        assert_eq!(err.variable, "LOG_FORMAT");
        assert!(err.to_string().starts_with("invalid LOG_FORMAT=\"pretty\": "), "{err}");
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(bytes)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Self;

        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    /// One event through a fmt layer as `init` builds it.
    fn line(ansi: bool) -> String {
        let buffer = Buffer::default();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(crate::logs::NoSpanFields)
            .event_format(StdoutLines::Human(HumanLines::new("users")))
            .with_ansi(ansi)
            .with_writer(buffer.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::warn!(status = 503, path = "/api/users", "upstream \x1b[31mslow");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_human_line_is_time_service_level_message_and_fields() {
        let line = line(false);
        assert!(line.ends_with('\n') && line.lines().count() == 1, "{line:?}");
        let (time, rest) = line.split_once(' ').unwrap();
        assert_eq!(time.len(), "21:30:06.123".len(), "{line:?}");
        assert!(time.bytes().enumerate().all(|(i, b)| if [2, 5, 8].contains(&i) {
            b"::."[i / 3] == b
        } else {
            b.is_ascii_digit()
        }));
        assert_eq!(rest.trim_end(), "users          WARN upstream \\x1b[31mslow status=503 path=\"/api/users\"");
    }

    #[test]
    fn colour_is_escape_sequences_around_time_level_and_keys_only() {
        let line = line(true);
        assert!(line.contains("\x1b[33m WARN\x1b[0m"), "the level in yellow: {line:?}");
        assert!(line.contains("\x1b[2m"), "the time dimmed: {line:?}");
        assert!(line.contains("\\x1b[31mslow"), "a message cannot colour the terminal: {line:?}");
        assert!(!line.contains("\x1b[31m"), "{line:?}");
    }
}
