//! The one engine configuration the workspace's tests and benches start from: every
//! upstream at the simulator, policies shortened so tests run in milliseconds. Only
//! with the `test-hooks` feature: users never get these settings.

use crate::config::EngineConfig;
use sentinel_core::model::Upstream;

/// Every upstream at `origin` (the simulator's base URL), no client-side rate limit
/// (tests of the limiter turn it back on), quick retries (5 ms, capped at 20 ms),
/// short timeouts (connect 500 ms, attempt
/// 1 s, deadline 2 s), no failure memory (each failure reaches the upstream) and no
/// store (tests share no file; the store's own tests give each one a tempdir). A test
/// changes what it needs on the value it gets.
pub fn sim_config(origin: &str) -> EngineConfig {
    let mut cfg = EngineConfig::default().with_origin(origin);
    for up in Upstream::ALL {
        let u = cfg.upstreams.get_mut(up);
        u.rate_limit = None;
        u.retry.base_ms = 5;
        u.retry.cap_ms = 20;
    }
    cfg.timeouts.connect_ms = 500;
    cfg.timeouts.attempt_ms = 1_000;
    cfg.timeouts.deadline_ms = 2_000;
    cfg.shutdown_grace_ms = 1_000;
    cfg.cache.failure_ttl_ms = 0;
    cfg.store.path = None;
    cfg
}
