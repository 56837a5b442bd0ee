//! `get_package_info` / `pypi-sentinel info NAME[==VERSION]`.

use schemars::JsonSchema;
use sentinel_actors::views::info::PackageInfo;
use sentinel_actors::{Datum, EngineHandle, QueryError};
use serde::Deserialize;
use std::fmt::Write as _;

use super::Ask;
use super::show;
use super::{Run, split_spec};
use crate::structured::DatumOut;
use crate::structured::text::freshness;
use crate::terminal::Failure;
use crate::terminal::output::{notes, source_cell, source_note, table};

/// A package and optionally one of its releases.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Info {
    /// The PyPI project name, e.g. `requests` or `PyYAML` (case, `_` and `.` are
    /// normalised as PEP 503 says).
    pub package: String,
    /// A release, e.g. `2.31.0` (PEP 440, or a legacy version the project lists, e.g.
    /// `2004d`). Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
}

impl Ask for Info {
    const TOOL: &'static str = "get_package_info";
    const DESCRIPTION: &'static str = "Metadata of a PyPI package's latest release (or of `version`): summary, license, Requires-Python, project URLs, classifiers, release date, yanked status, number of dependencies. The result says whether the data is live, cached or stale.";

    type Answer = Datum<PackageInfo>;
    type Output<'a> = DatumOut<&'a PackageInfo>;

    /// Metadata of the release.
    async fn ask(&self, engine: &EngineHandle) -> Result<Datum<PackageInfo>, QueryError> {
        engine
            .package_info(&self.package, self.version.as_deref())
            .await
    }

    fn output<'a>(&self, a: &'a Self::Answer) -> Self::Output<'a> {
        DatumOut::of(a)
    }

    fn text(&self, a: &Self::Answer) -> String {
        package_info(a)
    }

    fn table(&self, a: &Self::Answer) -> String {
        info(a)
    }
}

/// `get_package_info`.
fn package_info(d: &Datum<PackageInfo>) -> String {
    let i = &d.value;
    let mut s = format!("{} {}", i.name, i.version);
    if let Some(summary) = &i.summary {
        let _ = write!(s, ": {summary}");
    }
    let _ = write!(s, " ({})", freshness(d));
    let mut facts = Vec::new();
    if let Some(l) = &i.license {
        match i.license_text_chars {
            Some(n) => facts.push(format!(
                "license {l} (the License field is a {n}-character text)"
            )),
            None => facts.push(format!("license {l}")),
        }
    }
    if let Some(r) = &i.requires_python {
        facts.push(format!("requires Python {r}"));
    }
    if let Some(date) = &i.release_date {
        facts.push(format!("released {date}"));
    }
    facts.push(format!("{} declared dependencies", i.dependency_count));
    if i.yanked {
        facts.push(match &i.yanked_reason {
            Some(r) => format!("YANKED: {r}"),
            None => "YANKED".into(),
        });
    }
    let _ = write!(s, "\n{}", facts.join("; "));
    s
}

/// `info`.
fn info(d: &Datum<PackageInfo>) -> String {
    let mut s = String::new();
    let i = &d.value;
    let mut rows = vec![
        vec!["name".into(), i.name.clone()],
        vec!["version".into(), i.version.clone()],
        vec!["summary".into(), i.summary.clone().unwrap_or_default()],
        vec![
            "license".into(),
            match (&i.license, i.license_text_chars) {
                (Some(l), Some(n)) => format!("{l} (the License field is a {n}-character text)"),
                (Some(l), None) => l.clone(),
                (None, _) => String::new(),
            },
        ],
        vec![
            "requires_python".into(),
            i.requires_python.clone().unwrap_or_default(),
        ],
        vec![
            "released".into(),
            i.release_date.clone().unwrap_or_default(),
        ],
        vec!["yanked".into(), i.yanked.to_string()],
        vec!["dependencies".into(), i.dependency_count.to_string()],
    ];
    for (label, url) in &i.project_urls {
        rows.push(vec![format!("url: {label}"), url.clone()]);
    }
    rows.push(vec!["source".into(), source_cell(d)]);
    w!(s, "{}", table(&rows));
    s += &notes([source_note("metadata", d)]);
    s
}

/// Metadata of a package: `info NAME` or `info NAME==VERSION`.
#[derive(clap::Args, Debug)]
pub(crate) struct InfoFlags {
    /// Package, optionally `==VERSION`.
    spec: String,
}

impl Run for InfoFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        let (package, version) = split_spec(&self.spec)?;
        show(engine, Info { package, version }, json).await
    }
}
