//! `get_package_versions` / `pypi-sentinel versions NAME`.

use schemars::JsonSchema;
use sentinel_actors::views::versions::VersionList;
use sentinel_actors::{Datum, EngineHandle, QueryError};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

use super::Ask;
use super::Run;
use super::show;
use crate::structured::text::freshness;
use crate::structured::{DatumOut, VersionsOut};
use crate::terminal::Failure;
use crate::terminal::output::{notes, source_cell, source_note, table};

/// Which versions of a package to list.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Versions {
    /// The PyPI project name, e.g. `django`.
    pub package: String,
    /// Include pre-releases and development releases (`2.0rc1`, `1.0.dev3`).
    /// Default `true`.
    #[serde(default)]
    pub include_prereleases: Option<bool>,
    /// Include releases whose every file is yanked. Default `true`.
    #[serde(default)]
    pub include_yanked: Option<bool>,
    /// Return only the newest N versions (after filtering), 1 to 10000. Omit it for all.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub limit: Option<i64>,
}

/// The versions after filtering, and how many there were before (the CLI's `--json`
/// prints the list).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct VersionsAnswer {
    /// The filtered list, with its provenance.
    pub datum: Datum<VersionList>,
    /// Versions before filtering.
    #[serde(skip)]
    pub total: usize,
}

impl Ask for Versions {
    const TOOL: &'static str = "get_package_versions";
    const DESCRIPTION: &'static str = "Every version of a PyPI package, sorted by PEP 440 (oldest first; legacy non-PEP 440 versions last), each with pre-release and yanked flags, upload date and file count, plus the latest stable and latest versions. Filter with include_prereleases / include_yanked; `limit` keeps the newest N. When the JSON API fails the list comes from the Simple API and `notes` says so.";

    type Answer = VersionsAnswer;
    type Output<'a> = VersionsOut<DatumOut<&'a VersionList>>;

    /// Every version, filtered as asked.
    async fn ask(&self, engine: &EngineHandle) -> Result<VersionsAnswer, QueryError> {
        let limit = self
            .limit
            .map(sentinel_actors::limits::versions_limit)
            .transpose()?;
        let (pre, yanked) = (
            self.include_prereleases.unwrap_or(true),
            self.include_yanked.unwrap_or(true),
        );
        let mut datum = engine.versions(&self.package).await?;
        let total = datum.value.versions.len();
        datum
            .value
            .versions
            .retain(|e| (pre || !e.prerelease) && (yanked || !e.yanked));
        if let Some(l) = limit {
            let skip = datum.value.versions.len().saturating_sub(l);
            datum.value.versions.drain(..skip);
        }
        Ok(VersionsAnswer { datum, total })
    }

    fn output<'a>(&self, a: &'a Self::Answer) -> Self::Output<'a> {
        VersionsOut {
            datum: DatumOut::of(&a.datum),
            total_versions: a.total,
            returned: a.datum.value.versions.len(),
        }
    }

    fn text(&self, a: &Self::Answer) -> String {
        versions_text(&a.datum, a.total)
    }

    fn table(&self, a: &Self::Answer) -> String {
        versions(a)
    }
}

/// `get_package_versions`, after filtering.
fn versions_text(d: &Datum<VersionList>, total: usize) -> String {
    let v = &d.value;
    let shown: Vec<&str> = v
        .versions
        .iter()
        .rev()
        .take(10)
        .map(|e| e.version.as_str())
        .collect();
    let mut s = format!(
        "{}: {} versions returned of {total} ({})",
        v.package,
        v.versions.len(),
        freshness(d)
    );
    if let Some(l) = &v.latest_stable {
        let _ = write!(s, "; latest stable {l}");
    }
    if let Some(l) = &v.latest
        && v.latest_stable.as_ref() != Some(l)
    {
        let _ = write!(s, "; latest {l}");
    }
    if !shown.is_empty() {
        let _ = write!(s, "\nnewest first: {}", shown.join(", "));
        if v.versions.len() > shown.len() {
            s.push_str(", ...");
        }
    }
    for n in &v.notes {
        let _ = write!(s, "\nnote: {n}");
    }
    s
}

/// `versions`.
fn versions(a: &VersionsAnswer) -> String {
    let mut s = String::new();
    let d = &a.datum;
    let mut rows = vec![vec![
        "version".into(),
        "uploaded".into(),
        "files".into(),
        "flags".into(),
    ]];
    for v in &d.value.versions {
        let mut flags = Vec::new();
        if v.prerelease {
            flags.push("pre-release");
        }
        if v.yanked {
            flags.push("yanked");
        }
        if !v.pep440 {
            flags.push("legacy");
        }
        rows.push(vec![
            v.version.clone(),
            v.upload_date
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(10)
                .collect(),
            v.files.to_string(),
            flags.join(", "),
        ]);
    }
    w!(s, "{}", table(&rows));
    let shown = d.value.versions.len();
    let shown = if shown == a.total {
        format!("{shown} versions")
    } else {
        format!("{shown} of {} versions shown", a.total)
    };
    ln!(
        s,
        "{shown}; latest stable {}; from {} ({})",
        d.value.latest_stable.as_deref().unwrap_or("none"),
        d.upstream,
        source_cell(d)
    );
    s += &notes(
        std::iter::once(source_note("versions", d)).chain(d.value.notes.iter().cloned().map(Some)),
    );
    s
}

/// Every version, sorted by PEP 440, with pre-release and yanked flags.
#[derive(clap::Args, Debug)]
pub(crate) struct VersionsFlags {
    /// Package.
    name: String,
    /// Only stable releases: hide pre-releases and yanked releases (the same as
    /// --no-prereleases --no-yanked).
    #[arg(long)]
    stable: bool,
    /// Hide pre-releases (MCP: include_prereleases = false).
    #[arg(long)]
    no_prereleases: bool,
    /// Hide yanked releases (MCP: include_yanked = false).
    #[arg(long)]
    no_yanked: bool,
    /// Only the newest N (1-10000).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    limit: Option<i64>,
}

impl Run for VersionsFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        let q = Versions {
            package: self.name,
            include_prereleases: Some(!(self.stable || self.no_prereleases)),
            include_yanked: Some(!(self.stable || self.no_yanked)),
            limit: self.limit,
        };
        show(engine, q, json).await
    }
}
