//! `[vulnerabilities.export]`: where OSV's export of every PyPI advisory is synced
//! from (`vulns sync`), how often in the background, and the caps it is read under.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// OSV's PyPI export, as OSV serves it (a zip of one JSON file per advisory).
pub(crate) const DEFAULT_EXPORT_URL: &str =
    "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip";

/// OSV's export of every PyPI advisory (`[vulnerabilities.export]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct OsvExportConfig {
    /// The export's URL (`<OSV export base>/PyPI/all.zip`; `--origin` points it at
    /// `{origin}/PyPI/all.zip`). Fetched through the `files` upstream (its breaker,
    /// rate limit and concurrency cap).
    pub url: String,
    /// While the engine runs, sync again every this many hours (0, the default: only
    /// when asked, `pypi-sentinel vulns sync`).
    pub resync_hours: u32,
    /// Largest zip downloaded, in bytes.
    pub max_bytes: u64,
    /// Most entries read from the zip.
    pub max_entries: u64,
    /// Most bytes inflated over every entry (a zip bomb stops there).
    pub max_inflated_bytes: u64,
    /// A whole sync's deadline (download, reading, writing), in ms.
    pub timeout_ms: u64,
}

impl Default for OsvExportConfig {
    fn default() -> Self {
        OsvExportConfig {
            url: DEFAULT_EXPORT_URL.into(),
            resync_hours: 0,
            max_bytes: 512 * 1024 * 1024,
            max_entries: 500_000,
            max_inflated_bytes: 2 * 1024 * 1024 * 1024,
            timeout_ms: 600_000,
        }
    }
}

impl OsvExportConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let key = |k: &str| format!("vulnerabilities.export.{k}");
        let url = self.url.as_str();
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || reqwest::Url::parse(url).is_err() {
            return Err(ConfigError::new(
                key("url"),
                url,
                "must be an absolute http:// or https:// URL",
            ));
        }
        for (k, v) in [
            ("max_bytes", self.max_bytes),
            ("max_entries", self.max_entries),
            ("max_inflated_bytes", self.max_inflated_bytes),
        ] {
            if v == 0 {
                return Err(ConfigError::new(key(k), v, "must be at least 1"));
            }
        }
        if !(1_000..=24 * 3_600_000).contains(&self.timeout_ms) {
            return Err(ConfigError::new(
                key("timeout_ms"),
                self.timeout_ms,
                "must be within 1000..=86400000 ms",
            ));
        }
        if self.resync_hours > 24 * 365 {
            return Err(ConfigError::new(
                key("resync_hours"),
                self.resync_hours,
                "must be at most 8760 (a year); 0 is off",
            ));
        }
        Ok(())
    }
}
