//! Calendar days (UTC) and the date of a figure's data.
//!
//! Download figures are about days: pypistats publishes one more day once a day. What a
//! figure says is "the newest day in the upstream's data", not when it was fetched.
//! "Today" comes from the engine's injectable clock (`sentinel_actors::UtcClock`, which
//! reads tokio's clock and so stays in the engine), never from here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Seconds in a day.
pub const DAY_SECS: u64 = 86_400;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; H. Hinnant's algorithm).
pub const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number (days since 1970-01-01).
pub const fn civil_from_days(z: i64) -> (i64, u32, u32) {
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
pub fn epoch_day(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() / DAY_SECS) as i64,
        Err(e) => -(e.duration().as_secs().div_ceil(DAY_SECS) as i64),
    }
}

/// Midnight (UTC) starting a day number.
pub fn day_start(day: i64) -> SystemTime {
    if day >= 0 {
        UNIX_EPOCH + Duration::from_secs(day as u64 * DAY_SECS)
    } else {
        UNIX_EPOCH - Duration::from_secs(day.unsigned_abs() * DAY_SECS)
    }
}

/// `YYYY-MM-DD` of a day number.
pub fn day_string(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A calendar date, `YYYY-MM-DD`, held as one number (`y * 10_000 + m * 100 + d`):
/// ordered like the string, and no allocation per point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Day(u32);

impl Day {
    /// Parses `YYYY-MM-DD` with a plausible month and day.
    pub fn parse(s: &str) -> Option<Day> {
        if !is_date(s) {
            return None;
        }
        let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
        Some(Day(n(0..4)? * 10_000 + n(5..7)? * 100 + n(8..10)?))
    }

    /// Days since 1970-01-01 (for date arithmetic).
    pub fn epoch_day(self) -> i64 {
        days_from_civil(i64::from(self.0 / 10_000), self.0 / 100 % 100, self.0 % 100)
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0 / 10_000,
            self.0 / 100 % 100,
            self.0 % 100
        )
    }
}

/// `YYYY-MM-DD` with a plausible month and day.
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        s.get(r)
            .filter(|x| x.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|x| x.parse::<u32>().ok())
    };
    matches!(
        (num(0..4), num(5..7), num(8..10)),
        (Some(_), Some(1..=12), Some(1..=31))
    )
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
    pub fn new(newest: i64, today: i64) -> Self {
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
}
