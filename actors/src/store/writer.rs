//! The store's writer: one OS thread owning the write connection, so no write ever
//! waits on the engine's hot path or inside an actor.
//!
//! Writes arrive on a bounded channel and are gathered for `flush_interval_ms` (or up
//! to 512 of them) into one transaction: a crash loses at most that batch. The thread
//! sleeps out the window rather than waking for each write (a flush asked meanwhile
//! waits for the window's end). Within a
//! batch, repeated writes of one document collapse to the last (a hot key refreshed
//! several times is encoded and written once). After a commit it prunes (least
//! recently used documents past 90 % of `max_bytes`, download days past the
//! retention), truncates the write-ahead log when a batch took it past its share of
//! `max_bytes`, and refreshes the counters `health` reports. Before each batch, and
//! once a second when idle, it checks that the files are still the store's and
//! writable (see `file`).
//!
//! It also keeps the store's filter of kept keys: loaded from the file when the thread
//! starts (off the engine's start path), then topped up with what another process
//! committed (SQLite's `data_version` says when) after each batch and flush, and once a
//! second when idle.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, Transaction, params};

use super::file::{self, Watch};
use super::{SOURCE_PEPY, SOURCE_PYPISTATS, SeriesTarget, Shared, StoreError, unix_ms};
use crate::config::{CacheConfig, StoreConfig};
use sentinel_core::upstream::Document;

/// Most writes in one transaction.
const MAX_BATCH: usize = 512;
/// How often counters are recounted and old rows pruned.
const RECOUNT_EVERY: Duration = Duration::from_secs(1);
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// One write.
pub(crate) enum Op {
    /// A newly fetched document (and, for download series, its days to merge).
    Document {
        origin: String,
        key: String,
        package: Option<String>,
        series: Option<SeriesTarget>,
        doc: Arc<Document>,
        etag: Option<String>,
        last_modified: Option<String>,
        fetched_at: i64,
        /// The upstream's `Cache-Control` freshness, in ms (`None`: unsaid).
        max_age_ms: Option<i64>,
    },
    /// The upstream confirmed the kept copy (304) at `at`.
    Confirmed {
        origin: String,
        key: String,
        at: i64,
    },
    /// The copy was read back (least-recently-used bookkeeping).
    Used {
        origin: String,
        key: String,
        at: i64,
    },
    /// Commit now and say so.
    Flush(SyncSender<()>),
    /// Run the retention now (the CacheActor's periodic maintenance asks for it, so an
    /// idle store is pruned too, not only after a write).
    Maintain,
}

/// The writer thread, and a way to wait for its end with a bound.
pub(crate) struct WriterHandle {
    thread: std::thread::JoinHandle<()>,
    done: Receiver<()>,
}

impl WriterHandle {
    /// Waits up to `max` for the thread to commit what it holds and end.
    pub(crate) fn join(self, max: Duration) {
        match self.done.recv_timeout(max) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                let _ = self.thread.join();
            }
            Err(RecvTimeoutError::Timeout) => {
                tracing::warn!("store writer still busy at shutdown; leaving it to finish");
            }
        }
    }

    /// `join`, but never holding a tokio worker: on a multi-thread runtime the worker
    /// hands its other tasks on while it waits (`block_in_place`), so what was written
    /// is on disk when the drop returns (an embedder may reopen the file at once); on
    /// a current-thread runtime, whose one thread must not block, the wait goes to the
    /// blocking pool (which the runtime's own drop waits for); outside a runtime it is
    /// done here. The writer commits what it holds either way; only the wait moves.
    pub(crate) fn join_off_runtime(self, max: Duration) {
        use tokio::runtime::RuntimeFlavor;
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if rt.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.join(max));
            }
            Ok(rt) => drop(rt.spawn_blocking(move || self.join(max))),
            Err(_) => self.join(max),
        }
    }
}

pub(crate) fn spawn(
    conn: Connection,
    cfg: &StoreConfig,
    cache: &CacheConfig,
    shared: Arc<Shared>,
) -> (SyncSender<Op>, WriterHandle) {
    let (tx, rx) = std::sync::mpsc::sync_channel(super::QUEUE_CAPACITY);
    let (done_tx, done) = std::sync::mpsc::sync_channel(1);
    let longest_ttl = cache.longest_ttl_ms();
    let path = conn.path().filter(|p| !p.is_empty()).map(PathBuf::from);
    let mut w = Writer {
        watch: path.as_deref().map(Watch::new),
        path,
        conn,
        shared,
        db_bytes: file::db_budget(cfg.max_bytes),
        wal_bytes: file::wal_budget(cfg.max_bytes),
        flush: Duration::from_millis(cfg.flush_interval_ms),
        series_days: cfg.series_retention_days,
        doc_keep_ms: longest_ttl.saturating_add(cache.stale_retention_ms),
        last_recount: None,
        last_retention: None,
        dirty: false,
        filter_rowid: 0,
        data_version: None,
    };
    let thread = std::thread::Builder::new()
        .name("sentinel-store-writer".into())
        .spawn(move || {
            w.sync_filter();
            w.shared.filter.set_ready();
            w.maintain();
            w.run(rx);
            let _ = done_tx.send(());
            if w.shared.abandoned.load(Ordering::Acquire) {
                // Never closed: see `file` (SIGBUS on an immutable -shm map, or
                // another file's -wal unlinked by name).
                std::mem::forget(w);
            }
        })
        .unwrap_or_else(|e| {
            // No thread: the store cannot write; reads still work.
            tracing::warn!(error = %e, "store: could not start the writer thread");
            std::thread::spawn(|| {})
        });
    (tx, WriterHandle { thread, done })
}

struct Writer {
    conn: Connection,
    path: Option<PathBuf>,
    /// Whether the files are still the store's and writable.
    watch: Option<Watch>,
    shared: Arc<Shared>,
    /// The database's share of `max_bytes`.
    db_bytes: u64,
    /// The write-ahead log's share.
    wal_bytes: u64,
    flush: Duration,
    series_days: u32,
    doc_keep_ms: u64,
    last_recount: Option<Instant>,
    last_retention: Option<Instant>,
    /// Written since the last recount.
    dirty: bool,
    /// The highest `rowid` of `documents` the key filter has seen.
    filter_rowid: i64,
    /// SQLite's `data_version` when the filter was last synced: it changes when another
    /// connection commits.
    data_version: Option<i64>,
}

impl Writer {
    fn run(&mut self, rx: Receiver<Op>) {
        let mut closed = false;
        let mut backlog = false;
        while !closed {
            let first = match rx.recv_timeout(RECOUNT_EVERY) {
                Ok(op) => op,
                Err(RecvTimeoutError::Timeout) => {
                    // Idle: make the counters `health` shows catch up with the last batch,
                    // and learn the keys another process wrote.
                    if !self.files_ok() {
                        continue;
                    }
                    if self.dirty {
                        self.recount();
                    }
                    self.sync_filter_if_changed();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = vec![first];
            if !backlog && !matches!(batch[0], Op::Flush(_)) {
                // Gather the batch by sleeping out the window, then taking what came:
                // waiting on the channel instead would wake this thread once per write,
                // a context switch taken from the engine on every miss of a small
                // machine. With a backlog (the last batch was full) there is no wait.
                std::thread::sleep(self.flush);
            }
            while batch.len() < MAX_BATCH && !matches!(batch.last(), Some(Op::Flush(_))) {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            backlog = batch.len() >= MAX_BATCH;
            self.commit(batch);
        }
        // The sender is gone: nothing more will come. Commit what is left.
        let rest: Vec<Op> = rx.try_iter().collect();
        if !rest.is_empty() {
            self.commit(rest);
        }
        if self.files_ok() {
            self.recount();
        }
    }

    fn commit(&mut self, batch: Vec<Op>) {
        let mut acks = Vec::new();
        let mut writes = Vec::with_capacity(batch.len());
        let mut maintain = false;
        for op in batch {
            match op {
                Op::Flush(ack) => acks.push(ack),
                Op::Maintain => maintain = true,
                op => writes.push(op),
            }
        }
        if maintain && self.files_ok() {
            self.last_retention = None;
            self.maintain();
        }
        let writes = coalesce(writes);
        if !writes.is_empty() && !self.files_ok() {
            let docs = writes
                .iter()
                .filter(|o| matches!(o, Op::Document { .. }))
                .count() as u64;
            self.shared.dropped.fetch_add(docs, Ordering::Relaxed);
        }
        if !writes.is_empty() && self.shared.active.load(Ordering::Acquire) {
            let docs = writes
                .iter()
                .filter(|o| matches!(o, Op::Document { .. }))
                .count() as u64;
            self.dirty = true;
            let mut result = self.apply(&writes);
            if matches!(result, Err(StoreError::Full(_))) {
                // Make room (least recently used first), then try once more.
                let _ = self.prune_to(self.db_bytes / 2);
                result = self.apply(&writes);
            }
            match result {
                Ok(()) => {
                    self.shared.writes.fetch_add(docs, Ordering::Relaxed);
                }
                Err(e) if e.is_fatal() => self.shared.fail(&e),
                Err(e) => {
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    self.shared.dropped.fetch_add(docs, Ordering::Relaxed);
                    self.shared.warn(format!(
                        "{e}: {docs} document(s) not kept on disk (still served from memory)"
                    ));
                }
            }
            self.maintain();
        }
        self.sync_filter_if_changed();
        if !acks.is_empty() && self.shared.active.load(Ordering::Acquire) {
            self.recount();
        }
        for ack in acks {
            let _ = ack.try_send(());
        }
    }

    fn apply(&mut self, writes: &[Op]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for op in writes {
            apply_one(&tx, op, self.series_days)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Prunes and recounts, each at its own pace.
    fn maintain(&mut self) {
        if !self.shared.active.load(Ordering::Acquire) {
            return;
        }
        if self
            .last_retention
            .is_none_or(|t| t.elapsed() >= RETENTION_EVERY)
        {
            self.last_retention = Some(Instant::now());
            if let Err(e) = self.retention() {
                self.note(e);
            }
        }
        match self.used_bytes() {
            Ok(used) if used > self.db_bytes / 10 * 9 => {
                if let Err(e) = self.prune_to(self.db_bytes / 10 * 7) {
                    self.note(e);
                }
            }
            Ok(_) => {}
            Err(e) => self.note(e),
        }
        self.truncate_wal_if_over();
        if self
            .last_recount
            .is_none_or(|t| t.elapsed() >= RECOUNT_EVERY)
        {
            self.recount();
        }
    }

    /// Whether the files are still the store's and writable; when not, the store stops
    /// (memory-only, the reason in `health`, the connections never closed).
    fn files_ok(&mut self) -> bool {
        if self.shared.abandoned.load(Ordering::Acquire) {
            return false;
        }
        let Some(watch) = &self.watch else {
            return true;
        };
        match watch.check() {
            Ok(()) => true,
            Err(lost) => {
                self.shared.abandon(&lost);
                false
            }
        }
    }

    /// A batch larger than the log's share leaves the log that large until the next
    /// reset: truncate it now (it fails harmlessly while another process reads).
    fn truncate_wal_if_over(&mut self) {
        let Some(path) = &self.path else { return };
        let wal = std::fs::metadata(file::side(path, "-wal")).map_or(0, |m| m.len());
        if wal > self.wal_bytes {
            let r = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
            if let Err(e) = r {
                self.note(e.into());
            }
        }
    }

    /// Adds the keys of documents written since the last sync (by any process) to the
    /// filter. Reads only `rowid`s past the last one seen: cheap after the first load.
    fn sync_filter(&mut self) {
        let after = self.filter_rowid;
        let rows: Result<Vec<(i64, String, String)>, rusqlite::Error> = self
            .conn
            .prepare_cached("SELECT rowid, origin, key FROM documents WHERE rowid > ?1")
            .and_then(|mut st| {
                st.query_map([after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            });
        match rows {
            Ok(rows) => {
                let f = &self.shared.filter;
                for (rowid, _, _) in &rows {
                    self.filter_rowid = self.filter_rowid.max(*rowid);
                }
                f.extend(rows.iter().map(|(_, o, k)| f.hash(o, k)));
            }
            Err(e) => self.note(e.into()),
        }
        self.data_version = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .ok();
    }

    /// [`Self::sync_filter`] when another connection committed since the last sync.
    fn sync_filter_if_changed(&mut self) {
        if !self.shared.active.load(Ordering::Acquire) {
            return;
        }
        let now: Option<i64> = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .ok();
        if now.is_none() || now != self.data_version {
            self.sync_filter();
        }
    }

    fn note(&self, e: StoreError) {
        if e.is_fatal() {
            self.shared.fail(&e);
        } else {
            self.shared.errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "store maintenance failed");
        }
    }

    /// Drops download days past the retention and documents past the cache's stale
    /// retention (they could no longer answer).
    fn retention(&mut self) -> Result<(), StoreError> {
        let now = SystemTime::now();
        let cutoff_day = sentinel_core::views::estimate::ymd(
            now.checked_sub(Duration::from_secs(u64::from(self.series_days) * 86_400))
                .unwrap_or(SystemTime::UNIX_EPOCH),
        );
        let cutoff_doc = unix_ms(now) - self.doc_keep_ms.min(i64::MAX as u64) as i64;
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM series WHERE day < ?1", [&cutoff_day])?;
        tx.execute("DELETE FROM breakdowns WHERE day < ?1", [&cutoff_day])?;
        // What is read from a file named by its sha256 never changes: kept for good
        // (`Query::is_immutable`); only the size bound prunes it.
        tx.execute(
            "DELETE FROM documents WHERE fetched_at < ?1 AND key NOT GLOB '*#sha256=*'",
            [cutoff_doc],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Bytes of the database in use (pages minus free pages).
    fn used_bytes(&self) -> Result<u64, StoreError> {
        let q = |p: &str| -> Result<i64, StoreError> {
            Ok(self
                .conn
                .query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))?)
        };
        let used = (q("page_count")? - q("freelist_count")?).max(0) * q("page_size")?;
        Ok(used as u64)
    }

    /// Deletes the least recently used documents until about `target` bytes are used.
    fn prune_to(&mut self, target: u64) -> Result<(), StoreError> {
        let mut excess = self.used_bytes()?.saturating_sub(target) as i64;
        let mut pruned = 0u64;
        while excess > 0 {
            let tx = self.conn.transaction()?;
            let victims: Vec<(String, String, i64)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT origin, key, bytes FROM documents ORDER BY used_at LIMIT 64",
                )?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()?
            };
            if victims.is_empty() {
                break;
            }
            for (origin, key, bytes) in &victims {
                tx.execute(
                    "DELETE FROM documents WHERE origin = ?1 AND key = ?2",
                    [origin, key],
                )?;
                excess -= bytes + 200;
                pruned += 1;
            }
            tx.commit()?;
        }
        if pruned > 0 {
            tracing::info!(pruned, "store: least recently used documents pruned");
            metrics::counter!("sentinel_store_pruned_total").increment(pruned);
        }
        Ok(())
    }

    fn recount(&mut self) {
        self.last_recount = Some(Instant::now());
        self.dirty = false;
        if let Some(p) = &self.path {
            self.shared
                .size_bytes
                .store(file::size_on_disk(p.as_ref()), Ordering::Relaxed);
        }
        if self.shared.abandoned.load(Ordering::Acquire) {
            return;
        }
        let count = |sql: &str| -> Option<u64> {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .ok()
                .map(|n| n.max(0) as u64)
        };
        if let Some(n) = count("SELECT COUNT(*) FROM documents") {
            self.shared.documents.store(n, Ordering::Relaxed);
        }
        if let Some(n) = count("SELECT COUNT(*) FROM series") {
            self.shared.series_points.store(n, Ordering::Relaxed);
        }
        if let Some(n) = count("SELECT COUNT(*) FROM breakdowns") {
            self.shared.breakdown_points.store(n, Ordering::Relaxed);
        }
    }
}

fn apply_one(tx: &Transaction<'_>, op: &Op, series_days: u32) -> Result<(), StoreError> {
    match op {
        Op::Document {
            origin,
            key,
            package,
            series,
            doc,
            etag,
            last_modified,
            fetched_at,
            max_age_ms,
        } => {
            let body = serde_json::to_vec(doc.as_ref())?;
            tx.prepare_cached(
                "INSERT INTO documents
                   (origin, key, package, body, etag, last_modified, fetched_at, data_date,
                    bytes, used_at, max_age_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?7, ?10)
                 ON CONFLICT (origin, key) DO UPDATE SET
                   package = excluded.package, body = excluded.body, etag = excluded.etag,
                   last_modified = excluded.last_modified,
                   fetched_at = excluded.fetched_at, data_date = excluded.data_date,
                   bytes = excluded.bytes, used_at = excluded.used_at,
                   max_age_ms = excluded.max_age_ms",
            )?
            .execute(params![
                origin,
                key,
                package,
                body,
                etag,
                last_modified,
                fetched_at,
                data_date(doc),
                body.len() as i64,
                max_age_ms,
            ])?;
            if let (Some(target), Some(package)) = (series, package) {
                merge_days(tx, *target, package, doc, *fetched_at, series_days)?;
            }
        }
        Op::Confirmed { origin, key, at } => {
            tx.prepare_cached(
                "UPDATE documents SET fetched_at = ?3, used_at = ?3 WHERE origin = ?1 AND key = ?2",
            )?
            .execute(params![origin, key, at])?;
        }
        Op::Used { origin, key, at } => {
            tx.prepare_cached("UPDATE documents SET used_at = ?3 WHERE origin = ?1 AND key = ?2")?
                .execute(params![origin, key, at])?;
        }
        Op::Flush(_) | Op::Maintain => {}
    }
    Ok(())
}

/// Merges the days of a download document into what is kept, day by day: a day seen
/// again takes the newer figure, days no longer served stay (so history grows past
/// pypistats' 180 days), days past the retention are not written.
fn merge_days(
    tx: &Transaction<'_>,
    target: SeriesTarget,
    package: &str,
    doc: &Document,
    fetched_at: i64,
    series_days: u32,
) -> Result<(), StoreError> {
    let oldest = sentinel_core::views::estimate::ymd(
        SystemTime::now()
            .checked_sub(Duration::from_secs(u64::from(series_days) * 86_400))
            .unwrap_or(SystemTime::UNIX_EPOCH),
    );
    let count = |n: u64| n.min(i64::MAX as u64) as i64;
    match (target, doc) {
        (SeriesTarget::Totals(source), _) => {
            let daily = match doc {
                Document::Series(s) if source == SOURCE_PYPISTATS => s.daily_totals(),
                Document::Pepy(p) if source == SOURCE_PEPY => p.daily_totals(),
                _ => Vec::new(),
            };
            let mut stmt = tx.prepare_cached(
                "INSERT INTO series (package, source, day, downloads, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (package, source, day) DO UPDATE SET
                   downloads = excluded.downloads, recorded_at = excluded.recorded_at",
            )?;
            for (day, n) in daily.iter().filter(|(d, _)| *d >= oldest) {
                stmt.execute(params![package, source, day, count(*n), fetched_at])?;
            }
        }
        (SeriesTarget::Breakdown(kind), Document::Series(s)) => {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO breakdowns (package, kind, category, day, downloads, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (package, kind, category, day) DO UPDATE SET
                   downloads = excluded.downloads, recorded_at = excluded.recorded_at",
            )?;
            for p in &s.data {
                let day = p.date.to_string();
                if day < oldest {
                    continue;
                }
                stmt.execute(params![
                    package,
                    kind,
                    s.category_name(p),
                    day,
                    count(p.downloads),
                    fetched_at
                ])?;
            }
        }
        (SeriesTarget::Breakdown(_), _) => {}
    }
    Ok(())
}

/// Collapses repeated writes of one document within a batch: only its last
/// `Document` write is applied (each write carries the whole document), and only its
/// last `Used` mark. `Confirmed` marks stay in order (cheap, and they must follow the
/// write they confirm).
fn coalesce(writes: Vec<Op>) -> Vec<Op> {
    let mut seen_doc: HashSet<(String, String)> = HashSet::new();
    let mut seen_used: HashSet<(String, String)> = HashSet::new();
    let mut keep = vec![true; writes.len()];
    for (i, op) in writes.iter().enumerate().rev() {
        let (set, origin, key) = match op {
            Op::Document { origin, key, .. } => (&mut seen_doc, origin, key),
            Op::Used { origin, key, .. } => (&mut seen_used, origin, key),
            _ => continue,
        };
        if !set.insert((origin.clone(), key.clone())) {
            keep[i] = false;
        }
    }
    writes
        .into_iter()
        .zip(keep)
        .filter_map(|(op, k)| k.then_some(op))
        .collect()
}

/// The data's own date: the last day of a download series, the dataset's update time.
fn data_date(doc: &Document) -> Option<String> {
    match doc {
        Document::Series(s) => s.data.iter().map(|p| p.date).max().map(|d| d.to_string()),
        Document::Pepy(p) => p
            .daily
            .iter()
            .map(|(d, _)| d.as_str())
            .max()
            .map(Into::into),
        Document::Top(t) => t.last_update.clone(),
        _ => None,
    }
}
