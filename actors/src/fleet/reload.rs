//! Refresh-ahead once for the fleet (FLEET.md 5.7). A hot document is held in the memory
//! of several replicas; the first whose refresh-ahead comes due takes the document's
//! lease and fetches it (the others' refresh flights find the lease held, or the newer
//! copy, and fetch nothing: `actor/router/fleet.rs`). Its fill publishes `filled <key>
//! <replica>`; every other replica whose memory holds that document (the keys it took
//! from L2 or filled, [`super::memo::Watched`]) reads the new copy back from L2 in the
//! background and puts it in memory in place of its older one. Steady hot keys so stay
//! fresh everywhere at one upstream request per TTL for the fleet. Pub/sub is at most
//! once: a replica that misses an event refreshes the ordinary way (its own refresh
//! flight, which reads L2 first).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::time::Instant;

use super::client::FleetClient;
use sentinel_core::model::Query;

/// A copy read back counts as newer than memory's when fetched this much later (the
/// same copy read twice differs by the rounding of its age to milliseconds).
const NEWER_BY: Duration = Duration::from_millis(2);

impl FleetClient {
    /// This replica's memory now holds `q`, taken from the fleet or filled for it.
    pub(crate) fn watch(&self, q: &Query, base_url: &str) {
        self.watched.add(self.doc_key(q, base_url), q);
    }

    /// Another replica filled `key`: when memory holds an older copy of it, the new one
    /// is read from L2 in the background and replaces it.
    pub(super) fn on_filled(self: &Arc<Self>, key: &str) {
        let Some(q) = self.watched.get(key) else {
            return;
        };
        let Some(cache) = self.memory.get().cloned() else {
            return;
        };
        if cache.peek(&q).is_none() {
            self.watched.forget(key);
            return;
        }
        let (me, key) = (self.clone(), key.to_string());
        tokio::spawn(async move {
            let Some(copy) = me.l2_peek(&q, &key).await else {
                return;
            };
            let e = copy.into_entry(&cache, &q);
            let now = Instant::now();
            let newer = cache
                .peek(&q)
                .is_some_and(|held| held.fetched_at + NEWER_BY < e.fetched_at);
            if newer && e.age(now) < e.fresh_for {
                cache.insert(q, Arc::new(e));
                me.counters.reloads.fetch_add(1, Relaxed);
                metrics::counter!("sentinel_fleet_reloads_total").increment(1);
            }
        });
    }
}
