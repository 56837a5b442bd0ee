//! The store is a cache: a new process (a new engine on the same store file) answers
//! from disk what is still as fresh as its upstream said, without asking; revalidates
//! only what is past it; and never asks twice for metadata read from a file the index
//! names by its sha256. The resolver's prefetch asks for each document once.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use sentinel_actors::resolver::{Resolution, ResolutionStatus, ResolveRequest};
use sentinel_actors::{EngineConfig, Provenance, SourceLabel};
use sentinel_sim::{IndexProfile, Sim, SimConfig, SimHandle};

fn tree() -> ResolveRequest {
    let mut r = ResolveRequest::new(["sg-tree-00"]);
    r.target.python_version = Some("3.12".into());
    r.target.platform = Some("linux".into());
    r.vulnerabilities = false;
    r
}

fn store_config(sim: &SimHandle, path: &Path) -> EngineConfig {
    let mut cfg = test_config(sim);
    cfg.store.path = Some(path.to_path_buf());
    // Room for a debug build on a busy machine: these tests count requests, not time.
    cfg.timeouts.deadline_ms = 15_000;
    cfg
}

/// Makes every kept copy look `by` older, as if the next process came that much later.
fn age_kept(path: &Path, by: Duration) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute(
        "UPDATE documents SET fetched_at = fetched_at - ?1",
        [by.as_millis() as i64],
    )
    .unwrap();
}

fn resolved(r: &Resolution) {
    assert_eq!(r.status, ResolutionStatus::Resolved, "{r:#?}");
    assert_eq!(r.packages.len(), 40);
}

/// A first process: resolves the tree, leaves it on disk.
async fn first_process(sim: &SimHandle, path: &Path) -> Resolution {
    let engine = engine_with(store_config(sim, path)).await;
    let r = engine.resolve(&tree()).await.unwrap();
    resolved(&r);
    assert!(engine.flush_store(Duration::from_secs(5)).await);
    engine.shutdown().await;
    sim.reset_stats();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_resolves_with_no_request_while_everything_is_fresh() {
    for profile in [IndexProfile::Pypi, IndexProfile::SimpleHtml] {
        let sim = Sim::start(SimConfig {
            index_profile: profile,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let first = first_process(&sim, &path).await;
        let engine = engine_with(store_config(&sim, &path)).await;
        let r = engine.resolve(&tree()).await.unwrap();
        resolved(&r);
        let pins = |r: &Resolution| -> Vec<String> {
            r.packages
                .iter()
                .map(|p| format!("{}=={}", p.name, p.version))
                .collect()
        };
        assert_eq!(pins(&r), pins(&first), "{profile:?}");
        assert_eq!(r.source, SourceLabel::Cached, "{profile:?}: {r:#?}");
        assert_eq!(
            sim.stats().total,
            0,
            "{profile:?}: {:?}",
            sim.stats().routes
        );
        engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_copy_past_its_freshness_is_revalidated_once() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let engine = engine_with(store_config(&sim, &path)).await;
    engine.package_info("numpy", None).await.unwrap();
    assert!(engine.flush_store(Duration::from_secs(5)).await);
    engine.shutdown().await;

    // Within PyPI's max-age (15 min): answered from disk as cached, with its age.
    sim.reset_stats();
    let engine = engine_with(store_config(&sim, &path)).await;
    let info = engine.package_info("numpy", None).await.unwrap();
    assert_eq!(info.provenance, Provenance::Cached);
    assert_eq!(sim.stats().total, 0);
    engine.shutdown().await;

    // Past it: asked once, with the kept ETag; the simulator answers 304.
    age_kept(&path, HOURS);
    sim.reset_stats();
    let engine = engine_with(store_config(&sim, &path)).await;
    let info = engine.package_info("numpy", None).await.unwrap();
    assert_eq!(info.provenance, Provenance::Revalidated);
    let again = engine.package_info("numpy", None).await.unwrap();
    assert_eq!(again.provenance, Provenance::Cached);
    assert_eq!(hits(&sim, "/pypi/numpy/json"), 1);
    assert_eq!(sim.stats().total, 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_named_by_its_files_sha256_is_never_asked_for_again_even_past_its_ttl() {
    for profile in [IndexProfile::Pypi, IndexProfile::SimpleHtml] {
        let sim = Sim::start(SimConfig {
            index_profile: profile,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        first_process(&sim, &path).await;
        // Past the metadata TTL (30 days) and the stale retention (7 days).
        age_kept(&path, 60 * 24 * HOURS);
        let engine = engine_with(store_config(&sim, &path)).await;
        let r = engine.resolve(&tree()).await.unwrap();
        resolved(&r);
        // Only the pages are asked again (each once); no metadata, no wheel.
        assert_eq!(
            hits(&sim, "/files/**"),
            0,
            "{profile:?}: {:?}",
            sim.stats().routes
        );
        assert_eq!(hits(&sim, "/simple/**"), 40, "{profile:?}");
        assert_eq!(sim.stats().total, 40, "{profile:?}");
        engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prefetch_pipeline_asks_for_each_document_once() {
    for profile in [IndexProfile::Pypi, IndexProfile::SimpleHtml] {
        let sim = Sim::start(SimConfig {
            index_profile: profile,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let mut cfg = test_config(&sim);
        cfg.timeouts.deadline_ms = 15_000;
        let engine = engine_with(cfg).await;
        let r = engine.resolve(&tree()).await.unwrap();
        resolved(&r);
        let stats = sim.stats();
        assert_eq!(hits(&sim, "/simple/**"), 40, "{profile:?}");
        if profile == IndexProfile::Pypi {
            // One metadata file per package, and nothing else.
            assert_eq!(stats.total, 80, "{:?}", stats.routes);
            assert!(stats.routes.values().all(|n| *n == 1), "{:?}", stats.routes);
        } else {
            // Range reads of one wheel per package (a few ranges of the same file).
            assert!(hits(&sim, "/files/**") >= 40, "{:?}", stats.routes);
            let wheels = stats
                .routes
                .keys()
                .filter(|k| k.starts_with("/files/"))
                .count();
            assert_eq!(wheels, 40, "{:?}", stats.routes);
            // The index has no JSON API: asked once (the root's release), then wheels first.
            assert_eq!(hits(&sim, "/pypi/**"), 1, "{:?}", stats.routes);
        }
        engine.shutdown().await;
    }
}
