//! `download_package` / `pypi-sentinel download NAME [--version V]`.

use std::path::PathBuf;

use schemars::JsonSchema;
use sentinel_actors::views::deps::TargetEnv;
use sentinel_actors::views::package_download::{DownloadRequest, PackageDownload, WantedKind};
use sentinel_actors::{Datum, EngineHandle, FILE_TARGET, QueryError, Target, TargetOnly};
use serde::Deserialize;

/// A release's file for a target, downloaded and verified against the index's sha256.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
// Other arguments are refused (`mcp::params`: serde's `deny_unknown_fields` does not
// work beside `flatten`).
#[schemars(transform = TargetOnly(FILE_TARGET), extend("additionalProperties" = false))]
pub struct Download {
    /// The PyPI project name, e.g. `requests`.
    pub package: String,
    /// A release, e.g. `2.32.3`. Omit it for the release pip would pick on the target
    /// Python.
    #[serde(default)]
    pub version: Option<String>,
    /// Where the file would be installed: python_version, platform, machine.
    #[serde(flatten)]
    pub target: Target,
    /// `wheel`, `sdist`, or `any` (default: the best wheel for the target, else the
    /// sdist).
    #[serde(default)]
    pub kind: Option<String>,
    /// Directory to write into, under the directories the configuration allows
    /// (`download.allowed_dirs`); relative to the first of them. Default: the first of
    /// them.
    #[serde(default)]
    pub dest: Option<String>,
}

impl Download {
    /// The engine's request: the target and kind validated.
    pub fn request(&self) -> Result<DownloadRequest, QueryError> {
        self.target.only(FILE_TARGET)?;
        let env = TargetEnv::of(&self.target)?;
        let kind = match &self.kind {
            Some(k) => k.parse::<WantedKind>()?,
            None => WantedKind::Any,
        };
        if let Some(d) = &self.dest
            && (d.trim().is_empty() || d.contains('\0'))
        {
            return Err(sentinel_actors::InputError {
                param: "dest",
                value: sentinel_actors::clip_echo(d),
                rule: "must be a non-empty directory path".into(),
            }
            .into());
        }
        Ok(DownloadRequest {
            package: self.package.clone(),
            version: self.version.clone(),
            env,
            kind,
            dest: self.dest.as_ref().map(PathBuf::from),
        })
    }

    /// Downloads the file, verified, into the allowed directory.
    pub async fn ask(&self, engine: &EngineHandle) -> Result<Datum<PackageDownload>, QueryError> {
        engine.download_package(&self.request()?).await
    }
}
