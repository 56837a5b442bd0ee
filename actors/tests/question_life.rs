//! The router owns each question's life: answer budgets (stale-if-slow, estimates at the
//! budget), our own rate limit deferring into the polite queue without ever reaching
//! the breaker, cancellation of abandoned work, typed causes, and the engine's
//! lifecycle. Each test is named after the failure it pins.
//!
//! Tests that wait on our own rate limit run on a paused clock: the limiter, the budget
//! timers and the queue all run on tokio's clock, so minutes of quota pass in no time.

mod common;

use std::time::Duration;

use common::*;
use futures::future::join_all;
use sentinel_actors::RateLimitConfig;
use sentinel_actors::{
    ErrorCode, PackageName, Provenance, Query, QueryError, UnavailableCause, Upstream,
};
use sentinel_sim::{FaultSpec, Sim, SimConfig, SimHandle};

async fn synthetic_sim(n: usize) -> SimHandle {
    Sim::start(SimConfig {
        synthetic: n,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn synthetic_names(sim: &SimHandle, n: usize) -> Vec<String> {
    let names: Vec<String> = sim
        .package_names()
        .into_iter()
        .filter(|p| p.starts_with("synth"))
        .take(n)
        .collect();
    assert_eq!(names.len(), n, "the simulator has {n} synthetic packages");
    names
}

fn stats(engine: &sentinel_actors::EngineHandle, up: Upstream) -> sentinel_actors::FetchStats {
    engine
        .metrics()
        .upstreams
        .into_iter()
        .find(|s| s.upstream == up)
        .expect("every upstream has stats")
}

/// Waits (on the test's clock) until the simulator has seen `n` requests on `glob`.
async fn until_hits(sim: &SimHandle, glob: &str, n: u64, max: Duration) {
    let end = tokio::time::Instant::now() + max;
    while hits(sim, glob) < n {
        assert!(
            tokio::time::Instant::now() < end,
            "{glob}: {} of {n} requests",
            hits(sim, glob)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn our_own_rate_limit_defers_and_queues_a_batch_but_never_opens_the_breaker() {
    let sim = synthetic_sim(40).await;
    let mut cfg = test_config(&sim);
    cfg.upstreams.pypistats.rate_limit = Some(RateLimitConfig {
        per_second: 5,
        per_minute: Some(10),
        burst: None,
    });
    cfg.upstreams.pepy.enabled = false;
    cfg.timeouts.answer_budget_ms = 500;
    let engine = engine_with(cfg).await;
    let names = synthetic_names(&sim, 20);

    let first = engine.overview(&names).await.expect("a batch answers");
    assert_eq!(first.items.len(), 20, "every package's metadata answered");
    let answered = first.items.iter().filter(|i| i.downloads.is_some()).count();
    let deferred: Vec<_> = first
        .failures
        .iter()
        .filter(|f| f.code == ErrorCode::Deferred)
        .collect();
    // Five slots within the first second; the budget (0.5 s) ends before the next.
    assert_eq!(answered, 5, "{:?}", first.failures);
    assert_eq!(deferred.len(), 15, "{:?}", first.failures);
    assert!(first.failures.iter().all(|f| f.code == ErrorCode::Deferred));
    for f in &deferred {
        assert!(
            f.reason
                .contains("deferred by our own rate limit for pypistats")
        );
        assert!(f.retry_after_secs.is_some_and(|s| s > 0), "{f:?}");
    }
    assert_eq!(engine.metrics().breaker_transitions, 0);
    assert_eq!(stats(&engine, Upstream::Pypistats).queued, 15);

    // The queue runs at the allowed rate: 10 in the first minute, the rest a minute on.
    let latest = deferred
        .iter()
        .filter_map(|f| f.retry_after_secs)
        .max()
        .unwrap();
    assert!((60..=64).contains(&latest), "last slot in {latest} s");
    until_hits(
        &sim,
        "/api/packages/**",
        20,
        Duration::from_secs(latest + 5),
    )
    .await;
    engine.settle(Duration::from_secs(5)).await;

    // Asking again after retry_after: everything from the cache, nothing sent.
    let again = engine.overview(&names).await.unwrap();
    assert!(again.failures.is_empty(), "{:?}", again.failures);
    for item in &again.items {
        let d = item.downloads.as_ref().expect("downloads answered");
        assert_eq!(
            d.last_month.provenance,
            Provenance::Cached,
            "{}",
            item.package
        );
    }
    assert_eq!(hits(&sim, "/api/packages/**"), 20, "each fetched once");
    let health = engine.health().await;
    let pypistats = health.upstream(Upstream::Pypistats).unwrap();
    assert_eq!(pypistats.health.times_opened, 0);
    assert_eq!(pypistats.requests.failures, 0);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_call_deferred_by_our_limit_answers_at_once_not_after_the_wait() {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.upstreams.pepy.rate_limit = Some(RateLimitConfig {
        per_second: 1,
        per_minute: Some(5),
        burst: None,
    });
    cfg.timeouts.answer_budget_ms = 2_000;
    cfg.timeouts.deadline_ms = 15_000;
    cfg.timeouts.attempt_ms = 10_000;
    let engine = engine_with(cfg).await;
    let names: Vec<String> = sim.package_names().into_iter().take(6).collect();
    // Five slots in the first minute (one a second); the sixth is a minute away.
    let started = tokio::time::Instant::now();
    let results = join_all(
        names
            .iter()
            .map(|n| engine.document(Query::Pepy(PackageName::parse(n).unwrap()))),
    )
    .await;
    let deferred: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(deferred.len(), 4, "{results:?}");
    for e in &deferred {
        assert_eq!(e.code(), ErrorCode::Deferred, "{e}");
        assert!(!e.cause().unwrap().is_upstream_failure());
    }
    // Nobody waited for the minute: the budget bounds every wait on our own limiter.
    assert!(started.elapsed() <= Duration::from_millis(2_100));
    assert_eq!(engine.metrics().breaker_transitions, 0);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_waits_for_our_limits_gets_every_slot_within_the_deadline() {
    // The CLI's setting: a slot of our own limit is waited for up to the deadline, not
    // just the answer budget. Two a second and five a minute: the first five documents
    // are had (the last about two seconds in, past the one-second budget); the sixth
    // slot is a minute away, past the 15 s deadline, and is still deferred.
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.upstreams.pepy.rate_limit = Some(RateLimitConfig {
        per_second: 2,
        per_minute: Some(5),
        burst: None,
    });
    cfg.timeouts.answer_budget_ms = 1_000;
    cfg.timeouts.deadline_ms = 15_000;
    cfg.timeouts.wait_for_own_limits = true;
    let engine = engine_with(cfg).await;
    let names: Vec<String> = sim.package_names().into_iter().take(6).collect();
    let results = join_all(
        names
            .iter()
            .map(|n| engine.document(Query::Pepy(PackageName::parse(n).unwrap()))),
    )
    .await;
    let had = results.iter().filter(|r| r.is_ok()).count();
    let deferred: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(had, 5, "{results:?}");
    assert_eq!(deferred.len(), 1, "{results:?}");
    assert_eq!(deferred[0].code(), ErrorCode::Deferred, "{}", deferred[0]);
    assert_eq!(hits(&sim, "/api/v2/projects/**"), 5);
    assert_eq!(engine.metrics().breaker_transitions, 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_calls_under_a_hang_release_their_slots_and_never_open_the_breaker() {
    let sim = synthetic_sim(40).await;
    let mut cfg = test_config(&sim);
    cfg.upstreams.pypi_json.max_in_flight = 4;
    // Hung requests would hold their slots for 10 s if nobody cancelled them.
    cfg.timeouts.attempt_ms = 10_000;
    cfg.timeouts.deadline_ms = 10_000;
    let engine = engine_with(cfg).await;
    let names = synthetic_names(&sim, 31);
    let hang = sim.add_fault(FaultSpec {
        hang: true,
        ..fault("/pypi/**")
    });
    // 30 callers give up after 100 ms (a disconnect, a cancelled MCP call).
    let abandoned = names[..30].iter().map(|n| {
        let engine = engine.clone();
        let n = n.clone();
        async move {
            tokio::time::timeout(Duration::from_millis(100), engine.package_info(&n, None)).await
        }
    });
    let results = join_all(abandoned).await;
    assert!(results.iter().all(|r| r.is_err()), "all timed out");
    sim.remove_fault(hang);
    // The slots come back at once: an unrelated call is answered live, long before the
    // hung requests' 10 s attempt timeout would have freed a slot.
    let unrelated = tokio::time::timeout(
        Duration::from_secs(3),
        engine.package_info(&names[30], None),
    )
    .await
    .expect("answered without waiting for abandoned work")
    .expect("live answer");
    assert_eq!(unrelated.provenance, Provenance::Live);
    let json = stats(&engine, Upstream::PypiJson);
    assert!(json.cancelled >= 4, "{json:?}");
    assert_eq!(json.failures, 0, "cancellations are not failures: {json:?}");
    let health = engine.health().await;
    let breaker = &health.upstream(Upstream::PypiJson).unwrap().health;
    assert_eq!(breaker.times_opened, 0);
    assert_eq!(breaker.consecutive_failures, 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_answers_name_why_the_refresh_failed() {
    let (sim, engine) = setup().await;
    engine.package_info("numpy", None).await.unwrap();
    sim.add_fault(status_fault("/pypi/**", 502));
    engine.age_cache(HOURS);
    // The first stale answer is served while the refresh runs...
    let first = engine.package_info("numpy", None).await.unwrap();
    assert!(matches!(first.provenance, Provenance::Stale { .. }));
    assert!(engine.settle(Duration::from_secs(5)).await);
    // ...the next one says the refresh failed, and how.
    let second = engine.package_info("numpy", None).await.unwrap();
    match &second.provenance {
        Provenance::Stale { reason } => {
            assert!(reason.contains("last refresh failed"), "{reason}");
            assert!(reason.contains("HTTP 502"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_gets_the_stale_copy_at_the_budget_and_the_refresh_fills_the_cache() {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.stale_while_revalidate = false;
    cfg.timeouts.answer_budget_ms = 200;
    cfg.timeouts.deadline_ms = 5_000;
    cfg.timeouts.attempt_ms = 5_000;
    let engine = engine_with(cfg).await;
    engine.package_info("numpy", None).await.unwrap();
    engine.age_cache(HOURS);
    let slow = sim.add_fault(FaultSpec {
        latency_ms: Some(1_500),
        ..fault("/pypi/**")
    });
    let answer = engine.package_info("numpy", None).await.unwrap();
    match &answer.provenance {
        Provenance::Stale { reason } => {
            assert!(reason.contains("pypi-json slow"), "{reason}");
            assert!(reason.contains("200 ms answer budget"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // The fetch went on in the background and refreshed the cache.
    assert!(engine.settle(Duration::from_secs(5)).await);
    sim.remove_fault(slow);
    let after = engine.package_info("numpy", None).await.unwrap();
    assert_eq!(after.provenance, Provenance::Cached);
    assert_eq!(hits(&sim, "/pypi/**"), 2, "one fetch, one refresh");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_pypistats_is_estimated_at_the_budget_from_the_series_held() {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.timeouts.answer_budget_ms = 200;
    cfg.timeouts.deadline_ms = 5_000;
    cfg.timeouts.attempt_ms = 5_000;
    let engine = engine_with(cfg).await;
    // The overall series is held (fetched for a trend); `recent` never was.
    engine.download_trend("numpy", 30).await.unwrap();
    sim.add_fault(FaultSpec {
        latency_ms: Some(2_000),
        ..fault("/api/packages/*/recent")
    });
    let d = engine.recent_downloads("numpy").await.unwrap();
    match &d.last_week.provenance {
        Provenance::Estimated { basis, .. } => {
            assert!(basis.contains("sum of the last 7 days"), "{basis}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&d.last_day.provenance, Provenance::Estimated { .. }),
        "{:?}",
        d.last_day.provenance
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_retry_after_of_a_trillion_seconds_is_clamped_before_it_reaches_a_client() {
    let (sim, engine) = setup().await;
    sim.add_fault(FaultSpec {
        status: Some(429),
        retry_after: Some(1_000_000_000_000),
        ..fault("/api/packages/**")
    });
    let err = engine.download_trend("numpy", 30).await.unwrap_err();
    let retry = err.retry_after().expect("a retry time is given");
    assert!(retry <= Duration::from_secs(300), "{retry:?}");
    assert!(
        matches!(
            err.cause(),
            Some(UnavailableCause::Status { status: 429, .. })
        ),
        "{err:?}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_302_without_location_is_named_not_called_a_redirect_loop() {
    let (sim, engine) = setup().await;
    sim.add_fault(status_fault("/pypi/**", 302));
    let err = engine.package_info("numpy", None).await.unwrap_err();
    match err.cause() {
        Some(UnavailableCause::Redirect { detail }) => {
            assert!(detail.contains("without a Location"), "{detail}");
            assert!(!detail.contains("loop"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_download_question_during_an_api_outage_fails_with_the_typed_cause() {
    let (sim, engine) = setup().await;
    sim.add_fault(status_fault("/api/**", 502));
    let err = engine.recent_downloads("numpy").await.unwrap_err();
    match &err {
        QueryError::Unavailable {
            upstream,
            cause,
            note,
            ..
        } => {
            assert_eq!(*upstream, Upstream::Pypistats);
            assert!(
                matches!(cause, UnavailableCause::Status { status: 502, .. }),
                "{cause:?}"
            );
            assert_eq!(
                note.as_deref(),
                Some("no daily series held to estimate from")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("pypistats answered HTTP 502"),
        "{err}"
    );
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_stops_the_engine_and_its_queued_fetches() {
    let sim = synthetic_sim(10).await;
    let mut cfg = test_config(&sim);
    cfg.upstreams.pypistats.rate_limit = Some(RateLimitConfig {
        per_second: 1,
        per_minute: None,
        burst: None,
    });
    cfg.timeouts.answer_budget_ms = 100;
    let engine = engine_with(cfg).await;
    let names = synthetic_names(&sim, 4);
    let results = join_all(names.iter().map(|n| engine.download_trend(n, 30))).await;
    let deferred = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e.code() == ErrorCode::Deferred))
        .count();
    assert_eq!(deferred, 3, "{results:?}");
    assert_eq!(hits(&sim, "/api/packages/**"), 1);
    drop(engine);
    // The queued fetches were due within 4 s; none goes out once the engine is gone.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(hits(&sim, "/api/packages/**"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_joining_a_refresh_gets_the_stale_copy_not_the_whole_fetch() {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.timeouts.attempt_ms = 10_000;
    cfg.timeouts.deadline_ms = 10_000;
    let engine = engine_with(cfg).await;
    engine.package_info("numpy", None).await.unwrap();
    engine.age_cache(HOURS);
    sim.add_fault(FaultSpec {
        hang: true,
        ..fault("/pypi/**")
    });
    // The first caller starts the refresh (which hangs); everyone after joins it.
    for _ in 0..3 {
        let d = tokio::time::timeout(Duration::from_secs(2), engine.package_info("numpy", None))
            .await
            .expect("a stale copy at once, not the hung fetch")
            .unwrap();
        assert!(
            matches!(d.provenance, Provenance::Stale { .. }),
            "{:?}",
            d.provenance
        );
    }
    // The refresh reaches the (hung) upstream once; the joiners add nothing.
    until_hits(&sim, "/pypi/**", 2, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(hits(&sim, "/pypi/**"), 2, "one fetch, one refresh");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_deferred_by_our_limit_on_the_simple_api_say_deferred() {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.upstreams.pypi_simple.rate_limit = Some(RateLimitConfig {
        per_second: 1,
        per_minute: Some(1),
        burst: None,
    });
    cfg.timeouts.answer_budget_ms = 200;
    let engine = engine_with(cfg).await;
    sim.add_fault(status_fault("/pypi/**", 502));
    let names: Vec<String> = sim.package_names().into_iter().take(3).collect();
    let results = join_all(names.iter().map(|n| engine.versions(n))).await;
    let from_simple = results.iter().filter(|r| r.is_ok()).count();
    let deferred: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(from_simple, 1, "{results:?}");
    assert_eq!(deferred.len(), 2);
    for e in deferred {
        assert_eq!(e.code(), ErrorCode::Deferred, "{e}");
        assert!(e.retry_after().is_some());
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_downloads_under_a_pypistats_hang_are_estimated_from_pepy_within_two_budgets() {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.timeouts.answer_budget_ms = 300;
    cfg.timeouts.attempt_ms = 10_000;
    cfg.timeouts.deadline_ms = 10_000;
    let engine = engine_with(cfg).await;
    sim.add_fault(FaultSpec {
        hang: true,
        ..fault("/api/packages/**")
    });
    let d = tokio::time::timeout(Duration::from_secs(3), engine.recent_downloads("numpy"))
        .await
        .expect("answered well before the 10 s deadline")
        .unwrap();
    match &d.last_month.provenance {
        Provenance::Estimated { basis, .. } => assert!(basis.contains("pepy"), "{basis}"),
        other => panic!("{other:?}"),
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_package_during_a_pypistats_outage_is_not_found_not_an_outage() {
    let (sim, engine) = setup().await;
    sim.add_fault(status_fault("/api/**", 502));
    let err = engine
        .recent_downloads("no-such-package-zz")
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
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_with_the_json_api_hung_come_from_the_simple_api_past_the_budget() {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.timeouts.answer_budget_ms = 300;
    cfg.timeouts.attempt_ms = 10_000;
    cfg.timeouts.deadline_ms = 10_000;
    let engine = engine_with(cfg).await;
    sim.add_fault(FaultSpec {
        hang: true,
        ..fault("/pypi/**")
    });
    let v = tokio::time::timeout(Duration::from_secs(3), engine.versions("numpy"))
        .await
        .expect("the Simple API answers long before the 10 s attempt timeout")
        .unwrap();
    assert_eq!(v.upstream, Upstream::PypiSimple);
    assert!(
        v.value.notes[0].contains("the JSON API failed (pypi-json did not answer within 300 ms)"),
        "{:?}",
        v.value.notes
    );
    // With PyPI hung and pypistats down, an error comes within budgets, not after 10 s.
    sim.add_fault(status_fault("/api/**", 502));
    let err = tokio::time::timeout(Duration::from_secs(3), engine.recent_downloads("django"))
        .await
        .expect("the 'is it on PyPI' check is bounded by the budget")
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    engine.shutdown().await;
}
