//! The simulator's calendar: a [`SimDay`] type, and the "today" every generated series
//! is dated against: the real current UTC date by default, or a pinned day (for
//! reproducible tests and demos), changeable at runtime.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::data::pypistats::{date_string, days_from_civil};

/// A calendar day (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDay(i64);

impl SimDay {
    /// The day `y-m-d`, or `None` when it is not a date.
    pub fn ymd(y: i64, m: u32, d: u32) -> Option<SimDay> {
        let day = SimDay(days_from_civil(y, m, d));
        // Round-trip: refuses 2026-02-30 and the like.
        (day.to_string() == format!("{y:04}-{m:02}-{d:02}")).then_some(day)
    }

    /// Today, by the machine's clock (UTC).
    pub fn today_utc() -> SimDay {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        SimDay((secs / 86_400) as i64)
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        self.0
    }

    /// The day `n` days later (earlier when negative).
    pub fn plus_days(self, n: i64) -> SimDay {
        SimDay(self.0 + n)
    }
}

impl fmt::Display for SimDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&date_string(self.0))
    }
}

/// A string that is not a `YYYY-MM-DD` date.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a date: expected YYYY-MM-DD, e.g. 2026-11-24")]
pub struct BadDay(pub String);

impl FromStr for SimDay {
    type Err = BadDay;

    fn from_str(s: &str) -> Result<SimDay, BadDay> {
        let bad = || BadDay(s.chars().take(40).collect());
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| {
            s.get(r)
                .filter(|x| x.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|x| x.parse::<u32>().ok())
        };
        match (num(0..4), num(5..7), num(8..10)) {
            (Some(y), Some(m), Some(d)) => SimDay::ymd(i64::from(y), m, d).ok_or_else(bad),
            _ => Err(bad()),
        }
    }
}

/// No pinned day.
const UNPINNED: i64 = i64::MIN;

/// The simulator's date settings, changeable while it serves.
#[derive(Debug)]
pub(crate) struct Calendar {
    pinned: AtomicI64,
    pypistats_lag_days: AtomicU32,
}

impl Calendar {
    pub(crate) fn new(today: Option<SimDay>, pypistats_lag_days: u32) -> Self {
        Calendar {
            pinned: AtomicI64::new(today.map_or(UNPINNED, |d| d.0)),
            pypistats_lag_days: AtomicU32::new(pypistats_lag_days),
        }
    }

    /// The day series are dated against: the pinned day, else today (UTC).
    pub(crate) fn today(&self) -> SimDay {
        match self.pinned.load(Ordering::Relaxed) {
            UNPINNED => SimDay::today_utc(),
            d => SimDay(d),
        }
    }

    /// The pinned day, if any.
    pub(crate) fn pinned(&self) -> Option<SimDay> {
        match self.pinned.load(Ordering::Relaxed) {
            UNPINNED => None,
            d => Some(SimDay(d)),
        }
    }

    pub(crate) fn pin(&self, day: Option<SimDay>) {
        self.pinned
            .store(day.map_or(UNPINNED, |d| d.0), Ordering::Relaxed);
    }

    pub(crate) fn pypistats_lag_days(&self) -> u32 {
        self.pypistats_lag_days.load(Ordering::Relaxed)
    }

    pub(crate) fn set_pypistats_lag_days(&self, n: u32) {
        self.pypistats_lag_days.store(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_and_print() {
        let d: SimDay = "2026-11-24".parse().unwrap();
        assert_eq!(d.to_string(), "2026-11-24");
        assert_eq!(d.plus_days(7).to_string(), "2026-12-01");
        assert!("2026-02-30".parse::<SimDay>().is_err());
        assert!("yesterday".parse::<SimDay>().is_err());
        assert!("2026-1-01".parse::<SimDay>().is_err());
    }

    #[test]
    fn unpinned_is_today_and_pins_change_at_runtime() {
        let c = Calendar::new(None, 0);
        assert_eq!(c.today(), SimDay::today_utc());
        let d: SimDay = "2026-11-24".parse().unwrap();
        c.pin(Some(d));
        assert_eq!(c.today(), d);
        assert_eq!(c.pinned(), Some(d));
        c.pin(None);
        assert_eq!(c.pinned(), None);
    }
}
