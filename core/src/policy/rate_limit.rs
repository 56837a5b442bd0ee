//! Client-side rate limits as strict sliding windows, on an injected clock (`now`).
//!
//! A strict window never admits more than `n` requests in any window of length `w`,
//! the way pypistats' Flask-Limiter counts ("moving window"). Admissions are
//! *reservations*: a caller that may wait reserves the next free slot (possibly in the
//! future) and sleeps until it, so callers are served first come, first served and a
//! reservation's time is exact. The policy never sleeps; it is driven by `now`.

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

/// A set of strict windows (e.g. 5 per second and 30 per minute) applied together.
#[derive(Clone, Debug)]
pub struct RateLimit {
    windows: Vec<Window>,
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
        RateLimit { windows }
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
        let last = self
            .windows
            .iter()
            .filter_map(|w| w.admitted.back().copied())
            .max()
            .unwrap_or(now);
        // Each window's constraint is a fixed instant (its blocking admission plus the
        // window), so one pass over the windows finds the earliest time all allow.
        self.windows
            .iter()
            .fold(now.max(last), |at, w| w.earliest(at))
    }

    /// Reserves the earliest slot if it is no later than `latest`.
    pub fn reserve(&mut self, now: Instant, latest: Instant) -> Reservation {
        let at = self.next_slot(now);
        if at > latest {
            return Reservation::NotBefore(at);
        }
        for w in &mut self.windows {
            w.admitted.push_back(at);
        }
        Reservation::At(at)
    }

    /// Reserves the earliest slot, however far away (a polite-queue entry).
    pub fn reserve_any(&mut self, now: Instant) -> Instant {
        let at = self.next_slot(now);
        for w in &mut self.windows {
            w.admitted.push_back(at);
        }
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
    }

    /// Whether any limit is set.
    pub fn is_limited(&self) -> bool {
        !self.windows.is_empty()
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
    fn unlimited_always_admits_now() {
        let t0 = Instant::now();
        let mut rl = RateLimit::unlimited();
        for _ in 0..1000 {
            assert_eq!(rl.reserve(t0, t0), Reservation::At(t0));
        }
        assert!(!rl.is_limited());
    }
}
