//! A document whose upstream failed a moment ago answers the next callers with that
//! failure for `cache.failure_ttl_ms`, instead of each caller asking the failing
//! upstream again until its breaker opens; a held stale copy is still preferred.
//!
//! On a paused clock: the remembered failure's expiry is on tokio's clock.

mod common;

use std::time::Duration;

use common::*;
use sentinel_actors::{
    EngineConfig, ErrorCode, PackageName, Provenance, Query, QueryError, RateLimitConfig,
    UnavailableCause, Upstream,
};
use sentinel_sim::{FaultSpec, SimHandle};

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
        // The same typed failure, marked as remembered, saying when to ask again.
        assert!(
            matches!(
                e.cause(),
                Some(UnavailableCause::Status { status: 500, .. })
            ),
            "call {call}: {e}"
        );
        match (call, e.remembered_failure()) {
            (1, None) => {}
            (1, Some(r)) => panic!("the first call asked the upstream: {r:?}"),
            (_, Some(r)) => {
                assert_eq!(r.age, Duration::ZERO, "call {call}: no time passed");
                assert_eq!(r.retry_after, Duration::from_millis(FAILURE_TTL_MS));
                assert_eq!(e.retry_after(), Some(r.retry_after));
                assert!(
                    e.to_string().contains(
                        "remembered from a failed fetch 0 s ago: pepy is asked again in 5 s"
                    ),
                    "{e}"
                );
            }
            (_, None) => panic!("call {call} is not marked as remembered: {e}"),
        }
    }
    assert_eq!(
        engine.metrics().breaker_transitions,
        0,
        "one failure is not an outage"
    );

    // Two seconds on, the memory says how old the failure is.
    tokio::time::advance(Duration::from_secs(2)).await;
    let e = engine.document(q.clone()).await.expect_err("still failing");
    let r = e.remembered_failure().expect("remembered");
    assert_eq!(
        (r.age, r.retry_after),
        (Duration::from_secs(2), Duration::from_secs(3))
    );
    // Past the failure TTL the upstream is asked again (and the failure is its own).
    tokio::time::advance(Duration::from_millis(FAILURE_TTL_MS)).await;
    let e = engine.document(q.clone()).await.expect_err("still failing");
    assert_eq!(e.remembered_failure(), None, "{e}");
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
    let (recent, overall, pepy) = (
        format!("/api/packages/{name}/recent"),
        format!("/api/packages/{name}/overall"),
        format!("/api/v2/projects/{name}"),
    );
    let started = tokio::time::Instant::now();
    for call in 1..=16 {
        let e = engine
            .recent_downloads(&name)
            .await
            .expect_err("no figures and no basis to estimate from");
        assert_eq!(e.code(), ErrorCode::Unavailable, "call {call}: {e}");
        assert_eq!(
            e.remembered_failure().is_some(),
            call > 1,
            "call {call}: {e}"
        );
        // One request to each document for all 16 calls: the figures, the series
        // asked beside them (the estimates' basis) and pepy's.
        assert_eq!(hits(&sim, &recent), 1, "call {call}");
        assert_eq!(hits(&sim, &overall), 1, "call {call}");
        assert_eq!(hits(&sim, &pepy), 1, "call {call}");
    }
    assert_eq!(hits(&sim, "/api/**"), 3);
    // Nothing waited: the remembered failures answered at once (a paused clock).
    assert_eq!(started.elapsed(), Duration::ZERO);

    tokio::time::advance(Duration::from_millis(FAILURE_TTL_MS)).await;
    let _ = engine.recent_downloads(&name).await;
    assert_eq!(
        hits(&sim, &recent),
        2,
        "past the TTL pypistats is asked again"
    );
    assert_eq!(hits(&sim, &pepy), 2, "and so is pepy");
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

#[tokio::test(start_paused = true)]
async fn a_call_deferred_by_our_own_rate_limit_is_never_remembered() {
    let sim = sim().await;
    let mut cfg = remembering(&sim);
    // One slot a second, and a caller waits at most 500 ms for one.
    cfg.upstreams.pepy.rate_limit = Some(RateLimitConfig {
        per_second: 1,
        per_minute: None,
        burst: None,
    });
    cfg.timeouts.answer_budget_ms = 500;
    let engine = engine_with(cfg).await;
    let names: Vec<String> = sim.package_names().into_iter().take(2).collect();
    let (a, b) = (
        Query::Pepy(PackageName::parse(&names[0]).unwrap()),
        Query::Pepy(PackageName::parse(&names[1]).unwrap()),
    );
    engine.document(a).await.expect("the second's one slot");
    for call in 1..=3 {
        let e = engine.document(b.clone()).await.expect_err("deferred");
        assert_eq!(e.code(), ErrorCode::Deferred, "call {call}: {e}");
        assert_eq!(e.remembered_failure(), None, "call {call}: {e}");
    }
    // Once our limit has a slot, the document is there: nothing replayed a deferral.
    // (A sleep on the paused clock: the queued fetch runs while time moves on.)
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = engine.document(b.clone()).await.expect("answered");
    assert!(
        matches!(got.provenance, Provenance::Live | Provenance::Cached),
        "{:?}",
        got.provenance
    );
    assert_eq!(engine.metrics().breaker_transitions, 0);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_refresh_cut_by_our_own_deadline_is_not_remembered_as_the_upstreams_failure() {
    let sim = sim().await;
    let mut cfg = remembering(&sim);
    // The refresh waits for our rate limit's next slot (within the answer budget), so
    // the caller's deadline falls before its attempt timeout: the deadline cuts it.
    cfg.timeouts.deadline_ms = 1_000;
    cfg.timeouts.attempt_ms = 1_000;
    cfg.timeouts.answer_budget_ms = 500;
    cfg.upstreams.pepy.rate_limit = Some(RateLimitConfig {
        per_second: 1,
        per_minute: None,
        burst: None,
    });
    let engine = engine_with(cfg).await;
    let name = PackageName::parse(&a_package(&sim)).unwrap();
    let q = Query::Pepy(name.clone());
    let path = format!("/api/v2/projects/{name}");
    engine.document(q.clone()).await.expect("a first copy");
    tokio::time::advance(Duration::from_millis(600)).await;
    engine.age_cache(48 * HOURS);
    let slow = sim.add_fault(FaultSpec {
        latency_ms: Some(5_000),
        ..fault(&path)
    });
    // Stale at once; the refresh runs on until our deadline cuts it.
    let a = engine.document(q.clone()).await.expect("the stale copy");
    assert!(matches!(a.provenance, Provenance::Stale { .. }));
    engine.settle(Duration::from_secs(10)).await;
    assert_eq!(hits(&sim, &path), 2);
    // Nor does the breaker count it: a limit or a wait of our own is not the upstream's.
    let health = engine.health().await;
    let pepy = &health.upstream(Upstream::Pepy).unwrap().health;
    assert_eq!(
        (pepy.consecutive_failures, pepy.failure_rate),
        (0, 0.0),
        "the breaker was fed our own deadline"
    );
    sim.remove_fault(slow);
    // Within the memory's TTL, but nothing was remembered: the upstream is asked.
    let _ = engine.document(q.clone()).await;
    engine.settle(Duration::from_secs(10)).await;
    assert_eq!(hits(&sim, &path), 3, "asked again: the deadline was ours");
    engine.shutdown().await;
}
