//! What this replica remembers of the fleet between Redis calls, kept by the
//! `FleetClient`: the waiters on another replica's fill (woken by `events.rs`), the
//! documents its memory holds that another replica's fill should reload (`reload.rs`)
//! the probe leases other replicas are known to hold (`probe.rs`) and the upstream
//! requests counted for the fleet (`rates.rs`). Plain state, below the client and the
//! tasks that use it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;
use tokio::time::Instant;

use sentinel_core::model::{Query, Upstream};

/// Per document key, the waiters of this replica (one `Notify` shared by them; the map
/// keeps it weakly, so it goes when the last waiter does).
#[derive(Default)]
pub(crate) struct FillWaiters(Mutex<HashMap<String, Weak<Notify>>>);

impl FillWaiters {
    /// The wake-up of `key`'s waiters, created for the first.
    pub(crate) fn get(&self, key: &str) -> Arc<Notify> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get(key).and_then(Weak::upgrade) {
            return n;
        }
        if m.len() >= 1024 {
            m.retain(|_, w| w.strong_count() > 0);
        }
        let n = Arc::new(Notify::new());
        m.insert(key.to_string(), Arc::downgrade(&n));
        n
    }

    /// Wakes `key`'s waiters; whether there were any.
    pub(super) fn wake(&self, key: &str) -> bool {
        let n = {
            let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
            m.remove(key).and_then(|w| w.upgrade())
        };
        n.map(|n| n.notify_waiters()).is_some()
    }
}

/// The documents (L2 key → query) this replica's memory took from the fleet or filled
/// for it: another replica's `filled` event for one of them reloads it. Bounded: when
/// full it forgets everything and starts over (a forgotten key is only refreshed the
/// ordinary way, by refresh-ahead or on demand).
#[derive(Default)]
pub(crate) struct Watched(Mutex<HashMap<String, Query>>);

/// Most documents watched at once.
const MAX_WATCHED: usize = 4096;

impl Watched {
    pub(crate) fn add(&self, key: String, q: &Query) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_WATCHED && !m.contains_key(&key) {
            m.clear();
        }
        m.insert(key, q.clone());
    }

    pub(super) fn get(&self, key: &str) -> Option<Query> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    pub(super) fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// Per upstream: until when another replica's lease is known to run, so calls in the
/// meantime cost no round trip.
#[derive(Default)]
pub(crate) struct ProbeMemo(Mutex<[Option<Instant>; Upstream::COUNT]>);

impl ProbeMemo {
    pub(super) fn get(&self, up: Upstream, now: Instant) -> Option<Instant> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m[up.index()].filter(|u| now < *u)
    }

    pub(super) fn set(&self, up: Upstream, until: Option<Instant>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner())[up.index()] = until;
    }
}

/// This replica's upstream requests not yet written to the fleet's per-minute counts,
/// and the fleet's figures as last read (`rates.rs`).
#[derive(Default)]
pub(crate) struct Rates {
    pub(crate) pending: [std::sync::atomic::AtomicU64; Upstream::COUNT],
    pub(crate) seen: Mutex<Vec<super::FleetRate>>,
}
