//! `get_package_info` / `pypi-sentinel info NAME[==VERSION]`.

use schemars::JsonSchema;
use sentinel_actors::views::info::PackageInfo;
use sentinel_actors::{Datum, EngineHandle, QueryError};
use serde::Deserialize;

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

impl Info {
    /// Metadata of the release.
    pub async fn ask(&self, engine: &EngineHandle) -> Result<Datum<PackageInfo>, QueryError> {
        engine
            .package_info(&self.package, self.version.as_deref())
            .await
    }
}
