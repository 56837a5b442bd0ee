//! FetchActor: one per upstream. Owns that upstream's HTTP client, rate limiters,
//! concurrency limit and retry budget (all in a shared [`FetchContext`]). A request is
//! started in a spawned task and the handler returns at once; the task records the
//! fetch's duration and answers the caller itself, so the outcome does not wait in this
//! actor's mailbox (one cross-thread hop less on every upstream request).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tracing::Instrument;

pub(crate) use super::http::{FetchContext, FetchFailure, FetchOutcome, FetchRequest};
use crate::model::Upstream;

pub(crate) enum FetchMsg {
    /// Fetch a document.
    Fetch {
        req: FetchRequest,
        reply: RpcReplyPort<FetchOutcome>,
    },
    /// Test hook: panic inside the handler.
    Crash,
}

/// Request counters of one upstream, for reports.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FetchStats {
    /// The upstream.
    pub upstream: Upstream,
    /// Requests (each may take several attempts).
    pub requests: u64,
    /// HTTP attempts sent.
    pub attempts: u64,
    /// Retries sent.
    pub retries: u64,
    /// Retries refused by the retry budget.
    pub budget_refusals: u64,
    /// Requests that failed after retries.
    pub failures: u64,
}

impl FetchContext {
    pub(crate) fn stats(&self) -> FetchStats {
        let c = &self.counters;
        FetchStats {
            upstream: self.upstream,
            requests: c.requests.load(Ordering::Relaxed),
            attempts: c.attempts.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            budget_refusals: c.budget_refusals.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
        }
    }
}

pub(crate) struct FetchActor;

impl Actor for FetchActor {
    type Msg = FetchMsg;
    /// The context outlives restarts (the engine owns it), so limits and budgets are
    /// not reset by a crash.
    type State = Arc<FetchContext>;
    type Arguments = Arc<FetchContext>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        ctx: Arc<FetchContext>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(ctx)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: FetchMsg,
        ctx: &mut Arc<FetchContext>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            FetchMsg::Fetch { req, reply } => {
                let ctx = ctx.clone();
                let started = Instant::now();
                let span = tracing::debug_span!("fetch", query = %req.query);
                tokio::spawn(
                    async move {
                        let outcome = ctx.fetch(&req).await;
                        let label = match &outcome {
                            FetchOutcome::Fetched { .. } => "fetched",
                            FetchOutcome::NotModified => "not_modified",
                            FetchOutcome::NotFound => "not_found",
                            FetchOutcome::Failed(_) => "failed",
                        };
                        metrics::histogram!("sentinel_upstream_fetch_seconds",
                            "upstream" => ctx.upstream.as_str(), "outcome" => label)
                        .record(started.elapsed().as_secs_f64());
                        // Answered from here, not through this actor's mailbox. If the
                        // caller gave up meanwhile, the send fails harmlessly.
                        let _ = reply.send(outcome);
                    }
                    .instrument(span),
                );
            }
            FetchMsg::Crash => panic!("test hook: FetchActor asked to crash"),
        }
        Ok(())
    }
}
