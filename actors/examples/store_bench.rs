//! A small, bounded measurement of the store: the writer's throughput, the cost of a
//! read on a miss, and the time to start an engine on a store of N documents.
//!
//! `cargo run --release -p sentinel-actors --features internals --example store_bench [N]`
//! (N defaults to 100,000). Writes a temporary file, removed at the end.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sentinel_actors::store::Store;
use sentinel_actors::upstream::{Document, SimpleDoc, SimpleFile, Yanked};
use sentinel_actors::{Engine, EngineConfig, PackageName, Query};

fn doc(name: &str) -> Arc<Document> {
    Arc::new(Document::Simple(SimpleDoc {
        name: name.into(),
        versions: (0..10).map(|v| format!("1.{v}.0")).collect(),
        files: (0..10)
            .map(|v| SimpleFile {
                filename: format!("{name}-1.{v}.0-py3-none-any.whl"),
                upload_time: Some("2026-01-01T00:00:00.000000Z".into()),
                yanked: Yanked::Flag(false),
                size: Some(12_345),
            })
            .collect(),
    }))
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("sentinel-store-bench-{}", std::process::id()));
    let mut cfg = EngineConfig::default();
    cfg.store.path = Some(dir.join("store.sqlite3"));

    // Writer throughput: N documents queued as fast as the queue takes them.
    let store = Store::open(&cfg);
    assert!(store.is_active(), "{:?}", store.report());
    let names: Vec<PackageName> = (0..n)
        .map(|i| PackageName::parse(&format!("package-{i}")).unwrap())
        .collect();
    let t = Instant::now();
    let mut sent = 0;
    for chunk in names.chunks(2_000) {
        for name in chunk {
            store.put_document(
                &Query::Simple(name.clone()),
                doc(name.as_str()),
                Some("\"etag\"".into()),
                SystemTime::now(),
            );
            sent += 1;
        }
        // The queue is bounded (drops when full): wait for each chunk to commit.
        store.flush(Duration::from_secs(60));
    }
    let took = t.elapsed();
    let r = store.report();
    println!(
        "writer: {sent} documents in {:.2} s = {:.0} documents/s ({} dropped), file {:.1} MiB",
        took.as_secs_f64(),
        sent as f64 / took.as_secs_f64(),
        r.dropped_writes,
        r.size_bytes as f64 / 1048576.0
    );

    // A read on a miss: one point read and decode.
    let t = Instant::now();
    let reads = 2_000;
    let mut found = 0;
    for i in 0..reads {
        let q = Query::Simple(names[(i * 7919) % n].clone());
        found += usize::from(store.load(&q, tokio::time::Instant::now()).is_some());
    }
    let per = t.elapsed() / reads as u32;
    println!("read on a miss: {per:?} per document ({found}/{reads} found)");
    store.close(Duration::from_secs(30));

    // Start time with the store: Engine::start to ready.
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let engine = Engine::start(cfg.clone()).await.unwrap();
        let ready = engine.readiness().ready;
        let took = t.elapsed();
        times.push(took);
        assert!(ready || took < Duration::from_secs(5));
        engine.shutdown().await;
    }
    times.sort();
    let mut off = cfg.clone();
    off.store.path = None;
    let t = Instant::now();
    let engine = Engine::start(off).await.unwrap();
    let without = t.elapsed();
    engine.shutdown().await;
    println!(
        "start with {n} documents: median {:?} (min {:?}, max {:?}); without a store {:?}",
        times[2], times[0], times[4], without
    );
    let _ = std::fs::remove_dir_all(&dir);
}
