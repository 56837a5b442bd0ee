//! `FleetClient`: one multiplexed Redis connection shared by the engine's tasks, a
//! deadline on every call, and the gate in front of it (the engine's own breaker
//! policy pointed at Redis: after 3 failures or timeouts in a row no call is tried
//! until a probe succeeds). A cheap shared value, never behind a mailbox.

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::keys::Keys;
use super::{FleetConfig, FleetReport, redact_url};
use crate::config::fleet::read_pem;
use sentinel_core::model::untrusted::redact_urls;
use sentinel_core::policy::{Admission, Breaker, BreakerState, CallOutcome};

/// How often a replica writes its heartbeat and reads the registry.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A replica not heard from for this long no longer counts toward fair shares.
const REPLICA_SEEN_MS: u64 = 5 * 60 * 1000;
/// After Redis returns (or was flushed), strict quotas stay on the local share this
/// long: longer than the longest window (60 s, kept 2 % longer), so the fleet never
/// spends its shares and a fresh quota in one window.
pub(crate) const LEARNING: Duration = Duration::from_millis(62_000);

/// Why a Redis call gave nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FleetError {
    /// The gate is open: not tried.
    Skipped,
    /// Past its deadline.
    Timeout,
    /// Redis answered an error, or the connection failed (the error is in the report).
    Redis,
}

#[derive(Default)]
pub(crate) struct Counters {
    ok: AtomicU64,
    timeout: AtomicU64,
    error: AtomicU64,
    skipped: AtomicU64,
    last_rtt_us: AtomicU64,
    pub(crate) quota_granted: AtomicU64,
    pub(crate) quota_deferred: AtomicU64,
    pub(crate) quota_local_share: AtomicU64,
    pub(crate) l2_hits: AtomicU64,
    pub(crate) l2_misses: AtomicU64,
    pub(crate) l2_rejected: AtomicU64,
    pub(crate) l2_writes: AtomicU64,
    pub(crate) lease_waits: AtomicU64,
    pub(crate) invalidations_applied: AtomicU64,
    pub(crate) probes_deferred: AtomicU64,
    pub(crate) probes_published: AtomicU64,
    pub(crate) probes_received: AtomicU64,
    pub(crate) sessions_stored: AtomicU64,
    pub(crate) sessions_restored: AtomicU64,
    pub(crate) fill_wakeups: AtomicU64,
    pub(crate) events_subscriptions: AtomicU64,
    pub(crate) leases_granted: AtomicU64,
    pub(crate) lease_takeovers: AtomicU64,
    pub(crate) leases_lost: AtomicU64,
    pub(crate) l2_fenced: AtomicU64,
    pub(crate) failures_shared: AtomicU64,
    pub(crate) failures_heard: AtomicU64,
    pub(crate) reloads: AtomicU64,
    pub(crate) sse_events_stored: AtomicU64,
    pub(crate) sse_replays: AtomicU64,
}

pub(crate) struct FleetClient {
    conn: ConnectionManager,
    /// For the pub/sub connection (`events.rs`).
    pub(crate) redis: redis::Client,
    /// This replica's lease waiters, woken by `filled` events.
    pub(crate) fill_waiters: super::memo::FillWaiters,
    gate: Mutex<Breaker>,
    op_timeout: Duration,
    pub(crate) keys: Keys,
    pub(crate) replica: String,
    pub(crate) cfg: FleetConfig,
    url_shown: String,
    /// Replicas seen in the registry recently; 0 before the first read.
    replicas_seen: AtomicU32,
    /// Until when strict quotas stay on the local share.
    learning_until: Mutex<Option<Instant>>,
    last_error: Mutex<Option<String>>,
    epoch: Mutex<Option<String>>,
    pub(crate) counters: Counters,
    nonce: AtomicU64,
    /// Other replicas' probe leases known to run (`probe.rs`).
    pub(crate) probes: super::memo::ProbeMemo,
    /// Documents in this replica's memory that another replica's fill reloads.
    pub(crate) watched: super::memo::Watched,
    /// This replica's memory, for those reloads (set once at start).
    pub(crate) memory: std::sync::OnceLock<crate::cache::SharedCache>,
    /// Every replica's breakers as last read (`breakers.rs`).
    pub(crate) breakers_seen: Mutex<Vec<super::FleetBreaker>>,
    /// Upstream requests per minute, this replica's to write and the fleet's read
    /// (`rates.rs`).
    pub(crate) rates: super::memo::Rates,
}

/// Resets the gate's half-open probe if the call is dropped before it reports.
struct ProbeGuard<'a>(&'a FleetClient, bool);

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.lock_gate().release_probe();
        }
    }
}

/// The redis-rs client for `cfg`: with `rediss://` and `tls_ca_file` (or a client
/// certificate) set, TLS trusting that CA instead of the built-in public roots.
/// Builds only; nothing is connected. Errors name the setting, password redacted.
pub(crate) fn redis_client(cfg: &FleetConfig) -> Result<redis::Client, String> {
    let url = cfg.redis_url.as_deref().unwrap_or_default();
    let shown = redact_url(url);
    let bad =
        |e: redis::RedisError| format!("fleet.redis_url {shown}: {}", redact_urls(&e.to_string()));
    if cfg.tls_ca_file.is_none() && cfg.tls_client_cert_file.is_none() {
        return redis::Client::open(url).map_err(bad);
    }
    let pem = |field: &str, path: &Option<std::path::PathBuf>| {
        path.as_deref()
            .map(|p| read_pem(p).map_err(|e| format!("{field} {}: {e}", p.display())))
            .transpose()
    };
    let root_cert = pem("fleet.tls_ca_file", &cfg.tls_ca_file)?;
    let client_tls = match (
        pem("fleet.tls_client_cert_file", &cfg.tls_client_cert_file)?,
        pem("fleet.tls_client_key_file", &cfg.tls_client_key_file)?,
    ) {
        (Some(client_cert), Some(client_key)) => Some(redis::ClientTlsConfig {
            client_cert,
            client_key,
        }),
        _ => None,
    };
    redis::Client::build_with_tls(
        url,
        redis::TlsCertificates {
            client_tls,
            root_cert,
        },
    )
    .map_err(bad)
}

impl FleetClient {
    /// Builds the client without connecting: the engine starts (and is ready) with
    /// Redis down; the connection is made on the first call.
    pub(crate) fn new(cfg: &FleetConfig) -> Result<Arc<Self>, String> {
        let url = cfg.redis_url.clone().unwrap_or_default();
        let url_shown = redact_url(&url);
        let client = redis_client(cfg)?;
        // Outer bounds only: every call has its own, shorter deadline below.
        let mcfg = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_millis(250)))
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), mcfg).map_err(|e| {
            format!(
                "fleet.redis_url {url_shown}: {}",
                redact_urls(&e.to_string())
            )
        })?;
        let replica = if cfg.replica_id.is_empty() {
            let host = std::env::var("HOSTNAME")
                .ok()
                .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "replica".into());
            format!(
                "{host}-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            )
        } else {
            cfg.replica_id.clone()
        };
        Ok(Arc::new(FleetClient {
            conn,
            redis: client,
            fill_waiters: Default::default(),
            gate: Mutex::new(Breaker::new(cfg.gate.clone())),
            op_timeout: Duration::from_millis(cfg.op_timeout_ms),
            keys: Keys::new(&cfg.namespace),
            replica,
            cfg: cfg.clone(),
            url_shown,
            replicas_seen: AtomicU32::new(0),
            learning_until: Mutex::new(None),
            last_error: Mutex::new(None),
            epoch: Mutex::new(None),
            counters: Counters::default(),
            nonce: AtomicU64::new(0),
            probes: Default::default(),
            watched: Default::default(),
            memory: Default::default(),
            breakers_seen: Mutex::default(),
            rates: Default::default(),
        }))
    }

    fn lock_gate(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A unique token for this replica's values (quota log members, leases).
    pub(crate) fn nonce(&self) -> String {
        format!("{}:{}", self.replica, self.nonce.fetch_add(1, Relaxed))
    }

    /// One Redis call behind the gate, bounded by the call deadline. Never waits longer
    /// than `op_timeout`; with the gate open it returns at once.
    pub(crate) async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, FleetError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let probe = match self.lock_gate().admit(Instant::now().into_std()) {
            Admission::Allowed => false,
            Admission::Probe => true,
            Admission::Rejected { .. } => {
                self.counters.skipped.fetch_add(1, Relaxed);
                metrics::counter!("sentinel_redis_ops_total", "op" => op, "outcome" => "skipped")
                    .increment(1);
                return Err(FleetError::Skipped);
            }
        };
        let mut guard = ProbeGuard(self, probe);
        let started = Instant::now();
        let result = tokio::time::timeout(self.op_timeout, f(self.conn.clone())).await;
        let rtt = started.elapsed();
        guard.1 = false;
        let (outcome, out) = match result {
            Ok(Ok(v)) => {
                self.counters.ok.fetch_add(1, Relaxed);
                self.counters
                    .last_rtt_us
                    .store(rtt.as_micros() as u64, Relaxed);
                (CallOutcome::Success, Ok(v))
            }
            Ok(Err(e)) => {
                self.counters.error.fetch_add(1, Relaxed);
                let msg = redact_urls(&e.to_string());
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(format!("{op}: {msg}"));
                (CallOutcome::Failure, Err(FleetError::Redis))
            }
            Err(_) => {
                self.counters.timeout.fetch_add(1, Relaxed);
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!(
                    "{op}: no answer within {} ms",
                    self.op_timeout.as_millis()
                ));
                (CallOutcome::Failure, Err(FleetError::Timeout))
            }
        };
        let word = match &out {
            Ok(_) => "ok",
            Err(FleetError::Timeout) => "timeout",
            Err(_) => "error",
        };
        metrics::counter!("sentinel_redis_ops_total", "op" => op, "outcome" => word).increment(1);
        metrics::histogram!("sentinel_redis_op_seconds", "op" => op).record(rtt.as_secs_f64());
        let now = Instant::now();
        let transition = self.lock_gate().record(outcome, probe, now.into_std());
        if let Some(t) = transition {
            // One log line per gate transition, never per call.
            match t.to {
                BreakerState::Open => tracing::warn!(
                    redis = %self.url_shown,
                    error = ?self.last_error(),
                    "fleet: Redis unreachable, gate open: this replica runs alone with fair-share quotas"
                ),
                BreakerState::Closed => {
                    tracing::warn!(redis = %self.url_shown, "fleet: Redis back, gate closed; strict quotas stay on the fair share for one window");
                    self.start_learning(now);
                }
                BreakerState::HalfOpen => {}
            }
        }
        out
    }

    fn start_learning(&self, now: Instant) {
        *self
            .learning_until
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(now + LEARNING);
    }

    /// Whether strict quotas must stay on the local share now.
    pub(crate) fn learning(&self, now: Instant) -> bool {
        self.learning_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|until| now < until)
    }

    /// Whether the gate lets calls through now (closed or due for a probe).
    pub(crate) fn gate_state(&self) -> BreakerState {
        self.lock_gate().state()
    }

    /// The divisor of a strict quota's fair share: replicas seen recently, or
    /// `max_replicas` before the registry was ever read.
    pub(crate) fn share_divisor(&self) -> u32 {
        match self.replicas_seen.load(Relaxed) {
            0 => self.cfg.max_replicas.max(1),
            n => n,
        }
    }

    fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Writes this replica's heartbeat, prunes replicas not heard from, counts the
    /// rest and reads the epoch (set once), in one script on Redis' clock.
    async fn heartbeat(&self) -> Result<(), FleetError> {
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
redis.call('SET', KEYS[2], ARGV[3], 'NX')
return {redis.call('ZCARD', KEYS[1]), redis.call('GET', KEYS[2])}
",
            )
        });
        let fresh_epoch = format!("{:016x}", rand::random::<u64>());
        let (n, epoch): (u32, String) = self
            .run("heartbeat", |mut c| async move {
                SCRIPT
                    .key(self.keys.replicas())
                    .key(self.keys.epoch())
                    .arg(&self.replica)
                    .arg(REPLICA_SEEN_MS)
                    .arg(fresh_epoch)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let mut known = self.epoch.lock().unwrap_or_else(|p| p.into_inner());
        if known.as_ref().is_some_and(|k| *k != epoch) {
            // Redis was flushed or replaced: its quota logs are gone.
            tracing::warn!(redis = %self.url_shown, "fleet: Redis epoch changed (flushed or replaced); strict quotas on the fair share for one window");
            self.start_learning(Instant::now());
        }
        *known = Some(epoch);
        // While learning (Redis back empty, or flushed), the registry is being rebuilt
        // one heartbeat at a time: a replica not yet re-registered is still there and
        // still spending its share, so the count may rise but never drop. Otherwise
        // the first replica back would count itself alone and take the whole quota.
        let seen = match self.learning(Instant::now()) {
            true => n.max(self.replicas_seen.load(Relaxed)),
            false => n,
        };
        self.replicas_seen.store(seen.max(1), Relaxed);
        Ok(())
    }

    /// Heartbeats until shutdown (the first at once, so the registry knows this
    /// replica before its first quota falls back to a share).
    pub(crate) fn spawn_heartbeat(self: &Arc<Self>, shutdown: CancellationToken) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(me) = me.upgrade() else { return };
                let _ = me.heartbeat().await;
                me.export_gauges();
            }
        });
    }

    /// The fleet's state as Prometheus gauges (refreshed with each heartbeat): the
    /// gate (0 closed, 1 half-open, 2 open), replicas seen, and whether strict quotas
    /// are on the fair share after Redis returned (learning).
    fn export_gauges(&self) {
        let gate = match self.gate_state() {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        };
        metrics::gauge!("sentinel_redis_gate_state").set(gate);
        metrics::gauge!("sentinel_fleet_replicas").set(f64::from(self.replicas_seen.load(Relaxed)));
        let learning = f64::from(u8::from(self.learning(Instant::now())));
        metrics::gauge!("sentinel_fleet_learning").set(learning);
    }

    /// The fleet section of the health report.
    pub(crate) fn report(&self) -> FleetReport {
        let now = Instant::now();
        let gate = self.gate_state();
        let c = &self.counters;
        FleetReport {
            mode: match gate {
                BreakerState::Open | BreakerState::HalfOpen => "degraded",
                BreakerState::Closed if self.learning(now) => "learning",
                BreakerState::Closed => "shared",
            }
            .into(),
            redis_url: self.url_shown.clone(),
            replica_id: self.replica.clone(),
            gate: gate.to_string(),
            last_error: self.last_error(),
            replicas_seen: self.replicas_seen.load(Relaxed),
            ops_ok: c.ok.load(Relaxed),
            ops_timeout: c.timeout.load(Relaxed),
            ops_error: c.error.load(Relaxed),
            ops_skipped: c.skipped.load(Relaxed),
            last_rtt_us: c.last_rtt_us.load(Relaxed),
            quota_granted: c.quota_granted.load(Relaxed),
            quota_deferred: c.quota_deferred.load(Relaxed),
            quota_local_share: c.quota_local_share.load(Relaxed),
            l2_hits: c.l2_hits.load(Relaxed),
            l2_misses: c.l2_misses.load(Relaxed),
            l2_rejected: c.l2_rejected.load(Relaxed),
            l2_writes: c.l2_writes.load(Relaxed),
            lease_waits: c.lease_waits.load(Relaxed),
            invalidations_applied: c.invalidations_applied.load(Relaxed),
            probes_deferred: c.probes_deferred.load(Relaxed),
            probes_published: c.probes_published.load(Relaxed),
            probes_received: c.probes_received.load(Relaxed),
            sessions_stored: c.sessions_stored.load(Relaxed),
            sessions_restored: c.sessions_restored.load(Relaxed),
            fill_wakeups: c.fill_wakeups.load(Relaxed),
            events_subscriptions: c.events_subscriptions.load(Relaxed),
            leases: super::LeaseReport {
                granted: c.leases_granted.load(Relaxed),
                takeovers: c.lease_takeovers.load(Relaxed),
                lost: c.leases_lost.load(Relaxed),
                fenced: c.l2_fenced.load(Relaxed),
                failures_shared: c.failures_shared.load(Relaxed),
                failures_heard: c.failures_heard.load(Relaxed),
                reloads: c.reloads.load(Relaxed),
            },
            sse_events_stored: c.sse_events_stored.load(Relaxed),
            sse_replays: c.sse_replays.load(Relaxed),
            breakers: self.breakers_seen(),
            upstream_requests: self.rates_seen(),
        }
    }
}
