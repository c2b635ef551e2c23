//! What the standard `OTEL_*` variables ask for, resolved and checked once at
//! start. Reads through an `Env` so tests never touch the process environment.

use opentelemetry_semantic_conventions::resource::SERVICE_NAME;
use url::Url;

use environment::{Env, InvalidVariable, redacted_url};

use crate::error::TelemetryError;

/// The spec's default OTLP/HTTP traces endpoint, used when `otlp` is asked
/// for explicitly without an endpoint.
const DEFAULT_TRACES_ENDPOINT: &str = "http://localhost:4318/v1/traces";

#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`,
    /// else the service's own name.
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES`, decoded.
    pub resource_attributes: Vec<(String, String)>,
    /// `OTEL_SDK_DISABLED=true`: no spans at all (logs stay; a request's
    /// trace context still passes through to the services it calls).
    pub sdk_disabled: bool,
    pub otlp: Option<OtlpTarget>,
    /// `console` in `OTEL_TRACES_EXPORTER`: readable spans on stderr.
    pub console: bool,
    pub propagators: Vec<PropagatorKind>,
    /// Said once in the logs after start (the subscriber is not up while parsing).
    pub notes: Vec<String>,
    /// `TELEMETRY_SHUTDOWN_TIMEOUT_MS` (3000): the most all flushing at
    /// shutdown may take (spans, then CloudWatch), so that with the request
    /// drain (`SHUTDOWN_TIMEOUT_MS`) a stop ends inside a container's grace
    /// period.
    pub shutdown_budget: std::time::Duration,
    pub span_queue: SpanQueueLimits,
    pub attribute_limits: AttributeLimits,
    /// `TELEMETRY_STDOUT_BUFFER_LINES` (16384): how many log lines may wait
    /// for the stdout writer before new ones are dropped (and counted): a
    /// second and more of the bench's busiest load. The queue holds only the
    /// lines that wait (stdout_writer.rs).
    pub stdout_buffer_lines: usize,
}

/// What each span exporter's queue may hold before new spans are dropped,
/// and when it sends a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpanQueueLimits {
    /// `OTEL_BSP_MAX_QUEUE_SIZE` (2048): the most spans waiting for (or in)
    /// an export.
    pub max_spans: usize,
    /// `TELEMETRY_SPAN_QUEUE_BYTES` (2 MiB): the same bound in bytes, so a
    /// dead exporter costs at most this much memory however large the spans.
    pub max_bytes: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (512, at most `max_spans`): a batch
    /// this full is sent at once.
    pub max_batch: usize,
    /// `OTEL_BSP_SCHEDULE_DELAY` (5000 ms): a batch that never fills is sent
    /// this long after the last one.
    pub delay: std::time::Duration,
}

/// How much of its attributes a span keeps (the specification's attribute
/// limits; the span's own variables win over the general ones).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttributeLimits {
    /// `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, else `OTEL_ATTRIBUTE_COUNT_LIMIT`
    /// (128): attributes past it are dropped, and counted.
    pub count: usize,
    /// `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else
    /// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` (none): longer string values are
    /// cut to this many characters.
    pub value_length: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OtlpTarget {
    /// The full URL spans are POSTed to.
    pub traces_endpoint: Url,
    /// The names, never the values, of the configured export headers.
    pub header_names: Vec<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`
    /// (the whole list, not merged per name, as opentelemetry-otlp had it):
    /// what is sent, entries with an empty value left out.
    pub headers: Vec<ExportHeader>,
    /// `OTEL_EXPORTER_OTLP[_TRACES]_COMPRESSION=gzip`.
    pub gzip: bool,
    /// `OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT` in milliseconds (10000) for
    /// each try of an export; `None` for 0, which the specification reads as
    /// no limit.
    pub timeout: Option<std::time::Duration>,
}

/// One export header. Its value is a secret (an API key): `Debug` hides it.
#[derive(Clone, PartialEq)]
pub struct ExportHeader {
    /// Lower case.
    pub name: String,
    /// Percent-decoded, as the OTLP exporters of the spec decode it.
    pub value: String,
}

impl std::fmt::Debug for ExportHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}=…", self.name)
    }
}

/// How long shutdown waits, after the flushes `TELEMETRY_SHUTDOWN_TIMEOUT_MS`
/// bounds, for the stdout thread to write the lines still waiting (what
/// tracing-appender, which wrote them before, waited). A pipe nobody reads
/// would hold it forever.
pub const STDOUT_STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// The spec's default export timeout.
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(10_000);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropagatorKind {
    TraceContext,
    Baggage,
    Xray,
}

/// The largest integer the specification asks SDKs to accept (2³¹ − 1).
const MAX_SPEC_INTEGER: usize = i32::MAX as usize;

impl TelemetryConfig {
    pub fn from_env(default_service: &str, env: &Env) -> Result<Self, TelemetryError> {
        let get = |name: &str| env.get(name);
        let mut notes = Vec::new();
        sampler_notes(env, &mut notes);
        let shutdown_budget = match get("TELEMETRY_SHUTDOWN_TIMEOUT_MS") {
            None => std::time::Duration::from_millis(3000),
            Some(value) => value.parse().map(std::time::Duration::from_millis).map_err(|_| {
                InvalidVariable::new("TELEMETRY_SHUTDOWN_TIMEOUT_MS", value, "not a whole number of milliseconds")
            })?,
        };
        let whole = |name: &'static str, default: usize| match get(name) {
            None => Ok(default),
            Some(value) => match value.parse::<usize>() {
                Ok(number) if number > 0 => Ok(number),
                _ => Err(InvalidVariable::new(name, value, "not a positive whole number")),
            },
        };
        // The specification's own variables: a value out of range is said
        // and passed over (the default applies), as its common configuration
        // rules ask. Ours (`TELEMETRY_*`) stop the service instead.
        let mut spec_whole = |name: &'static str, default: usize| match get(name) {
            None => default,
            Some(value) => match value.parse::<usize>() {
                Ok(number) if (1..=MAX_SPEC_INTEGER).contains(&number) => number,
                _ => {
                    notes.push(format!(
                        "{name}={value:?} is not a positive whole number; the default, {default}, applies"
                    ));
                    default
                }
            },
        };
        let max_spans = spec_whole("OTEL_BSP_MAX_QUEUE_SIZE", 2048);
        // As the SDK does: a batch larger than the queue could never fill.
        let max_batch = spec_whole("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512).min(max_spans);
        // Not 0 either: the queue's thread would never wait.
        let delay = std::time::Duration::from_millis(spec_whole("OTEL_BSP_SCHEDULE_DELAY", 5000) as u64);
        let span_queue = SpanQueueLimits {
            max_spans,
            max_bytes: whole("TELEMETRY_SPAN_QUEUE_BYTES", 2 * 1024 * 1024)?,
            max_batch,
            delay,
        };
        let stdout_buffer_lines = whole("TELEMETRY_STDOUT_BUFFER_LINES", 16_384)?;
        let attribute_limits = AttributeLimits {
            count: limit(&get, ["OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT"], &mut notes)
                .unwrap_or(128),
            value_length: limit(
                &get,
                ["OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"],
                &mut notes,
            ),
        };

        let resource_attributes = resource_attributes(&get, &mut notes);
        let service_name = get("OTEL_SERVICE_NAME")
            .or_else(|| resource_attributes.iter().find(|(key, _)| key == SERVICE_NAME).map(|(_, name)| name.clone()))
            .unwrap_or_else(|| default_service.to_owned());
        let sdk_disabled = get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));

        if let Some(protocol) = get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| get("OTEL_EXPORTER_OTLP_PROTOCOL"))
            && protocol != "http/protobuf"
        {
            return Err(TelemetryError::UnsupportedProtocol(protocol));
        }

        let traces_endpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        let base_endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT");
        let endpoint_configured = traces_endpoint.is_some() || base_endpoint.is_some();

        // The spec's default exporter is otlp; with no endpoint configured we
        // do not spray a localhost port nobody listens on: export is off, said once.
        let exporters = get("OTEL_TRACES_EXPORTER");
        let (mut otlp, mut console) = (false, false);
        match &exporters {
            None => otlp = endpoint_configured,
            Some(list) => {
                for exporter in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                    match exporter {
                        "otlp" => otlp = true,
                        "console" => console = true,
                        "none" => {}
                        other => notes.push(format!("OTEL_TRACES_EXPORTER: {other:?} is not supported here; ignored")),
                    }
                }
            }
        }

        // Checked even when export is off: a value that does not parse is a
        // start-up error whatever else is set.
        let pairs = match get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") {
            Some(headers) => header_pairs("OTEL_EXPORTER_OTLP_TRACES_HEADERS", &headers)?,
            None => match get("OTEL_EXPORTER_OTLP_HEADERS") {
                Some(headers) => header_pairs("OTEL_EXPORTER_OTLP_HEADERS", &headers)?,
                None => Vec::new(),
            },
        };

        let otlp = if otlp {
            let traces_endpoint = match (traces_endpoint, base_endpoint) {
                (Some(url), _) => checked_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &url)?,
                (None, Some(base)) => with_traces_path(checked_url("OTEL_EXPORTER_OTLP_ENDPOINT", &base)?),
                (None, None) => Url::parse(DEFAULT_TRACES_ENDPOINT).expect("a valid default"),
            };
            let header_names: Vec<String> = pairs.iter().map(|header| header.name.clone()).collect();
            let honeycomb = traces_endpoint.host_str().is_some_and(|h| h.ends_with("honeycomb.io"));
            let has_key = pairs.iter().any(|header| header.name == "x-honeycomb-team" && !header.value.is_empty());
            if honeycomb && !has_key {
                // compose passes `x-honeycomb-team=${HONEYCOMB_API_KEY}`, empty when unset:
                // every export would be refused, so export is off and said once.
                notes.push("OTLP export off: Honeycomb needs x-honeycomb-team=<API key> in OTEL_EXPORTER_OTLP_HEADERS (HONEYCOMB_API_KEY is empty?)".into());
                return Ok(Self {
                    service_name,
                    resource_attributes,
                    sdk_disabled,
                    otlp: None,
                    console,
                    propagators: propagators(&get, &mut notes),
                    notes,
                    shutdown_budget,
                    span_queue,
                    attribute_limits,
                    stdout_buffer_lines,
                });
            }
            let gzip = compression(&get)?;
            let timeout = timeout(&get, &mut notes);
            let headers = pairs.into_iter().filter(|header| !header.value.is_empty()).collect();
            Some(OtlpTarget { traces_endpoint, header_names, headers, gzip, timeout })
        } else {
            if exporters.is_none() {
                notes.push(
                    "OTLP export off: set OTEL_EXPORTER_OTLP_ENDPOINT (and OTEL_EXPORTER_OTLP_HEADERS) to send spans"
                        .into(),
                );
            }
            None
        };

        let propagators = propagators(&get, &mut notes);
        Ok(Self {
            service_name,
            resource_attributes,
            sdk_disabled,
            otlp,
            console,
            propagators,
            notes,
            shutdown_budget,
            span_queue,
            attribute_limits,
            stdout_buffer_lines,
        })
    }
}

/// The first of `variables` that is set, as a whole number (0 included); a
/// value that is not one is said and passed over, as the specification's
/// common configuration rules ask.
fn limit(get: &impl Fn(&str) -> Option<String>, variables: [&str; 2], notes: &mut Vec<String>) -> Option<usize> {
    variables.into_iter().find_map(|variable| {
        let value = get(variable)?;
        match value.parse::<usize>() {
            Ok(limit) if limit <= MAX_SPEC_INTEGER => Some(limit),
            _ => {
                notes.push(format!("{variable}={value:?} is not a whole number; ignored"));
                None
            }
        }
    })
}

/// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` are read by the SDK's
/// default config, untrimmed, which warns of a value it cannot use before
/// logging is up: the warning was lost, and a typo sampled every trace
/// without a word. Said here, once; the SDK's fallback stands, as the
/// specification asks (warn, use the default). The SDK has no way to ask
/// whether it took a value, so its accepted names are repeated here.
fn sampler_notes(env: &Env, notes: &mut Vec<String>) {
    const NO_ARGUMENT: [&str; 4] = ["always_on", "always_off", "parentbased_always_on", "parentbased_always_off"];
    const RATIO: [&str; 2] = ["traceidratio", "parentbased_traceidratio"];
    let Some(sampler) = env.get_untrimmed("OTEL_TRACES_SAMPLER") else { return };
    if RATIO.contains(&sampler.as_str()) {
        let argument = env.get_untrimmed("OTEL_TRACES_SAMPLER_ARG");
        match argument.as_deref().map(str::parse::<f64>) {
            Some(Ok(ratio)) if (0.0..=1.0).contains(&ratio) => {}
            Some(Ok(ratio)) if !ratio.is_nan() => notes.push(format!(
                "OTEL_TRACES_SAMPLER_ARG={ratio} is outside 0 to 1; {sampler} samples as if it were {}",
                ratio.clamp(0.0, 1.0)
            )),
            Some(Ok(_)) => {
                notes.push(format!("OTEL_TRACES_SAMPLER_ARG is not a number; {sampler} samples no trace at all"))
            }
            _ => notes.push(format!(
                "OTEL_TRACES_SAMPLER={sampler} needs OTEL_TRACES_SAMPLER_ARG, a ratio from 0 to 1 (got {argument:?}); \
                 every trace is sampled (ratio 1)"
            )),
        }
    } else if !NO_ARGUMENT.contains(&sampler.as_str()) {
        notes.push(format!(
            "OTEL_TRACES_SAMPLER={sampler:?} is not a sampler this SDK implements (always_on, always_off, \
             traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio; \
             exactly, no spaces); parentbased_always_on applies"
        ));
    }
}

/// `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`, else `OTEL_EXPORTER_OTLP_COMPRESSION`:
/// gzip or none; anything else (zstd included) stops the start, as it did
/// with opentelemetry-otlp.
fn compression(get: &impl Fn(&str) -> Option<String>) -> Result<bool, TelemetryError> {
    for variable in ["OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"] {
        if let Some(value) = get(variable) {
            return match value.as_str() {
                "gzip" => Ok(true),
                "none" => Ok(false),
                _ => Err(InvalidVariable::new(variable, value, "not a supported compression (gzip or none)").into()),
            };
        }
    }
    Ok(false)
}

/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT`, in
/// milliseconds; 0 is no limit (`None`), as the specification's common
/// configuration rules read a zero timeout. As with opentelemetry-otlp a
/// value that does not parse is passed over (the next one or the default
/// applies), but said once.
fn timeout(get: &impl Fn(&str) -> Option<String>, notes: &mut Vec<String>) -> Option<std::time::Duration> {
    for variable in ["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"] {
        if let Some(value) = get(variable) {
            match value.parse() {
                Ok(0) => return None,
                Ok(millis) => return Some(std::time::Duration::from_millis(millis)),
                Err(_) => notes.push(format!("{variable}={value:?} is not a whole number of milliseconds; ignored")),
            }
        }
    }
    Some(DEFAULT_TIMEOUT)
}

/// The spec's `name=value,name=value` list, values percent-decoded. The
/// exporter used to drop an entry it could not parse without a word, so every
/// export would later be refused for a missing key: a malformed list is a
/// start-up error instead. Values are never shown (they hold keys).
fn header_pairs(variable: &'static str, list: &str) -> Result<Vec<ExportHeader>, TelemetryError> {
    let mut pairs = Vec::new();
    for (position, entry) in list.split(',').enumerate().filter(|(_, entry)| !entry.trim().is_empty()) {
        let invalid = |reason: String| {
            InvalidVariable::new(variable, "…", format!("{reason} (the value is not shown: it may hold a key)"))
        };
        let Some((name, value)) = entry.split_once('=') else {
            return Err(invalid(format!("entry {} is not name=value", position + 1)).into());
        };
        let name = name.trim();
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(invalid(format!("entry {} has no valid header name", position + 1)).into());
        }
        let value = percent_decoded(value.trim());
        if reqwest::header::HeaderValue::from_str(&value).is_err() {
            return Err(invalid(format!("entry {} has a value that cannot be sent as a header", position + 1)).into());
        }
        pairs.push(ExportHeader { name: name.to_ascii_lowercase(), value });
    }
    Ok(pairs)
}

/// `%XX` escapes decoded; a value with a broken escape, or that does not
/// decode to UTF-8, is taken as written (as opentelemetry-otlp did).
fn percent_decoded(value: &str) -> String {
    strictly_percent_decoded(value).unwrap_or_else(|| value.to_owned())
}

/// `%XX` escapes decoded, or `None` for a broken escape or a result that is
/// not UTF-8.
fn strictly_percent_decoded(value: &str) -> Option<String> {
    if !value.contains('%') {
        return Some(value.to_owned());
    }
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            let hex = tail.get(..2).filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))?;
            bytes.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// `OTEL_PROPAGATORS`, with unsupported names noted and ignored.
fn propagators(get: &impl Fn(&str) -> Option<String>, notes: &mut Vec<String>) -> Vec<PropagatorKind> {
    match get("OTEL_PROPAGATORS") {
        // The spec's default (tracecontext, baggage) plus X-Ray, which this
        // stack speaks with AWS load balancers and the X-Ray SDKs.
        None => vec![PropagatorKind::TraceContext, PropagatorKind::Baggage, PropagatorKind::Xray],
        Some(list) => {
            let mut kinds = Vec::new();
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                match name {
                    "tracecontext" => kinds.push(PropagatorKind::TraceContext),
                    "baggage" => kinds.push(PropagatorKind::Baggage),
                    "xray" => kinds.push(PropagatorKind::Xray),
                    "none" => {}
                    other => notes.push(format!("OTEL_PROPAGATORS: {other:?} is not supported here; ignored")),
                }
            }
            kinds
        }
    }
}

/// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs, comma-separated, keys and
/// values percent-decoded (the resource SDK specification: `,` and `=` in
/// them MUST be percent-encoded). The SDK's own detector (0.33) takes them as
/// written, so `my%20env` reached Honeycomb as is. As the specification
/// asks, a list with an entry that is not `key=value` or does not decode is
/// discarded whole, and said.
fn resource_attributes(get: &impl Fn(&str) -> Option<String>, notes: &mut Vec<String>) -> Vec<(String, String)> {
    let Some(list) = get("OTEL_RESOURCE_ATTRIBUTES") else { return Vec::new() };
    let decoded: Option<Vec<(String, String)>> = list
        .split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let (key, value) = entry.split_once('=')?;
            let key = strictly_percent_decoded(key.trim())?;
            let value = strictly_percent_decoded(value.trim())?;
            (!key.is_empty()).then_some((key, value))
        })
        .collect();
    decoded.unwrap_or_else(|| {
        // The values are not shown: a resource may name internal hosts.
        notes.push(
            "OTEL_RESOURCE_ATTRIBUTES is not a list of key=value pairs with valid %XX escapes; it is ignored".into(),
        );
        Vec::new()
    })
}

/// An endpoint must be an http(s) URL with a host. Honeycomb's gRPC form
/// `api.honeycomb.io:443` parses as a URL whose "scheme" is the host, and the
/// exporter would silently send to localhost instead: refuse it at start.
fn checked_url(variable: &'static str, value: &str) -> Result<Url, TelemetryError> {
    let invalid = |reason: &str| InvalidVariable::new(variable, redacted_url(value), reason);
    let url = Url::parse(value).map_err(|err| invalid(&err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("not an http:// or https:// URL (OTLP/HTTP wants e.g. https://api.honeycomb.io)").into());
    }
    Ok(url)
}

/// An endpoint as it may be logged: the one rule errors use too.
pub(crate) fn loggable(url: &Url) -> String {
    redacted_url(url.as_str())
}

/// The signal path of the spec: the base endpoint plus `v1/traces`, keeping
/// any base path (`https://api.honeycomb.io/` → `https://api.honeycomb.io/v1/traces`).
fn with_traces_path(mut base: Url) -> Url {
    let path = format!("{}/v1/traces", base.path().trim_end_matches('/'));
    base.set_path(&path);
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<TelemetryConfig, TelemetryError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        TelemetryConfig::from_env("activities", &Env::from_pairs(pairs))
    }

    #[test]
    fn the_seed_journal_configuration_exports_to_honeycomb() {
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.honeycomb.io/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=abc123"),
            ("OTEL_SERVICE_NAME", "backend-flask"),
        ])
        .unwrap();
        let otlp = c.otlp.unwrap();
        assert_eq!(otlp.traces_endpoint.as_str(), "https://api.honeycomb.io/v1/traces");
        assert_eq!(otlp.header_names, ["x-honeycomb-team"]);
        assert_eq!(c.service_name, "backend-flask");
        assert!(!c.console);
        assert!(c.notes.is_empty(), "{:?}", c.notes);
        assert_eq!(c.propagators, [PropagatorKind::TraceContext, PropagatorKind::Baggage, PropagatorKind::Xray]);
    }

    #[test]
    fn batch_settings_are_the_sdks_variables_with_its_defaults() {
        let defaults = config(&[]).unwrap().span_queue;
        assert_eq!((defaults.max_spans, defaults.max_batch), (2048, 512));
        assert_eq!(defaults.delay, std::time::Duration::from_secs(5));
        let set = config(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "400"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ])
        .unwrap()
        .span_queue;
        // A batch larger than the queue could never fill: it is the queue's size.
        assert_eq!((set.max_spans, set.max_batch), (100, 100));
        assert_eq!(set.delay, std::time::Duration::from_millis(200));
        // Out of range: said, and the default applies (the specification's
        // common configuration rules), where our own variables stop the service.
        let passed_over = config(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "5s"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "-1"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0"),
        ])
        .unwrap();
        assert_eq!(passed_over.span_queue.max_spans, defaults.max_spans);
        assert_eq!(passed_over.span_queue.max_batch, defaults.max_batch);
        assert_eq!(passed_over.span_queue.delay, defaults.delay);
        let said: Vec<_> = passed_over.notes.iter().filter(|note| note.starts_with("OTEL_BSP_")).collect();
        assert_eq!(said.len(), 3, "{said:?}");
        assert!(said[0].contains("OTEL_BSP_MAX_QUEUE_SIZE=\"-1\""), "{said:?}");
        let too_large = config(&[("OTEL_BSP_MAX_QUEUE_SIZE", "2147483648")]).unwrap();
        assert_eq!(too_large.span_queue.max_spans, 2048);
        assert!(
            too_large.notes.iter().any(|note| note.starts_with("OTEL_BSP_MAX_QUEUE_SIZE")),
            "{:?}",
            too_large.notes
        );
        let err = config(&[("TELEMETRY_SPAN_QUEUE_BYTES", "lots")]).err().unwrap();
        assert!(err.to_string().contains("TELEMETRY_SPAN_QUEUE_BYTES"), "{err}");
    }

    #[test]
    fn endpoints_follow_the_spec() {
        let base = |v| config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", v)]).unwrap().otlp.unwrap().traces_endpoint.to_string();
        assert_eq!(base("https://collector.example"), "https://collector.example/v1/traces");
        assert_eq!(base("http://collector:4318/prefix/"), "http://collector:4318/prefix/v1/traces");
        let exact = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://ignored.example"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/custom"),
        ])
        .unwrap();
        assert_eq!(exact.otlp.unwrap().traces_endpoint.as_str(), "http://127.0.0.1:9/custom");
        let default = config(&[("OTEL_TRACES_EXPORTER", "otlp")]).unwrap();
        assert_eq!(default.otlp.unwrap().traces_endpoint.as_str(), DEFAULT_TRACES_ENDPOINT);
    }

    #[test]
    fn an_endpoint_without_a_scheme_is_a_start_up_error() {
        for value in ["api.honeycomb.io:443", "api.honeycomb.io", "ftp://x.example", "https://"] {
            let err = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", value)]).unwrap_err();
            assert!(err.to_string().contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{err}");
        }
        let err = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap_err();
        assert!(err.to_string().contains("grpc"));
    }

    #[test]
    fn honeycomb_without_a_key_means_export_off_said_once() {
        for headers in ["x-honeycomb-team=", "x-honeycomb-team= ", "other=1"] {
            let c = config(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.honeycomb.io"),
                ("OTEL_EXPORTER_OTLP_HEADERS", headers),
            ])
            .unwrap();
            assert!(c.otlp.is_none(), "{headers}");
            assert_eq!(c.notes.len(), 1);
        }
    }

    #[test]
    fn a_header_list_that_does_not_parse_is_a_start_up_error_that_hides_the_value() {
        for (variable, headers) in [
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team SECRETKEY"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-honeycomb-team=SECRETKEY,dataset"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "=SECRETKEY"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "bad name=SECRETKEY"),
        ] {
            let err = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.honeycomb.io"), (variable, headers)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(variable), "{err}");
            assert!(!err.contains("SECRETKEY"), "{err}");
        }
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.honeycomb.io"),
            ("OTEL_EXPORTER_OTLP_HEADERS", " x-honeycomb-team = k , x-honeycomb-dataset=d,"),
        ])
        .unwrap();
        assert_eq!(c.otlp.unwrap().header_names, ["x-honeycomb-team", "x-honeycomb-dataset"]);
    }

    #[test]
    fn headers_compression_and_timeout_as_opentelemetry_otlp_read_them() {
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "ignored=1"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-honeycomb-team=a%20b%2Cc, empty=, raw=100%"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ])
        .unwrap();
        let otlp = c.otlp.unwrap();
        // The traces list replaces the general one; empty values are not sent.
        let sent: Vec<(&str, &str)> = otlp.headers.iter().map(|h| (h.name.as_str(), h.value.as_str())).collect();
        assert_eq!(sent, [("x-honeycomb-team", "a b,c"), ("raw", "100%")]);
        assert_eq!(otlp.header_names, ["x-honeycomb-team", "empty", "raw"]);
        assert!(otlp.gzip);
        assert_eq!(otlp.timeout, Some(std::time::Duration::from_millis(2500)));
        assert_eq!(c.notes.len(), 1, "the timeout that does not parse is said: {:?}", c.notes);
        assert!(!format!("{:?}", otlp.headers).contains("a b"), "Debug hides the values");

        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]).unwrap();
        let otlp = c.otlp.unwrap();
        assert!(!otlp.gzip && otlp.headers.is_empty());
        assert_eq!(otlp.timeout, Some(DEFAULT_TIMEOUT));
        let c =
            config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_TIMEOUT", "0")]).unwrap();
        assert_eq!(c.otlp.unwrap().timeout, None, "0 is no limit");

        for value in ["zstd", "deflate"] {
            let err =
                config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_COMPRESSION", value)])
                    .unwrap_err();
            assert!(err.to_string().contains("OTEL_EXPORTER_OTLP_COMPRESSION"), "{err}");
        }
        let none =
            config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_COMPRESSION", "none")]);
        assert!(!none.unwrap().otlp.unwrap().gzip);
    }

    #[test]
    fn a_header_value_that_cannot_be_sent_is_a_start_up_error_that_hides_it() {
        // A line break; a character outside ASCII (the http crate refuses
        // those in a header value since 1.6, as RFC 9110 asks of senders).
        for headers in
            ["x-honeycomb-team=SECRET%0AKEY", "x-honeycomb-team=SECRET%C2%A1KEY", "x-honeycomb-team=SECRET¡KEY"]
        {
            let err =
                config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_HEADERS", headers)])
                    .unwrap_err()
                    .to_string();
            assert!(err.contains("OTEL_EXPORTER_OTLP_HEADERS") && !err.contains("SECRET"), "{err}");
        }
    }

    #[test]
    fn no_endpoint_means_export_off_said_once() {
        let c = config(&[]).unwrap();
        assert!(c.otlp.is_none());
        assert_eq!(c.notes.len(), 1);
        assert_eq!(c.service_name, "activities");
    }

    #[test]
    fn exporters_and_propagators_are_comma_lists() {
        let c = config(&[
            ("OTEL_TRACES_EXPORTER", "console, otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_PROPAGATORS", "xray,tracecontext,b3"),
        ])
        .unwrap();
        assert!(c.console && c.otlp.is_some());
        assert_eq!(c.propagators, [PropagatorKind::Xray, PropagatorKind::TraceContext]);
        assert_eq!(c.notes.len(), 1, "b3 is said to be ignored");
        let c = config(&[("OTEL_TRACES_EXPORTER", "none"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:1")]).unwrap();
        assert!(c.otlp.is_none() && !c.console && c.notes.is_empty());
    }

    #[test]
    fn service_name_precedence() {
        let c = config(&[("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=dev,service.name=from-attrs")]).unwrap();
        assert_eq!(c.service_name, "from-attrs");
        let c =
            config(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"), ("OTEL_SERVICE_NAME", "named")]).unwrap();
        assert_eq!(c.service_name, "named");
        assert!(config(&[("OTEL_SDK_DISABLED", "TRUE")]).unwrap().sdk_disabled);
    }

    #[test]
    fn attribute_limits_prefer_the_span_variables_to_the_general_ones() {
        let limits = |vars: &[(&str, &str)]| config(vars).unwrap().attribute_limits;
        assert_eq!(limits(&[]), AttributeLimits { count: 128, value_length: None });
        let general = [("OTEL_ATTRIBUTE_COUNT_LIMIT", "3"), ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "10")];
        assert_eq!(limits(&general), AttributeLimits { count: 3, value_length: Some(10) });
        let both = [
            general[0],
            general[1],
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "5"),
            ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "0"),
        ];
        assert_eq!(limits(&both), AttributeLimits { count: 5, value_length: Some(0) });
        let c = config(&[("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "many"), general[0]]).unwrap();
        assert_eq!(c.attribute_limits.count, 3, "the general one, after a note");
        assert!(c.notes.iter().any(|note| note.contains("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT")), "{:?}", c.notes);
    }

    #[test]
    fn resource_attributes_are_percent_decoded() {
        let c = config(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            " deployment.environment = my%20env ,service.name=users%2Dsvc,k%3Dey=a%2Cb%3Dc,",
        )])
        .unwrap();
        let expected = [("deployment.environment", "my env"), ("service.name", "users-svc"), ("k=ey", "a,b=c")];
        let attributes: Vec<(&str, &str)> =
            c.resource_attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(attributes, expected);
        assert_eq!(c.service_name, "users-svc");
    }

    #[test]
    fn a_resource_attribute_list_that_does_not_decode_is_discarded_whole_and_said() {
        for list in ["service.name=from-attrs,broken=%zz", "service.name=from-attrs,no-equals", "=value", "k=%C3"] {
            let c = config(&[("OTEL_RESOURCE_ATTRIBUTES", list)]).unwrap();
            assert!(c.resource_attributes.is_empty(), "{list}");
            assert_eq!(c.service_name, "activities", "{list}");
            assert!(c.notes.iter().any(|note| note.contains("OTEL_RESOURCE_ATTRIBUTES")), "{list}: {:?}", c.notes);
        }
    }

    #[test]
    fn logged_endpoints_show_no_credentials() {
        let url = Url::parse("https://user:token@collector.example/v1/traces?api_key=k#key=k").unwrap();
        assert_eq!(loggable(&url), "https://***@collector.example/v1/traces");
        let url = Url::parse("https://api.honeycomb.io/v1/traces").unwrap();
        assert_eq!(loggable(&url), "https://api.honeycomb.io/v1/traces");
    }

    #[test]
    fn a_sampler_the_sdk_cannot_use_is_said_once() {
        let notes = |pairs: &[(&str, &str)]| {
            let mut all = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")];
            all.extend_from_slice(pairs);
            config(&all).unwrap().notes.into_iter().filter(|n| n.contains("OTEL_TRACES_SAMPLER")).collect::<Vec<_>>()
        };
        for fine in [
            vec![],
            vec![("OTEL_TRACES_SAMPLER", "always_off")],
            vec![("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.1")],
        ] {
            assert_eq!(notes(&fine), Vec::<String>::new(), "{fine:?}");
        }
        let bogus = notes(&[("OTEL_TRACES_SAMPLER", "alwayson")]);
        assert!(bogus.len() == 1 && bogus[0].contains("\"alwayson\" is not a sampler"), "{bogus:?}");
        let missing = notes(&[("OTEL_TRACES_SAMPLER", "traceidratio")]);
        assert!(missing.len() == 1 && missing[0].contains("every trace is sampled"), "{missing:?}");
        let wrong = notes(&[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "ten")]);
        assert!(wrong.len() == 1 && wrong[0].contains("Some(\"ten\")"), "{wrong:?}");
        let over = notes(&[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "2")]);
        assert!(over.len() == 1 && over[0].contains("as if it were 1"), "{over:?}");
        // The SDK reads both untrimmed: " 0.1" does not parse there, "always_off " is unknown.
        let spaced = notes(&[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", " 0.1")]);
        assert!(spaced.len() == 1 && spaced[0].contains("every trace is sampled"), "{spaced:?}");
        let spaced = notes(&[("OTEL_TRACES_SAMPLER", "always_off ")]);
        assert!(spaced.len() == 1 && spaced[0].contains("\"always_off \" is not a sampler"), "{spaced:?}");
        let nan = notes(&[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "NaN")]);
        assert!(nan.len() == 1 && nan[0].contains("samples no trace"), "{nan:?}");
    }

    #[test]
    fn errors_never_show_credentials() {
        for endpoint in [
            "ftp://user:secret@host",
            "https://user:p@secret@collector:99999/",
            "user:secret@collector",
            "ftp://collector:4318/?api_key=secret",
        ] {
            let err = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)]).unwrap_err().to_string();
            assert!(err.starts_with("invalid OTEL_EXPORTER_OTLP_ENDPOINT=") && !err.contains("secret"), "{err}");
        }
    }
}
