//! Where the live `ActorRef`s are found. The supervisor replaces an entry when it
//! restarts an actor, so nobody holds a reference to a dead actor for long. The
//! router's own slot is apart (`EngineShared::router`): the router
//! reads this registry, and the registry names no router type.

use std::sync::RwLock;

use ractor::ActorRef;

use super::cache::CacheMsg;
use super::estimator::EstimatorMsg;
use super::fetch::FetchMsg;
use super::health::HealthMsg;
use sentinel_core::model::Upstream;

/// The current reference of every actor the router calls.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) health: Slot<HealthMsg>,
    pub(crate) fetch: [Slot<FetchMsg>; Upstream::COUNT],
    pub(crate) estimator: Slot<EstimatorMsg>,
    pub(crate) cache: Slot<CacheMsg>,
}

impl Registry {
    pub(crate) fn fetch(&self, up: Upstream) -> &Slot<FetchMsg> {
        &self.fetch[up.index()]
    }
}

/// One actor's current reference (none while it restarts or after shutdown).
pub(crate) struct Slot<M: ractor::Message>(RwLock<Option<ActorRef<M>>>);

impl<M: ractor::Message> Default for Slot<M> {
    fn default() -> Self {
        Slot(RwLock::new(None))
    }
}

impl<M: ractor::Message> Slot<M> {
    pub(crate) fn get(&self) -> Option<ActorRef<M>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set(&self, r: Option<ActorRef<M>>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = r;
    }
}
