//! CacheActor: maintenance and bookkeeping of the shared cache. The cache itself is a
//! shared value (reads never cross this mailbox); this actor runs moka's pending
//! evictions on a timer, publishes cache gauges, and serialises invalidations.

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::cache::SharedCache;
use crate::model::PackageName;

/// How often the cache actor runs maintenance.
const TICK: Duration = Duration::from_secs(5);

pub(crate) enum CacheMsg {
    /// Drop entries about a package, or everything; replies with how many.
    Invalidate {
        package: Option<PackageName>,
        reply: RpcReplyPort<u64>,
    },
    /// Periodic maintenance.
    Tick,
    /// Test hook: panic inside the handler.
    Crash,
}

pub(crate) struct CacheActor;

impl Actor for CacheActor {
    type Msg = CacheMsg;
    type State = SharedCache;
    type Arguments = SharedCache;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        cache: SharedCache,
    ) -> Result<Self::State, ActorProcessingErr> {
        // The interval dies with the actor, so a restart does not double the timers.
        myself.send_interval(TICK, || CacheMsg::Tick);
        Ok(cache)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: CacheMsg,
        cache: &mut SharedCache,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CacheMsg::Invalidate { package, reply } => {
                let n = cache.invalidate(package.as_ref());
                tracing::info!(
                    package = package.as_ref().map(|p| p.as_str()),
                    removed = n,
                    "cache invalidated"
                );
                let _ = reply.send(n);
            }
            CacheMsg::Tick => {
                cache.run_pending_tasks();
                let s = cache.stats();
                metrics::gauge!("sentinel_cache_entries").set(s.entries as f64);
                metrics::gauge!("sentinel_cache_bytes").set(s.bytes as f64);
                metrics::gauge!("sentinel_cache_hits").set(s.hits as f64);
                metrics::gauge!("sentinel_cache_misses").set(s.misses as f64);
            }
            CacheMsg::Crash => panic!("test hook: CacheActor asked to crash"),
        }
        Ok(())
    }
}
