//! A document is fresh for as long as its upstream's `Cache-Control` says (counted from
//! its wall-clock fetch time, in memory and on disk), within a clamp; without the
//! header, its kind's TTL. Time moves on a driven clock; nothing waits on the wall
//! clock, and every expectation is a count of the simulator's requests.

mod common;

use std::time::Duration;

use common::*;
use sentinel_actors::{EngineConfig, EngineHandle, Provenance, UtcClock};
use sentinel_sim::{FaultSpec, Sim, SimConfig, SimHandle};

const MIN: u64 = 60_000;

fn cache_control(route: &str, value: &str) -> FaultSpec {
    FaultSpec {
        cache_control: Some(value.into()),
        ..fault(route)
    }
}

async fn info(engine: &EngineHandle, name: &str) -> Provenance {
    engine.package_info(name, None).await.unwrap().provenance
}

fn config(sim: &SimHandle, clock: UtcClock) -> EngineConfig {
    let mut cfg = test_config(sim);
    cfg.clock = clock;
    cfg.stale_while_revalidate = false;
    // A TTL unlike any max-age below, so each answer shows which rule decided.
    cfg.cache.project_json_ttl_ms = 2 * MIN;
    cfg.cache.max_upstream_fresh_ms = 60 * MIN;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_copy_is_fresh_for_the_max_age_its_upstream_gave_within_the_clamp() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    sim.add_fault(cache_control("/pypi/black/json", "max-age=30"));
    sim.add_fault(cache_control("/pypi/pytest/json", "max-age=999999999"));
    sim.add_fault(cache_control("/pypi/django/json", "no-cache, max-age=900"));
    sim.add_fault(cache_control("/pypi/coverage/json", "max-age=ten"));
    let (clock, hand) = UtcClock::driven();
    let engine = engine_with(config(&sim, clock)).await;
    for name in ["numpy", "black", "pytest", "django", "coverage"] {
        assert_eq!(info(&engine, name).await, Provenance::Live, "{name}");
    }
    // no-cache: asked about again at once.
    assert_eq!(info(&engine, "django").await, Provenance::Revalidated);
    assert_eq!(hits(&sim, "/pypi/django/json"), 2);

    // 45 s: past black's max-age=30 (the 2-minute TTL would still call it fresh).
    hand.advance(Duration::from_secs(45));
    assert_eq!(info(&engine, "black").await, Provenance::Revalidated);
    assert_eq!(hits(&sim, "/pypi/black/json"), 2);
    assert_eq!(info(&engine, "coverage").await, Provenance::Cached);

    // 5 minutes: within PyPI's own max-age=900 (sent by the simulator as PyPI does),
    // past the TTL: answered from the cache, nothing asked.
    hand.advance(Duration::from_secs(5 * 60));
    assert_eq!(info(&engine, "numpy").await, Provenance::Cached);
    assert_eq!(hits(&sim, "/pypi/numpy/json"), 1);
    // A malformed header: the TTL stands, so it is past its freshness.
    assert_eq!(info(&engine, "coverage").await, Provenance::Revalidated);
    assert_eq!(hits(&sim, "/pypi/coverage/json"), 2);

    // 61 minutes: a hostile max-age=999999999 is clamped to the hour configured.
    hand.advance(Duration::from_secs(56 * 60));
    assert_eq!(info(&engine, "pytest").await, Provenance::Revalidated);
    assert_eq!(hits(&sim, "/pypi/pytest/json"), 2);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_on_disk_keeps_its_max_age_from_its_fetch_time_and_no_store_is_never_kept() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    sim.add_fault(cache_control("/pypi/django/json", "no-store"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let with_store = |clock: UtcClock| {
        let mut cfg = config(&sim, clock);
        cfg.store.path = Some(path.clone());
        cfg
    };
    let engine = engine_with(with_store(UtcClock::default())).await;
    assert_eq!(info(&engine, "numpy").await, Provenance::Live);
    assert_eq!(info(&engine, "django").await, Provenance::Live);
    engine.shutdown().await;

    // A new process, 5 minutes later by its clock: past the 2-minute TTL, within the
    // max-age=900 the copy was fetched with: answered from disk, nothing asked.
    let (clock, hand) = UtcClock::driven();
    hand.advance(Duration::from_secs(5 * 60));
    let engine = engine_with(with_store(clock)).await;
    assert_eq!(info(&engine, "numpy").await, Provenance::Cached);
    assert_eq!(hits(&sim, "/pypi/numpy/json"), 1);
    // no-store: nothing was kept, so it is fetched again.
    assert_eq!(info(&engine, "django").await, Provenance::Live);
    assert_eq!(hits(&sim, "/pypi/django/json"), 2);
    engine.shutdown().await;

    // 16 minutes after the fetch: past its max-age, asked again.
    let (clock, hand) = UtcClock::driven();
    hand.advance(Duration::from_secs(16 * 60));
    let engine = engine_with(with_store(clock)).await;
    assert_ne!(info(&engine, "numpy").await, Provenance::Cached);
    assert_eq!(hits(&sim, "/pypi/numpy/json"), 2);
    engine.shutdown().await;
}
