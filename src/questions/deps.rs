//! `get_package_dependencies` / `pypi-sentinel deps NAME[==VERSION]`.

use schemars::JsonSchema;
use sentinel_actors::views::deps::{Dependencies, TargetEnv};
use sentinel_actors::{DEPS_TARGET, Datum, EngineHandle, QueryError, Target, TargetOnly};
use serde::Deserialize;

/// A release's dependencies, optionally evaluated for a target environment. When no
/// target field is given, markers are not evaluated and every dependency is listed with
/// its marker; with a `python_version` and no `version`, the release is the one pip
/// would pick on that Python.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(transform = TargetOnly(DEPS_TARGET))]
pub struct Deps {
    /// The PyPI project name, e.g. `black`.
    pub package: String,
    /// A release, e.g. `24.3.0`. Omit it for the latest release (or, with a
    /// `python_version`, for the release pip would pick on that Python).
    #[serde(default)]
    pub version: Option<String>,
    /// Where to evaluate the markers: python_version, platform, extras, markers.
    #[serde(flatten)]
    pub target: Target,
}

impl Deps {
    /// The release's dependencies, evaluated for the target when one was given.
    pub async fn ask(&self, engine: &EngineHandle) -> Result<Datum<Dependencies>, QueryError> {
        self.target.only(DEPS_TARGET)?;
        let env = (!self.target.is_empty())
            .then(|| TargetEnv::of(&self.target))
            .transpose()?;
        engine
            .dependencies(&self.package, self.version.as_deref(), env.as_ref())
            .await
    }
}
