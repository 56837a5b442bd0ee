//! A caller's side of the router: one document asked for as a waiter that can go away
//! (dropping the future tells the router, which abandons or detaches the waiter).

use std::sync::atomic::{AtomicU64, Ordering};

use ractor::ActorRef;
use ractor::rpc::CallResult;
use tokio::time::Instant;

use super::{Resolution, RouterMsg, WaiterId};
use sentinel_core::model::{Query, QueryError};

static NEXT_WAITER: AtomicU64 = AtomicU64::new(1);

/// One document through the router, as a caller that can go away: dropping the future
/// (a disconnect, a cancelled MCP call, a deadline) tells the router this waiter left.
pub(crate) async fn resolve_via(
    router: &ActorRef<RouterMsg>,
    query: Query,
    deadline: Instant,
) -> Result<Resolution, RouterGone> {
    match resolve_within(router, query, None, deadline).await? {
        Some(r) => Ok(r),
        None => Err(RouterGone),
    }
}

/// Like [`resolve_via`], but stops waiting at `budget_end` (answering `None`): the
/// caller has a fallback, and the flight goes on as a refresh of the cache.
pub(crate) async fn resolve_within(
    router: &ActorRef<RouterMsg>,
    query: Query,
    budget_end: Option<Instant>,
    deadline: Instant,
) -> Result<Option<Resolution>, RouterGone> {
    let mut guard = Waiting::new(router, &query);
    let waiter = guard.waiter;
    let q = query.clone();
    let wait = deadline.saturating_duration_since(Instant::now());
    let call = router.call(
        move |reply| RouterMsg::Resolve {
            query: q,
            waiter,
            deadline,
            reply,
        },
        Some(wait),
    );
    let r = match budget_end {
        Some(end) if end < deadline => match tokio::time::timeout_at(end, call).await {
            Ok(r) => r,
            Err(_) => {
                guard.detach = true;
                return Ok(None);
            }
        },
        _ => call.await,
    };
    match r {
        Ok(CallResult::Success(res)) => {
            guard.done = true;
            Ok(Some(res))
        }
        Ok(CallResult::Timeout) => Ok(Some(Err(QueryError::DeadlineExceeded {
            deadline_ms: wait.as_millis() as u64,
        }))),
        Ok(CallResult::SenderError) | Err(_) => {
            guard.done = true;
            Err(RouterGone)
        }
    }
}

/// The router died with our reply port (it is being restarted).
#[derive(Debug)]
pub(crate) struct RouterGone;

/// Tells the router a waiter left when its future is dropped before the answer.
struct Waiting {
    router: ActorRef<RouterMsg>,
    query: Query,
    waiter: WaiterId,
    done: bool,
    /// Leave as a refresh (the caller took a fallback) rather than abandon.
    detach: bool,
}

impl Waiting {
    fn new(router: &ActorRef<RouterMsg>, query: &Query) -> Self {
        Waiting {
            router: router.clone(),
            query: query.clone(),
            waiter: NEXT_WAITER.fetch_add(1, Ordering::Relaxed),
            done: false,
            detach: false,
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (query, waiter) = (self.query.clone(), self.waiter);
        let _ = self.router.cast(if self.detach {
            RouterMsg::Detach { query, waiter }
        } else {
            RouterMsg::Abandon { query, waiter }
        });
    }
}
