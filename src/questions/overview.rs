//! `get_packages_overview` / `pypi-sentinel overview NAME...`.

use schemars::JsonSchema;
use sentinel_actors::views::downloads::RecentDownloads;
use sentinel_actors::views::info::PackageInfo;
use sentinel_actors::{
    EngineHandle, ItemFailure, PackageOverview, PartialResult, QueryError, SourceLabel,
};
use serde::{Deserialize, Serialize};

use super::Ask;
use super::Run;
use super::downloads::figure;
use super::show;
use crate::structured::DatumOut;
use crate::structured::text::{failure, freshness};
use crate::terminal::output::{source_cell, table, thousands};
use crate::terminal::{Exit, Failure};
use std::io::IsTerminal;

/// Several packages at once.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Overview {
    /// 1 to 100 PyPI project names, e.g. `["numpy", "pandas"]`. Each is answered
    /// independently: one that fails is listed under `failures` with the reason.
    pub packages: Vec<String>,
}

/// One package of `get_packages_overview`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct OverviewItemOut<I> {
    package: String,
    /// Its metadata (latest release), with provenance.
    info: I,
    /// Its recent downloads, when pypistats (or an estimate) could answer.
    downloads: Option<RecentDownloads>,
}

/// `get_packages_overview`: what was answered, what failed and why.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct OverviewOut<I> {
    /// Every package that could be answered.
    items: Vec<OverviewItemOut<I>>,
    /// Every failure, with its reason and a suggestion.
    failures: Vec<ItemFailure>,
    /// The overall source, derived from every figure.
    source: SourceLabel,
}

impl Ask for Overview {
    const TOOL: &'static str = "get_packages_overview";
    const DESCRIPTION: &'static str = "Metadata and recent downloads of 1 to 100 PyPI packages at once, fetched concurrently. Returns every package that could be answered (`items`), every failure with its reason and a suggestion (`failures`), and the overall `source`. One bad or missing package does not fail the others.";

    type Answer = PartialResult<PackageOverview>;
    type Output<'a> = OverviewOut<DatumOut<&'a PackageInfo>>;

    /// Metadata and recent downloads of each package, with partial results.
    async fn ask(
        &self,
        engine: &EngineHandle,
    ) -> Result<PartialResult<PackageOverview>, QueryError> {
        engine.overview(&self.packages).await
    }

    fn output<'a>(&self, r: &'a Self::Answer) -> Self::Output<'a> {
        OverviewOut {
            items: r
                .items
                .iter()
                .map(|it| OverviewItemOut {
                    package: it.package.clone(),
                    info: DatumOut::of(&it.info),
                    downloads: it.downloads.clone(),
                })
                .collect(),
            failures: r.failures.clone(),
            source: r.source,
        }
    }

    fn text(&self, r: &Self::Answer) -> String {
        let mut s = String::new();
        w!(
            s,
            "{} package(s) answered, {} failure(s); overall source {}",
            r.items.len(),
            r.failures.len(),
            r.source.as_str()
        );
        for item in &r.items {
            let i = &item.info.value;
            w!(
                s,
                "\n- {} {} ({})",
                i.name,
                i.version,
                freshness(&item.info)
            );
            if let Some(d) = &item.downloads {
                w!(s, "; {}", figure("last month", &d.last_month));
            }
        }
        if !r.failures.is_empty() {
            s.push_str("\nfailures:");
            for f in &r.failures {
                w!(s, "\n{}", failure(f));
            }
        }
        s
    }

    fn table(&self, r: &Self::Answer) -> String {
        let mut rows = vec![vec![
            "package".into(),
            "version".into(),
            "source".into(),
            "last month".into(),
            "source".into(),
        ]];
        for item in &r.items {
            let (month, msrc) = match &item.downloads {
                Some(d) => (
                    d.last_month
                        .value
                        .map(thousands)
                        .unwrap_or_else(|| "-".into()),
                    source_cell(&d.last_month),
                ),
                None => ("-".into(), "unavailable".into()),
            };
            rows.push(vec![
                item.package.clone(),
                item.info.value.version.clone(),
                source_cell(&item.info),
                month,
                msrc,
            ]);
        }
        let mut s = table(&rows);
        for f in &r.failures {
            ln!(
                s,
                "  failed: {} ({}): {}; {}",
                f.item,
                f.code,
                f.reason,
                f.suggestion
            );
        }
        ln!(s, "overall source: {}", r.source);
        s
    }

    /// `Exit::Partial` when only part of the batch was answered, `Unavailable` when
    /// none was (documented in the README).
    fn exit(&self, r: &Self::Answer) -> Result<(), Failure> {
        if r.items.is_empty() {
            return Err(Failure::new(
                Exit::Unavailable,
                "no package could be answered",
            ));
        }
        if !r.failures.is_empty() {
            return Err(Failure::partial(format!(
                "{} of {} items failed or were deferred",
                r.failures.len(),
                self.packages.len()
            )));
        }
        Ok(())
    }
}

/// Metadata and downloads of several packages at once (partial results).
#[derive(clap::Args, Debug)]
pub(crate) struct OverviewFlags {
    /// Packages (1-100).
    #[arg(required = true)]
    names: Vec<String>,
}

impl Run for OverviewFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        if std::io::stderr().is_terminal() && !json {
            eprintln!("querying {} packages...", self.names.len());
        }
        show(
            engine,
            Overview {
                packages: self.names,
            },
            json,
        )
        .await
    }
}
