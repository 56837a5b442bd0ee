//! `[fleet]`: many replicas sharing quotas and documents through Redis. Off unless a
//! `redis_url` is set; the settings below are the design's (`FLEET.md` section 5.13)
//! that the built parts use.

use serde::{Deserialize, Serialize};

use sentinel_core::policy::{BreakerConfig, ConsecutiveRule};

use super::ConfigError;

/// The fleet's shared tier (`[fleet]`, `--redis-url`, `PYPI_SENTINEL_FLEET__REDIS_URL`).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FleetConfig {
    /// `redis://`, `rediss://` (TLS), `valkey://` or `valkeys://`. `None`: one replica,
    /// no Redis (the default). Its password is never printed.
    pub redis_url: Option<String>,
    /// Prefix of every key (`<namespace>:v1:...`): the isolation unit between
    /// deployments sharing a Redis. Letters, digits, `-`, `_`, `.`.
    pub namespace: String,
    /// This replica's name in the registry. Empty: `<hostname>-<pid>-<random>`.
    pub replica_id: String,
    /// Replicas assumed before this one has read the registry: the fair share of a
    /// strict quota while Redis is unreachable is `quota / replicas`.
    pub max_replicas: u32,
    /// Deadline of each Redis call, ms; at most a tenth of the answer budget.
    pub op_timeout_ms: u64,
    /// How long a document is kept in Redis past its fresh TTL, ms (stale-if-error
    /// for the whole fleet).
    pub l2_stale_retention_ms: u64,
    /// Largest value written to or read from Redis, bytes; a larger one is a miss.
    pub max_value_bytes: u64,
    /// Allow `redis://` (plaintext) to a host that is not loopback.
    pub allow_plaintext: bool,
    /// With `rediss://`: a PEM file of the CA(s) that signed Redis' certificate,
    /// trusted instead of the built-in public roots (a private or self-signed CA).
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// With `rediss://`: this replica's client certificate (PEM), for a Redis that
    /// asks for one (`tls-auth-clients yes`); needs `tls_client_key_file`.
    pub tls_client_cert_file: Option<std::path::PathBuf>,
    /// The client certificate's private key (PEM). Never printed.
    pub tls_client_key_file: Option<std::path::PathBuf>,
    /// When set, every document written to Redis carries an HMAC-SHA-256 with this
    /// key and a value without a valid one is a miss. Never printed.
    pub signing_key: Option<String>,
    /// The gate in front of Redis: the engine's breaker policy pointed at it.
    pub gate: BreakerConfig,
    /// One half-open probe per upstream per open period for the whole fleet (a probe
    /// lease in Redis); the other replicas take its outcome. Breakers stay per replica.
    pub share_probes: bool,
    /// MCP sessions (legacy protocol) kept in Redis so any replica serves them.
    pub mcp_sessions: bool,
    /// How long an idle MCP session is kept in Redis, ms (refreshed on use).
    pub mcp_session_idle_ms: u64,
    /// SSE events kept in Redis (rmcp's `EventStore`), so a client whose stream was cut
    /// resumes it with `Last-Event-ID` on any replica.
    pub mcp_sse: bool,
    /// Most events kept per SSE stream (`MAXLEN`); a resume from an older one fails.
    pub mcp_sse_max_events: u64,
    /// How long an SSE stream's events are kept after its last event, ms. Redis holds
    /// about calls per second × this × an answer's size (clients resume within
    /// seconds: rmcp tells them to retry after 3 s).
    pub mcp_sse_retention_ms: u64,
    /// While another replica holds a document's lease, the first poll of L2 after this
    /// many ms, doubling to 200 ms (the backstop: a `filled` event wakes the waiter
    /// sooner).
    pub lease_poll_ms: u64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            redis_url: None,
            namespace: "pypi-sentinel".into(),
            replica_id: String::new(),
            max_replicas: 10,
            op_timeout_ms: 25,
            l2_stale_retention_ms: 48 * 3600 * 1000,
            max_value_bytes: 4 * 1024 * 1024,
            allow_plaintext: false,
            tls_ca_file: None,
            tls_client_cert_file: None,
            tls_client_key_file: None,
            signing_key: None,
            gate: BreakerConfig {
                // Open after 3 failures or timeouts in a row, or half of 20 calls in 5 s;
                // 0.5 s open doubling to 1 s; one probe. A probe costs one call's
                // deadline at most, so probing every second is cheap, and the fleet is
                // shared again soon after Redis returns (with 30 s, a 20 s outage kept
                // replicas alone for up to 30 s more; the first probe after a restart
                // may still meet the reconnect).
                failure_rate_threshold: 0.5,
                window_ms: 5_000,
                min_calls: 20,
                consecutive_failures: 3,
                consecutive_rule: ConsecutiveRule::Fixed,
                consecutive_span_ms: 1_000,
                open_base_ms: 500,
                open_max_ms: 1_000,
                half_open_probes: 1,
            },
            share_probes: true,
            mcp_sessions: true,
            mcp_session_idle_ms: 3_600_000,
            mcp_sse: true,
            mcp_sse_max_events: 1_000,
            mcp_sse_retention_ms: 120_000,
            lease_poll_ms: 25,
        }
    }
}

impl std::fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetConfig")
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("namespace", &self.namespace)
            .field("replica_id", &self.replica_id)
            .field("max_replicas", &self.max_replicas)
            .field("op_timeout_ms", &self.op_timeout_ms)
            .field("l2_stale_retention_ms", &self.l2_stale_retention_ms)
            .field("max_value_bytes", &self.max_value_bytes)
            .field("allow_plaintext", &self.allow_plaintext)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_client_cert_file", &self.tls_client_cert_file)
            .field("tls_client_key_file", &self.tls_client_key_file)
            .field(
                "signing_key",
                &self.signing_key.as_ref().map(|_| "<redacted>"),
            )
            .field("gate", &self.gate)
            .field("share_probes", &self.share_probes)
            .field("mcp_sessions", &self.mcp_sessions)
            .field("mcp_session_idle_ms", &self.mcp_session_idle_ms)
            .field("mcp_sse", &self.mcp_sse)
            .field("mcp_sse_max_events", &self.mcp_sse_max_events)
            .field("mcp_sse_retention_ms", &self.mcp_sse_retention_ms)
            .field("lease_poll_ms", &self.lease_poll_ms)
            .finish()
    }
}

/// The URL with its password (and user) replaced by `***`: how a Redis URL is shown
/// anywhere (Debug, logs, health, `config check`).
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() || !u.username().is_empty() {
                let _ = u.set_username("***");
                let _ = u.set_password(None);
            }
            u.to_string()
        }
        // Unparsable: show nothing of it past the scheme.
        Err(_) => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://<unparsable>"),
            None => "<unparsable>".into(),
        },
    }
}

impl FleetConfig {
    /// Whether the fleet is on.
    pub fn enabled(&self) -> bool {
        self.redis_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty())
    }

    pub(crate) fn validate(&self, answer_budget_ms: u64) -> Result<(), ConfigError> {
        if !self
            .namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || self.namespace.is_empty()
            || self.namespace.len() > 64
        {
            return Err(ConfigError::new(
                "fleet.namespace",
                &self.namespace,
                "must be 1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
        if self.max_replicas == 0 || self.max_replicas > 10_000 {
            return Err(ConfigError::new(
                "fleet.max_replicas",
                self.max_replicas,
                "must be 1 to 10000",
            ));
        }
        let op_max = (answer_budget_ms / 10).max(1);
        if self.op_timeout_ms == 0 || self.op_timeout_ms > op_max {
            return Err(ConfigError::new(
                "fleet.op_timeout_ms",
                self.op_timeout_ms,
                format!("must be 1 to {op_max} (a tenth of timeouts.answer_budget_ms)"),
            ));
        }
        if self.max_value_bytes < 1024 || self.max_value_bytes > 64 * 1024 * 1024 {
            return Err(ConfigError::new(
                "fleet.max_value_bytes",
                self.max_value_bytes,
                "must be 1024 to 67108864",
            ));
        }
        if self.l2_stale_retention_ms > 30 * 24 * 3600 * 1000 {
            return Err(ConfigError::new(
                "fleet.l2_stale_retention_ms",
                self.l2_stale_retention_ms,
                "must be at most 30 days",
            ));
        }
        if self.replica_id.len() > 128
            || self
                .replica_id
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError::new(
                "fleet.replica_id",
                &self.replica_id,
                "must be at most 128 characters without spaces",
            ));
        }
        if !(1..=10_000).contains(&self.lease_poll_ms) {
            return Err(ConfigError::new(
                "fleet.lease_poll_ms",
                self.lease_poll_ms,
                "must be 1 to 10000",
            ));
        }
        if !(1_000..=7 * 24 * 3600 * 1000).contains(&self.mcp_session_idle_ms) {
            return Err(ConfigError::new(
                "fleet.mcp_session_idle_ms",
                self.mcp_session_idle_ms,
                "must be 1000 (1 s) to 604800000 (7 days)",
            ));
        }
        if !(1..=100_000).contains(&self.mcp_sse_max_events) {
            return Err(ConfigError::new(
                "fleet.mcp_sse_max_events",
                self.mcp_sse_max_events,
                "must be 1 to 100000",
            ));
        }
        if !(1_000..=24 * 3600 * 1000).contains(&self.mcp_sse_retention_ms) {
            return Err(ConfigError::new(
                "fleet.mcp_sse_retention_ms",
                self.mcp_sse_retention_ms,
                "must be 1000 (1 s) to 86400000 (1 day)",
            ));
        }
        self.gate
            .validate()
            .map_err(|e| ConfigError::new("fleet.gate", "", e.to_string()))?;
        if let Some(k) = &self.signing_key
            && k.len() < 16
        {
            return Err(ConfigError::new(
                "fleet.signing_key",
                "<redacted>",
                "must be at least 16 characters",
            ));
        }
        let Some(url) = self.redis_url.as_deref().filter(|_| self.enabled()) else {
            return Ok(());
        };
        let shown = redact_url(url);
        if !cfg!(feature = "fleet") {
            return Err(ConfigError::new(
                "fleet.redis_url",
                shown,
                "this build has no fleet support (the engine's `fleet` feature)",
            ));
        }
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            ConfigError::new("fleet.redis_url", &shown, format!("is not a URL ({e})"))
        })?;
        let tls = match parsed.scheme() {
            "rediss" | "valkeys" => true,
            "redis" | "valkey" => false,
            _ => {
                return Err(ConfigError::new(
                    "fleet.redis_url",
                    shown,
                    "must start with redis://, rediss://, valkey:// or valkeys://",
                ));
            }
        };
        let host = parsed.host_str().unwrap_or("");
        if host.is_empty() {
            return Err(ConfigError::new("fleet.redis_url", shown, "names no host"));
        }
        if !tls && !self.allow_plaintext && !is_loopback(host) {
            return Err(ConfigError::new(
                "fleet.redis_url",
                shown,
                "plaintext Redis on a host that is not loopback: use rediss:// (TLS), \
                 or set fleet.allow_plaintext = true",
            ));
        }
        self.validate_tls_files(tls)
    }

    /// The TLS files are read when the client is built; a missing or unreadable one
    /// is refused here, by name, rather than leaving the replica alone without a word.
    fn validate_tls_files(&self, tls: bool) -> Result<(), ConfigError> {
        let files = [
            ("fleet.tls_ca_file", &self.tls_ca_file),
            ("fleet.tls_client_cert_file", &self.tls_client_cert_file),
            ("fleet.tls_client_key_file", &self.tls_client_key_file),
        ];
        for (field, path) in files {
            let Some(path) = path else { continue };
            if !tls {
                return Err(ConfigError::new(
                    field,
                    path.display(),
                    "applies to rediss:// (or valkeys://) only: the URL is plaintext",
                ));
            }
            if let Err(e) = self::read_pem(path) {
                return Err(ConfigError::new(field, path.display(), e));
            }
        }
        if self.tls_client_cert_file.is_some() != self.tls_client_key_file.is_some() {
            return Err(ConfigError::new(
                "fleet.tls_client_cert_file",
                "",
                "a client certificate needs its key (fleet.tls_client_key_file), and a key its certificate",
            ));
        }
        Ok(())
    }
}

/// A PEM file of at most 1 MiB holding at least one `-----BEGIN` block.
pub(crate) fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot be read ({e})"))?;
    let mut bytes = Vec::new();
    f.take(1024 * 1024 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read ({e})"))?;
    if bytes.len() > 1024 * 1024 {
        return Err("is larger than 1 MiB: not a PEM certificate or key".into());
    }
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err("holds no PEM block (-----BEGIN ...): give a PEM file".into());
    }
    Ok(bytes)
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(url: &str) -> FleetConfig {
        FleetConfig {
            redis_url: Some(url.into()),
            ..FleetConfig::default()
        }
    }

    #[test]
    fn off_by_default_and_valid() {
        let c = FleetConfig::default();
        assert!(!c.enabled());
        c.validate(2_000).unwrap();
    }

    #[test]
    fn plaintext_to_a_remote_host_is_refused_unless_allowed() {
        let e = with("redis://:pw@redis.internal:6379/0")
            .validate(2_000)
            .unwrap_err();
        assert_eq!(e.key, "fleet.redis_url");
        assert!(e.rule.contains("rediss://"), "{e}");
        assert!(!e.to_string().contains("pw"), "password shown: {e}");
        with("rediss://:pw@redis.internal:6380/0")
            .validate(2_000)
            .unwrap();
        with("redis://127.0.0.1:6379").validate(2_000).unwrap();
        with("redis://[::1]:6379").validate(2_000).unwrap();
        with("redis://localhost").validate(2_000).unwrap();
        let mut c = with("redis://redis.internal:6379");
        c.allow_plaintext = true;
        c.validate(2_000).unwrap();
    }

    #[test]
    fn bad_scheme_namespace_and_timeout_name_their_key() {
        assert_eq!(
            with("http://127.0.0.1").validate(2_000).unwrap_err().key,
            "fleet.redis_url"
        );
        let mut c = FleetConfig {
            namespace: "a:b".into(),
            ..FleetConfig::default()
        };
        assert_eq!(c.validate(2_000).unwrap_err().key, "fleet.namespace");
        c.namespace = "ok".into();
        c.op_timeout_ms = 300;
        assert_eq!(c.validate(2_000).unwrap_err().key, "fleet.op_timeout_ms");
    }

    #[test]
    fn the_password_never_prints() {
        let mut c = with("rediss://user:s3cret-pw@redis.internal:6380/0");
        c.signing_key = Some("a-signing-key-0123456789".into());
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret-pw") && !shown.contains("a-signing-key"),
            "{shown}"
        );
        assert!(shown.contains("redis.internal"), "{shown}");
        assert_eq!(redact_url("redis://:pw@h:1/0"), "redis://***@h:1/0");
        assert!(!redact_url("redis://:pw@h:notaport").contains("pw"));
    }

    #[test]
    fn tls_files_are_checked_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("ca.pem");
        std::fs::write(
            &pem,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let junk = dir.path().join("junk.txt");
        std::fs::write(&junk, "not a certificate").unwrap();

        let mut c = with("rediss://127.0.0.1:6380");
        c.tls_ca_file = Some(pem.clone());
        c.validate(2_000).unwrap();
        c.tls_ca_file = Some(dir.path().join("missing.pem"));
        let e = c.validate(2_000).unwrap_err();
        assert_eq!(e.key, "fleet.tls_ca_file");
        assert!(e.rule.contains("cannot be read"), "{e}");
        c.tls_ca_file = Some(junk);
        assert!(c.validate(2_000).unwrap_err().rule.contains("PEM"));
        // A client certificate without its key.
        c.tls_ca_file = None;
        c.tls_client_cert_file = Some(pem.clone());
        assert_eq!(
            c.validate(2_000).unwrap_err().key,
            "fleet.tls_client_cert_file"
        );
        // TLS files with a plaintext URL are a mistake, not ignored.
        let mut p = with("redis://127.0.0.1:6379");
        p.tls_ca_file = Some(pem);
        assert!(p.validate(2_000).unwrap_err().rule.contains("rediss://"));
    }
}
