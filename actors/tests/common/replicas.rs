//! Shared by the fleet's tests: a replica's configuration, its fleet report, the
//! simulator that limits pypistats per client IP (the quota's referee), the count of
//! pypistats requests that went wrong, and a bounded wait.

use sentinel_actors::{EngineConfig, EngineHandle, FleetReport, Upstream};
use sentinel_sim::{Sim, SimConfig, SimHandle};

/// A replica named `id` sharing `redis` (none: the control, one replica alone).
pub fn replica_config(sim: &SimHandle, redis: Option<&str>, id: &str) -> EngineConfig {
    let mut cfg = super::test_config(sim);
    cfg.fleet.redis_url = redis.map(str::to_string);
    cfg.fleet.replica_id = id.to_string();
    // The default 25 ms deadline is for production; on a shared 2-core test machine
    // a first call (connect, script load, a TLS handshake) may take longer, and one
    // late call would open the gate.
    cfg.fleet.op_timeout_ms = 200;
    cfg
}

/// `cfg` with pypistats' real strict windows (5/s, 30/min), so the fleet quota runs.
pub fn with_strict_pypistats(mut cfg: EngineConfig) -> EngineConfig {
    cfg.upstreams.pypistats.rate_limit = EngineConfig::default().upstreams.pypistats.rate_limit;
    cfg
}

pub fn fleet(e: &EngineHandle) -> FleetReport {
    e.metrics().fleet.expect("the fleet is on")
}

/// pypistats requests that went wrong (a 429 is retried or fails), over `engines`.
pub fn pypistats_trouble(engines: &[EngineHandle]) -> u64 {
    engines
        .iter()
        .flat_map(|e| e.metrics().upstreams)
        .filter(|u| u.upstream == Upstream::Pypistats)
        .map(|u| u.retries + u.failures)
        .sum()
}

/// A simulator limiting pypistats per client IP (5/s and 30/min, like pypistats.org)
/// with 400 packages: every replica is 127.0.0.1, so a request too many is a 429.
pub async fn limited_sim() -> SimHandle {
    Sim::start(SimConfig {
        pypistats_rate_limit: true,
        synthetic: 400,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// Polls every 10 ms until `f` holds; panics naming `what` after 20 s.
pub async fn until(mut f: impl FnMut() -> bool, what: &str) {
    for _ in 0..2_000 {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
