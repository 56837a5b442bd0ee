//! The calibration between the two download sources: how pypistats' count (without
//! mirrors) compares with pepy.tech's for one package, measured on the days both
//! series cover. Pure (no clock, no I/O), so it can move to a pure crate.
//!
//! The two services count the same PyPI downloads from BigQuery their own way
//! (pypistats leaves out known mirror clients; both date by UTC day), so their ratio
//! is a property of the package, learned while both answer and never assumed: with no
//! overlap, no calibration, and an estimate from pepy stays unscaled.

use std::collections::HashMap;

use crate::model::Confidence;
use crate::upstream::Day;

/// The most recent overlapping days a calibration rests on (a month, like the
/// longest `recent` figure).
pub const WINDOW_DAYS: usize = 30;

/// Fewer overlapping days than this: no calibration (a week, so weekday effects
/// cancel out).
pub const MIN_DAYS: usize = 7;

/// pypistats / pepy for one package, over the days both series cover.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// pypistats' sum over the overlapping days divided by pepy's sum over the same days.
    pub ratio: f64,
    /// How many overlapping days it rests on (at most [`WINDOW_DAYS`]).
    pub days: u32,
    /// How much the ratio moved between the window's whole weeks: the largest
    /// relative distance of a week's ratio from `ratio`; `None` with a single week.
    pub spread: Option<f64>,
    /// The first and last overlapping day (days since 1970-01-01).
    pub first_day: i64,
    /// See `first_day`.
    pub last_day: i64,
}

impl Calibration {
    /// How far a pepy figure scaled by this calibration can be trusted, before the
    /// age of the data is taken into account: four weeks with a ratio within 5 % from
    /// week to week is high; two weeks within 15 % medium; anything less low.
    pub fn fit(&self) -> Confidence {
        match (self.days, self.spread) {
            (28.., Some(s)) if s <= 0.05 => Confidence::High,
            (14.., Some(s)) if s <= 0.15 => Confidence::Medium,
            _ => Confidence::Low,
        }
    }

    /// `value` scaled by the ratio, rounded to the nearest download.
    pub fn scale(&self, value: u64) -> u64 {
        (value as f64 * self.ratio).round().max(0.0) as u64
    }
}

/// The calibration of `pypistats` (its daily without-mirrors totals) against `pepy`
/// (its daily totals), both `(YYYY-MM-DD, downloads)`: the ratio of their sums over
/// the last [`WINDOW_DAYS`] days both contain. `None` with fewer than [`MIN_DAYS`]
/// such days or a zero sum on either side (never a guessed ratio).
pub fn calibrate(pypistats: &[(String, u64)], pepy: &[(String, u64)]) -> Option<Calibration> {
    let pepy_by_day: HashMap<i64, u64> = pepy
        .iter()
        .filter_map(|(d, n)| Some((Day::parse(d)?.epoch_day(), *n)))
        .collect();
    let mut both: Vec<(i64, u64, u64)> = pypistats
        .iter()
        .filter_map(|(d, n)| {
            let day = Day::parse(d)?.epoch_day();
            Some((day, *n, *pepy_by_day.get(&day)?))
        })
        .collect();
    both.sort_unstable_by_key(|(d, ..)| *d);
    both.dedup_by_key(|(d, ..)| *d);
    if both.len() < MIN_DAYS {
        return None;
    }
    let window = &both[both.len().saturating_sub(WINDOW_DAYS)..];
    let ratio = sums_ratio(window)?;
    // Whole weeks from the newest day back: the ratio of each, against the whole.
    let weeks: Vec<f64> = window.rchunks_exact(7).filter_map(sums_ratio).collect();
    let spread = (weeks.len() >= 2).then(|| {
        weeks
            .iter()
            .map(|w| (w - ratio).abs() / ratio)
            .fold(0.0, f64::max)
    });
    Some(Calibration {
        ratio,
        days: window.len() as u32,
        spread,
        first_day: window[0].0,
        last_day: window[window.len() - 1].0,
    })
}

fn sums_ratio(days: &[(i64, u64, u64)]) -> Option<f64> {
    // u128: an upstream's counts are untrusted, and 30 of them near u64::MAX must not
    // overflow the sum.
    let stats: u128 = days.iter().map(|(_, s, _)| u128::from(*s)).sum();
    let pepy: u128 = days.iter().map(|(.., p)| u128::from(*p)).sum();
    (stats > 0 && pepy > 0).then(|| stats as f64 / pepy as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{day_string, days_from_civil};

    /// `n` days ending on `last`, the i-th day's count given by `f(i)`.
    fn series(n: i64, last: i64, f: impl Fn(i64) -> u64) -> Vec<(String, u64)> {
        (0..n)
            .map(|i| (day_string(last - n + 1 + i), f(i)))
            .collect()
    }

    #[test]
    fn counts_near_the_largest_integer_do_not_overflow_the_sums() {
        let last = days_from_civil(2026, 11, 23);
        let huge = series(30, last, |_| u64::MAX);
        let c = calibrate(&huge, &huge).unwrap();
        assert_eq!(c.ratio, 1.0);
        assert_eq!(c.scale(u64::MAX), u64::MAX);
    }

    #[test]
    fn a_steady_ratio_over_a_month_is_a_high_fit() {
        let last = days_from_civil(2026, 11, 23);
        let stats = series(180, last, |i| 9_300 + (i % 7) as u64 * 100);
        let pepy = series(90, last, |i| 10_000 + (i % 7) as u64 * 107);
        let c = calibrate(&stats, &pepy).unwrap();
        assert_eq!(c.days, 30);
        assert_eq!(c.last_day, last);
        assert_eq!(c.first_day, last - 29);
        assert!((c.ratio - 0.93).abs() < 0.005, "{}", c.ratio);
        assert_eq!(c.fit(), Confidence::High);
        assert_eq!(c.scale(1_000), (1_000.0 * c.ratio).round() as u64);
    }

    #[test]
    fn only_the_days_both_cover_count_when_pypistats_lags() {
        let last = days_from_civil(2026, 11, 23);
        // pypistats three days behind, and pepy's extra days ten times larger: they
        // must not enter the ratio.
        let stats = series(180, last - 3, |_| 500);
        let mut pepy = series(90, last - 3, |_| 1_000);
        pepy.extend(series(3, last, |_| 10_000));
        let c = calibrate(&stats, &pepy).unwrap();
        assert_eq!(c.ratio, 0.5);
        assert_eq!(c.last_day, last - 3);
        assert_eq!(c.spread, Some(0.0));
    }

    #[test]
    fn no_overlap_or_too_short_an_overlap_is_no_calibration() {
        let last = days_from_civil(2026, 11, 23);
        let stats = series(30, last - 40, |_| 5);
        let pepy = series(30, last, |_| 5);
        assert_eq!(calibrate(&stats, &pepy), None);
        let short = series(6, last, |_| 5);
        assert_eq!(calibrate(&short, &pepy), None);
        let zeros = series(30, last, |_| 0);
        assert_eq!(calibrate(&zeros, &pepy), None);
        assert_eq!(calibrate(&pepy, &zeros), None);
    }

    #[test]
    fn a_ratio_that_moves_from_week_to_week_lowers_the_fit() {
        let last = days_from_civil(2026, 11, 23);
        // Four whole weeks, alternately 0.8 and 1.2.
        let stats = series(28, last, |i| if (i / 7) % 2 == 0 { 800 } else { 1_200 });
        let pepy = series(28, last, |_| 1_000);
        let c = calibrate(&stats, &pepy).unwrap();
        assert!(c.spread.unwrap() > 0.15, "{c:?}");
        assert_eq!(c.fit(), Confidence::Low);
        // Two weeks, steady: medium; one week: no spread known, low.
        let two = calibrate(&series(14, last, |_| 900), &series(14, last, |_| 1_000)).unwrap();
        assert_eq!(two.fit(), Confidence::Medium);
        let one = calibrate(&series(7, last, |_| 900), &series(7, last, |_| 1_000)).unwrap();
        assert_eq!((one.spread, one.fit()), (None, Confidence::Low));
    }

    #[test]
    fn unparsable_days_are_left_out_not_guessed() {
        let last = days_from_civil(2026, 11, 23);
        let mut stats = series(10, last, |_| 10);
        stats.push(("not-a-day".into(), 1_000_000));
        let pepy = series(10, last, |_| 20);
        assert_eq!(calibrate(&stats, &pepy).unwrap().ratio, 0.5);
    }
}
