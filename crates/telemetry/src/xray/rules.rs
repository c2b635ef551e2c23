//! The sampling rules X-Ray applies, and the two files they come from: the
//! `xray.json` rule (the input of `aws xray create-sampling-rule`) or an SDK
//! local rules file. Which rule a request matches is decided here; how much
//! a rule takes is the sampler's.

use std::collections::BTreeMap;

use opentelemetry::KeyValue;
use serde::Deserialize;

use super::naming::wildcard_match;

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

    pub(super) fn matches(&self, request: &Request<'_>) -> bool {
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
pub(super) struct Request<'a> {
    pub service: &'a str,
    pub host: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub attributes: &'a [KeyValue],
}

/// Why a sampling rules file was refused (the reason in
/// `AWS_XRAY_SAMPLING_RULES`'s start-up error).
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("expected {{\"SamplingRule\": {{...}}}} or a local rules file with \"version\"")]
    UnknownForm,
    /// A field missing, of the wrong type, or unknown.
    #[error("{form}: {source}")]
    Shape { form: &'static str, source: serde_json::Error },
    #[error("SamplingRule.Version is {0}; X-Ray knows only 1")]
    RuleVersion(u32),
    #[error("SamplingRule.Priority {0} is not within 1..=9999")]
    Priority(u32),
    #[error("version {0} is not 1 or 2")]
    FileVersion(u32),
    #[error("rules[{0}] has both service_name and host; in version 1 service_name is the host")]
    HostTwice(usize),
    #[error("{field} {rate} is not within 0..=1")]
    Rate { field: String, rate: f64 },
}

/// Rules in matching order, then the default.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingRules {
    pub(super) rules: Vec<Rule>,
    pub(super) default: Rule,
}

impl SamplingRules {
    /// Reads either form: `{"SamplingRule": {...}}` (what
    /// `aws xray create-sampling-rule --cli-input-json` takes, like xray.json)
    /// or an X-Ray SDK local rules file (`{"version": 2, "rules": [...], "default": {...}}`).
    pub fn parse(text: &str) -> Result<Self, RulesError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(RulesError::NotJson)?;
        if let Some(rule) = value.get("SamplingRule") {
            let rule: CliRule = serde_json::from_value(rule.clone())
                .map_err(|source| RulesError::Shape { form: "SamplingRule", source })?;
            return Ok(Self { rules: vec![rule.checked()?], default: Rule::default_rule(1, 0.05) });
        }
        if value.get("version").is_some() {
            let file: LocalFile =
                serde_json::from_value(value).map_err(|source| RulesError::Shape { form: "rules file", source })?;
            return file.checked();
        }
        Err(RulesError::UnknownForm)
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
    fn checked(self) -> Result<Rule, RulesError> {
        if self.version != 1 {
            return Err(RulesError::RuleVersion(self.version));
        }
        if !(1..=9999).contains(&self.priority) {
            return Err(RulesError::Priority(self.priority));
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

/// The X-Ray SDKs' local sampling rules file. Its rules match the request's
/// host, a key version 1 named `service_name` and version 2 renamed `host`
/// (the SDKs read version 1's `service_name` as the host pattern).
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
    fn checked(self) -> Result<SamplingRules, RulesError> {
        if !matches!(self.version, 1 | 2) {
            return Err(RulesError::FileVersion(self.version));
        }
        check_rate("default.rate", self.default.rate)?;
        let mut rules = Vec::with_capacity(self.rules.len());
        // In a local file the first matching rule wins: file order is priority.
        for (index, local) in self.rules.into_iter().enumerate() {
            check_rate(&format!("rules[{index}].rate"), local.rate)?;
            let name = local.description.unwrap_or_else(|| format!("rule {}", index + 1));
            let mut rule = Rule::matching_all(name, index as u32 + 1, local.fixed_target, local.rate);
            let (host, service_name) = match self.version {
                // Version 1's `service_name` is the host pattern; `host` is
                // version 2's name for it, and both at once is ambiguous.
                1 => match (local.service_name, local.host) {
                    (Some(_), Some(_)) => return Err(RulesError::HostTwice(index)),
                    (host, None) | (None, host) => (host, None),
                },
                _ => (local.host, local.service_name),
            };
            rule.host = host.unwrap_or_else(|| "*".into());
            rule.service_name = service_name.unwrap_or_else(|| "*".into());
            rule.http_method = local.http_method;
            rule.url_path = local.url_path;
            rules.push(rule);
        }
        Ok(SamplingRules { rules, default: Rule::default_rule(self.default.fixed_target, self.default.rate) })
    }
}

fn check_rate(field: &str, rate: f64) -> Result<(), RulesError> {
    if (0.0..=1.0).contains(&rate) { Ok(()) } else { Err(RulesError::Rate { field: field.to_owned(), rate }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xray_json() -> SamplingRules {
        SamplingRules::parse(include_str!("../../../../xray.json")).unwrap()
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
            let err = SamplingRules::parse(bad).unwrap_err().to_string();
            assert!(err.contains(complaint), "{bad}: {err}");
        }
        let typo = include_str!("../../../../xray.json").replace("FixedRate", "FixRate");
        assert!(SamplingRules::parse(&typo).unwrap_err().to_string().contains("FixRate"));
    }

    fn local_rule(version: u32, keys: &str) -> Result<Rule, RulesError> {
        let text = format!(
            r#"{{"version": {version}, "default": {{"fixed_target": 1, "rate": 0.05}},
                "rules": [{{{keys}, "http_method": "*", "url_path": "*", "fixed_target": 1, "rate": 1}}]}}"#
        );
        SamplingRules::parse(&text).map(|rules| rules.rules()[0].clone())
    }

    #[test]
    fn version_1s_service_name_is_the_host() {
        // As the X-Ray SDKs read version 1: its `service_name` is matched
        // against the request's host (version 2 renamed the key `host`).
        let rule = local_rule(1, r#""service_name": "*.example.com""#).unwrap();
        assert_eq!((rule.host.as_str(), rule.service_name.as_str()), ("*.example.com", "*"));
        let request = |host| Request { service: "activities", host, method: "GET", path: "/", attributes: &[] };
        assert!(rule.matches(&request("api.example.com")));
        assert!(!rule.matches(&request("localhost")), "the service's name is not what it matches");

        // Version 1 with version 2's key reads the same; both at once is refused.
        assert_eq!(local_rule(1, r#""host": "*.example.com""#).unwrap().host, "*.example.com");
        let both = local_rule(1, r#""service_name": "a", "host": "b""#).unwrap_err();
        assert!(matches!(both, RulesError::HostTwice(0)), "{both}");

        // Version 2 as before: `host` the host, `service_name` the service.
        let rule = local_rule(2, r#""host": "*.example.com", "service_name": "activities""#).unwrap();
        assert_eq!((rule.host.as_str(), rule.service_name.as_str()), ("*.example.com", "activities"));
    }
}
