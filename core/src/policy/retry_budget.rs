//! Retry budget (Envoy / Finagle / gRPC A6): retries may be at most `ratio` of the
//! requests in a sliding window, or a small floor when that is more, so low traffic
//! can still retry.
//! This is what keeps a 100 %-failing upstream at ~1.2x requests instead of 4x.
//!
//! At low traffic the floor alone would let every failing call use all its retries
//! (4x before the breaker opens, BENCHMARKS.md). So retries are also throttled as in
//! gRPC A6: a token bucket that each failed attempt drains by 1 and each success refills
//! by `throttle_token_ratio`; retries stop while it is at or below half full. With the
//! default 4 tokens, a failure streak earns one retry, and an outage costs 1.2 requests
//! per call until the breaker opens. A success puts back half a token, so retries keep
//! flowing while fewer than about a third of attempts fail (a flaky upstream) and stop
//! in a storm or an outage, where the stale and estimated fallbacks answer better.

use serde::{Deserialize, Serialize};
use std::time::Instant;

use super::PolicyConfigError;
use super::window::SecondBuckets;

/// Budget settings (docs/ARCHITECTURE.md section 5).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetryBudgetConfig {
    /// Retries allowed per request in the window.
    pub ratio: f64,
    /// The sliding window, ms (counted in one-second buckets).
    pub window_ms: u64,
    /// Retries allowed per second of window regardless of traffic.
    pub min_retries_per_sec: f64,
    /// Size of the retry-throttling token bucket (gRPC A6); 0 turns throttling off.
    pub throttle_max_tokens: f64,
    /// Tokens a successful attempt puts back.
    pub throttle_token_ratio: f64,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        RetryBudgetConfig {
            ratio: 0.2,
            window_ms: 10_000,
            min_retries_per_sec: 3.0,
            throttle_max_tokens: 4.0,
            throttle_token_ratio: 0.5,
        }
    }
}

impl RetryBudgetConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), PolicyConfigError> {
        if !(0.0..=1.0).contains(&self.ratio) {
            return Err(PolicyConfigError {
                field: "ratio",
                value: self.ratio.to_string(),
                rule: "must be between 0 and 1",
            });
        }
        if self.window_ms < 1_000 {
            return Err(PolicyConfigError {
                field: "window_ms",
                value: self.window_ms.to_string(),
                rule: "must be at least 1000",
            });
        }
        if self.min_retries_per_sec < 0.0 || !self.min_retries_per_sec.is_finite() {
            return Err(PolicyConfigError {
                field: "min_retries_per_sec",
                value: self.min_retries_per_sec.to_string(),
                rule: "must be a finite number >= 0",
            });
        }
        if self.throttle_max_tokens < 0.0 || !self.throttle_max_tokens.is_finite() {
            return Err(PolicyConfigError {
                field: "throttle_max_tokens",
                value: self.throttle_max_tokens.to_string(),
                rule: "must be a finite number >= 0 (0 turns throttling off)",
            });
        }
        if !(self.throttle_token_ratio > 0.0 && self.throttle_token_ratio <= 1.0) {
            return Err(PolicyConfigError {
                field: "throttle_token_ratio",
                value: self.throttle_token_ratio.to_string(),
                rule: "must be in (0, 1]",
            });
        }
        Ok(())
    }
}

/// The budget's state: per-second buckets of (requests, retries).
#[derive(Clone, Debug)]
pub struct RetryBudget {
    cfg: RetryBudgetConfig,
    window: SecondBuckets, // (requests, retries) per second
    refused_total: u64,
    /// The throttling bucket (gRPC A6).
    tokens: f64,
}

/// Counters for reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RetryBudgetSnapshot {
    /// Requests in the window.
    pub requests_in_window: u64,
    /// Retries in the window.
    pub retries_in_window: u64,
    /// Retries refused since start.
    pub refused_total: u64,
}

impl RetryBudget {
    /// An empty budget.
    pub fn new(cfg: RetryBudgetConfig) -> Self {
        RetryBudget {
            window: SecondBuckets::new(cfg.window_ms),
            tokens: cfg.throttle_max_tokens,
            cfg,
            refused_total: 0,
        }
    }

    /// Counts a request (not a retry).
    pub fn record_request(&mut self, now: Instant) {
        self.window.add(now, 1, 0);
    }

    /// Counts the outcome of one attempt (first try or retry) for throttling.
    pub fn record_attempt(&mut self, success: bool) {
        let max = self.cfg.throttle_max_tokens;
        self.tokens = if success {
            (self.tokens + self.cfg.throttle_token_ratio).min(max)
        } else {
            (self.tokens - 1.0).max(0.0)
        };
    }

    /// Whether retries are throttled after a failure streak.
    pub fn throttled(&self) -> bool {
        self.cfg.throttle_max_tokens > 0.0 && self.tokens <= self.cfg.throttle_max_tokens / 2.0
    }

    /// Takes one retry from the budget if there is one.
    pub fn try_withdraw(&mut self, now: Instant) -> bool {
        if self.throttled() {
            self.refused_total += 1;
            return false;
        }
        let (requests, retries) = self.window.totals(now);
        // The floor is a minimum, not an allowance on top of the ratio: with heavy
        // traffic retries stay within `ratio` of requests (Envoy's budget semantics).
        let floor = self.cfg.min_retries_per_sec * self.window.len() as f64;
        let allowed = floor.max(self.cfg.ratio * requests as f64).floor() as u64;
        if retries < allowed {
            self.window.add(now, 0, 1);
            true
        } else {
            self.refused_total += 1;
            false
        }
    }

    /// Counters at `now`.
    pub fn snapshot(&mut self, now: Instant) -> RetryBudgetSnapshot {
        let (requests_in_window, retries_in_window) = self.window.totals(now);
        RetryBudgetSnapshot {
            requests_in_window,
            retries_in_window,
            refused_total: self.refused_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn no_floor() -> RetryBudgetConfig {
        RetryBudgetConfig {
            min_retries_per_sec: 0.0,
            ..Default::default()
        }
    }

    #[test]
    fn twenty_percent_of_requests_may_retry() {
        let now = Instant::now();
        let mut b = RetryBudget::new(no_floor());
        for _ in 0..100 {
            b.record_request(now);
        }
        let granted = (0..100).filter(|_| b.try_withdraw(now)).count();
        assert_eq!(granted, 20);
        assert_eq!(b.snapshot(now).refused_total, 80);
    }

    #[test]
    fn the_window_slides() {
        let t0 = Instant::now();
        let mut b = RetryBudget::new(no_floor());
        for _ in 0..10 {
            b.record_request(t0);
        }
        assert_eq!((0..10).filter(|_| b.try_withdraw(t0)).count(), 2);
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.snapshot(later).requests_in_window, 0);
        assert!(
            !b.try_withdraw(later),
            "old requests no longer earn retries"
        );
    }

    #[test]
    fn the_floor_allows_retries_at_low_traffic() {
        let now = Instant::now();
        let mut b = RetryBudget::new(RetryBudgetConfig::default());
        assert_eq!((0..100).filter(|_| b.try_withdraw(now)).count(), 30);
    }

    #[test]
    fn the_floor_is_not_added_on_top_of_the_ratio() {
        // 300 requests in the window: 20 % is 60, more than the 30 of the floor.
        let now = Instant::now();
        let mut b = RetryBudget::new(RetryBudgetConfig::default());
        for _ in 0..300 {
            b.record_request(now);
        }
        assert_eq!((0..300).filter(|_| b.try_withdraw(now)).count(), 60);
    }

    #[test]
    fn a_failure_streak_earns_one_retry_then_successes_restore_retries() {
        let now = Instant::now();
        let mut b = RetryBudget::new(RetryBudgetConfig::default());
        b.record_request(now);
        b.record_attempt(false); // 4 -> 3 tokens
        assert!(b.try_withdraw(now), "a first failure is retried");
        b.record_attempt(false); // 3 -> 2: half full
        assert!(b.throttled());
        assert!(!b.try_withdraw(now), "a second failure in a row is not");
        b.record_attempt(true); // 2.5
        assert!(!b.throttled());
        assert!(b.try_withdraw(now));
    }

    #[test]
    fn an_outage_at_low_traffic_costs_1_2_requests_per_call_until_the_breaker_opens() {
        // 5 calls one after another (the breaker opens after 5 consecutive failures),
        // every attempt fails, each may retry 3 times: the floor alone would allow all.
        let now = Instant::now();
        let mut b = RetryBudget::new(RetryBudgetConfig::default());
        let mut attempts = 0;
        for _ in 0..5 {
            b.record_request(now);
            attempts += 1;
            b.record_attempt(false);
            for _ in 0..3 {
                if !b.try_withdraw(now) {
                    break;
                }
                attempts += 1;
                b.record_attempt(false);
            }
        }
        assert_eq!(attempts, 6, "1.2 requests per call");
        let off = RetryBudgetConfig {
            throttle_max_tokens: 0.0,
            ..Default::default()
        };
        let mut b = RetryBudget::new(off);
        b.record_attempt(false);
        b.record_attempt(false);
        assert!(!b.throttled(), "0 tokens turns throttling off");
    }

    #[test]
    fn throttle_settings_are_validated() {
        let bad = RetryBudgetConfig {
            throttle_token_ratio: 0.0,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "throttle_token_ratio");
        let bad = RetryBudgetConfig {
            throttle_max_tokens: -1.0,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "throttle_max_tokens");
    }

    #[test]
    fn a_failing_upstream_sees_at_most_about_1_2x() {
        // 1000 requests over 10 s, every attempt fails, each asks for up to 3 retries.
        let t0 = Instant::now();
        let mut b = RetryBudget::new(no_floor());
        let mut attempts = 0u64;
        for i in 0..1000u64 {
            let now = t0 + Duration::from_millis(i * 10);
            b.record_request(now);
            attempts += 1;
            for _ in 0..3 {
                if b.try_withdraw(now) {
                    attempts += 1;
                } else {
                    break;
                }
            }
        }
        assert!(attempts <= 1200, "{attempts}");
    }
}
