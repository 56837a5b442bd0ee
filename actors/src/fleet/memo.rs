//! What this replica remembers of the fleet between Redis calls, kept by the
//! `FleetClient`: the waiters on another replica's fill (woken by `events.rs`) and the
//! probe leases other replicas are known to hold (`probe.rs`). Plain state, below the
//! client and the tasks that use it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;
use tokio::time::Instant;

use sentinel_core::model::Upstream;

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
