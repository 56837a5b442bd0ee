//! Tool parameters. Each struct derives [`JsonSchema`]; its doc comments become the
//! descriptions an assistant reads, so they say what to pass and what the rules are.
//!
//! Numbers are taken as signed integers and checked by the tool (not by serde), so an
//! out-of-range value is answered with an `invalid_params` error that names the
//! parameter and the rule rather than with a generic deserialisation failure.

use schemars::JsonSchema;
use serde::Deserialize;

/// A package and optionally one of its releases.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PackageVersionParams {
    /// The PyPI project name, e.g. `requests` or `PyYAML` (case, `_` and `.` are
    /// normalised as PEP 503 says).
    pub package: String,
    /// A release, e.g. `2.31.0` (PEP 440). Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
}

/// Which versions of a package to list.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct VersionsParams {
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

/// A release's dependencies, optionally evaluated for a target environment.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DependenciesParams {
    /// The PyPI project name, e.g. `black`.
    pub package: String,
    /// A release, e.g. `24.3.0`. Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
    /// Evaluate environment markers for this Python, `major.minor` (e.g. `3.12`).
    /// When none of `python_version`, `platform` and `extras` is given, markers are not
    /// evaluated and every dependency is listed with its marker.
    #[serde(default)]
    pub python_version: Option<String>,
    /// Evaluate markers for this operating system: `linux`, `macos` or `windows`.
    #[serde(default)]
    pub platform: Option<String>,
    /// Extras to install, e.g. `["socks"]`; dependencies of other extras do not apply.
    #[serde(default)]
    pub extras: Option<Vec<String>>,
}

/// Whether a release supports a Python version.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PythonCompatParams {
    /// The PyPI project name, e.g. `numpy`.
    pub package: String,
    /// A release, e.g. `1.26.4`. Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
    /// The Python version to check, `major.minor` (e.g. `3.13`).
    pub python_version: String,
}

/// Recent download totals of a package.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DownloadStatsParams {
    /// The PyPI project name, e.g. `numpy`.
    pub package: String,
    /// `day`, `week`, `month` (the last 1, 7 or 30 days) or `all` (the three).
    /// Default `all`.
    #[serde(default)]
    pub period: Option<String>,
}

/// The daily download series of a package.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DownloadTrendParams {
    /// The PyPI project name, e.g. `pytest`.
    pub package: String,
    /// How many of the most recent days, 1 to 180 (pypistats keeps 180). Default 30.
    #[serde(default)]
    #[schemars(range(min = 1, max = 180))]
    pub days: Option<i64>,
}

/// Downloads split by Python version or operating system.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DownloadBreakdownParams {
    /// The PyPI project name, e.g. `django`.
    pub package: String,
    /// `python_major` (2 vs 3), `python_minor` (3.11, 3.12, ...) or `system` (Linux,
    /// Windows, Darwin).
    pub by: String,
    /// Sum over the last N days, 1 to 180. Default 30.
    #[serde(default)]
    #[schemars(range(min = 1, max = 180))]
    pub days: Option<i64>,
}

/// How many of the most downloaded packages to list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct TopPackagesParams {
    /// Number of packages, 1 to 1000. Default 10.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<i64>,
}

/// Several packages at once.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct OverviewParams {
    /// 1 to 100 PyPI project names, e.g. `["numpy", "pandas"]`. Each is answered
    /// independently: one that fails is listed under `failures` with the reason.
    pub packages: Vec<String>,
}

/// What to drop from the cache.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct RefreshParams {
    /// Drop only what is cached about this package; omit it to drop everything.
    #[serde(default)]
    pub package: Option<String>,
}

/// The package a prompt is about.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PackageReportParams {
    /// The PyPI project name, e.g. `requests`.
    pub package: String,
}
