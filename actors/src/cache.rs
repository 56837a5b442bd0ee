//! The shared cache value: a byte-weighted moka cache of upstream documents.
//!
//! Its read side is cloned into the engine handle and the router, never put behind a
//! mailbox, so a fresh hit costs a hash lookup and one relaxed increment (the entry's
//! hit count) (docs/ARCHITECTURE.md section 2, step 2). Its write side (fills,
//! revalidations, maintenance, refresh-ahead) belongs to the CacheActor
//! (`actor::cache`). Freshness is decided
//! here from the `fetched_at` stored with each entry (tokio time, so a paused clock tests
//! it); moka's own TTL only bounds how long stale entries are kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::config::CacheConfig;
use sentinel_core::policy::UpstreamFreshness;
use crate::clock::UtcClock;
use sentinel_core::model::{Query, QueryKind, UnavailableCause, Upstream};
use sentinel_core::policy::DailyFreshness;
use crate::store::{KeptCopy, KeptDocument};
use sentinel_core::upstream::Document;

/// Heap of one cache entry besides its document: the `Arc<CacheEntry>` block, the key
/// (a `Query` with its package name) and moka's per-entry bookkeeping (entry info,
/// access- and write-order deque nodes, hash-table slot). Measured by the load harness.
pub const ENTRY_OVERHEAD_BYTES: usize = 512;

/// One cached upstream document.
#[derive(Debug)]
pub struct CacheEntry {
    /// The parsed document.
    pub doc: Arc<Document>,
    /// When it was fetched (or last revalidated), on tokio's clock.
    pub fetched_at: Instant,
    /// The same moment on the wall clock, for display.
    pub fetched_at_wall: SystemTime,
    /// The upstream's ETag, for revalidation (`If-None-Match`).
    pub etag: Option<String>,
    /// The upstream's `Last-Modified`, for revalidation (`If-Modified-Since`).
    pub last_modified: Option<String>,
    /// Approximate size, for the weigher.
    pub bytes: usize,
    /// Why the last refresh of this entry failed, and when: a stale answer names it.
    pub refresh_failure: Option<(UnavailableCause, Instant)>,
    /// Read from the store (an earlier run's copy): fresh for as long as it was when
    /// fetched (counted from its wall-clock fetch time); past that, only a fallback
    /// until the upstream confirms it (a 304) or replaces it.
    pub from_store: bool,
    /// The newest day in the document's data (days since 1970-01-01), when it has
    /// dates: computed once, for freshness and for every answer's "data as of".
    pub data_date: Option<i64>,
    /// How long it stays fresh after `fetched_at` (decided when it was fetched: for
    /// download documents, until the upstream's next daily update is due).
    pub fresh_for: Duration,
    /// What the upstream's `Cache-Control` said when it was fetched or confirmed
    /// (kept on disk with it, so a later run counts the same freshness).
    pub upstream: UpstreamFreshness,
    /// Fresh hits since it was fetched or confirmed: one relaxed increment on the
    /// lock-free read path, read by the CacheActor's refresh-ahead.
    pub hits: AtomicU32,
}

impl CacheEntry {
    /// Wraps a document fetched at `now` (`wall` on the wall clock), fresh for
    /// `fresh_for` (see [`SharedCache::fetched`], which decides it).
    pub fn new(
        doc: Arc<Document>,
        etag: Option<String>,
        now: Instant,
        wall: SystemTime,
        fresh_for: Duration,
    ) -> Self {
        let bytes = doc.approx_bytes() + ENTRY_OVERHEAD_BYTES;
        let data_date = doc.data_date();
        CacheEntry {
            doc,
            fetched_at: now,
            fetched_at_wall: wall,
            etag,
            last_modified: None,
            bytes,
            refresh_failure: None,
            from_store: false,
            data_date,
            fresh_for,
            upstream: UpstreamFreshness::Unsaid,
            hits: AtomicU32::new(0),
        }
    }

    /// The same entry with what the upstream's `Cache-Control` said.
    pub fn with_upstream(mut self, upstream: UpstreamFreshness) -> Self {
        self.upstream = upstream;
        self
    }

    /// The same entry with the upstream's `Last-Modified`.
    pub fn with_last_modified(mut self, last_modified: Option<String>) -> Self {
        self.last_modified = last_modified;
        self
    }

    /// An earlier run's copy read from the store, `age` old on the engine's clock: its
    /// age is carried over to tokio's clock, so answers show its true age. Fresh for
    /// `fresh_for` from when it was fetched (see [`SharedCache::kept_entry`]).
    pub fn from_store(copy: KeptCopy, now: Instant, fresh_for: Duration) -> Self {
        let KeptCopy { kept, age } = copy;
        let bytes = kept.doc.approx_bytes() + ENTRY_OVERHEAD_BYTES;
        let data_date = kept.doc.data_date();
        CacheEntry {
            doc: kept.doc,
            // Monotonic clocks go below their start (Linux: boot) without harm; if one
            // cannot, the copy is treated as fetched at the earliest instant it can say.
            fetched_at: now.checked_sub(age).unwrap_or(now),
            fetched_at_wall: kept.fetched_at_wall,
            etag: kept.etag,
            last_modified: kept.last_modified,
            bytes,
            refresh_failure: None,
            from_store: true,
            data_date,
            fresh_for,
            upstream: kept.freshness,
            hits: AtomicU32::new(0),
        }
    }

    /// What the store keeps of this entry.
    pub fn kept(&self) -> KeptDocument {
        KeptDocument {
            doc: self.doc.clone(),
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
            fetched_at_wall: self.fetched_at_wall,
            freshness: self.upstream,
        }
    }

    /// Fresh hits since it was fetched or confirmed.
    pub fn hit_count(&self) -> u32 {
        self.hits.load(Ordering::Relaxed)
    }

    /// The same entry, noting that a refresh failed at `now` for `cause`.
    pub fn with_refresh_failure(&self, cause: UnavailableCause, now: Instant) -> Self {
        CacheEntry {
            doc: self.doc.clone(),
            fetched_at: self.fetched_at,
            fetched_at_wall: self.fetched_at_wall,
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
            bytes: self.bytes,
            refresh_failure: Some((cause, now)),
            from_store: self.from_store,
            data_date: self.data_date,
            fresh_for: self.fresh_for,
            upstream: self.upstream,
            hits: AtomicU32::new(self.hit_count()),
        }
    }

    /// An earlier run's copy (read on a miss, or warmed in at start) that the upstream
    /// has not been asked about yet: past its freshness, a fallback while the upstream
    /// is asked, never served at once as stale-while-revalidate.
    pub fn is_unconfirmed_from_store(&self) -> bool {
        self.from_store && self.refresh_failure.is_none()
    }

    /// Age at `now`.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.fetched_at)
    }
}

/// What a lookup found.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Within its fresh TTL.
    Fresh(Arc<CacheEntry>),
    /// Past its fresh TTL, still retained.
    Stale(Arc<CacheEntry>),
    /// Nothing.
    Miss,
}

/// Counters of the cache, readable at any time.
#[derive(Debug, Default)]
pub(crate) struct CacheCounters {
    pub(crate) hits: AtomicU64,
    pub(crate) stale_hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) inserts: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) stale_served: AtomicU64,
}

/// A snapshot of cache statistics.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct CacheStats {
    /// Entries held.
    pub entries: u64,
    /// Weighted size in bytes.
    pub bytes: u64,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Fresh hits.
    pub hits: u64,
    /// Lookups that found only a stale entry.
    pub stale_hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Stale entries served to callers.
    pub stale_served: u64,
    /// Entries inserted.
    pub inserts: u64,
    /// Entries evicted for capacity.
    pub evictions: u64,
    /// Fresh hits / all lookups.
    pub hit_ratio: f64,
    /// The store on disk behind the cache, when the engine reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<crate::store::StoreReport>,
}

/// The shared cache. Cheap to clone.
#[derive(Clone)]
pub struct SharedCache {
    inner: moka::sync::Cache<Query, Arc<CacheEntry>>,
    cfg: Arc<CacheConfig>,
    counters: Arc<CacheCounters>,
    /// "Now in UTC", for the wall-clock side of each entry.
    clock: UtcClock,
    /// How far the clock had been driven forward when the entries were last aged to it
    /// (in ms): entries age when a driven clock moves.
    clock_seen: Arc<AtomicU64>,
    /// When download documents stop being fresh.
    daily: DailyFreshness,
}

impl std::fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCache")
            .field("entries", &self.inner.entry_count())
            .finish()
    }
}

/// How long an immutable document stays fresh: for good.
const IMMUTABLE: Duration = Duration::MAX;

/// A duration in whole milliseconds, saturating.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl SharedCache {
    /// A cache with the given settings, on the machine's clock.
    pub fn new(cfg: &CacheConfig) -> Self {
        Self::with_clock(cfg, UtcClock::System)
    }

    /// A cache with the given settings and the engine's clock.
    pub fn with_clock(cfg: &CacheConfig, clock: UtcClock) -> Self {
        let counters = Arc::new(CacheCounters::default());
        let evictions = counters.clone();
        let longest_ttl = cfg.longest_ttl_ms();
        let inner = moka::sync::Cache::builder()
            .max_capacity(cfg.capacity_bytes)
            .weigher(|_k: &Query, v: &Arc<CacheEntry>| v.bytes.min(u32::MAX as usize) as u32)
            // Outer bound only: freshness is decided by `lookup` on tokio's clock.
            .time_to_live(Duration::from_millis(
                longest_ttl.saturating_add(cfg.stale_retention_ms),
            ))
            .eviction_listener(move |_k, _v, cause| {
                if cause == moka::notification::RemovalCause::Size {
                    evictions.evictions.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("sentinel_cache_evictions_total").increment(1);
                }
            })
            .build();
        SharedCache {
            inner,
            cfg: Arc::new(cfg.clone()),
            counters,
            clock_seen: Arc::new(AtomicU64::new(ms(clock.ahead()))),
            clock,
            daily: cfg.daily_freshness(),
        }
    }

    /// Looks a query up, counts the lookup, and classifies the entry at `now`.
    pub fn lookup(&self, q: &Query, now: Instant) -> Lookup {
        let found = self.classify(q, now);
        let counter = match &found {
            Lookup::Fresh(e) => {
                e.hits.fetch_add(1, Ordering::Relaxed);
                &self.counters.hits
            }
            Lookup::Stale(_) => &self.counters.stale_hits,
            Lookup::Miss => &self.counters.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The engine's clock.
    pub fn clock(&self) -> UtcClock {
        self.clock.clone()
    }

    /// Ages every entry by how far a driven clock moved since the last look, once.
    fn follow_clock(&self) {
        let ahead = ms(self.clock.ahead());
        if ahead <= self.clock_seen.load(Ordering::Acquire) {
            return;
        }
        let seen = self.clock_seen.fetch_max(ahead, Ordering::AcqRel);
        if ahead > seen {
            // The clock's wall side moved with it: only the instants go back.
            self.shift(Duration::from_millis(ahead - seen), false);
        }
    }

    /// How long a document of `q` fetched at `wall`, whose newest day is `data_date`,
    /// stays fresh: for good when it is immutable ([`Query::is_immutable`]); for
    /// download documents until the upstream's next daily update is due
    /// ([`DailyFreshness`]: the data's own date says more than a header); the
    /// top-packages dataset for its TTL; otherwise what the upstream's `Cache-Control`
    /// said (`max-age` clamped to `cache.max_upstream_fresh_ms`, or to the kind's TTL
    /// when that is longer; `no-cache` and `no-store`: not fresh at all), else its
    /// kind's TTL.
    pub fn fresh_for(
        &self,
        q: &Query,
        data_date: Option<i64>,
        wall: SystemTime,
        upstream: UpstreamFreshness,
    ) -> Duration {
        if q.is_immutable() {
            return IMMUTABLE;
        }
        match q.kind() {
            QueryKind::Downloads => self.daily.fresh_for(data_date, wall),
            // The dataset's host (a CDN of raw files) says `max-age=300` for a file
            // that changes monthly: its TTL stands.
            QueryKind::TopPackages => Duration::from_millis(self.cfg.ttl_ms(QueryKind::TopPackages)),
            kind => {
                let ttl = Duration::from_millis(self.cfg.ttl_ms(kind));
                match upstream {
                    // Never past the clamp, unless the configured TTL is longer still.
                    UpstreamFreshness::MaxAge(d) => {
                        d.min(Duration::from_millis(self.cfg.max_upstream_fresh_ms).max(ttl))
                    }
                    other => other.fresh_for(ttl),
                }
            }
        }
    }

    /// An entry for a document of `q` just fetched at `now`.
    pub fn fetched(
        &self,
        q: &Query,
        doc: Arc<Document>,
        etag: Option<String>,
        now: Instant,
        upstream: UpstreamFreshness,
    ) -> CacheEntry {
        let wall = self.clock.at(now);
        let fresh_for = self.fresh_for(q, doc.data_date(), wall, upstream);
        CacheEntry::new(doc, etag, now, wall, fresh_for).with_upstream(upstream)
    }

    /// An entry for an earlier run's copy of `q` read from the store at `now`: fresh
    /// for as long as it was when fetched, from its wall-clock fetch time, so a new
    /// process asks nothing about what is still fresh.
    pub fn kept_entry(&self, q: &Query, copy: KeptCopy, now: Instant) -> CacheEntry {
        let fresh_for = self.fresh_for(
            q,
            copy.kept.doc.data_date(),
            copy.kept.fetched_at_wall,
            copy.kept.freshness,
        );
        CacheEntry::from_store(copy, now, fresh_for)
    }

    /// The same document as `old`, confirmed current at `now` (a 304, whose
    /// `Cache-Control`, when it says anything, replaces what the copy had).
    pub fn revalidated(
        &self,
        q: &Query,
        old: &CacheEntry,
        now: Instant,
        said: UpstreamFreshness,
    ) -> CacheEntry {
        let wall = self.clock.at(now);
        let upstream = match said {
            UpstreamFreshness::Unsaid => old.upstream,
            said => said,
        };
        CacheEntry {
            doc: old.doc.clone(),
            fetched_at: now,
            fetched_at_wall: wall,
            etag: old.etag.clone(),
            last_modified: old.last_modified.clone(),
            bytes: old.bytes,
            refresh_failure: None,
            from_store: false,
            data_date: old.data_date,
            fresh_for: self.fresh_for(q, old.data_date, wall, upstream),
            upstream,
            hits: AtomicU32::new(0),
        }
    }

    /// Classifies the entry of a query as fresh, stale or missing at `now`, without
    /// counting a lookup.
    pub fn classify(&self, q: &Query, now: Instant) -> Lookup {
        self.follow_clock();
        let Some(entry) = self.inner.get(q) else {
            return Lookup::Miss;
        };
        let ttl = entry.fresh_for;
        let age = entry.age(now);
        if age < ttl {
            Lookup::Fresh(entry)
        } else if age < ttl.saturating_add(Duration::from_millis(self.cfg.stale_retention_ms)) {
            Lookup::Stale(entry)
        } else {
            Lookup::Miss
        }
    }

    /// The entry if it is still retained (fresh or stale), without counting a lookup:
    /// a fallback copy, or a basis for estimates.
    pub fn retained(&self, q: &Query, now: Instant) -> Option<Arc<CacheEntry>> {
        match self.classify(q, now) {
            Lookup::Fresh(e) | Lookup::Stale(e) => Some(e),
            Lookup::Miss => None,
        }
    }

    /// The entry without counting a lookup (for revalidation and estimates).
    pub fn peek(&self, q: &Query) -> Option<Arc<CacheEntry>> {
        self.inner.get(q)
    }

    /// Stores an entry.
    pub fn insert(&self, q: Query, entry: Arc<CacheEntry>) {
        self.follow_clock();
        self.counters.inserts.fetch_add(1, Ordering::Relaxed);
        self.inner.insert(q, entry);
    }

    /// Stores an entry unless the query already has one (a warm-up from the store never
    /// replaces what this run fetched). Whether it was stored.
    pub fn insert_if_absent(&self, q: Query, entry: Arc<CacheEntry>) -> bool {
        self.follow_clock();
        let fresh = self.inner.entry(q).or_insert(entry).is_fresh();
        if fresh {
            self.counters.inserts.fetch_add(1, Ordering::Relaxed);
        }
        fresh
    }

    /// Notes that a stale entry was served.
    pub(crate) fn note_stale_served(&self) {
        self.counters.stale_served.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("sentinel_cache_stale_served_total").increment(1);
    }

    /// Removes every entry about `package` (or everything when `None`). Returns how many.
    pub fn invalidate(&self, package: Option<&sentinel_core::model::PackageName>) -> u64 {
        match package {
            None => {
                let n = self.inner.entry_count();
                self.inner.invalidate_all();
                n
            }
            Some(name) => {
                let keys: Vec<Query> = self
                    .inner
                    .iter()
                    .filter(|(k, _)| k.package() == Some(name))
                    .map(|(k, _)| (*k).clone())
                    .collect();
                for k in &keys {
                    self.inner.invalidate(k);
                }
                keys.len() as u64
            }
        }
    }

    /// Makes every entry `by` older while the calendar stands still. For tests, which
    /// cannot wait hours for a TTL (moka ignores tokio's paused clock); embedders move a
    /// driven clock instead ([`UtcClock::driven`]).
    #[doc(hidden)]
    pub fn age_all(&self, by: Duration) {
        self.shift(by, true);
    }

    /// Moves every entry's fetch time `by` back (its wall-clock time too when `wall`).
    fn shift(&self, by: Duration, wall: bool) {
        let entries: Vec<(Query, Arc<CacheEntry>)> =
            self.inner.iter().map(|(k, v)| ((*k).clone(), v)).collect();
        for (k, v) in entries {
            let aged = CacheEntry {
                doc: v.doc.clone(),
                fetched_at: v.fetched_at.checked_sub(by).unwrap_or(v.fetched_at),
                fetched_at_wall: if wall {
                    v.fetched_at_wall
                        .checked_sub(by)
                        .unwrap_or(v.fetched_at_wall)
                } else {
                    v.fetched_at_wall
                },
                etag: v.etag.clone(),
                last_modified: v.last_modified.clone(),
                bytes: v.bytes,
                refresh_failure: v.refresh_failure.clone(),
                from_store: v.from_store,
                data_date: v.data_date,
                fresh_for: v.fresh_for,
                upstream: v.upstream,
                hits: AtomicU32::new(v.hit_count()),
            };
            self.inner.insert(k, Arc::new(aged));
        }
    }

    /// Up to `max` keys that satisfy `pred` (a walk over the cache: not for a hot path).
    pub(crate) fn keys_where(&self, pred: impl Fn(&Query) -> bool, max: usize) -> Vec<Query> {
        self.inner
            .iter()
            .filter(|(k, _)| pred(k))
            .take(max)
            .map(|(k, _)| (*k).clone())
            .collect()
    }

    /// Entries about one upstream, for the health report.
    pub fn entries_for(&self, up: Upstream) -> u64 {
        self.inner
            .iter()
            .filter(|(k, _)| k.upstream() == up)
            .count() as u64
    }

    /// Runs moka's pending maintenance (evictions), so stats are current.
    pub fn run_pending_tasks(&self) {
        self.inner.run_pending_tasks();
    }

    /// Current statistics.
    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let hits = c.hits.load(Ordering::Relaxed);
        let stale_hits = c.stale_hits.load(Ordering::Relaxed);
        let misses = c.misses.load(Ordering::Relaxed);
        let lookups = hits + stale_hits + misses;
        CacheStats {
            entries: self.inner.entry_count(),
            bytes: self.inner.weighted_size(),
            capacity_bytes: self.cfg.capacity_bytes,
            hits,
            stale_hits,
            misses,
            stale_served: c.stale_served.load(Ordering::Relaxed),
            inserts: c.inserts.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            hit_ratio: if lookups == 0 {
                0.0
            } else {
                hits as f64 / lookups as f64
            },
            store: None,
        }
    }
}
