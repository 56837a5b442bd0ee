//! Honest estimates: derived only from real observations the engine holds, each with its
//! basis in words and a confidence. No observation, no estimate.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::model::{Confidence, Upstream};
use crate::upstream::{PepyDoc, SeriesDoc};

/// One estimated figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The value.
    pub value: u64,
    /// How it was derived, in words.
    pub basis: String,
    /// How far to trust it.
    pub confidence: Confidence,
    /// The upstream whose data it was derived from.
    pub upstream: Upstream,
    /// Age of that data.
    pub age: Duration,
}

const PERIODS: [(usize, &str); 3] = [
    (1, "last day"),
    (7, "sum of the last 7 days"),
    (30, "sum of the last 30 days"),
];

fn age_words(age: Duration) -> String {
    let h = age.as_secs() / 3600;
    if h < 1 {
        "less than an hour ago".into()
    } else if h < 48 {
        format!("{h} h ago")
    } else {
        format!("{} days ago", h / 24)
    }
}

fn from_daily(
    daily: &[(String, u64)],
    source: &str,
    recorded: &str,
    age: Duration,
    upstream: Upstream,
    confidence: Confidence,
) -> [Option<Estimate>; 3] {
    PERIODS.map(|(n, what)| {
        if daily.len() < n {
            return None;
        }
        let window = &daily[daily.len() - n..];
        let value = window.iter().map(|(_, d)| d).sum();
        let (first, last) = (&window[0].0, &window[n - 1].0);
        let span = if n == 1 {
            last.to_string()
        } else {
            format!("{first} to {last}")
        };
        Some(Estimate {
            value,
            basis: format!(
                "{what} ({span}) of {source} recorded {recorded} ({})",
                age_words(age)
            ),
            confidence,
            upstream,
            age,
        })
    })
}

/// Day, week and month from pypistats' `overall` series (without mirrors, the series
/// `recent` counts). As fresh as the series: high confidence within a day, medium
/// within two, low beyond (the figure has moved on since).
pub fn recent_from_series(s: &SeriesDoc, recorded: &str, age: Duration) -> [Option<Estimate>; 3] {
    from_overall_daily(&s.daily_totals(), recorded, age, false)
}

const OVERALL: &str = "the pypistats overall series (without mirrors)";
const OVERALL_KEPT: &str =
    "the pypistats overall series (without mirrors) kept on disk from an earlier run";
const PEPY: &str = "pepy.tech daily downloads (counted by pepy, not pypistats)";
const PEPY_KEPT: &str =
    "pepy.tech daily downloads kept on disk from an earlier run (counted by pepy, not pypistats)";

fn from_overall_daily(
    daily: &[(String, u64)],
    recorded: &str,
    age: Duration,
    kept: bool,
) -> [Option<Estimate>; 3] {
    let confidence = match age.as_secs() / 86_400 {
        0 => Confidence::High,
        1 => Confidence::Medium,
        _ => Confidence::Low,
    };
    let source = if kept { OVERALL_KEPT } else { OVERALL };
    from_daily(
        daily,
        source,
        recorded,
        age,
        Upstream::Pypistats,
        confidence,
    )
}

/// Day, week and month from pepy.tech's per-day counts: another service counting the
/// same downloads its own way, so medium confidence at best.
pub fn recent_from_pepy(d: &PepyDoc, recorded: &str, age: Duration) -> [Option<Estimate>; 3] {
    from_pepy_daily(&d.daily_totals(), recorded, age, false)
}

fn from_pepy_daily(
    daily: &[(String, u64)],
    recorded: &str,
    age: Duration,
    kept: bool,
) -> [Option<Estimate>; 3] {
    let confidence = if age.as_secs() < 86_400 {
        Confidence::Medium
    } else {
        Confidence::Low
    };
    let source = if kept { PEPY_KEPT } else { PEPY };
    from_daily(daily, source, recorded, age, Upstream::Pepy, confidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    fn series(n: u64) -> SeriesDoc {
        let dates: Vec<String> = (1..=n).map(|d| format!("2026-10-{d:02}")).collect();
        let points = dates.iter().zip(1..=n).flat_map(|(date, d)| {
            [
                ("with_mirrors", date.as_str(), 1000),
                ("without_mirrors", date.as_str(), d),
            ]
        });
        SeriesDoc::from_points("x".into(), "overall_downloads".into(), points).unwrap()
    }

    #[test]
    fn sums_the_without_mirrors_series_and_states_the_basis() {
        let [day, week, month] =
            recent_from_series(&series(31), "2026-11-01", Duration::from_secs(600));
        let (day, week, month) = (day.unwrap(), week.unwrap(), month.unwrap());
        assert_eq!(day.value, 31);
        assert_eq!(week.value, (25..=31).sum::<u64>());
        assert_eq!(month.value, (2..=31).sum::<u64>());
        assert_eq!(week.confidence, Confidence::High);
        assert!(
            week.basis
                .contains("sum of the last 7 days (2026-10-25 to 2026-10-31)"),
            "{}",
            week.basis
        );
        assert!(week.basis.contains("recorded 2026-11-01"));
    }

    #[test]
    fn too_short_a_series_gives_no_estimate_and_old_ones_low_confidence() {
        let [day, week, month] =
            recent_from_series(&series(5), "2026-11-01", Duration::from_secs(3 * 86_400));
        assert_eq!(day.unwrap().confidence, Confidence::Low);
        assert!(week.is_none() && month.is_none());
        assert!(
            recent_from_series(&series(0), "x", Duration::ZERO)
                .iter()
                .all(Option::is_none)
        );
    }
}

/// Estimates of the three `recent` figures (day, week, month); `None` where there is
/// no basis.
pub type RecentEstimates = [Option<Estimate>; 3];

/// A daily series held as a basis for estimates.
#[derive(Debug, Clone, PartialEq)]
pub struct Basis {
    /// `(YYYY-MM-DD, downloads)`, ascending by day.
    pub daily: Vec<(String, u64)>,
    /// When it was fetched (the newest day's fetch, for a series kept on disk).
    pub recorded: SystemTime,
    /// Read back from the store (an earlier run's observation), which the basis says.
    pub kept_on_disk: bool,
}

/// Day, week and month from the observations held: pypistats' `overall` series first
/// (the figures are defined on it), pepy.tech's daily counts next.
pub fn recent_from_held(
    overall: Option<&Basis>,
    pepy: Option<&Basis>,
    now: SystemTime,
) -> RecentEstimates {
    let age = |at: SystemTime| now.duration_since(at).unwrap_or_default();
    let from_series = overall
        .map(|b| from_overall_daily(&b.daily, &ymd(b.recorded), age(b.recorded), b.kept_on_disk));
    let from_pepy =
        pepy.map(|b| from_pepy_daily(&b.daily, &ymd(b.recorded), age(b.recorded), b.kept_on_disk));
    std::array::from_fn(|i| {
        from_series
            .as_ref()
            .and_then(|e| e[i].clone())
            .or_else(|| from_pepy.as_ref().and_then(|e| e[i].clone()))
    })
}

/// `YYYY-MM-DD` (UTC) of a wall-clock time (civil-from-days, H. Hinnant).
pub fn ymd(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod ymd_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ymd_formats_utc_dates() {
        assert_eq!(ymd(SystemTime::UNIX_EPOCH), "1970-01-01");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_478_400); // 2026-11-24
        assert_eq!(ymd(t), "2026-11-24");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(ymd(leap), "2000-02-29");
    }
}
