//! What a segment is called, and X-Ray's wildcard matching, which the
//! naming and the sampling rules both use.

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
    fn dynamic_naming_uses_the_host_only_when_it_matches() {
        let naming =
            SegmentNaming { service: "activities".into(), host_pattern: Some("*4567-abc.ws.gitpod.io*".into()) };
        assert_eq!(naming.name(Some("4567-abc.ws.gitpod.io")), "4567-abc.ws.gitpod.io");
        assert_eq!(naming.name(Some("127.0.0.1")), "activities");
        assert_eq!(naming.name(None), "activities");
        let fixed = SegmentNaming { service: "users".into(), host_pattern: None };
        assert_eq!(fixed.name(Some("4567-abc.ws.gitpod.io")), "users");
    }
}
