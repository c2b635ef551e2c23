//! X-Ray sampling by local rules (see `rules`), applied once at the root of
//! a trace, as the X-Ray SDKs do without the daemon's centralized rules. A
//! matching rule takes up to `ReservoirSize` requests a second, then
//! `FixedRate` of the rest; with no match, X-Ray's default rule (1 a second,
//! then 5 %).

use std::{
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use opentelemetry::{
    Context, KeyValue,
    trace::{Link, SpanKind, TraceContextExt, TraceId},
};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};
use opentelemetry_semantic_conventions::attribute as attr;

use super::{
    decision::{decision, with_decision},
    naming::SegmentNaming,
    rules::{Request, Rule, SamplingRules},
};

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
        let host = text(attr::SERVER_ADDRESS);
        let request = Request {
            service: self.rules.naming.name(Some(&host).filter(|h| !h.is_empty()).map(|h| h.as_ref())),
            host: &host,
            method: &text(attr::HTTP_REQUEST_METHOD),
            path: &text(attr::URL_PATH),
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
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};
    use opentelemetry_sdk::trace::Sampler;

    use super::*;
    use crate::xray::decision::TRACESTATE_KEY;

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
