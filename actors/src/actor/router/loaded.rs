//! The router's step after a flight asked for its earlier copy (`fleet::load_copy`):
//! the fleet's (with the document's lease) or the store's copy, and what the fleet said
//! (another replica fetching it, its failure or 404 of a moment ago). A fresh copy
//! answers the flight as `cached`; a copy past its freshness is the flight's fallback
//! while the upstream is asked, unless another replica is asking it for the fleet.

use std::sync::Arc;

use ractor::ActorRef;
use tokio::time::Instant;

use super::words::{describe, swr_reason};
use super::{DocAnswer, RouterMsg, RouterState, fleet};
use crate::actor::cache::CacheMsg;
use crate::cache::CacheEntry;
use sentinel_core::model::{Provenance, Query, QueryError};

impl RouterState {
    /// The earlier copy (the fleet's, the store's) and the fleet's word came back for a
    /// flight that asked before the upstream.
    pub(super) fn loaded(
        &mut self,
        myself: &ActorRef<RouterMsg>,
        query: Query,
        id: u64,
        entry: Option<Arc<CacheEntry>>,
        turn: fleet::Turn,
    ) {
        let Some(flight) = self.flights.get_mut(&query).filter(|f| f.id == id) else {
            return;
        };
        flight.lease = turn.lease;
        if entry.is_some() {
            metrics::counter!("sentinel_store_copies_loaded_total").increment(1);
        }
        let now = Instant::now();
        // Only a copy newer than the one the flight holds (stale, or due for a refresh).
        let held = flight.stale.clone();
        let entry = entry.filter(|e| held.as_ref().is_none_or(|h| h.fetched_at < e.fetched_at));
        // (Unless this replica holds the lease: then the fleet waits for its fetch.)
        if flight.lease.is_none()
            && let Some(e) = entry.as_ref().filter(|e| e.age(now) < e.fresh_for)
        {
            // Still as fresh as its upstream said: answered as `cached` with its true
            // age, and nothing is asked. Kept in memory unless this run fetched one (a
            // copy the fleet fetched replaces the older one held).
            if held.is_some() {
                self.args.cache.insert(query.clone(), e.clone());
            } else {
                self.args.cache.insert_if_absent(query.clone(), e.clone());
            }
            if !e.from_store
                && let Some(cache) = self.args.registry.cache.get()
            {
                // The fleet's copy, hot here too: refreshed ahead like a fill.
                let _ = cache.cast(CacheMsg::Watch(query.clone()));
            }
            let e = e.clone();
            let up = query.upstream();
            return self.answer(&query, id, |_| {
                Ok(DocAnswer::from_entry(&e, Provenance::Cached, up, now))
            });
        }
        // Past its freshness: not served at once as stale-while-revalidate: the
        // upstream is asked first (with the kept ETag), the copy is the fallback if it
        // fails or is slow.
        if entry.is_some() {
            flight.stale = entry;
        }
        if turn.held_elsewhere
            && let Some(e) = flight.stale.clone()
            && (flight.waiters.is_empty() || self.args.cfg.stale_while_revalidate)
        {
            // Another replica is fetching it for the fleet: the copy answers now, and
            // that replica's fill reaches this memory (`fleet::reload`).
            let Some(flight) = self.flights.remove(&query) else {
                return;
            };
            let up = query.upstream();
            let reason = swr_reason(&e, up, self.args.board.view(up).state, now);
            return self.answer_stale(flight.waiters.into_iter(), &e, up, reason, now);
        }
        if turn.not_found {
            // Another replica was answered 404 a moment ago.
            return self.answer(&query, id, |_| {
                Err(QueryError::NotFound {
                    what: describe(&query),
                    upstream: query.upstream(),
                })
            });
        }
        // Another replica's fetch failed a moment ago: the fleet does not ask again
        // before its retry time; the copy (or that failure) answers now.
        if let Some((cause, memo)) = turn.failed {
            metrics::counter!("sentinel_remembered_failures_served_total").increment(1);
            return self.fail(&query, id, cause, Some(memo));
        }
        self.begin(myself, query, id);
    }
}
