//! AWS X-Ray from the same spans that go to OTLP: the `X-Amzn-Trace-Id`
//! propagator, the sampler that applies the `xray.json` rules once at the root
//! of a trace, and the exporter that sends segment documents to the X-Ray
//! daemon over UDP.
//!
//! Replaced upstream later: `opentelemetry-aws` 0.21 ships an X-Ray exporter,
//! but it needs OpenTelemetry 0.33, and tracing-actix-web and reqwest-tracing
//! are on 0.32. Once they move, `daemon`, `document` and `translation` give
//! way to `opentelemetry_aws::trace::XrayExporter` (keep the sampler and propagator:
//! upstream has no local-rules sampler and ties X-Ray's `Sampled` to the
//! OpenTelemetry sampling flag).
//!
//! Two decisions ride on every trace. The W3C `sampled` flag is
//! OpenTelemetry's (`OTEL_TRACES_SAMPLER`; by default every trace goes to
//! Honeycomb). X-Ray's is made by the rules at the first service that sees the
//! trace and travels as the `xray` entry of W3C `tracestate` and as `Sampled`
//! in `X-Amzn-Trace-Id`, so every service of a trace agrees and X-Ray traces
//! are whole.

mod daemon;
mod decision;
mod document;
mod propagator;
mod rules;
mod sampler;
mod translation;

use crate::TelemetryError;

pub use daemon::DaemonExporter;
pub use decision::sampled_for_xray;
pub use propagator::XrayPropagator;
pub use rules::SamplingRules;
pub use sampler::XraySampler;
pub use translation::Documents;

/// The sampling rule at the repository root, built into every binary so a
/// container needs no file; `AWS_XRAY_SAMPLING_RULES` names another.
const DEFAULT_RULES: &str = include_str!("../../../../xray.json");

/// The `AWS_XRAY_*` variables, read once at start.
#[derive(Debug, Clone)]
pub struct XrayConfig {
    /// `AWS_XRAY_DAEMON_ADDRESS`'s UDP address (`host:port`); none: no segments.
    pub daemon: Option<String>,
    pub naming: SegmentNaming,
    pub rules: SamplingRules,
}

/// What a segment is called: the service's name, or with `AWS_XRAY_URL` the
/// request's host when it matches that pattern (the X-Ray SDKs' dynamic naming).
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentNaming {
    pub service: String,
    pub host_pattern: Option<String>,
}

impl SegmentNaming {
    pub fn name<'a>(&'a self, host: Option<&'a str>) -> &'a str {
        match (&self.host_pattern, host) {
            (Some(pattern), Some(host)) if wildcard_match(pattern, host) => host,
            _ => &self.service,
        }
    }
}

impl XrayConfig {
    pub fn from_env(service_name: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, TelemetryError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let daemon = get("AWS_XRAY_DAEMON_ADDRESS").map(|value| udp_address(&value)).transpose()?;
        let rules = match get("AWS_XRAY_SAMPLING_RULES") {
            None => SamplingRules::parse(DEFAULT_RULES).expect("xray.json at the repository root is valid"),
            Some(path) => {
                let invalid = |reason: String| TelemetryError::InvalidVariable {
                    variable: "AWS_XRAY_SAMPLING_RULES",
                    value: path.clone(),
                    reason,
                };
                let text = std::fs::read_to_string(&path).map_err(|err| invalid(err.to_string()))?;
                SamplingRules::parse(&text).map_err(invalid)?
            }
        };
        let naming = SegmentNaming { service: service_name.to_owned(), host_pattern: get("AWS_XRAY_URL") };
        Ok(Self { daemon, naming, rules })
    }
}

/// `host:port`, or the SDKs' two-address form `tcp:host:port udp:host:port`
/// (segments use the UDP one).
fn udp_address(value: &str) -> Result<String, TelemetryError> {
    let invalid = |reason: &str| TelemetryError::InvalidVariable {
        variable: "AWS_XRAY_DAEMON_ADDRESS",
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let address = if value.contains(' ') {
        value
            .split_whitespace()
            .find_map(|part| part.strip_prefix("udp:"))
            .ok_or_else(|| invalid("the two-address form needs udp:host:port"))?
    } else {
        value
    };
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => Ok(address.to_owned()),
        _ => Err(invalid("expected host:port, e.g. xray-daemon:2000")),
    }
}

/// X-Ray's matching: `*` is any run of characters, `?` exactly one, and case
/// does not matter (as in the SDKs' `wildcard_match`).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let pattern: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    // Greedy matching with backtracking to the last `*`: linear in practice,
    // no recursion.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_in_the_sdks() {
        for (pattern, text) in [
            ("*", ""),
            ("*", "anything"),
            ("/api/*", "/api/activities/home"),
            ("GET", "get"),
            ("?ET", "GET"),
            ("*4567-abc.ws.gitpod.io*", "4567-abc.ws.gitpod.io"),
            ("*4567-abc.ws.gitpod.io*", "https://4567-abc.ws.gitpod.io/x"),
            ("a*b*c", "aXbYbZc"),
            ("", ""),
        ] {
            assert!(wildcard_match(pattern, text), "{pattern:?} should match {text:?}");
        }
        for (pattern, text) in [("/api/*", "/health"), ("?ET", "GETS"), ("a*b", "ac"), ("", "x"), ("abc", "ab")] {
            assert!(!wildcard_match(pattern, text), "{pattern:?} should not match {text:?}");
        }
    }

    #[test]
    fn the_daemon_address_takes_both_forms() {
        assert_eq!(udp_address("xray-daemon:2000").unwrap(), "xray-daemon:2000");
        assert_eq!(udp_address("tcp:127.0.0.1:2000 udp:127.0.0.2:2001").unwrap(), "127.0.0.2:2001");
        for bad in ["xray-daemon", ":2000", "host:0", "host:port", "tcp:127.0.0.1:2000 other"] {
            assert!(udp_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dynamic_naming_uses_the_host_only_when_it_matches() {
        let naming =
            SegmentNaming { service: "activities".into(), host_pattern: Some("*4567-abc.ws.gitpod.io*".into()) };
        assert_eq!(naming.name(Some("4567-abc.ws.gitpod.io")), "4567-abc.ws.gitpod.io");
        assert_eq!(naming.name(Some("127.0.0.1")), "activities");
        assert_eq!(naming.name(None), "activities");
        let fixed = SegmentNaming { service: "users".into(), host_pattern: None };
        assert_eq!(fixed.name(Some("4567-abc.ws.gitpod.io")), "users");
    }

    #[test]
    fn the_built_in_rules_are_the_repositorys_xray_json() {
        let config = XrayConfig::from_env("activities", |_| None).unwrap();
        assert!(config.daemon.is_none());
        let rule = &config.rules.rules()[0];
        assert_eq!((rule.name.as_str(), rule.fixed_rate, rule.reservoir_size), ("Cruddur", 0.1, 5));
    }
}
