//! The walks of questions, as the router sees them: type-erased jobs it spawns and
//! tracks by id, aborted when their caller leaves, at their deadline, and with the
//! router's state (a stop or a crash). The questions themselves are `crate::question`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use ractor::ActorRef;
use tokio::time::Instant;

use super::{RouterArgs, RouterGone, RouterMsg};
use sentinel_core::model::QueryError;

/// Identifies a question's walk in the router.
pub(crate) type WalkId = u64;

static NEXT_WALK: AtomicU64 = AtomicU64::new(1);

/// What a walk gets when the router starts it: the router and the engine's parts a
/// walk reads.
pub(crate) struct WalkCtx {
    pub(crate) router: ActorRef<RouterMsg>,
    pub(crate) args: RouterArgs,
}

/// A question's walk, type-erased (`crate::question::job` builds it): it sends its
/// typed answer to its caller itself.
pub(crate) type WalkJob = Box<dyn FnOnce(WalkCtx) -> BoxFuture<'static, ()> + Send>;

/// The walks a router runs. Dropped with the router's state (a stop or a crash), it
/// aborts every walk it holds: their callers get a typed error at once.
#[derive(Default)]
pub(super) struct Walks(pub(super) HashMap<WalkId, tokio::task::AbortHandle>);

impl Walks {
    pub(super) fn publish(&self) {
        metrics::gauge!("sentinel_walks_running").set(self.0.len() as f64);
    }
}

impl Drop for Walks {
    fn drop(&mut self) {
        for (_, walk) in self.0.drain() {
            walk.abort();
        }
    }
}

/// Runs a question's walk on `router` and waits for its answer on `answer` (the reply
/// channel `job` sends on) until `deadline`: `Ok(None)` when the deadline passed first.
/// Dropping this future, or the deadline passing, tells the router to abort the walk.
/// `Err(RouterGone)` when the router could not take the walk or stopped before it
/// ended (it aborts the walks it owns).
pub(crate) async fn run_walk<T>(
    router: &ActorRef<RouterMsg>,
    job: WalkJob,
    answer: tokio::sync::oneshot::Receiver<Result<T, QueryError>>,
    deadline: Instant,
) -> Result<Option<Result<T, QueryError>>, RouterGone> {
    let walk = NEXT_WALK.fetch_add(1, Ordering::Relaxed);
    router
        .cast(RouterMsg::Ask {
            walk,
            deadline,
            job,
        })
        .map_err(|_| RouterGone)?;
    let mut guard = Tracked {
        router: router.clone(),
        walk,
        ended: false,
    };
    match tokio::time::timeout_at(deadline, answer).await {
        Ok(Ok(r)) => {
            guard.ended = true;
            Ok(Some(r))
        }
        Ok(Err(_)) => {
            guard.ended = true;
            Err(RouterGone)
        }
        Err(_) => Ok(None),
    }
}

/// Tells the router to abort a walk whose caller stopped waiting for it.
struct Tracked {
    router: ActorRef<RouterMsg>,
    walk: WalkId,
    ended: bool,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.router.cast(RouterMsg::Forget { walk: self.walk });
        }
    }
}
