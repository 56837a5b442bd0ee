//! Retry decisions: only retryable failures, exponential backoff with full jitter
//! (AWS architecture blog), `Retry-After` honoured and capped, never past the deadline.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

use super::PolicyConfigError;

/// Retry settings (docs/ARCHITECTURE.md section 5).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Backoff base, ms.
    pub base_ms: u64,
    /// Backoff cap, ms.
    pub cap_ms: u64,
    /// Longest `Retry-After` honoured, ms.
    pub retry_after_cap_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 3,
            base_ms: 200,
            cap_ms: 5_000,
            retry_after_cap_ms: 60_000,
        }
    }
}

/// What went wrong with an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Could not connect, or the connection broke.
    Connect,
    /// The attempt timed out.
    Timeout,
    /// An HTTP status.
    Status(u16),
    /// The body was unusable.
    Body,
    /// The upstream answered, and what it served cannot answer the question (a wheel
    /// whose zip lies, or has no `METADATA`): the host is up, the file is bad. Not
    /// retried, and a success for the breaker (one hostile file must not make a host
    /// look down for every caller).
    Content,
    /// A redirect we do not follow (loop, other host, no `Location`).
    Redirect,
    /// Anything else.
    Other,
}

/// Connect errors, timeouts, 408, 429, 502, 503 and 504 are worth retrying.
pub fn is_retryable(kind: &FailureKind) -> bool {
    match kind {
        FailureKind::Connect | FailureKind::Timeout => true,
        FailureKind::Status(s) => matches!(s, 408 | 429 | 502 | 503 | 504),
        FailureKind::Body | FailureKind::Content | FailureKind::Redirect | FailureKind::Other => {
            false
        }
    }
}

/// Why no retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GiveUpReason {
    /// The failure is not retryable.
    NotRetryable,
    /// All retries used.
    AttemptsExhausted,
    /// The delay would pass the deadline.
    PastDeadline,
    /// The server asked for a wait longer than we allow or than the deadline leaves.
    RetryAfterTooLong {
        /// What it asked for.
        retry_after: Duration,
    },
}

impl std::fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GiveUpReason::NotRetryable => f.write_str("not retryable"),
            GiveUpReason::AttemptsExhausted => f.write_str("retries exhausted"),
            GiveUpReason::PastDeadline => f.write_str("no time left before the deadline"),
            GiveUpReason::RetryAfterTooLong { retry_after } => {
                write!(
                    f,
                    "Retry-After of {} s is longer than we may wait",
                    retry_after.as_secs()
                )
            }
        }
    }
}

/// The decision after a failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then retry.
    RetryAfter(Duration),
    /// Stop.
    GiveUp(GiveUpReason),
}

impl RetryConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), PolicyConfigError> {
        if self.base_ms == 0 {
            return Err(PolicyConfigError {
                field: "base_ms",
                value: "0".into(),
                rule: "must be greater than 0",
            });
        }
        if self.cap_ms < self.base_ms {
            return Err(PolicyConfigError {
                field: "cap_ms",
                value: self.cap_ms.to_string(),
                rule: "must be at least base_ms",
            });
        }
        Ok(())
    }

    /// Decides whether and when to retry after `attempt` retries already made.
    pub fn decide(
        &self,
        kind: &FailureKind,
        attempt: u32,
        retry_after: Option<Duration>,
        now: Instant,
        deadline: Instant,
        rng: &mut impl Rng,
    ) -> RetryDecision {
        if !is_retryable(kind) {
            return RetryDecision::GiveUp(GiveUpReason::NotRetryable);
        }
        if attempt >= self.max_retries {
            return RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted);
        }
        if let Some(ra) = retry_after {
            if ra > Duration::from_millis(self.retry_after_cap_ms) || now + ra >= deadline {
                return RetryDecision::GiveUp(GiveUpReason::RetryAfterTooLong { retry_after: ra });
            }
            return RetryDecision::RetryAfter(ra);
        }
        let ceiling = self
            .base_ms
            .saturating_mul(1u64 << attempt.min(30))
            .min(self.cap_ms);
        let delay = Duration::from_millis(rng.random_range(0..=ceiling));
        if now + delay >= deadline {
            return RetryDecision::GiveUp(GiveUpReason::PastDeadline);
        }
        RetryDecision::RetryAfter(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn retryable_set_is_exact() {
        for s in [408, 429, 502, 503, 504] {
            assert!(is_retryable(&FailureKind::Status(s)), "{s}");
        }
        for s in [400, 401, 403, 404, 500, 501] {
            assert!(!is_retryable(&FailureKind::Status(s)), "{s}");
        }
        assert!(is_retryable(&FailureKind::Connect));
        assert!(is_retryable(&FailureKind::Timeout));
        assert!(!is_retryable(&FailureKind::Body));
    }

    #[test]
    fn full_jitter_stays_within_the_exponential_ceiling() {
        let cfg = RetryConfig::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let now = Instant::now();
        let deadline = now + Duration::from_secs(3600);
        for attempt in 0..3 {
            let ceiling = (200u64 << attempt).min(5_000);
            let mut seen = std::collections::HashSet::new();
            for _ in 0..200 {
                match cfg.decide(
                    &FailureKind::Status(502),
                    attempt,
                    None,
                    now,
                    deadline,
                    &mut rng,
                ) {
                    RetryDecision::RetryAfter(d) => {
                        assert!(d.as_millis() as u64 <= ceiling);
                        seen.insert(d);
                    }
                    other => panic!("{other:?}"),
                }
            }
            assert!(seen.len() > 10, "jittered");
        }
    }

    #[test]
    fn gives_up_when_it_must() {
        let cfg = RetryConfig::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let now = Instant::now();
        let far = now + Duration::from_secs(3600);
        assert_eq!(
            cfg.decide(&FailureKind::Status(500), 0, None, now, far, &mut rng),
            RetryDecision::GiveUp(GiveUpReason::NotRetryable)
        );
        assert_eq!(
            cfg.decide(&FailureKind::Timeout, 3, None, now, far, &mut rng),
            RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted)
        );
        let ra = Duration::from_secs(30);
        assert_eq!(
            cfg.decide(
                &FailureKind::Status(429),
                0,
                Some(ra),
                now,
                now + Duration::from_secs(5),
                &mut rng
            ),
            RetryDecision::GiveUp(GiveUpReason::RetryAfterTooLong { retry_after: ra })
        );
        assert_eq!(
            cfg.decide(
                &FailureKind::Status(429),
                0,
                Some(Duration::from_secs(2)),
                now,
                far,
                &mut rng
            ),
            RetryDecision::RetryAfter(Duration::from_secs(2))
        );
        assert_eq!(
            cfg.decide(&FailureKind::Connect, 0, None, now, now, &mut rng),
            RetryDecision::GiveUp(GiveUpReason::PastDeadline)
        );
    }
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP-date (relative to `now`).
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod retry_after_tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn seconds_dates_and_garbage() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:40:37 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", SystemTime::now()), None);
        assert_eq!(parse_retry_after("-5", SystemTime::now()), None);
    }
}
