//! A small, bounded measurement of the store: the writer's throughput, the cost of a
//! read on a miss, the time to start an engine on a store of N documents, and the
//! miss path (a project JSON fetched from the simulator) with and without a store,
//! measured in one run, alternating.
//!
//! `cargo run --release -p sentinel-actors --features internals --example store_bench [N]
//! [--miss-only] [--rounds R]` (N defaults to 100,000; R, the rounds of the miss path,
//! to 3). Writes a temporary file, removed at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sentinel_actors::store::{KeptDocument, Store};
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
                ..Default::default()
            })
            .collect(),
    }))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let dir = std::env::temp_dir().join(format!("sentinel-store-bench-{}", std::process::id()));
    if args.iter().any(|a| a == "--miss-only") {
        miss_path(&dir, rounds).await;
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
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
            let entry = KeptDocument {
                doc: doc(name.as_str()),
                etag: Some("\"etag\"".into()),
                last_modified: None,
                fetched_at_wall: std::time::SystemTime::now(),
                freshness: Default::default(),
            };
            store.put_document(&Query::Simple(name.clone()), &entry);
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
    miss_path(&dir, rounds).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Misses of the same documents on two engines, one with a (new) store and one
/// without, alternating in chunks so drift hits both alike; `rounds` times, each with
/// new engines (and a new store file), the engine going first alternating.
async fn miss_path(dir: &std::path::Path, rounds: usize) {
    let sim = sentinel_sim::Sim::start(sentinel_sim::SimConfig {
        synthetic: 1_000,
        ..Default::default()
    })
    .await
    .unwrap();
    let names: Vec<String> = sim
        .package_names()
        .into_iter()
        .filter(|n| n.starts_with("synth"))
        .collect();
    let base = |store: Option<std::path::PathBuf>| {
        let mut c = EngineConfig::default().with_origin(&sim.base_url());
        for up in sentinel_actors::Upstream::ALL {
            c.upstreams.get_mut(up).rate_limit = None;
        }
        c.store.path = store;
        c
    };
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let mean = |v: &Vec<Duration>| v.iter().sum::<Duration>() / v.len() as u32;
    let (mut all_with, mut all_without) = (Vec::new(), Vec::new());
    let mut engines = None;
    for round in 0..rounds {
        if let Some((w, o)) = engines.take() {
            let (w, o): (sentinel_actors::EngineHandle, sentinel_actors::EngineHandle) = (w, o);
            w.shutdown().await;
            o.shutdown().await;
        }
        let file = dir.join(format!("miss-{round}.sqlite3"));
        let with = Engine::start(base(Some(file))).await.unwrap();
        let without = Engine::start(base(None)).await.unwrap();
        let (mut t_with, mut t_without) = (Vec::new(), Vec::new());
        for chunk in names.chunks(50) {
            let mut order = [(&with, &mut t_with), (&without, &mut t_without)];
            if round % 2 == 1 {
                order.reverse();
            }
            for (engine, times) in order {
                for n in chunk {
                    let t = Instant::now();
                    engine.package_info(n, None).await.unwrap();
                    times.push(t.elapsed());
                }
            }
        }
        let (mw, mo) = (mean(&t_with), mean(&t_without));
        println!(
            "miss path round {round} over {} project documents: with a store median {:?} mean {mw:?}; without median {:?} mean {mo:?}; mean ratio {:.3}",
            t_with.len(),
            median(&mut t_with.clone()),
            median(&mut t_without.clone()),
            mw.as_secs_f64() / mo.as_secs_f64()
        );
        all_with.extend(t_with);
        all_without.extend(t_without);
        engines = Some((with, without));
    }
    let (mw, mo) = (mean(&all_with), mean(&all_without));
    let (dw, d0) = (median(&mut all_with), median(&mut all_without));
    println!(
        "miss path, all rounds ({} each): with a store median {dw:?} mean {mw:?}; without median {d0:?} mean {mo:?}; mean ratio {:.3}, median ratio {:.3}",
        all_with.len(),
        mw.as_secs_f64() / mo.as_secs_f64(),
        dw.as_secs_f64() / d0.as_secs_f64()
    );
    let Some((with, without)) = engines else {
        return;
    };
    let names: Vec<String> = names.into_iter().collect();
    // The writer's work is off the callers' path but not free on a small machine:
    // let it finish before timing fresh hits.
    with.flush_store(Duration::from_secs(60)).await;
    // Fresh hits: the store must not be on this path at all.
    let (mut h_with, mut h_without) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..10 {
        for (engine, total) in [(&with, &mut h_with), (&without, &mut h_without)] {
            let t = Instant::now();
            for n in names.iter().take(1_000) {
                engine.package_info(n, None).await.unwrap();
            }
            *total += t.elapsed();
        }
    }
    println!(
        "fresh hit (package_info, 10,000 calls each): with a store {:?}/call, without {:?}/call",
        h_with / 10_000,
        h_without / 10_000
    );
    with.shutdown().await;
    without.shutdown().await;
}
