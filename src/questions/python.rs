//! `check_package_python_compatibility` and `get_package_compatible_python_versions` /
//! `pypi-sentinel python NAME[==VERSION] [--check X.Y]`.

use schemars::JsonSchema;
use sentinel_actors::views::python::{PythonCompat, SupportedPythons};
use sentinel_actors::{Datum, EngineHandle, QueryError};
use serde::Deserialize;

/// Whether a release supports a Python version.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PythonCheck {
    /// The PyPI project name, e.g. `numpy`.
    pub package: String,
    /// A release, e.g. `1.26.4`. Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
    /// The Python version to check: `major.minor` (e.g. `3.13`, answered as "some
    /// 3.13.x") or `major.minor.patch` (checked as given). 2.x or 3.x.
    pub python_version: String,
}

impl PythonCheck {
    /// The verdict, with its basis.
    pub async fn ask(&self, engine: &EngineHandle) -> Result<Datum<PythonCompat>, QueryError> {
        engine
            .python_compatibility(&self.package, self.version.as_deref(), &self.python_version)
            .await
    }
}

/// The Python versions a release supports.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Pythons {
    /// The PyPI project name, e.g. `requests`.
    pub package: String,
    /// A release, e.g. `2.31.0`. Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
}

impl Pythons {
    /// The supported versions, from Requires-Python, else classifiers.
    pub async fn ask(&self, engine: &EngineHandle) -> Result<Datum<SupportedPythons>, QueryError> {
        engine
            .supported_pythons(&self.package, self.version.as_deref())
            .await
    }
}
