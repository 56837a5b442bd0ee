//! The supervisor's restart intensity as a pure policy: at most `max_restarts` within a
//! sliding `window`; past that the engine stops (Erlang/OTP's intensity and period).

use std::collections::VecDeque;
use std::time::Duration;

use std::time::Instant;

/// What to do about a crashed child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart it; this is restart number `n` within the window.
    Restart {
        /// Restarts within the window, this one included.
        n: u32,
    },
    /// Too many restarts within the window: stop the engine.
    GiveUp {
        /// Restarts already made within the window.
        within_window: u32,
    },
}

/// Restart intensity: counts restarts in a sliding window.
#[derive(Clone, Debug)]
pub struct RestartIntensity {
    max_restarts: u32,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RestartIntensity {
    /// At most `max_restarts` restarts in any `window`.
    pub fn new(max_restarts: u32, window: Duration) -> Self {
        RestartIntensity {
            max_restarts,
            window,
            recent: VecDeque::new(),
        }
    }

    /// A child crashed at `now`: restart it, or give up.
    pub fn on_crash(&mut self, now: Instant) -> RestartDecision {
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.max_restarts as usize {
            return RestartDecision::GiveUp {
                within_window: self.recent.len() as u32,
            };
        }
        self.recent.push_back(now);
        RestartDecision::Restart {
            n: self.recent.len() as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixth_crash_within_ten_seconds_gives_up() {
        let t0 = Instant::now();
        let mut p = RestartIntensity::new(5, Duration::from_secs(10));
        for i in 0..5 {
            assert_eq!(
                p.on_crash(t0 + Duration::from_secs(i)),
                RestartDecision::Restart { n: i as u32 + 1 }
            );
        }
        assert_eq!(
            p.on_crash(t0 + Duration::from_secs(5)),
            RestartDecision::GiveUp { within_window: 5 }
        );
    }

    #[test]
    fn crashes_spread_wider_than_the_window_always_restart() {
        let t0 = Instant::now();
        let mut p = RestartIntensity::new(2, Duration::from_secs(10));
        for i in 0..20u64 {
            let d = p.on_crash(t0 + Duration::from_secs(6 * i));
            assert!(matches!(d, RestartDecision::Restart { .. }), "{i}: {d:?}");
        }
    }

    #[test]
    fn zero_restarts_allowed_gives_up_at_once() {
        let mut p = RestartIntensity::new(0, Duration::from_secs(10));
        assert_eq!(
            p.on_crash(Instant::now()),
            RestartDecision::GiveUp { within_window: 0 }
        );
    }
}
