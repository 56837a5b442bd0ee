//! Client-side rate limits as strict sliding windows, on an injected clock (`now`).
//!
//! A strict window never admits more than `n` requests in any window of length `w`,
//! the way pypistats' Flask-Limiter counts ("moving window"). Admissions are
//! *reservations*: a caller that may wait reserves the next free slot (possibly in the
//! future) and sleeps until it, so callers are served first come, first served and a
//! reservation's time is exact. The policy never sleeps; it is driven by `now`.
//!
//! For a CDN-served upstream with no published limit, the per-second quota may instead
//! be a sustained rate with a burst allowance ([`RateLimit::with_burst`]): a token
//! bucket (GCRA), so a resolution's first few hundred requests go at once and a long
//! crawl still averages the sustained rate.

use std::collections::VecDeque;
use std::time::Duration;

use std::time::Instant;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
/// How much longer our windows are than the server's.
const JITTER_MARGIN: f64 = 1.02;

/// One window: at most `limit` admissions in any `window`.
#[derive(Clone, Debug)]
struct Window {
    limit: usize,
    window: Duration,
    /// Admission times (past and reserved), non-decreasing.
    admitted: VecDeque<Instant>,
}

impl Window {
    fn prune(&mut self, now: Instant) {
        while self
            .admitted
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            self.admitted.pop_front();
        }
    }

    /// The earliest time at or after `at` when one more admission keeps the window
    /// within its limit, given the admissions already recorded.
    fn earliest(&self, at: Instant) -> Instant {
        let len = self.admitted.len();
        if len < self.limit {
            return at;
        }
        // The admission `limit` places back must have left the window.
        let blocking = self.admitted[len - self.limit];
        at.max(blocking + self.window)
    }
}

/// A sustained rate with a burst allowance, as a GCRA: admissions are spaced
/// `interval` apart on average, and up to `burst` may come at once.
#[derive(Clone, Debug)]
struct Bucket {
    interval: Duration,
    /// How far ahead of `now` the theoretical arrival time may run: `(burst - 1)` intervals.
    tolerance: Duration,
    /// The theoretical arrival time of the next admission; `None` before the first.
    tat: Option<Instant>,
    /// The latest admission and the `tat` before it, so it can be taken back.
    undo: Option<(Instant, Option<Instant>)>,
}

impl Bucket {
    fn earliest(&self, at: Instant) -> Instant {
        match self.tat.and_then(|t| t.checked_sub(self.tolerance)) {
            Some(allowed) => at.max(allowed),
            None => at,
        }
    }

    fn admit(&mut self, at: Instant) {
        let before = self.tat;
        self.tat = Some(before.map_or(at, |t| t.max(at)) + self.interval);
        self.undo = Some((at, before));
    }

    fn cancel(&mut self, at: Instant) {
        if let Some((last, before)) = self.undo
            && last == at
        {
            self.tat = before;
            self.undo = None;
        }
    }
}

/// A set of strict windows (e.g. 5 per second and 30 per minute) applied together,
/// and optionally a sustained rate with a burst allowance.
#[derive(Clone, Debug)]
pub struct RateLimit {
    windows: Vec<Window>,
    bucket: Option<Bucket>,
    /// The latest reservation handed out: a new one never precedes it.
    last: Option<Instant>,
}

/// What a reservation decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// A slot is reserved at this instant (now or later, never past the caller's limit).
    At(Instant),
    /// No slot before the caller's limit; the next one is at this instant (nothing was
    /// reserved).
    NotBefore(Instant),
}

impl RateLimit {
    /// No limit at all.
    pub fn unlimited() -> Self {
        RateLimit {
            windows: Vec::new(),
            bucket: None,
            last: None,
        }
    }

    /// `per_second` in any second, and `per_minute` in any minute when given. Each
    /// window is kept 2 % longer than the server's, so that network jitter (an early
    /// request arriving late) never makes the server count one too many.
    pub fn new(per_second: u32, per_minute: Option<u32>) -> Self {
        let mut windows = vec![Window {
            limit: per_second.max(1) as usize,
            window: SECOND.mul_f64(JITTER_MARGIN),
            admitted: VecDeque::new(),
        }];
        if let Some(m) = per_minute {
            windows.push(Window {
                limit: m.max(1) as usize,
                window: MINUTE.mul_f64(JITTER_MARGIN),
                admitted: VecDeque::new(),
            });
        }
        RateLimit {
            windows,
            bucket: None,
            last: None,
        }
    }

    /// `per_second` sustained, with bursts of up to `burst` at once (a token bucket
    /// that refills one slot every `1/per_second`, kept 2 % slower like the windows),
    /// and `per_minute` in any minute when given.
    pub fn with_burst(per_second: u32, burst: u32, per_minute: Option<u32>) -> Self {
        let mut rl = RateLimit::new(per_second, per_minute);
        // The per-second window gives way to the bucket.
        rl.windows.remove(0);
        let interval = SECOND.mul_f64(JITTER_MARGIN) / per_second.max(1);
        rl.bucket = Some(Bucket {
            interval,
            tolerance: interval * burst.max(1).saturating_sub(1),
            tat: None,
            undo: None,
        });
        rl
    }

    /// Strict windows given as they are (`limit` in any `window`; no margin added):
    /// a fleet replica's fair share of a quota, whose windows are already stretched.
    pub fn from_windows(windows: &[(u32, Duration)]) -> Self {
        RateLimit {
            windows: windows
                .iter()
                .map(|(limit, window)| Window {
                    limit: (*limit).max(1) as usize,
                    window: *window,
                    admitted: VecDeque::new(),
                })
                .collect(),
            bucket: None,
            last: None,
        }
    }

    /// The strict windows (`limit`, window with its margin), without a burst bucket.
    pub fn windows(&self) -> Vec<(u32, Duration)> {
        self.windows
            .iter()
            .map(|w| (w.limit as u32, w.window))
            .collect()
    }

    /// Whether a sustained rate with bursts (not strict windows alone) limits it.
    pub fn has_burst(&self) -> bool {
        self.bucket.is_some()
    }

    /// The earliest slot at or after `now`, without reserving it.
    pub fn next_slot(&mut self, now: Instant) -> Instant {
        for w in &mut self.windows {
            w.prune(now);
        }
        self.earliest_from(now)
    }

    fn earliest_from(&self, now: Instant) -> Instant {
        // Reservations are handed out in order, so a new one never precedes the last.
        let last = self.last.unwrap_or(now);
        // Each constraint is a fixed instant (a window's blocking admission plus the
        // window; the bucket's allowance), so one pass finds the earliest time all allow.
        let at = self
            .windows
            .iter()
            .fold(now.max(last), |at, w| w.earliest(at));
        self.bucket.as_ref().map_or(at, |b| b.earliest(at))
    }

    fn admit(&mut self, at: Instant) {
        for w in &mut self.windows {
            w.admitted.push_back(at);
        }
        if let Some(b) = &mut self.bucket {
            b.admit(at);
        }
        self.last = Some(at);
    }

    /// Reserves the earliest slot if it is no later than `latest`.
    pub fn reserve(&mut self, now: Instant, latest: Instant) -> Reservation {
        let at = self.next_slot(now);
        if at > latest {
            return Reservation::NotBefore(at);
        }
        self.admit(at);
        Reservation::At(at)
    }

    /// Reserves the earliest slot, however far away (a polite-queue entry).
    pub fn reserve_any(&mut self, now: Instant) -> Instant {
        let at = self.next_slot(now);
        self.admit(at);
        at
    }

    /// Takes back the most recent reservation made at `at` (a caller that gave up
    /// before using it), so the slot is not wasted. Only the latest reservation can be
    /// returned; earlier ones are kept (the upstream may already have seen them).
    pub fn cancel(&mut self, at: Instant) {
        for w in &mut self.windows {
            if w.admitted.back() == Some(&at) {
                w.admitted.pop_back();
            }
        }
        if let Some(b) = &mut self.bucket {
            b.cancel(at);
        }
        if self.last == Some(at) {
            // The order only needs the latest kept admission (or none).
            self.last = self
                .windows
                .iter()
                .filter_map(|w| w.admitted.back().copied())
                .max();
        }
    }

    /// Whether any limit is set.
    pub fn is_limited(&self) -> bool {
        !self.windows.is_empty() || self.bucket.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// How many admissions fall in the busiest window of length `w`.
    fn busiest(times: &[Instant], w: Duration) -> usize {
        times
            .iter()
            .map(|s| times.iter().filter(|t| **t >= *s && **t < *s + w).count())
            .max()
            .unwrap_or(0)
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s * JITTER_MARGIN)
    }

    #[test]
    fn pypistats_limits_hold_in_every_sliding_window() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(5, Some(30));
        let times: Vec<Instant> = (0..100).map(|_| rl.reserve_any(t0)).collect();
        assert_eq!(busiest(&times, secs(1.0)), 5);
        assert_eq!(busiest(&times, secs(60.0)), 30);
        // First 5 now, the next 5 a second later, ..., the 31st a minute after the first.
        assert_eq!(times[4], t0);
        assert_eq!(times[5], t0 + secs(1.0));
        assert_eq!(times[30], t0 + secs(60.0));
        assert!(times.windows(2).all(|p| p[0] <= p[1]), "in order");
    }

    #[test]
    fn reserve_refuses_past_the_callers_limit_and_reserves_nothing() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(1, Some(5));
        for i in 0..5 {
            assert_eq!(
                rl.reserve(t0, t0 + Duration::from_secs(10)),
                Reservation::At(t0 + secs(1.0) * i)
            );
        }
        // The 6th would be a minute after the first: past a 2 s budget.
        let r = rl.reserve(t0 + ms(10), t0 + ms(2010));
        assert_eq!(r, Reservation::NotBefore(t0 + secs(60.0)));
        // Nothing was taken: the same question gives the same answer.
        assert_eq!(rl.next_slot(t0 + ms(10)), t0 + secs(60.0));
    }

    #[test]
    fn slots_free_up_as_the_window_slides() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(2, None);
        rl.reserve_any(t0);
        rl.reserve_any(t0 + ms(400));
        assert_eq!(rl.next_slot(t0 + ms(500)), t0 + ms(1020));
        assert_eq!(rl.next_slot(t0 + ms(1020)), t0 + ms(1020));
        assert_eq!(
            rl.reserve(t0 + ms(1020), t0 + ms(1020)),
            Reservation::At(t0 + ms(1020))
        );
        assert_eq!(rl.next_slot(t0 + ms(1020)), t0 + ms(1420));
    }

    #[test]
    fn a_cancelled_reservation_gives_its_slot_back() {
        let t0 = Instant::now();
        let mut rl = RateLimit::new(1, None);
        let a = rl.reserve_any(t0);
        let b = rl.reserve_any(t0);
        assert_eq!(b, t0 + secs(1.0));
        rl.cancel(b);
        assert_eq!(rl.next_slot(t0), t0 + secs(1.0));
        assert_eq!(a, t0);
    }

    #[test]
    fn a_burst_goes_at_once_then_the_sustained_rate_holds() {
        let t0 = Instant::now();
        let mut rl = RateLimit::with_burst(50, 200, None);
        let times: Vec<Instant> = (0..400).map(|_| rl.reserve_any(t0)).collect();
        // The first 200 at once; each later one a sustained interval after the last.
        assert!(times[..200].iter().all(|t| *t == t0));
        let interval = secs(1.0) / 50;
        assert_eq!(times[200], t0 + interval);
        assert_eq!(times[399], t0 + interval * 200);
        // Over any long stretch the average stays at the sustained rate (plus the burst).
        assert!(busiest(&times, secs(2.0)) <= 200 + 100);
        assert!(times.windows(2).all(|p| p[0] <= p[1]), "in order");
    }

    #[test]
    fn an_idle_bucket_refills_at_the_sustained_rate_and_no_further() {
        let t0 = Instant::now();
        let mut rl = RateLimit::with_burst(10, 5, None);
        for _ in 0..5 {
            assert_eq!(rl.reserve(t0, t0), Reservation::At(t0));
        }
        let interval = secs(1.0) / 10;
        // Spent: the next slot is one interval later, and nothing is reserved past the limit.
        assert_eq!(rl.reserve(t0, t0), Reservation::NotBefore(t0 + interval));
        // Two intervals later two slots are back.
        let t1 = t0 + interval * 2;
        assert_eq!(rl.reserve(t1, t1), Reservation::At(t1));
        assert_eq!(rl.reserve(t1, t1), Reservation::At(t1));
        assert_eq!(rl.reserve(t1, t1), Reservation::NotBefore(t1 + interval));
        // A long idle time refills the burst, never more.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..5 {
            assert_eq!(rl.reserve(t2, t2), Reservation::At(t2));
        }
        assert!(matches!(rl.reserve(t2, t2), Reservation::NotBefore(_)));
    }

    #[test]
    fn a_burst_still_obeys_the_per_minute_window() {
        let t0 = Instant::now();
        let mut rl = RateLimit::with_burst(10, 100, Some(30));
        let times: Vec<Instant> = (0..31).map(|_| rl.reserve_any(t0)).collect();
        assert!(times[..30].iter().all(|t| *t == t0));
        assert_eq!(times[30], t0 + secs(60.0));
    }

    #[test]
    fn a_cancelled_burst_reservation_gives_its_slot_back() {
        let t0 = Instant::now();
        let mut rl = RateLimit::with_burst(1, 2, None);
        rl.reserve_any(t0);
        let b = rl.reserve_any(t0);
        assert_eq!(b, t0);
        rl.cancel(b);
        assert_eq!(rl.reserve(t0, t0), Reservation::At(t0));
        assert!(rl.is_limited());
    }

    #[test]
    fn unlimited_always_admits_now() {
        let t0 = Instant::now();
        let mut rl = RateLimit::unlimited();
        for _ in 0..1000 {
            assert_eq!(rl.reserve(t0, t0), Reservation::At(t0));
        }
        assert!(!rl.is_limited());
    }
}
