//! The actors of the engine, one concern each (docs/ARCHITECTURE.md section 3), and the
//! supervisor that restarts them.
//!
//! | actor | owns |
//! | --- | --- |
//! | [`supervisor`] | spawns the others linked, restarts them within an intensity, readiness |
//! | [`router`] | each question's life: flights (coalescing), answer budgets, cancellation, the fallback chains, batches |
//! | [`fetch`] | one per upstream (the file hosts included): when a request may go (rate-limit reservations, the polite queue); the request itself in a task |
//! | [`health`] | one circuit breaker per upstream, published for lock-free reads |
//! | [`estimator`] | the per-package calibration between pypistats and pepy, learned while both answer |
//! | [`cache`] | the write side of the cache tiers: fills, revalidation bookkeeping, maintenance, refresh-ahead, the store's writes |
//!
//! The cache's read side is a shared value ([`crate::cache`]), backed by the store on
//! disk ([`crate::store`]: read on a miss, written by its own thread); estimates
//! are a pure function over the series the cache holds ([`sentinel_core::views::estimate`]),
//! scaled by what the [`estimator`] learned when they come from pepy.
//! File downloads stream through the files upstream's FetchActor and breaker
//! ([`transfer`]). Actors never await network I/O inside a handler: work that waits is spawned, and
//! its outcome comes back as a message.

pub(crate) mod cache;
pub(crate) mod estimator;
pub(crate) mod fetch;
pub(crate) mod health;
mod http;
pub(crate) mod registry;
pub(crate) mod router;
pub(crate) mod supervisor;
pub(crate) mod transfer;

/// The kinds of actor the supervisor runs; used to name them and to aim the test-only
/// panic hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// The router.
    Router,
    /// The health actor.
    Health,
    /// The fetch actor of one upstream.
    Fetch(sentinel_core::model::Upstream),
    /// The estimator.
    Estimator,
    /// The cache's write side.
    Cache,
}

impl std::fmt::Display for ActorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActorKind::Router => f.write_str("router"),
            ActorKind::Health => f.write_str("health"),
            ActorKind::Fetch(up) => write!(f, "fetch-{up}"),
            ActorKind::Estimator => f.write_str("estimator"),
            ActorKind::Cache => f.write_str("cache"),
        }
    }
}

use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

use crate::cache::SharedCache;
use crate::config::EngineConfig;
use crate::store::Store;
use sentinel_core::model::Upstream;

/// The composition root: what the engine owns, from which each actor is handed only
/// its own part at spawn (the router gets [`router::RouterArgs`], a FetchActor its
/// [`fetch::FetchContext`], the HealthActor its config and board). Owned by the engine,
/// so it outlives any one actor's restart.
pub(crate) struct EngineShared {
    pub(crate) cfg: Arc<EngineConfig>,
    pub(crate) cache: SharedCache,
    pub(crate) board: Arc<health::BreakerBoard>,
    pub(crate) registry: Arc<registry::Registry>,
    /// The router's current reference (the front door of every question).
    pub(crate) router: Arc<registry::Slot<router::RouterMsg>>,
    pub(crate) fetch: [Arc<fetch::FetchContext>; Upstream::COUNT],
    pub(crate) readiness: Readiness,
    pub(crate) counters: Arc<EngineCounters>,
    /// The last hour's incidents and per-upstream series (`crate::recorder`).
    pub(crate) recorder: Arc<crate::recorder::Recorder>,
    /// The store on disk (or none): the router reads and writes it, the engine reports it.
    pub(crate) store: Store,
    /// Cancelled when the engine shuts down (or its last handle is dropped).
    pub(crate) shutdown: CancellationToken,
    /// The fleet's shared tier (Redis), when `[fleet]` is on.
    #[cfg(feature = "fleet")]
    pub(crate) fleet: Option<Arc<crate::fleet::client::FleetClient>>,
}

impl EngineShared {
    pub(crate) fn new(cfg: EngineConfig, store: Store) -> Result<Self, reqwest::Error> {
        let shutdown = CancellationToken::new();
        let recorder = Arc::new(crate::recorder::Recorder::default());
        // Built without connecting: a replica starts (and is ready) with Redis down.
        #[cfg(feature = "fleet")]
        let fleet = match cfg.fleet.enabled() {
            true => match crate::fleet::client::FleetClient::new(&cfg.fleet) {
                Ok(c) => {
                    c.spawn_heartbeat(shutdown.child_token());
                    c.spawn_events(shutdown.child_token());
                    Some(c)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "fleet: not started; this replica runs alone");
                    None
                }
            },
            false => None,
        };
        let ctx = |up: Upstream| {
            let c = fetch::FetchContext::new(up, &cfg, shutdown.child_token(), recorder.clone())?;
            #[cfg(feature = "fleet")]
            let c = match &fleet {
                Some(f) => c.with_fleet(f),
                None => c,
            };
            Ok::<_, reqwest::Error>(Arc::new(c))
        };
        let mut built = Vec::with_capacity(Upstream::COUNT);
        for up in Upstream::ALL {
            built.push(ctx(up)?);
        }
        let Ok(fetch) = <[_; Upstream::COUNT]>::try_from(built) else {
            unreachable!("one context per upstream")
        };
        let cache = SharedCache::with_clock(&cfg.cache, cfg.clock.clone());
        let registry = Arc::new(registry::Registry::default());
        let board = Arc::new(health::BreakerBoard::default());
        #[cfg(feature = "fleet")]
        if let Some(f) = &fleet {
            // This replica's breaker states, shown fleet-wide.
            let b = board.clone();
            let src = crate::fleet::breakers::BreakerSource::new(
                |up| cfg.upstreams.get(up).base_url.clone(),
                Arc::new(move |up| b.view(up).state),
                board.changed.clone(),
            );
            f.spawn_breaker_share(src, shutdown.child_token());
            // Upstream requests per minute, fleet-wide.
            f.spawn_rates(
                |up| cfg.upstreams.get(up).base_url.clone(),
                shutdown.child_token(),
            );
            // Other replicas' probe outcomes go to this replica's HealthActor.
            let reg = registry.clone();
            let probes = crate::fleet::probe::ProbeSink::new(
                |up| cfg.upstreams.get(up).base_url.clone(),
                Arc::new(move |upstream, outcome| {
                    if let Some(h) = reg.health.get() {
                        let _ = h.cast(health::HealthMsg::FleetProbe { upstream, outcome });
                    }
                }),
            );
            f.spawn_invalidation_reader(cache.clone(), probes, shutdown.child_token());
            // Another replica's fill reloads the copies this memory holds (`reload.rs`).
            let _ = f.memory.set(cache.clone());
        }
        Ok(EngineShared {
            cache,
            cfg: Arc::new(cfg),
            board,
            registry,
            router: Arc::default(),
            fetch,
            readiness: Readiness::default(),
            counters: Arc::new(EngineCounters::default()),
            recorder,
            store,
            shutdown,
            #[cfg(feature = "fleet")]
            fleet,
        })
    }

    /// The fleet section of `health` and `metrics`, when the fleet is on.
    pub(crate) fn fleet_report(&self) -> Option<crate::fleet::FleetReport> {
        #[cfg(feature = "fleet")]
        return self.fleet.as_ref().map(|f| f.report());
        #[cfg(not(feature = "fleet"))]
        None
    }

    pub(crate) fn router_args(&self) -> router::RouterArgs {
        router::RouterArgs {
            cfg: self.cfg.clone(),
            cache: self.cache.clone(),
            board: self.board.clone(),
            registry: self.registry.clone(),
            router: self.router.clone(),
            counters: self.counters.clone(),
            store: self.store.clone(),
            writes: self.writes(),
            #[cfg(feature = "fleet")]
            fleet: self.fleet.clone(),
        }
    }

    /// The write side's handles (the router applies a fill itself only through a
    /// [`cache::FillJob`] the CacheActor could not take).
    pub(crate) fn writes(&self) -> cache::Writes {
        let registry = self.registry.clone();
        cache::Writes {
            cache: self.cache.clone(),
            store: self.store.clone(),
            estimator: Arc::new(move || registry.estimator.get()),
        }
    }

    pub(crate) fn cache_args(&self) -> cache::CacheArgs {
        let router = self.router.clone();
        cache::CacheArgs {
            cfg: self.cfg.clone(),
            writes: self.writes(),
            refresh: Arc::new(move |query| {
                router
                    .get()
                    .is_some_and(|r| r.cast(router::RouterMsg::RefreshAhead { query }).is_ok())
            }),
        }
    }
}
/// Engine-wide counters.
#[derive(Default)]
pub(crate) struct EngineCounters {
    pub(crate) coalesced: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) calls: AtomicU64,
    pub(crate) estimates: AtomicU64,
}

/// Whether the engine takes work, and why not.
pub(crate) struct Readiness {
    ready: AtomicBool,
    reason: RwLock<String>,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            ready: AtomicBool::new(false),
            reason: RwLock::new("starting".into()),
        }
    }
}

impl Readiness {
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub(crate) fn set_ready(&self) {
        *self.reason.write().unwrap_or_else(|p| p.into_inner()) = String::new();
        self.ready.store(true, Ordering::Release);
    }

    pub(crate) fn set_not_ready(&self, reason: impl Into<String>) {
        *self.reason.write().unwrap_or_else(|p| p.into_inner()) = reason.into();
        self.ready.store(false, Ordering::Release);
    }

    pub(crate) fn reason(&self) -> String {
        self.reason
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
