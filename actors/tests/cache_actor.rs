//! The CacheActor: the write side of the cache tiers. A fill is acked before the
//! flight answers (one upstream fetch per document, even for a caller arriving while
//! the fill is pending), a crash loses no fill and stops no fresh hit, and hot PyPI
//! documents are refreshed before they go stale without spending the rate limit
//! callers need. Each test is named after what it pins; none sleeps: they wait on the
//! simulator's request counts and the engine's own counters.

mod common;

use std::future::Future;
use std::time::Duration;

use common::*;
use sentinel_actors::{ActorKind, EngineHandle, Provenance, RateLimitConfig, Upstream};

/// Waits (yielding, never sleeping) until `cond` holds; the timeout only guards
/// against a hang.
async fn until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let wait = async {
        while !cond().await {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

async fn restarted(engine: &EngineHandle, n: u64) {
    until("the actor's restart", || async {
        engine.metrics().actor_restarts >= n && engine.refresh_ahead_now().await.is_some()
    })
    .await;
}

const NUMPY: &str = "/pypi/numpy/json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_arriving_while_the_fill_is_pending_joins_the_flight_instead_of_fetching_again() {
    let (sim, engine) = setup().await;
    // The fill of the first fetch waits in the CacheActor's mailbox.
    let release = engine.stall_cache_actor().await.expect("cache actor up");
    let first = {
        let e = engine.clone();
        tokio::spawn(async move { e.package_info("numpy", None).await })
    };
    until("the first fetch", || async { hits(&sim, NUMPY) == 1 }).await;
    // The upstream answered, the cache is not filled yet: the fresh lookup misses,
    // and the router must not start a second fetch.
    let second = {
        let e = engine.clone();
        tokio::spawn(async move { e.package_info("numpy", None).await })
    };
    until("the second caller to reach the router", || async {
        engine.metrics().coalesced >= 1
    })
    .await;
    assert!(!first.is_finished(), "answered only once the fill is acked");
    release.send(false).unwrap();
    let (a, b) = (
        first.await.unwrap().unwrap(),
        second.await.unwrap().unwrap(),
    );
    assert_eq!(a.provenance, Provenance::Live);
    assert_eq!(b.provenance, Provenance::Live);
    assert_eq!(hits(&sim, NUMPY), 1, "one document, one upstream fetch");
    // And the fill is there: a fresh hit.
    let c = engine.package_info("numpy", None).await.unwrap();
    assert_eq!(c.provenance, Provenance::Cached);
    assert_eq!(hits(&sim, NUMPY), 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_waiting_in_the_mailbox_of_a_crashing_cache_actor_is_still_applied() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.store.path = Some(dir.path().join("store.sqlite3"));
    let engine = engine_with(cfg).await;
    let release = engine.stall_cache_actor().await.expect("cache actor up");
    let call = {
        let e = engine.clone();
        tokio::spawn(async move { e.package_info("numpy", None).await })
    };
    until("the fetch", || async { hits(&sim, NUMPY) == 1 }).await;
    // The actor panics with the fill still in its mailbox.
    release.send(true).unwrap();
    let got = call.await.unwrap().expect("the caller is answered");
    assert_eq!(got.provenance, Provenance::Live);
    restarted(&engine, 1).await;
    let again = engine.package_info("numpy", None).await.unwrap();
    assert_eq!(
        again.provenance,
        Provenance::Cached,
        "the fill reached memory"
    );
    assert!(engine.flush_store(Duration::from_secs(5)).await);
    let store = engine.health().await.store;
    assert_eq!(store.documents, 1, "and the store: {}", store.summary());
    assert_eq!(hits(&sim, NUMPY), 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_actor_crash_keeps_fresh_hits_serving_and_loses_nothing_the_store_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.store.path = Some(dir.path().join("store.sqlite3"));
    let engine = engine_with(cfg.clone()).await;
    let packages = ["numpy", "django", "pytest"];
    for p in packages {
        engine.package_info(p, None).await.unwrap();
    }
    let before = sim.stats().total;
    engine.inject_actor_panic(ActorKind::Cache);
    // Fresh hits never cross the CacheActor's mailbox: served while it restarts.
    for _ in 0..50 {
        for p in packages {
            let d = engine.package_info(p, None).await.unwrap();
            assert_eq!(d.provenance, Provenance::Cached);
        }
    }
    restarted(&engine, 1).await;
    for p in packages {
        let d = engine.package_info(p, None).await.unwrap();
        assert_eq!(d.provenance, Provenance::Cached);
    }
    assert_eq!(sim.stats().total, before, "no fetch while it restarted");
    // A fill after the restart goes through the new actor.
    engine.package_info("black", None).await.unwrap();
    engine.shutdown().await;
    // Everything filled is on disk after the shutdown (its queue committed).
    let reopened = engine_with(cfg).await;
    assert!(reopened.flush_store(Duration::from_secs(5)).await);
    let store = reopened.health().await.store;
    assert_eq!(store.documents, 4, "{}", store.summary());
    reopened.shutdown().await;
}

/// An engine whose PyPI documents are refreshed ahead after 3 hits, 60 s before they
/// go stale (15 min for project JSON).
async fn refresh_ahead_engine(
    tune: impl FnOnce(&mut sentinel_actors::EngineConfig),
) -> (sentinel_sim::SimHandle, EngineHandle) {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.cache.refresh_ahead_hits = 3;
    cfg.cache.refresh_ahead_ms = 60_000;
    tune(&mut cfg);
    let engine = engine_with(cfg).await;
    (sim, engine)
}

const TTL: Duration = Duration::from_secs(15 * 60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_pypi_document_is_refreshed_before_it_goes_stale_and_a_cold_one_is_not() {
    let (sim, engine) = refresh_ahead_engine(|_| {}).await;
    engine.package_info("numpy", None).await.unwrap();
    engine.package_info("django", None).await.unwrap();
    for _ in 0..3 {
        let d = engine.package_info("numpy", None).await.unwrap();
        assert_eq!(d.provenance, Provenance::Cached);
    }
    // Not yet within the lead: nothing to do.
    assert_eq!(engine.refresh_ahead_now().await, Some(0));
    engine.age_cache(TTL - Duration::from_secs(30));
    assert_eq!(engine.refresh_ahead_now().await, Some(1), "numpy only");
    assert!(engine.settle(Duration::from_secs(10)).await);
    assert_eq!(hits(&sim, NUMPY), 2, "refreshed once");
    assert_eq!(hits(&sim, "/pypi/django/json"), 1, "a cold document waits");
    // Asked once per fetched copy.
    assert_eq!(engine.refresh_ahead_now().await, Some(0));
    // Past the old copy's TTL: numpy is still fresh, django went stale.
    engine.age_cache(Duration::from_secs(60));
    let numpy = engine.package_info("numpy", None).await.unwrap();
    assert_eq!(numpy.provenance, Provenance::Cached);
    let django = engine.package_info("django", None).await.unwrap();
    assert_ne!(django.provenance, Provenance::Cached);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_download_documents_are_never_refreshed_ahead() {
    let (sim, engine) = refresh_ahead_engine(|_| {}).await;
    for _ in 0..5 {
        engine.recent_downloads("numpy").await.unwrap();
    }
    let before = hits(&sim, "/api/packages/**");
    assert!(before >= 1);
    engine.age_cache(Duration::from_secs(23 * 3600 + 59 * 60));
    assert_eq!(engine.refresh_ahead_now().await, Some(0));
    assert!(engine.settle(Duration::from_secs(10)).await);
    assert_eq!(hits(&sim, "/api/packages/**"), before);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_ahead_never_takes_a_rate_limit_slot_a_caller_needs() {
    let (sim, engine) = refresh_ahead_engine(|cfg| {
        // Four a minute: after two fetches, two are left, fewer than a refresh-ahead
        // must leave free for callers (half the per-second quota, here 5).
        cfg.upstreams.get_mut(Upstream::PypiJson).rate_limit = Some(RateLimitConfig {
            per_second: 10,
            per_minute: Some(4),
            burst: None,
        });
    })
    .await;
    engine.package_info("numpy", None).await.unwrap();
    engine.package_info("django", None).await.unwrap();
    for _ in 0..3 {
        engine.package_info("numpy", None).await.unwrap();
    }
    engine.age_cache(TTL - Duration::from_secs(30));
    // The router is asked; the FetchActor declines: no request, no slot taken.
    assert_eq!(engine.refresh_ahead_now().await, Some(1));
    assert!(engine.settle(Duration::from_secs(10)).await);
    assert_eq!(hits(&sim, NUMPY), 1, "not refreshed: no room to spare");
    // The slots are still the callers'.
    for p in ["pytest", "black"] {
        let d = engine.package_info(p, None).await.unwrap();
        assert_eq!(d.provenance, Provenance::Live, "{p}");
    }
    assert_eq!(
        engine.metrics().upstreams[Upstream::PypiJson.index()].deferred,
        0
    );
    engine.shutdown().await;
}
