//! `get_package_docs` / `pypi-sentinel docs NAME[==VERSION]`, and
//! `get_package_docs_with_context` / `pypi-sentinel docs NAME --with-deps`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use sentinel_actors::views::docs::{DocsWithContext, PackageDocs};
use sentinel_actors::{Datum, EngineHandle, QueryError, limits};
use serde::Deserialize;

/// A package's README sized for a model's context.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Docs {
    /// The PyPI project name, e.g. `requests`.
    pub package: String,
    /// A release, e.g. `2.31.0`. Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
    /// Most tokens (o200k_base) of Markdown to return, 100 to 32000. Default 4000.
    #[serde(default)]
    #[schemars(range(min = 100, max = 32000))]
    pub max_tokens: Option<i64>,
}

fn budget(v: Option<i64>) -> Result<usize, QueryError> {
    Ok(limits::docs_tokens(
        v.unwrap_or(limits::DEFAULT_DOCS_TOKENS as i64),
    )?)
}

impl Docs {
    /// The README, most useful sections first, cut to the budget.
    pub async fn ask(&self, engine: &EngineHandle) -> Result<Datum<PackageDocs>, QueryError> {
        let max = budget(self.max_tokens)?;
        engine
            .package_docs(&self.package, self.version.as_deref(), max)
            .await
    }
}

/// A package's README and its runtime dependencies' short docs, under one budget.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct DocsContext {
    /// The PyPI project name, e.g. `black`.
    pub package: String,
    /// A release, e.g. `24.3.0`. Omit it for the latest release (or, with a
    /// `python_version`, the release pip would pick on that Python).
    #[serde(default)]
    pub version: Option<String>,
    /// The target Python, `major.minor` (e.g. `3.12`; default 3.12): dependencies
    /// whose markers exclude it are left out.
    #[serde(default)]
    pub python_version: Option<String>,
    /// The target operating system: `linux` (default), `macos` or `windows`.
    #[serde(default)]
    pub platform: Option<String>,
    /// Extras to install, e.g. `["socks"]`: their dependencies are included.
    #[serde(default)]
    pub extras: Option<Vec<String>>,
    /// Marker values you know, e.g. `{"platform_machine": "aarch64"}` (the keys of
    /// `get_package_dependencies`).
    #[serde(default)]
    pub markers: Option<BTreeMap<String, String>>,
    /// Most tokens (o200k_base) in all: the package's Markdown plus every dependency's
    /// summary, 100 to 32000. Default 4000. The dependencies take a third at most.
    #[serde(default)]
    #[schemars(range(min = 100, max = 32000))]
    pub max_tokens: Option<i64>,
}

impl DocsContext {
    /// The README and the dependencies' summaries, fetched concurrently.
    pub async fn ask(&self, engine: &EngineHandle) -> Result<DocsWithContext, QueryError> {
        let max = budget(self.max_tokens)?;
        let env = super::target_env(
            self.python_version.as_deref(),
            self.platform.as_deref(),
            self.extras.as_deref(),
            self.markers.as_ref(),
        )?;
        engine
            .package_docs_with_context(&self.package, self.version.as_deref(), &env, max)
            .await
    }
}
