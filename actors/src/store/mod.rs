//! The embedded store: last-known-good documents and daily download history in one
//! SQLite file, so a restart during an outage still has a stale copy to serve and a
//! series to estimate from.
//!
//! - **Off the hot path.** A fresh cache hit never gets here. Writes are sent to a
//!   writer thread ([`writer`]) that batches them into one transaction per
//!   `flush_interval_ms` (repeated writes of one document in a batch collapse to the
//!   last); a full queue drops the write (counted), it never blocks. Reads happen on a
//!   miss only, in `spawn_blocking`, for a flight's stale copy and for estimate bases,
//!   and only for a key the store may hold: an in-memory filter of kept keys
//!   (`KeyFilter`) answers "never kept" without touching the file.
//! - **Warm at start, off the start path.** [`Store::warm_up`] reads the most recently
//!   used documents (bounded by `warm_up_documents` and `warm_up_bytes`) while the
//!   engine already answers; what it loads is a copy from disk like any other.
//! - **Honest copies.** A document read back is a [`KeptCopy`] with its true age, which
//!   the cache holds as a copy from disk: `stale` until the upstream answers (a 304 to its stored ETag or
//!   `Last-Modified` makes it `revalidated`), never `cached` as if fresh.
//! - **Never takes the engine down.** A file that cannot be created, is read-only,
//!   locked, full or corrupt leaves the engine memory-only with a warning in `health`
//!   and the logs; a corrupt file is moved aside (`*.corrupt-<unix time>`) and a new one
//!   started. A file deleted, replaced, made read-only or immutable while running stops
//!   the store the same way, with the reason (`file`). WAL and a busy timeout let a
//!   second process share the file.
//! - **Bounded.** `max_bytes` counts the database and its write-ahead log (an eighth
//!   is the log's). Least recently used documents are pruned past 90 % of the
//!   database's share (SQLite's `max_page_count` is the hard ceiling: a write past it
//!   fails as a full disk would); download days older than `series_retention_days` go,
//!   from the overall series and the breakdowns alike.
//!
//! Breaker states are not kept: a restart probes again.

mod advisories;
mod file;
mod schema;
mod writer;

pub use advisories::{OsvSetInfo, OsvStaging};

use file::{move_aside, open_files};

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::config::{CacheConfig, EngineConfig, StoreConfig};
use sentinel_core::model::{PackageName, Query, StatsKind, Upstream};
use sentinel_core::upstream::{Document, SeriesDoc};

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = schema::VERSION;

/// Writes waiting for the writer thread; past it a write is dropped and counted.
const QUEUE_CAPACITY: usize = 4096;

/// Why the store cannot be used (the engine then runs memory-only).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory could not be created.
    #[error("cannot create the directory {dir}: {source}")]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process holds the file with an exclusive lock.
    #[error(
        "the file is locked by another process ({0}); another pypi-sentinel with exclusive locking, or a tool holding a write transaction"
    )]
    Locked(rusqlite::Error),
    /// The file or its directory cannot be written.
    #[error("the file cannot be written ({0})")]
    ReadOnly(rusqlite::Error),
    /// No space left (on the disk, or under `store.max_bytes`).
    #[error("the store is full ({0})")]
    Full(rusqlite::Error),
    /// Not a SQLite database, or a damaged one.
    #[error("the file is corrupt ({0})")]
    Corrupt(rusqlite::Error),
    /// WAL could not be turned on (some network file systems).
    #[error("the file system does not support WAL (journal mode stayed {0:?})")]
    NoWal(String),
    /// Written by a newer pypi-sentinel.
    #[error(
        "written by a newer pypi-sentinel (schema version {found}; this one knows {known}); use another --data-dir or upgrade"
    )]
    NewerSchema {
        /// The file's version.
        found: i64,
        /// This build's version.
        known: i64,
    },
    /// Any other SQLite failure.
    #[error("{0}")]
    Sqlite(rusqlite::Error),
    /// A kept document that cannot be encoded or decoded.
    #[error("a kept document could not be encoded or read back: {0}")]
    Codec(#[from] serde_json::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked(e),
            Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
                StoreError::ReadOnly(e)
            }
            Some(ErrorCode::DiskFull) => StoreError::Full(e),
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt(e),
            _ => StoreError::Sqlite(e),
        }
    }
}

impl StoreError {
    /// Whether the store cannot go on (memory-only from now on), as opposed to one
    /// write that failed.
    fn is_fatal(&self) -> bool {
        matches!(
            self,
            StoreError::ReadOnly(_) | StoreError::Corrupt(_) | StoreError::NoWal(_)
        )
    }
}

/// Whether the engine has a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreState {
    /// No store configured (`--no-store`, or an embedder without a path).
    Off,
    /// Reading and writing the file.
    Active,
    /// A store was configured but cannot be used: memory only (see the warning).
    MemoryOnly,
}

/// The store in the health report and cache statistics.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StoreReport {
    /// Off, active or memory-only.
    pub state: StoreState,
    /// The file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What went wrong, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Size on disk (database and write-ahead log), bytes.
    pub size_bytes: u64,
    /// Documents kept.
    pub documents: u64,
    /// Daily download counts kept (package x source x day).
    pub series_points: u64,
    /// Daily counts of the pypistats breakdowns kept (package x breakdown x category x
    /// day).
    #[serde(default)]
    pub breakdown_points: u64,
    /// Documents loaded into the cache at start (the most recently used).
    #[serde(default)]
    pub warmed: u64,
    /// Point reads of the file for a miss (a key the filter did not rule out).
    #[serde(default)]
    pub reads: u64,
    /// Documents written since start.
    pub writes: u64,
    /// Reads that found a document.
    pub read_hits: u64,
    /// Writes dropped (queue full, or the file full).
    pub dropped_writes: u64,
    /// Failed reads and writes since start.
    pub errors: u64,
}

impl StoreReport {
    /// One line for people: state, where, size, entries and errors.
    pub fn summary(&self) -> String {
        let state = match self.state {
            StoreState::Off => "off",
            StoreState::Active => "active",
            StoreState::MemoryOnly => "memory-only",
        };
        let at = self
            .path
            .as_deref()
            .map(|p| format!(" at {p}"))
            .unwrap_or_default();
        format!(
            "store: {state}{at}; {} documents ({} warmed at start), {} daily counts and {} breakdown counts, {} bytes on disk; {} reads, {} writes, {} dropped, {} errors",
            self.documents,
            self.warmed,
            self.series_points,
            self.breakdown_points,
            self.size_bytes,
            self.reads,
            self.writes,
            self.dropped_writes,
            self.errors
        )
    }
}

/// Daily counts kept for one package and source, ascending by day, and when the
/// newest of them was fetched.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSeries {
    /// `(YYYY-MM-DD, downloads)`.
    pub daily: Vec<(String, u64)>,
    /// When the newest figure was recorded.
    pub recorded: SystemTime,
}

/// What the store keeps for one package's estimates.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredBases {
    /// pypistats' `overall` series, without mirrors.
    pub pypistats: Option<StoredSeries>,
    /// pepy.tech's daily totals.
    pub pepy: Option<StoredSeries>,
}

/// A document as the store keeps it, with its validators and when it was fetched.
/// The cache's entries are written and read back as this (the store knows no cache).
#[derive(Clone, Debug)]
pub struct KeptDocument {
    /// The parsed document.
    pub doc: Arc<Document>,
    /// The upstream's ETag.
    pub etag: Option<String>,
    /// The upstream's `Last-Modified`.
    pub last_modified: Option<String>,
    /// When it was fetched (or last confirmed), on the wall clock.
    pub fetched_at_wall: SystemTime,
    /// What the upstream's `Cache-Control` said then (the kind's TTL when unsaid).
    pub freshness: sentinel_core::policy::UpstreamFreshness,
}

/// A kept document read back, with its age on the engine's clock.
#[derive(Clone, Debug)]
pub struct KeptCopy {
    /// The document and its validators.
    pub kept: KeptDocument,
    /// How old it is now.
    pub age: Duration,
}

/// The sources of kept series.
pub(crate) const SOURCE_PYPISTATS: &str = "pypistats";
pub(crate) const SOURCE_PEPY: &str = "pepy";

/// Where the days of a kept download document are merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SeriesTarget {
    /// The `series` table, under this source (daily totals).
    Totals(&'static str),
    /// The `breakdowns` table, per category, under this pypistats endpoint.
    Breakdown(&'static str),
}

/// The keys (origin and document) the file holds, as 64-bit hashes in memory, so a miss
/// for a document never kept skips the read. A false "maybe" (a hash collision, a
/// pruned row) costs one read; a false "no" cannot happen once it is loaded: every
/// write adds its key first, and the writer adds what another process committed
/// (checked at each batch, each flush and each idle second).
#[derive(Debug, Default)]
pub(crate) struct KeyFilter {
    /// Loaded from the file (until then every key is a "maybe").
    ready: AtomicBool,
    keys: RwLock<HashSet<u64>>,
    hasher: std::hash::RandomState,
}

impl KeyFilter {
    pub(crate) fn hash(&self, origin: &str, key: &str) -> u64 {
        self.hasher.hash_one((origin, key))
    }

    pub(crate) fn add(&self, h: u64) {
        self.keys.write().unwrap_or_else(|p| p.into_inner()).insert(h);
    }

    pub(crate) fn extend(&self, hs: impl IntoIterator<Item = u64>) {
        self.keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .extend(hs);
    }

    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    fn may_hold(&self, h: u64) -> bool {
        !self.ready.load(Ordering::Acquire)
            || self
                .keys
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&h)
    }
}

/// State shared with the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) active: AtomicBool,
    pub(crate) warning: RwLock<Option<String>>,
    pub(crate) size_bytes: AtomicU64,
    pub(crate) documents: AtomicU64,
    pub(crate) series_points: AtomicU64,
    pub(crate) breakdown_points: AtomicU64,
    pub(crate) warmed: AtomicU64,
    pub(crate) reads: AtomicU64,
    pub(crate) filter: KeyFilter,
    pub(crate) writes: AtomicU64,
    pub(crate) read_hits: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) errors: AtomicU64,
    /// The files were taken from under the store ([`file::Lost`]): its connections
    /// must never be closed.
    pub(crate) abandoned: AtomicBool,
}

impl Shared {
    pub(crate) fn warn(&self, msg: String) {
        tracing::warn!(store = %msg, "store");
        *self.warning.write().unwrap_or_else(|p| p.into_inner()) = Some(msg);
    }

    /// The store cannot go on: memory only from now on.
    pub(crate) fn fail(&self, e: &StoreError) {
        self.active.store(false, Ordering::Release);
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.warn(format!("{e}; running memory-only"));
    }

    /// The files were taken from under the store: memory only from now on, and the
    /// connections left open until exit.
    pub(crate) fn abandon(&self, lost: &file::Lost) {
        self.abandoned.store(true, Ordering::Release);
        self.active.store(false, Ordering::Release);
        self.errors.fetch_add(1, Ordering::Relaxed);
        let msg = lost.to_string();
        tracing::error!(store = %msg, "store");
        *self.warning.write().unwrap_or_else(|p| p.into_inner()) = Some(msg);
    }
}

/// The store handle: cheap to clone; every clone talks to the same file and writer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: Option<PathBuf>,
    configured: bool,
    reader: Mutex<Option<Connection>>,
    tx: Mutex<Option<SyncSender<writer::Op>>>,
    writer: Mutex<Option<writer::WriterHandle>>,
    shared: Arc<Shared>,
    /// Base URL per upstream: a copy from one origin never answers for another.
    origins: [String; Upstream::COUNT],
    cache: CacheConfig,
    /// The engine's clock: how old a kept copy is.
    clock: crate::clock::UtcClock,
    /// Most documents, and most body bytes, [`Store::warm_up`] loads.
    warm_up: (u32, u64),
    /// For the connection a `vulns sync` writes on.
    store_cfg: StoreConfig,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("active", &self.is_active())
            .finish()
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Rows of `(series or category, day, downloads, recorded_at)` from a daily-counts
/// table: the shape both the overall series and the breakdowns are kept in.
fn daily_rows(
    conn: &Connection,
    sql: &str,
    params: &[&str],
) -> rusqlite::Result<Vec<(String, String, i64, i64)>> {
    let mut stmt = conn.prepare_cached(sql)?;
    stmt.query_map(rusqlite::params_from_iter(params), |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?
    .collect()
}
fn from_unix_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

impl Store {
    /// Opens the store the configuration asks for. Never fails: a store that cannot be
    /// used is reported memory-only with the reason (and logged). Blocking: call it
    /// from `spawn_blocking`.
    pub fn open(cfg: &EngineConfig) -> Store {
        let origins = Upstream::ALL.map(|up| cfg.upstreams.get(up).base_url.clone());
        let Some(path) = cfg.store.active_path() else {
            return Store::build(None, false, None, origins, cfg, Arc::default());
        };
        let shared = Arc::new(Shared::default());
        let opened = match open_files(path, &cfg.store) {
            Err(e @ StoreError::Corrupt(_)) => match move_aside(path) {
                Ok(moved) => {
                    let r = open_files(path, &cfg.store);
                    if r.is_ok() {
                        shared.warn(format!(
                            "{e}: moved aside to {} and started a new store",
                            moved.display()
                        ));
                    }
                    r
                }
                Err(io) => Err(StoreError::CreateDir {
                    dir: path.to_path_buf(),
                    source: io,
                }),
            },
            r => r,
        };
        match opened {
            Ok((w, r)) => {
                shared.active.store(true, Ordering::Release);
                let (tx, handle) = writer::spawn(w, &cfg.store, &cfg.cache, shared.clone());
                Store::build(
                    Some(path),
                    true,
                    Some((r, tx, handle)),
                    origins,
                    cfg,
                    shared,
                )
            }
            Err(e) => {
                shared.fail(&e);
                Store::build(Some(path), true, None, origins, cfg, shared)
            }
        }
    }

    fn build(
        path: Option<&Path>,
        configured: bool,
        parts: Option<(Connection, SyncSender<writer::Op>, writer::WriterHandle)>,
        origins: [String; Upstream::COUNT],
        cfg: &EngineConfig,
        shared: Arc<Shared>,
    ) -> Store {
        let (reader, tx, writer) = match parts {
            Some((r, tx, w)) => (Some(r), Some(tx), Some(w)),
            None => (None, None, None),
        };
        Store {
            inner: Arc::new(Inner {
                path: path.map(Path::to_path_buf),
                configured,
                reader: Mutex::new(reader),
                tx: Mutex::new(tx),
                writer: Mutex::new(writer),
                shared,
                origins,
                cache: cfg.cache.clone(),
                clock: cfg.clock.clone(),
                warm_up: (cfg.store.warm_up_documents, cfg.store.warm_up_bytes),
                store_cfg: cfg.store.clone(),
            }),
        }
    }

    /// A store that keeps nothing.
    pub fn off() -> Store {
        Store::open(&EngineConfig {
            store: StoreConfig {
                enabled: false,
                ..StoreConfig::default()
            },
            ..EngineConfig::default()
        })
    }

    /// Whether reads and writes reach the file.
    pub fn is_active(&self) -> bool {
        self.inner.shared.active.load(Ordering::Acquire)
    }

    fn origin(&self, q: &Query) -> &str {
        &self.inner.origins[q.upstream().index()]
    }

    fn send(&self, op: writer::Op) {
        if !self.is_active() {
            return;
        }
        let tx = self.inner.tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = tx.as_ref() else { return };
        match tx.try_send(op) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.inner.shared.dropped.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("sentinel_store_dropped_writes_total").increment(1);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Keeps a newly fetched (or confirmed) document with its validators and fetch
    /// time, and merges its daily series day by day. Never blocks.
    pub fn put_document(&self, q: &Query, entry: &KeptDocument) {
        if !self.is_active() {
            return;
        }
        let series = match (q, entry.doc.as_ref()) {
            (Query::Stats(_, StatsKind::Overall), Document::Series(_)) => {
                Some(SeriesTarget::Totals(SOURCE_PYPISTATS))
            }
            (Query::Stats(_, k @ (StatsKind::PythonMajor | StatsKind::PythonMinor | StatsKind::System)), Document::Series(_)) => {
                Some(SeriesTarget::Breakdown(k.endpoint()))
            }
            (Query::Pepy(_), Document::Pepy(_)) => Some(SeriesTarget::Totals(SOURCE_PEPY)),
            _ => None,
        };
        let origin = self.origin(q).to_string();
        let key = q.to_string();
        // In the filter before it is queued: a miss meanwhile reads (and finds nothing,
        // or the older copy), it never skips a key being written.
        let shared = &self.inner.shared;
        shared.filter.add(shared.filter.hash(&origin, &key));
        self.send(writer::Op::Document {
            origin,
            key,
            package: q.package().map(|p| p.as_str().to_string()),
            series,
            doc: entry.doc.clone(),
            etag: entry.etag.clone(),
            last_modified: entry.last_modified.clone(),
            fetched_at: unix_ms(entry.fetched_at_wall),
            max_age_ms: entry
                .freshness
                .as_ms()
                .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
        });
    }

    /// Whether the file may hold a copy of `q`: `false` only when the filter of kept
    /// keys is loaded and does not have it (or there is no store). No I/O.
    pub fn may_hold(&self, q: &Query) -> bool {
        if !self.is_active() {
            return false;
        }
        let f = &self.inner.shared.filter;
        f.may_hold(f.hash(self.origin(q), &q.to_string()))
    }

    /// The upstream confirmed the kept copy (a 304) at `at`. Never blocks.
    pub fn confirm(&self, q: &Query, at: SystemTime) {
        self.send(writer::Op::Confirmed {
            origin: self.origin(q).to_string(),
            key: q.to_string(),
            at: unix_ms(at),
        });
    }

    /// An earlier run's copy of `q`, if kept and not past the cache's stale retention,
    /// as a stale entry with its true age. Blocking (a point read): call it from
    /// `spawn_blocking`.
    pub fn load(&self, q: &Query, now: Instant) -> Option<KeptCopy> {
        if !self.is_active() {
            return None;
        }
        let origin = self.origin(q).to_string();
        let key = q.to_string();
        self.inner.shared.reads.fetch_add(1, Ordering::Relaxed);
        let entry = self.read_document(q, &origin, &key, now)?;
        self.inner.shared.read_hits.fetch_add(1, Ordering::Relaxed);
        self.send(writer::Op::Used {
            origin,
            key,
            at: unix_ms(SystemTime::now()),
        });
        Some(entry)
    }

    /// One kept document as a copy from disk, if it is there, readable and not past
    /// the cache's stale retention.
    fn read_document(
        &self,
        q: &Query,
        origin: &str,
        key: &str,
        now: Instant,
    ) -> Option<KeptCopy> {
        let row = {
            let guard = self.inner.reader.lock().unwrap_or_else(|p| p.into_inner());
            let conn = guard.as_ref()?;
            self.read(|| {
                conn.prepare_cached(
                    "SELECT body, etag, last_modified, fetched_at, max_age_ms FROM documents
                     WHERE origin = ?1 AND key = ?2",
                )?
                .query_row([origin, key], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                    ))
                })
                .optional()
                .map_err(StoreError::from)
            })?
        };
        let (body, etag, last_modified, fetched_at, max_age_ms) = row?;
        let freshness = sentinel_core::policy::UpstreamFreshness::from_ms(
            max_age_ms.map(|ms| u64::try_from(ms).unwrap_or(0)),
        );
        let fetched_at = from_unix_ms(fetched_at);
        let age = self
            .inner
            .clock
            .at(now)
            .duration_since(fetched_at)
            .unwrap_or_default();
        let keep = Duration::from_millis(
            self.inner
                .cache
                .ttl_ms(q.kind())
                .saturating_add(self.inner.cache.stale_retention_ms),
        );
        // An immutable document is kept for good (only the size bound prunes it).
        if age >= keep && !q.is_immutable() {
            return None;
        }
        let doc: Document = match serde_json::from_slice(&body) {
            Ok(d) => d,
            Err(e) => {
                // Written by a build whose kept types differ: not an answer; the next
                // fetch overwrites it.
                self.inner.shared.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(key = %key, error = %e, "store: a kept document could not be read back");
                return None;
            }
        };
        Some(KeptCopy {
            kept: KeptDocument {
                doc: Arc::new(doc),
                etag,
                last_modified,
                fetched_at_wall: fetched_at,
                freshness,
            },
            age,
        })
    }

    /// The most recently used kept documents of this engine's origins, at most
    /// `store.warm_up_documents` of them and `store.warm_up_bytes` of kept bodies, as
    /// copies from disk (`stale` with their true age until the upstream confirms them).
    /// Each is read on its own, so misses in the meantime are not held up. Blocking:
    /// call it from `spawn_blocking`.
    pub fn warm_up(&self, now: Instant) -> Vec<(Query, KeptCopy)> {
        let (max_docs, max_bytes) = self.inner.warm_up;
        if !self.is_active() || max_docs == 0 || max_bytes == 0 {
            return Vec::new();
        }
        let candidates = {
            let guard = self.inner.reader.lock().unwrap_or_else(|p| p.into_inner());
            let Some(conn) = guard.as_ref() else {
                return Vec::new();
            };
            self.read(|| {
                let mut stmt = conn.prepare(
                    "SELECT origin, key, bytes FROM documents ORDER BY used_at DESC LIMIT ?1",
                )?;
                // Room for rows of other origins (another engine sharing the file).
                let limit = i64::from(max_docs).saturating_mul(2);
                let rows = stmt
                    .query_map([limit], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .unwrap_or_default()
        };
        let mut out = Vec::new();
        let mut bytes = 0u64;
        for (origin, key, len) in candidates {
            if out.len() >= max_docs as usize {
                break;
            }
            let len = len.max(0) as u64;
            if bytes.saturating_add(len) > max_bytes {
                // A smaller one further down may still fit.
                continue;
            }
            let Some(q) = parse_key(&key) else { continue };
            if self.origin(&q) != origin {
                continue;
            }
            if let Some(e) = self.read_document(&q, &origin, &key, now) {
                bytes += len;
                out.push((q, e));
            }
        }
        self.inner
            .shared
            .warmed
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        out
    }

    /// The daily series kept for `package`. Blocking: call it from `spawn_blocking`.
    pub fn load_series(&self, package: &PackageName) -> StoredBases {
        if !self.is_active() {
            return StoredBases::default();
        }
        let guard = self.inner.reader.lock().unwrap_or_else(|p| p.into_inner());
        let Some(conn) = guard.as_ref() else {
            return StoredBases::default();
        };
        let rows = self.read(|| {
            daily_rows(
                conn,
                "SELECT source, day, downloads, recorded_at FROM series
                 WHERE package = ?1 ORDER BY source, day",
                &[package.as_str()],
            )
            .map_err(StoreError::from)
        });
        let mut bases = StoredBases::default();
        for (source, day, downloads, recorded) in rows.unwrap_or_default() {
            let slot = match source.as_str() {
                SOURCE_PYPISTATS => &mut bases.pypistats,
                SOURCE_PEPY => &mut bases.pepy,
                _ => continue,
            };
            let s = slot.get_or_insert_with(|| StoredSeries {
                daily: Vec::new(),
                recorded: UNIX_EPOCH,
            });
            s.daily.push((day, downloads.max(0) as u64));
            s.recorded = s.recorded.max(from_unix_ms(recorded));
        }
        bases
    }

    /// The breakdown `kind` (python_major, python_minor or system) kept for `package`,
    /// merged day by day over every run, as a series like pypistats' (its days may go
    /// back past pypistats' 180), with when its newest figure was fetched. `None` when
    /// nothing is kept (or `kind` is not a breakdown). Blocking: call it from
    /// `spawn_blocking`.
    pub fn load_breakdown(
        &self,
        package: &PackageName,
        kind: StatsKind,
    ) -> Option<(SeriesDoc, SystemTime)> {
        if !matches!(
            kind,
            StatsKind::PythonMajor | StatsKind::PythonMinor | StatsKind::System
        ) || !self.is_active()
        {
            return None;
        }
        let guard = self.inner.reader.lock().unwrap_or_else(|p| p.into_inner());
        let conn = guard.as_ref()?;
        let rows = self.read(|| {
            daily_rows(
                conn,
                "SELECT category, day, downloads, recorded_at FROM breakdowns
                 WHERE package = ?1 AND kind = ?2 ORDER BY category, day",
                &[package.as_str(), kind.endpoint()],
            )
            .map_err(StoreError::from)
        })?;
        if rows.is_empty() {
            return None;
        }
        let recorded = rows
            .iter()
            .map(|r| from_unix_ms(r.3))
            .max()
            .unwrap_or(UNIX_EPOCH);
        let doc = SeriesDoc::from_points(
            package.as_str().to_string(),
            format!("{}_downloads", kind.endpoint()),
            rows.iter()
                .map(|(c, d, n, _)| (c.as_str(), d.as_str(), (*n).max(0) as u64)),
        );
        match doc {
            Ok(doc) => Some((doc, recorded)),
            Err(e) => {
                self.inner.shared.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "store: a kept breakdown could not be read back");
                None
            }
        }
    }

    /// Runs a read, counting a failure (and giving up on a fatal one).
    fn read<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Option<T> {
        match f() {
            Ok(v) => Some(v),
            Err(e) => {
                if e.is_fatal() {
                    self.inner.shared.fail(&e);
                } else {
                    self.inner.shared.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "store read failed");
                }
                None
            }
        }
    }

    /// Asks the writer to run the retention (old download days, documents past the
    /// cache's stale retention) and the size cap now. Never blocks.
    pub fn maintain(&self) {
        self.send(writer::Op::Maintain);
    }

    /// Waits until every write sent so far is committed, up to `max`. Blocking.
    pub fn flush(&self, max: Duration) -> bool {
        let (ack, done) = std::sync::mpsc::sync_channel(1);
        {
            let tx = self.inner.tx.lock().unwrap_or_else(|p| p.into_inner());
            let Some(tx) = tx.as_ref() else { return false };
            // Blocks only while the queue is full, which the writer is draining.
            if tx.send(writer::Op::Flush(ack)).is_err() {
                return false;
            }
        }
        done.recv_timeout(max).is_ok()
    }

    /// Commits what is queued and stops the writer, waiting up to `max`. Blocking;
    /// idempotent. Later writes are ignored.
    pub fn close(&self, max: Duration) {
        if let Some(h) = self.stop_writer() {
            h.join(max);
        }
        let s = &self.inner.shared;
        if s.abandoned.load(Ordering::Acquire) {
            let why = s.warning.read().unwrap_or_else(|p| p.into_inner()).clone();
            tracing::error!(
                store = why.as_deref().unwrap_or("the store's files were taken away"),
                dropped_writes = s.dropped.load(Ordering::Relaxed),
                "store: shut down without closing its files"
            );
        }
    }

    /// `close` for a `Drop`: stops the writer (it commits what is queued, then ends)
    /// and waits up to `max` for its end without holding a tokio worker (see
    /// `WriterHandle::join_off_runtime`); outside a runtime it waits like `close`.
    pub(crate) fn close_in_background(&self, max: Duration) {
        if let Some(h) = self.stop_writer() {
            h.join_off_runtime(max);
        }
    }

    /// Closes the writer's queue (it commits what it holds, then ends) and takes its
    /// handle, once: later writes are ignored, a second call gets `None`.
    fn stop_writer(&self) -> Option<writer::WriterHandle> {
        drop(self.inner.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Size, entries and errors, as last counted by the writer.
    pub fn report(&self) -> StoreReport {
        let s = &self.inner.shared;
        let state = if !self.inner.configured {
            StoreState::Off
        } else if self.is_active() {
            StoreState::Active
        } else {
            StoreState::MemoryOnly
        };
        StoreReport {
            state,
            path: self.inner.path.as_ref().map(|p| p.display().to_string()),
            warning: s.warning.read().unwrap_or_else(|p| p.into_inner()).clone(),
            size_bytes: s.size_bytes.load(Ordering::Relaxed),
            documents: s.documents.load(Ordering::Relaxed),
            series_points: s.series_points.load(Ordering::Relaxed),
            breakdown_points: s.breakdown_points.load(Ordering::Relaxed),
            warmed: s.warmed.load(Ordering::Relaxed),
            reads: s.reads.load(Ordering::Relaxed),
            writes: s.writes.load(Ordering::Relaxed),
            read_hits: s.read_hits.load(Ordering::Relaxed),
            dropped_writes: s.dropped.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.tx.get_mut().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(h) = self
            .writer
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            h.join_off_runtime(Duration::from_secs(2));
        }
        if self.shared.abandoned.load(Ordering::Acquire) {
            // Closing could fault on an immutable -shm map or unlink another file's
            // -wal (see `file`): the connection stays open until exit.
            let reader = self.reader.get_mut().unwrap_or_else(|p| p.into_inner()).take();
            std::mem::forget(reader);
        }
    }
}

/// The query a document key was written from (the inverse of `Query`'s `Display`):
/// `None` for a key this build does not know.
fn parse_key(key: &str) -> Option<Query> {
    if key == "top-packages" {
        return Some(Query::TopPackages);
    }
    let name = |s: &str| PackageName::parse(s).ok();
    if let Some(rest) = key.strip_prefix("pypi-json/pypi/") {
        let rest = rest.strip_suffix("/json")?;
        return match rest.split_once('/') {
            None => Some(Query::Project(name(rest)?)),
            Some((n, v)) => Some(Query::Release(
                name(n)?,
                sentinel_core::model::PackageVersion::parse(v).ok()?,
            )),
        };
    }
    if let Some(rest) = key.strip_prefix("pypi-simple/simple/") {
        return Some(Query::Simple(name(rest.strip_suffix('/')?)?));
    }
    if let Some(rest) = key.strip_prefix("pypistats/api/packages/") {
        let (n, endpoint) = rest.split_once('/')?;
        let kind = [
            StatsKind::Recent,
            StatsKind::Overall,
            StatsKind::PythonMajor,
            StatsKind::PythonMinor,
            StatsKind::System,
        ]
        .into_iter()
        .find(|k| k.endpoint() == endpoint)?;
        return Some(Query::Stats(name(n)?, kind));
    }
    if let Some(rest) = key.strip_prefix("pepy/api/v2/projects/") {
        return Some(Query::Pepy(name(rest)?));
    }
    None
}

#[cfg(test)]
mod tests;
