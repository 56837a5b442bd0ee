//! **Simulated** download statistics (pypistats.org, pepy.tech and the top-packages
//! list). Nothing here is real data.
//!
//! Every number is a deterministic function of the package name and the simulator
//! seed (FNV-1a hashes): a base daily level (higher for a handful of well-known fixture
//! projects), a mild linear trend, weekly seasonality (weekends lower) and ±6 % noise.
//! The series has 180 daily points ending "yesterday" relative to the simulator's
//! "today" (the real UTC date, or a pinned day: [`crate::SimConfig::today`]), or
//! earlier when pypistats' lag is simulated. For a given today the output is the same
//! on every run.

use std::collections::BTreeMap;

use super::{fnv64, unit};
use crate::date::SimDay;

/// The top-packages list's `last_update` (midnight UTC of the simulated `today`) as a
/// time: the list's `Last-Modified`.
pub(crate) fn top_last_update(today: SimDay) -> std::time::SystemTime {
    std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(today.days_since_epoch().max(0) as u64 * 86_400)
}

/// Number of daily points, like pypistats.org.
pub(crate) const DAYS: usize = 180;
/// Days of per-version data in the simulated pepy.tech answer.
pub(crate) const PEPY_DAYS: usize = 90;

/// Projects given a higher simulated popularity (they are well known; the levels are
/// still invented).
const FAMOUS: &[&str] = &[
    "numpy", "pytest", "django", "pyyaml", "pytz", "scipy", "coverage", "black", "docutils",
];

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub(crate) const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01).
pub(crate) fn date_string(z: i64) -> String {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The simulated daily download series of one package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Series {
    /// Day number (days since 1970-01-01) of the first point.
    pub(crate) first_day: i64,
    /// Daily downloads excluding mirrors (oldest first).
    pub(crate) without: Vec<u64>,
    /// Daily downloads including mirrors (`>= without` on every day).
    pub(crate) with: Vec<u64>,
    key: u64,
}

/// Splits `total` by `shares` (the last category gets the remainder).
fn split(total: u64, shares: &[f64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(shares.len());
    let mut used = 0;
    for (i, s) in shares.iter().enumerate() {
        if i + 1 == shares.len() {
            out.push(total - used);
        } else {
            let v = ((total as f64) * s).floor() as u64;
            let v = v.min(total - used);
            used += v;
            out.push(v);
        }
    }
    out
}

impl Series {
    /// Generates the series of `name` (normalised) under `seed`, as published on
    /// `today` by an upstream `lag_days` behind: the last point is the day before
    /// `today`, minus `lag_days`.
    pub(crate) fn generate(name: &str, seed: u64, today: SimDay, lag_days: u32) -> Series {
        let seed_b = seed.to_le_bytes();
        let key = fnv64(&[name.as_bytes(), &seed_b]);
        let h = |tag: &str| unit(fnv64(&[name.as_bytes(), &seed_b, tag.as_bytes()]));
        let exponent = if super::suspects::SUSPECTS.contains(&name) {
            // A synthetic typo-squat: about one download a weekday, none at weekends.
            -0.3
        } else if FAMOUS.contains(&name) {
            6.0 + 1.2 * h("level")
        } else if name.starts_with("synth-") {
            2.5 + 2.5 * h("level")
        } else {
            3.5 + 1.5 * h("level")
        };
        let base = 10f64.powf(exponent);
        let trend = -0.15 + 0.4 * h("trend");
        let mirror_share = 0.02 + 0.08 * h("mirrors");
        let end = today.days_since_epoch() - i64::from(lag_days);
        let first_day = end - DAYS as i64;
        let mut without = Vec::with_capacity(DAYS);
        let mut with = Vec::with_capacity(DAYS);
        for i in 0..DAYS {
            let day = first_day + i as i64;
            let weekday = (day + 4).rem_euclid(7); // 0 = Sunday
            let season = match weekday {
                0 => 0.70,
                6 => 0.72,
                w => 1.0 + 0.02 * w as f64,
            };
            let progress = i as f64 / (DAYS - 1) as f64 - 1.0; // -1 ..= 0
            let level = base * (1.0 + trend * progress);
            let noise =
                1.0 + 0.12 * (unit(fnv64(&[&key.to_le_bytes(), &(i as u64).to_le_bytes()])) - 0.5);
            let v = (level * season * noise).round().max(0.0) as u64;
            without.push(v);
            with.push(v + ((v as f64) * mirror_share).round() as u64);
        }
        Series {
            first_day,
            without,
            with,
            key,
        }
    }

    /// `YYYY-MM-DD` of point `i`.
    pub(crate) fn date(&self, i: usize) -> String {
        date_string(self.first_day + i as i64)
    }

    /// Last point of the series without mirrors.
    pub(crate) fn last_day(&self) -> u64 {
        self.without.last().copied().unwrap_or(0)
    }

    /// Sum of the last 7 points without mirrors.
    pub(crate) fn last_week(&self) -> u64 {
        self.without.iter().rev().take(7).sum()
    }

    /// Sum of the last 30 points without mirrors.
    pub(crate) fn last_month(&self) -> u64 {
        self.without.iter().rev().take(30).sum()
    }

    fn share(&self, tag: &str) -> f64 {
        unit(fnv64(&[&self.key.to_le_bytes(), tag.as_bytes()]))
    }

    fn major_shares(&self) -> [f64; 3] {
        let py2 = 0.003 + 0.02 * self.share("py2");
        let null = 0.005 + 0.02 * self.share("pynull");
        [1.0 - py2 - null, py2, null]
    }

    /// `python_major` breakdown: categories `2`, `3`, `null`, each split from the
    /// without-mirrors series; sorted by category.
    pub(crate) fn python_major(&self) -> BTreeMap<String, Vec<u64>> {
        let shares = self.major_shares();
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for &t in &self.without {
            let parts = split(t, &shares);
            for (cat, v) in ["3", "2", "null"].into_iter().zip(parts) {
                out.entry(cat.to_owned()).or_default().push(v);
            }
        }
        out
    }

    /// `python_minor` breakdown: `2.7` (= major 2), `3.8` … `3.13` (splitting major 3),
    /// `null` (= major null); sorted by category string.
    pub(crate) fn python_minor(&self) -> BTreeMap<String, Vec<u64>> {
        const MINORS: [&str; 6] = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"];
        let raw: Vec<f64> = MINORS
            .iter()
            .enumerate()
            .map(|(i, m)| 0.5 + i as f64 * 0.3 + self.share(m))
            .collect();
        let sum: f64 = raw.iter().sum();
        let minor_shares: Vec<f64> = raw.iter().map(|r| r / sum).collect();
        let major = self.python_major();
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        out.insert("2.7".into(), major["2"].clone());
        out.insert("null".into(), major["null"].clone());
        for &t in &major["3"] {
            for (m, v) in MINORS.iter().zip(split(t, &minor_shares)) {
                out.entry((*m).to_owned()).or_default().push(v);
            }
        }
        out
    }

    /// `system` breakdown: `Darwin`, `Linux`, `Windows`, `other`, `null`.
    pub(crate) fn system(&self) -> BTreeMap<String, Vec<u64>> {
        let windows = 0.05 + 0.06 * self.share("windows");
        let darwin = 0.04 + 0.05 * self.share("darwin");
        let other = 0.002 + 0.005 * self.share("other");
        let null = 0.002 + 0.01 * self.share("sysnull");
        let shares = [
            1.0 - windows - darwin - other - null,
            windows,
            darwin,
            other,
            null,
        ];
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for &t in &self.without {
            for (cat, v) in ["Linux", "Windows", "Darwin", "other", "null"]
                .into_iter()
                .zip(split(t, &shares))
            {
                out.entry(cat.to_owned()).or_default().push(v);
            }
        }
        out
    }

    /// Simulated pepy.tech data for the last [`PEPY_DAYS`] days: per day, the
    /// without-mirrors total split over the (up to) three newest `versions`
    /// (70/20/10 %); plus an all-time total (`>=` the sum of those days).
    pub(crate) fn pepy(
        &self,
        versions: &[String],
    ) -> (BTreeMap<String, BTreeMap<String, u64>>, u64) {
        let newest: Vec<&String> = versions.iter().rev().take(3).collect();
        let shares: &[f64] = match newest.len() {
            0 => &[],
            1 => &[1.0],
            2 => &[0.75, 0.25],
            _ => &[0.7, 0.2, 0.1],
        };
        let start = DAYS.saturating_sub(PEPY_DAYS);
        let mut days = BTreeMap::new();
        let mut sum = 0u64;
        for i in start..DAYS {
            let t = self.without[i];
            let mut per = BTreeMap::new();
            if !newest.is_empty() {
                for (v, n) in newest.iter().zip(split(t, shares)) {
                    per.insert((*v).clone(), n);
                }
                sum += t;
            }
            days.insert(self.date(i), per);
        }
        let history_factor = 4.0 + 20.0 * self.share("history");
        let total = sum + (sum as f64 * history_factor) as u64;
        (days, total)
    }
}

/// Python's `str.title()` for ASCII: first letter of each letter run upper-case, the
/// rest lower-case (`linux` → `Linux`, `null` → `Null`, `3.10` unchanged).
pub(crate) fn py_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_cased = false;
    for c in s.chars() {
        if c.is_alphabetic() {
            if prev_cased {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            prev_cased = true;
        } else {
            out.push(c);
            prev_cased = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_string(0), "1970-01-01");
        assert_eq!(date_string(days_from_civil(2026, 11, 24)), "2026-11-24");
        assert_eq!(date_string(days_from_civil(2024, 2, 29)), "2024-02-29");
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2
        );
    }

    fn day(s: &str) -> SimDay {
        s.parse().unwrap()
    }

    #[test]
    fn series_shape() {
        let today = day("2026-11-24");
        let s = Series::generate("numpy", 42, today, 0);
        assert_eq!(s.without.len(), DAYS);
        assert_eq!(s.date(DAYS - 1), "2026-11-23");
        assert!(s.with.iter().zip(&s.without).all(|(w, wo)| w >= wo));
        assert_eq!(s, Series::generate("numpy", 42, today, 0));
        assert_ne!(s, Series::generate("numpy", 43, today, 0));
        assert!(s.last_day() > 100_000, "famous packages are high");
        let major = s.python_major();
        for (i, t) in s.without.iter().enumerate() {
            let sum: u64 = major.values().map(|v| v[i]).sum();
            assert_eq!(sum, *t);
            let sys: u64 = s.system().values().map(|v| v[i]).sum();
            assert_eq!(sys, *t);
            let minor: u64 = s.python_minor().values().map(|v| v[i]).sum();
            assert_eq!(minor, *t);
        }
    }

    #[test]
    fn sim_dates_relative_to_today_and_lag_moves_the_newest_day_back() {
        let today = SimDay::today_utc();
        let s = Series::generate("numpy", 42, today, 0);
        assert_eq!(s.date(DAYS - 1), today.plus_days(-1).to_string());
        let lagging = Series::generate("numpy", 42, today, 3);
        assert_eq!(lagging.date(DAYS - 1), today.plus_days(-4).to_string());
        let next = Series::generate("numpy", 42, today.plus_days(1), 0);
        assert_eq!(next.date(DAYS - 1), today.to_string());
    }

    #[test]
    fn title() {
        assert_eq!(py_title("linux"), "Linux");
        assert_eq!(py_title("LINUX"), "Linux");
        assert_eq!(py_title("null"), "Null");
        assert_eq!(py_title("3.10"), "3.10");
    }

    #[test]
    fn pepy_totals() {
        let s = Series::generate("black", 42, day("2026-11-24"), 0);
        let versions: Vec<String> = ["1.0", "2.0", "3.0"]
            .iter()
            .map(|v| v.to_string())
            .collect();
        let (days, total) = s.pepy(&versions);
        assert_eq!(days.len(), PEPY_DAYS);
        let sum: u64 = days.values().flat_map(|m| m.values()).sum();
        assert!(total >= sum);
        assert_eq!(days.keys().next_back().unwrap(), "2026-11-23");
    }
}
