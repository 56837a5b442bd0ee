//! Shared set-up for the engine's integration tests: a simulator on 127.0.0.1:0 and an
//! engine pointed at it, with policies shortened so tests run in milliseconds.

#![allow(dead_code)]

use std::time::Duration;

use sentinel_actors::{Engine, EngineConfig, EngineHandle, Upstream};
use sentinel_sim::{FaultSpec, Sim, SimConfig, SimHandle};

/// An engine config for tests: every upstream at the simulator, no client rate limit
/// (tests that check it turn it back on), quick retries, short deadlines.
pub fn test_config(sim: &SimHandle) -> EngineConfig {
    let mut cfg = EngineConfig::default().with_origin(&sim.base_url());
    for up in Upstream::ALL {
        let u = cfg.upstreams.get_mut(up);
        u.rate_limit = None;
        u.max_in_flight = 64;
        u.retry.base_ms = 5;
        u.retry.cap_ms = 20;
    }
    cfg.timeouts.connect_ms = 500;
    cfg.timeouts.attempt_ms = 1_000;
    cfg.timeouts.deadline_ms = 2_000;
    cfg.shutdown_grace_ms = 1_000;
    // Each failure reaches the upstream (tests of the failure memory turn it back on).
    cfg.cache.failure_ttl_ms = 0;
    // No store: tests share no file (the store's own tests give each one a tempdir).
    cfg.store.path = None;
    cfg
}

pub async fn sim() -> SimHandle {
    Sim::start(SimConfig::default())
        .await
        .expect("simulator starts")
}

pub async fn engine_with(cfg: EngineConfig) -> EngineHandle {
    Engine::start(cfg).await.expect("engine starts")
}

pub async fn setup() -> (SimHandle, EngineHandle) {
    let sim = sim().await;
    let engine = engine_with(test_config(&sim)).await;
    (sim, engine)
}

pub fn fault(route: &str) -> FaultSpec {
    FaultSpec {
        route: route.into(),
        ..Default::default()
    }
}

pub fn status_fault(route: &str, status: u16) -> FaultSpec {
    FaultSpec {
        route: route.into(),
        status: Some(status),
        ..Default::default()
    }
}

/// Upstream requests the simulator received on routes matching `glob`.
pub fn hits(sim: &SimHandle, glob: &str) -> u64 {
    sim.stats().matching(glob)
}

pub const HOURS: Duration = Duration::from_secs(3600);
