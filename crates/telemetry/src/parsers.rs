//! The hand-written parsers of what comes from outside: the trace headers a
//! client sends (`X-Amzn-Trace-Id`, and the `xray` entry of `tracestate`),
//! X-Ray sampling rules files, and the `OTEL_*`, `CLOUDWATCH_*` and
//! `AWS_XRAY_*` variables. Not part of the crate's API: this module exists
//! for the fuzz targets (`fuzz/`, which build with the `fuzzing` feature) and
//! the property tests below, and only re-exports what the services run,
//! with no logic of its own. The parsers are private to their modules; this
//! is the smallest opening that lets code outside the crate call them.

use opentelemetry::propagation::TextMapCompositePropagator;

use environment::Env;

pub use crate::{
    config::{ExportHeader, OtlpTarget, TelemetryConfig},
    error::TelemetryError,
    xray::{
        RulesError, SamplingRules, XrayPropagator, decision as xray_decision, wildcard_match,
        with_decision as with_xray_decision,
    },
};

/// The propagators a service installs when `OTEL_PROPAGATORS` is unset
/// (W3C trace context, baggage, X-Ray), in the order it runs them.
pub fn default_propagator() -> TextMapCompositePropagator {
    let config = TelemetryConfig::from_env("parsers", &Env::from_fn(|_| None)).expect("the defaults are valid");
    crate::propagation::composite(&config.propagators)
}

/// Reads every telemetry variable from `env` as a service does at start
/// (`AWS_XRAY_SAMPLING_RULES` included: it names a file that is read).
pub fn configuration(env: &Env) -> Result<TelemetryConfig, TelemetryError> {
    let config = TelemetryConfig::from_env("parsers", env)?;
    crate::cloudwatch::CloudWatchConfig::from_env(env)?;
    crate::xray::XrayConfig::from_env(&config.service_name, env)?;
    Ok(config)
}

#[cfg(test)]
mod properties {
    use std::collections::HashMap;

    use opentelemetry::{
        Context,
        propagation::TextMapPropagator,
        trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
    };
    use proptest::prelude::*;

    use super::*;

    fn extract(propagator: &dyn TextMapPropagator, headers: &HashMap<String, String>) -> SpanContext {
        propagator.extract(headers).span().span_context().clone()
    }

    fn inject(propagator: &dyn TextMapPropagator, context: &SpanContext) -> HashMap<String, String> {
        let mut headers = HashMap::new();
        propagator.inject_context(&Context::new().with_remote_span_context(context.clone()), &mut headers);
        headers
    }

    /// What a propagated context is, for comparing two of them.
    fn essence(context: &SpanContext) -> (TraceId, SpanId, Option<bool>) {
        (context.trace_id(), context.span_id(), xray_decision(context.trace_state()))
    }

    fn hex(digits: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[0-9a-f]{{{digits}}}")).unwrap()
    }

    /// `digits` hex digits, or nearly: one of them a sign or a space, one
    /// digit too few or too many.
    fn nearly_hex(digits: usize) -> impl Strategy<Value = String> {
        prop_oneof![
            3 => hex(digits),
            1 => (hex(digits), 0..digits, "[+ -]").prop_map(|(text, at, sign)| {
                let mut text = text.into_bytes();
                text[at] = sign.as_bytes()[0];
                String::from_utf8(text).unwrap()
            }),
            1 => hex(digits - 1),
            1 => hex(digits + 1),
        ]
    }

    fn is_hex(text: &str, digits: usize) -> bool {
        text.len() == digits && text.bytes().all(|byte| byte.is_ascii_hexdigit())
    }

    /// Fragments of `X-Amzn-Trace-Id`, well-formed and not, to put together.
    fn xray_part() -> impl Strategy<Value = String> {
        prop_oneof![
            (hex(8), hex(24)).prop_map(|(epoch, random)| format!("Root=1-{epoch}-{random}")),
            hex(16).prop_map(|parent| format!("Parent={parent}")),
            "Sampled=[01?x]?",
            "(Self|Lineage|Root|Parent)=[ -~]{0,40}",
            "[ -~]{0,20}",
        ]
    }

    /// A W3C `tracestate` of valid entries (simple keys), with or without `xray`.
    fn trace_state() -> impl Strategy<Value = TraceState> {
        proptest::collection::vec(("[a-z][a-z0-9_*/-]{0,10}", "[!-+--<>-~]{1,12}"), 0..8).prop_map(|entries| {
            let entries: Vec<(String, String)> = entries.into_iter().filter(|(key, _)| key != "xray").collect();
            let mut seen = std::collections::HashSet::new();
            let unique: Vec<(String, String)> =
                entries.into_iter().filter(|(key, _)| seen.insert(key.clone())).collect();
            TraceState::from_key_value(unique).expect("valid entries")
        })
    }

    fn span_context() -> impl Strategy<Value = (SpanContext, bool)> {
        (1u128.., 1u64.., any::<bool>(), any::<bool>(), trace_state()).prop_map(
            |(trace, span, sampled_for_xray, otel_sampled, state)| {
                let flags = if otel_sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
                let state = with_xray_decision(state, sampled_for_xray);
                let context = SpanContext::new(
                    TraceId::from_bytes(trace.to_be_bytes()),
                    SpanId::from_bytes(span.to_be_bytes()),
                    flags,
                    true,
                    state,
                );
                (context, sampled_for_xray)
            },
        )
    }

    /// X-Ray's wildcards by the book: a table over pattern and text prefixes.
    fn wildcard_reference(pattern: &str, text: &str) -> bool {
        let pattern: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
        let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
        let mut table = vec![vec![false; text.len() + 1]; pattern.len() + 1];
        table[0][0] = true;
        for p in 1..=pattern.len() {
            for t in 0..=text.len() {
                table[p][t] = match pattern[p - 1] {
                    '*' => table[p - 1][t] || (t > 0 && table[p][t - 1]),
                    '?' => t > 0 && table[p - 1][t - 1],
                    c => t > 0 && text[t - 1] == c && table[p - 1][t - 1],
                };
            }
        }
        table[pattern.len()][text.len()]
    }

    fn config(pairs: &[(&str, &str)]) -> Result<TelemetryConfig, TelemetryError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        configuration(&Env::from_pairs(pairs))
    }

    proptest! {
        /// The header the X-Ray propagator writes reads back as the same
        /// trace, parent and X-Ray decision.
        #[test]
        fn x_amzn_trace_id_encode_then_parse_is_identity((context, sampled) in span_context()) {
            let headers = inject(&XrayPropagator, &context);
            let header = &headers["x-amzn-trace-id"];
            prop_assert!(header.starts_with("Root=1-") && header.len() == "Root=1-".len() + 33 + ";Parent=".len() + 16 + ";Sampled=1".len(), "{}", header);
            let back = extract(&XrayPropagator, &headers);
            prop_assert_eq!(essence(&back), (context.trace_id(), context.span_id(), Some(sampled)));
        }

        /// Any `X-Amzn-Trace-Id` is read without a panic; what is continued
        /// is written out and read back unchanged.
        #[test]
        fn x_amzn_trace_id_parses_anything(parts in proptest::collection::vec(xray_part(), 0..6), separator in "[;; ]{1,2}") {
            let header = parts.join(&separator);
            let headers = HashMap::from([("x-amzn-trace-id".to_owned(), header.clone())]);
            let context = extract(&XrayPropagator, &headers);
            if context.trace_id() != TraceId::INVALID && context.span_id() != SpanId::INVALID {
                let again = extract(&XrayPropagator, &inject(&XrayPropagator, &context));
                prop_assert_eq!(essence(&again).0, context.trace_id(), "{}", header);
                prop_assert_eq!(essence(&again).1, context.span_id(), "{}", header);
            }
        }

        /// A header is continued exactly when its ids are hex digits of the
        /// right lengths, and then as those digits say (a leading `+` was once
        /// taken for a digit, `+759e988` read as `0759e988`).
        #[test]
        fn x_amzn_trace_id_continues_only_exact_hex_ids(epoch in nearly_hex(8), random in nearly_hex(24), parent in nearly_hex(16)) {
            let header = format!("Root=1-{epoch}-{random};Parent={parent};Sampled=1");
            let headers = HashMap::from([("x-amzn-trace-id".to_owned(), header.clone())]);
            let context = extract(&XrayPropagator, &headers);
            let zero = |text: &str| text.bytes().all(|byte| byte == b'0');
            let exact = is_hex(&epoch, 8) && is_hex(&random, 24) && is_hex(&parent, 16)
                && !(zero(&epoch) && zero(&random)) && !zero(&parent);
            prop_assert_eq!(context.is_valid(), exact, "{}", header);
            if exact {
                prop_assert_eq!(context.trace_id().to_string(), format!("{epoch}{random}"));
                prop_assert_eq!(context.span_id().to_string(), parent);
            }
        }

        /// The `xray` entry set on any trace state is the one read back, the
        /// other entries untouched; and it survives the W3C header round trip.
        #[test]
        fn the_tracestate_entry_encode_then_parse_is_identity((context, sampled) in span_context()) {
            prop_assert_eq!(xray_decision(context.trace_state()), Some(sampled));
            let flipped = with_xray_decision(context.trace_state().clone(), !sampled);
            prop_assert_eq!(xray_decision(&flipped), Some(!sampled));
            prop_assert_eq!(flipped.delete("xray").unwrap().header(), context.trace_state().clone().delete("xray").unwrap().header());

            let propagator = default_propagator();
            let headers = inject(&propagator, &context);
            let back = extract(&propagator, &headers);
            prop_assert_eq!(essence(&back), essence(&context));
            prop_assert_eq!(back.trace_state().header(), context.trace_state().header());
        }

        /// All four trace headers at once, anything in them: no panic, and a
        /// context that is continued propagates unchanged.
        #[test]
        fn the_four_trace_headers_parse_anything(
            traceparent in prop_oneof![(hex(32), hex(16), "0[01]").prop_map(|(t, s, f)| format!("00-{t}-{s}-{f}")), "[ -~]{0,60}"],
            tracestate in "[ -~]{0,80}",
            baggage in "[ -~]{0,80}",
            xray in proptest::collection::vec(xray_part(), 0..4).prop_map(|parts| parts.join(";")),
        ) {
            let headers = HashMap::from([
                ("traceparent".to_owned(), traceparent),
                ("tracestate".to_owned(), tracestate),
                ("baggage".to_owned(), baggage),
                ("x-amzn-trace-id".to_owned(), xray),
            ]);
            let propagator = default_propagator();
            let context = extract(&propagator, &headers);
            if context.is_valid() {
                let again = extract(&propagator, &inject(&propagator, &context));
                prop_assert_eq!((again.trace_id(), again.span_id()), (context.trace_id(), context.span_id()));
                // Undecided inbound, X-Ray's header then carries the W3C flag;
                // a decision once made is kept.
                if let Some(decided) = xray_decision(context.trace_state()) {
                    prop_assert_eq!(xray_decision(again.trace_state()), Some(decided));
                }
            }
        }

        /// Rules files: anything is read without a panic, and what is refused
        /// is refused with a typed reason.
        #[test]
        fn rules_files_parse_anything(text in "[ -~]{0,200}") {
            let _ = SamplingRules::parse(&text);
        }

        #[test]
        fn a_local_rules_file_is_refused_exactly_for_its_out_of_range_values(
            version in 0u32..4,
            default_rate in -1.0f64..2.0,
            rates in proptest::collection::vec(-1.0f64..2.0, 0..4),
        ) {
            let rules: Vec<String> = rates
                .iter()
                .map(|rate| format!(r#"{{"host": "*", "http_method": "GET", "url_path": "/api/*", "fixed_target": 1, "rate": {rate}}}"#))
                .collect();
            let text = format!(r#"{{"version": {version}, "rules": [{}], "default": {{"fixed_target": 1, "rate": {default_rate}}}}}"#, rules.join(","));
            let in_range = |rate: f64| (0.0..=1.0).contains(&rate);
            match SamplingRules::parse(&text) {
                Ok(parsed) => {
                    prop_assert!(matches!(version, 1 | 2) && in_range(default_rate) && rates.iter().all(|&r| in_range(r)));
                    prop_assert_eq!(parsed.rules().len(), rates.len());
                }
                Err(RulesError::FileVersion(v)) => prop_assert!(v == version && !matches!(version, 1 | 2)),
                Err(RulesError::Rate { field, rate }) => {
                    prop_assert!(!in_range(rate), "{} {}", field, rate);
                    prop_assert!(field == "default.rate" || field.starts_with("rules["), "{}", field);
                }
                Err(other) => prop_assert!(false, "{other}"),
            }
        }

        #[test]
        fn a_sampling_rule_is_refused_for_its_priority_version_and_rate(priority in 0u32..12000, version in 0u32..3, rate in -1.0f64..2.0) {
            let text = format!(
                r#"{{"SamplingRule": {{"RuleName": "r", "ResourceARN": "*", "Priority": {priority}, "FixedRate": {rate}, "ReservoirSize": 5, "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": {version}}}}}"#
            );
            match SamplingRules::parse(&text) {
                Ok(_) => prop_assert!(version == 1 && (1..=9999).contains(&priority) && (0.0..=1.0).contains(&rate)),
                Err(RulesError::RuleVersion(v)) => prop_assert_ne!(v, 1),
                Err(RulesError::Priority(p)) => prop_assert!(!(1..=9999).contains(&p)),
                Err(RulesError::Rate { rate: r, .. }) => prop_assert!(!(0.0..=1.0).contains(&r)),
                Err(other) => prop_assert!(false, "{other}"),
            }
        }

        /// The rules' wildcards agree with the textbook matcher.
        #[test]
        fn wildcards_match_as_the_reference_does(pattern in "[ab?*]{0,8}", text in "[abAB]{0,10}") {
            prop_assert_eq!(wildcard_match(&pattern, &text), wildcard_reference(&pattern, &text), "{:?} {:?}", pattern, text);
        }

        /// A value %-encoded in `OTEL_EXPORTER_OTLP_HEADERS` is sent exactly
        /// as it was before encoding (any a header can carry: tab and visible
        /// ASCII; config.rs's tests refuse the rest).
        #[test]
        fn otlp_header_values_encode_then_parse_is_identity(name in "[A-Za-z][A-Za-z0-9-]{0,15}", value in "[\\t\\x20-\\x7e]{1,40}") {
            let encoded: String = value.bytes().map(|byte| format!("%{byte:02X}")).collect();
            let headers = format!("{name}={encoded}");
            let parsed = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"), ("OTEL_EXPORTER_OTLP_HEADERS", &headers)]).unwrap();
            let otlp = parsed.otlp.unwrap();
            let sent: Vec<(String, String)> = otlp.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect();
            prop_assert_eq!(sent, vec![(name.to_ascii_lowercase(), value)]);
        }

        /// Any header list either parses or stops the start naming the
        /// variable, never showing the value.
        #[test]
        fn otlp_header_lists_parse_anything_and_never_show_the_value(list in "[ -~]{0,60}") {
            let list = format!("{list}SECRETKEY");
            match config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"), ("OTEL_EXPORTER_OTLP_HEADERS", &list)]) {
                Ok(parsed) => {
                    let shown = format!("{:?}", parsed);
                    prop_assert!(!shown.contains("SECRETKEY"), "{}", shown);
                }
                Err(err) => {
                    let shown = err.to_string();
                    prop_assert!(shown.contains("OTEL_EXPORTER_OTLP_HEADERS") && !shown.contains("SECRETKEY"), "{}", shown);
                }
            }
        }

        /// Every telemetry variable with any value: a configuration or a
        /// start-up error naming a variable, never a panic.
        #[test]
        fn the_telemetry_variables_parse_anything(values in proptest::collection::vec("[ -~]{0,30}", VARIABLES.len())) {
            let pairs: Vec<(&str, &str)> = VARIABLES.iter().copied().zip(values.iter().map(String::as_str)).collect();
            if let Err(err) = config(&pairs) {
                let shown = err.to_string();
                prop_assert!(VARIABLES.iter().any(|v| shown.contains(v)) || matches!(err, TelemetryError::UnsupportedProtocol(_)), "{}", shown);
            }
        }
    }

    /// What `configuration` reads, but the rules file's path (a file is read).
    const VARIABLES: &[&str] = &[
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_PROPAGATORS",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "TELEMETRY_SHUTDOWN_TIMEOUT_MS",
        "CLOUDWATCH_LOG_GROUP",
        "CLOUDWATCH_LOG_LEVEL",
        "CLOUDWATCH_RETENTION_DAYS",
        "CLOUDWATCH_FLUSH_INTERVAL_MS",
        "CLOUDWATCH_BUFFER_EVENTS",
        "CLOUDWATCH_BUFFER_BYTES",
        "AWS_XRAY_DAEMON_ADDRESS",
        "AWS_XRAY_URL",
    ];
}
