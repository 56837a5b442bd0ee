//! The fleet: many replicas sharing one upstream budget through Redis (issue 23,
//! `FLEET.md`). Off unless `[fleet] redis_url` is set.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `client.rs` | `FleetClient`: the multiplexed connection, the per-call deadline, the gate (the engine's breaker pointed at Redis), the replica registry and learning windows |
//! | `keys.rs` | the only place keys are spelled: namespaced, fingerprinted by the upstream's base URL |
//! | `quota.rs` | fleet-wide strict windows in one Lua script on Redis' clock, falling back to a fair share |
//! | `l2.rs` | documents in Redis: get-or-lease on a miss, fenced writes after a fetch |
//! | `invalidate.rs` | `refresh_cache` across the fleet: marks in L2, a stream read by every replica |
//! | `sessions.rs` | MCP sessions across replicas: the bytes behind the product's rmcp `SessionStore` |
//! | `sse.rs` | resumable SSE across replicas: a Redis stream per SSE stream behind the product's rmcp `EventStore` |
//! | `status.rs` | `pypi-sentinel fleet status`: what Redis holds in the namespace (replicas, quotas, L2, leases) |
//! | `events.rs` | pub/sub wake-ups for lease waiters (`filled`, `failed`, `released` events; polling stays the backstop) |
//! | `memo.rs` | what the replica remembers between Redis calls: fill waiters, documents to reload, known probe leases, requests not yet counted |
//! | `breakers.rs` | breakers shown fleet-wide: each replica's state per upstream in a hash, read back for `health` ("open on 3 of 5 replicas") |
//! | `rates.rs` | the fleet's upstream requests per minute: each replica's attempts added to a hash per upstream once a second, read back for `health` and the gauge |
//! | `probe.rs` | shared breaker probes: one probe lease per upstream per open period, its outcome told through the stream |
//! | `lease.rs` | a document's lease held while its fetch runs: renewal, release, fencing token, failure markers |
//! | `reload.rs` | another replica's fill reloads the copy this replica's memory holds (refresh-ahead once for the fleet) |
//! | `codec.rs` | the L2 value: version byte, optional HMAC, LZ4 JSON of the kept document; untrusted on read |
//!
//! Its settings, [`FleetConfig`], are the configuration's (`config/fleet.rs`), always
//! compiled: a build without the `fleet` feature refuses a `redis_url`.
//!
//! Redis is an accelerator, never a dependency: every call has its own deadline and
//! passes the gate; when it fails the engine behaves as one replica, with strict quotas
//! cut to a fair share.

pub use crate::config::fleet::{FleetConfig, redact_url};

#[cfg(feature = "fleet")]
pub(crate) mod breakers;
#[cfg(feature = "fleet")]
pub(crate) mod client;
#[cfg(feature = "fleet")]
pub(crate) mod keys;
#[cfg(feature = "fleet")]
pub(crate) mod quota;

/// The fleet's state for `health`, `/healthz` and `get_metrics`.
#[derive(
    Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema,
)]
pub struct FleetReport {
    /// `shared` (Redis answering), `degraded` (the gate is open: one replica with fair
    /// shares), `learning` (Redis back, strict quotas still on shares for one window).
    pub mode: String,
    /// The Redis URL, password redacted.
    pub redis_url: String,
    /// This replica's id.
    pub replica_id: String,
    /// The gate's state (`closed`, `open`, `half_open`).
    pub gate: String,
    /// The last Redis error, redacted, when there was one.
    pub last_error: Option<String>,
    /// Replicas seen in the registry in the last 5 minutes (0: never read).
    pub replicas_seen: u32,
    /// Redis calls that answered.
    pub ops_ok: u64,
    /// Redis calls past their deadline.
    pub ops_timeout: u64,
    /// Redis calls that failed.
    pub ops_error: u64,
    /// Redis calls skipped because the gate was open.
    pub ops_skipped: u64,
    /// The latest round trip, microseconds.
    pub last_rtt_us: u64,
    /// Fleet quota grants, deferrals, and grants from the local fair share.
    pub quota_granted: u64,
    /// Fleet quota refusals (`deferred` with the script's `retry_after`).
    pub quota_deferred: u64,
    /// Reservations taken from the local fair share (Redis down or learning).
    pub quota_local_share: u64,
    /// L2 reads that found a document.
    pub l2_hits: u64,
    /// L2 reads that found nothing.
    pub l2_misses: u64,
    /// L2 values refused (bad version, size, signature or body): each a miss.
    pub l2_rejected: u64,
    /// Documents written to L2.
    pub l2_writes: u64,
    /// Polls of L2 while another replica held a document's lease.
    pub lease_waits: u64,
    /// Invalidations from other replicas applied to this replica's memory.
    pub invalidations_applied: u64,
    /// Half-open probes not sent because another replica held the probe lease.
    #[serde(default)]
    pub probes_deferred: u64,
    /// This replica's probe outcomes told to the fleet.
    #[serde(default)]
    pub probes_published: u64,
    /// Other replicas' probe outcomes recorded by this replica's breakers.
    #[serde(default)]
    pub probes_received: u64,
    /// MCP sessions written to Redis (after an `initialize` here).
    #[serde(default)]
    pub sessions_stored: u64,
    /// MCP sessions read back from Redis (opened on another replica, or before a restart).
    #[serde(default)]
    pub sessions_restored: u64,
    /// Lease waits ended early by another replica's `filled` event (pub/sub).
    #[serde(default)]
    pub fill_wakeups: u64,
    /// Times the events connection subscribed (1 after start, +1 per reconnection).
    #[serde(default)]
    pub events_subscriptions: u64,
    /// Document leases: one fetch per document across the fleet (`lease.rs`).
    #[serde(default)]
    pub leases: LeaseReport,
    /// SSE events kept in Redis.
    #[serde(default)]
    pub sse_events_stored: u64,
    /// SSE streams resumed from Redis here.
    #[serde(default)]
    pub sse_replays: u64,
    /// Breakers per upstream across the fleet (last 15 s).
    #[serde(default)]
    pub breakers: Vec<FleetBreaker>,
    /// The fleet's upstream requests per upstream (those with some).
    #[serde(default)]
    pub upstream_requests: Vec<FleetRate>,
}

/// One upstream's requests from the whole fleet.
#[derive(
    Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema,
)]
pub struct FleetRate {
    /// The upstream.
    pub upstream: String,
    /// This minute so far.
    pub this_minute: u64,
    /// The previous minute.
    pub last_minute: u64,
    /// The last 10 minutes.
    pub last_10_minutes: u64,
}
#[cfg(feature = "fleet")]
pub(crate) mod codec;
#[cfg(feature = "fleet")]
pub(crate) mod events;
#[cfg(feature = "fleet")]
pub(crate) mod invalidate;
#[cfg(feature = "fleet")]
pub(crate) mod l2;
#[cfg(feature = "fleet")]
pub(crate) mod lease;
#[cfg(feature = "fleet")]
pub(crate) mod memo;
#[cfg(feature = "fleet")]
pub(crate) mod probe;
#[cfg(feature = "fleet")]
pub(crate) mod rates;
#[cfg(feature = "fleet")]
pub(crate) mod reload;
#[cfg(feature = "fleet")]
mod sessions;
#[cfg(feature = "fleet")]
mod sse;
#[cfg(feature = "fleet")]
mod status;
#[cfg(feature = "fleet")]
pub use sessions::{FleetSessions, MAX_SESSION_BYTES, SessionStoreError};
#[cfg(feature = "fleet")]
pub use sse::{FleetSse, SseLogError};
#[cfg(feature = "fleet")]
pub use status::{
    BreakerStatus, FleetSnapshot, L2Status, LeaseStatus, MAX_KEYS, MinuteCounts, QuotaStatus,
    ReplicaSeen, WindowStatus, fleet_status,
};

/// One upstream's breakers across the fleet.
#[derive(
    Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema,
)]
pub struct FleetBreaker {
    /// The upstream.
    pub upstream: String,
    /// Replicas open.
    pub open: u32,
    /// Replicas half-open.
    pub half_open: u32,
    /// Replicas closed.
    pub closed: u32,
}

impl FleetBreaker {
    /// Replicas that wrote a state recently.
    pub fn replicas(&self) -> u32 {
        self.open + self.half_open + self.closed
    }

    /// "pypistats: open on 3 of 5 replicas (1 half-open)".
    pub fn text(&self) -> String {
        let mut s = format!(
            "{}: open on {} of {} replicas",
            self.upstream,
            self.open,
            self.replicas()
        );
        if self.half_open > 0 {
            s.push_str(&format!(" ({} half-open)", self.half_open));
        }
        s
    }
}

impl FleetReport {
    /// The parts of the summary that only matter once they happened.
    fn extras(&self) -> String {
        let mut x = String::new();
        if self.lease_waits > 0 {
            x.push_str(&format!(
                "; {} lease waits ({} ended by a fill event)",
                self.lease_waits, self.fill_wakeups
            ));
        }
        let l = &self.leases;
        if l.granted + l.failures_heard + l.reloads > 0 {
            x.push_str(&format!(
                "; leases: {} granted ({} taken over), {} lost, {} fills fenced off, \
                 {} failures told, {} heard; {} reloads after another replica's fill",
                l.granted,
                l.takeovers,
                l.lost,
                l.fenced,
                l.failures_shared,
                l.failures_heard,
                l.reloads
            ));
        }
        if self.probes_deferred + self.probes_published + self.probes_received > 0 {
            x.push_str(&format!(
                "; breaker probes: {} left to another replica, {} told, {} received",
                self.probes_deferred, self.probes_published, self.probes_received
            ));
        }
        if self.sessions_stored + self.sessions_restored > 0 {
            x.push_str(&format!(
                "; MCP sessions: {} stored, {} restored from another replica",
                self.sessions_stored, self.sessions_restored
            ));
        }
        let tripped: Vec<String> = self
            .breakers
            .iter()
            .filter(|b| b.open + b.half_open > 0)
            .map(FleetBreaker::text)
            .collect();
        if !tripped.is_empty() {
            x.push_str(&format!(
                "; breakers across the fleet: {}",
                tripped.join(", ")
            ));
        }
        let rates: Vec<String> = self
            .upstream_requests
            .iter()
            .map(|r| {
                format!(
                    "{} {} last minute ({} this minute, {} in 10 min)",
                    r.upstream, r.last_minute, r.this_minute, r.last_10_minutes
                )
            })
            .collect();
        if !rates.is_empty() {
            x.push_str(&format!("; fleet upstream requests: {}", rates.join(", ")));
        }
        if self.sse_events_stored + self.sse_replays > 0 {
            x.push_str(&format!(
                "; SSE: {} events kept, {} streams resumed",
                self.sse_events_stored, self.sse_replays
            ));
        }
        x
    }

    /// One line for people (`health` in the CLI and the MCP text).
    pub fn summary(&self) -> String {
        format!(
            "fleet: {} on {} (replica {}, gate {}, {} replicas seen, last round trip {} µs); \
             quota: {} granted, {} deferred, {} on the fair share; L2: {} hits, {} misses, \
             {} refused, {} written{}{}",
            self.mode,
            self.redis_url,
            self.replica_id,
            self.gate,
            self.replicas_seen,
            self.last_rtt_us,
            self.quota_granted,
            self.quota_deferred,
            self.quota_local_share,
            self.l2_hits,
            self.l2_misses,
            self.l2_rejected,
            self.l2_writes,
            self.extras(),
            self.last_error
                .as_deref()
                .map(|e| format!("; last Redis error: {e}"))
                .unwrap_or_default()
        )
    }
}

/// What this replica did with document leases (FLEET.md 5.5).
#[derive(
    Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema,
)]
pub struct LeaseReport {
    /// Leases granted to this replica (it fetched the document for the fleet).
    pub granted: u64,
    /// Of those, leases taken over after waiting on another replica's (it died, was
    /// cancelled, or was held back by its own limits).
    pub takeovers: u64,
    /// Leases this replica lost while fetching (expired or taken over: its renewal
    /// found another value).
    pub lost: u64,
    /// Fills refused because a newer lease's copy was already there (fencing).
    pub fenced: u64,
    /// This replica's upstream failures and 404s told to the fleet (`failed` events
    /// and markers).
    pub failures_shared: u64,
    /// Flights answered from another replica's failure or 404 marker instead of
    /// fetching.
    pub failures_heard: u64,
    /// Documents in memory replaced by another replica's newer fill (its `filled`
    /// event, read back from L2 in the background: refresh-ahead once for the fleet).
    pub reloads: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_says_how_many_replicas_see_it_open() {
        let b = FleetBreaker {
            upstream: "pypistats".into(),
            open: 3,
            half_open: 0,
            closed: 2,
        };
        assert_eq!(b.text(), "pypistats: open on 3 of 5 replicas");
        let b = FleetBreaker { half_open: 1, ..b };
        assert_eq!(b.text(), "pypistats: open on 3 of 6 replicas (1 half-open)");
    }
}
