//! The download questions: `get_download_statistics` / `downloads`,
//! `get_download_trends` / `trends`, `get_download_breakdown` / `breakdown`.

use schemars::JsonSchema;
use sentinel_actors::views::downloads::{
    Breakdown as BreakdownView, RecentDownloads, Trend as TrendView,
};
use sentinel_actors::{Datum, EngineHandle, QueryError, StatsKind};
use serde::{Deserialize, Serialize};

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

impl Downloads {
    /// The three figures, each with its provenance (the front ends show `period`).
    pub async fn ask(&self, engine: &EngineHandle) -> Result<RecentDownloads, QueryError> {
        engine.recent_downloads(&self.package).await
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

impl Trend {
    /// The series with totals and change.
    pub async fn ask(&self, engine: &EngineHandle) -> Result<Datum<TrendView>, QueryError> {
        let days = sentinel_actors::limits::days(self.days.unwrap_or(30))?;
        engine.download_trend(&self.package, days).await
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

impl Breakdown {
    /// The shares, largest first.
    pub async fn ask(&self, engine: &EngineHandle) -> Result<Datum<BreakdownView>, QueryError> {
        let days = sentinel_actors::limits::days(self.days.unwrap_or(30))?;
        engine
            .download_breakdown(&self.package, self.by.into(), days)
            .await
    }
}
