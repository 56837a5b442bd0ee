//! Setup shared by the scenarios: synthetic names, the engine's configuration.

use super::*;

pub(crate) fn synth(i: usize) -> String {
    format!("synth-{i:04}")
}

/// An engine on the simulator with client-side rate limits off (they would measure the
/// limiter, not the engine) and enough concurrency towards the simulator.
pub(crate) fn engine_config(base_url: &str) -> EngineConfig {
    let mut cfg = EngineConfig::default().with_origin(base_url);
    for up in Upstream::ALL {
        let u = cfg.upstreams.get_mut(up);
        u.rate_limit = None;
        u.max_in_flight = 32;
    }
    cfg
}

pub(crate) async fn start_engine(cfg: EngineConfig) -> EngineHandle {
    Engine::start(cfg).await.expect("engine starts")
}

pub(crate) fn breaker_state(h: &sentinel_actors::HealthReport, up: Upstream) -> (String, u64) {
    h.upstream(up)
        .map(|u| (u.health.breaker.to_string(), u.health.times_opened))
        .unwrap_or_default()
}

pub(crate) fn fetch_stats(e: &EngineHandle, up: Upstream) -> sentinel_actors::FetchStats {
    e.metrics().upstreams[up.index()].clone()
}
