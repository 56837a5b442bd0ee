//! The engine's last hour on the handle, for the status page: the incident log and
//! each upstream's series, both kept by the recorder (`crate::recorder`).

use super::EngineHandle;
use sentinel_core::model::Upstream;

impl EngineHandle {
    /// The last hour's incidents, newest first: breaker transitions with their typed
    /// cause, actor restarts, store degradations (bounded; see `recorder.rs`).
    pub fn incidents(&self) -> Vec<crate::recorder::Incident> {
        let sh = self.shared();
        sh.recorder.observe_store(&sh.store.report());
        sh.recorder.incidents()
    }

    /// Each upstream's last hour (requests, failures, latency, breaker timeline) with
    /// its configured rate limit, in [`Upstream::ALL`]'s order.
    pub fn upstream_hours(
        &self,
    ) -> Vec<(
        crate::recorder::UpstreamHour,
        Option<crate::config::RateLimitConfig>,
    )> {
        let sh = self.shared();
        Upstream::ALL
            .iter()
            .map(|up| {
                let hour = sh.recorder.hour(*up, sh.board.view(*up).state);
                (hour, sh.cfg.upstreams.get(*up).rate_limit.clone())
            })
            .collect()
    }
}
