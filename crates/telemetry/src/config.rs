//! What the standard `OTEL_*` variables ask for, resolved and checked once at
//! start. Reads through an `Env` so tests never touch the process environment.

use url::Url;

use environment::{Env, InvalidVariable};

use crate::error::TelemetryError;

/// The spec's default OTLP/HTTP traces endpoint, used when `otlp` is asked
/// for explicitly without an endpoint.
const DEFAULT_TRACES_ENDPOINT: &str = "http://localhost:4318/v1/traces";

#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`,
    /// else the service's own name.
    pub service_name: String,
    /// `OTEL_SDK_DISABLED=true`: no spans at all (logs stay).
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
}

#[derive(Debug, Clone, PartialEq)]
pub struct OtlpTarget {
    /// The full URL spans are POSTed to.
    pub traces_endpoint: Url,
    /// The names, never the values, of the configured export headers.
    pub header_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropagatorKind {
    TraceContext,
    Baggage,
    Xray,
}

impl TelemetryConfig {
    pub fn from_env(default_service: &str, env: &Env) -> Result<Self, TelemetryError> {
        let get = |name: &str| env.get(name);
        let mut notes = Vec::new();
        let shutdown_budget = match get("TELEMETRY_SHUTDOWN_TIMEOUT_MS") {
            None => std::time::Duration::from_millis(3000),
            Some(value) => value.parse().map(std::time::Duration::from_millis).map_err(|_| {
                InvalidVariable::new("TELEMETRY_SHUTDOWN_TIMEOUT_MS", value, "not a whole number of milliseconds")
            })?,
        };

        let service_name = get("OTEL_SERVICE_NAME")
            .or_else(|| get("OTEL_RESOURCE_ATTRIBUTES").and_then(|attrs| resource_attribute(&attrs, "service.name")))
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
            let header_names: Vec<String> = pairs.iter().map(|(name, _)| name.clone()).collect();
            let honeycomb = traces_endpoint.host_str().is_some_and(|h| h.ends_with("honeycomb.io"));
            let has_key = pairs.iter().any(|(name, set)| name == "x-honeycomb-team" && *set);
            if honeycomb && !has_key {
                // compose passes `x-honeycomb-team=${HONEYCOMB_API_KEY}`, empty when unset:
                // every export would be refused, so export is off and said once.
                notes.push("OTLP export off: Honeycomb needs x-honeycomb-team=<API key> in OTEL_EXPORTER_OTLP_HEADERS (HONEYCOMB_API_KEY is empty?)".into());
                return Ok(Self {
                    service_name,
                    sdk_disabled,
                    otlp: None,
                    console,
                    propagators: propagators(&get, &mut notes),
                    notes,
                    shutdown_budget,
                });
            }
            Some(OtlpTarget { traces_endpoint, header_names })
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
        Ok(Self { service_name, sdk_disabled, otlp, console, propagators, notes, shutdown_budget })
    }
}

/// The spec's `name=value,name=value` list: the names, and whether each value
/// is non-empty. The exporter drops an entry it cannot parse without a word,
/// so every export would later be refused for a missing key: a malformed list
/// is a start-up error instead. Values are never kept or shown (they hold keys).
fn header_pairs(variable: &'static str, list: &str) -> Result<Vec<(String, bool)>, TelemetryError> {
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
        pairs.push((name.to_ascii_lowercase(), !value.trim().is_empty()));
    }
    Ok(pairs)
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

/// `key=value` pairs, comma-separated (OTEL_RESOURCE_ATTRIBUTES).
fn resource_attribute(attributes: &str, key: &str) -> Option<String> {
    attributes
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_owned())
}

/// An endpoint must be an http(s) URL with a host. Honeycomb's gRPC form
/// `api.honeycomb.io:443` parses as a URL whose "scheme" is the host, and the
/// exporter would silently send to localhost instead: refuse it at start.
fn checked_url(variable: &'static str, value: &str) -> Result<Url, TelemetryError> {
    let invalid = |reason: &str| InvalidVariable::new(variable, redact_userinfo(value), reason);
    let url = Url::parse(value).map_err(|err| invalid(&err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("not an http:// or https:// URL (OTLP/HTTP wants e.g. https://api.honeycomb.io)").into());
    }
    Ok(url)
}

/// An endpoint as it may be logged: no credentials, no query (keys hide there too).
pub(crate) fn loggable(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.to_string()
}

fn redact_userinfo(value: &str) -> String {
    match value.split_once('@') {
        Some((before, after)) if before.contains("://") => {
            format!("{}://***@{after}", before.split("://").next().unwrap_or_default())
        }
        _ => value.to_owned(),
    }
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
    fn logged_endpoints_show_no_credentials() {
        let url = Url::parse("https://user:token@collector.example/v1/traces?api_key=k").unwrap();
        assert_eq!(loggable(&url), "https://collector.example/v1/traces");
    }

    #[test]
    fn errors_never_show_credentials() {
        let err = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://user:secret@host")]).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
