//! The fault matrix: for each upstream and each fault kind the simulator offers, what
//! the engine answers (provenance and content), how many requests reached the upstream
//! (from the simulator's counters), and that nothing hangs or panics.
//!
//! Each case runs twice: cold (nothing cached: the answer must be a structured error,
//! or the data when the fault is harmless) and warm (a stale copy exists: it must be
//! served, labelled stale).

mod common;

use std::time::Duration;

use common::*;
use sentinel_actors::{
    EngineHandle, PackageName, Provenance, Query, QueryError, StatsKind, Upstream,
};
use sentinel_sim::{FaultSpec, SimHandle};

/// What a fault should produce when nothing is cached.
#[derive(Clone, Copy, Debug)]
enum Cold {
    /// Unavailable after retries: at most 1 + max_retries (3) attempts.
    RetriedThenUnavailable,
    /// Unavailable after exactly one attempt (not retryable).
    UnavailableAtOnce,
    /// The upstream's 404 is a "not found", not an outage.
    NotFound,
    /// The data still arrives (the fault only slows it down).
    Answered,
}

fn query_for(up: Upstream) -> Query {
    let n = |s: &str| PackageName::parse(s).unwrap();
    match up {
        Upstream::PypiJson => Query::Project(n("numpy")),
        Upstream::PypiSimple => Query::Simple(n("black")),
        Upstream::Pypistats => Query::Stats(n("numpy"), StatsKind::Overall),
        Upstream::Pepy => Query::Pepy(n("numpy")),
        Upstream::TopPackages => Query::TopPackages,
        Upstream::Osv => Query::OsvAdvisory("SGSIM-2024-0001".into()),
        // It serves no document: its faults are download.rs's.
        Upstream::Files => unreachable!("the files upstream has no document query"),
        // Configured only by a test of its own: its faults are confusion.rs's.
        Upstream::ExtraIndex => Query::ExtraSimple(n("black")),
    }
}

fn route_for(up: Upstream) -> &'static str {
    match up {
        Upstream::PypiJson => "/pypi/**",
        Upstream::PypiSimple => "/simple/**",
        Upstream::Pypistats => "/api/packages/**",
        Upstream::Pepy => "/api/v2/**",
        Upstream::TopPackages => "/top-pypi-packages.min.json",
        Upstream::Files => "/files/**",
        Upstream::Osv => "/v1/**",
        Upstream::ExtraIndex => "/extra/**",
    }
}

async fn run_cold(up: Upstream, spec: FaultSpec, expect: Cold) -> (SimHandle, EngineHandle) {
    let (sim, engine) = setup().await;
    sim.add_fault(spec);
    let started = std::time::Instant::now();
    let result = engine.document(query_for(up)).await;
    let elapsed = started.elapsed();
    let requests = hits(&sim, route_for(up));
    // Bounded by the 2 s deadline of the test config (plus scheduling slack).
    assert!(elapsed < Duration::from_secs(4), "{up}: took {elapsed:?}");
    match expect {
        Cold::RetriedThenUnavailable => {
            let err = result.expect_err("cold fault must not produce data");
            assert!(
                matches!(err, QueryError::Unavailable { upstream, .. } if upstream == up)
                    || matches!(err, QueryError::DeadlineExceeded { .. }),
                "{up}: {err:?}"
            );
            assert!((1..=4).contains(&requests), "{up}: {requests} requests");
        }
        Cold::UnavailableAtOnce => {
            let err = result.expect_err("cold fault must not produce data");
            match &err {
                QueryError::Unavailable { upstream, .. } => {
                    assert_eq!(*upstream, up);
                    assert!(!err.suggestion().is_empty());
                }
                other => panic!("{up}: expected unavailable, got {other:?}"),
            }
            assert!(
                (1..=2).contains(&requests),
                "{up}: {requests} requests (one attempt, at most one redirect)"
            );
        }
        Cold::NotFound => {
            assert!(
                matches!(result, Err(QueryError::NotFound { .. })),
                "{up}: {result:?}"
            );
            assert_eq!(requests, 1, "{up}: a 404 is not retried");
        }
        Cold::Answered => {
            let ans = result.unwrap_or_else(|e| panic!("{up}: {e}"));
            assert_eq!(ans.provenance, Provenance::Live);
        }
    }
    (sim, engine)
}

async fn run_warm(up: Upstream, spec: FaultSpec, expect: Cold) {
    let (sim, engine) = setup().await;
    let q = query_for(up);
    let first = engine.document(q.clone()).await.expect("healthy fetch");
    assert_eq!(first.provenance, Provenance::Live);
    engine.age_cache(48 * HOURS);
    sim.add_fault(spec);
    sim.reset_stats();
    let ans = engine.document(q.clone()).await;
    // The answer never waits for the failing upstream: the stale copy goes out at once
    // (stale-while-revalidate) and the refresh fails in the background.
    let ans = ans.unwrap_or_else(|e| panic!("{up}: warm cache must answer, got {e}"));
    assert!(
        matches!(ans.provenance, Provenance::Stale { .. }),
        "{up}: {:?}",
        ans.provenance
    );
    assert!(ans.age >= 48 * HOURS);
    assert!(
        engine.settle(Duration::from_secs(4)).await,
        "{up}: refresh settles"
    );
    let requests = hits(&sim, route_for(up));
    let max = match expect {
        Cold::RetriedThenUnavailable => 4,
        Cold::UnavailableAtOnce => 2,
        Cold::NotFound | Cold::Answered => 1,
    };
    assert!((1..=max).contains(&requests), "{up}: {requests} requests");
    // After the failed refresh the stale copy is still served (stale-if-error).
    if !matches!(expect, Cold::Answered | Cold::NotFound) {
        let again = engine.document(q).await.expect("still answered");
        assert!(matches!(again.provenance, Provenance::Stale { .. }), "{up}");
    }
    engine.shutdown().await;
}

macro_rules! matrix {
    ($($name:ident: $spec:expr => $expect:expr;)*) => {
        $(
            mod $name {
                use super::*;

                async fn case(up: Upstream) {
                    let mut spec: FaultSpec = $spec;
                    spec.route = route_for(up).into();
                    let (_sim, engine) = run_cold(up, spec.clone(), $expect).await;
                    engine.shutdown().await;
                    run_warm(up, spec, $expect).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn pypi_json() { case(Upstream::PypiJson).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn pypi_simple() { case(Upstream::PypiSimple).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn pypistats() { case(Upstream::Pypistats).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn pepy() { case(Upstream::Pepy).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn top_packages() { case(Upstream::TopPackages).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn osv() { case(Upstream::Osv).await }
            }
        )*
    };
}

fn spec() -> FaultSpec {
    fault("")
}

matrix! {
    http_500_is_not_retried: FaultSpec { status: Some(500), ..spec() } => Cold::UnavailableAtOnce;
    http_502_is_retried_then_stale: FaultSpec { status: Some(502), ..spec() } => Cold::RetriedThenUnavailable;
    http_503_is_retried_then_stale: FaultSpec { status: Some(503), ..spec() } => Cold::RetriedThenUnavailable;
    http_504_is_retried_then_stale: FaultSpec { status: Some(504), ..spec() } => Cold::RetriedThenUnavailable;
    http_429_with_retry_after_past_deadline_fails_over_at_once: FaultSpec { status: Some(429), retry_after: Some(30), ..spec() } => Cold::UnavailableAtOnce;
    http_404_is_not_found_not_an_outage: FaultSpec { status: Some(404), ..spec() } => Cold::NotFound;
    redirect_loop_is_detected: FaultSpec { redirect_loop: true, ..spec() } => Cold::UnavailableAtOnce;
    added_latency_still_answers: FaultSpec { latency_ms: Some(100), ..spec() } => Cold::Answered;
    hang_is_cut_by_the_attempt_timeout: FaultSpec { hang: true, ..spec() } => Cold::RetriedThenUnavailable;
    connection_reset_is_retried: FaultSpec { reset: true, ..spec() } => Cold::RetriedThenUnavailable;
    truncated_body_is_retried: FaultSpec { truncate: true, ..spec() } => Cold::RetriedThenUnavailable;
    oversized_body_is_refused: FaultSpec { oversize_bytes: Some(40 * 1024 * 1024), ..spec() } => Cold::UnavailableAtOnce;
    malformed_json_is_not_cached: FaultSpec { malformed_json: true, ..spec() } => Cold::UnavailableAtOnce;
    schema_drift_missing_field_is_refused: FaultSpec { drift: Some("missing_field".into()), ..spec() } => Cold::UnavailableAtOnce;
    wrong_content_type_is_refused: FaultSpec { content_type: Some("text/html; charset=utf-8".into()), ..spec() } => Cold::UnavailableAtOnce;
}
