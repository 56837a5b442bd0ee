//! Circuit breaker per upstream (resilience4j / Polly / Hystrix): opens at a failure
//! rate over a sliding window or on consecutive failures; stays open for a time that
//! doubles while half-open probes keep failing; a probe success closes it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::PolicyConfigError;
use super::window::SecondBuckets;

/// Breaker settings (DESIGN.md section 5).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Failure rate (0..1] over the window that opens the breaker.
    pub failure_rate_threshold: f64,
    /// The window, ms (one-second buckets).
    pub window_ms: u64,
    /// Calls needed in the window before the rate counts.
    pub min_calls: u32,
    /// Consecutive failures that open the breaker regardless of the rate.
    pub consecutive_failures: u32,
    /// First open period, ms.
    pub open_base_ms: u64,
    /// Longest open period, ms.
    pub open_max_ms: u64,
    /// Probes let through at once when half-open.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_rate_threshold: 0.5,
            window_ms: 30_000,
            min_calls: 10,
            consecutive_failures: 5,
            open_base_ms: 10_000,
            open_max_ms: 300_000,
            half_open_probes: 2,
        }
    }
}

impl BreakerConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), PolicyConfigError> {
        let bad = |field, value: String, rule| Err(PolicyConfigError { field, value, rule });
        if !(self.failure_rate_threshold > 0.0 && self.failure_rate_threshold <= 1.0) {
            return bad(
                "failure_rate_threshold",
                self.failure_rate_threshold.to_string(),
                "must be in (0, 1]",
            );
        }
        if self.window_ms < 1_000 {
            return bad(
                "window_ms",
                self.window_ms.to_string(),
                "must be at least 1000",
            );
        }
        if self.open_base_ms == 0 {
            return bad("open_base_ms", "0".into(), "must be greater than 0");
        }
        if self.open_max_ms < self.open_base_ms {
            return bad(
                "open_max_ms",
                self.open_max_ms.to_string(),
                "must be at least open_base_ms",
            );
        }
        if self.half_open_probes == 0 {
            return bad("half_open_probes", "0".into(), "must be at least 1");
        }
        Ok(())
    }
}

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Requests are refused until the open period ends.
    Open,
    /// A few probes may go.
    HalfOpen,
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        })
    }
}

/// Whether a request may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Closed: go.
    Allowed,
    /// Half-open: go as a probe, and report its outcome with `was_probe`.
    Probe,
    /// Refused until `until`.
    Rejected {
        /// When a probe may go.
        until: Instant,
    },
}

/// The outcome of a call, as far as upstream health is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// It answered (a 404 counts as an answer).
    Success,
    /// It failed.
    Failure,
}

/// A state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// Before.
    pub from: BreakerState,
    /// After.
    pub to: BreakerState,
    /// When.
    pub at: Instant,
}

/// Counters for reports.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerSnapshot {
    /// State.
    pub state: BreakerState,
    /// End of the open period, when open.
    pub open_until: Option<Instant>,
    /// Failures / calls in the window.
    pub failure_rate: f64,
    /// Calls in the window.
    pub calls_in_window: u32,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// Times opened since start.
    pub times_opened: u64,
    /// The current (or next) open period, ms.
    pub current_open_ms: u64,
}

/// One breaker.
#[derive(Clone, Debug)]
pub struct Breaker {
    cfg: BreakerConfig,
    state: BreakerState,
    open_until: Option<Instant>,
    open_ms: u64,
    probes_in_flight: u32,
    consecutive: u32,
    times_opened: u64,
    window: SecondBuckets, // (calls, failures) per second
}

impl Breaker {
    /// A closed breaker.
    pub fn new(cfg: BreakerConfig) -> Self {
        Breaker {
            window: SecondBuckets::new(cfg.window_ms),
            open_ms: cfg.open_base_ms,
            cfg,
            state: BreakerState::Closed,
            open_until: None,
            probes_in_flight: 0,
            consecutive: 0,
            times_opened: 0,
        }
    }

    fn window(&mut self, now: Instant) -> (u32, u32) {
        let (calls, failures) = self.window.totals(now);
        (calls as u32, failures as u32)
    }

    fn open(&mut self, now: Instant) -> Transition {
        let from = self.state;
        self.state = BreakerState::Open;
        self.open_until = Some(now + Duration::from_millis(self.open_ms));
        self.probes_in_flight = 0;
        self.times_opened += 1;
        Transition {
            from,
            to: BreakerState::Open,
            at: now,
        }
    }

    /// May a request go now?
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            BreakerState::Closed => Admission::Allowed,
            BreakerState::Open => {
                let until = self.open_until.unwrap_or(now);
                if now < until {
                    return Admission::Rejected { until };
                }
                self.state = BreakerState::HalfOpen;
                self.probes_in_flight = 1;
                Admission::Probe
            }
            BreakerState::HalfOpen => {
                if self.probes_in_flight < self.cfg.half_open_probes {
                    self.probes_in_flight += 1;
                    Admission::Probe
                } else {
                    Admission::Rejected {
                        until: now + Duration::from_millis(self.cfg.open_base_ms.min(1_000)),
                    }
                }
            }
        }
    }

    /// Reports the outcome of a call.
    pub fn record(
        &mut self,
        outcome: CallOutcome,
        was_probe: bool,
        now: Instant,
    ) -> Option<Transition> {
        let failed = outcome == CallOutcome::Failure;
        if was_probe && self.state == BreakerState::HalfOpen {
            self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
            if failed {
                self.open_ms = (self.open_ms.saturating_mul(2)).min(self.cfg.open_max_ms);
                return Some(self.open(now));
            }
            self.state = BreakerState::Closed;
            self.open_until = None;
            self.open_ms = self.cfg.open_base_ms;
            self.consecutive = 0;
            self.window.clear();
            return Some(Transition {
                from: BreakerState::HalfOpen,
                to: BreakerState::Closed,
                at: now,
            });
        }
        if self.state != BreakerState::Closed {
            return None; // a late answer from before the breaker opened
        }
        self.window.add(now, 1, u64::from(failed));
        self.consecutive = if failed { self.consecutive + 1 } else { 0 };
        let (calls, failures) = self.window(now);
        let by_rate = calls >= self.cfg.min_calls
            && f64::from(failures) / f64::from(calls) >= self.cfg.failure_rate_threshold;
        if failed && (by_rate || self.consecutive >= self.cfg.consecutive_failures) {
            return Some(self.open(now));
        }
        None
    }

    /// A probe ended without an outcome: its slot is free again.
    pub fn release_probe(&mut self) {
        self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
    }

    /// The state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// End of the open period, when open.
    pub fn open_until(&self) -> Option<Instant> {
        (self.state == BreakerState::Open)
            .then_some(self.open_until)
            .flatten()
    }

    /// Counters at `now`.
    pub fn snapshot(&mut self, now: Instant) -> BreakerSnapshot {
        let (calls, failures) = self.window(now);
        BreakerSnapshot {
            state: self.state,
            open_until: self.open_until(),
            failure_rate: if calls == 0 {
                0.0
            } else {
                f64::from(failures) / f64::from(calls)
            },
            calls_in_window: calls,
            consecutive_failures: self.consecutive,
            times_opened: self.times_opened,
            current_open_ms: self.open_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallOutcome::*;

    fn b() -> Breaker {
        Breaker::new(BreakerConfig::default())
    }

    #[test]
    fn opens_on_consecutive_failures_and_rejects_until_the_period_ends() {
        let t0 = Instant::now();
        let mut br = b();
        for i in 0..4 {
            assert_eq!(br.record(Failure, false, t0), None, "{i}");
        }
        let t = br.record(Failure, false, t0).unwrap();
        assert_eq!((t.from, t.to), (BreakerState::Closed, BreakerState::Open));
        let until = t0 + Duration::from_secs(10);
        assert_eq!(
            br.admit(t0 + Duration::from_secs(9)),
            Admission::Rejected { until }
        );
        assert_eq!(br.admit(until), Admission::Probe);
        assert_eq!(br.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn opens_on_failure_rate_only_with_enough_calls() {
        let t0 = Instant::now();
        let mut br = b();
        // alternate: rate 50 %, never 5 in a row
        for i in 0..9 {
            let o = if i % 2 == 0 { Failure } else { Success };
            assert_eq!(br.record(o, false, t0), None, "below min_calls at {i}");
        }
        // 10th call: 5 failures of 10
        assert!(br.record(Failure, false, t0).is_some());
    }

    #[test]
    fn old_failures_slide_out_of_the_window() {
        let t0 = Instant::now();
        let mut br = b();
        for _ in 0..4 {
            br.record(Failure, false, t0);
        }
        br.record(Success, false, t0);
        let later = t0 + Duration::from_secs(31);
        assert_eq!(br.snapshot(later).calls_in_window, 0);
    }

    #[test]
    fn half_open_limits_probes_success_closes_failure_doubles() {
        let t0 = Instant::now();
        let mut br = b();
        for _ in 0..5 {
            br.record(Failure, false, t0);
        }
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(br.admit(t1), Admission::Probe);
        assert_eq!(br.admit(t1), Admission::Probe);
        assert!(matches!(br.admit(t1), Admission::Rejected { .. }));
        br.release_probe();
        assert_eq!(br.admit(t1), Admission::Probe);
        let t = br.record(Failure, true, t1).unwrap();
        assert_eq!(t.to, BreakerState::Open);
        assert_eq!(br.snapshot(t1).current_open_ms, 20_000);
        assert_eq!(br.open_until(), Some(t1 + Duration::from_secs(20)));
        let t2 = t1 + Duration::from_secs(20);
        assert_eq!(br.admit(t2), Admission::Probe);
        let t = br.record(Success, true, t2).unwrap();
        assert_eq!(t.to, BreakerState::Closed);
        assert_eq!(br.snapshot(t2).current_open_ms, 10_000);
        assert_eq!(br.admit(t2), Admission::Allowed);
    }

    #[test]
    fn open_time_is_capped() {
        let mut t = Instant::now();
        let mut br = b();
        for _ in 0..5 {
            br.record(Failure, false, t);
        }
        for _ in 0..20 {
            t = br.open_until().unwrap();
            assert_eq!(br.admit(t), Admission::Probe);
            br.record(Failure, true, t);
            assert!(br.open_until().unwrap() <= t + Duration::from_millis(300_000));
        }
        assert_eq!(br.snapshot(t).current_open_ms, 300_000);
    }

    #[test]
    fn config_rules_are_named() {
        let c = BreakerConfig {
            failure_rate_threshold: 1.5,
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "failure_rate_threshold");
        BreakerConfig::default().validate().unwrap();
    }
}
