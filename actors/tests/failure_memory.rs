//! A document whose upstream failed a moment ago answers the next callers with that
//! failure for `cache.failure_ttl_ms`, instead of each caller asking the failing
//! upstream again until its breaker opens; a held stale copy is still preferred.
//!
//! On a paused clock: the remembered failure's expiry is on tokio's clock.

mod common;

use std::time::Duration;

use common::*;
use sentinel_actors::{
    EngineConfig, ErrorCode, PackageName, Provenance, Query, QueryError, Upstream,
};
use sentinel_sim::SimHandle;

const FAILURE_TTL_MS: u64 = 5_000;

fn remembering(sim: &SimHandle) -> EngineConfig {
    let mut cfg = test_config(sim);
    cfg.cache.failure_ttl_ms = FAILURE_TTL_MS;
    for up in Upstream::ALL {
        // One request per fetch, so that the simulator's count is the fetch count.
        cfg.upstreams.get_mut(up).retry.max_retries = 0;
    }
    cfg.timeouts.attempt_ms = 10_000;
    cfg.timeouts.deadline_ms = 15_000;
    cfg
}

fn a_package(sim: &SimHandle) -> String {
    sim.package_names().into_iter().next().expect("a package")
}

#[tokio::test(start_paused = true)]
async fn sixteen_callers_of_a_failing_document_send_one_request_within_the_failure_ttl() {
    let sim = sim().await;
    let engine = engine_with(remembering(&sim)).await;
    sim.add_fault(status_fault("/api/v2/projects/**", 500));
    let name = PackageName::parse(&a_package(&sim)).unwrap();
    let q = Query::Pepy(name);
    for call in 1..=16 {
        let e = engine
            .document(q.clone())
            .await
            .expect_err("the upstream fails");
        assert!(
            matches!(e, QueryError::Unavailable { .. }),
            "call {call}: {e}"
        );
        assert_eq!(e.code(), ErrorCode::Unavailable, "call {call}: {e}");
        assert_eq!(hits(&sim, "/api/v2/projects/**"), 1, "call {call}");
    }
    assert_eq!(
        engine.metrics().breaker_transitions,
        0,
        "one failure is not an outage"
    );

    // Past the failure TTL the upstream is asked again.
    tokio::time::advance(Duration::from_millis(FAILURE_TTL_MS + 1)).await;
    let _ = engine.document(q.clone()).await;
    assert_eq!(hits(&sim, "/api/v2/projects/**"), 2);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn recent_downloads_with_pypistats_and_pepy_failing_ask_each_once_for_sixteen_calls() {
    let sim = sim().await;
    let engine = engine_with(remembering(&sim)).await;
    sim.add_fault(status_fault("/api/packages/**", 500));
    sim.add_fault(status_fault("/api/v2/projects/**", 500));
    let name = a_package(&sim);
    let _ = engine.recent_downloads(&name).await;
    let (stats, pepy) = (
        hits(&sim, "/api/packages/**"),
        hits(&sim, "/api/v2/projects/**"),
    );
    assert!(stats >= 1, "pypistats was asked");
    for _ in 2..=16 {
        let _ = engine.recent_downloads(&name).await;
    }
    assert_eq!(
        hits(&sim, "/api/packages/**"),
        stats,
        "calls 2 to 16 sent pypistats nothing"
    );
    assert_eq!(hits(&sim, "/api/v2/projects/**"), pepy);

    tokio::time::advance(Duration::from_millis(FAILURE_TTL_MS + 1)).await;
    let _ = engine.recent_downloads(&name).await;
    assert!(
        hits(&sim, "/api/packages/**") > stats,
        "past the TTL pypistats is asked again"
    );
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_remembered_failure_still_answers_with_the_stale_copy_when_one_is_held() {
    let sim = sim().await;
    let engine = engine_with(remembering(&sim)).await;
    let name = PackageName::parse(&a_package(&sim)).unwrap();
    let q = Query::Pepy(name);
    engine.document(q.clone()).await.expect("a first copy");
    engine.age_cache(48 * HOURS);
    sim.add_fault(status_fault("/api/v2/projects/**", 500));
    // The first call after the outage starts is answered stale and refreshes in the
    // background; the refresh fails and is remembered.
    let _ = engine.document(q.clone()).await;
    engine.settle(Duration::from_secs(5)).await;
    let sent = hits(&sim, "/api/v2/projects/**");
    for _ in 0..5 {
        let a = engine.document(q.clone()).await.expect("the stale copy");
        assert!(
            matches!(a.provenance, Provenance::Stale { .. }),
            "{:?}",
            a.provenance
        );
    }
    engine.settle(Duration::from_secs(5)).await;
    assert_eq!(
        hits(&sim, "/api/v2/projects/**"),
        sent,
        "the failing upstream was not asked again"
    );
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn not_found_is_not_remembered_as_a_failure() {
    let sim = sim().await;
    let engine = engine_with(remembering(&sim)).await;
    let q = Query::Project(PackageName::parse("no-such-package-xyz").unwrap());
    for call in 1..=2 {
        let e = engine.document(q.clone()).await.expect_err("not found");
        assert_eq!(e.code(), ErrorCode::NotFound, "call {call}");
    }
    assert_eq!(
        hits(&sim, "/pypi/no-such-package-xyz/json"),
        2,
        "a 404 is an answer: asked again (a package may be published any time)"
    );
    engine.shutdown().await;
}
