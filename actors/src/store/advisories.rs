//! OSV's export of every PyPI advisory, kept in the store by `vulns sync` so audits
//! answer offline: one set of advisories, indexed by package name, with the export's
//! date.
//!
//! **Replaced atomically.** A sync writes a `staging` set on a connection of its own,
//! in short transactions of [`BATCH`] advisories (the writer thread's batches and the
//! readers are never held up long), then [`OsvStaging::commit`] makes it `current` and
//! deletes the old set in one transaction. Readers ask for the `current` set only: a
//! sync that fails, is refused or is killed leaves the previous set in use, and its
//! rows are deleted when it is dropped (or, after a kill, by the next sync).

use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::file::open_side_connection;
use super::{Store, StoreError, from_unix_ms, unix_ms};
use sentinel_core::model::PackageName;
use sentinel_core::upstream::osv::OsvAdvisory;
use sentinel_core::upstream::osv_export::{AffectedPackage, ExportAdvisory};

/// Advisories written per transaction.
const BATCH: usize = 500;

/// What the store holds of OSV's export: the current set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OsvSetInfo {
    /// The URL it was synced from (credentials never kept).
    pub url: String,
    /// The export's date, `YYYY-MM-DD` (its `Last-Modified`, else the newest
    /// `modified` of its advisories).
    pub data_date: Option<String>,
    /// The export's `Last-Modified`, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_at: Option<String>,
    /// When the sync that wrote it ended, as Unix seconds.
    pub synced_at_unix: u64,
    /// Advisories kept.
    pub advisories: u64,
    /// PyPI packages they name.
    pub packages: u64,
    /// Entries of the export that were not advisories (skipped, counted).
    pub skipped: u64,
    /// Size of the zip downloaded, bytes.
    pub zip_bytes: u64,
}

/// A set being written by a sync. Dropped without [`OsvStaging::commit`], its rows are
/// deleted; the current set is never touched.
pub struct OsvStaging {
    conn: Connection,
    set_id: i64,
    pending: Vec<ExportAdvisory>,
    advisories: u64,
    committed: bool,
}

impl std::fmt::Debug for OsvStaging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsvStaging")
            .field("set_id", &self.set_id)
            .field("advisories", &self.advisories)
            .finish()
    }
}

impl OsvStaging {
    /// Adds one advisory (written with the next batch). Blocking.
    pub fn add(&mut self, a: ExportAdvisory) -> Result<(), StoreError> {
        self.pending.push(a);
        if self.pending.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Advisories added so far.
    pub fn advisories(&self) -> u64 {
        self.advisories + self.pending.len() as u64
    }

    /// Writes what was added so far (the set stays staging, unused). Blocking.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut adv = tx.prepare_cached(
                "INSERT OR REPLACE INTO osv_advisories (set_id, id, body) VALUES (?1, ?2, ?3)",
            )?;
            let mut aff = tx.prepare_cached(
                "INSERT OR REPLACE INTO osv_affected (set_id, package, id, rule)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for a in &self.pending {
                let body = serde_json::to_vec(&a.advisory)?;
                adv.execute(params![self.set_id, a.advisory.id, body])?;
                for p in &a.packages {
                    let rule = serde_json::to_vec(p)?;
                    aff.execute(params![self.set_id, p.name, a.advisory.id, rule])?;
                }
            }
        }
        tx.commit()?;
        self.advisories += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Makes this set the current one, in one transaction that deletes the old one.
    /// `data_date` and `exported_at` date it; `skipped` and `zip_bytes` are reported.
    /// Blocking.
    pub fn commit(
        mut self,
        data_date: Option<String>,
        exported_at: Option<String>,
        skipped: u64,
        zip_bytes: u64,
    ) -> Result<OsvSetInfo, StoreError> {
        self.flush()?;
        let now = unix_ms(SystemTime::now());
        let tx = self.conn.transaction()?;
        let packages: i64 = tx.query_row(
            "SELECT COUNT(DISTINCT package) FROM osv_affected WHERE set_id = ?1",
            [self.set_id],
            |r| r.get(0),
        )?;
        let old: Vec<i64> = tx
            .prepare("SELECT id FROM osv_sets WHERE id != ?1 AND state = 'current'")?
            .query_map([self.set_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for id in old {
            delete_set(&tx, id)?;
        }
        tx.execute(
            "UPDATE osv_sets SET state = 'current', data_date = ?2, exported_at = ?3,
                 synced_at = ?4, advisories = ?5, packages = ?6, skipped = ?7, zip_bytes = ?8
             WHERE id = ?1",
            params![
                self.set_id,
                data_date,
                exported_at,
                now,
                self.advisories as i64,
                packages,
                skipped as i64,
                zip_bytes as i64
            ],
        )?;
        tx.commit()?;
        self.committed = true;
        current(&self.conn)?.ok_or_else(|| {
            StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows)
        })
    }
}

impl Drop for OsvStaging {
    fn drop(&mut self) {
        if !self.committed
            && let Ok(tx) = self.conn.transaction()
            && delete_set(&tx, self.set_id).is_ok()
        {
            let _ = tx.commit();
        }
    }
}

fn delete_set(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM osv_affected WHERE set_id = ?1", [id])?;
    conn.execute("DELETE FROM osv_advisories WHERE set_id = ?1", [id])?;
    conn.execute("DELETE FROM osv_sets WHERE id = ?1", [id])?;
    Ok(())
}

fn current(conn: &Connection) -> Result<Option<OsvSetInfo>, StoreError> {
    conn.prepare_cached(
        "SELECT url, data_date, exported_at, synced_at, advisories, packages, skipped, zip_bytes
         FROM osv_sets WHERE state = 'current' ORDER BY id DESC LIMIT 1",
    )?
    .query_row([], |r| {
        let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
        Ok(OsvSetInfo {
            url: r.get(0)?,
            data_date: r.get(1)?,
            exported_at: r.get(2)?,
            synced_at_unix: from_unix_ms(r.get::<_, Option<i64>>(3)?.unwrap_or(0))
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            advisories: n(4)?,
            packages: n(5)?,
            skipped: n(6)?,
            zip_bytes: n(7)?,
        })
    })
    .optional()
    .map_err(StoreError::from)
}

/// The advisories of the current set about one package, each with its rule.
pub(crate) type PackageAdvisories = (OsvSetInfo, Vec<(OsvAdvisory, AffectedPackage)>);

impl Store {
    /// Starts writing a new set synced from `url` (on a connection of its own, under
    /// the store's size cap), after deleting what syncs that never ended left (sets
    /// staged more than `stale_after` ago). Blocking.
    pub fn stage_osv(&self, url: &str, stale_after: Duration) -> Result<OsvStaging, StoreError> {
        let Some(path) = self.inner.path.as_deref().filter(|_| self.is_active()) else {
            return Err(StoreError::Sqlite(rusqlite::Error::InvalidPath(
                "no store: it is off or memory-only".into(),
            )));
        };
        let conn = open_side_connection(path, &self.inner.store_cfg)?;
        let now = unix_ms(SystemTime::now());
        let before = now.saturating_sub(i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX));
        let left: Vec<i64> = conn
            .prepare("SELECT id FROM osv_sets WHERE state = 'staging' AND started_at < ?1")?
            .query_map([before], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for id in left {
            delete_set(&conn, id)?;
        }
        conn.execute(
            "INSERT INTO osv_sets (state, url, started_at) VALUES ('staging', ?1, ?2)",
            params![url, now],
        )?;
        let set_id = conn.last_insert_rowid();
        Ok(OsvStaging {
            conn,
            set_id,
            pending: Vec::new(),
            advisories: 0,
            committed: false,
        })
    }

    /// The current set, if a sync ever completed. Blocking.
    pub fn osv_set(&self) -> Option<OsvSetInfo> {
        if !self.is_active() {
            return None;
        }
        let guard = self.inner.reader.lock().unwrap_or_else(|p| p.into_inner());
        let conn = guard.as_ref()?;
        self.read(|| current(conn)).flatten()
    }

    /// The current set's advisories about `package`, with the set; `None` when no
    /// sync ever completed (or there is no store). Blocking.
    pub(crate) fn osv_advisories(&self, package: &PackageName) -> Option<PackageAdvisories> {
        if !self.is_active() {
            return None;
        }
        let guard = self.inner.reader.lock().unwrap_or_else(|p| p.into_inner());
        let conn = guard.as_ref()?;
        self.read(|| {
            let tx = conn.unchecked_transaction()?;
            let Some(info) = current(&tx)? else {
                return Ok(None);
            };
            let rows: Vec<(Vec<u8>, Vec<u8>)> = tx
                .prepare_cached(
                    "SELECT a.body, f.rule FROM osv_affected f
                     JOIN osv_advisories a ON a.set_id = f.set_id AND a.id = f.id
                     WHERE f.set_id = (SELECT id FROM osv_sets WHERE state = 'current'
                                       ORDER BY id DESC LIMIT 1)
                       AND f.package = ?1",
                )?
                .query_map([package.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            tx.finish()?;
            let mut out = Vec::with_capacity(rows.len());
            for (body, rule) in rows {
                out.push((serde_json::from_slice(&body)?, serde_json::from_slice(&rule)?));
            }
            Ok(Some((info, out)))
        })
        .flatten()
    }
}
