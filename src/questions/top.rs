//! `get_top_downloaded_packages` / `pypi-sentinel top`.

use schemars::JsonSchema;
use sentinel_actors::views::downloads::TopPackages;
use sentinel_actors::{Datum, EngineHandle, QueryError};
use serde::Deserialize;
use std::fmt::Write as _;

use super::Ask;
use super::Run;
use super::show;
use crate::structured::DatumOut;
use crate::structured::text::freshness;
use crate::terminal::Failure;
use crate::terminal::output::{source_cell, table};
use crate::text::thousands;

/// How many of the most downloaded packages to list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Top {
    /// Number of packages, 1 to 1000. Default 10.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<i64>,
}

impl Ask for Top {
    const TOOL: &'static str = "get_top_downloaded_packages";
    const DESCRIPTION: &'static str = "The most downloaded PyPI packages over the last 30 days, from the top-packages dataset: rank, project, download count. `limit` 1 to 1000, default 10.";

    type Answer = Datum<TopPackages>;
    type Output<'a> = DatumOut<&'a TopPackages>;

    /// The top of the 30-day ranking.
    async fn ask(&self, engine: &EngineHandle) -> Result<Datum<TopPackages>, QueryError> {
        let limit = sentinel_actors::limits::top_limit(self.limit.unwrap_or(10))?;
        engine.top_packages(limit).await
    }

    fn output<'a>(&self, a: &'a Self::Answer) -> Self::Output<'a> {
        DatumOut::of(a)
    }

    fn text(&self, a: &Self::Answer) -> String {
        top_text(a)
    }

    fn table(&self, a: &Self::Answer) -> String {
        top(a)
    }
}

/// `get_top_downloaded_packages`.
fn top_text(d: &Datum<TopPackages>) -> String {
    let t = &d.value;
    let mut s = format!(
        "top {} of {} packages by downloads over 30 days ({}{})",
        t.rows.len(),
        t.total_in_dataset,
        freshness(d),
        t.last_update
            .as_ref()
            .map(|u| format!("; dataset of {u}"))
            .unwrap_or_default()
    );
    for r in t.rows.iter().take(50) {
        let _ = write!(
            s,
            "\n{}. {}: {}",
            r.rank,
            r.project,
            thousands(r.download_count)
        );
    }
    if t.rows.len() > 50 {
        let _ = write!(s, "\n... and {} more", t.rows.len() - 50);
    }
    s
}

/// `top`.
fn top(d: &Datum<TopPackages>) -> String {
    let mut s = String::new();
    let mut rows = vec![vec![
        "rank".into(),
        "package".into(),
        "downloads (30 days)".into(),
    ]];
    for r in &d.value.rows {
        rows.push(vec![
            r.rank.to_string(),
            r.project.clone(),
            thousands(r.download_count),
        ]);
    }
    w!(s, "{}", table(&rows));
    ln!(
        s,
        "dataset of {} packages, updated {} ({})",
        d.value.total_in_dataset,
        d.value.last_update.as_deref().unwrap_or("?"),
        source_cell(d)
    );
    s
}

/// The most downloaded packages over 30 days.
#[derive(clap::Args, Debug)]
pub(crate) struct TopFlags {
    /// How many (1-1000).
    #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
    limit: i64,
}

impl Run for TopFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        show(
            engine,
            Top {
                limit: Some(self.limit),
            },
            json,
        )
        .await
    }
}
