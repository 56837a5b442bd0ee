//! `pypi-sentinel fleet status`: what the fleet's Redis holds in this configuration's
//! namespace, read by an operator's one-shot command (not a replica: no gate, no
//! heartbeat; its own connection with 2 s bounds and 10 s for the whole). Replicas
//! seen (heartbeats), per strict upstream the fleet quota's use and next slot, L2
//! documents and bytes per upstream, document and probe leases held, MCP sessions,
//! the invalidation stream's length, each replica's breakers, the fleet's upstream
//! requests per minute for the last 10 minutes and Redis' `INFO` essentials. Keys are iterated
//! with `SCAN` (never `KEYS`), at most [`MAX_KEYS`].

use std::collections::BTreeMap;
use std::time::Duration;

use redis::AsyncCommands;
use serde::Serialize;

use super::keys::{Keys, fingerprint};
use super::quota::{fleet_windows, next_slot_ms};
use super::redact_url;
use crate::config::EngineConfig;
use sentinel_core::model::Upstream;
use sentinel_core::model::untrusted::redact_urls;
use sentinel_core::policy::RateLimit;

/// Keys looked at, at most: past it the counts say `truncated`.
pub const MAX_KEYS: usize = 200_000;
/// Leases listed one by one, at most (all are counted).
const MAX_LISTED: usize = 50;

/// The fleet as Redis sees it (`pypi-sentinel fleet status --json`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FleetSnapshot {
    /// The Redis URL, password redacted.
    pub redis_url: String,
    /// The key namespace.
    pub namespace: String,
    /// Redis' (or Valkey's) version, when `INFO` is allowed.
    pub redis_version: Option<String>,
    /// Memory Redis uses, bytes, when `INFO` is allowed.
    pub used_memory_bytes: Option<u64>,
    /// The namespace's epoch (changes when Redis was flushed or replaced).
    pub epoch: Option<String>,
    /// Replicas whose heartbeat is in the registry (the last 5 minutes), newest first.
    pub replicas: Vec<ReplicaSeen>,
    /// Per strict upstream (pypistats, pepy when enabled): the fleet quota.
    pub quotas: Vec<QuotaStatus>,
    /// Documents in L2.
    pub l2: L2Status,
    /// Document leases held now (a replica fetching the document for the fleet).
    pub leases_held: u64,
    /// The first of them.
    pub leases: Vec<LeaseStatus>,
    /// Breaker probe leases held now (one replica probing an upstream).
    pub probe_leases: Vec<LeaseStatus>,
    /// Legacy MCP sessions kept for the replicas.
    pub mcp_sessions: u64,
    /// Entries in the invalidation stream (refresh_cache and probe outcomes).
    pub stream_entries: u64,
    /// More than [`MAX_KEYS`] keys: the counts above are of the first ones.
    pub truncated: bool,
    /// Per upstream some replica reported on in the last 15 s: each replica's breaker.
    pub breakers: Vec<BreakerStatus>,
    /// Per upstream with requests: the fleet's requests in each of the last 10 minutes
    /// (Redis' clock), oldest first, the current minute (so far) last.
    pub upstream_requests: Vec<MinuteCounts>,
}

/// One upstream's breakers, replica by replica.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BreakerStatus {
    /// The upstream.
    pub upstream: Upstream,
    /// Replica id -> `closed`, `open` or `half_open` (untrusted text, cut to 128).
    pub replicas: BTreeMap<String, String>,
}

/// One upstream's requests per minute from the whole fleet.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MinuteCounts {
    /// The upstream.
    pub upstream: Upstream,
    /// The last 10 minutes, oldest first; the last is the current minute so far.
    pub minutes: Vec<u64>,
}

/// One replica in the registry.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicaSeen {
    /// Its id (`fleet.replica_id`, or hostname-pid-random).
    pub id: String,
    /// Its last heartbeat, ms ago on Redis' clock (replicas beat every 5 s).
    pub last_seen_ms: i64,
}

/// One upstream's fleet quota.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct QuotaStatus {
    /// The upstream.
    pub upstream: Upstream,
    /// Each window: its limit, length and grants.
    pub windows: Vec<WindowStatus>,
    /// Until the next grant, ms (0: a request may go now); `None` when Redis refused the
    /// script (a read-only replica, an ACL without scripting).
    pub next_slot_ms: Option<i64>,
}

/// One strict window of a fleet quota.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WindowStatus {
    /// Grants allowed per window.
    pub limit: u32,
    /// The window, ms (the upstream's, with the fleet's margin).
    pub window_ms: u64,
    /// Grants in the window ending now.
    pub used: u64,
    /// Grants reserved for later (callers sleeping until their slot).
    pub reserved_ahead: u64,
}

/// L2's documents.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct L2Status {
    /// Documents.
    pub documents: u64,
    /// Their stored (compressed) bytes.
    pub bytes: u64,
    /// Documents per upstream.
    pub by_upstream: BTreeMap<String, u64>,
}

/// A lease held.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LeaseStatus {
    /// The upstream of the document or probe.
    pub upstream: String,
    /// The replica holding it.
    pub holder: String,
    /// Until it expires, ms.
    pub expires_in_ms: i64,
}

fn err(e: redis::RedisError) -> String {
    redact_urls(&e.to_string())
}

/// Reads the fleet's state for `cfg` (`[fleet] redis_url` must be set).
pub async fn fleet_status(cfg: &EngineConfig) -> Result<FleetSnapshot, String> {
    let url = cfg
        .fleet
        .redis_url
        .clone()
        .filter(|_| cfg.fleet.enabled())
        .ok_or("the fleet is off: set [fleet] redis_url, --redis-url or PYPI_SENTINEL_FLEET__REDIS_URL")?;
    let shown = redact_url(&url);
    match tokio::time::timeout(Duration::from_secs(10), gather(cfg, &shown)).await {
        Ok(r) => r.map_err(|e| format!("{shown}: {e}")),
        Err(_) => Err(format!("{shown}: no complete answer within 10 s")),
    }
}

async fn gather(cfg: &EngineConfig, shown: &str) -> Result<FleetSnapshot, String> {
    let client = super::client::redis_client(&cfg.fleet)?;
    let conn_cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    let mut c = client
        .get_multiplexed_async_connection_with_config(&conn_cfg)
        .await
        .map_err(err)?;
    let ns = &cfg.fleet.namespace;
    let keys = Keys::new(ns);
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut c).await.map_err(err)?;
    let now = secs * 1000 + micros / 1000;

    let info: Option<String> = redis::cmd("INFO").query_async(&mut c).await.ok();
    let field = |name: &str| {
        info.as_deref().and_then(|i| {
            i.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .map(|v| v.trim().to_string())
        })
    };
    let (redis_version, used_memory_bytes) = (
        field("valkey_version").or_else(|| field("redis_version")),
        field("used_memory").and_then(|v| v.parse().ok()),
    );
    let epoch: Option<String> = c.get(keys.epoch()).await.map_err(err)?;
    let mut replicas: Vec<(String, i64)> = c
        .zrangebyscore_withscores(keys.replicas(), now - 5 * 60 * 1000, "+inf")
        .await
        .map_err(err)?;
    replicas.sort_by_key(|r| std::cmp::Reverse(r.1));

    let mut quotas = Vec::new();
    for up in Upstream::ALL {
        let u = cfg.upstreams.get(up);
        let Some(rl) = u.rate_limit.as_ref().filter(|_| u.enabled) else {
            continue;
        };
        let local = match rl.burst {
            Some(b) => RateLimit::with_burst(rl.per_second, b, rl.per_minute),
            None => RateLimit::new(rl.per_second, rl.per_minute),
        };
        let Some(windows) = fleet_windows(&local) else {
            continue;
        };
        let wkeys: Vec<String> = (0..windows.len())
            .map(|i| keys.quota(up, &u.base_url, i))
            .collect();
        let mut ws = Vec::new();
        for (k, (limit, w)) in wkeys.iter().zip(&windows) {
            let w_ms = w.as_millis() as i64;
            let used: u64 = c
                .zcount(k, format!("({}", now - w_ms), now)
                .await
                .map_err(err)?;
            let ahead: u64 = c.zcount(k, format!("({now}"), "+inf").await.map_err(err)?;
            ws.push(WindowStatus {
                limit: *limit,
                window_ms: w_ms as u64,
                used,
                reserved_ahead: ahead,
            });
        }
        quotas.push(QuotaStatus {
            upstream: up,
            windows: ws,
            next_slot_ms: next_slot_ms(&mut c, &wkeys, &windows).await.ok(),
        });
    }

    // The upstream of a key, from the fingerprints this configuration uses.
    let origins: Vec<(String, Upstream)> = Upstream::ALL
        .iter()
        .map(|&up| (fingerprint(&cfg.upstreams.get(up).base_url), up))
        .collect();
    let upstream_of = |name: &str, o: &str| {
        origins
            .iter()
            .find(|(f, up)| f == o && up.as_str() == name)
            .map_or_else(
                || format!("{name} (another origin)"),
                |(_, up)| up.to_string(),
            )
    };

    let mut seen = 0usize;
    let mut truncated = false;
    let mut l2 = L2Status::default();
    let mut lease_keys = Vec::new();
    let doc_prefix = format!("{ns}:v1:doc:");
    for key in scan(&mut c, &format!("{doc_prefix}*"), &mut seen, &mut truncated).await? {
        let rest = &key[doc_prefix.len()..];
        let mut parts = rest.split(':');
        let (name, o) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if key.ends_with(":lease") {
            lease_keys.push((upstream_of(name, o), key));
            continue;
        }
        l2.documents += 1;
        *l2.by_upstream.entry(upstream_of(name, o)).or_default() += 1;
        let n: u64 = redis::cmd("HSTRLEN")
            .arg(&key)
            .arg("b")
            .query_async(&mut c)
            .await
            .unwrap_or(0);
        l2.bytes += n;
    }
    let leases_held = lease_keys.len() as u64;
    let mut leases = Vec::new();
    for (up, key) in lease_keys.into_iter().take(MAX_LISTED) {
        if let Some(l) = lease(&mut c, up, &key).await? {
            leases.push(l);
        }
    }
    let mut probe_leases = Vec::new();
    let probe_prefix = format!("{ns}:v1:{{probe:");
    for key in scan(
        &mut c,
        &format!("{probe_prefix}*"),
        &mut seen,
        &mut truncated,
    )
    .await?
    {
        let rest = key[probe_prefix.len()..].trim_end_matches('}');
        let (name, o) = rest.split_once(':').unwrap_or((rest, ""));
        if let Some(l) = lease(&mut c, upstream_of(name, o), &key).await? {
            probe_leases.push(l);
        }
    }
    let sessions = scan(
        &mut c,
        &format!("{ns}:v1:mcp:session:*"),
        &mut seen,
        &mut truncated,
    )
    .await?
    .len() as u64;
    let stream_entries: u64 = redis::cmd("XLEN")
        .arg(keys.invalidations())
        .query_async(&mut c)
        .await
        .map_err(err)?;

    let mut breakers = Vec::new();
    let mut upstream_requests = Vec::new();
    let minute = now / 60_000;
    for up in Upstream::ALL {
        let o = fingerprint(&cfg.upstreams.get(up).base_url);
        let key = keys.breakers(up, &o);
        let n: u64 = c.hlen(&key).await.map_err(err)?;
        if n > 0 && n <= 4_096 {
            let all: BTreeMap<String, String> = c.hgetall(&key).await.map_err(err)?;
            let replicas: BTreeMap<String, String> = all
                .into_iter()
                .filter_map(|(r, v)| {
                    let (state, exp) = v.rsplit_once(':')?;
                    (exp.parse::<i64>().ok()? >= now).then(|| {
                        (
                            r.chars().take(128).collect(),
                            state.chars().take(16).collect(),
                        )
                    })
                })
                .collect();
            if !replicas.is_empty() {
                breakers.push(BreakerStatus {
                    upstream: up,
                    replicas,
                });
            }
        }
        let fields: Vec<i64> = (0..10).map(|j| minute - 9 + j).collect();
        let counts: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(keys.stats(up, &o))
            .arg(&fields)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        let minutes: Vec<u64> = counts
            .into_iter()
            .map(|v| v.and_then(|v| v.parse().ok()).unwrap_or(0))
            .collect();
        if minutes.iter().any(|n| *n > 0) {
            upstream_requests.push(MinuteCounts {
                upstream: up,
                minutes,
            });
        }
    }

    Ok(FleetSnapshot {
        redis_url: shown.to_string(),
        namespace: ns.clone(),
        redis_version,
        used_memory_bytes,
        epoch,
        replicas: replicas
            .into_iter()
            .map(|(id, at)| ReplicaSeen {
                id,
                last_seen_ms: (now - at).max(0),
            })
            .collect(),
        quotas,
        l2,
        leases_held,
        leases,
        probe_leases,
        mcp_sessions: sessions,
        stream_entries,
        truncated,
        breakers,
        upstream_requests,
    })
}

/// The keys matching `pattern`, by `SCAN`, stopping at [`MAX_KEYS`] in all.
async fn scan(
    c: &mut redis::aio::MultiplexedConnection,
    pattern: &str,
    seen: &mut usize,
    truncated: &mut bool,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(c)
            .await
            .map_err(err)?;
        for k in batch {
            if *seen >= MAX_KEYS {
                *truncated = true;
                return Ok(out);
            }
            *seen += 1;
            out.push(k);
        }
        if next == 0 {
            return Ok(out);
        }
        cursor = next;
    }
}

/// Who holds a lease and for how long (`None`: it expired meanwhile). The holder is
/// untrusted text: only its first 128 characters are shown.
async fn lease(
    c: &mut redis::aio::MultiplexedConnection,
    upstream: String,
    key: &str,
) -> Result<Option<LeaseStatus>, String> {
    let (holder, pttl): (Option<String>, i64) = redis::pipe()
        .get(key)
        .pttl(key)
        .query_async(c)
        .await
        .map_err(err)?;
    Ok(holder.map(|h| LeaseStatus {
        upstream,
        holder: h.chars().take(128).collect(),
        expires_in_ms: pttl,
    }))
}
