//! Scenarios from real incidents, end to end against the simulator: each test is named
//! after the failure it pins.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sentinel_actors::{Provenance, QueryError, SourceLabel, UnavailableCause, Upstream};
use sentinel_sim::FaultSpec;

fn is_stale<T>(d: &sentinel_actors::Datum<T>) -> bool {
    matches!(d.provenance, Provenance::Stale { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypi_redirect_between_normalised_and_display_name_is_a_loop_not_a_hang() {
    let (sim, engine) = setup().await;
    // 2021 behaviour: the normalised URL redirected to the display name; today's origin
    // redirects the display name back to the normalised one.
    sim.add_fault(FaultSpec {
        redirect_to: Some("/pypi/Django/json".into()),
        ..fault("/pypi/django/json")
    });
    let err = engine.package_info("django", None).await.unwrap_err();
    match &err {
        QueryError::Unavailable {
            upstream, cause, ..
        } => {
            assert_eq!(*upstream, Upstream::PypiJson);
            assert!(
                matches!(cause, UnavailableCause::Redirect { detail } if detail.contains("redirect loop")),
                "{cause:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // One request, one followed redirect, then the second 301 is refused: no retries.
    assert_eq!(hits(&sim, "/pypi/**"), 2, "{:?}", sim.stats().routes);
    // The version list still answers, from the Simple API.
    let versions = engine.versions("django").await.unwrap();
    assert_eq!(versions.upstream, Upstream::PypiSimple);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_429_storm_with_a_short_retry_after_is_honoured_then_fails_over() {
    let (sim, engine) = setup().await;
    sim.add_fault(FaultSpec {
        status: Some(429),
        retry_after: Some(1),
        ..fault("/api/packages/**")
    });
    let t = Instant::now();
    let err = engine.download_trend("numpy", 30).await.unwrap_err();
    let took = t.elapsed();
    assert!(matches!(err, QueryError::Unavailable { .. }), "{err:?}");
    // The first Retry-After (1 s) fits the 2 s deadline and is honoured; the second
    // would pass it, so the engine fails over instead of waiting.
    assert_eq!(hits(&sim, "/api/packages/numpy/overall"), 2);
    assert!(
        took >= Duration::from_millis(900),
        "waited for Retry-After: {took:?}"
    );
    assert!(err.to_string().contains("rate limiting"), "{err}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upstream_down_after_a_warm_cache_answers_everything_stale() {
    let (sim, engine) = setup().await;
    engine.package_info("numpy", None).await.unwrap();
    engine.versions("numpy").await.unwrap();
    engine.recent_downloads("numpy").await.unwrap();
    engine.download_trend("numpy", 30).await.unwrap();
    engine.top_packages(5).await.unwrap();
    engine.age_cache(48 * HOURS);
    sim.add_fault(status_fault("/**", 503));

    let info = engine.package_info("numpy", None).await.unwrap();
    let versions = engine.versions("numpy").await.unwrap();
    let downloads = engine.recent_downloads("numpy").await.unwrap();
    let trend = engine.download_trend("numpy", 30).await.unwrap();
    let top = engine.top_packages(5).await.unwrap();
    assert!(is_stale(&info) && is_stale(&versions) && is_stale(&trend) && is_stale(&top));
    assert_eq!(downloads.source, SourceLabel::Stale);
    assert!(info.age_secs >= 48 * 3600);
    // A package never seen has nothing to fall back on: a clear error, not a hang.
    let err = engine.package_info("pytz", None).await.unwrap_err();
    assert!(matches!(err, QueryError::Unavailable { .. }), "{err:?}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdn_truncated_body_is_retried_and_the_good_body_is_served() {
    let (sim, engine) = setup().await;
    sim.add_fault(FaultSpec {
        truncate: true,
        times: Some(1),
        ..fault("/pypi/**")
    });
    let info = engine.package_info("scipy", None).await.unwrap();
    assert_eq!(info.provenance, Provenance::Live);
    assert_eq!(
        hits(&sim, "/pypi/scipy/json"),
        2,
        "one truncated body, then a good one"
    );

    // Two in a row: the retry throttle allows one retry per failure streak, then the
    // call fails over (nothing cached here, so it is unavailable, quickly).
    sim.add_fault(FaultSpec {
        truncate: true,
        times: Some(2),
        ..fault("/pypi/**")
    });
    let err = engine.package_info("pytest", None).await.unwrap_err();
    assert!(matches!(err, QueryError::Unavailable { .. }), "{err:?}");
    assert_eq!(hits(&sim, "/pypi/pytest/json"), 2);
    engine.shutdown().await;
}
