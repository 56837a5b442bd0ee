//! Download statistics: recent totals, breakdowns, trends and the top-packages ranking.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::estimate::Estimate;
use crate::model::{DataAsOf, Datum, Provenance, SourceLabel, StatsKind, Upstream};
use crate::upstream::{Day, RecentDoc, SeriesDoc, TopDoc};

/// Downloads over the last day, week and month, each figure with its own provenance
/// (after a fallback they can differ: one estimated, one unavailable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecentDownloads {
    /// Package.
    pub package: String,
    /// Last day.
    pub last_day: Datum<Option<u64>>,
    /// Last 7 days.
    pub last_week: Datum<Option<u64>>,
    /// Last 30 days.
    pub last_month: Datum<Option<u64>>,
    /// The overall source of the three figures.
    pub source: SourceLabel,
}

impl RecentDownloads {
    /// From pypistats' `recent` document, whose data is as of `data_as_of` when known
    /// (the `recent` body itself carries no date).
    pub fn from_doc(
        package: &str,
        r: &RecentDoc,
        provenance: &Provenance,
        upstream: Upstream,
        age: Duration,
        data_as_of: Option<DataAsOf>,
    ) -> Self {
        let d = |v: Option<u64>| {
            Datum::new(v, provenance.clone(), upstream, age).dated(data_as_of.clone())
        };
        RecentDownloads {
            package: package.into(),
            last_day: d(r.last_day),
            last_week: d(r.last_week),
            last_month: d(r.last_month),
            source: provenance.label(),
        }
    }

    /// From estimates; figures without a basis are unavailable, saying why. `today`
    /// (days since 1970-01-01, UTC) dates each estimate's basis.
    pub fn from_estimates(
        package: &str,
        estimates: [Option<Estimate>; 3],
        reason: &str,
        today: i64,
    ) -> Self {
        let [day, week, month] = estimates.map(|e| match e {
            Some(e) => Datum::new(
                Some(e.value),
                Provenance::Estimated {
                    basis: e.basis,
                    confidence: e.confidence,
                },
                e.upstream,
                e.age,
            )
            .dated(e.data_date.map(|d| DataAsOf::new(d, today))),
            None => Datum::new(
                None,
                Provenance::Unavailable {
                    reason: format!("{reason}; the series held is too short for this period"),
                    suggestion: "retry later, when pypistats answers again".into(),
                },
                Upstream::Pypistats,
                Duration::ZERO,
            ),
        });
        let source = SourceLabel::merge([day.label(), week.label(), month.label()]);
        RecentDownloads {
            package: package.into(),
            last_day: day,
            last_week: week,
            last_month: month,
            source,
        }
    }
}

/// The day pypistats' `recent` figures are about, found in its `overall` series: the
/// newest of the last week's days whose without-mirrors count is the `last_day`
/// figure and whose 7- and 30-day sums ending there are the week and month figures
/// (each when present). `None` when no day matches (another daily update) or the
/// document has no figure. Days since 1970-01-01.
pub fn recent_data_date(r: &RecentDoc, overall: &SeriesDoc) -> Option<i64> {
    if r.last_day.is_none() && r.last_week.is_none() && r.last_month.is_none() {
        return None;
    }
    let daily = overall.daily_totals();
    let sum_to = |end: usize, n: usize| -> Option<u64> {
        (end + 1 >= n).then(|| daily[end + 1 - n..=end].iter().map(|(_, d)| d).sum())
    };
    let matches = |i: usize| {
        r.last_day.is_none_or(|v| daily[i].1 == v)
            && r.last_week.is_none_or(|v| sum_to(i, 7) == Some(v))
            && r.last_month.is_none_or(|v| sum_to(i, 30) == Some(v))
    };
    (0..daily.len())
        .rev()
        .take(7)
        .find(|&i| matches(i))
        .and_then(|i| Day::parse(&daily[i].0))
        .map(Day::epoch_day)
}

/// One category of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Share {
    /// `3.12`, `Linux`, `null` (unknown), ...
    pub category: String,
    /// Downloads over the period.
    pub downloads: u64,
    /// Share of the period's total, in percent.
    pub percent: f64,
}

/// Downloads by Python version or operating system over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Breakdown {
    /// Package.
    pub package: String,
    /// What the downloads are split by: `python_major`, `python_minor` or `system`.
    pub kind: StatsKind,
    /// Days covered (fewer than asked when the series is shorter).
    pub days: u32,
    /// First and last date covered.
    pub from: Option<String>,
    /// Last date covered.
    pub to: Option<String>,
    /// Categories, largest first.
    pub categories: Vec<Share>,
    /// Total over the period.
    pub total: u64,
}

/// The last `days` dates present in a series.
fn last_dates(s: &SeriesDoc, days: u32) -> BTreeSet<Day> {
    let all: BTreeSet<Day> = s.data.iter().map(|p| p.date).collect();
    let skip = all.len().saturating_sub(days as usize);
    all.into_iter().skip(skip).collect()
}

fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / total as f64).round() / 10.0
    }
}

impl Breakdown {
    /// Sums each category over the last `days` days of the series of `kind`.
    pub fn from_series(package: &str, kind: StatsKind, s: &SeriesDoc, days: u32) -> Self {
        let dates = last_dates(s, days);
        let mut sums = BTreeMap::<&str, u64>::new();
        for p in s.data.iter().filter(|p| dates.contains(&p.date)) {
            *sums.entry(s.category_name(p)).or_default() += p.downloads;
        }
        let total: u64 = sums.values().sum();
        let mut categories: Vec<Share> = sums
            .into_iter()
            .map(|(c, d)| Share {
                category: c.to_string(),
                downloads: d,
                percent: percent(d, total),
            })
            .collect();
        categories.sort_by(|a, b| {
            b.downloads
                .cmp(&a.downloads)
                .then(a.category.cmp(&b.category))
        });
        Breakdown {
            package: package.into(),
            kind,
            days: dates.len() as u32,
            from: dates.first().map(|d| d.to_string()),
            to: dates.last().map(|d| d.to_string()),
            categories,
            total,
        }
    }
}

/// One day of a trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DailyPoint {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Downloads (without mirrors).
    pub downloads: u64,
}

/// The daily series over a period, with totals and the change across it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Trend {
    /// Package.
    pub package: String,
    /// Days covered.
    pub days: u32,
    /// The points, oldest first.
    pub points: Vec<DailyPoint>,
    /// Sum over the period.
    pub total: u64,
    /// Mean per day.
    pub average_per_day: f64,
    /// The busiest day.
    pub peak: Option<DailyPoint>,
    /// Change of the mean of the last 7 days over the first 7 days, in percent (for
    /// periods shorter than 14 days: last day over first day). `None` when the
    /// starting figure is 0.
    pub change_percent: Option<f64>,
}

impl Trend {
    /// The last `days` days of the `without_mirrors` series.
    pub fn from_series(package: &str, s: &SeriesDoc, days: u32) -> Self {
        let daily = s.daily_totals();
        let skip = daily.len().saturating_sub(days as usize);
        let points: Vec<DailyPoint> = daily
            .into_iter()
            .skip(skip)
            .map(|(date, downloads)| DailyPoint { date, downloads })
            .collect();
        let total: u64 = points.iter().map(|p| p.downloads).sum();
        let n = points.len();
        let mean = |ps: &[DailyPoint]| {
            ps.iter().map(|p| p.downloads as f64).sum::<f64>() / ps.len().max(1) as f64
        };
        let (start, end) = if n >= 14 {
            (mean(&points[..7]), mean(&points[n - 7..]))
        } else if n >= 2 {
            (points[0].downloads as f64, points[n - 1].downloads as f64)
        } else {
            (0.0, 0.0)
        };
        let change_percent = (start > 0.0).then(|| ((end - start) * 1000.0 / start).round() / 10.0);
        Trend {
            package: package.into(),
            days: n as u32,
            peak: points.iter().max_by_key(|p| p.downloads).cloned(),
            average_per_day: if n == 0 {
                0.0
            } else {
                (total as f64 / n as f64 * 10.0).round() / 10.0
            },
            total,
            points,
            change_percent,
        }
    }
}

/// One row of the ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RankedPackage {
    /// 1-based rank.
    pub rank: usize,
    /// Project.
    pub project: String,
    /// Downloads over the dataset's 30 days.
    pub download_count: u64,
}

/// The top of the 30-day ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TopPackages {
    /// When the dataset was built.
    pub last_update: Option<String>,
    /// Rows in the dataset.
    pub total_in_dataset: usize,
    /// The first `limit` rows.
    pub rows: Vec<RankedPackage>,
}

impl TopPackages {
    /// The first `limit` rows of the dataset.
    pub fn from_doc(t: &TopDoc, limit: usize) -> Self {
        TopPackages {
            last_update: t.last_update.clone(),
            total_in_dataset: t.rows.len(),
            rows: t
                .rows
                .iter()
                .take(limit)
                .enumerate()
                .map(|(i, r)| RankedPackage {
                    rank: i + 1,
                    project: r.project.clone(),
                    download_count: r.download_count,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Confidence;
    fn series(kind: &str, points: &[(&str, u32, u64)]) -> SeriesDoc {
        let dates: Vec<String> = points
            .iter()
            .map(|(_, d, _)| format!("2026-10-{d:02}"))
            .collect();
        SeriesDoc::from_points(
            "x".into(),
            kind.into(),
            points
                .iter()
                .zip(&dates)
                .map(|((c, _, n), date)| (*c, date.as_str(), *n)),
        )
        .unwrap()
    }

    #[test]
    fn breakdown_sums_the_last_days_largest_first() {
        let s = series(
            "system_downloads",
            &[
                ("Linux", 1, 100),
                ("Linux", 2, 10),
                ("Windows", 2, 30),
                ("null", 3, 5),
                ("Linux", 3, 20),
            ],
        );
        let b = Breakdown::from_series("x", StatsKind::PythonMinor, &s, 2);
        assert_eq!(b.days, 2);
        assert_eq!(b.total, 65);
        assert_eq!(b.categories[0].category, "Linux");
        assert_eq!(b.categories[0].downloads, 30);
        assert_eq!(b.categories[0].percent, 46.2);
        assert_eq!(b.from.as_deref(), Some("2026-10-02"));
    }

    #[test]
    fn trend_reports_total_peak_and_change() {
        let data: Vec<(&str, u32, u64)> = (1..=28)
            .map(|d| {
                let n = if d <= 7 {
                    100
                } else if d > 21 {
                    150
                } else {
                    120
                };
                ("without_mirrors", d, n)
            })
            .collect();
        let s = series("overall_downloads", &data);
        let t = Trend::from_series("x", &s, 180);
        assert_eq!(t.days, 28);
        assert_eq!(t.total, 700 + 14 * 120 + 1050);
        assert_eq!(t.change_percent, Some(50.0));
        assert_eq!(t.peak.unwrap().downloads, 150);
        assert_eq!(Trend::from_series("x", &s, 7).points.len(), 7);
    }

    #[test]
    fn recent_figures_are_dated_by_the_overall_day_they_match() {
        let data: Vec<(&str, u32, u64)> =
            (1..=31).map(|d| ("without_mirrors", d, d as u64)).collect();
        let s = series("overall_downloads", &data);
        let r = RecentDoc {
            last_day: Some(31),
            last_week: Some((25..=31).sum()),
            last_month: Some((2..=31).sum()),
        };
        let oct31 = crate::model::days_from_civil(2026, 10, 31);
        assert_eq!(recent_data_date(&r, &s), Some(oct31));
        // A day behind the series (pypistats' recent was computed a day earlier).
        let r = RecentDoc {
            last_day: Some(30),
            last_week: Some((24..=30).sum()),
            last_month: None,
        };
        assert_eq!(recent_data_date(&r, &s), Some(oct31 - 1));
        // Figures of another update: unknown, never guessed.
        let r = RecentDoc {
            last_day: Some(7),
            last_week: Some(1),
            last_month: None,
        };
        assert_eq!(recent_data_date(&r, &s), None);
    }

    #[test]
    fn estimates_and_gaps_carry_their_own_provenance() {
        let e = Estimate {
            value: 7,
            basis: "sum".into(),
            confidence: Confidence::High,
            upstream: Upstream::Pypistats,
            age: Duration::ZERO,
            data_date: Some(crate::model::days_from_civil(2026, 11, 23)),
        };
        let r = RecentDownloads::from_estimates(
            "x",
            [Some(e.clone()), Some(e), None],
            "pypistats is unavailable",
            crate::model::days_from_civil(2026, 11, 24),
        );
        assert_eq!(
            r.last_day.data_as_of.as_ref().map(|d| d.date.as_str()),
            Some("2026-11-23")
        );
        assert!(r.last_month.data_as_of.is_none());
        assert_eq!(r.last_day.value, Some(7));
        assert_eq!(r.last_day.provenance.word(), "estimated");
        assert_eq!(r.last_month.provenance.word(), "unavailable");
        assert_eq!(
            r.source,
            SourceLabel::Mixed,
            "an answer with a hole is not `estimated`"
        );
    }
}
