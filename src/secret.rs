//! Secrets and what is shown of user input: a [`Secret`] that never prints, userinfo
//! redaction for URLs, and truncation of echoed values.
//!
//! Why types and not care: a secret that can't be formatted can't leak through a
//! `{:?}` in a log line or an error message written years later.

use std::fmt;

use sentinel_actors::HealthReport;

/// A secret string (bearer token, API key, password). `Debug` and `Display` print
/// `<redacted>`; the value is reached only through [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty (an empty token means none).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// The engine's one cut of an echoed value (`aaaa… (3999800 more characters)`).
pub use sentinel_actors::{ECHO_MAX_CHARS, clip_echo as truncate_echo};

/// Replaces the userinfo of every `scheme://user:pass@host` in `text` with `***`:
/// `http://user:pass@host/x` becomes `http://***@host/x`. Anything else is kept.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The health report with userinfo redacted from every base URL and reason: it is
/// shown by the `health_check` tool, the health resource, `/healthz` and the CLI.
pub fn redact_health(mut h: HealthReport) -> HealthReport {
    for u in &mut h.upstreams {
        u.base_url = redact_userinfo(&u.base_url);
    }
    h.reason = h.reason.as_deref().map(redact_userinfo);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "<redacted>");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{:?}", Some(&s)).contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn userinfo_is_redacted() {
        assert_eq!(
            redact_userinfo("http://user:pass@host:8/x?y"),
            "http://***@host:8/x?y"
        );
        assert_eq!(redact_userinfo("https://tok@h"), "https://***@h");
        assert_eq!(redact_userinfo("https://pypi.org"), "https://pypi.org");
        assert_eq!(
            redact_userinfo("a http://u:p@a/ and https://b/c@d e"),
            "a http://***@a/ and https://b/c@d e"
        );
        assert_eq!(redact_userinfo("no url"), "no url");
    }

    #[test]
    fn echoes_are_truncated() {
        assert_eq!(truncate_echo("short"), "short");
        let long = "é".repeat(ECHO_MAX_CHARS + 5);
        let t = truncate_echo(&long);
        assert!(t.starts_with(&"é".repeat(ECHO_MAX_CHARS)));
        assert!(t.ends_with("(5 more characters)"), "{t}");
    }
}
