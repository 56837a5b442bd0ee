//! CacheActor: owns the write side of the cache tiers (docs/ARCHITECTURE.md section 3).
//!
//! - **Fills.** When a flight ends with a document (or a 304 confirming the held copy),
//!   the router sends a [`FillJob`]; the actor builds the entry, puts it in memory,
//!   queues it for the store's writer thread, lets the estimator learn, and acks. The
//!   router answers the flight's waiters only on the ack, and callers arriving in
//!   between join the finished flight, so one document is still one upstream fetch.
//!   A job the actor never handles (it is restarting, or stopped with the job in its
//!   mailbox) applies itself when dropped: a fill is never lost.
//! - **Revalidation bookkeeping.** A refresh that failed is noted on the held entry
//!   (a stale answer names it).
//! - **Maintenance.** moka's pending work and the cache gauges every 5 s; the store's
//!   retention hourly (its size cap is enforced by the writer after each commit).
//! - **Refresh-ahead.** A PyPI document read at least `cache.refresh_ahead_hits` times
//!   since its fetch is refreshed `cache.refresh_ahead_ms` before it goes stale,
//!   through the router's flight path (breaker, rate limit, coalescing), only when the
//!   upstream's limiter has room to spare, never queued. Hits are counted on the
//!   lock-free read path (an atomic in the entry); this actor only reads them.
//!
//! Fresh hits never cross this mailbox. What it holds (the refresh-ahead candidates)
//! is rebuilt from the cache after a restart; the store is the engine's, so a restart
//! loses nothing it keeps.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::time::Instant;

use super::estimator::EstimatorMsg;
use crate::cache::{CacheEntry, SharedCache};
use crate::config::EngineConfig;
use crate::store::Store;
use sentinel_core::model::{PackageName, Provenance, Query, QueryKind, UnavailableCause};
use sentinel_core::policy::UpstreamFreshness;
use sentinel_core::upstream::Document;

/// How often moka's pending work runs and the gauges are published.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(5);
/// How often the store's retention runs.
const STORE_MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);
/// Most documents watched for refresh-ahead (a `Query` each: well under a few MB).
const MAX_CANDIDATES: usize = 16_384;

/// What a finished flight brought for the cache.
#[derive(Clone, Debug)]
pub(crate) enum Fill {
    /// A new body.
    Fetched {
        doc: Arc<Document>,
        etag: Option<String>,
        last_modified: Option<String>,
        at: Instant,
        /// What the upstream's `Cache-Control` said.
        freshness: UpstreamFreshness,
    },
    /// The upstream confirmed the held copy (a 304).
    Revalidated {
        held: Arc<CacheEntry>,
        at: Instant,
        freshness: UpstreamFreshness,
    },
}

impl Fill {
    /// How the flight's waiters see the filled document.
    pub(crate) fn provenance(&self) -> Provenance {
        match self {
            Fill::Fetched { .. } => Provenance::Live,
            Fill::Revalidated { .. } => Provenance::Revalidated,
        }
    }
}

/// Where a fill's entry goes once it is in the cache (the router's ack): `None` when
/// the actor failed part-way (the router answers from the cache as it is).
pub(crate) type FillDone = Box<dyn FnOnce(Option<Arc<CacheEntry>>) + Send>;

/// The write side's handles: the cache, the store, and the estimator's current
/// reference (it learns when a fill completes a pair of download series).
#[derive(Clone)]
pub(crate) struct Writes {
    pub(crate) cache: SharedCache,
    pub(crate) store: Store,
    pub(crate) estimator: Arc<dyn Fn() -> Option<ActorRef<EstimatorMsg>> + Send + Sync>,
}

impl Writes {
    /// Puts the fill in memory, queues it for the store (never awaited), lets the
    /// estimator learn. Nothing blocks.
    pub(crate) fn apply(&self, query: &Query, fill: Fill) -> Arc<CacheEntry> {
        let entry = match fill {
            Fill::Fetched {
                doc,
                etag,
                last_modified,
                at,
                freshness,
            } => {
                let entry = self
                    .cache
                    .fetched(query, doc, etag, at, freshness)
                    .with_last_modified(last_modified);
                // `no-store`: this answer only, never on disk.
                if freshness != UpstreamFreshness::NoStore {
                    self.store.put_document(query, &entry.kept());
                }
                Arc::new(entry)
            }
            Fill::Revalidated {
                held,
                at,
                freshness,
            } => {
                let confirmed = self.cache.revalidated(query, &held, at, freshness);
                if confirmed.upstream == UpstreamFreshness::NoStore {
                    // Nothing kept on disk; memory answers this flight only.
                } else if held.from_store && confirmed.upstream == held.upstream {
                    // Back in memory, confirmed: no need to write the body again.
                    self.store.confirm(query, confirmed.fetched_at_wall);
                } else {
                    self.store.put_document(query, &confirmed.kept());
                }
                Arc::new(confirmed)
            }
        };
        self.cache.insert(query.clone(), entry.clone());
        super::estimator::learn_on_fill(&self.cache, (self.estimator)(), query);
        entry
    }

    /// Notes on the held copy that its refresh failed at `at`.
    pub(crate) fn refresh_failed(
        &self,
        query: &Query,
        held: &CacheEntry,
        cause: UnavailableCause,
        at: Instant,
    ) {
        let noted = held.with_refresh_failure(cause, at);
        self.cache.insert(query.clone(), Arc::new(noted));
    }
}

/// One fill for the actor, with its ack. Dropped unhandled, it applies itself (and
/// acks), so a fill sent while the actor restarts or stops is never lost.
pub(crate) struct FillJob {
    query: Query,
    fill: Fill,
    writes: Writes,
    done: Option<FillDone>,
    /// The actor began applying it.
    started: bool,
}

impl FillJob {
    pub(crate) fn new(query: Query, fill: Fill, writes: Writes, done: FillDone) -> Self {
        FillJob {
            query,
            fill,
            writes,
            done: Some(done),
            started: false,
        }
    }

    fn run(mut self) {
        self.started = true;
        let entry = self.writes.apply(&self.query, self.fill.clone());
        if let Some(done) = self.done.take() {
            done(Some(entry));
        }
    }
}

impl Drop for FillJob {
    fn drop(&mut self) {
        let Some(done) = self.done.take() else {
            return;
        };
        if self.started {
            // The handler failed part-way: whatever reached the cache stands.
            done(None);
        } else {
            done(Some(self.writes.apply(&self.query, self.fill.clone())));
        }
    }
}

pub(crate) enum CacheMsg {
    /// A flight ended with a document: fill the tiers, then ack.
    Fill(Box<FillJob>),
    /// A copy another replica fetched, taken into memory: a refresh-ahead candidate
    /// like a fill.
    Watch(Query),
    /// A refresh of the held copy failed.
    RefreshFailed {
        query: Query,
        held: Arc<CacheEntry>,
        cause: UnavailableCause,
        at: Instant,
    },
    /// Drop the entries about a package (or all); replies how many went.
    Invalidate {
        package: Option<PackageName>,
        reply: RpcReplyPort<u64>,
    },
    /// The periodic work.
    Tick,
    /// Run refresh-ahead now; replies how many refreshes were asked. For tests.
    #[cfg(any(test, feature = "test-hooks"))]
    RefreshAheadNow { reply: RpcReplyPort<usize> },
    /// Test hook: hold the mailbox (say so on `started`) until `release` answers;
    /// `true` then panics, dropping whatever waits in the mailbox.
    #[cfg(any(test, feature = "test-hooks"))]
    Stall {
        started: tokio::sync::oneshot::Sender<()>,
        release: tokio::sync::oneshot::Receiver<bool>,
    },
    /// Test hook: panic inside the handler.
    #[cfg(any(test, feature = "test-hooks"))]
    Crash,
}

/// What the CacheActor is handed at spawn.
#[derive(Clone)]
pub(crate) struct CacheArgs {
    pub(crate) cfg: Arc<EngineConfig>,
    pub(crate) writes: Writes,
    /// Asks the router to refresh a document ahead (its flight path); `false` when
    /// the router is away.
    pub(crate) refresh: Arc<dyn Fn(Query) -> bool + Send + Sync>,
}

pub(crate) struct CacheActor;

pub(crate) struct CacheState {
    args: CacheArgs,
    /// Documents watched for refresh-ahead, with the fetch time of the entry a refresh
    /// was last asked for (one ask per fetched entry).
    candidates: HashMap<Query, Option<Instant>>,
    last_maintenance: Instant,
    last_store_maintenance: Instant,
    ticker: tokio::task::JoinHandle<()>,
}

/// Whether refresh-ahead may watch `q`: PyPI's own documents, whose freshness is a
/// fixed TTL. Download documents stay fresh until the upstream's next daily update
/// (a refresh before it brings the same numbers) and their upstreams' limits (30 a
/// minute, 5 a minute) are what callers need; metadata files never change.
fn eligible(q: &Query) -> bool {
    matches!(q.kind(), QueryKind::ProjectJson | QueryKind::Simple)
}

impl Actor for CacheActor {
    type Msg = CacheMsg;
    type State = CacheState;
    type Arguments = CacheArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: CacheArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let lead = Duration::from_millis(args.cfg.cache.refresh_ahead_ms);
        let tick = (lead / 4).clamp(Duration::from_millis(250), MAINTENANCE_EVERY);
        let ticker = myself.send_interval(tick, || CacheMsg::Tick);
        // After a restart: what to watch comes back from the cache itself.
        let mut candidates = HashMap::new();
        if args.cfg.cache.refresh_ahead_hits > 0 {
            for q in args.writes.cache.keys_where(eligible, MAX_CANDIDATES) {
                candidates.insert(q, None);
            }
        }
        let now = Instant::now();
        Ok(CacheState {
            args,
            candidates,
            last_maintenance: now,
            last_store_maintenance: now,
            ticker,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        st: &mut CacheState,
    ) -> Result<(), ActorProcessingErr> {
        st.ticker.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: CacheMsg,
        st: &mut CacheState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CacheMsg::Fill(job) => {
                st.watch(&job.query);
                (*job).run();
            }
            CacheMsg::Watch(q) => st.watch(&q),
            CacheMsg::RefreshFailed {
                query,
                held,
                cause,
                at,
            } => st.args.writes.refresh_failed(&query, &held, cause, at),
            CacheMsg::Invalidate { package, reply } => {
                let n = st.args.writes.cache.invalidate(package.as_ref());
                let _ = reply.send(n);
            }
            CacheMsg::Tick => st.tick(),
            #[cfg(any(test, feature = "test-hooks"))]
            CacheMsg::RefreshAheadNow { reply } => {
                let _ = reply.send(st.refresh_ahead(Instant::now()));
            }
            #[cfg(any(test, feature = "test-hooks"))]
            CacheMsg::Stall { started, release } => {
                let _ = started.send(());
                if release.await == Ok(true) {
                    panic!("test hook: CacheActor asked to crash after a stall");
                }
            }
            #[cfg(any(test, feature = "test-hooks"))]
            CacheMsg::Crash => panic!("test hook: CacheActor asked to crash"),
        }
        Ok(())
    }
}

impl CacheState {
    fn watch(&mut self, q: &Query) {
        if self.args.cfg.cache.refresh_ahead_hits == 0 || !eligible(q) {
            return;
        }
        if self.candidates.len() < MAX_CANDIDATES || self.candidates.contains_key(q) {
            self.candidates.entry(q.clone()).or_insert(None);
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        if now.saturating_duration_since(self.last_maintenance) >= MAINTENANCE_EVERY {
            self.last_maintenance = now;
            spawn_maintenance(self.args.writes.cache.clone());
        }
        if now.saturating_duration_since(self.last_store_maintenance) >= STORE_MAINTENANCE_EVERY {
            self.last_store_maintenance = now;
            self.args.writes.store.maintain();
        }
        self.refresh_ahead(now);
    }

    /// Asks the router to refresh each hot candidate about to go stale; drops the
    /// candidates that are gone or already stale (a fill adds them back). How many
    /// refreshes it asked.
    fn refresh_ahead(&mut self, now: Instant) -> usize {
        let min_hits = self.args.cfg.cache.refresh_ahead_hits;
        if min_hits == 0 {
            return 0;
        }
        let lead = Duration::from_millis(self.args.cfg.cache.refresh_ahead_ms);
        let cache = &self.args.writes.cache;
        let mut due = Vec::new();
        self.candidates.retain(|q, asked| {
            let Some(e) = cache.peek(q) else {
                return false;
            };
            let age = e.age(now);
            if e.from_store || age >= e.fresh_for {
                return false;
            }
            let soon = e.fresh_for.saturating_sub(age) <= lead;
            if soon && e.hit_count() >= min_hits && *asked != Some(e.fetched_at) {
                *asked = Some(e.fetched_at);
                due.push(q.clone());
            }
            true
        });
        let mut asked = 0;
        for q in due {
            if (self.args.refresh)(q) {
                asked += 1;
            }
        }
        if asked > 0 {
            metrics::counter!("sentinel_refresh_ahead_total").increment(asked as u64);
        }
        asked
    }
}

/// moka's pending work (evictions, weights) is blocking: off the async threads, not
/// awaited by the handler. Then the gauges.
fn spawn_maintenance(cache: SharedCache) {
    tokio::task::spawn_blocking(move || {
        cache.run_pending_tasks();
        let s = cache.stats();
        metrics::gauge!("sentinel_cache_entries").set(s.entries as f64);
        metrics::gauge!("sentinel_cache_bytes").set(s.bytes as f64);
        metrics::gauge!("sentinel_cache_hits").set(s.hits as f64);
        metrics::gauge!("sentinel_cache_misses").set(s.misses as f64);
    });
}
