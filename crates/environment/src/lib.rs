//! Configuration from the environment, read one way by service-kit and
//! telemetry alike: through a lookup (the process environment in production,
//! a map in tests, so tests never touch the process-global environment and
//! can start as many services as they like in one process), values trimmed,
//! unset and blank the same. A value that does not parse is an
//! [`InvalidVariable`], whose `Display` is the one line a service stops with.

use std::{str::FromStr, time::Duration};

use url::Url;

/// A variable whose value does not parse: `invalid NAME="value": why`.
/// `value` is what may be shown (a stand-in where the value may hold a key).
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}={value:?}: {reason}")]
pub struct InvalidVariable {
    pub variable: &'static str,
    pub value: String,
    pub reason: String,
}

impl InvalidVariable {
    pub fn new(variable: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { variable, value: value.into(), reason: reason.into() }
    }
}

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Reads variables through a lookup.
pub struct Env {
    lookup: Lookup,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self::from_fn(|name| std::env::var(name).ok())
    }

    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self { lookup: Box::new(lookup) }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let map: std::collections::HashMap<String, String> =
            pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        Self::from_fn(move |name| map.get(name).cloned())
    }

    /// The trimmed value; `None` when unset or blank (the default applies).
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
    }

    /// The value exactly as set, blank included: for a variable another
    /// reader (the OpenTelemetry SDK) takes as it is.
    pub fn get_untrimmed(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    pub fn parse_or<T>(&self, variable: &'static str, default: T) -> Result<T, InvalidVariable>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(variable) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|err: T::Err| InvalidVariable::new(variable, value, err.to_string())),
        }
    }

    /// An `http://` or `https://` URL with a host.
    pub fn url_or(&self, variable: &'static str, default: &str) -> Result<Url, InvalidVariable> {
        let value = self.get(variable).unwrap_or_else(|| default.to_owned());
        let error = |reason: &str| InvalidVariable::new(variable, redacted_url(&value), reason);
        let url = Url::parse(&value).map_err(|err| error(&err.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(error("expected an http:// or https:// URL with a host"));
        }
        Ok(url)
    }

    /// Whole milliseconds.
    pub fn millis_or(&self, variable: &'static str, default: Duration) -> Result<Duration, InvalidVariable> {
        let millis = self.parse_or(variable, default.as_millis() as u64)?;
        Ok(Duration::from_millis(millis))
    }
}

/// A URL as an error may show it, parsed or not: without what can hold a
/// secret, the user info (all before the last `@`, so a password with `@`
/// or `/` in it goes too) and the query and fragment (where keys hide). A
/// value with no `scheme://` at all is not shown: it may be another
/// variable's value put here by mistake (`x-honeycomb-team=KEY`).
/// Written by hand because the value is shown when it does not parse.
pub fn redacted_url(value: &str) -> String {
    let Some(scheme_end) = value
        .find("://")
        .filter(|&end| end > 0 && value[..end].chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
    else {
        return "(not shown: not a URL, and it may hold a key)".to_owned();
    };
    let (scheme, rest) = value.split_at(scheme_end + 3);
    let rest = match rest.rsplit_once('@') {
        Some((_, host_and_path)) => format!("***@{host_and_path}"),
        None => rest.to_owned(),
    };
    let without_query = rest.split(['?', '#']).next().unwrap_or_default();
    format!("{scheme}{without_query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_credentials_or_query() {
        for (value, shown) in [
            ("http://users:4568/api", "http://users:4568/api"),
            ("https://user:p@ss@collector:99999/", "https://***@collector:99999/"),
            ("https://user:pa/ss@collector/", "https://***@collector/"),
            ("https://user:pa?ss@collector/", "https://***@collector/"),
            ("ftp://collector:4318/?api_key=QUERYSECRET", "ftp://collector:4318/"),
            ("http://h/#key=SECRET", "http://h/"),
            ("user:COLONSECRET@collector", "(not shown: not a URL, and it may hold a key)"),
            ("x-honeycomb-team=SECRET", "(not shown: not a URL, and it may hold a key)"),
            ("x:y@h://z", "(not shown: not a URL, and it may hold a key)"),
            ("://SECRET", "(not shown: not a URL, and it may hold a key)"),
        ] {
            assert_eq!(redacted_url(value), shown, "{value}");
        }
    }

    #[test]
    fn an_invalid_url_is_named_without_its_credentials() {
        let env = Env::from_pairs([("USERS_URL", "http://svc:USERSPW@users:99999/?token=TOKEN")]);
        let shown = env.url_or("USERS_URL", "http://127.0.0.1:4568").unwrap_err().to_string();
        assert!(shown.starts_with("invalid USERS_URL=\"http://***@users:99999/\": "), "{shown}");
        assert!(!shown.contains("USERSPW") && !shown.contains("TOKEN"), "{shown}");
    }

    #[test]
    fn values_are_trimmed_and_blank_is_unset() {
        let env = Env::from_pairs([("A", " x "), ("B", "  "), ("C", "")]);
        assert_eq!(env.get("A").as_deref(), Some("x"));
        assert_eq!((env.get("B"), env.get("C"), env.get("D")), (None, None, None));
        assert_eq!(env.parse_or("B", 7u16).unwrap(), 7);
    }

    #[test]
    fn an_invalid_value_is_one_line_naming_the_variable() {
        let env = Env::from_pairs([("PORT", "45x67"), ("URL", "localhost:3000")]);
        let err = env.parse_or("PORT", 1u16).unwrap_err();
        assert!(err.to_string().starts_with("invalid PORT=\"45x67\": "), "{err}");
        assert_eq!(env.url_or("URL", "http://x").unwrap_err().variable, "URL");
        assert_eq!(env.url_or("UNSET", "http://127.0.0.1:4568").unwrap().as_str(), "http://127.0.0.1:4568/");
    }

    proptest::proptest! {
        /// Whatever a variable holds: a value or one error naming it, never a panic.
        #[test]
        fn any_value_parses_or_names_its_variable(value in "\\PC{0,40}") {
            let env = Env::from_pairs([("V", value.clone())]);
            for err in [
                env.parse_or("V", 0u16).err(),
                env.url_or("V", "http://x").err(),
                env.millis_or("V", Duration::ZERO).err(),
            ]
            .into_iter()
            .flatten()
            {
                proptest::prop_assert_eq!(err.variable, "V");
                proptest::prop_assert!(err.to_string().starts_with("invalid V="), "{}", err);
            }
        }

        /// A number written out, with blanks around it, reads back as itself.
        #[test]
        fn numbers_written_then_read_are_identity(n in proptest::num::u64::ANY, before in "[ \\t]{0,3}", after in "[ \\t\\n]{0,3}") {
            let env = Env::from_pairs([("MS", format!("{before}{n}{after}"))]);
            proptest::prop_assert_eq!(env.millis_or("MS", Duration::ZERO).unwrap(), Duration::from_millis(n));
        }
    }
}
