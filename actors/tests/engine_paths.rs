//! The query path of docs/ARCHITECTURE.md section 2 against the simulator: validation before any
//! request, live then cached, coalescing, not-found, revalidation, fallbacks,
//! deadlines, shutdown.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sentinel_actors::{
    ErrorCode, PackageName, Provenance, Query, QueryError, SourceLabel, Upstream,
};
use sentinel_sim::FaultSpec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_info_is_live_then_cached_without_another_request() {
    let (sim, engine) = setup().await;
    let first = engine.package_info("NumPy", None).await.unwrap();
    assert_eq!(first.provenance, Provenance::Live);
    assert_eq!(first.upstream, Upstream::PypiJson);
    let second = engine.package_info("numpy", None).await.unwrap();
    assert_eq!(second.provenance, Provenance::Cached);
    assert_eq!(first.value, second.value);
    // Sent in normalised form, once.
    assert_eq!(hits(&sim, "/pypi/numpy/json"), 1);
    assert_eq!(sim.stats().total, 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_is_rejected_before_any_request() {
    let (sim, engine) = setup().await;
    for bad in ["../../etc/passwd", "", "a b", "numpy?x=1", "http://evil/"] {
        let err = engine.package_info(bad, None).await.unwrap_err();
        match err {
            QueryError::InvalidInput(e) => assert_eq!(e.param, "package", "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    let err = engine
        .package_info("numpy", Some("1.0/../../x"))
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::InvalidInput(ref e) if e.param == "version"));
    let err = engine.download_trend("numpy", 0).await.unwrap_err();
    assert!(matches!(err, QueryError::InvalidInput(ref e) if e.param == "days"));
    let err = engine.top_packages(0).await.unwrap_err();
    assert!(matches!(err, QueryError::InvalidInput(ref e) if e.param == "limit"));
    assert_eq!(sim.stats().total, 0, "nothing reached the upstream");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_package_is_not_found_not_an_outage() {
    let (_sim, engine) = setup().await;
    let err = engine
        .package_info("no-such-package-here", None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            QueryError::NotFound {
                upstream: Upstream::PypiJson,
                ..
            }
        ),
        "{err:?}"
    );
    let err = engine
        .recent_downloads("no-such-package-here")
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::NotFound { .. }), "{err:?}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_misses_make_one_upstream_request() {
    let (sim, engine) = setup().await;
    sim.add_fault(FaultSpec {
        latency_ms: Some(200),
        ..fault("/pypi/**")
    });
    let calls: Vec<_> = (0..1000)
        .map(|_| {
            let e = engine.clone();
            tokio::spawn(async move { e.package_info("django", None).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().expect("every caller is answered");
    }
    assert_eq!(hits(&sim, "/pypi/**"), 1);
    assert!(engine.metrics().coalesced > 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etag_revalidation_answers_revalidated() {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.stale_while_revalidate = false;
    let engine = engine_with(cfg).await;
    let q = Query::Project(PackageName::parse("black").unwrap());
    assert_eq!(
        engine.document(q.clone()).await.unwrap().provenance,
        Provenance::Live
    );
    engine.age_cache(HOURS);
    let again = engine.document(q.clone()).await.unwrap();
    assert_eq!(again.provenance, Provenance::Revalidated);
    assert_eq!(again.age, Duration::ZERO);
    assert_eq!(
        engine.document(q).await.unwrap().provenance,
        Provenance::Cached
    );
    assert_eq!(hits(&sim, "/pypi/black/json"), 2);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_fall_back_to_the_simple_api_when_the_json_api_fails() {
    let (sim, engine) = setup().await;
    sim.add_fault(status_fault("/pypi/**", 503));
    let versions = engine.versions("black").await.unwrap();
    assert_eq!(versions.upstream, Upstream::PypiSimple);
    assert_eq!(versions.provenance, Provenance::Live);
    assert!(hits(&sim, "/simple/black/") >= 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_upstream_is_cut_at_the_deadline() {
    let (sim, engine) = setup().await;
    sim.add_fault(FaultSpec {
        hang: true,
        ..fault("/pypi/**")
    });
    let started = Instant::now();
    let err = engine.package_info("numpy", None).await.unwrap_err();
    // Deadline 2 s in the test config; generous slack for a loaded machine.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            err,
            QueryError::Unavailable { .. } | QueryError::DeadlineExceeded { .. }
        ),
        "{err:?}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypistats_502_storm_serves_stale_then_opens_the_breaker_then_recovers() {
    let (sim, engine) = setup().await;
    let warm = engine.recent_downloads("numpy").await.unwrap();
    assert_eq!(warm.source, SourceLabel::Live);
    // Past the next daily update of pypistats (a download document stays fresh until
    // then, 24 h at most).
    engine.age_cache(25 * HOURS);
    sim.add_fault(status_fault("/api/packages/**", 502));
    sim.reset_stats();
    // Stale copies go out at once while refreshes fail behind them; after five failed
    // refreshes the breaker opens and the upstream is left alone.
    for _ in 0..12 {
        let d = engine.recent_downloads("numpy").await.unwrap();
        assert_eq!(d.source, SourceLabel::Stale);
        assert!(d.last_month.value.is_some());
        engine.settle(Duration::from_secs(3)).await;
    }
    let during = hits(&sim, "/api/packages/**");
    let health = engine.health().await;
    let pypistats = health.upstream(Upstream::Pypistats).unwrap();
    assert_eq!(
        pypistats.health.breaker,
        sentinel_actors::BreakerState::Open
    );
    // 12 client calls; at most 5 failing refreshes (each with its budgeted retries)
    // before the breaker opened.
    assert!(
        during <= 5 * 4,
        "{during} upstream requests during the storm"
    );
    let before = hits(&sim, "/api/packages/**");
    for _ in 0..20 {
        engine.recent_downloads("numpy").await.unwrap();
    }
    engine.settle(Duration::from_secs(3)).await;
    assert_eq!(
        hits(&sim, "/api/packages/**"),
        before,
        "breaker open: no requests"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_endpoint_down_is_estimated_from_the_overall_series() {
    let (sim, engine) = setup().await;
    sim.add_fault(status_fault("/api/packages/*/recent", 502));
    let d = engine.recent_downloads("django").await.unwrap();
    assert_eq!(d.source, SourceLabel::Estimated);
    for fig in [&d.last_day, &d.last_week, &d.last_month] {
        match &fig.provenance {
            Provenance::Estimated { basis, .. } => assert!(basis.contains("overall"), "{basis}"),
            other => panic!("{other:?}"),
        }
        assert!(fig.value.is_some());
    }
    assert!(hits(&sim, "/api/packages/django/overall") == 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_basis_no_estimate_the_answer_is_unavailable_with_a_suggestion() {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.upstreams.pepy.enabled = false;
    let engine = engine_with(cfg).await;
    sim.add_fault(status_fault("/api/packages/**", 502));
    let err = engine.recent_downloads("pytest").await.unwrap_err();
    match &err {
        QueryError::Unavailable { upstream, note, .. } => {
            assert_eq!(*upstream, Upstream::Pypistats);
            assert_eq!(
                note.as_deref(),
                Some("no daily series held to estimate from")
            );
            assert!(!err.suggestion().is_empty());
        }
        other => panic!("{other:?}"),
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypistats_fully_down_is_estimated_from_pepy_when_enabled() {
    let (sim, engine) = setup().await;
    sim.add_fault(status_fault("/api/packages/**", 502));
    let d = engine.recent_downloads("pytest").await.unwrap();
    assert_eq!(d.source, SourceLabel::Estimated);
    assert_eq!(d.last_week.upstream, Upstream::Pepy);
    match &d.last_week.provenance {
        Provenance::Estimated { basis, confidence } => {
            assert!(basis.contains("pepy.tech"), "{basis}");
            assert!(
                *confidence < sentinel_actors::Confidence::High,
                "another service's count is never high confidence"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hits(&sim, "/api/v2/projects/pytest"), 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_overview_merges_partial_results() {
    let (sim, engine) = setup().await;
    engine.recent_downloads("numpy").await.unwrap();
    sim.add_fault(status_fault("/api/packages/black/**", 502));
    sim.add_fault(status_fault("/api/v2/projects/black", 502));
    let names = ["numpy", "black", "no-such-package-here"].map(String::from);
    let r = engine.overview(&names).await.unwrap();
    assert_eq!(r.items.len(), 2);
    assert!(
        r.failures
            .iter()
            .any(|f| f.item == "no-such-package-here" && f.code == ErrorCode::NotFound)
    );
    assert!(
        r.failures
            .iter()
            .any(|f| f.item == "black/downloads" && f.code == ErrorCode::Unavailable)
    );
    assert_eq!(r.source, SourceLabel::Mixed);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_calls_then_refuses_new_ones() {
    let (sim, engine) = setup().await;
    sim.add_fault(FaultSpec {
        latency_ms: Some(200),
        ..fault("/pypi/**")
    });
    let e = engine.clone();
    let call = tokio::spawn(async move { e.package_info("pytz", None).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    engine.shutdown().await;
    call.await
        .unwrap()
        .expect("in-flight call finished during the grace period");
    let err = engine.package_info("pytz", None).await.unwrap_err();
    assert!(matches!(err, QueryError::NotReady { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deps_for_an_old_python_answer_for_the_release_pip_would_pick() {
    let (_sim, engine) = setup().await;
    let env =
        sentinel_actors::views::deps::TargetEnv::new(Some("3.7"), Some("linux"), &[]).unwrap();
    let d = engine
        .dependencies("black", None, Some(&env))
        .await
        .unwrap();
    // The recorded black 23.7.0 requires >=3.8: pip on 3.7 installs 23.3.0.
    assert_eq!(d.value.version, "23.3.0");
    assert!(
        d.value.notes[0].contains("the newest release that supports Python 3.7"),
        "{:?}",
        d.value.notes
    );
    let pinned = engine
        .dependencies("black", Some("23.7.0"), Some(&env))
        .await
        .unwrap();
    assert_eq!(pinned.value.version, "23.7.0");
    assert!(
        pinned.value.notes[0].contains("does not install on Python 3.7"),
        "{:?}",
        pinned.value.notes
    );
    engine.shutdown().await;
}
