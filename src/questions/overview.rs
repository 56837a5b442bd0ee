//! `get_packages_overview` / `pypi-sentinel overview NAME...`.

use schemars::JsonSchema;
use sentinel_actors::{EngineHandle, PackageOverview, PartialResult, QueryError};
use serde::Deserialize;

/// Several packages at once.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Overview {
    /// 1 to 100 PyPI project names, e.g. `["numpy", "pandas"]`. Each is answered
    /// independently: one that fails is listed under `failures` with the reason.
    pub packages: Vec<String>,
}

impl Overview {
    /// Metadata and recent downloads of each package, with partial results.
    pub async fn ask(
        &self,
        engine: &EngineHandle,
    ) -> Result<PartialResult<PackageOverview>, QueryError> {
        engine.overview(&self.packages).await
    }
}
