//! `vulns sync` on the handle: OSV's export of every PyPI advisory
//! (`vulnerabilities.export.url`, a zip of one `{id}.json` per advisory) downloaded
//! through the files upstream ([`FilesLane`]: its breaker admits the transfer, its
//! FetchActor reserves the rate-limit slot, one of its concurrency permits is held while
//! the body streams, each read bounded by its read timeout), streamed to a temporary
//! file beside the store (never held in memory; refused past `export.max_bytes`), then
//! read entry by entry on the CPU pool (`upstream::osv_export`: bounded against hostile
//! zips) into a new set in the store, which replaces the old one in one transaction
//! only when the whole export was read. Whatever fails, the previous set stays in use.
//!
//! The breaker hears the host's own failures only (a status, a transport error, a body
//! cut short), never our caps or a refused zip.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::EngineHandle;
use crate::actor::transfer::{FilesLane, NoTurn};
use crate::store::{OsvSetInfo, Store};
use sentinel_core::model::Upstream;
use sentinel_core::model::untrusted::redact_urls;
use sentinel_core::upstream::osv_export::{ExportItem, ExportLimits, ExportReader};

/// One sync at a time per process: a second waits for the first.
static SYNCING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Skipped entries named in a report (the rest are counted).
const SKIPPED_NAMED: usize = 5;

/// What a sync did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OsvSyncReport {
    /// The set now in use.
    pub set: OsvSetInfo,
    /// The set it replaced, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<OsvSetInfo>,
    /// The first entries skipped (not advisories), with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_examples: Vec<String>,
    /// Bytes inflated from the zip.
    pub inflated_bytes: u64,
    /// How long the sync took, ms (download, reading and writing).
    pub elapsed_ms: u64,
}

/// Why a sync did not replace the set (the previous one, if any, stays in use).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OsvSyncError {
    /// There is no store to keep the set in.
    #[error("no store to keep OSV's export in ({why})")]
    NoStore {
        /// Off or memory-only, and why.
        why: String,
    },
    /// The export could not be downloaded.
    #[error("OSV's export could not be downloaded from {url}: {detail}")]
    Download {
        /// Where from (credentials redacted).
        url: String,
        /// What happened.
        detail: String,
    },
    /// The zip was refused (hostile, damaged, over a cap, or holding no advisory).
    #[error("OSV's export from {url} was refused: {detail}")]
    Refused {
        /// Where from (credentials redacted).
        url: String,
        /// Why.
        detail: String,
    },
    /// The store could not write the set.
    #[error("the store could not keep OSV's export: {0}")]
    Store(String),
    /// The sync's deadline came first.
    #[error("the sync did not finish within vulnerabilities.export.timeout_ms ({0} ms)")]
    Deadline(u64),
    /// The engine takes no calls.
    #[error("engine not ready: {0}")]
    NotReady(String),
}

impl OsvSyncError {
    /// What to do about it.
    pub fn suggestion(&self) -> String {
        match self {
            OsvSyncError::NoStore { .. } => {
                "run without --no-store (the set is kept in the store's file) and check the store in `pypi-sentinel health`".into()
            }
            OsvSyncError::Download { .. } => {
                "check vulnerabilities.export.url and the network, then run `pypi-sentinel vulns sync` again".into()
            }
            OsvSyncError::Refused { .. } => {
                "the previous set (if any) stays in use; check that vulnerabilities.export.url serves OSV's PyPI all.zip, or raise the vulnerabilities.export caps if the export outgrew them".into()
            }
            OsvSyncError::Store(_) => "check the store's disk space and store.max_bytes".into(),
            OsvSyncError::Deadline(_) => {
                "raise vulnerabilities.export.timeout_ms on a slow link, then run `pypi-sentinel vulns sync` again".into()
            }
            OsvSyncError::NotReady(_) => "retry in a moment".into(),
        }
    }
}

impl EngineHandle {
    /// Downloads OSV's export of every PyPI advisory and keeps it in the store as the
    /// set `vulnerabilities.source = "offline"` answers from; see the module docs. The
    /// previous set stays in use unless the whole export was read and written.
    pub async fn sync_osv_export(&self) -> Result<OsvSyncReport, OsvSyncError> {
        let _guard = self
            .enter()
            .map_err(|e| OsvSyncError::NotReady(e.reason()))?;
        let _one = SYNCING.lock().await;
        let shared = self.shared();
        let cfg = shared.cfg.vulnerabilities.export.clone();
        let store = shared.store.clone();
        let url_words = redact_urls(&cfg.url);
        if !store.is_active() {
            let r = store.report();
            return Err(OsvSyncError::NoStore {
                why: r.warning.unwrap_or_else(|| "the store is off".into()),
            });
        }
        let started = Instant::now();
        let deadline = started + Duration::from_millis(cfg.timeout_ms);
        let dir = store
            .report()
            .path
            .as_deref()
            .and_then(|p| std::path::Path::new(p).parent().map(|d| d.to_path_buf()))
            .unwrap_or_else(std::env::temp_dir);
        let lane = FilesLane::new(shared);
        let download = |detail: String| OsvSyncError::Download {
            url: url_words.clone(),
            detail,
        };
        let pass = lane
            .admit()
            .await
            .map_err(|c| download(c.describe(Upstream::Files)))?;
        let fetched = tokio::time::timeout_at(
            deadline,
            fetch_to_file(&lane, &cfg.url, cfg.max_bytes, &dir, deadline),
        )
        .await;
        let (temp, zip_bytes, last_modified) = match fetched {
            Err(_) => {
                pass.record(None);
                return Err(OsvSyncError::Deadline(cfg.timeout_ms));
            }
            Ok(Err((detail, verdict))) => {
                pass.record(verdict);
                if verdict == Some(false) {
                    lane.ctx.counters.failures.fetch_add(1, Relaxed);
                }
                return Err(download(detail));
            }
            Ok(Ok(got)) => {
                pass.record(Some(true));
                got
            }
        };
        let replaced = {
            let s = store.clone();
            tokio::task::spawn_blocking(move || s.osv_set())
                .await
                .ok()
                .flatten()
        };
        let limits = ExportLimits {
            max_entries: cfg.max_entries,
            max_inflated_bytes: cfg.max_inflated_bytes,
        };
        let url = cfg.url.clone();
        let stale_after = Duration::from_millis(cfg.timeout_ms);
        let words = url_words.clone();
        let job = move |cancel: &crate::cpu::CancelFlag| {
            read_into_store(
                &store,
                temp,
                zip_bytes,
                limits,
                &redact_urls(&url),
                stale_after,
                last_modified,
                cancel,
            )
            .map_err(|e| match e {
                Failed::Refused(detail) => OsvSyncError::Refused { url: words, detail },
                Failed::Store(s) => OsvSyncError::Store(s),
            })
        };
        let (set, skipped_examples, inflated_bytes) = crate::cpu::pool()
            .run(deadline, job)
            .await
            .map_err(|_| OsvSyncError::Deadline(cfg.timeout_ms))??;
        Ok(OsvSyncReport {
            set,
            replaced,
            skipped_examples,
            inflated_bytes,
            elapsed_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// The set of OSV's export the store holds (`None` before the first sync
    /// completes, or without a store).
    pub async fn osv_export_set(&self) -> Option<OsvSetInfo> {
        let store = self.shared().store.clone();
        tokio::task::spawn_blocking(move || store.osv_set())
            .await
            .ok()
            .flatten()
    }
}

/// The zip streamed to a temporary file in `dir` (deleted when dropped): the file, its
/// length and its `Last-Modified`; or what went wrong and the breaker's verdict.
async fn fetch_to_file(
    lane: &FilesLane,
    url: &str,
    max_bytes: u64,
    dir: &std::path::Path,
    deadline: Instant,
) -> Result<(tempfile::NamedTempFile, u64, Option<String>), (String, Option<bool>)> {
    let ctx = &lane.ctx;
    ctx.counters.requests.fetch_add(1, Relaxed);
    let ours = |d: String| (d, None);
    let _permit = match lane.turn(deadline).await {
        Ok(p) => p,
        Err(NoTurn::Unavailable(c)) => return Err(ours(c.describe(Upstream::Files))),
        Err(NoTurn::NoPermit) => {
            return Err(ours(
                "no transfer slot came free (upstreams.files.max_in_flight transfers run at once)"
                    .into(),
            ));
        }
    };
    ctx.count_attempt();
    ctx.lock_budget().record_request(Instant::now().into_std());
    let resp = ctx
        .client
        .get(url)
        .send()
        .await
        .map_err(|e| (redact_urls(&e.to_string()), Some(false)))?;
    let status = resp.status();
    if !status.is_success() {
        let host_failed = status.is_server_error() || matches!(status.as_u16(), 408 | 429);
        return Err((
            format!("the host answered HTTP {}", status.as_u16()),
            Some(!host_failed),
        ));
    }
    let last_modified = resp
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(64).collect::<String>());
    let announced = resp.content_length();
    if let Some(n) = announced.filter(|n| *n > max_bytes) {
        return Err(ours(format!(
            "announced as {n} bytes, more than vulnerabilities.export.max_bytes ({max_bytes})"
        )));
    }
    let progress = &ctx.counters;
    progress.bytes_received.store(0, Relaxed);
    progress
        .bytes_expected
        .store(announced.unwrap_or(0), Relaxed);
    let local = |e: std::io::Error| {
        ours(format!(
            "cannot write the temporary file in {}: {e}",
            dir.display()
        ))
    };
    let temp = tempfile::Builder::new()
        .prefix(".osv-export-")
        .suffix(".zip.part")
        .tempfile_in(dir)
        .map_err(local)?;
    let mut out = tokio::fs::File::from_std(temp.as_file().try_clone().map_err(local)?);
    let mut received = 0u64;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            (
                format!(
                    "the transfer was cut short after {received} bytes: {}",
                    redact_urls(&e.to_string())
                ),
                Some(false),
            )
        })?;
        received += chunk.len() as u64;
        progress
            .bytes_received
            .fetch_add(chunk.len() as u64, Relaxed);
        if received > max_bytes {
            return Err(ours(format!(
                "the body grew past vulnerabilities.export.max_bytes ({max_bytes})"
            )));
        }
        out.write_all(&chunk).await.map_err(local)?;
    }
    if let Some(n) = announced.filter(|n| received < *n) {
        return Err((
            format!("the transfer was cut short: {received} of {n} bytes"),
            Some(false),
        ));
    }
    out.flush().await.map_err(local)?;
    ctx.lock_budget().record_attempt(true);
    Ok((temp, received, last_modified))
}

enum Failed {
    Refused(String),
    Store(String),
}

/// Reads every entry of the zip into a staged set and makes it current (blocking, on
/// the CPU pool): the set, the first skipped entries and the bytes inflated.
#[allow(clippy::too_many_arguments)]
fn read_into_store(
    store: &Store,
    temp: tempfile::NamedTempFile,
    len: u64,
    limits: ExportLimits,
    url: &str,
    stale_after: Duration,
    last_modified: Option<String>,
    cancel: &crate::cpu::CancelFlag,
) -> Result<(OsvSetInfo, Vec<String>, u64), Failed> {
    let refused =
        |e: sentinel_core::upstream::osv_export::ExportError| Failed::Refused(e.to_string());
    let file = std::io::BufReader::with_capacity(
        256 * 1024,
        temp.reopen().map_err(|e| Failed::Store(e.to_string()))?,
    );
    let mut reader = ExportReader::open(file, len, limits).map_err(refused)?;
    let mut staging = store
        .stage_osv(url, stale_after)
        .map_err(|e| Failed::Store(e.to_string()))?;
    let mut skipped = 0u64;
    let mut examples = Vec::new();
    let mut newest: Option<String> = None;
    while let Some(item) = reader.next_item(cancel) {
        match item.map_err(refused)? {
            ExportItem::Advisory(a) => {
                if let Some(m) = a.advisory.modified.as_deref()
                    && newest.as_deref().is_none_or(|n| m > n)
                {
                    newest = Some(m.to_string());
                }
                staging.add(*a).map_err(|e| Failed::Store(e.to_string()))?;
            }
            ExportItem::Skipped { name, why } => {
                skipped += 1;
                if examples.len() < SKIPPED_NAMED {
                    examples.push(format!("{}: {why}", sentinel_core::model::clip_echo(&name)));
                }
            }
        }
    }
    let advisories = staging.advisories();
    if advisories == 0 {
        return Err(Failed::Refused(format!(
            "it holds no advisory ({} entries, {skipped} skipped): not OSV's export",
            reader.len()
        )));
    }
    if skipped > advisories {
        return Err(Failed::Refused(format!(
            "{skipped} of its entries are not advisories (and {advisories} are): not OSV's export"
        )));
    }
    let data_date = last_modified
        .as_deref()
        .and_then(|lm| httpdate::parse_http_date(lm).ok())
        .map(|t| sentinel_core::model::day_string(sentinel_core::model::epoch_day(t)))
        .or_else(|| {
            newest
                .as_deref()
                .and_then(|m| m.get(..10))
                .map(str::to_string)
        });
    let set = staging
        .commit(data_date, last_modified, skipped, len)
        .map_err(|e| Failed::Store(e.to_string()))?;
    Ok((set, examples, reader.inflated()))
}

/// The first background check waits this long after the engine starts: a one-shot CLI
/// command is over by then and never starts a download it would not finish.
const FIRST_CHECK: Duration = Duration::from_secs(60);
/// After a failed background sync, the next try comes at most this much later.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(3600);

/// When the background re-sync looks again: when the held set (`age` old, `None`
/// without one) is `every` old, at least [`FIRST_CHECK`] from now; after a failure, at
/// most [`RETRY_AFTER_FAILURE`] from now.
fn next_check(age: Option<Duration>, every: Duration, failed: bool) -> Duration {
    let due = match age {
        Some(age) => every.saturating_sub(age),
        None => Duration::ZERO,
    };
    let wait = if failed {
        due.max(every.min(RETRY_AFTER_FAILURE))
    } else {
        due
    };
    wait.max(FIRST_CHECK)
}

/// With `vulnerabilities.export.resync_hours` set, syncs OSV's export again in the
/// background whenever the held set is that old (first checked [`FIRST_CHECK`] after
/// the start). The task holds no handle between checks: dropping the last handle or
/// shutting down ends it.
pub(super) fn spawn_resync(handle: &EngineHandle) {
    let hours = handle.shared().cfg.vulnerabilities.export.resync_hours;
    if hours == 0 {
        return;
    }
    let every = Duration::from_secs(u64::from(hours) * 3600);
    let weak = std::sync::Arc::downgrade(&handle.inner);
    let stop = handle.shared().shutdown.clone();
    tokio::spawn(async move {
        let mut wait = FIRST_CHECK;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            let Some(inner) = weak.upgrade() else { return };
            let h = EngineHandle { inner };
            let age = |s: &OsvSetInfo| {
                let synced = std::time::UNIX_EPOCH + Duration::from_secs(s.synced_at_unix);
                h.shared()
                    .cfg
                    .clock
                    .now()
                    .duration_since(synced)
                    .unwrap_or_default()
            };
            let held = h.osv_export_set().await.map(|s| age(&s));
            let mut failed = false;
            let mut now_age = held;
            if held.is_none_or(|a| a >= every) {
                let r = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = h.sync_osv_export() => r,
                };
                match r {
                    Ok(r) => {
                        tracing::info!(advisories = r.set.advisories, data_date = ?r.set.data_date, "vulns: OSV's export synced in the background");
                        now_age = Some(Duration::ZERO);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "vulns: the background sync of OSV's export failed; the held set stays in use");
                        failed = true;
                    }
                }
            }
            drop(h);
            wait = next_check(now_age, every, failed);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_background_sync_comes_when_the_set_is_due_never_sooner_than_a_minute() {
        let h = Duration::from_secs(3600);
        // Nothing held: at once (after the first minute).
        assert_eq!(next_check(None, 24 * h, false), FIRST_CHECK);
        // A set 20 h old, every 24 h: in 4 h.
        assert_eq!(next_check(Some(20 * h), 24 * h, false), 4 * h);
        // Past due: the next minute.
        assert_eq!(next_check(Some(30 * h), 24 * h, false), FIRST_CHECK);
        // A failure: again within the hour, never a busy loop.
        assert_eq!(next_check(Some(30 * h), 24 * h, true), h);
        assert_eq!(next_check(None, 2 * h, true), h);
        assert_eq!(next_check(None, Duration::from_secs(1), true), FIRST_CHECK);
    }
}
