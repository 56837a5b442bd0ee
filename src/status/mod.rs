//! The operator's status page: `GET /status.json` ([`StatusSnapshot`], typed and
//! documented by its JSON Schema) and `GET /status` (the same snapshot rendered as one
//! self-contained HTML page, [`page`]). Built from the engine's health, its recorder
//! of the last hour ([`EngineHandle::incidents`], [`EngineHandle::upstream_hours`]) and
//! the MCP layer's ([`activity`]).
//!
//! It never carries a credential: no base URL (one may hold `user:password@`), no
//! header, no token; failure details are URL-redacted by the engine's recorder.

pub mod activity;
pub mod page;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::Serialize;

use crate::engine::EngineHandle;
use crate::mcp::sessions::BoundedSessions;
use activity::{Activity, LABELS};
use sentinel_actors::BreakerState;
use sentinel_actors::{BreakerRun, FailureNote, Incident, StoreState};

/// Everything the status page shows, at one moment.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StatusSnapshot {
    /// When this snapshot was taken, unix milliseconds.
    pub generated_at_unix_ms: u64,
    /// The server's version.
    pub version: String,
    /// Whether the engine takes calls.
    pub ready: bool,
    /// Why not, when not.
    pub not_ready_reason: Option<String>,
    /// One entry per upstream.
    pub upstreams: Vec<UpstreamStatus>,
    /// The provenance mix of every answer over the last hour, all tools together.
    pub provenance: ProvenanceMix,
    /// Per tool called in the last hour: calls, rate, cancellations, provenance mix.
    pub tools: Vec<ToolStatus>,
    /// The in-memory cache.
    pub cache: CacheStatus,
    /// The store on disk.
    pub store: StoreStatus,
    /// Incidents of the last hour, newest first (breaker transitions with their
    /// cause, actor restarts, store degradations).
    pub incidents: Vec<Incident>,
    /// MCP sessions and calls.
    pub mcp: McpStatus,
    /// The fleet (replicas sharing a Redis tier), when there is one; `null` for a
    /// single instance.
    pub fleet: Option<FleetStatus>,
}

/// One upstream now and over the last hour.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct UpstreamStatus {
    /// The upstream (`pypi_json`, `pypistats`, ...).
    pub upstream: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Breaker state now: closed, open or half_open.
    pub breaker: BreakerState,
    /// Seconds until an open breaker lets a probe through.
    pub open_for_secs: Option<f64>,
    /// Failure rate over the breaker's window (0..1).
    pub error_rate: f64,
    /// Times the breaker opened since start.
    pub times_opened: u64,
    /// The breaker's states over the last hour as runs, oldest first.
    pub breaker_timeline: Vec<BreakerRun>,
    /// Requests that reached the upstream in the last hour, and how many failed.
    pub requests_last_hour: u64,
    /// Of which failed.
    pub failures_last_hour: u64,
    /// Median fetch latency over the hour, ms (a histogram bucket's upper bound).
    pub p50_ms: Option<u32>,
    /// 99th percentile fetch latency over the hour, ms.
    pub p99_ms: Option<u32>,
    /// Our use of its rate limit over the last minute, when it has one.
    pub quota: Option<QuotaUse>,
    /// Fetches waiting in the polite queue now.
    pub queue_len: u64,
    /// Fetches waiting for their reserved rate-limit slot now.
    pub slot_waits: u64,
    /// Requests our own rate limit deferred since start.
    pub deferred: u64,
    /// The last failure seen from the upstream.
    pub last_failure: Option<FailureNote>,
}

/// Rate-limit use against the quota.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct QuotaUse {
    /// Requests sent in the last 60 s.
    pub used_last_minute: u64,
    /// The quota per minute (the configured per-minute limit, else 60 x per second).
    pub per_minute: u64,
    /// used / quota (0..1, more when over).
    pub ratio: f64,
}

/// Counts of answers by provenance label.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct ProvenanceMix {
    /// Fetched from the upstream for this call.
    pub live: u64,
    /// Confirmed current by the upstream (304).
    pub revalidated: u64,
    /// From the fresh cache.
    pub cached: u64,
    /// Past its freshness, served because the upstream failed.
    pub stale: u64,
    /// Estimated from other observations.
    pub estimated: u64,
    /// Figures of several kinds.
    pub mixed: u64,
    /// Deferred by our own rate limit.
    pub deferred: u64,
    /// No answer: the upstream failed and nothing else could answer.
    pub unavailable: u64,
    /// Other errors (not found, invalid input, internal).
    pub error: u64,
}

impl ProvenanceMix {
    fn from_counts(c: &[u64; LABELS.len()]) -> Self {
        ProvenanceMix {
            live: c[0],
            revalidated: c[1],
            cached: c[2],
            stale: c[3],
            estimated: c[4],
            mixed: c[5],
            deferred: c[6],
            unavailable: c[7],
            error: c[8],
        }
    }

    /// All answers counted.
    pub fn total(&self) -> u64 {
        self.as_pairs().iter().map(|(_, n)| n).sum()
    }

    /// `(label, count)` in the page's order.
    pub fn as_pairs(&self) -> [(&'static str, u64); LABELS.len()] {
        [
            ("live", self.live),
            ("revalidated", self.revalidated),
            ("cached", self.cached),
            ("stale", self.stale),
            ("estimated", self.estimated),
            ("mixed", self.mixed),
            ("deferred", self.deferred),
            ("unavailable", self.unavailable),
            ("error", self.error),
        ]
    }
}

/// One tool's last hour.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ToolStatus {
    /// The tool.
    pub tool: String,
    /// Calls in the last hour.
    pub calls_last_hour: u64,
    /// Calls per second over the last 10 s.
    pub calls_per_sec: f64,
    /// Calls the client cancelled in the last hour.
    pub cancelled_last_hour: u64,
    /// Its answers by provenance over the hour.
    pub provenance: ProvenanceMix,
    /// Its answers by provenance over the last minute (what users get right now).
    pub provenance_last_minute: ProvenanceMix,
}

/// The in-memory cache.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct CacheStatus {
    /// Entries held.
    pub entries: u64,
    /// Weighted size, bytes.
    pub bytes: u64,
    /// Capacity, bytes.
    pub capacity_bytes: u64,
    /// Fresh hits / all lookups since start.
    pub hit_ratio: f64,
    /// Entries evicted for capacity since start.
    pub evictions: u64,
    /// Stale entries served since start.
    pub stale_served: u64,
}

/// The store on disk.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StoreStatus {
    /// off, active or memory_only.
    pub state: StoreState,
    /// Size on disk, bytes.
    pub size_bytes: u64,
    /// Documents kept.
    pub documents: u64,
    /// Failed reads and writes since start.
    pub errors: u64,
    /// Writes dropped since start.
    pub dropped_writes: u64,
    /// What went wrong, when something did.
    pub warning: Option<String>,
}

/// MCP sessions and calls.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct McpStatus {
    /// Live sessions now (HTTP only; `null` on stdio).
    pub sessions: Option<u64>,
    /// The cap on live sessions.
    pub max_sessions: Option<u64>,
    /// Tool calls per second over the last 10 s, all tools.
    pub calls_per_sec: f64,
    /// Tool calls in the last hour.
    pub calls_last_hour: u64,
    /// Calls the client cancelled in the last hour.
    pub cancelled_last_hour: u64,
    /// Answers by provenance per minute over the last hour, all tools, oldest first
    /// (for the chart): `[minute start unix secs, counts in `LABELS` order]`.
    pub provenance_per_minute: Vec<MinuteMix>,
}

/// One minute of answers by provenance.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct MinuteMix {
    /// The minute's start, unix seconds.
    pub at_unix: u64,
    /// Answers by provenance in that minute.
    pub mix: ProvenanceMix,
}

/// A fleet of replicas sharing a Redis tier (`[fleet]`), as this replica sees it.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct FleetStatus {
    /// `shared` (Redis answering), `degraded` (the gate is open: this replica runs on
    /// its fair share of the strict quotas), `learning` (Redis back, shares kept one
    /// more window).
    pub mode: String,
    /// Replicas seen in the registry in the last 5 minutes (0: never read).
    pub replicas_seen: u64,
    /// The gate in front of Redis (`closed`: calls go through; `open`: skipped).
    pub gate_state: String,
    /// The latest Redis round trip, ms (none before the first answer).
    pub round_trip_ms: Option<f64>,
    /// Redis calls that answered, timed out, failed, or were skipped by the gate.
    pub ops: [u64; 4],
    /// Fleet-wide quota grants since start.
    pub quota_granted: u64,
    /// Fleet-wide quota refusals (answered `deferred`).
    pub quota_deferred: u64,
    /// Grants taken from this replica's fair share while Redis was away.
    pub quota_local_share: u64,
}

impl From<&sentinel_actors::FleetReport> for FleetStatus {
    fn from(f: &sentinel_actors::FleetReport) -> Self {
        FleetStatus {
            mode: f.mode.clone(),
            replicas_seen: u64::from(f.replicas_seen),
            gate_state: f.gate.clone(),
            round_trip_ms: (f.ops_ok > 0).then(|| f.last_rtt_us as f64 / 1000.0),
            ops: [f.ops_ok, f.ops_timeout, f.ops_error, f.ops_skipped],
            quota_granted: f.quota_granted,
            quota_deferred: f.quota_deferred,
            quota_local_share: f.quota_local_share,
        }
    }
}

/// What a snapshot is built from.
#[derive(Clone)]
pub struct StatusSources {
    /// The engine.
    pub engine: EngineHandle,
    /// The MCP layer's recorder.
    pub activity: Arc<Activity>,
    /// The HTTP server's sessions, when serving HTTP.
    pub sessions: Option<BoundedSessions>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl StatusSources {
    /// Takes a snapshot.
    pub async fn snapshot(&self) -> StatusSnapshot {
        let health = self.engine.health().await;
        let hours = self.engine.upstream_hours();
        let upstreams = health
            .upstreams
            .iter()
            .map(|u| {
                let up = u.health.upstream;
                let (hour, rl) = hours
                    .iter()
                    .find(|(h, _)| h.upstream == up)
                    .cloned()
                    .map_or((None, None), |(h, rl)| (Some(h), rl));
                let quota = rl.map(|rl| {
                    let per_minute = u64::from(rl.per_minute.unwrap_or(rl.per_second * 60));
                    let used = hour.as_ref().map_or(0, |h| h.requests_last_minute);
                    QuotaUse {
                        used_last_minute: used,
                        per_minute,
                        ratio: used as f64 / per_minute.max(1) as f64,
                    }
                });
                UpstreamStatus {
                    upstream: up.as_str().to_string(),
                    enabled: u.enabled,
                    breaker: u.health.breaker,
                    open_for_secs: u.health.open_for_secs,
                    error_rate: u.health.failure_rate,
                    times_opened: u.health.times_opened,
                    breaker_timeline: hour
                        .as_ref()
                        .map(|h| h.breaker_timeline.clone())
                        .unwrap_or_default(),
                    requests_last_hour: hour.as_ref().map_or(0, |h| h.requests),
                    failures_last_hour: hour.as_ref().map_or(0, |h| h.failures),
                    p50_ms: hour.as_ref().and_then(|h| h.p50_ms),
                    p99_ms: hour.as_ref().and_then(|h| h.p99_ms),
                    quota,
                    queue_len: u.requests.queue_len,
                    slot_waits: u.requests.slot_waits,
                    deferred: u.requests.deferred,
                    last_failure: hour.and_then(|h| h.last_failure),
                }
            })
            .collect();
        let tool_hours = self.activity.hour();
        let mut total = [0u64; LABELS.len()];
        let mut minutes: Vec<(u64, [u64; LABELS.len()])> = Vec::new();
        let (mut calls, mut cancelled, mut per_10s) = (0u64, 0u64, 0u64);
        let tools = tool_hours
            .iter()
            .map(|h| {
                calls += h.calls;
                cancelled += h.cancelled;
                per_10s += h.calls_last_10s;
                for (t, c) in total.iter_mut().zip(h.labels) {
                    *t += c;
                }
                let mut last_minute = [0u64; LABELS.len()];
                for (i, (start, labels)) in h.series.iter().enumerate() {
                    let minute = start / 60 * 60;
                    match minutes.iter_mut().find(|(m, _)| *m == minute) {
                        Some((_, acc)) => add(acc, labels),
                        None => {
                            let mut acc = [0u64; LABELS.len()];
                            add(&mut acc, labels);
                            minutes.push((minute, acc));
                        }
                    }
                    if i + 6 >= h.series.len() {
                        add(&mut last_minute, labels);
                    }
                }
                ToolStatus {
                    tool: h.tool.to_string(),
                    calls_last_hour: h.calls,
                    calls_per_sec: h.calls_last_10s as f64 / 10.0,
                    cancelled_last_hour: h.cancelled,
                    provenance: ProvenanceMix::from_counts(&h.labels),
                    provenance_last_minute: ProvenanceMix::from_counts(&last_minute),
                }
            })
            .collect();
        minutes.sort_by_key(|(m, _)| *m);
        let c = &health.cache;
        let s = &health.store;
        StatusSnapshot {
            generated_at_unix_ms: now_ms(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            ready: health.ready,
            not_ready_reason: health.reason.clone(),
            upstreams,
            provenance: ProvenanceMix::from_counts(&total),
            tools,
            cache: CacheStatus {
                entries: c.entries,
                bytes: c.bytes,
                capacity_bytes: c.capacity_bytes,
                hit_ratio: c.hit_ratio,
                evictions: c.evictions,
                stale_served: c.stale_served,
            },
            store: StoreStatus {
                state: s.state,
                size_bytes: s.size_bytes,
                documents: s.documents,
                errors: s.errors,
                dropped_writes: s.dropped_writes,
                warning: s.warning.clone(),
            },
            incidents: self.engine.incidents(),
            mcp: McpStatus {
                sessions: self.sessions.as_ref().map(|s| s.live() as u64),
                max_sessions: self.sessions.as_ref().map(|s| s.max() as u64),
                calls_per_sec: per_10s as f64 / 10.0,
                calls_last_hour: calls,
                cancelled_last_hour: cancelled,
                provenance_per_minute: minutes
                    .into_iter()
                    .map(|(at_unix, c)| MinuteMix {
                        at_unix,
                        mix: ProvenanceMix::from_counts(&c),
                    })
                    .collect(),
            },
            fleet: health.fleet.as_ref().map(FleetStatus::from),
        }
    }
}

fn add(acc: &mut [u64; LABELS.len()], labels: &[u32; LABELS.len()]) {
    for (a, l) in acc.iter_mut().zip(labels) {
        *a += u64::from(*l);
    }
}

/// Sets the gauges the alert rules and the dashboard read (ops/): each breaker's
/// state (through the health report), each upstream's rate-limit use over the last
/// minute against its quota, and the store's state and errors. Called by `/metrics`
/// before it renders, so they are current at every scrape.
pub async fn export_gauges(engine: &EngineHandle) {
    let health = engine.health().await;
    for (hour, rl) in engine.upstream_hours() {
        let up = hour.upstream.as_str();
        metrics::gauge!("sentinel_upstream_requests_last_minute", "upstream" => up)
            .set(hour.requests_last_minute as f64);
        if let Some(rl) = rl {
            let per_minute = f64::from(rl.per_minute.unwrap_or(rl.per_second * 60)).max(1.0);
            metrics::gauge!("sentinel_rate_limit_per_minute", "upstream" => up).set(per_minute);
            metrics::gauge!("sentinel_rate_limit_use_ratio", "upstream" => up)
                .set(hour.requests_last_minute as f64 / per_minute);
        }
    }
    let s = &health.store;
    metrics::gauge!("sentinel_store_memory_only").set(if s.state == StoreState::MemoryOnly {
        1.0
    } else {
        0.0
    });
    metrics::gauge!("sentinel_store_errors").set(s.errors as f64);
    metrics::gauge!("sentinel_store_size_bytes").set(s.size_bytes as f64);
    metrics::gauge!("sentinel_cache_capacity_bytes").set(health.cache.capacity_bytes as f64);
}

/// The JSON Schema of `/status.json`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(StatusSnapshot)).unwrap_or_default()
}
