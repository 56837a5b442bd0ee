//! How the engine reaches each upstream: base URLs, user agent, timeouts, rate limits,
//! concurrency, credentials (`[upstreams.*]`), with the defaults of
//! docs/ARCHITECTURE.md section 5 and the checks that name the key, the value and the
//! rule.

use serde::{Deserialize, Serialize};

use super::{ConfigError, PYPI_FILES_HOST};
use sentinel_core::model::Upstream;
use sentinel_core::policy::{BreakerConfig, RetryBudgetConfig, RetryConfig};

/// The default rate of the CDN-served upstreams (Simple API and files): 50/s sustained,
/// bursts of 200.
const CDN_RATE: RateLimitConfig = RateLimitConfig {
    per_second: 50,
    per_minute: None,
    burst: Some(200),
};

/// One entry per upstream.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamsConfig {
    /// PyPI's JSON API.
    pub pypi_json: UpstreamConfig,
    /// PyPI's Simple API.
    pub pypi_simple: UpstreamConfig,
    /// pypistats.org.
    pub pypistats: UpstreamConfig,
    /// pepy.tech (off unless an API key is set or an origin is given).
    pub pepy: UpstreamConfig,
    /// The top-packages dataset (base_url is the full URL of the JSON file).
    pub top_packages: UpstreamConfig,
    /// The file hosts `download_package` streams distribution files from. Its
    /// `base_url` is reported only: which hosts a file may come from is
    /// `download.allowed_hosts` plus the index hosts. No credentials are sent.
    pub files: UpstreamConfig,
    /// The OSV API (`/v1/querybatch`, `/v1/vulns/{id}`): vulnerabilities of a release
    /// the index has no per-release JSON for, or every release, as
    /// `vulnerabilities.source` says.
    pub osv: UpstreamConfig,
    /// A private index beside PyPI, as pip's `--extra-index-url` (`base_url` is its
    /// Simple root, e.g. `https://pypi.example.com/simple`): `check`, `scan` and
    /// `audit` flag names it shares with PyPI (dependency confusion). Off while
    /// `base_url` is empty (the default); `--extra-index-url` sets it.
    pub extra_index: UpstreamConfig,
}

impl Default for UpstreamsConfig {
    fn default() -> Self {
        UpstreamsConfig {
            // The JSON API is answered by PyPI's application behind the CDN, which asks
            // API users to be considerate: a strict 20/s.
            pypi_json: UpstreamConfig {
                base_url: "https://pypi.org".into(),
                rate_limit: Some(RateLimitConfig {
                    per_second: 20,
                    per_minute: None,
                    burst: None,
                }),
                max_in_flight: 16,
                ..UpstreamConfig::default()
            },
            // Simple pages and metadata files are static and CDN-served, with no
            // published limit; pip and uv use none (uv: 50 connections). A resolution
            // asks for two documents per package at once, so bursts of a few hundred
            // go at once, and a long crawl still averages 50/s.
            pypi_simple: UpstreamConfig {
                base_url: "https://pypi.org".into(),
                rate_limit: Some(CDN_RATE),
                max_in_flight: 32,
                ..UpstreamConfig::default()
            },
            pypistats: UpstreamConfig {
                base_url: "https://pypistats.org".into(),
                // pypistats.org's documented limit (Flask-Limiter: 5/second, 30/minute).
                rate_limit: Some(RateLimitConfig {
                    per_second: 5,
                    per_minute: Some(30),
                    burst: None,
                }),
                max_in_flight: 4,
                ..UpstreamConfig::default()
            },
            pepy: UpstreamConfig {
                base_url: "https://api.pepy.tech".into(),
                enabled: false,
                rate_limit: Some(RateLimitConfig {
                    per_second: 1,
                    per_minute: Some(5),
                    burst: None,
                }),
                max_in_flight: 2,
                ..UpstreamConfig::default()
            },
            top_packages: UpstreamConfig {
                base_url: "https://hugovk.github.io/top-pypi-packages/top-pypi-packages.min.json"
                    .into(),
                max_in_flight: 2,
                ..UpstreamConfig::default()
            },
            // The file host is a CDN too, with the Simple API's rate: besides whole
            // downloads, a resolution on an index without metadata files reads each
            // release's METADATA out of a wheel here (a few small range requests per
            // wheel), as often as a metadata file. Still few at a time: a whole
            // download may hold a connection for minutes.
            files: UpstreamConfig {
                base_url: format!("https://{PYPI_FILES_HOST}"),
                rate_limit: Some(CDN_RATE),
                max_in_flight: 16,
                ..UpstreamConfig::default()
            },
            // OSV publishes no rate limit: ours, at half of PyPI's.
            osv: UpstreamConfig {
                base_url: "https://api.osv.dev".into(),
                rate_limit: Some(RateLimitConfig {
                    per_second: 10,
                    per_minute: None,
                    burst: None,
                }),
                max_in_flight: 8,
                ..UpstreamConfig::default()
            },
            // A company's index: one page per dependency checked, at a modest rate.
            extra_index: UpstreamConfig {
                rate_limit: Some(RateLimitConfig {
                    per_second: 20,
                    per_minute: None,
                    burst: None,
                }),
                ..UpstreamConfig::default()
            },
        }
    }
}

impl UpstreamsConfig {
    /// Whether an extra index is configured (a `base_url`, not disabled).
    pub fn extra_index_configured(&self) -> bool {
        self.extra_index.enabled && !self.extra_index.base_url.trim().is_empty()
    }

    /// The settings of one upstream.
    pub fn get(&self, up: Upstream) -> &UpstreamConfig {
        match up {
            Upstream::PypiJson => &self.pypi_json,
            Upstream::PypiSimple => &self.pypi_simple,
            Upstream::Pypistats => &self.pypistats,
            Upstream::Pepy => &self.pepy,
            Upstream::TopPackages => &self.top_packages,
            Upstream::Files => &self.files,
            Upstream::Osv => &self.osv,
            Upstream::ExtraIndex => &self.extra_index,
        }
    }

    /// The settings of one upstream, mutable.
    pub fn get_mut(&mut self, up: Upstream) -> &mut UpstreamConfig {
        match up {
            Upstream::PypiJson => &mut self.pypi_json,
            Upstream::PypiSimple => &mut self.pypi_simple,
            Upstream::Pypistats => &mut self.pypistats,
            Upstream::Pepy => &mut self.pepy,
            Upstream::TopPackages => &mut self.top_packages,
            Upstream::Files => &mut self.files,
            Upstream::Osv => &mut self.osv,
            Upstream::ExtraIndex => &mut self.extra_index,
        }
    }
}

/// Credentials for a private index or an API. `Debug` never prints them.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: String,
    },
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthConfig::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            AuthConfig::Bearer { .. } => f
                .debug_struct("Bearer")
                .field("token", &"<redacted>")
                .finish(),
        }
    }
}

/// Settings of one upstream. `Debug` never prints the API key or credentials.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL (`https://pypi.org`, a mirror, the simulator).
    pub base_url: String,
    /// Whether the engine asks this upstream at all.
    pub enabled: bool,
    /// Sent as `X-API-Key` (pepy.tech).
    pub api_key: Option<String>,
    /// Credentials for private indexes.
    pub auth: Option<AuthConfig>,
    /// Client-side rate limit; `None` for none.
    pub rate_limit: Option<RateLimitConfig>,
    /// Most requests in flight at once.
    pub max_in_flight: u32,
    /// Most deferred fetches waiting in the polite queue (each holds a future
    /// rate-limit slot); past it a deferred call is told the next slot and not queued.
    pub queue_capacity: u32,
    /// Retry policy.
    pub retry: RetryConfig,
    /// Retry budget.
    pub retry_budget: RetryBudgetConfig,
    /// Circuit breaker.
    pub breaker: BreakerConfig,
}

impl std::fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("base_url", &self.base_url)
            .field("enabled", &self.enabled)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("auth", &self.auth)
            .field("rate_limit", &self.rate_limit)
            .field("max_in_flight", &self.max_in_flight)
            .field("queue_capacity", &self.queue_capacity)
            .field("retry", &self.retry)
            .field("retry_budget", &self.retry_budget)
            .field("breaker", &self.breaker)
            .finish()
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            base_url: String::new(),
            enabled: true,
            api_key: None,
            auth: None,
            rate_limit: None,
            max_in_flight: 8,
            queue_capacity: 256,
            retry: RetryConfig::default(),
            retry_budget: RetryBudgetConfig::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

impl UpstreamConfig {
    pub(super) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let url = self.base_url.as_str();
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || url.len() <= "https://".len() {
            return Err(ConfigError::new(
                format!("{key}.base_url"),
                url,
                "must be an absolute http:// or https:// URL",
            ));
        }
        if reqwest::Url::parse(url).is_err() {
            return Err(ConfigError::new(
                format!("{key}.base_url"),
                url,
                "is not a valid URL",
            ));
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::new(
                format!("{key}.max_in_flight"),
                0,
                "must be at least 1",
            ));
        }
        if let Some(rl) = &self.rate_limit {
            if rl.per_second == 0 {
                return Err(ConfigError::new(
                    format!("{key}.rate_limit.per_second"),
                    0,
                    "must be at least 1 (remove rate_limit to disable it)",
                ));
            }
            if rl.per_minute == Some(0) {
                return Err(ConfigError::new(
                    format!("{key}.rate_limit.per_minute"),
                    0,
                    "must be at least 1 (omit it for no per-minute limit)",
                ));
            }
            if rl.burst == Some(0) {
                return Err(ConfigError::new(
                    format!("{key}.rate_limit.burst"),
                    0,
                    "must be at least 1 (omit it for a strict per-second window)",
                ));
            }
        }
        self.retry
            .validate()
            .map_err(|e| ConfigError::new(format!("{key}.retry.{}", e.field), e.value, e.rule))?;
        self.retry_budget.validate().map_err(|e| {
            ConfigError::new(format!("{key}.retry_budget.{}", e.field), e.value, e.rule)
        })?;
        self.breaker
            .validate()
            .map_err(|e| ConfigError::new(format!("{key}.breaker.{}", e.field), e.value, e.rule))?;
        Ok(())
    }
}

/// A client-side rate limit: a per-second quota and an optional per-minute one.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per second: a strict window (also the burst size), or with `burst`
    /// the sustained rate.
    pub per_second: u32,
    /// Requests per minute, if limited.
    #[serde(default)]
    pub per_minute: Option<u32>,
    /// Most requests at once on top of the sustained `per_second` (a token bucket),
    /// for an upstream that publishes no limit; `None` for a strict per-second window.
    #[serde(default)]
    pub burst: Option<u32>,
}
