//! The engine's "now in UTC": one injectable clock for everything decided from the
//! calendar. It reads tokio's clock (so a paused clock moves it), which is why it lives
//! here and not with the pure dates in `sentinel_core::model`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use sentinel_core::model::epoch_day;

/// The engine's "now in UTC". Everything the engine decides from the calendar (how old
/// a figure's data is, when pypistats' next daily update is due) asks this clock, never
/// `SystemTime::now()` directly.
///
/// [`UtcClock::system`] (the default) is the machine's clock. [`UtcClock::pinned`] starts
/// at a given time and then moves with tokio's clock, so a test with a paused clock
/// sets the date once and advances it with `tokio::time::advance`. [`UtcClock::driven`]
/// is the machine's clock moved forward by hand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum UtcClock {
    /// The machine's wall clock.
    #[default]
    System,
    /// `wall` at the tokio instant `at`, moving with tokio's clock from there.
    Pinned {
        /// The wall-clock time at `at`.
        wall: SystemTime,
        /// The tokio instant it was pinned at.
        at: Instant,
    },
    /// The machine's clock, plus however far its [`ClockHand`] has moved it.
    Driven(ClockHand),
}

/// Moves a [`UtcClock::driven`] clock forward. Clones move the same clock.
#[derive(Clone, Debug, Default)]
pub struct ClockHand(Arc<AtomicU64>);

impl ClockHand {
    /// Moves the clock forward by `by`, as if that much time had passed: the engine's
    /// calendar reads later, and every document its cache holds is `by` older (past its
    /// freshness if `by` is more than it had left, so the next call revalidates it or
    /// answers it stale). Timeouts, backoff, rate limits and breakers keep real time.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_add(ms))
            });
    }

    /// How far the clock has been moved forward, in total.
    pub fn ahead(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Acquire))
    }
}

impl PartialEq for ClockHand {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ClockHand {}

impl UtcClock {
    /// The machine's clock.
    pub fn system() -> Self {
        UtcClock::System
    }

    /// A clock that reads `wall` now and moves with tokio's clock (for tests and
    /// reproducible demos). Call it inside the runtime whose clock it should follow.
    pub fn pinned(wall: SystemTime) -> Self {
        UtcClock::Pinned {
            wall,
            at: Instant::now(),
        }
    }

    /// The machine's clock, moved forward only by the returned hand: for demos, drills
    /// and replays that show what the engine answers hours later without waiting hours
    /// (`pypi-sentinel demo` runs on one). Give it to [`crate::EngineConfig::clock`].
    pub fn driven() -> (Self, ClockHand) {
        let hand = ClockHand::default();
        (UtcClock::Driven(hand.clone()), hand)
    }

    /// How far a driven clock is ahead of the machine's; zero for the others.
    pub(crate) fn ahead(&self) -> Duration {
        match self {
            UtcClock::Driven(hand) => hand.ahead(),
            _ => Duration::ZERO,
        }
    }

    /// The wall-clock time at the tokio instant `now`.
    pub fn at(&self, now: Instant) -> SystemTime {
        match *self {
            UtcClock::System => {
                let real = Instant::now();
                if now >= real {
                    SystemTime::now() + (now - real)
                } else {
                    SystemTime::now()
                        .checked_sub(real - now)
                        .unwrap_or(UNIX_EPOCH)
                }
            }
            UtcClock::Driven(ref hand) => UtcClock::System.at(now) + hand.ahead(),
            UtcClock::Pinned { wall, at } => {
                if now >= at {
                    wall + (now - at)
                } else {
                    wall.checked_sub(at - now).unwrap_or(UNIX_EPOCH)
                }
            }
        }
    }

    /// Now, on this clock.
    pub fn now(&self) -> SystemTime {
        self.at(Instant::now())
    }

    /// Today's day number (UTC).
    pub(crate) fn today(&self) -> i64 {
        epoch_day(self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentinel_core::model::{DAY_SECS, day_start, days_from_civil};

    #[tokio::test(start_paused = true)]
    async fn a_pinned_clock_moves_with_tokio_time() {
        let start = day_start(days_from_civil(2026, 11, 24)) + Duration::from_secs(23 * 3600);
        let clock = UtcClock::pinned(start);
        assert_eq!(clock.today(), days_from_civil(2026, 11, 24));
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(clock.today(), days_from_civil(2026, 11, 25));
        assert_eq!(clock.now(), start + Duration::from_secs(3600));
    }

    #[test]
    fn a_driven_clock_reads_later_by_what_its_hand_moved() {
        let (clock, hand) = UtcClock::driven();
        let today = clock.today();
        hand.advance(Duration::from_secs(2 * DAY_SECS));
        assert_eq!(clock.ahead(), Duration::from_secs(2 * DAY_SECS));
        assert_eq!(clock.today(), today + 2);
        hand.advance(Duration::MAX);
        assert_eq!(clock.ahead(), Duration::from_millis(u64::MAX), "saturates");
    }
}
