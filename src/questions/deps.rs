//! `get_package_dependencies` / `pypi-sentinel deps NAME[==VERSION]`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use sentinel_actors::views::deps::{Dependencies, TargetEnv};
use sentinel_actors::{Datum, EngineHandle, QueryError};
use serde::Deserialize;

/// A release's dependencies, optionally evaluated for a target environment.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Deps {
    /// The PyPI project name, e.g. `black`.
    pub package: String,
    /// A release, e.g. `24.3.0`. Omit it for the latest release (or, with a
    /// `python_version`, for the release pip would pick on that Python).
    #[serde(default)]
    pub version: Option<String>,
    /// Evaluate environment markers for this Python, `major.minor` (e.g. `3.12`) or
    /// `major.minor.patch`. When none of `python_version`, `platform`, `extras` and
    /// `markers` is given, markers are not evaluated and every dependency is listed
    /// with its marker.
    #[serde(default)]
    pub python_version: Option<String>,
    /// Evaluate markers for this operating system: `linux`, `macos` or `windows`.
    #[serde(default)]
    pub platform: Option<String>,
    /// Extras to install, e.g. `["socks"]`; dependencies of other extras do not apply.
    #[serde(default)]
    pub extras: Option<Vec<String>>,
    /// Marker values you know, instead of the platform's assumed defaults (the answer's
    /// notes list what was assumed), e.g. `{"platform_machine": "aarch64"}`. Keys:
    /// implementation_name, implementation_version, os_name, platform_machine,
    /// platform_python_implementation, platform_release, platform_system,
    /// platform_version.
    #[serde(default)]
    pub markers: Option<BTreeMap<String, String>>,
}

impl Deps {
    /// The target environment, when anything about one was given.
    fn target(&self) -> Result<Option<TargetEnv>, QueryError> {
        let evaluate = self.python_version.is_some()
            || self.platform.is_some()
            || self.extras.as_ref().is_some_and(|e| !e.is_empty())
            || self.markers.as_ref().is_some_and(|m| !m.is_empty());
        if !evaluate {
            return Ok(None);
        }
        super::target_env(
            self.python_version.as_deref(),
            self.platform.as_deref(),
            self.extras.as_deref(),
            self.markers.as_ref(),
        )
        .map(Some)
    }

    /// The release's dependencies, evaluated for the target when one was given.
    pub async fn ask(&self, engine: &EngineHandle) -> Result<Datum<Dependencies>, QueryError> {
        let env = self.target()?;
        engine
            .dependencies(&self.package, self.version.as_deref(), env.as_ref())
            .await
    }
}
