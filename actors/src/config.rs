//! The engine's configuration: one struct per subsystem, defaults listed in
//! docs/ARCHITECTURE.md section 5, and validation that names the key, the value and the rule.

use serde::{Deserialize, Serialize};

use sentinel_core::model::{QueryKind, Upstream};

pub(crate) mod fleet;
mod osv_export;
mod upstreams;
pub use osv_export::OsvExportConfig;
pub use upstreams::{AuthConfig, RateLimitConfig, UpstreamConfig, UpstreamsConfig};

/// Everything the engine needs to start.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Per-upstream settings.
    pub upstreams: UpstreamsConfig,
    /// The cache.
    pub cache: CacheConfig,
    /// Connect, attempt and request timeouts.
    pub timeouts: TimeoutConfig,
    /// Restart policy of the supervisor.
    pub supervision: SupervisionConfig,
    /// The `User-Agent` sent on every request.
    pub user_agent: String,
    /// Largest response body accepted, in bytes (PyPI project JSON can be megabytes).
    pub max_body_bytes: u64,
    /// How long `shutdown()` waits for in-flight calls, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Serve a stale entry at once and refresh it in the background.
    pub stale_while_revalidate: bool,
    /// The embedded store (last-known-good documents and download history on disk).
    pub store: StoreConfig,
    /// The engine's "now in UTC" (how old a figure's data is, when the next daily
    /// update is due, how old a cached document is). The machine's clock unless an
    /// embedder pins it or drives it ([`crate::UtcClock::driven`]); not a file setting.
    #[serde(skip)]
    pub clock: crate::clock::UtcClock,
    /// What `scan_dependencies` may read from disk.
    pub scan: ScanConfig,
    /// Where `download_package` may write, how much, and from which hosts.
    pub download: DownloadConfig,
    /// Where the known vulnerabilities of a release come from.
    pub vulnerabilities: VulnerabilitiesConfig,
    /// Many replicas sharing quotas and documents through Redis (`[fleet]`; off
    /// unless `redis_url` is set).
    pub fleet: fleet::FleetConfig,
}

/// Where the known vulnerabilities of a release come from (`[vulnerabilities]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct VulnerabilitiesConfig {
    /// `pypi` (default), `osv`, `both` or `offline`.
    pub source: VulnSource,
    /// OSV's export of every PyPI advisory, synced into the store (`vulns sync`).
    pub export: OsvExportConfig,
}

/// The advisory sources asked for a release's vulnerabilities.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VulnSource {
    /// The index's per-release JSON (its `vulnerabilities` list); OSV for a release
    /// whose per-release JSON the index does not serve (404), when `upstreams.osv` is
    /// enabled.
    #[default]
    Pypi,
    /// The OSV API only (`upstreams.osv`).
    Osv,
    /// Both, merged by id and alias; each advisory says which listed it.
    Both,
    /// OSV's export synced into the store (`vulns sync`): no request per release, and
    /// answers while PyPI and OSV are down. Until a sync completes, `pypi` is asked,
    /// with a note saying so.
    Offline,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            upstreams: UpstreamsConfig::default(),
            cache: CacheConfig::default(),
            timeouts: TimeoutConfig::default(),
            supervision: SupervisionConfig::default(),
            user_agent: default_user_agent(),
            max_body_bytes: 32 * 1024 * 1024,
            shutdown_grace_ms: 5_000,
            stale_while_revalidate: true,
            store: StoreConfig::default(),
            clock: crate::clock::UtcClock::default(),
            scan: ScanConfig::default(),
            download: DownloadConfig::default(),
            vulnerabilities: VulnerabilitiesConfig::default(),
            fleet: fleet::FleetConfig::default(),
        }
    }
}

/// `pypi-sentinel/<version> (+<repository>)`: one agent string naming the product.
pub fn default_user_agent() -> String {
    format!(
        "pypi-sentinel/{} (+{})",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_REPOSITORY")
    )
}

/// A configuration value that breaks a rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {key} = {value}: {rule}")]
pub struct ConfigError {
    /// The dotted key, e.g. `upstreams.pypistats.breaker.failure_rate_threshold`.
    pub key: String,
    /// The value found.
    pub value: String,
    /// The rule it breaks.
    pub rule: String,
}

impl ConfigError {
    pub(crate) fn new(
        key: impl Into<String>,
        value: impl ToString,
        rule: impl Into<String>,
    ) -> Self {
        ConfigError {
            key: key.into(),
            value: value.to_string(),
            rule: rule.into(),
        }
    }
}

impl EngineConfig {
    /// Sends every upstream to one origin (the simulator or a mirror that serves all
    /// routes): `{origin}/pypi/...`, `{origin}/simple/...`, `{origin}/api/packages/...`,
    /// `{origin}/api/v2/projects/...`, `{origin}/v1/...` (OSV) and
    /// `{origin}/top-pypi-packages.min.json`.
    pub fn with_origin(mut self, origin: &str) -> Self {
        let origin = origin.trim_end_matches('/');
        // The extra index is another index, never the origin's: it keeps its own URL.
        for up in Upstream::ALL
            .into_iter()
            .filter(|u| *u != Upstream::ExtraIndex)
        {
            let cfg = self.upstreams.get_mut(up);
            cfg.base_url = if up == Upstream::TopPackages {
                format!("{origin}/top-pypi-packages.min.json")
            } else {
                origin.to_string()
            };
        }
        self.upstreams.pepy.enabled = true;
        self.vulnerabilities.export.url = format!("{origin}/PyPI/all.zip");
        self
    }

    /// Every duration key with the longest value the components take: a value past it
    /// would overflow a clock (`Instant + Duration` panics) or moka's 1,000-year limit,
    /// so it is refused here, naming the key, rather than crashing a later command.
    fn durations(&self) -> Vec<(String, u64, u64)> {
        const DAY: u64 = 24 * 3600 * 1000;
        const TEN_YEARS: u64 = 3650 * DAY;
        let c = &self.cache;
        let t = &self.timeouts;
        let mut v: Vec<(String, u64, u64)> = [
            (
                "cache.project_json_ttl_ms",
                c.project_json_ttl_ms,
                TEN_YEARS,
            ),
            ("cache.simple_ttl_ms", c.simple_ttl_ms, TEN_YEARS),
            ("cache.downloads_ttl_ms", c.downloads_ttl_ms, TEN_YEARS),
            (
                "cache.downloads_publish_delay_ms",
                c.downloads_publish_delay_ms,
                DAY,
            ),
            ("cache.downloads_min_ttl_ms", c.downloads_min_ttl_ms, DAY),
            ("cache.downloads_retry_ms", c.downloads_retry_ms, DAY),
            (
                "cache.top_packages_ttl_ms",
                c.top_packages_ttl_ms,
                TEN_YEARS,
            ),
            ("cache.metadata_ttl_ms", c.metadata_ttl_ms, TEN_YEARS),
            ("cache.stale_retention_ms", c.stale_retention_ms, TEN_YEARS),
            // Longer would hide an upstream's recovery from callers.
            ("cache.failure_ttl_ms", c.failure_ttl_ms, 5 * 60 * 1000),
            ("cache.refresh_ahead_ms", c.refresh_ahead_ms, DAY),
            (
                "cache.max_upstream_fresh_ms",
                c.max_upstream_fresh_ms,
                TEN_YEARS,
            ),
            ("timeouts.connect_ms", t.connect_ms, DAY),
            ("timeouts.attempt_ms", t.attempt_ms, DAY),
            ("timeouts.deadline_ms", t.deadline_ms, DAY),
            ("timeouts.answer_budget_ms", t.answer_budget_ms, DAY),
            ("shutdown_grace_ms", self.shutdown_grace_ms, DAY),
            ("supervision.window_ms", self.supervision.window_ms, DAY),
        ]
        .into_iter()
        .map(|(k, v, max)| (k.to_string(), v, max))
        .collect();
        for up in Upstream::ALL {
            let u = self.upstreams.get(up);
            let key = format!("upstreams.{}", up.as_str().replace('-', "_"));
            for (k, val) in [
                ("retry.base_ms", u.retry.base_ms),
                ("retry.cap_ms", u.retry.cap_ms),
                ("retry.retry_after_cap_ms", u.retry.retry_after_cap_ms),
                ("retry_budget.window_ms", u.retry_budget.window_ms),
                ("breaker.window_ms", u.breaker.window_ms),
                ("breaker.consecutive_span_ms", u.breaker.consecutive_span_ms),
                ("breaker.open_base_ms", u.breaker.open_base_ms),
                ("breaker.open_max_ms", u.breaker.open_max_ms),
            ] {
                v.push((format!("{key}.{k}"), val, DAY));
            }
        }
        v
    }

    /// Checks every value; the first broken rule is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value, max) in self.durations() {
            if value > max {
                return Err(ConfigError::new(
                    key,
                    value,
                    format!("must be at most {max} ms"),
                ));
            }
        }
        for up in Upstream::ALL {
            // An extra index that is off has no URL to check.
            if up == Upstream::ExtraIndex && !self.upstreams.extra_index_configured() {
                continue;
            }
            self.upstreams
                .get(up)
                .validate(&format!("upstreams.{}", up.as_str().replace('-', "_")))?;
        }
        self.cache.validate()?;
        self.timeouts.validate()?;
        self.supervision.validate()?;
        self.store.validate()?;
        if self.user_agent.trim().is_empty() || !self.user_agent.is_ascii() {
            return Err(ConfigError::new(
                "user_agent",
                &self.user_agent,
                "must be non-empty ASCII naming the product",
            ));
        }
        self.download.validate()?;
        self.vulnerabilities.export.validate()?;
        // Off (no `redis_url`), its settings are not used: a short answer budget
        // must not make the default Redis deadline an error.
        if self.fleet.enabled() {
            self.fleet.validate(self.timeouts.answer_budget_ms)?;
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "max_body_bytes",
                self.max_body_bytes,
                "must be at least 1024",
            ));
        }
        Ok(())
    }
}

/// What `scan_dependencies` may read from disk.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {
    /// Directories whose files (and subdirectories) a scan may read, after symbolic
    /// links are resolved. Empty: no path is read (content passed inline always
    /// works); the CLI then allows the current directory.
    pub allowed_dirs: Vec<std::path::PathBuf>,
}

/// What `download_package` may do: write only under `allowed_dirs`, at most
/// `max_bytes` per file, fetched only from the hosts allowed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DownloadConfig {
    /// Directories a download may be written into, after symbolic links are resolved.
    /// Empty: downloads are refused (an MCP server writes nowhere by default); the CLI
    /// then allows the current directory.
    pub allowed_dirs: Vec<std::path::PathBuf>,
    /// The largest file downloaded, in bytes; a file listed (or announced by
    /// `Content-Length`) as larger is refused before its body is read, and a body that
    /// grows past it is cut off.
    pub max_bytes: u64,
    /// Hosts a file may be fetched from besides the JSON and Simple API hosts (which
    /// are always allowed: relative file URLs resolve against them). A listing that
    /// points anywhere else is refused: an index or mirror must not make the engine
    /// fetch arbitrary URLs. Exact host names, no wildcards.
    pub allowed_hosts: Vec<String>,
}

/// Where PyPI serves distribution files.
pub const PYPI_FILES_HOST: &str = "files.pythonhosted.org";

impl Default for DownloadConfig {
    fn default() -> Self {
        DownloadConfig {
            allowed_dirs: Vec::new(),
            max_bytes: 512 * 1024 * 1024,
            allowed_hosts: vec![PYPI_FILES_HOST.into()],
        }
    }
}

impl DownloadConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_bytes == 0 {
            return Err(ConfigError::new(
                "download.max_bytes",
                self.max_bytes,
                "must be at least 1",
            ));
        }
        if let Some(h) = self.allowed_hosts.iter().find(|h| {
            h.is_empty()
                || !h
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        }) {
            return Err(ConfigError::new(
                "download.allowed_hosts",
                h,
                "each must be a host name (optionally with :port), e.g. files.pythonhosted.org",
            ));
        }
        Ok(())
    }
}

/// Cache settings (docs/ARCHITECTURE.md section 5).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Capacity in bytes (entries are weighed by their size).
    pub capacity_bytes: u64,
    /// How long entries are kept past their fresh TTL to serve as stale, in ms.
    pub stale_retention_ms: u64,
    /// Fresh TTL of project and release JSON, in ms (PyPI says max-age=900).
    pub project_json_ttl_ms: u64,
    /// Fresh TTL of Simple API pages, in ms.
    pub simple_ttl_ms: u64,
    /// The longest a download document (pypistats, pepy) stays fresh, in ms. Within
    /// it, a document is fresh until the upstream's next daily update is due (see
    /// `downloads_publish_delay_ms`), not for a fixed time after each fetch.
    pub downloads_ttl_ms: u64,
    /// How long after a day ends (midnight UTC) its download data is expected upstream,
    /// in ms. pypistats' daily update starts at 01:00 UTC and takes about 10 minutes
    /// (its FAQ): 2 h leaves a margin.
    pub downloads_publish_delay_ms: u64,
    /// The shortest a download document stays fresh, in ms (a fetch just before the
    /// next update is due).
    pub downloads_min_ttl_ms: u64,
    /// Past the due time, when a refetch brought no new day (the upstream is late), how
    /// long before asking again, in ms.
    pub downloads_retry_ms: u64,
    /// Fresh TTL of the top-packages dataset, in ms.
    pub top_packages_ttl_ms: u64,
    /// Fresh TTL of release metadata files (PEP 658), in ms: a published release's
    /// metadata never changes, so it is kept long (30 days).
    pub metadata_ttl_ms: u64,
    /// How long an upstream failure of a document answers the next callers (or they
    /// get the stale copy, when one is held) instead of asking the upstream again, in
    /// ms; 0 = never remembered. Short: it only spares a failing upstream one request
    /// per caller until its breaker opens. The answer says it is remembered, how old it
    /// is and when the upstream is asked again. Only the upstream's own failures are
    /// remembered: never our own rate-limit deferrals, deadlines or cancellations, and
    /// never "not found" (an answer, not a failure).
    pub failure_ttl_ms: u64,
    /// Refresh-ahead: a PyPI document (project or release JSON, Simple page) read at
    /// least this many times from the cache since it was fetched is refreshed in the
    /// background shortly before it goes stale, so its readers keep fresh hits. 0 = off.
    /// Download documents are never refreshed ahead (their freshness follows the
    /// upstream's daily update, and their rate limits belong to callers).
    pub refresh_ahead_hits: u32,
    /// Refresh-ahead: how long before a hot document goes stale it is refreshed, in ms.
    pub refresh_ahead_ms: u64,
    /// The longest an upstream's `Cache-Control: max-age` makes a document fresh, in
    /// ms (a larger max-age is clamped to this, or to the kind's TTL when that is
    /// longer). Without the header, the kind's TTL applies.
    pub max_upstream_fresh_ms: u64,
}

impl EngineConfig {
    /// Where files and metadata may be fetched from: the index's hosts and
    /// `download.allowed_hosts`.
    pub(crate) fn file_hosts(&self) -> sentinel_core::upstream::hosts::FileHosts {
        let index = [Upstream::PypiJson, Upstream::PypiSimple]
            .map(|u| self.upstreams.get(u).base_url.as_str());
        sentinel_core::upstream::hosts::FileHosts::new(&index, &self.download.allowed_hosts)
    }
}

impl CacheConfig {
    /// The daily-update freshness rule of download documents (`cache.downloads_*`).
    pub(crate) fn daily_freshness(&self) -> sentinel_core::policy::DailyFreshness {
        sentinel_core::policy::DailyFreshness {
            publish_delay: std::time::Duration::from_millis(self.downloads_publish_delay_ms),
            min_ttl: std::time::Duration::from_millis(self.downloads_min_ttl_ms),
            max_ttl: std::time::Duration::from_millis(self.downloads_ttl_ms),
            retry: std::time::Duration::from_millis(self.downloads_retry_ms),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        const MIN: u64 = 60_000;
        CacheConfig {
            capacity_bytes: 256 * 1024 * 1024,
            stale_retention_ms: 7 * 24 * 60 * MIN,
            project_json_ttl_ms: 15 * MIN,
            simple_ttl_ms: 10 * MIN,
            downloads_ttl_ms: 24 * 60 * MIN,
            downloads_publish_delay_ms: 2 * 60 * MIN,
            downloads_min_ttl_ms: 10 * MIN,
            downloads_retry_ms: 60 * MIN,
            top_packages_ttl_ms: 24 * 60 * MIN,
            metadata_ttl_ms: 30 * 24 * 60 * MIN,
            failure_ttl_ms: 5_000,
            refresh_ahead_hits: 3,
            refresh_ahead_ms: 60_000,
            max_upstream_fresh_ms: 24 * 60 * MIN,
        }
    }
}

impl CacheConfig {
    /// The fresh TTL of a query kind.
    pub fn ttl_ms(&self, kind: QueryKind) -> u64 {
        match kind {
            QueryKind::ProjectJson => self.project_json_ttl_ms,
            QueryKind::Simple => self.simple_ttl_ms,
            QueryKind::Downloads => self.downloads_ttl_ms,
            QueryKind::TopPackages => self.top_packages_ttl_ms,
            QueryKind::Metadata => self.metadata_ttl_ms,
        }
    }

    /// The longest fresh TTL of any kind (moka's outer bound and the store's retention
    /// add the stale retention to it).
    pub fn longest_ttl_ms(&self) -> u64 {
        [
            self.project_json_ttl_ms,
            self.simple_ttl_ms,
            self.downloads_ttl_ms,
            self.top_packages_ttl_ms,
            self.metadata_ttl_ms,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.capacity_bytes < 1024 * 1024 {
            return Err(ConfigError::new(
                "cache.capacity_bytes",
                self.capacity_bytes,
                "must be at least 1048576 (1 MiB)",
            ));
        }
        for (key, v) in [
            ("cache.project_json_ttl_ms", self.project_json_ttl_ms),
            ("cache.simple_ttl_ms", self.simple_ttl_ms),
            ("cache.downloads_ttl_ms", self.downloads_ttl_ms),
            ("cache.downloads_retry_ms", self.downloads_retry_ms),
            ("cache.top_packages_ttl_ms", self.top_packages_ttl_ms),
            ("cache.metadata_ttl_ms", self.metadata_ttl_ms),
        ] {
            if v == 0 {
                return Err(ConfigError::new(key, v, "must be greater than 0"));
            }
        }
        Ok(())
    }
}

/// Timeouts (docs/ARCHITECTURE.md section 5).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutConfig {
    /// TCP/TLS connect timeout, ms.
    pub connect_ms: u64,
    /// One attempt (request + body), ms.
    pub attempt_ms: u64,
    /// A whole call, retries and fallbacks included, ms.
    pub deadline_ms: u64,
    /// How long a caller that has a fallback (a stale copy, an estimate) waits for the
    /// upstream before it gets the fallback, labelled with why; the fetch goes on in the
    /// background. Also the longest wait for a slot of our own rate limit, unless
    /// `wait_for_own_limits`. ms.
    pub answer_budget_ms: u64,
    /// Wait for a slot of our own rate limit up to the deadline instead of answering
    /// `deferred` at the answer budget. Off for the server (an assistant gets
    /// `deferred` with `retry_after` in time); the CLI turns it on (a person would
    /// rather wait than run the command again), `--no-wait` turns it off.
    pub wait_for_own_limits: bool,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            connect_ms: 2_000,
            attempt_ms: 10_000,
            deadline_ms: 15_000,
            answer_budget_ms: 2_000,
            wait_for_own_limits: false,
        }
    }
}

impl TimeoutConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            ("timeouts.connect_ms", self.connect_ms),
            ("timeouts.attempt_ms", self.attempt_ms),
            ("timeouts.deadline_ms", self.deadline_ms),
            ("timeouts.answer_budget_ms", self.answer_budget_ms),
        ] {
            if v == 0 {
                return Err(ConfigError::new(key, v, "must be greater than 0"));
            }
        }
        if self.answer_budget_ms > self.deadline_ms {
            return Err(ConfigError::new(
                "timeouts.answer_budget_ms",
                self.answer_budget_ms,
                format!(
                    "must not exceed timeouts.deadline_ms ({})",
                    self.deadline_ms
                ),
            ));
        }
        if self.attempt_ms > self.deadline_ms {
            return Err(ConfigError::new(
                "timeouts.attempt_ms",
                self.attempt_ms,
                format!(
                    "must not exceed timeouts.deadline_ms ({})",
                    self.deadline_ms
                ),
            ));
        }
        Ok(())
    }
}

/// The supervisor's restart intensity.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisionConfig {
    /// Restarts allowed within the window before the engine stops and reports not-ready.
    pub max_restarts: u32,
    /// The window, ms.
    pub window_ms: u64,
}

impl Default for SupervisionConfig {
    fn default() -> Self {
        SupervisionConfig {
            max_restarts: 5,
            window_ms: 10_000,
        }
    }
}

impl SupervisionConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.window_ms == 0 {
            return Err(ConfigError::new(
                "supervision.window_ms",
                0,
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// The embedded store: where it lives and how big it may grow.
///
/// The store is used when `enabled` and a `path` is set. `EngineConfig::default()` has
/// no path: an embedder chooses where its data lives (and tests share no file); the
/// pypi-sentinel product fills in [`StoreConfig::default_path`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Whether to keep a store at all (`--no-store` turns it off).
    pub enabled: bool,
    /// The SQLite file. `None`: no store (memory only).
    pub path: Option<std::path::PathBuf>,
    /// Largest size of the file in bytes; the least recently used documents are pruned
    /// past 90 % of it, and a write that still does not fit is dropped (memory-only
    /// for that document, with a warning in `health`).
    pub max_bytes: u64,
    /// How long daily download counts are kept, in days (pypistats keeps 180).
    pub series_retention_days: u32,
    /// How long a statement waits for another process holding the file, in ms.
    pub busy_timeout_ms: u64,
    /// How long the writer gathers writes into one transaction, in ms: at most this
    /// much is lost to a crash.
    pub flush_interval_ms: u64,
    /// At start, load this many of the most recently used documents into the cache, in
    /// the background (the engine answers meanwhile). `0` turns the warm-up off: every
    /// document then loads on its first miss.
    pub warm_up_documents: u32,
    /// ... and at most this many bytes of kept documents.
    pub warm_up_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            enabled: true,
            path: None,
            max_bytes: 512 * 1024 * 1024,
            series_retention_days: 3 * 365,
            busy_timeout_ms: 1_000,
            flush_interval_ms: 100,
            warm_up_documents: 500,
            warm_up_bytes: 32 * 1024 * 1024,
        }
    }
}

impl StoreConfig {
    /// The file name inside a data directory (`--data-dir`).
    pub const FILE_NAME: &'static str = "store.sqlite3";

    /// `<user cache dir>/pypi-sentinel/store.sqlite3`, when the platform has one.
    pub fn default_path() -> Option<std::path::PathBuf> {
        dirs::cache_dir().map(|d| d.join("pypi-sentinel").join(Self::FILE_NAME))
    }

    /// The file to use, if the store is on.
    pub fn active_path(&self) -> Option<&std::path::Path> {
        self.path.as_deref().filter(|_| self.enabled)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_bytes < 8 * 1024 {
            return Err(ConfigError::new(
                "store.max_bytes",
                self.max_bytes,
                "must be at least 8192",
            ));
        }
        if self.series_retention_days == 0 {
            return Err(ConfigError::new(
                "store.series_retention_days",
                0,
                "must be at least 1",
            ));
        }
        for (key, v, max) in [
            ("store.busy_timeout_ms", self.busy_timeout_ms, 60_000),
            ("store.flush_interval_ms", self.flush_interval_ms, 60_000),
        ] {
            if v > max {
                return Err(ConfigError::new(key, v, format!("must be at most {max}")));
            }
        }
        if self.flush_interval_ms == 0 {
            return Err(ConfigError::new(
                "store.flush_interval_ms",
                0,
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_design() {
        let c = EngineConfig::default();
        c.validate().unwrap();
        assert_eq!(c.cache.project_json_ttl_ms, 900_000);
        assert_eq!(c.timeouts.deadline_ms, 15_000);
        let rl = c.upstreams.pypistats.rate_limit.clone().unwrap();
        assert_eq!(
            (rl.per_second, rl.per_minute, rl.burst),
            (5, Some(30), None)
        );
        let json = c.upstreams.pypi_json.rate_limit.clone().unwrap();
        assert_eq!((json.per_second, json.burst), (20, None));
        // The CDN-served upstreams: a sustained rate with a burst allowance.
        for up in [&c.upstreams.pypi_simple, &c.upstreams.files] {
            let rl = up.rate_limit.clone().unwrap();
            assert_eq!((rl.per_second, rl.burst), (50, Some(200)));
        }
        assert!(c.user_agent.starts_with("pypi-sentinel/"));
    }

    #[test]
    fn with_origin_points_every_upstream_at_it() {
        let c = EngineConfig::default().with_origin("http://127.0.0.1:9/");
        assert_eq!(c.upstreams.pypistats.base_url, "http://127.0.0.1:9");
        assert_eq!(
            c.upstreams.top_packages.base_url,
            "http://127.0.0.1:9/top-pypi-packages.min.json"
        );
        c.validate().unwrap();
    }

    #[test]
    fn invalid_values_name_key_value_and_rule() {
        let mut c = EngineConfig::default();
        c.upstreams.pypistats.base_url = "ftp://example".into();
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "upstreams.pypistats.base_url");
        assert!(e.rule.contains("http"));

        let mut c = EngineConfig::default();
        c.timeouts.attempt_ms = 20_000;
        assert_eq!(c.validate().unwrap_err().key, "timeouts.attempt_ms");

        let mut c = EngineConfig::default();
        c.cache.downloads_ttl_ms = 0;
        assert_eq!(c.validate().unwrap_err().key, "cache.downloads_ttl_ms");

        // A failure remembered for an hour would hide the upstream's recovery; 0 is off.
        let mut c = EngineConfig::default();
        c.cache.failure_ttl_ms = 3_600_000;
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "cache.failure_ttl_ms");
        assert!(e.rule.contains("at most 300000 ms"), "{}", e.rule);
        c.cache.failure_ttl_ms = 0;
        c.validate().unwrap();
    }

    #[test]
    fn debug_output_of_a_config_never_prints_secrets() {
        let mut c = EngineConfig::default();
        c.upstreams.pepy.api_key = Some("pepy-secret-123".into());
        c.upstreams.pypi_json.auth = Some(AuthConfig::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        });
        c.upstreams.pypi_simple.auth = Some(AuthConfig::Bearer {
            token: "tok-456".into(),
        });
        let d = format!("{c:?}");
        for secret in ["pepy-secret-123", "hunter2", "tok-456"] {
            assert!(!d.contains(secret), "{secret} printed");
        }
        assert!(d.contains("<redacted>"));
    }

    #[test]
    fn a_ttl_past_what_moka_takes_is_refused_naming_the_key() {
        let mut c = EngineConfig::default();
        c.cache.project_json_ttl_ms = u64::MAX / 2;
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "cache.project_json_ttl_ms");
        let mut c = EngineConfig::default();
        c.timeouts.deadline_ms = u64::MAX;
        c.timeouts.attempt_ms = u64::MAX;
        assert_eq!(c.validate().unwrap_err().key, "timeouts.attempt_ms");
        let mut c = EngineConfig::default();
        c.upstreams.pepy.breaker.open_max_ms = u64::MAX;
        assert_eq!(
            c.validate().unwrap_err().key,
            "upstreams.pepy.breaker.open_max_ms"
        );
    }
}
