//! Calendar days (UTC), the engine's notion of "now", and the date of a figure's data.
//!
//! Download figures are about days: pypistats publishes one more day once a day. What a
//! figure says is "the newest day in the upstream's data", not when it was fetched; and
//! "today" comes from one injectable [`UtcClock`], so tests do not depend on the date
//! they run on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Seconds in a day.
pub(crate) const DAY_SECS: u64 = 86_400;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; H. Hinnant's algorithm).
pub(crate) const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number (days since 1970-01-01).
pub(crate) const fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m as u32, d as u32)
}

/// The day number (UTC) of a wall-clock time.
pub(crate) fn epoch_day(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() / DAY_SECS) as i64,
        Err(e) => -(e.duration().as_secs().div_ceil(DAY_SECS) as i64),
    }
}

/// Midnight (UTC) starting a day number.
pub(crate) fn day_start(day: i64) -> SystemTime {
    if day >= 0 {
        UNIX_EPOCH + Duration::from_secs(day as u64 * DAY_SECS)
    } else {
        UNIX_EPOCH - Duration::from_secs(day.unsigned_abs() * DAY_SECS)
    }
}

/// `YYYY-MM-DD` of a day number.
pub(crate) fn day_string(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

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

/// A figure's data is "lagging" when its newest day is more than this many days before
/// today (UTC). pypistats' newest day is normally yesterday, or the day before in the
/// first hour or two after midnight UTC, before its daily update has run.
pub const LAGGING_AFTER_DAYS: u32 = 2;

/// The date of the data a figure came from: the newest day in the upstream's data, and
/// how old that day is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DataAsOf {
    /// The newest day in the upstream's data, `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Whole days from that day to today (UTC), when the answer was made: 1 when the
    /// newest day is yesterday.
    pub age_days: u32,
    /// `age_days` is more than 2: the upstream's data is lagging (its daily update has
    /// not come through).
    pub lagging: bool,
}

impl DataAsOf {
    /// The data date of a figure whose newest day is `newest`, seen on `today` (both day
    /// numbers). A newest day after today (a clock behind the upstream's) is 0 days old.
    pub(crate) fn new(newest: i64, today: i64) -> Self {
        let age_days = (today - newest).clamp(0, i64::from(u32::MAX)) as u32;
        DataAsOf {
            date: day_string(newest),
            age_days,
            lagging: age_days > LAGGING_AFTER_DAYS,
        }
    }

    /// `data as of 2026-11-29`.
    pub fn words(&self) -> String {
        format!("data as of {}", self.date)
    }

    /// When the data is lagging, the sentence that says so, naming the upstream:
    /// `pypistats' data is lagging: its newest day, 2026-11-26, is 4 days old (normally 1)`.
    pub fn lag_words(&self, upstream: &str) -> Option<String> {
        let possessive = if upstream.ends_with('s') { "'" } else { "'s" };
        self.lagging.then(|| {
            format!(
                "{upstream}{possessive} data is lagging: its newest day, {}, is {} days old (normally 1)",
                self.date, self.age_days
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        assert_eq!(day_string(0), "1970-01-01");
        let d = days_from_civil(2026, 11, 24);
        assert_eq!(day_string(d), "2026-11-24");
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(epoch_day(day_start(d) + Duration::from_secs(86_399)), d);
        assert_eq!(epoch_day(day_start(-3) + Duration::from_secs(5)), -3);
    }

    #[test]
    fn lag_of_three_days_is_reported_and_one_day_is_not() {
        let today = days_from_civil(2026, 11, 30);
        let yesterday = DataAsOf::new(today - 1, today);
        assert_eq!(yesterday.date, "2026-11-29");
        assert_eq!(yesterday.words(), "data as of 2026-11-29");
        assert!(!yesterday.lagging && yesterday.lag_words("pypistats").is_none());
        assert!(
            !DataAsOf::new(today - 2, today).lagging,
            "before the daily update"
        );
        let late = DataAsOf::new(today - 3, today);
        assert!(late.lagging);
        assert_eq!(
            late.lag_words("pypistats").unwrap(),
            "pypistats' data is lagging: its newest day, 2026-11-27, is 3 days old (normally 1)"
        );
        assert_eq!(DataAsOf::new(today + 1, today).age_days, 0);
    }

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
