//! The store on disk: what survives a restart (a shutdown, a dropped engine, a
//! `kill -9`), and how each failure of the file leaves the engine answering from memory.
//! Each test is named after the failure it pins.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use sentinel_actors::store::{KeptDocument, Store};
use sentinel_actors::upstream::{Document, PepyDoc};
use sentinel_actors::{
    EngineConfig, PackageName, Provenance, Query, QueryError, SourceLabel, StatsKind, StoreState,
};
use sentinel_sim::SimHandle;

fn store_config(sim: &SimHandle, path: &Path) -> EngineConfig {
    let mut cfg = test_config(sim);
    cfg.store.path = Some(path.to_path_buf());
    cfg.store.busy_timeout_ms = 200;
    cfg
}

fn is_stale<T>(d: &sentinel_actors::Datum<T>) -> bool {
    matches!(d.provenance, Provenance::Stale { .. })
}

/// Makes every kept copy look `by` older, as if the restart came that much later.
fn age_kept(path: &Path, by: Duration) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute(
        "UPDATE documents SET fetched_at = fetched_at - ?1",
        [by.as_millis() as i64],
    )
    .unwrap();
    c.execute(
        "UPDATE series SET recorded_at = recorded_at - ?1",
        [by.as_millis() as i64],
    )
    .unwrap();
}

/// The first run: info and downloads of two packages, and django's trend (its overall
/// series, never its `recent` figures).
async fn first_run(engine: &sentinel_actors::EngineHandle) {
    for p in ["numpy", "pytest"] {
        assert_eq!(
            engine.package_info(p, None).await.unwrap().provenance,
            Provenance::Live
        );
        engine.recent_downloads(p).await.unwrap();
    }
    engine.download_trend("django", 30).await.unwrap();
}

async fn second_run_in_an_outage(sim: &SimHandle, path: &Path) {
    age_kept(path, 3 * HOURS);
    sim.add_fault(status_fault("/**", 503));
    let engine = engine_with(store_config(sim, path)).await;
    assert_eq!(engine.health().await.store.state, StoreState::Active);
    for p in ["numpy", "pytest"] {
        let info = engine.package_info(p, None).await.unwrap();
        assert!(is_stale(&info), "{p}: {:?}", info.provenance);
        let age = info.age_secs;
        assert!((3 * 3600..3 * 3600 + 60).contains(&age), "true age: {age}");
        let Provenance::Stale { reason } = &info.provenance else {
            unreachable!()
        };
        assert!(
            reason.contains("kept on disk by an earlier run"),
            "{reason}"
        );
        // Download figures stay fresh until pypistats' next daily update: answered
        // from disk as cached, with their true age, without asking.
        let d = engine.recent_downloads(p).await.unwrap();
        assert_eq!(d.source, SourceLabel::Cached, "{p}: {d:?}");
        assert!(d.last_week.age_secs >= 3 * 3600);
    }
    // Never asked for django's recent figures: estimated from the series kept on disk.
    let d = engine.recent_downloads("django").await.unwrap();
    assert_eq!(d.source, SourceLabel::Estimated, "{d:?}");
    let Provenance::Estimated { basis, .. } = &d.last_week.provenance else {
        panic!("{:?}", d.last_week.provenance)
    };
    assert!(
        basis.contains("kept on disk from an earlier run"),
        "{basis}"
    );
    assert!(basis.contains("3 h ago"), "{basis}");
    // Never seen at all: nothing to fall back on.
    let err = engine.package_info("pytz", None).await.unwrap_err();
    assert!(matches!(err, QueryError::Unavailable { .. }), "{err:?}");
    // The second call is answered from memory, still stale (never `cached`).
    let again = engine.package_info("numpy", None).await.unwrap();
    assert!(is_stale(&again), "{:?}", again.provenance);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_during_an_outage_answers_stale_with_the_true_age_from_disk() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let engine = engine_with(store_config(&sim, &path)).await;
    first_run(&engine).await;
    engine.shutdown().await;
    second_run_in_an_outage(&sim, &path).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_dropped_without_shutdown_still_leaves_its_answers_on_disk() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let engine = engine_with(store_config(&sim, &path)).await;
    first_run(&engine).await;
    drop(engine);
    second_run_in_an_outage(&sim, &path).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_a_healthy_upstream_revalidates_a_kept_copy_past_its_freshness() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let engine = engine_with(store_config(&sim, &path)).await;
    engine.package_info("numpy", None).await.unwrap();
    engine.shutdown().await;
    age_kept(&path, HOURS);

    let engine = engine_with(store_config(&sim, &path)).await;
    let info = engine.package_info("numpy", None).await.unwrap();
    // The simulator answers 304 to the stored ETag.
    assert_eq!(info.provenance, Provenance::Revalidated);
    let again = engine.package_info("numpy", None).await.unwrap();
    assert_eq!(again.provenance, Provenance::Cached);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_store_file_is_moved_aside_and_a_new_one_started() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    std::fs::write(&path, b"this is not a database ".repeat(500)).unwrap();
    let engine = engine_with(store_config(&sim, &path)).await;
    let h = engine.health().await;
    assert_eq!(h.store.state, StoreState::Active);
    let warning = h.store.warning.unwrap_or_default();
    assert!(
        warning.contains("corrupt") && warning.contains("moved aside"),
        "{warning}"
    );
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "the damaged file is kept for inspection");
    let info = engine.package_info("numpy", None).await.unwrap();
    assert_eq!(info.provenance, Provenance::Live);
    assert!(engine.flush_store(Duration::from_secs(5)).await);
    assert_eq!(engine.cache_stats().store.unwrap().documents, 1);
    engine.shutdown().await;
}

/// A directory nobody may write to: read-only permissions, and (for a root user, whom
/// permissions do not stop) the immutable attribute.
struct ReadOnlyDir(PathBuf, bool);

impl ReadOnlyDir {
    fn new(dir: &Path) -> Option<Self> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::write(dir.join("probe"), b"x").is_err() {
            return Some(ReadOnlyDir(dir.to_path_buf(), false));
        }
        let _ = std::fs::remove_file(dir.join("probe"));
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| ReadOnlyDir(dir.to_path_buf(), true))
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.1 {
            let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        }
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_store_location_runs_memory_only_with_a_warning() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let Some(_guard) = ReadOnlyDir::new(&ro) else {
        eprintln!("skipped: cannot make a read-only directory here (root without chattr)");
        return;
    };
    let engine = engine_with(store_config(&sim, &ro.join("store.sqlite3"))).await;
    let h = engine.health().await;
    assert!(h.ready);
    assert_eq!(h.store.state, StoreState::MemoryOnly);
    let warning = h.store.warning.unwrap_or_default();
    assert!(warning.contains("memory-only"), "{warning}");
    assert_eq!(
        engine.package_info("numpy", None).await.unwrap().provenance,
        Provenance::Live
    );
    assert_eq!(
        engine.package_info("numpy", None).await.unwrap().provenance,
        Provenance::Cached
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_store_simulated_by_a_tiny_size_limit_answers_from_memory() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = store_config(&sim, &dir.path().join("store.sqlite3"));
    cfg.store.max_bytes = 48 * 1024;
    let engine = engine_with(cfg).await;
    // numpy's kept project document alone is larger than the whole limit.
    let info = engine.package_info("numpy", None).await.unwrap();
    assert_eq!(info.provenance, Provenance::Live);
    assert!(engine.flush_store(Duration::from_secs(5)).await);
    let s = engine.health().await.store;
    assert!(s.dropped_writes >= 1 && s.errors >= 1, "{s:?}");
    assert!(
        s.warning.as_deref().unwrap_or_default().contains("full"),
        "{s:?}"
    );
    assert!(s.size_bytes <= 48 * 1024 + 1024 * 1024, "bounded: {s:?}");
    assert_eq!(
        engine.package_info("numpy", None).await.unwrap().provenance,
        Provenance::Cached
    );
    // Small documents still fit.
    engine.download_trend("django", 7).await.unwrap();
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_file_locked_by_another_process_runs_memory_only_and_says_so() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    // A WAL store, then a holder that keeps it locked exclusively.
    Store::open(&store_config(&sim, &path)).close(Duration::from_secs(5));
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder
        .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;")
        .unwrap();
    holder
        .execute("INSERT INTO meta (key, value) VALUES ('holder', 'x')", [])
        .unwrap();

    let engine = engine_with(store_config(&sim, &path)).await;
    let h = engine.health().await;
    assert_eq!(h.store.state, StoreState::MemoryOnly);
    let warning = h.store.warning.unwrap_or_default();
    assert!(warning.contains("locked by another process"), "{warning}");
    assert_eq!(
        engine.package_info("numpy", None).await.unwrap().provenance,
        Provenance::Live
    );
    engine.shutdown().await;
    drop(holder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_engine_on_the_same_file_shares_it_instead_of_failing() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let a = engine_with(store_config(&sim, &path)).await;
    let b = engine_with(store_config(&sim, &path)).await;
    assert_eq!(b.health().await.store.state, StoreState::Active);
    a.package_info("numpy", None).await.unwrap();
    b.package_info("pytest", None).await.unwrap();
    assert!(a.flush_store(Duration::from_secs(5)).await);
    assert!(b.flush_store(Duration::from_secs(5)).await);
    // Each engine learns the keys the other committed at its next batch, flush or idle
    // second (its filter of kept keys); a flush makes that happen now.
    assert!(a.flush_store(Duration::from_secs(5)).await);
    sim.add_fault(status_fault("/**", 503));
    // What one wrote, the other reads back (still fresh: without asking the failing
    // upstream).
    let from_a = b.package_info("numpy", None).await.unwrap();
    assert_eq!(from_a.provenance, Provenance::Cached);
    let from_b = a.package_info("pytest", None).await.unwrap();
    assert_eq!(from_b.provenance, Provenance::Cached);
    assert_eq!(a.health().await.store.errors, 0);
    a.shutdown().await;
    b.shutdown().await;
}

// ---- warm-up, the key filter, Last-Modified, breakdowns -----------------------------

/// A first run that keeps numpy's and pytest's project documents, then shuts down.
async fn keep_two_projects(sim: &SimHandle, path: &Path) {
    let engine = engine_with(store_config(sim, path)).await;
    for p in ["numpy", "pytest"] {
        engine.package_info(p, None).await.unwrap();
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_warm_up_answers_the_first_call_stale_without_reading_the_file() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    keep_two_projects(&sim, &path).await;
    age_kept(&path, 3 * HOURS);
    sim.add_fault(status_fault("/**", 503));

    let engine = engine_with(store_config(&sim, &path)).await;
    assert!(engine.warmed_up(Duration::from_secs(10)).await);
    let before = engine.health().await.store;
    assert_eq!(before.warmed, 2, "{before:?}");
    for p in ["numpy", "pytest"] {
        let info = engine.package_info(p, None).await.unwrap();
        assert!(is_stale(&info), "{p}: {:?}", info.provenance);
        assert!(
            (3 * 3600..3 * 3600 + 60).contains(&info.age_secs),
            "true age: {}",
            info.age_secs
        );
    }
    // Answered from the warmed cache: no read of the file on the way.
    let after = engine.health().await.store;
    assert_eq!(after.reads, 0, "{after:?}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmed_copy_is_revalidated_by_a_healthy_upstream_not_served_at_once_as_stale() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    keep_two_projects(&sim, &path).await;
    age_kept(&path, HOURS);

    let engine = engine_with(store_config(&sim, &path)).await;
    assert!(engine.warmed_up(Duration::from_secs(10)).await);
    assert_eq!(engine.health().await.store.warmed, 2);
    let before = hits(&sim, "/pypi/numpy/json");
    let info = engine.package_info("numpy", None).await.unwrap();
    // The upstream was asked with the kept ETag and said 304.
    assert_eq!(info.provenance, Provenance::Revalidated);
    assert_eq!(hits(&sim, "/pypi/numpy/json"), before + 1);
    let again = engine.package_info("numpy", None).await.unwrap();
    assert_eq!(again.provenance, Provenance::Cached);
    assert_eq!(engine.health().await.store.reads, 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_up_turned_off_loads_nothing_and_reads_on_the_first_miss() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    keep_two_projects(&sim, &path).await;
    age_kept(&path, HOURS);
    sim.add_fault(status_fault("/**", 503));
    let mut cfg = store_config(&sim, &path);
    cfg.store.warm_up_documents = 0;
    let engine = engine_with(cfg).await;
    assert!(engine.warmed_up(Duration::from_secs(10)).await);
    assert_eq!(engine.cache_stats().entries, 0);
    let info = engine.package_info("numpy", None).await.unwrap();
    assert!(is_stale(&info), "{:?}", info.provenance);
    let s = engine.health().await.store;
    assert_eq!((s.warmed, s.reads, s.read_hits), (0, 1, 1), "{s:?}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_up_budget_bounds_what_is_loaded_most_recently_used_first() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    keep_two_projects(&sim, &path).await;
    age_kept(&path, HOURS);
    // pytest was used last.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute(
        "UPDATE documents SET used_at = used_at + 60000 WHERE key LIKE '%/pytest/%'",
        [],
    )
    .unwrap();
    drop(c);
    sim.add_fault(status_fault("/**", 503));
    let mut cfg = store_config(&sim, &path);
    cfg.store.warm_up_documents = 1;
    let engine = engine_with(cfg).await;
    assert!(engine.warmed_up(Duration::from_secs(10)).await);
    assert_eq!(engine.health().await.store.warmed, 1);
    assert!(is_stale(
        &engine.package_info("pytest", None).await.unwrap()
    ));
    assert_eq!(engine.health().await.store.reads, 0);
    // numpy was not warmed: its first miss reads the file.
    assert!(is_stale(&engine.package_info("numpy", None).await.unwrap()));
    assert_eq!(engine.health().await.store.reads, 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_for_a_document_never_kept_does_not_read_the_file() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    keep_two_projects(&sim, &path).await;
    age_kept(&path, HOURS);
    let mut cfg = store_config(&sim, &path);
    cfg.store.warm_up_documents = 0;
    let engine = engine_with(cfg).await;
    // The writer has loaded the filter of kept keys once it has answered a flush.
    assert!(engine.flush_store(Duration::from_secs(5)).await);
    for p in ["django", "pyyaml", "coverage"] {
        assert_eq!(
            engine.package_info(p, None).await.unwrap().provenance,
            Provenance::Live
        );
    }
    assert_eq!(engine.health().await.store.reads, 0);
    // A kept one is read (and revalidated with its ETag).
    let info = engine.package_info("numpy", None).await.unwrap();
    assert_eq!(info.provenance, Provenance::Revalidated);
    let s = engine.health().await.store;
    assert_eq!((s.reads, s.read_hits), (1, 1), "{s:?}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_304_to_if_modified_since_revalidates_a_copy_kept_without_an_etag() {
    let sim = sim().await;
    // The list's Last-Modified is the simulated today: pinned, so the date below holds.
    sim.set_today(Some("2026-11-24".parse().unwrap()));
    // A proxy strips the list's ETag: only its Last-Modified can revalidate it.
    sim.add_fault(sentinel_sim::FaultSpec {
        no_etag: true,
        ..fault("/top-pypi-packages.min.json")
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let mut cfg = store_config(&sim, &path);
    // The caller waits for the refresh, so it sees the 304.
    cfg.stale_while_revalidate = false;
    let engine = engine_with(cfg).await;
    let top = engine.top_packages(5).await.unwrap();
    assert_eq!(top.provenance, Provenance::Live);
    // In memory: past its TTL, the refresh asks If-Modified-Since and gets a 304.
    engine.age_cache(25 * HOURS);
    let top = engine.top_packages(5).await.unwrap();
    assert_eq!(top.provenance, Provenance::Revalidated);
    engine.shutdown().await;
    let c = rusqlite::Connection::open(&path).unwrap();
    let (etag, lm): (Option<String>, Option<String>) = c
        .query_row(
            "SELECT etag, last_modified FROM documents WHERE key = 'top-packages'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(etag, None);
    assert_eq!(lm.as_deref(), Some("Tue, 24 Nov 2026 00:00:00 GMT"));
    drop(c);

    // After a restart a day later, from disk: the kept Last-Modified revalidates it.
    age_kept(&path, 25 * HOURS);
    let engine = engine_with(store_config(&sim, &path)).await;
    let before = hits(&sim, "/top-pypi-packages.min.json");
    let top = engine.top_packages(5).await.unwrap();
    assert_eq!(top.provenance, Provenance::Revalidated);
    assert_eq!(hits(&sim, "/top-pypi-packages.min.json"), before + 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakdown_history_survives_a_restart_and_merges_day_by_day() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let name = PackageName::parse("numpy").unwrap();
    for kind in [StatsKind::PythonMinor, StatsKind::System] {
        let engine = engine_with(store_config(&sim, &path)).await;
        engine.download_breakdown("numpy", kind, 30).await.unwrap();
        engine.shutdown().await;
        let kept = |path: &Path| {
            let mut cfg = EngineConfig::default();
            cfg.store.path = Some(path.to_path_buf());
            let store = Store::open(&cfg);
            let b = store.load_breakdown(&name, kind);
            store.close(Duration::from_secs(5));
            b.expect("a breakdown kept").0
        };
        let first = kept(&path);
        let days = |s: &sentinel_actors::upstream::SeriesDoc| {
            let mut d: Vec<_> = s.data.iter().map(|p| p.date).collect();
            d.sort();
            d.dedup();
            d
        };
        assert_eq!(days(&first).len(), 180, "pypistats' 180 days");
        // As if that run was 30 days ago, with other figures.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute(
            "UPDATE breakdowns SET day = date(day, '-30 days'), downloads = downloads + 7",
            [],
        )
        .unwrap();
        drop(c);

        // A new run fetches the breakdown again (pypistats' current 180 days): the
        // kept document itself is gone (past its retention), the history stays.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute("DELETE FROM documents", []).unwrap();
        drop(c);
        let engine = engine_with(store_config(&sim, &path)).await;
        let fresh = engine.download_breakdown("numpy", kind, 180).await.unwrap();
        assert_eq!(fresh.provenance, Provenance::Live);
        engine.shutdown().await;
        let merged = kept(&path);
        assert_eq!(days(&merged).len(), 210, "history grows past 180 days");
        assert_eq!(merged.categories.len(), first.categories.len());
        // Each category: its 30 oldest days are the earlier run's (shifted, +7); the
        // days both runs have take the newer figure, which is the first fetch's.
        for cat in &first.categories {
            let old = first.category(cat);
            let now = merged.category(cat);
            assert_eq!(now.len(), 210, "{cat}");
            for (i, p) in old.iter().enumerate() {
                assert_eq!(now[30 + i].date, p.date, "{cat}");
                assert_eq!(now[30 + i].downloads, p.downloads, "{cat} {}", p.date);
            }
            for i in 0..30 {
                assert_eq!(
                    now[i].downloads,
                    old[i].downloads + 7,
                    "{cat} {}",
                    now[i].date
                );
            }
        }
        let s = Store::open(&{
            let mut cfg = EngineConfig::default();
            cfg.store.path = Some(path.clone());
            cfg
        });
        assert!(s.flush(Duration::from_secs(5)));
        assert!(s.report().breakdown_points >= 210, "{:?}", s.report());
        s.close(Duration::from_secs(5));
        std::fs::remove_file(&path).unwrap();
        let _ = std::fs::remove_file(dir.path().join("store.sqlite3-wal"));
        let _ = std::fs::remove_file(dir.path().join("store.sqlite3-shm"));
    }
}

// ---- crash safety -------------------------------------------------------------------

const CHILD_ENV: &str = "SENTINEL_STORE_CRASH_CHILD_DB";

/// Not a test on its own: the child of the kill -9 test, which re-runs this binary
/// with `CHILD_ENV` set. It writes batches as fast as it can until it is killed.
#[test]
fn crash_child_writer_runs_only_when_asked() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut cfg = EngineConfig::default();
    cfg.store.path = Some(PathBuf::from(path));
    cfg.store.flush_interval_ms = 5;
    let store = Store::open(&cfg);
    assert!(store.is_active(), "{:?}", store.report());
    let daily: Vec<(String, u64)> = (1..=28).map(|d| (format!("2026-02-{d:02}"), d)).collect();
    for round in 0u64.. {
        for i in 0..200u64 {
            let name = PackageName::parse(&format!("pkg-{}", (round * 200 + i) % 5000)).unwrap();
            let doc = Arc::new(Document::Pepy(PepyDoc {
                id: name.as_str().to_string(),
                total_downloads: round,
                daily: daily.clone(),
            }));
            let entry = KeptDocument {
                doc,
                etag: None,
                last_modified: None,
                fetched_at_wall: std::time::SystemTime::now(),
                freshness: Default::default(),
            };
            store.put_document(&Query::Pepy(name), &entry);
        }
        store.flush(Duration::from_secs(10));
        println!("committed {round}");
    }
}

#[test]
fn kill_9_during_heavy_writes_leaves_a_file_that_opens_and_passes_integrity_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let exe = std::env::current_exe().unwrap();
    for kill_after in [0u64, 1, 3, 2, 5, 1, 4, 0] {
        let mut child = Command::new(&exe)
            .args([
                "crash_child_writer_runs_only_when_asked",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut seen = false;
        for line in out.lines() {
            let line = line.unwrap();
            // libtest may print the test's name on the same line as the first one.
            if line.ends_with(&format!("committed {kill_after}")) {
                seen = true;
                break;
            }
        }
        assert!(seen, "the child wrote batches");
        child.kill().unwrap(); // SIGKILL: mid-way through the next batch
        child.wait().unwrap();

        let c = rusqlite::Connection::open(&path).unwrap();
        let check: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let docs: i64 = c
            .query_row("SELECT COUNT(*) FROM documents", [], |r| r.get(0))
            .unwrap();
        assert!(docs >= 200, "committed batches survive: {docs}");
    }
    let mut cfg = EngineConfig::default();
    cfg.store.path = Some(path);
    let store = Store::open(&cfg);
    assert!(store.is_active(), "{:?}", store.report());
    assert!(store.report().warning.is_none());
    // What was committed before the kills answers as a copy from disk.
    let q = Query::Pepy(PackageName::parse("pkg-0").unwrap());
    let kept = store
        .load(&q, tokio::time::Instant::now())
        .expect("a document committed before the kills reads back");
    assert!(matches!(kept.kept.doc.as_ref(), Document::Pepy(_)));
}

// ---- the files under the running store: size cap, deleted, made immutable --------

/// A store on `path` alone (no engine), writing every few milliseconds.
fn bare_store(path: &Path, max_bytes: u64) -> Store {
    let mut cfg = EngineConfig::default();
    cfg.store.path = Some(path.to_path_buf());
    cfg.store.max_bytes = max_bytes;
    cfg.store.flush_interval_ms = 5;
    let store = Store::open(&cfg);
    assert!(store.is_active(), "{:?}", store.report());
    store
}

/// Keeps `count` metadata documents of about 11 KB each, named from `first` (a kind
/// with no daily series, so documents are all the store holds).
fn keep_documents(store: &Store, first: u64, count: u64) {
    let requires: Vec<String> = (0..300).map(|d| format!("dep-{d:03}>=1.0,<2")).collect();
    for i in first..first + count {
        let name = PackageName::parse(&format!("pkg-{i}")).unwrap();
        let version = sentinel_actors::PackageVersion::parse("1.0").unwrap();
        let doc = Arc::new(Document::Metadata(
            sentinel_actors::upstream::ReleaseMetadata {
                name: name.as_str().to_string(),
                version: "1.0".into(),
                requires_dist: requires.clone(),
                requires_python: None,
                provides_extra: vec![],
                ..Default::default()
            },
        ));
        let entry = KeptDocument {
            doc,
            etag: None,
            last_modified: None,
            fetched_at_wall: std::time::SystemTime::now(),
            freshness: Default::default(),
        };
        let url = format!("/files/{i}/pkg-{i}-1.0-py3-none-any.whl");
        store.put_document(&Query::CoreMetadata(name, version, url.into()), &entry);
    }
}

fn side_file(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(ext);
    PathBuf::from(s)
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

#[test]
fn heavy_writes_keep_the_database_and_its_wal_under_the_size_cap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let cap = 8 * 1024 * 1024;
    let store = bare_store(&path, cap);
    // About 26 MB of documents through an 8 MiB store, in batches like a busy server's.
    let mut worst = 0;
    for round in 0..12 {
        keep_documents(&store, round * 200, 200);
        assert!(store.flush(Duration::from_secs(30)));
        let (db, wal) = (file_len(&path), file_len(&side_file(&path, "-wal")));
        worst = worst.max(db + wal);
        let r = store.report();
        assert_eq!(r.size_bytes, db + wal, "the report counts the WAL");
        assert!(
            db + wal <= cap,
            "round {round}: database {db} + WAL {wal} = {} bytes on disk, cap {cap}",
            db + wal
        );
    }
    let r = store.report();
    assert!(r.documents > 100, "still keeps documents: {r:?}");
    assert_eq!(r.errors, 0, "{r:?}");
    eprintln!("largest database + WAL after a batch: {worst} bytes (cap {cap})");
    store.close(Duration::from_secs(5));
}

#[test]
fn a_store_file_deleted_while_running_is_reported_and_writes_stop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let store = bare_store(&path, 64 * 1024 * 1024);
    keep_documents(&store, 0, 10);
    assert!(store.flush(Duration::from_secs(10)));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(side_file(&path, ext));
    }
    keep_documents(&store, 10, 10);
    assert!(store.flush(Duration::from_secs(10)));
    let r = store.report();
    assert_eq!(r.state, StoreState::MemoryOnly, "{r:?}");
    let warning = r.warning.clone().unwrap_or_default();
    assert!(
        warning.contains("was deleted while running") && warning.contains("restart"),
        "{warning}"
    );
    assert!(
        r.dropped_writes >= 10,
        "the writes after it are counted: {r:?}"
    );
    assert!(r.summary().contains("memory-only"), "{}", r.summary());
    // Nothing is read back from a file nobody can see any more.
    let q = Query::CoreMetadata(
        PackageName::parse("pkg-0").unwrap(),
        sentinel_actors::PackageVersion::parse("1.0").unwrap(),
        "/files/0/pkg-0-1.0-py3-none-any.whl".into(),
    );
    assert!(store.load(&q, tokio::time::Instant::now()).is_none());
    store.close(Duration::from_secs(5));
    assert!(!path.exists(), "no file is made behind the operator's back");
}

/// The immutable attribute on some files, taken off again when dropped.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(files: &[PathBuf]) -> Option<Self> {
        let mut done = Immutable(Vec::new());
        for f in files {
            let ok = Command::new("chattr")
                .arg("+i")
                .arg(f)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return None;
            }
            done.0.push(f.clone());
        }
        Some(done)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for f in &self.0 {
            let _ = Command::new("chattr").arg("-i").arg(f).status();
        }
    }
}

#[test]
fn store_files_made_immutable_while_running_stop_writes_and_shut_down_without_sigbus() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let store = bare_store(&path, 64 * 1024 * 1024);
    keep_documents(&store, 0, 10);
    assert!(store.flush(Duration::from_secs(10)));
    let files: Vec<PathBuf> = ["", "-wal", "-shm"]
        .iter()
        .map(|e| side_file(&path, e))
        .collect();
    // Written back first: SQLite's next write to its memory map of the -shm file then
    // faults, and the kernel answers a fault on an immutable file with SIGBUS.
    let _ = Command::new("sync").args(&files).status();
    let Some(_guard) = Immutable::set(&files) else {
        eprintln!("skipped: `chattr +i` does not work here (not root, or the file system)");
        return;
    };
    keep_documents(&store, 10, 10);
    assert!(store.flush(Duration::from_secs(10)));
    let r = store.report();
    assert_eq!(r.state, StoreState::MemoryOnly, "{r:?}");
    let warning = r.warning.clone().unwrap_or_default();
    assert!(
        warning.contains("read-only or immutable") && warning.contains("-shm"),
        "{warning}"
    );
    assert!(r.dropped_writes >= 10, "{r:?}");
    // The shutdown that used to end in SIGBUS.
    store.close(Duration::from_secs(5));
    drop(store);
}
