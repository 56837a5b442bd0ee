//! Circuit breaker per upstream (resilience4j / Polly / Hystrix): opens at a failure
//! rate over a sliding window or on a streak of consecutive failures; stays open for a
//! time that doubles while half-open probes keep failing; a probe success closes it.
//!
//! The streak a breaker needs grows with traffic ([`ConsecutiveRule::Scaled`]): a fixed
//! "5 in a row" is a real outage at 1 call every 2 s, but at 100 calls/s with a third
//! or half of the calls failing it happens by chance within a second or two, and then
//! failed fast calls that would mostly have succeeded (`actors/examples/breaker_storm.rs`
//! measures the rules).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use std::time::Instant;

use super::PolicyConfigError;
use super::window::SecondBuckets;

/// Breaker settings (docs/ARCHITECTURE.md section 5).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Failure rate (0..1] over the window that opens the breaker.
    pub failure_rate_threshold: f64,
    /// The window, ms (one-second buckets).
    pub window_ms: u64,
    /// Calls needed in the window before the rate counts.
    pub min_calls: u32,
    /// Consecutive failures that open the breaker regardless of the rate (the least
    /// streak; see `consecutive_rule`).
    pub consecutive_failures: u32,
    /// When a streak of failures opens the breaker.
    pub consecutive_rule: ConsecutiveRule,
    /// With `consecutive_rule = "scaled"`: the streak must also be at least as many
    /// calls as the recent traffic (calls in the window per ms) makes in this span, ms.
    pub consecutive_span_ms: u64,
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
            consecutive_rule: ConsecutiveRule::Scaled,
            consecutive_span_ms: 1_000,
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
        if self.consecutive_failures == 0 && self.consecutive_rule != ConsecutiveRule::Off {
            return bad(
                "consecutive_failures",
                "0".into(),
                "must be at least 1 (set consecutive_rule = \"off\" to disable the rule)",
            );
        }
        if self.consecutive_rule == ConsecutiveRule::Scaled
            && !(1..=self.window_ms).contains(&self.consecutive_span_ms)
        {
            return bad(
                "consecutive_span_ms",
                self.consecutive_span_ms.to_string(),
                "must be in 1..=window_ms with consecutive_rule = \"scaled\"",
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

/// When a streak of consecutive failures opens the breaker (the failure-rate rule
/// applies in every case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsecutiveRule {
    /// Never: only the failure rate opens it.
    Off,
    /// `consecutive_failures` in a row, at any traffic (the rule before the storm
    /// measurements).
    Fixed,
    /// `consecutive_failures` in a row, only while the window holds fewer than
    /// `min_calls` calls (at higher traffic the rate rule decides alone).
    LowTraffic,
    /// In a row, at least `consecutive_failures` and at least the calls that the
    /// traffic over the window makes in `consecutive_span_ms`: about a second of
    /// nothing but failures, however busy the upstream is.
    Scaled,
}

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    window: SecondBuckets,           // (calls, failures) per second
    counting_since: Option<Instant>, // first call the window has seen since it was cleared
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
            counting_since: None,
        }
    }

    /// The streak of failures that opens the breaker now, with `calls` in the window.
    fn streak_to_open(&self, calls: u32, now: Instant) -> u32 {
        let least = self.cfg.consecutive_failures;
        match self.cfg.consecutive_rule {
            ConsecutiveRule::Off => u32::MAX,
            ConsecutiveRule::Fixed => least,
            ConsecutiveRule::LowTraffic if calls < self.cfg.min_calls => least,
            ConsecutiveRule::LowTraffic => u32::MAX,
            ConsecutiveRule::Scaled => {
                // Traffic = calls over the time the window has been counting (so a
                // breaker that just closed does not take its first calls for quiet
                // traffic), at least 1 s and at most the window.
                let since = self.counting_since.unwrap_or(now);
                let span_ms = (now.saturating_duration_since(since).as_millis() as u64)
                    .clamp(1_000, self.cfg.window_ms);
                let scaled = u64::from(calls) * self.cfg.consecutive_span_ms / span_ms;
                least.max(u32::try_from(scaled).unwrap_or(u32::MAX))
            }
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
            return Some(self.close(now));
        }
        if self.state != BreakerState::Closed {
            return None; // a late answer from before the breaker opened
        }
        self.counting_since.get_or_insert(now);
        self.window.add(now, 1, u64::from(failed));
        self.consecutive = if failed { self.consecutive + 1 } else { 0 };
        let (calls, failures) = self.window(now);
        let by_rate = calls >= self.cfg.min_calls
            && f64::from(failures) / f64::from(calls) >= self.cfg.failure_rate_threshold;
        let by_streak = self.consecutive >= self.streak_to_open(calls, now);
        if failed && (by_rate || by_streak) {
            return Some(self.open(now));
        }
        None
    }

    fn close(&mut self, now: Instant) -> Transition {
        let from = self.state;
        self.state = BreakerState::Closed;
        self.open_until = None;
        self.open_ms = self.cfg.open_base_ms;
        self.consecutive = 0;
        self.probes_in_flight = 0;
        self.window.clear();
        self.counting_since = None;
        Transition {
            from,
            to: BreakerState::Closed,
            at: now,
        }
    }

    /// Records the outcome of a half-open probe that another replica of the fleet sent
    /// for this upstream (the replicas share one probe per open period). A closed
    /// breaker ignores it: the fleet shares probes, never the decision to open. An
    /// open or half-open one takes it as its own probe's result: a success closes it,
    /// a failure opens it again for a doubled period from `now` (as the prober's did).
    pub fn record_fleet_probe(&mut self, outcome: CallOutcome, now: Instant) -> Option<Transition> {
        match (self.state, outcome) {
            (BreakerState::Closed, _) => None,
            (_, CallOutcome::Success) => Some(self.close(now)),
            (from, CallOutcome::Failure) => {
                self.open_ms = (self.open_ms.saturating_mul(2)).min(self.cfg.open_max_ms);
                if from == BreakerState::HalfOpen {
                    return Some(self.open(now));
                }
                // Already open: a longer period, not a new opening.
                self.open_until = Some(now + Duration::from_millis(self.open_ms));
                None
            }
        }
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

    /// The current open period (the next one, when closed).
    pub fn open_period(&self) -> Duration {
        Duration::from_millis(self.open_ms)
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
    fn a_fleet_probe_closes_or_reopens_an_open_breaker_and_never_opens_a_closed_one() {
        let t0 = Instant::now();
        let mut br = b();
        // Closed: another replica's failed probe changes nothing here.
        assert_eq!(br.record_fleet_probe(Failure, t0), None);
        assert_eq!(br.state(), BreakerState::Closed);
        for _ in 0..5 {
            br.record(Failure, false, t0);
        }
        assert_eq!(br.state(), BreakerState::Open);
        // Open and not yet due: a failed fleet probe keeps it open, twice as long,
        // counted from the probe's outcome.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(br.record_fleet_probe(Failure, t1), None);
        assert_eq!(br.state(), BreakerState::Open);
        assert_eq!(br.open_until(), Some(t1 + Duration::from_secs(20)));
        assert_eq!(br.snapshot(t1).times_opened, 1);
        // A successful one closes it, with the base period for the next opening.
        let t = br.record_fleet_probe(Success, t1).unwrap();
        assert_eq!((t.from, t.to), (BreakerState::Open, BreakerState::Closed));
        assert_eq!(br.admit(t1), Admission::Allowed);
        for _ in 0..5 {
            br.record(Failure, false, t1);
        }
        assert_eq!(br.open_until(), Some(t1 + Duration::from_secs(10)));
        // Half-open (its own probe in flight): a fleet failure re-opens it, and the
        // late answer of its own probe is ignored.
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(br.admit(t2), Admission::Probe);
        let t = br.record_fleet_probe(Failure, t2).unwrap();
        assert_eq!((t.from, t.to), (BreakerState::HalfOpen, BreakerState::Open));
        assert_eq!(br.record(Success, true, t2), None);
        assert_eq!(br.state(), BreakerState::Open);
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
        let c = BreakerConfig {
            consecutive_failures: 0,
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "consecutive_failures");
        for span in [0, 30_001] {
            let c = BreakerConfig {
                consecutive_span_ms: span,
                ..Default::default()
            };
            assert_eq!(c.validate().unwrap_err().field, "consecutive_span_ms");
        }
        // The span only matters to the scaled rule.
        BreakerConfig {
            consecutive_rule: ConsecutiveRule::Fixed,
            consecutive_span_ms: 0,
            ..Default::default()
        }
        .validate()
        .unwrap();
    }

    /// `n` calls spread evenly over `secs` from `from`, with the outcome `f(i)`; the
    /// first transition, with the index of the call that caused it.
    fn drive(
        br: &mut Breaker,
        from: Instant,
        secs: u64,
        n: u64,
        mut f: impl FnMut(u64) -> CallOutcome,
    ) -> Option<(u64, Transition)> {
        let step = Duration::from_secs(secs) / n as u32;
        (0..n).find_map(|i| {
            let now = from + step * i as u32;
            assert_eq!(br.admit(now), Admission::Allowed, "call {i}");
            br.record(f(i), false, now).map(|t| (i, t))
        })
    }

    /// A breaker that has seen `per_sec` healthy calls per second for a full window.
    fn warm(cfg: BreakerConfig, per_sec: u64, t0: Instant) -> (Breaker, Instant) {
        let mut br = Breaker::new(cfg);
        assert_eq!(drive(&mut br, t0, 30, 30 * per_sec, |_| Success), None);
        (br, t0 + Duration::from_secs(30))
    }

    #[test]
    fn fifty_percent_storm_at_high_traffic_does_not_open_on_consecutive_failures() {
        // 100 calls/s; half fail, in streaks of 8. Over a 10 s burst the window's rate
        // stays below 50 %, so only a streak rule could open the breaker.
        let storm = |i: u64| if i % 16 < 8 { Failure } else { Success };
        let t0 = Instant::now();
        let (mut br, t1) = warm(BreakerConfig::default(), 100, t0);
        assert_eq!(drive(&mut br, t1, 10, 1_000, storm), None);
        assert_eq!(br.state(), BreakerState::Closed);
        // What it pins: "5 in a row" at any traffic opened on the first streak.
        let fixed = BreakerConfig {
            consecutive_rule: ConsecutiveRule::Fixed,
            ..Default::default()
        };
        let (mut br, t1) = warm(fixed, 100, t0);
        let (i, t) = drive(&mut br, t1, 10, 1_000, storm).unwrap();
        assert_eq!((i, t.to), (4, BreakerState::Open));
    }

    #[test]
    fn ten_and_twenty_percent_failures_at_high_traffic_stay_closed() {
        use rand::{Rng, SeedableRng};
        // 500 calls/s for 120 s: "5 in a row" at 20 % happens every few seconds.
        for p in [0.1, 0.2] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(7);
            let mut outcome = |_| {
                if rng.random::<f64>() < p {
                    Failure
                } else {
                    Success
                }
            };
            let t0 = Instant::now();
            let (mut br, t1) = warm(BreakerConfig::default(), 500, t0);
            assert_eq!(drive(&mut br, t1, 120, 60_000, &mut outcome), None, "{p}");
        }
    }

    #[test]
    fn full_outage_at_low_traffic_opens_within_5_calls() {
        // Then one call every 2 s, one at a time, after healthy traffic of 1 call/s or 1
        // every 2 s: the window holds 30 or 15 healthy calls (more than min_calls), so
        // the rate rule alone would wait for the 8th failure or later.
        let t0 = Instant::now();
        let (mut br, t1) = warm(BreakerConfig::default(), 1, t0);
        let mut br_slow = Breaker::new(BreakerConfig::default());
        drive(&mut br_slow, t0, 30, 15, |_| Success);
        for b in [&mut br, &mut br_slow] {
            let (i, t) = drive(b, t1, 20, 10, |_| Failure).unwrap();
            assert_eq!((i, t.to), (4, BreakerState::Open));
        }
    }

    #[test]
    fn full_outage_at_high_traffic_opens_within_about_a_second() {
        // 100 calls/s: a streak of 1 s of traffic (100 calls), not 15 s for the rate
        // rule to outweigh a window of healthy calls.
        let t0 = Instant::now();
        let (mut br, t1) = warm(BreakerConfig::default(), 100, t0);
        let (i, t) = drive(&mut br, t1, 10, 1_000, |_| Failure).unwrap();
        assert_eq!(t.to, BreakerState::Open);
        assert!((95..=105).contains(&i), "opened at failure {i}");
    }

    #[test]
    fn full_outage_from_a_cold_start_at_high_traffic_opens_within_5_calls() {
        // No history: the traffic estimate is the calls since counting began, all of
        // them failures, so the streak needed is the configured 5.
        let mut br = b();
        let (i, t) = drive(&mut br, Instant::now(), 1, 100, |_| Failure).unwrap();
        assert_eq!((i, t.to), (4, BreakerState::Open));
    }

    #[test]
    fn a_breaker_that_just_closed_does_not_take_a_busy_upstream_for_a_quiet_one() {
        // After a probe closes it, the window starts empty; the traffic estimate counts
        // from then, so 20 calls in 200 ms read as 100/s, not 20 per 30 s.
        let t0 = Instant::now();
        let mut br = b();
        drive(&mut br, t0, 1, 5, |_| Failure);
        let t1 = br.open_until().unwrap();
        assert_eq!(br.admit(t1), Admission::Probe);
        assert_eq!(
            br.record(Success, true, t1).unwrap().to,
            BreakerState::Closed
        );
        let t2 = t1 + Duration::from_secs(1);
        drive(&mut br, t1, 1, 100, |_| Success);
        // 100 calls in the last second: 5 failures in a row are not enough...
        assert_eq!(drive(&mut br, t2, 1, 6, |_| Failure), None);
        assert_eq!(br.state(), BreakerState::Closed);
    }

    #[test]
    fn streak_rules_off_fixed_and_low_traffic() {
        let cfg = |rule| BreakerConfig {
            consecutive_rule: rule,
            ..Default::default()
        };
        let t0 = Instant::now();
        // Quiet upstream, empty window: Fixed and LowTraffic open at 5, Off waits for
        // min_calls (the 10th failure, rate 100 %).
        for (rule, at) in [
            (ConsecutiveRule::Fixed, 4),
            (ConsecutiveRule::LowTraffic, 4),
            (ConsecutiveRule::Off, 9),
        ] {
            let mut br = Breaker::new(cfg(rule));
            let (i, _) = drive(&mut br, t0, 20, 10, |_| Failure).unwrap();
            assert_eq!(i, at, "{rule:?}");
        }
        // Busy window: LowTraffic leaves it to the rate rule.
        let (mut br, t1) = warm(cfg(ConsecutiveRule::LowTraffic), 10, t0);
        assert_eq!(
            drive(&mut br, t1, 1, 10, |i| if i < 8 {
                Failure
            } else {
                Success
            }),
            None
        );
    }

    #[test]
    fn breaker_settings_written_before_the_streak_rule_still_load() {
        let old = r#"{"failure_rate_threshold":0.5,"window_ms":30000,"min_calls":10,
            "consecutive_failures":5,"open_base_ms":10000,"open_max_ms":300000,
            "half_open_probes":2}"#;
        let c: BreakerConfig = serde_json::from_str(old).unwrap();
        assert_eq!(c, BreakerConfig::default());
        let c: BreakerConfig = serde_json::from_str(r#"{"consecutive_rule":"fixed"}"#).unwrap();
        assert_eq!(c.consecutive_rule, ConsecutiveRule::Fixed);
    }
}
