//! `get_package_versions` / `pypi-sentinel versions NAME`.

use schemars::JsonSchema;
use sentinel_actors::views::versions::VersionList;
use sentinel_actors::{Datum, EngineHandle, QueryError};
use serde::Deserialize;

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

/// The versions after filtering, and how many there were before.
#[derive(Debug, Clone)]
pub struct VersionsAnswer {
    /// The filtered list, with its provenance.
    pub datum: Datum<VersionList>,
    /// Versions before filtering.
    pub total: usize,
}

impl Versions {
    /// Every version, filtered as asked.
    pub async fn ask(&self, engine: &EngineHandle) -> Result<VersionsAnswer, QueryError> {
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
}
