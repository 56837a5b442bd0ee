//! Dropping the engine without `shutdown()`: the drop never holds a tokio thread while
//! the store's writer finishes, and what was written before it still reaches the file.

mod common;

use std::path::Path;
use std::time::Instant;

use common::*;

/// Documents committed to the store file at `path`, read through a new connection.
fn documents_on_disk(path: &Path) -> i64 {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row("SELECT count(*) FROM documents", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn engine_dropped_on_a_current_thread_runtime_does_not_wait_for_the_store_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (committed_at_drop, drop_took) = rt.block_on(async {
        let sim = sim().await;
        let mut cfg = test_config(&sim);
        cfg.store.path = Some(path.clone());
        // The writer sleeps out this window before committing its batch: a drop that
        // waited for the writer would return only after the commit.
        cfg.store.flush_interval_ms = 1_500;
        let engine = engine_with(cfg).await;
        engine.package_info("numpy", None).await.unwrap();
        let t = Instant::now();
        drop(engine);
        let took = t.elapsed();
        (documents_on_disk(&path), took)
    });
    // A figure, not a bound: the drop itself, on the runtime's only thread.
    eprintln!(
        "engine drop on a current-thread runtime took {drop_took:?}; committed at drop: {committed_at_drop}"
    );
    assert_eq!(
        committed_at_drop, 0,
        "the drop returned only after the writer committed: it blocked the runtime's thread"
    );
    // The runtime's own drop waits for the join handed to its blocking pool.
    drop(rt);
    assert!(
        documents_on_disk(&path) >= 1,
        "the write queued before the drop is not in the reopened store file"
    );
}
