//! Honest estimates: derived only from real observations the engine holds, each with its
//! basis in words and a confidence. No observation, no estimate.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::model::{Confidence, Upstream, ago_words, day_string};
use crate::upstream::Day;
use crate::views::calibration::Calibration;

/// One estimated figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The value.
    pub value: u64,
    /// How it was derived, in words (the data's date included).
    pub basis: String,
    /// How far to trust it: it drops as the basis' newest day gets older.
    pub confidence: Confidence,
    /// The upstream whose data it was derived from.
    pub upstream: Upstream,
    /// Age of that data's fetch.
    pub age: Duration,
    /// The newest day of the basis (days since 1970-01-01): the estimate's data date.
    pub data_date: Option<i64>,
}

const PERIODS: [(usize, &str); 3] = [
    (1, "last day"),
    (7, "sum of the last 7 days"),
    (30, "sum of the last 30 days"),
];

fn days_old(n: i64) -> String {
    match n {
        ..=0 => "today".into(),
        1 => "1 day old".into(),
        n => format!("{n} days old"),
    }
}

/// What the estimates of one basis share.
struct Source<'a> {
    words: &'a str,
    recorded: &'a str,
    age: Duration,
    upstream: Upstream,
    /// Confidence by the age in days of the basis' newest day.
    confidence: &'a dyn Fn(Option<i64>) -> Confidence,
    /// pepy's sums scaled by the package's learned pypistats / pepy ratio.
    scale: Option<Calibration>,
}

/// One window of a [`RollingSums`]: its first and last day (days since 1970-01-01)
/// and the downloads summed over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The window's first day.
    pub first_day: i64,
    /// The window's last day (the series' newest).
    pub last_day: i64,
    /// Downloads over the window.
    pub sum: u64,
}

/// What the estimates need of a daily series, and all the EstimatorActor remembers of
/// one: the last day, 7 and 30 days summed, with their dates (112 bytes, where
/// the series itself is a few kilobytes). Estimates are always made from these, so a
/// series held whole and one remembered as sums give the same figures and words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollingSums {
    /// The newest day of the series, when its dates parse.
    pub newest_day: Option<i64>,
    /// Last day, last 7 days, last 30 days: `None` when the series is shorter.
    pub windows: [Option<Window>; 3],
}

impl RollingSums {
    /// The sums of `daily` (ascending by day, `YYYY-MM-DD`).
    pub fn of(daily: &[(String, u64)]) -> RollingSums {
        let day = |s: &str| Day::parse(s).map(Day::epoch_day);
        let newest_day = daily.last().and_then(|(d, _)| day(d));
        let windows = PERIODS.map(|(n, _)| {
            let window = daily.get(daily.len().checked_sub(n)?..)?;
            Some(Window {
                first_day: day(&window[0].0)?,
                last_day: day(&window[n - 1].0)?,
                sum: window.iter().map(|(_, d)| d).sum(),
            })
        });
        RollingSums {
            newest_day,
            windows,
        }
    }

    /// Whether the series covered all 30 days (pepy is then not needed for the month).
    pub fn has_month(&self) -> bool {
        self.windows[2].is_some()
    }
}

fn from_sums(sums: &RollingSums, src: &Source<'_>, today: i64) -> [Option<Estimate>; 3] {
    let newest = sums.newest_day;
    let data_age = newest.map(|d| today - d);
    let confidence = (src.confidence)(data_age);
    let as_of = match (newest, data_age) {
        (Some(d), Some(a)) => format!("data as of {} ({})", day_string(d), days_old(a)),
        _ => "data date unknown".into(),
    };
    std::array::from_fn(|i| {
        let (n, what) = PERIODS[i];
        let w = sums.windows[i]?;
        let value = src.scale.map_or(w.sum, |c| c.scale(w.sum));
        let span = if n == 1 {
            day_string(w.last_day)
        } else {
            format!("{} to {}", day_string(w.first_day), day_string(w.last_day))
        };
        Some(Estimate {
            value,
            basis: format!(
                "{what} ({span}) of {}, {as_of}, recorded {} ({})",
                src.words,
                src.recorded,
                ago_words(src.age)
            ),
            confidence,
            upstream: src.upstream,
            age: src.age,
            data_date: newest,
        })
    })
}

const OVERALL: &str = "the pypistats overall series (without mirrors)";
const OVERALL_KEPT: &str =
    "the pypistats overall series (without mirrors) kept on disk from an earlier run";
const OVERALL_REMEMBERED: &str = "the pypistats overall series (without mirrors) as the estimator remembers it (rolling sums; the series itself is no longer held)";
const PEPY: &str = "pepy.tech daily downloads (counted by pepy, not pypistats)";
const PEPY_KEPT: &str =
    "pepy.tech daily downloads kept on disk from an earlier run (counted by pepy, not pypistats)";
const PEPY_REMEMBERED: &str = "pepy.tech daily downloads as the estimator remembers them (rolling sums; the series itself is no longer held; counted by pepy, not pypistats)";

/// pypistats' own series (the figures are defined on it): high confidence while its
/// newest day is yesterday (the figure is exact), medium a day later, low beyond (the
/// figure has moved on since). By the age of the data, not of the fetch.
fn overall_confidence(data_age_days: Option<i64>) -> Confidence {
    match data_age_days {
        Some(..=1) => Confidence::High,
        Some(2) => Confidence::Medium,
        _ => Confidence::Low,
    }
}

/// pepy.tech scaled by the package's own ratio: the calibration's fit, lowered as the
/// data gets older, as for pypistats' own series.
fn calibrated_confidence(c: &Calibration, data_age_days: Option<i64>) -> Confidence {
    c.fit().min(overall_confidence(data_age_days))
}

/// The words of a pepy basis scaled by `c`.
fn calibrated_words(pepy_words: &str, package: &str, c: &Calibration) -> String {
    format!(
        "{pepy_words} \u{d7} {:.2}, the ratio of pypistats (without mirrors) to pepy seen for {package} over {} days ({} to {})",
        c.ratio,
        c.days,
        day_string(c.first_day),
        day_string(c.last_day)
    )
}

/// pepy.tech counts the same downloads its own way: medium confidence at best.
fn pepy_confidence(data_age_days: Option<i64>) -> Confidence {
    match data_age_days {
        Some(..=1) => Confidence::Medium,
        _ => Confidence::Low,
    }
}

/// Estimates of the three `recent` figures (day, week, month); `None` where there is
/// no basis.
pub type RecentEstimates = [Option<Estimate>; 3];

/// Where the series behind a basis was found, which the basis says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// In the shared cache (fetched by this run).
    Cache,
    /// Read back from the store (an earlier run's observation).
    Store,
    /// Only as the EstimatorActor's rolling sums: the series itself was evicted from
    /// the cache and the store has none (off, degraded or pruned).
    Estimator,
}

/// A daily series held as a basis for estimates, as its rolling sums.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Basis {
    /// The series' last day, week and month.
    pub sums: RollingSums,
    /// When it was fetched (the newest day's fetch, for a series kept on disk).
    pub recorded: SystemTime,
    /// Where it was found.
    pub held: Held,
}

impl Basis {
    /// The basis of a whole daily series (`(YYYY-MM-DD, downloads)`, ascending).
    pub fn of_daily(daily: &[(String, u64)], recorded: SystemTime, held: Held) -> Basis {
        Basis {
            sums: RollingSums::of(daily),
            recorded,
            held,
        }
    }
}

/// A package's learned pypistats / pepy ratio, for scaling estimates from pepy.
#[derive(Debug, Clone, Copy)]
pub struct Calibrated<'a> {
    /// The package, named in the basis.
    pub package: &'a str,
    /// Its calibration.
    pub calibration: Calibration,
}

/// Day, week and month from the observations held: pypistats' `overall` series first
/// (the figures are defined on it), pepy.tech's daily counts next. `now` is the
/// engine's clock: the confidence follows how old each basis' newest day is today.
///
/// With the package's calibration, pepy's sums are scaled by its ratio and the basis
/// says so; such a pepy basis comes first when its newest day is newer than the
/// `overall` series held (pypistats lags or is down for days). Without one, pepy's
/// counts are given as they are.
pub fn recent_from_held(
    overall: Option<&Basis>,
    pepy: Option<&Basis>,
    calibrated: Option<Calibrated<'_>>,
    now: SystemTime,
) -> RecentEstimates {
    let today = crate::model::epoch_day(now);
    let estimate = |b: &Basis, pepy: bool| {
        let recorded = ymd(b.recorded);
        let words = match (pepy, b.held) {
            (false, Held::Cache) => OVERALL,
            (false, Held::Store) => OVERALL_KEPT,
            (false, Held::Estimator) => OVERALL_REMEMBERED,
            (true, Held::Cache) => PEPY,
            (true, Held::Store) => PEPY_KEPT,
            (true, Held::Estimator) => PEPY_REMEMBERED,
        };
        let cal = calibrated.filter(|_| pepy);
        let scaled_words = cal.map(|c| calibrated_words(words, c.package, &c.calibration));
        let scaled_confidence = |age: Option<i64>| {
            cal.map_or(Confidence::Low, |c| {
                calibrated_confidence(&c.calibration, age)
            })
        };
        let src = Source {
            words: scaled_words.as_deref().unwrap_or(words),
            recorded: &recorded,
            age: now.duration_since(b.recorded).unwrap_or_default(),
            upstream: if pepy {
                Upstream::Pepy
            } else {
                Upstream::Pypistats
            },
            confidence: match (pepy, cal.is_some()) {
                (false, _) => &overall_confidence,
                (true, false) => &pepy_confidence,
                (true, true) => &scaled_confidence,
            },
            scale: cal.map(|c| c.calibration),
        };
        from_sums(&b.sums, &src, today)
    };
    let from_series = overall.map(|b| estimate(b, false));
    let from_pepy = pepy.map(|b| estimate(b, true));
    let pepy_first = calibrated.is_some()
        && match (overall, pepy) {
            (Some(o), Some(p)) => newest_day(p) > newest_day(o),
            _ => false,
        };
    let (first, second) = if pepy_first {
        (from_pepy, from_series)
    } else {
        (from_series, from_pepy)
    };
    std::array::from_fn(|i| {
        first
            .as_ref()
            .and_then(|e| e[i].clone())
            .or_else(|| second.as_ref().and_then(|e| e[i].clone()))
    })
}

/// The newest day of a basis (days since 1970-01-01).
pub fn newest_day(b: &Basis) -> Option<i64> {
    b.sums.newest_day
}

/// `YYYY-MM-DD` (UTC) of a wall-clock time.
pub fn ymd(t: SystemTime) -> String {
    crate::model::day_string(crate::model::epoch_day(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{day_start, days_from_civil};

    /// A basis of `n` days ending on `last` (day number), the i-th day's count being i.
    fn basis(n: u64, last: i64, recorded: SystemTime) -> Basis {
        let daily: Vec<(String, u64)> = (1..=n)
            .map(|i| (crate::model::day_string(last - (n - i) as i64), i))
            .collect();
        Basis::of_daily(&daily, recorded, Held::Cache)
    }

    fn noon(day: i64) -> SystemTime {
        day_start(day) + Duration::from_secs(12 * 3600)
    }

    #[test]
    fn sums_the_series_and_the_basis_states_the_data_date() {
        let today = days_from_civil(2026, 11, 24);
        let b = basis(31, today - 1, noon(today) - Duration::from_secs(600));
        let [day, week, month] = recent_from_held(Some(&b), None, None, noon(today));
        let (day, week, month) = (day.unwrap(), week.unwrap(), month.unwrap());
        assert_eq!(day.value, 31);
        assert_eq!(week.value, (25..=31).sum::<u64>());
        assert_eq!(month.value, (2..=31).sum::<u64>());
        assert_eq!(week.confidence, Confidence::High);
        assert_eq!(week.data_date, Some(today - 1));
        assert!(
            week.basis.contains(
                "sum of the last 7 days (2026-11-17 to 2026-11-23) of the pypistats overall series (without mirrors), data as of 2026-11-23 (1 day old), recorded 2026-11-24"
            ),
            "{}",
            week.basis
        );
    }

    #[test]
    fn confidence_drops_with_the_age_of_the_data_not_of_the_fetch() {
        let today = days_from_civil(2026, 11, 24);
        // Fetched a minute ago in every case: only the newest day differs.
        let fetched = noon(today) - Duration::from_secs(60);
        let conf = |newest: i64| {
            let b = basis(10, newest, fetched);
            recent_from_held(Some(&b), None, None, noon(today))[1]
                .as_ref()
                .unwrap()
                .confidence
        };
        assert_eq!(conf(today - 1), Confidence::High);
        assert_eq!(conf(today - 2), Confidence::Medium);
        assert_eq!(conf(today - 5), Confidence::Low);
        // An old fetch of yesterday's data (fetched 3 days ago, impossible in practice
        // but what the old rule looked at) does not lower it.
        let old_fetch = basis(10, today - 1, noon(today - 3));
        assert_eq!(
            recent_from_held(Some(&old_fetch), None, None, noon(today))[0]
                .as_ref()
                .unwrap()
                .confidence,
            Confidence::High
        );
        // pepy: medium at best, low once its data is old.
        let p = basis(10, today - 1, fetched);
        assert_eq!(
            recent_from_held(None, Some(&p), None, noon(today))[0]
                .as_ref()
                .unwrap()
                .confidence,
            Confidence::Medium
        );
        let p = basis(10, today - 3, fetched);
        assert_eq!(
            recent_from_held(None, Some(&p), None, noon(today))[0]
                .as_ref()
                .unwrap()
                .confidence,
            Confidence::Low
        );
    }

    #[test]
    fn remembered_sums_give_the_series_figures_and_say_where_they_came_from() {
        let today = days_from_civil(2026, 11, 24);
        let whole = basis(45, today - 1, noon(today) - Duration::from_secs(3600));
        let remembered = Basis {
            held: Held::Estimator,
            ..whole
        };
        let from_series = recent_from_held(Some(&whole), None, None, noon(today));
        let from_sums = recent_from_held(Some(&remembered), None, None, noon(today));
        for (a, b) in from_series.iter().zip(&from_sums) {
            let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
            assert_eq!(
                (a.value, a.confidence, a.data_date),
                (b.value, b.confidence, b.data_date)
            );
        }
        assert_eq!(from_sums[2].as_ref().unwrap().value, (16..=45).sum::<u64>());
        let words = &from_sums[1].as_ref().unwrap().basis;
        assert!(
            words.contains("2026-11-17 to 2026-11-23")
                && words.contains("as the estimator remembers it (rolling sums"),
            "{words}"
        );
        // The sums are all that is kept: a few dozen bytes, whatever the series' length.
        assert!(std::mem::size_of::<RollingSums>() <= 128);
    }

    #[test]
    fn a_series_with_a_day_that_does_not_parse_gives_no_window_over_it() {
        let daily = vec![("2026-11-22".to_owned(), 5), ("not a day".to_owned(), 7)];
        let sums = RollingSums::of(&daily);
        assert_eq!(sums.newest_day, None);
        assert!(sums.windows.iter().all(Option::is_none));
    }

    #[test]
    fn too_short_a_series_gives_no_estimate() {
        let today = days_from_civil(2026, 11, 24);
        let b = basis(5, today - 1, noon(today));
        let [day, week, month] = recent_from_held(Some(&b), None, None, noon(today));
        assert!(day.is_some() && week.is_none() && month.is_none());
        let empty = basis(0, today - 1, noon(today));
        assert!(
            recent_from_held(Some(&empty), None, None, noon(today))
                .iter()
                .all(Option::is_none)
        );
    }
}

#[cfg(test)]
mod calibrated_tests {
    use super::*;
    use crate::model::{day_start, days_from_civil};
    use crate::views::calibration::calibrate;

    fn flat(n: i64, last: i64, per_day: u64) -> Vec<(String, u64)> {
        (0..n)
            .map(|i| (day_string(last - n + 1 + i), per_day))
            .collect()
    }

    fn held(daily: &[(String, u64)], recorded: SystemTime) -> Basis {
        Basis::of_daily(daily, recorded, Held::Cache)
    }

    #[test]
    fn a_pepy_estimate_is_scaled_by_the_learned_ratio_and_says_so() {
        let today = days_from_civil(2026, 11, 24);
        let now = day_start(today) + Duration::from_secs(12 * 3600);
        let cal = calibrate(&flat(60, today - 4, 930), &flat(60, today - 4, 1_000)).unwrap();
        let pepy = held(&flat(90, today - 1, 2_000), now);
        let calibrated = Calibrated {
            package: "numpy",
            calibration: cal,
        };
        let [day, week, month] = recent_from_held(None, Some(&pepy), Some(calibrated), now);
        let (day, week, month) = (day.unwrap(), week.unwrap(), month.unwrap());
        assert_eq!(day.value, 1_860);
        assert_eq!(week.value, 13_020);
        assert_eq!(month.value, 55_800);
        assert_eq!(month.upstream, Upstream::Pepy);
        assert_eq!(month.confidence, Confidence::High);
        assert!(
            month.basis.starts_with(
                "sum of the last 30 days (2026-10-25 to 2026-11-23) of pepy.tech daily downloads (counted by pepy, not pypistats) \u{d7} 0.93, the ratio of pypistats (without mirrors) to pepy seen for numpy over 30 days (2026-10-22 to 2026-11-20), data as of 2026-11-23 (1 day old), recorded 2026-11-24 (0 s ago)"
            ),
            "{}",
            month.basis
        );
        // Older data lowers a strong fit as it lowers pypistats' own series.
        let old = held(&flat(90, today - 3, 2_000), now);
        let e = recent_from_held(None, Some(&old), Some(calibrated), now);
        assert_eq!(e[1].as_ref().unwrap().confidence, Confidence::Low);
    }

    #[test]
    fn without_a_calibration_a_pepy_estimate_is_unscaled_and_worded_as_before() {
        let today = days_from_civil(2026, 11, 24);
        let now = day_start(today) + Duration::from_secs(12 * 3600);
        let pepy = held(&flat(90, today - 1, 2_000), now);
        let [_, week, _] = recent_from_held(None, Some(&pepy), None, now);
        let week = week.unwrap();
        assert_eq!(week.value, 14_000);
        assert_eq!(week.confidence, Confidence::Medium);
        assert_eq!(
            week.basis,
            "sum of the last 7 days (2026-11-17 to 2026-11-23) of pepy.tech daily downloads (counted by pepy, not pypistats), data as of 2026-11-23 (1 day old), recorded 2026-11-24 (0 s ago)"
        );
    }

    #[test]
    fn a_calibrated_pepy_newer_than_the_lagging_overall_series_comes_first() {
        let today = days_from_civil(2026, 11, 24);
        let now = day_start(today) + Duration::from_secs(12 * 3600);
        let (overall_daily, pepy_daily) = (flat(180, today - 4, 930), flat(90, today - 1, 1_000));
        let overall = held(&overall_daily, now);
        let pepy = held(&pepy_daily, now);
        let cal = calibrate(&overall_daily, &pepy_daily).unwrap();
        let calibrated = Calibrated {
            package: "numpy",
            calibration: cal,
        };
        let with = recent_from_held(Some(&overall), Some(&pepy), Some(calibrated), now);
        assert_eq!(with[0].as_ref().unwrap().upstream, Upstream::Pepy);
        assert_eq!(with[0].as_ref().unwrap().data_date, Some(today - 1));
        // Without it, pypistats' own series comes first, as it always did.
        let without = recent_from_held(Some(&overall), Some(&pepy), None, now);
        assert_eq!(without[0].as_ref().unwrap().upstream, Upstream::Pypistats);
        // Same newest day: pypistats' own series first even with a calibration.
        let level = held(&flat(90, today - 4, 1_000), now);
        let same = recent_from_held(Some(&overall), Some(&level), Some(calibrated), now);
        assert_eq!(same[0].as_ref().unwrap().upstream, Upstream::Pypistats);
    }
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
