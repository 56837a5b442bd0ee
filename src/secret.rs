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

/// Every URL's secrets removed (userinfo, token-like query values): the engine's one
/// redaction, used for answers, log lines and errors alike.
pub use sentinel_actors::untrusted::redact_urls as redact_userinfo;

/// The health report with userinfo redacted from every base URL and reason: it is
/// shown by the `health_check` tool, the health resource, `/healthz` and the CLI.
pub fn redact_health(mut h: HealthReport) -> HealthReport {
    for u in &mut h.upstreams {
        u.base_url = redact_userinfo(&u.base_url);
    }
    h.reason = h.reason.as_deref().map(redact_userinfo);
    if let Some(f) = &mut h.fleet {
        f.redis_url = sentinel_actors::redact_redis_url(&f.redis_url);
        f.last_error = f.last_error.as_deref().map(redact_userinfo);
    }
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
    fn echoes_are_truncated() {
        assert_eq!(truncate_echo("short"), "short");
        let long = "é".repeat(ECHO_MAX_CHARS + 5);
        let t = truncate_echo(&long);
        assert!(t.starts_with(&"é".repeat(ECHO_MAX_CHARS)));
        assert!(t.ends_with("(5 more characters)"), "{t}");
    }
}
