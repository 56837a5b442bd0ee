//! Shared set-up for the engine's integration tests: a simulator on 127.0.0.1:0 and an
//! engine pointed at it, with policies shortened so tests run in milliseconds.

#![allow(dead_code)]

pub mod redis;
pub mod replicas;

use std::time::Duration;

use sentinel_actors::{Engine, EngineConfig, EngineHandle, Upstream};
use sentinel_sim::{FaultSpec, Sim, SimConfig, SimHandle};

/// The workspace's test configuration against `sim` (see [`sentinel_actors::testing`]).
/// with enough concurrency towards the simulator that no fetch queues behind another.
pub fn test_config(sim: &SimHandle) -> EngineConfig {
    let mut cfg = sentinel_actors::testing::sim_config(&sim.base_url());
    for up in Upstream::ALL {
        cfg.upstreams.get_mut(up).max_in_flight = 64;
    }
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
