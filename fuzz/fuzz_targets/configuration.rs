//! The variables a service reads at start, one `NAME=value` a line: every
//! telemetry variable (`OTEL_*`, `CLOUDWATCH_*`, `AWS_XRAY_*`) and the
//! environment crate's readers of numbers, durations and URLs. Each is read
//! or refused with one error naming its variable, never a panic.
#![no_main]

use std::time::Duration;

use environment::Env;
use libfuzzer_sys::fuzz_target;
use telemetry::parsers::configuration;

fuzz_target!(|input: &str| {
    let pairs: Vec<(String, String)> = input
        .lines()
        .filter_map(|line| line.split_once('='))
        // A path that is read: the target would fuzz the file system.
        .filter(|(name, _)| *name != "AWS_XRAY_SAMPLING_RULES")
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let env = Env::from_pairs(pairs);
    if let Err(err) = configuration(&env) {
        assert!(!err.to_string().is_empty());
    }
    for err in [
        env.parse_or("PORT", 4567u16).err(),
        env.url_or("USERS_URL", "http://127.0.0.1:4568").err(),
        env.millis_or("UPSTREAM_TIMEOUT_MS", Duration::from_millis(2000)).err(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(err.to_string().starts_with(&format!("invalid {}=", err.variable)), "{err}");
    }
});
