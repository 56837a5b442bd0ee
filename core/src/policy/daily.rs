//! When a download document stops being fresh: pypistats (and pepy) publish one more
//! day of data once a day, so a figure stays fresh until the next daily update is due,
//! not for a fixed time after each fetch. Refetching earlier costs the upstream and
//! tells the user nothing new.
//!
//! Pure: it reads no clock; it takes the fetch's wall-clock time and the data's newest
//! day, and returns how long the document stays fresh.

use std::time::{Duration, SystemTime};

use crate::model::{day_start, epoch_day};

/// The daily-update freshness rule of download documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyFreshness {
    /// How long after a day ends (midnight UTC) its data is expected upstream.
    pub publish_delay: Duration,
    /// Never fresh for less than this (a fetch just before the due time).
    pub min_ttl: Duration,
    /// Never fresh for more than this (a newest day in the future, a clock far behind).
    pub max_ttl: Duration,
    /// Past the due time with no new day (the upstream is late): how long before
    /// asking again.
    pub retry: Duration,
}

impl DailyFreshness {
    /// When the upstream's next daily update is due: the day after `newest_day` ends,
    /// plus the publishing delay. A document without dates (pypistats' `recent`) is
    /// due at the first scheduled update after its fetch.
    pub fn next_due(&self, newest_day: Option<i64>, fetched: SystemTime) -> SystemTime {
        match newest_day {
            Some(d) => day_start(d + 2) + self.publish_delay,
            None => {
                let last_update = fetched
                    .checked_sub(self.publish_delay)
                    .map(epoch_day)
                    .unwrap_or(0);
                day_start(last_update + 1) + self.publish_delay
            }
        }
    }

    /// How long a document fetched at `fetched`, whose newest day is `newest_day`,
    /// stays fresh: until the next update is due; when that time has already passed
    /// (the upstream is late: a refetch after the due time brought no new day), the
    /// retry interval; always within `[min_ttl, max_ttl]` (`max_ttl` wins).
    pub fn fresh_for(&self, newest_day: Option<i64>, fetched: SystemTime) -> Duration {
        let due = self.next_due(newest_day, fetched);
        let ttl = due.duration_since(fetched).unwrap_or(self.retry);
        ttl.max(self.min_ttl).min(self.max_ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::days_from_civil;

    const H: u64 = 3600;

    /// The engine's defaults (`cache.downloads_*`).
    fn rule() -> DailyFreshness {
        DailyFreshness {
            publish_delay: Duration::from_secs(2 * H),
            min_ttl: Duration::from_secs(10 * 60),
            max_ttl: Duration::from_secs(24 * H),
            retry: Duration::from_secs(H),
        }
    }

    fn at(y: i64, m: u32, d: u32, hour: u64, min: u64) -> SystemTime {
        day_start(days_from_civil(y, m, d)) + Duration::from_secs(hour * H + min * 60)
    }

    #[test]
    fn a_fetch_within_the_day_stays_fresh_until_the_next_update_is_due() {
        let r = rule();
        let newest = Some(days_from_civil(2026, 11, 29));
        // Fetched 2026-11-30 09:00: 2026-11-30's data is due 2026-12-01 02:00.
        let fetched = at(2026, 11, 30, 9, 0);
        assert_eq!(r.next_due(newest, fetched), at(2026, 12, 1, 2, 0));
        assert_eq!(r.fresh_for(newest, fetched), Duration::from_secs(17 * H));
        // Just before the due time: the floor.
        let late = at(2026, 12, 1, 1, 59);
        assert_eq!(r.fresh_for(newest, late), r.min_ttl);
    }

    #[test]
    fn a_refetch_after_the_due_time_with_the_same_day_backs_off() {
        let r = rule();
        let newest = Some(days_from_civil(2026, 11, 29));
        let after_due = at(2026, 12, 1, 3, 0);
        assert_eq!(r.fresh_for(newest, after_due), r.retry);
        // A lagging upstream (newest day 4 days old) is asked once per retry interval.
        let lagging = Some(days_from_civil(2026, 11, 26));
        assert_eq!(r.fresh_for(lagging, at(2026, 11, 30, 12, 0)), r.retry);
    }

    #[test]
    fn documents_without_dates_are_due_at_the_next_scheduled_update() {
        let r = rule();
        // Fetched 01:00, before that day's update (02:00): due at 02:00 the same day.
        assert_eq!(
            r.next_due(None, at(2026, 11, 30, 1, 0)),
            at(2026, 11, 30, 2, 0)
        );
        assert_eq!(
            r.next_due(None, at(2026, 11, 30, 2, 30)),
            at(2026, 12, 1, 2, 0)
        );
    }

    #[test]
    fn the_bounds_hold_and_the_maximum_wins() {
        let mut r = rule();
        // A newest day in the future (our clock behind): capped.
        let future = Some(days_from_civil(2026, 12, 9));
        assert_eq!(r.fresh_for(future, at(2026, 11, 30, 9, 0)), r.max_ttl);
        r.max_ttl = Duration::from_millis(500);
        assert_eq!(r.fresh_for(None, at(2026, 11, 30, 9, 0)), r.max_ttl);
    }
}
