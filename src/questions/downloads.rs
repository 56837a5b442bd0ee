//! The download questions: `get_download_statistics` / `downloads`,
//! `get_download_trends` / `trends`, `get_download_breakdown` / `breakdown`.

use schemars::JsonSchema;
use sentinel_actors::views::downloads::{
    Breakdown as BreakdownView, RecentDownloads, Trend as TrendView,
};
use sentinel_actors::{Datum, EngineHandle, Provenance, QueryError, SourceLabel, StatsKind};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

use super::Ask;
use super::Run;
use super::show;
use crate::structured::DatumOut;
use crate::structured::text::freshness;
use crate::terminal::output::{as_of_suffix, notes, source_cell, source_note, sparkline, table};
use crate::terminal::{Exit, Failure};
use crate::text::thousands;

/// Which recent download figures to give.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// The last day.
    Day,
    /// The last 7 days.
    Week,
    /// The last 30 days.
    Month,
    /// The three.
    #[default]
    All,
}

impl Period {
    /// Whether the figure of `want` (day, week or month) is asked for.
    pub fn includes(self, want: Period) -> bool {
        self == Period::All || self == want
    }
}

/// Recent download totals of a package.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Downloads {
    /// The PyPI project name, e.g. `numpy`.
    pub package: String,
    /// `day`, `week`, `month` (the last 1, 7 or 30 days) or `all` (the three).
    /// Default `all`.
    #[serde(default)]
    pub period: Period,
}

/// `get_download_statistics`: the figures asked for, each with its provenance.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct RecentOut {
    package: String,
    /// The period asked for.
    period: Period,
    /// Downloads over the last day (when asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    last_day: Option<Datum<Option<u64>>>,
    /// Downloads over the last 7 days (when asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    last_week: Option<Datum<Option<u64>>>,
    /// Downloads over the last 30 days (when asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    last_month: Option<Datum<Option<u64>>>,
    /// The overall source of the figures returned.
    source: SourceLabel,
}

impl Downloads {
    /// The figures `period` asks for: (which, its words, the figure).
    fn figures<'a>(
        &self,
        r: &'a RecentDownloads,
    ) -> impl Iterator<Item = (&'static str, &'a Datum<Option<u64>>)> {
        [
            (Period::Day, "last day", &r.last_day),
            (Period::Week, "last week", &r.last_week),
            (Period::Month, "last month", &r.last_month),
        ]
        .into_iter()
        .filter(|(p, ..)| self.period.includes(*p))
        .map(|(_, words, d)| (words, d))
    }
}

impl Ask for Downloads {
    const TOOL: &'static str = "get_download_statistics";
    const DESCRIPTION: &'static str = "Downloads of a PyPI package over the last day, week and month (pypistats.org, without mirrors). Each figure carries its own provenance: when pypistats is down the figures may be stale or estimated from the daily series, and say so. `period` = day, week, month or all (default).";

    type Answer = RecentDownloads;
    type Output<'a> = RecentOut;

    /// The three figures, each with its provenance (the front ends show `period`).
    async fn ask(&self, engine: &EngineHandle) -> Result<RecentDownloads, QueryError> {
        engine.recent_downloads(&self.package).await
    }

    fn output(&self, r: &RecentDownloads) -> RecentOut {
        let pick =
            |want: Period, d: &Datum<Option<u64>>| self.period.includes(want).then(|| d.clone());
        let (last_day, last_week, last_month) = (
            pick(Period::Day, &r.last_day),
            pick(Period::Week, &r.last_week),
            pick(Period::Month, &r.last_month),
        );
        let source = SourceLabel::merge(
            [&last_day, &last_week, &last_month]
                .into_iter()
                .flatten()
                .map(|d| d.label()),
        );
        RecentOut {
            package: r.package.clone(),
            period: self.period,
            last_day,
            last_week,
            last_month,
            source,
        }
    }

    fn text(&self, r: &RecentDownloads) -> String {
        let mut lines = Vec::new();
        let estimated = [&r.last_day, &r.last_week, &r.last_month]
            .iter()
            .any(|d| matches!(d.provenance, Provenance::Estimated { .. }));
        if estimated {
            lines.push(format!(
                "{}: pypistats could not answer, so some figures are estimated from other observations",
                r.package
            ));
        }
        for (words, d) in self.figures(r) {
            lines.push(format!("{}: {}", r.package, figure(words, d)));
        }
        lines.join("\n")
    }

    fn table(&self, r: &RecentDownloads) -> String {
        let mut rows = vec![vec![
            "period".into(),
            "downloads".into(),
            "source".into(),
            "data as of".into(),
        ]];
        let mut ns = Vec::new();
        let mut lags = Vec::new();
        for (words, d) in self.figures(r) {
            rows.push(vec![
                words.to_string(),
                d.value.map(thousands).unwrap_or_else(|| "-".into()),
                source_cell(d),
                d.data_as_of
                    .as_ref()
                    .map_or_else(|| "-".into(), |a| a.date.clone()),
            ]);
            ns.push(source_note(words, d));
            if let Some(l) = crate::describe::lag(d).filter(|l| !lags.contains(l)) {
                lags.push(l);
            }
        }
        let mut s = String::new();
        ln!(s, "{} downloads (source: {})", r.package, r.source);
        w!(s, "{}", table(&rows));
        s + &notes(ns.into_iter().chain(lags.into_iter().map(Some)))
    }

    /// `Exit::Unavailable` when no figure could be given.
    fn exit(&self, r: &RecentDownloads) -> Result<(), Failure> {
        if [&r.last_day, &r.last_week, &r.last_month]
            .iter()
            .all(|d| d.value.is_none())
        {
            return Err(Failure::new(
                Exit::Unavailable,
                "no download figure could be given",
            ));
        }
        Ok(())
    }
}

/// One recent figure in words, with its freshness.
pub(crate) fn figure(name: &str, d: &Datum<Option<u64>>) -> String {
    match d.value {
        Some(n) => format!("{} downloads {name} ({})", thousands(n), freshness(d)),
        None => format!("downloads {name} unknown ({})", freshness(d)),
    }
}

/// The daily download series of a package.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Trend {
    /// The PyPI project name, e.g. `pytest`.
    pub package: String,
    /// How many of the most recent days, 1 to 180 (pypistats keeps 180). Default 30.
    #[serde(default)]
    #[schemars(range(min = 1, max = 180))]
    pub days: Option<i64>,
}

impl Ask for Trend {
    const TOOL: &'static str = "get_download_trends";
    const DESCRIPTION: &'static str = "The daily download series of a PyPI package over the last `days` days (1 to 180, default 30), with total, average per day, peak day and change (first week vs last week, in percent).";

    type Answer = Datum<TrendView>;
    type Output<'a> = DatumOut<&'a TrendView>;

    /// The series with totals and change.
    async fn ask(&self, engine: &EngineHandle) -> Result<Datum<TrendView>, QueryError> {
        let days = sentinel_actors::limits::days(self.days.unwrap_or(30))?;
        engine.download_trend(&self.package, days).await
    }

    fn output<'a>(&self, a: &'a Self::Answer) -> Self::Output<'a> {
        DatumOut::of(a)
    }

    fn text(&self, a: &Self::Answer) -> String {
        trend_text(a)
    }

    fn table(&self, a: &Self::Answer) -> String {
        trend(a)
    }
}

/// What a breakdown splits downloads by.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum BreakdownBy {
    /// Python major version (2 vs 3).
    PythonMajor,
    /// Python minor version (3.11, 3.12, ...).
    PythonMinor,
    /// Operating system (Linux, Windows, Darwin).
    System,
}

impl From<BreakdownBy> for StatsKind {
    fn from(by: BreakdownBy) -> Self {
        match by {
            BreakdownBy::PythonMajor => StatsKind::PythonMajor,
            BreakdownBy::PythonMinor => StatsKind::PythonMinor,
            BreakdownBy::System => StatsKind::System,
        }
    }
}

/// Downloads split by Python version or operating system.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Breakdown {
    /// The PyPI project name, e.g. `django`.
    pub package: String,
    /// `python_major` (2 vs 3), `python_minor` (3.11, 3.12, ...) or `system` (Linux,
    /// Windows, Darwin).
    pub by: BreakdownBy,
    /// Sum over the last N days, 1 to 180. Default 30.
    #[serde(default)]
    #[schemars(range(min = 1, max = 180))]
    pub days: Option<i64>,
}

impl Ask for Breakdown {
    const TOOL: &'static str = "get_download_breakdown";
    const DESCRIPTION: &'static str = "Downloads of a PyPI package split by Python major version (`by` = python_major), Python minor version (python_minor) or operating system (system), summed over the last `days` days (1 to 180, default 30), largest first with percentages.";

    type Answer = Datum<BreakdownView>;
    type Output<'a> = DatumOut<&'a BreakdownView>;

    /// The shares, largest first.
    async fn ask(&self, engine: &EngineHandle) -> Result<Datum<BreakdownView>, QueryError> {
        let days = sentinel_actors::limits::days(self.days.unwrap_or(30))?;
        engine
            .download_breakdown(&self.package, self.by.into(), days)
            .await
    }

    fn output<'a>(&self, a: &'a Self::Answer) -> Self::Output<'a> {
        DatumOut::of(a)
    }

    fn text(&self, a: &Self::Answer) -> String {
        breakdown_text(a)
    }

    fn table(&self, a: &Self::Answer) -> String {
        breakdown(a)
    }
}

/// `get_download_trends`.
fn trend_text(d: &Datum<TrendView>) -> String {
    let t = &d.value;
    let mut s = format!(
        "{}: {} downloads over {} days, {} per day on average ({})",
        t.package,
        thousands(t.total),
        t.days,
        thousands(t.average_per_day.round() as u64),
        freshness(d)
    );
    if let Some(c) = t.change_percent {
        let _ = write!(s, "; change {c:+.1}% (first week vs last week)");
    }
    if let Some(p) = &t.peak {
        let _ = write!(s, "; peak {} on {}", thousands(p.downloads), p.date);
    }
    s
}

/// `get_download_breakdown`.
fn breakdown_text(d: &Datum<BreakdownView>) -> String {
    let b = &d.value;
    let mut s = format!(
        "{}: {} downloads over {} days by {} ({})",
        b.package,
        thousands(b.total),
        b.days,
        b.kind.endpoint(),
        freshness(d)
    );
    for c in b.categories.iter().take(12) {
        let _ = write!(
            s,
            "\n- {}: {} ({:.1}%)",
            c.category,
            thousands(c.downloads),
            c.percent
        );
    }
    s
}

/// `trends`.
fn trend(d: &Datum<TrendView>) -> String {
    let mut s = String::new();
    let t = &d.value;
    let values: Vec<u64> = t.points.iter().map(|p| p.downloads).collect();
    ln!(
        s,
        "{} daily downloads, last {} days ({}{})",
        t.package,
        t.days,
        source_cell(d),
        as_of_suffix(d)
    );
    if let (Some(first), Some(last)) = (t.points.first(), t.points.last()) {
        ln!(s, "{}  {}  {}", first.date, sparkline(&values), last.date);
    }
    ln!(
        s,
        "total {}  average {}/day  peak {}  change {}",
        thousands(t.total),
        thousands(t.average_per_day.round() as u64),
        t.peak
            .as_ref()
            .map(|p| format!("{} on {}", thousands(p.downloads), p.date))
            .unwrap_or_default(),
        t.change_percent
            .map(|c| format!("{c:+.1} %"))
            .unwrap_or_else(|| "n/a".into())
    );
    s += &notes([source_note("series", d), crate::describe::lag(d)]);
    s
}

/// `breakdown`.
fn breakdown(d: &Datum<BreakdownView>) -> String {
    let mut s = String::new();
    ln!(
        s,
        "{} downloads by {} over {} days ({} to {}), {}{}",
        d.value.package,
        d.value.kind.endpoint(),
        d.value.days,
        d.value.from.as_deref().unwrap_or("?"),
        d.value.to.as_deref().unwrap_or("?"),
        source_cell(d),
        as_of_suffix(d)
    );
    let mut rows = vec![vec!["category".into(), "downloads".into(), "share".into()]];
    for s in &d.value.categories {
        rows.push(vec![
            s.category.clone(),
            thousands(s.downloads),
            format!("{:.1} %", s.percent),
        ]);
    }
    w!(s, "{}", table(&rows));
    s += &notes([source_note("breakdown", d), crate::describe::lag(d)]);
    s
}

/// Recent downloads (last day, week, month), each with its provenance.
#[derive(clap::Args, Debug)]
pub(crate) struct DownloadsFlags {
    /// Package.
    name: String,
    /// Only this period.
    #[arg(long, value_enum, default_value_t = Period::All)]
    period: Period,
}

impl Run for DownloadsFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        let q = Downloads {
            package: self.name,
            period: self.period,
        };
        show(engine, q, json).await
    }
}

/// Downloads by Python version or operating system.
#[derive(clap::Args, Debug)]
pub(crate) struct BreakdownFlags {
    /// Package.
    name: String,
    /// Dimension.
    #[arg(long, value_enum, default_value_t = BreakdownBy::PythonMinor)]
    by: BreakdownBy,
    /// Days (1-180).
    #[arg(long, default_value_t = 30, allow_negative_numbers = true)]
    days: i64,
}

impl Run for BreakdownFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        let q = Breakdown {
            package: self.name,
            by: self.by,
            days: Some(self.days),
        };
        show(engine, q, json).await
    }
}

/// The daily download series with a small chart, totals and change.
#[derive(clap::Args, Debug)]
pub(crate) struct TrendsFlags {
    /// Package.
    name: String,
    /// Days (1-180).
    #[arg(long, default_value_t = 30, allow_negative_numbers = true)]
    days: i64,
}

impl Run for TrendsFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        let q = Trend {
            package: self.name,
            days: Some(self.days),
        };
        show(engine, q, json).await
    }
}
