//! X-Ray sampling rules files (either form), then the rules' wildcards: a
//! file is read or refused with a typed reason, never a panic, and what is
//! read holds only rates X-Ray accepts. The input's first line is also
//! matched as a pattern against the rest, as a rule's `URLPath` is.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetry::parsers::{SamplingRules, wildcard_match};

fuzz_target!(|input: &str| {
    match SamplingRules::parse(input) {
        Ok(rules) => {
            for rule in rules.rules() {
                assert!((0.0..=1.0).contains(&rule.fixed_rate), "{rule:?}");
                // Every pattern matches itself with its wildcards filled in.
                let filled = rule.url_path.replace('*', "").replace('?', "x");
                assert!(wildcard_match(&rule.url_path, &filled), "{rule:?}");
            }
        }
        Err(reason) => assert!(!reason.to_string().is_empty()),
    }
    let (pattern, text) = input.split_once('\n').unwrap_or((input, ""));
    let _ = wildcard_match(pattern, text);
});
