//! `get_package_docs` / `pypi-sentinel docs NAME[==VERSION]`, and
//! `get_package_docs_with_context` / `pypi-sentinel docs NAME --with-deps`.

use schemars::JsonSchema;
use sentinel_actors::views::deps::TargetEnv;
use sentinel_actors::views::docs::{DocsWithContext, PackageDocs};
use sentinel_actors::{DEPS_TARGET, Datum, EngineHandle, QueryError, Target, TargetOnly, limits};
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
#[schemars(transform = TargetOnly(DEPS_TARGET))]
pub struct DocsContext {
    /// The PyPI project name, e.g. `black`.
    pub package: String,
    /// A release, e.g. `24.3.0`. Omit it for the latest release (or, with a
    /// `python_version`, the release pip would pick on that Python).
    #[serde(default)]
    pub version: Option<String>,
    /// Where the dependencies would be installed: dependencies whose markers exclude
    /// it are left out (default CPython 3.12 on linux).
    #[serde(flatten)]
    pub target: Target,
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
        self.target.only(DEPS_TARGET)?;
        let env = TargetEnv::of(&self.target)?;
        engine
            .package_docs_with_context(&self.package, self.version.as_deref(), &env, max)
            .await
    }
}
