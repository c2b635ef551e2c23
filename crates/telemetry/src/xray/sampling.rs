//! X-Ray sampling by local rules: the `xray.json` rule (the input of
//! `aws xray create-sampling-rule`) or an SDK local rules file, applied once
//! at the root of a trace, as the X-Ray SDKs do without the daemon's
//! centralized rules. A matching rule takes up to `ReservoirSize` requests a
//! second, then `FixedRate` of the rest; with no match, X-Ray's default rule
//! (1 a second, then 5 %).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use opentelemetry::{
    Context, KeyValue,
    trace::{Link, SpanKind, TraceContextExt, TraceId, TraceState},
};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};
use serde::Deserialize;

use super::{SegmentNaming, wildcard_match};

/// The W3C `tracestate` entry that carries X-Ray's decision: `xray=1` or `xray=0`.
pub const TRACESTATE_KEY: &str = "xray";

/// X-Ray's decision recorded in a trace state, if any.
pub fn decision(trace_state: &TraceState) -> Option<bool> {
    match trace_state.get(TRACESTATE_KEY) {
        Some("1") => Some(true),
        Some("0") => Some(false),
        _ => None,
    }
}

/// `trace_state` with X-Ray's decision set (untouched, not copied, when it
/// already says so: the common case of a child span).
pub fn with_decision(trace_state: TraceState, sampled: bool) -> TraceState {
    if decision(&trace_state) == Some(sampled) {
        return trace_state;
    }
    match trace_state.insert(TRACESTATE_KEY, if sampled { "1" } else { "0" }) {
        Ok(updated) => updated,
        Err(_) => trace_state,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    /// Lower goes first; ties by name, as X-Ray orders them.
    pub priority: u32,
    pub fixed_rate: f64,
    /// Requests per second taken before `fixed_rate` applies.
    pub reservoir_size: u64,
    pub service_name: String,
    pub service_type: String,
    pub resource_arn: String,
    pub host: String,
    pub http_method: String,
    pub url_path: String,
    pub attributes: BTreeMap<String, String>,
}

impl Rule {
    /// X-Ray's built-in default: one request a second, then 5 %.
    fn default_rule(reservoir_size: u64, fixed_rate: f64) -> Self {
        Self::matching_all("Default".into(), 10000, reservoir_size, fixed_rate)
    }

    fn matching_all(name: String, priority: u32, reservoir_size: u64, fixed_rate: f64) -> Self {
        Self {
            name,
            priority,
            fixed_rate,
            reservoir_size,
            service_name: "*".into(),
            service_type: "*".into(),
            resource_arn: "*".into(),
            host: "*".into(),
            http_method: "*".into(),
            url_path: "*".into(),
            attributes: BTreeMap::new(),
        }
    }

    fn matches(&self, request: &Request<'_>) -> bool {
        // These services run on no AWS resource X-Ray knows a type or ARN
        // for, so only rules that accept any match.
        self.service_type == "*"
            && self.resource_arn == "*"
            && wildcard_match(&self.service_name, request.service)
            && wildcard_match(&self.host, request.host)
            && wildcard_match(&self.http_method, request.method)
            && wildcard_match(&self.url_path, request.path)
            && self.attributes.iter().all(|(key, pattern)| {
                request
                    .attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == key)
                    .is_some_and(|kv| wildcard_match(pattern, kv.value.as_str().as_ref()))
            })
    }
}

/// What a rule is matched against: the root span's request.
struct Request<'a> {
    service: &'a str,
    host: &'a str,
    method: &'a str,
    path: &'a str,
    attributes: &'a [KeyValue],
}

/// Rules in matching order, then the default.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingRules {
    rules: Vec<Rule>,
    default: Rule,
}

impl SamplingRules {
    /// Reads either form: `{"SamplingRule": {...}}` (what
    /// `aws xray create-sampling-rule --cli-input-json` takes, like xray.json)
    /// or an X-Ray SDK local rules file (`{"version": 2, "rules": [...], "default": {...}}`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))?;
        if let Some(rule) = value.get("SamplingRule") {
            let rule: CliRule = serde_json::from_value(rule.clone()).map_err(|err| format!("SamplingRule: {err}"))?;
            return Ok(Self { rules: vec![rule.checked()?], default: Rule::default_rule(1, 0.05) });
        }
        if value.get("version").is_some() {
            let file: LocalFile = serde_json::from_value(value).map_err(|err| format!("rules file: {err}"))?;
            return file.checked();
        }
        Err("expected {\"SamplingRule\": {...}} or a local rules file with \"version\"".into())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

/// The `SamplingRule` object of the X-Ray API.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CliRule {
    rule_name: String,
    #[serde(rename = "RuleARN")]
    _rule_arn: Option<String>,
    #[serde(rename = "ResourceARN")]
    resource_arn: String,
    priority: u32,
    fixed_rate: f64,
    reservoir_size: u64,
    service_name: String,
    service_type: String,
    host: String,
    #[serde(rename = "HTTPMethod")]
    http_method: String,
    #[serde(rename = "URLPath")]
    url_path: String,
    version: u32,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

impl CliRule {
    fn checked(self) -> Result<Rule, String> {
        if self.version != 1 {
            return Err(format!("SamplingRule.Version is {}; X-Ray knows only 1", self.version));
        }
        if !(1..=9999).contains(&self.priority) {
            return Err(format!("SamplingRule.Priority {} is not within 1..=9999", self.priority));
        }
        check_rate("SamplingRule.FixedRate", self.fixed_rate)?;
        Ok(Rule {
            name: self.rule_name,
            priority: self.priority,
            fixed_rate: self.fixed_rate,
            reservoir_size: self.reservoir_size,
            service_name: self.service_name,
            service_type: self.service_type,
            resource_arn: self.resource_arn,
            host: self.host,
            http_method: self.http_method,
            url_path: self.url_path,
            attributes: self.attributes,
        })
    }
}

/// The X-Ray SDKs' local sampling rules file (version 1 names the service,
/// version 2 the host).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalFile {
    version: u32,
    #[serde(default)]
    rules: Vec<LocalRule>,
    default: LocalTarget,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalRule {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    service_name: Option<String>,
    http_method: String,
    url_path: String,
    fixed_target: u64,
    rate: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalTarget {
    fixed_target: u64,
    rate: f64,
}

impl LocalFile {
    fn checked(self) -> Result<SamplingRules, String> {
        if !matches!(self.version, 1 | 2) {
            return Err(format!("version {} is not 1 or 2", self.version));
        }
        check_rate("default.rate", self.default.rate)?;
        let mut rules = Vec::with_capacity(self.rules.len());
        // In a local file the first matching rule wins: file order is priority.
        for (index, local) in self.rules.into_iter().enumerate() {
            check_rate(&format!("rules[{index}].rate"), local.rate)?;
            let name = local.description.unwrap_or_else(|| format!("rule {}", index + 1));
            let mut rule = Rule::matching_all(name, index as u32 + 1, local.fixed_target, local.rate);
            rule.host = local.host.unwrap_or_else(|| "*".into());
            rule.service_name = local.service_name.unwrap_or_else(|| "*".into());
            rule.http_method = local.http_method;
            rule.url_path = local.url_path;
            rules.push(rule);
        }
        Ok(SamplingRules { rules, default: Rule::default_rule(self.default.fixed_target, self.default.rate) })
    }
}

fn check_rate(field: &str, rate: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&rate) { Ok(()) } else { Err(format!("{field} {rate} is not within 0..=1")) }
}

/// Up to `size` requests in each wall-clock second.
#[derive(Debug)]
struct Reservoir {
    size: u64,
    /// (second, taken in that second). A mutex, not atomics: only trace roots
    /// come here, and one short critical section keeps the two in step.
    used: Mutex<(u64, u64)>,
}

impl Reservoir {
    fn new(size: u64) -> Self {
        Self { size, used: Mutex::new((0, 0)) }
    }

    fn take(&self, second: u64) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if used.0 != second {
            *used = (second, 0);
        }
        if used.1 < self.size {
            used.1 += 1;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Rules {
    /// Sorted by priority, then name; each with its own reservoir.
    ordered: Vec<(Rule, Reservoir)>,
    default: (Rule, Reservoir),
    naming: SegmentNaming,
}

impl Rules {
    fn new(rules: &SamplingRules, naming: SegmentNaming) -> Self {
        let mut ordered: Vec<Rule> = rules.rules.clone();
        ordered.sort_by(|a, b| a.priority.cmp(&b.priority).then_with(|| a.name.cmp(&b.name)));
        let with_reservoir = |rule: Rule| {
            let reservoir = Reservoir::new(rule.reservoir_size);
            (rule, reservoir)
        };
        Self {
            ordered: ordered.into_iter().map(with_reservoir).collect(),
            default: with_reservoir(rules.default.clone()),
            naming,
        }
    }

    /// `random` is uniform in [0, 1).
    fn decide(&self, request: &Request<'_>, second: u64, random: f64) -> bool {
        let (rule, reservoir) = self.ordered.iter().find(|(rule, _)| rule.matches(request)).unwrap_or(&self.default);
        reservoir.take(second) || random < rule.fixed_rate
    }
}

/// Wraps the OpenTelemetry sampler (`OTEL_TRACES_SAMPLER`) and adds X-Ray's
/// decision to every span's trace state: inherited from the parent when it
/// has one, decided by the rules otherwise. A span X-Ray wants but
/// OpenTelemetry drops is still recorded (not sampled): the X-Ray processor
/// gets it, the OTLP one does not.
#[derive(Debug, Clone)]
pub struct XraySampler {
    inner: Box<dyn ShouldSample>,
    rules: Arc<Rules>,
}

impl XraySampler {
    pub fn new(inner: Box<dyn ShouldSample>, rules: &SamplingRules, naming: SegmentNaming) -> Self {
        Self { inner, rules: Arc::new(Rules::new(rules, naming)) }
    }

    fn decide_at_root(&self, trace_id: TraceId, attributes: &[KeyValue]) -> bool {
        let text = |key: &str| {
            attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.as_str()).unwrap_or_default()
        };
        let host = text("server.address");
        let request = Request {
            service: self.rules.naming.name(Some(&host).filter(|h| !h.is_empty()).map(|h| h.as_ref())),
            host: &host,
            method: &text("http.request.method"),
            path: &text("url.path"),
            attributes,
        };
        let second = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        self.rules.decide(&request, second, unit_interval(trace_id))
    }
}

/// The trace id's random low 64 bits as a number in [0, 1): no RNG needed,
/// and a trace id always gets the same answer.
fn unit_interval(trace_id: TraceId) -> f64 {
    let bytes = trace_id.to_bytes();
    let low = u64::from_be_bytes(bytes[8..].try_into().expect("16-byte trace id"));
    (low >> 11) as f64 / (1u64 << 53) as f64
}

impl ShouldSample for XraySampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let mut result = self.inner.should_sample(parent_context, trace_id, name, span_kind, attributes, links);
        // A remote parent may carry no span id (a load balancer's Root-only
        // header): its trace state still holds the decision made upstream.
        let inherited = parent_context.and_then(|cx| decision(cx.span().span_context().trace_state()));
        let sampled = inherited.unwrap_or_else(|| self.decide_at_root(trace_id, attributes));
        result.trace_state = with_decision(std::mem::take(&mut result.trace_state), sampled);
        if sampled && result.decision == SamplingDecision::Drop {
            result.decision = SamplingDecision::RecordOnly;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags};
    use opentelemetry_sdk::trace::Sampler;

    use super::*;

    fn xray_json() -> SamplingRules {
        SamplingRules::parse(include_str!("../../../../xray.json")).unwrap()
    }

    fn naming() -> SegmentNaming {
        SegmentNaming { service: "activities".into(), host_pattern: None }
    }

    fn request<'a>(method: &'a str, path: &'a str) -> Request<'a> {
        Request { service: "activities", host: "127.0.0.1", method, path, attributes: &[] }
    }

    /// A fixed pseudo-random sequence (xorshift), so the counts are exact.
    fn draws(count: usize) -> impl Iterator<Item = f64> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..count).map(move |_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
    }

    #[test]
    fn the_reservoir_then_the_fixed_rate_per_second() {
        let rules = Rules::new(&xray_json(), naming());
        // 1,000 requests in one second: 5 from the reservoir, then ~10 %.
        let sampled = draws(1000).filter(|&r| rules.decide(&request("GET", "/"), 100, r)).count();
        assert!((5 + 80..=5 + 120).contains(&sampled), "{sampled}");
        // A new second refills the reservoir.
        let next: Vec<bool> = (0..5).map(|_| rules.decide(&request("GET", "/"), 101, 0.99)).collect();
        assert_eq!(next, [true; 5]);
        assert!(!rules.decide(&request("GET", "/"), 101, 0.99));
        assert!(rules.decide(&request("GET", "/"), 101, 0.05));
    }

    #[test]
    fn rules_match_by_priority_and_fall_back_to_the_default() {
        let text = r#"{"version": 2, "default": {"fixed_target": 1, "rate": 0.05}, "rules": [
            {"description": "health", "host": "*", "http_method": "GET", "url_path": "/api/health-check", "fixed_target": 0, "rate": 0},
            {"description": "api", "host": "127.0.0.?", "http_method": "*", "url_path": "/api/*", "fixed_target": 0, "rate": 1}
        ]}"#;
        let rules = Rules::new(&SamplingRules::parse(text).unwrap(), naming());
        assert!(!rules.decide(&request("GET", "/api/health-check"), 1, 0.0), "the first rule wins");
        assert!(rules.decide(&request("POST", "/api/activities"), 1, 0.99));
        let other_host = Request { host: "example.com", ..request("GET", "/api/activities") };
        assert!(rules.decide(&other_host, 1, 0.99), "the default's reservoir");
        assert!(!rules.decide(&other_host, 1, 0.99), "then 5 %");
        assert!(rules.decide(&other_host, 1, 0.01));
    }

    #[test]
    fn the_cli_form_is_checked() {
        let rules = xray_json();
        assert_eq!(rules.default.reservoir_size, 1);
        assert_eq!(rules.default.fixed_rate, 0.05);
        let rule = &rules.rules()[0];
        assert_eq!((rule.priority, rule.url_path.as_str()), (9000, "*"));
        for (bad, complaint) in [
            (r#"{"SamplingRule": {"RuleName": "x"}}"#, "missing field"),
            (r#"{"rules": []}"#, "expected"),
            ("nope", "not JSON"),
            (r#"{"version": 3, "default": {"fixed_target": 1, "rate": 0.05}}"#, "version 3"),
            (r#"{"version": 2, "default": {"fixed_target": 1, "rate": 5}}"#, "default.rate"),
        ] {
            let err = SamplingRules::parse(bad).unwrap_err();
            assert!(err.contains(complaint), "{bad}: {err}");
        }
        let typo = include_str!("../../../../xray.json").replace("FixedRate", "FixRate");
        assert!(SamplingRules::parse(&typo).unwrap_err().contains("FixRate"));
    }

    #[test]
    fn a_rule_for_another_resource_type_never_matches() {
        let mut rules = xray_json();
        rules.rules[0].service_type = "AWS::EC2::Instance".into();
        rules.rules[0].fixed_rate = 1.0;
        let rules = Rules::new(&rules, naming());
        rules.decide(&request("GET", "/"), 7, 0.0);
        assert!(!rules.decide(&request("GET", "/"), 7, 0.5), "the default rule (5 %) applied");
    }

    fn parent(trace_state: TraceState, sampled: bool) -> Context {
        let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
        let id = TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap();
        let span = SpanContext::new(id, SpanId::from_hex("53995c3f42cd8ad8").unwrap(), flags, true, trace_state);
        Context::new().with_remote_span_context(span)
    }

    #[test]
    fn the_decision_is_inherited_and_recorded_in_the_trace_state() {
        let never = SamplingRules::parse(r#"{"version": 2, "default": {"fixed_target": 0, "rate": 0}}"#).unwrap();
        let sampler = XraySampler::new(Box::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))), &never, naming());
        let id = TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap();
        let sample = |cx: Option<&Context>| sampler.should_sample(cx, id, "span", &SpanKind::Server, &[], &[]);

        let root = sample(None);
        assert_eq!(root.decision, SamplingDecision::RecordAndSample, "OpenTelemetry still samples");
        assert_eq!(root.trace_state.get(TRACESTATE_KEY), Some("0"), "X-Ray does not");

        let upstream = TraceState::from_key_value([("xray", "1"), ("vendor", "v")]).unwrap();
        let child = sample(Some(&parent(upstream, true)));
        assert_eq!(child.trace_state.header(), "xray=1,vendor=v", "inherited, other entries kept");

        // OpenTelemetry's parent said no, X-Ray's yes: recorded for X-Ray only.
        let upstream = TraceState::from_key_value([("xray", "1")]).unwrap();
        let child = sample(Some(&parent(upstream, false)));
        assert_eq!(child.decision, SamplingDecision::RecordOnly);

        // A caller outside this stack (no entry): decided here, by the rules.
        let child = sample(Some(&parent(TraceState::default(), true)));
        assert_eq!(child.trace_state.get(TRACESTATE_KEY), Some("0"));
    }

    #[test]
    fn the_random_part_of_the_trace_id_drives_the_fixed_rate() {
        assert_eq!(unit_interval(TraceId::from_hex("5759e98800000000ffffffffffffffff").unwrap()), 1.0 - 2f64.powi(-53));
        assert_eq!(unit_interval(TraceId::from_hex("5759e988ffffffff0000000000000000").unwrap()), 0.0);
    }
}
