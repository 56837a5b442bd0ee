//! The engine as a good citizen of the upstreams: the retry budget bounds amplification,
//! the client-side rate limit keeps pypistats from ever answering 429.

mod common;

use common::*;
use futures::future::join_all;
use sentinel_actors::{EngineConfig, QueryError, Upstream};
use sentinel_sim::{FaultSpec, Sim, SimConfig};

/// Breaker effectively off, no retry floor and no throttle, so only the budget's ratio
/// limits retries.
fn budget_only(mut cfg: EngineConfig) -> EngineConfig {
    let u = cfg.upstreams.get_mut(Upstream::Pypistats);
    u.breaker.consecutive_failures = 1_000_000;
    u.breaker.min_calls = 1_000_000;
    u.retry_budget.min_retries_per_sec = 0.0;
    u.retry_budget.throttle_max_tokens = 0.0;
    cfg
}

async fn trends(
    engine: &sentinel_actors::EngineHandle,
    names: impl Iterator<Item = String>,
) -> Vec<Result<(), QueryError>> {
    let names: Vec<String> = names.collect();
    let mut out = Vec::new();
    for chunk in names.chunks(10) {
        let calls = chunk
            .iter()
            .map(|n| async move { engine.download_trend(n, 30).await.map(|_| ()) });
        out.extend(join_all(calls).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_budget_caps_a_total_outage_at_1_2_requests_per_call() {
    let sim = sim().await;
    let engine = engine_with(budget_only(test_config(&sim))).await;
    sim.add_fault(status_fault("/api/packages/**", 502));
    let calls = 100;
    let results = trends(&engine, (0..calls).map(|i| format!("outage-pkg-{i}"))).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(QueryError::Unavailable { .. })))
    );
    let upstream = hits(&sim, "/api/packages/**");
    let amplification = upstream as f64 / calls as f64;
    assert!(upstream > calls, "some retries were allowed: {upstream}");
    assert!(
        amplification <= 1.2,
        "{upstream} upstream requests for {calls} calls"
    );
    let refused: u64 = engine
        .metrics()
        .upstreams
        .iter()
        .map(|u| u.budget_refusals)
        .sum();
    assert!(refused > 0, "the budget refused retries");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_traffic_outage_costs_at_most_1_2_requests_per_call_until_the_breaker_opens() {
    // Default policies: the floor of 3 retries/s alone would let each of the 5 calls
    // before the breaker opens retry 3 times (4x); the throttle allows one retry.
    let (sim, engine) = setup().await;
    sim.add_fault(status_fault("/api/packages/**", 502));
    let calls = 5;
    for i in 0..calls {
        let r = engine.download_trend(&format!("quiet-pkg-{i}"), 30).await;
        assert!(matches!(r, Err(QueryError::Unavailable { .. })), "{r:?}");
    }
    let upstream = hits(&sim, "/api/packages/**");
    assert!(
        upstream as f64 <= 1.2 * calls as f64,
        "{upstream} requests for {calls} calls"
    );
    let health = engine.health().await;
    let pypistats = health.upstream(Upstream::Pypistats).unwrap();
    assert_eq!(
        pypistats.health.breaker,
        sentinel_actors::BreakerState::Open
    );
    // Open: nothing more reaches pypistats.
    let r = engine.download_trend("quiet-pkg-next", 30).await;
    assert!(r.is_err());
    assert_eq!(hits(&sim, "/api/packages/**"), upstream);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_percent_5xx_storm_stays_within_the_budget() {
    let sim = sim().await;
    let engine = engine_with(budget_only(test_config(&sim))).await;
    sim.add_fault(FaultSpec {
        status: Some(503),
        probability: Some(0.5),
        ..fault("/api/packages/**")
    });
    let calls = 100;
    let results = trends(
        &engine,
        sim.package_names()
            .into_iter()
            .cycle()
            .take(15)
            .chain((0..85).map(|i| format!("storm-pkg-{i}"))),
    )
    .await;
    let answered = results
        .iter()
        .filter(|r| r.is_ok() || matches!(r, Err(QueryError::NotFound { .. })))
        .count();
    let upstream = hits(&sim, "/api/packages/**");
    assert!(
        upstream as f64 <= 1.2 * calls as f64,
        "{upstream} upstream requests for {calls} calls"
    );
    assert!(
        answered >= 50,
        "retries rescue some calls: {answered} answered"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypistats_client_rate_limit_means_the_server_never_answers_429() {
    let sim = Sim::start(SimConfig {
        pypistats_rate_limit: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut cfg = test_config(&sim);
    cfg.upstreams.pypistats.rate_limit = EngineConfig::default().upstreams.pypistats.rate_limit;
    cfg.timeouts.deadline_ms = 5_000;
    let engine = engine_with(cfg).await;
    // Six requests at once: five go out within the first second (one every ~200 ms), the
    // sixth waits for the minute quota (30/min: 5 at once, then one every ~2.4 s).
    let names: Vec<String> = sim.package_names().into_iter().take(6).collect();
    let calls = names.iter().map(|n| engine.download_trend(n, 30));
    let results = join_all(calls).await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    // No 429 and no retry: each sent exactly once.
    assert_eq!(hits(&sim, "/api/packages/**"), 6);
    assert_eq!(
        engine
            .metrics()
            .upstreams
            .iter()
            .map(|u| u.retries)
            .sum::<u64>(),
        0
    );
    engine.shutdown().await;
}
