//! `AWS_XRAY_*`: the daemon's address, the sampling rules and the segments'
//! naming, read and checked once at start.

use super::{naming::SegmentNaming, rules::SamplingRules};
use environment::{Env, InvalidVariable};

use crate::error::TelemetryError;

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

impl XrayConfig {
    pub fn from_env(service_name: &str, env: &Env) -> Result<Self, TelemetryError> {
        let get = |name: &str| env.get(name);
        let daemon = get("AWS_XRAY_DAEMON_ADDRESS").map(|value| udp_address(&value)).transpose()?;
        let rules = match get("AWS_XRAY_SAMPLING_RULES") {
            None => SamplingRules::parse(DEFAULT_RULES).expect("xray.json at the repository root is valid"),
            Some(path) => {
                let invalid = |reason: String| InvalidVariable::new("AWS_XRAY_SAMPLING_RULES", path.clone(), reason);
                let text = std::fs::read_to_string(&path).map_err(|err| invalid(err.to_string()))?;
                SamplingRules::parse(&text).map_err(|err| invalid(err.to_string()))?
            }
        };
        let naming = SegmentNaming { service: service_name.to_owned(), host_pattern: get("AWS_XRAY_URL") };
        Ok(Self { daemon, naming, rules })
    }
}

/// `host:port`, or the SDKs' two-address form `tcp:host:port udp:host:port`
/// (segments use the UDP one).
fn udp_address(value: &str) -> Result<String, TelemetryError> {
    let invalid = |reason: &str| TelemetryError::from(InvalidVariable::new("AWS_XRAY_DAEMON_ADDRESS", value, reason));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_address_takes_both_forms() {
        assert_eq!(udp_address("xray-daemon:2000").unwrap(), "xray-daemon:2000");
        assert_eq!(udp_address("tcp:127.0.0.1:2000 udp:127.0.0.2:2001").unwrap(), "127.0.0.2:2001");
        for bad in ["xray-daemon", ":2000", "host:0", "host:port", "tcp:127.0.0.1:2000 other"] {
            assert!(udp_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_built_in_rules_are_the_repositorys_xray_json() {
        let config = XrayConfig::from_env("activities", &Env::from_fn(|_| None)).unwrap();
        assert!(config.daemon.is_none());
        let rule = &config.rules.rules()[0];
        assert_eq!((rule.name.as_str(), rule.fixed_rate, rule.reservoir_size), ("Cruddur", 0.1, 5));
    }
}
