//! Supervision: actors made to panic (through the test-only hook) while requests are in
//! flight are restarted; callers get an answer or an error, never a hang; past the
//! restart intensity the engine reports not-ready and fails fast.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sentinel_actors::{ActorKind, QueryError, Upstream};
use sentinel_sim::FaultSpec;

async fn wait_for_restarts(engine: &sentinel_actors::EngineHandle, n: u64) {
    for _ in 0..400 {
        if engine.metrics().actor_restarts >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "expected {n} restarts, saw {}",
        engine.metrics().actor_restarts
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_crash_mid_request_answers_or_errors_and_never_hangs() {
    let (sim, engine) = setup().await;
    sim.add_fault(FaultSpec {
        latency_ms: Some(300),
        ..fault("/pypi/**")
    });
    let calls: Vec<_> = ["numpy", "django", "black", "pytest", "pytz"]
        .into_iter()
        .map(|p| {
            let e = engine.clone();
            tokio::spawn(async move { e.package_info(p, None).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    engine.inject_actor_panic(ActorKind::Router);
    for c in calls {
        // Either the retried answer or a typed error (on a loaded machine the retry
        // may run out of deadline): all fine; a hang is not, and the timeout is the
        // only bound on time here (no timing assertion on a shared machine).
        let r = tokio::time::timeout(Duration::from_secs(5), c)
            .await
            .expect("caller must not hang")
            .expect("no panic in the caller");
        if let Err(e) = r {
            assert!(
                matches!(
                    e,
                    QueryError::Internal(_)
                        | QueryError::Unavailable { .. }
                        | QueryError::DeadlineExceeded { .. }
                ),
                "{e:?}"
            );
        }
    }
    wait_for_restarts(&engine, 1).await;
    assert!(engine.readiness().ready);
    sim.clear_faults();
    let info = engine.package_info("snowballstemmer", None).await;
    assert!(info.is_ok(), "restarted router serves: {info:?}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_actor_crash_fails_in_flight_requests_then_recovers() {
    let (sim, engine) = setup().await;
    sim.add_fault(FaultSpec {
        latency_ms: Some(300),
        ..fault("/pypi/**")
    });
    let e = engine.clone();
    let call = tokio::spawn(async move { e.package_info("numpy", None).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    engine.inject_actor_panic(ActorKind::Fetch(Upstream::PypiJson));
    let r = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("caller must not hang")
        .unwrap();
    // The in-flight request's reply port died with the actor: a clear error or, if the
    // request had already been answered, the data.
    if let Err(e) = &r {
        assert!(matches!(e, QueryError::Unavailable { .. }), "{e:?}");
    }
    wait_for_restarts(&engine, 1).await;
    sim.clear_faults();
    engine
        .package_info("django", None)
        .await
        .expect("new fetch actor serves");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_actor_kind_is_restarted_and_the_engine_keeps_serving() {
    let (_sim, engine) = setup().await;
    let kinds = [
        ActorKind::Health,
        ActorKind::Fetch(Upstream::PypiJson),
        ActorKind::Router,
        ActorKind::Fetch(Upstream::Pypistats),
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        engine.inject_actor_panic(kind);
        wait_for_restarts(&engine, i as u64 + 1).await;
    }
    assert!(engine.readiness().ready);
    engine.package_info("black", None).await.expect("serves");
    engine.recent_downloads("black").await.expect("serves");
    let health = engine.health().await;
    assert_eq!(health.actor_restarts, 4);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_restart_intensity_the_engine_is_not_ready_and_fails_fast() {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.supervision.max_restarts = 2;
    cfg.supervision.window_ms = 60_000;
    let engine = engine_with(cfg).await;
    for n in 1..=2 {
        engine.inject_actor_panic(ActorKind::Health);
        wait_for_restarts(&engine, n).await;
    }
    engine.inject_actor_panic(ActorKind::Health);
    for _ in 0..400 {
        if !engine.readiness().ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let readiness = engine.readiness();
    assert!(!readiness.ready);
    assert!(
        readiness
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("restarts"),
        "{readiness:?}"
    );
    let started = Instant::now();
    let err = engine.package_info("numpy", None).await.unwrap_err();
    assert!(matches!(err, QueryError::NotReady { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(100), "fails fast");
    assert_eq!(sim.stats().total, 0, "nothing reaches the upstream");
}
