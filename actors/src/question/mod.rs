//! Questions: one type per question family, each with its input, its walk over the
//! router's flights and its typed answer (docs/ARCHITECTURE.md, sections 2 and 9).
//!
//! A question is a value implementing [`Question`]. `EngineHandle::ask` hands it to the
//! RouterActor, which runs its walk as a task it spawns **and tracks** (id, deadline,
//! abort handle); the typed answer goes straight back to the caller on a oneshot, so no
//! enum carries every question and no caller matches an answer it did not ask for.
//! When the caller's future is dropped, its guard tells the router, which aborts the
//! walk and with it the walk's waits on flights (each `Waiting` guard then abandons its
//! flight). Shutdown and a router restart abort every walk the router owned; the caller
//! gets a typed error at once, never a hang.
//!
//! A walk fetches only through [`Walker`]: a document by the usual path (fresh hit,
//! else the router's flight, with its coalescing, breaker, rate limit and stale copy).
//!
//! | family | questions |
//! | --- | --- |
//! | [`versions`] | every version: the project JSON, then the Simple API |
//! | [`recent`] | recent downloads: pypistats, else estimates from the series held |
//! | [`overview`] | metadata and recent downloads of several packages |
//! | [`docs`] | the short docs of several packages |
//! | [`release`] | the release for a target Python |
//! | [`scan`] | a project's declared dependencies against their version lists; the supply-chain check of a package |
//! | [`resolve`] | a dependency resolution; the vulnerabilities of a release |
//! | [`explain`] | why a package is in a resolved tree: every chain that pulls it in |
//! | [`vulns`] | a release's advisories from the configured sources (PyPI's JSON, OSV) |
//! | [`audit`] | a project's audit: its scan, its tree's vulnerabilities, its direct dependencies' checks |

pub(crate) mod audit;
pub(crate) mod confusion;
pub(crate) mod docs;
pub(crate) mod explain;
pub(crate) mod metadata;
pub(crate) mod overview;
pub(crate) mod recent;
pub(crate) mod release;
pub(crate) mod resolve;
pub(crate) mod scan;
pub(crate) mod versions;
pub(crate) mod vulns;

use std::future::Future;
use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::actor::router::{
    DocAnswer, Resolution, RouterArgs, RouterMsg, WalkCtx, WalkJob, resolve_via,
};
use sentinel_core::model::{Query, QueryError, UnavailableCause};

/// The public face of each question family, re-exported at the crate root: a new
/// question adds its input and answer types here (and nothing in `engine.rs` or
/// `lib.rs`: `EngineHandle::ask` takes any question).
pub(crate) mod public {
    pub use super::explain::{
        ChainStep, ExcludedRequirement, Explain, Explanation, MAX_CHAINS, Presence,
    };
    pub use super::overview::PackageOverview;
}

/// A question over one or more documents, walked in a task the router owns. Its
/// input is checked when it is built, so a walk never starts on bad input; ask it with
/// [`EngineHandle::ask`](crate::EngineHandle::ask).
pub trait Question: Clone + Send + 'static {
    /// What the walk produces (failures of parts are inside it; the `Err` of the walk
    /// is the whole question's failure).
    type Answer: Send + 'static;

    /// Fetches what the question needs through `walker` and computes the answer, by
    /// `deadline`.
    fn walk(
        self,
        walker: &Walker,
        deadline: Instant,
    ) -> impl Future<Output = Result<Self::Answer, QueryError>> + Send;
}

/// The capability a walk fetches through: documents by the usual path, over the
/// router's flights, and the engine's parts a walk reads (config, cache, store).
pub struct Walker {
    pub(crate) router: ActorRef<RouterMsg>,
    pub(crate) args: RouterArgs,
    /// When the walk began: a document fetched since then is live for its answer.
    started: Instant,
    /// The index answered "not found" for the per-release JSON of a release its
    /// Simple page lists (a mirror or private index without a JSON API): the rest of
    /// this walk reads a wheel's `METADATA` first.
    pub(crate) no_release_json: std::sync::atomic::AtomicBool,
}

impl From<WalkCtx> for Walker {
    fn from(ctx: WalkCtx) -> Self {
        Walker {
            router: ctx.router,
            args: ctx.args,
            started: Instant::now(),
            no_release_json: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// Wraps `question` as the type-erased job the router runs: the walk, bounded by
/// `deadline`, its answer sent on `reply`. Nothing is sent when the job is aborted:
/// the caller sees the channel closed.
pub(crate) fn job<Q: Question>(
    question: Q,
    deadline: Instant,
    reply: oneshot::Sender<Result<Q::Answer, QueryError>>,
) -> WalkJob {
    Box::new(move |ctx: WalkCtx| {
        Box::pin(async move {
            let walker = Walker::from(ctx);
            let answer = question.walk(&walker, deadline).await;
            let _ = reply.send(answer);
        })
    })
}

impl Walker {
    /// One document: a fresh hit here, else the router's flight.
    pub(crate) async fn doc(&self, q: Query, deadline: Instant) -> Resolution {
        if let Some(hit) = self.fresh(&q) {
            return Ok(hit);
        }
        match resolve_via(&self.router(), q, deadline).await {
            Ok(r) => r,
            Err(_) => Err(router_restarted()),
        }
    }

    /// A fresh copy held here, without asking any upstream: in memory, else on disk
    /// (an earlier process's copy still within its freshness, or immutable), then
    /// kept in memory too.
    pub(crate) async fn held(&self, q: &Query) -> Option<DocAnswer> {
        if let Some(hit) = self.fresh(q) {
            return Some(hit);
        }
        let store = self.args.store.clone();
        if !store.may_hold(q) {
            return None;
        }
        let (cache, key) = (self.args.cache.clone(), q.clone());
        let entry = tokio::task::spawn_blocking(move || {
            let now = Instant::now();
            let e = cache.kept_entry(&key, store.load(&key, now)?, now);
            (e.age(now) < e.fresh_for).then(|| std::sync::Arc::new(e))
        })
        .await
        .ok()??;
        self.args.cache.insert_if_absent(q.clone(), entry);
        self.fresh(q)
    }

    /// A fresh hit in the cache. A document fetched after this walk began (by another
    /// part of the same question, which finished first, or by anyone) was had from its
    /// upstream for this answer: it is `live` here, not `cached`. Without this, the
    /// parts of one question (an audit's scan and resolution) would label the same
    /// fetch `live` or `cached` by which of them asked first.
    pub(crate) fn fresh(&self, q: &Query) -> Option<DocAnswer> {
        let mut hit = DocAnswer::fresh(&self.args.cache, q)?;
        if hit.age < self.started.elapsed() {
            hit.provenance = sentinel_core::model::Provenance::Live;
        }
        Some(hit)
    }

    /// The current router. The walk is aborted when the router that owns it stops, so
    /// this is the owner unless a message races its restart.
    pub(crate) fn router(&self) -> ActorRef<RouterMsg> {
        self.args
            .router
            .get()
            .unwrap_or_else(|| self.router.clone())
    }

    /// Where the parts of a merged answer (a fan-out, a resolution, a check) stop: a
    /// little before the caller's deadline, so that a part that could not be had is a
    /// typed failure in an answer rather than the whole answer missing the deadline.
    pub(crate) fn parts_deadline(deadline: Instant) -> Instant {
        let margin =
            (deadline.saturating_duration_since(Instant::now()) / 10).min(Duration::from_secs(1));
        deadline - margin
    }

    /// The end of the answer budget, or the deadline if sooner.
    pub(crate) fn budget_end(&self, deadline: Instant) -> Instant {
        let budget = Duration::from_millis(self.args.cfg.timeouts.answer_budget_ms);
        (Instant::now() + budget).min(deadline)
    }

    /// The answer budget as a timeout cause, for a part that was not had within it.
    pub(crate) fn budget_timeout(&self) -> UnavailableCause {
        UnavailableCause::Timeout {
            waited_ms: self.args.cfg.timeouts.answer_budget_ms,
            attempts: 1,
        }
    }
}

/// What a caller gets when the router that ran its walk stopped mid-way.
pub(crate) fn router_restarted() -> QueryError {
    QueryError::Internal("the router restarted during the request; retry".into())
}

/// Errors after which another source may still answer.
pub(crate) fn has_fallback(e: &QueryError) -> bool {
    matches!(
        e,
        QueryError::Unavailable { .. } | QueryError::DeadlineExceeded { .. }
    )
}
