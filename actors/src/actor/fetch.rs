//! FetchActor: one per upstream. It decides *when* a request may be sent: it reserves
//! the upstream's rate-limit slots (a strict sliding window, first come first served),
//! defers what cannot be served within the caller's answer budget, and keeps the
//! bounded polite queue of deferred fetches that run later at the allowed rate. The
//! request itself runs in a spawned task (HTTP client, concurrency permit, retries,
//! retry budget: [`FetchContext`]), so the handler never awaits I/O; the outcome goes
//! straight to the caller's [`Notify`] callback, not through this mailbox.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tracing::Instrument;

pub(crate) use super::http::{FetchContext, FetchOutcome, FetchRequest};
use sentinel_core::model::untrusted::redact_urls;
use sentinel_core::model::{Query, Upstream};
use sentinel_core::policy::Reservation;

/// Where a fetch's outcome goes (the router turns it into one of its own messages).
pub(crate) type Notify = Arc<dyn Fn(FetchOutcome) + Send + Sync>;

pub(crate) enum FetchMsg {
    /// Fetch a document; the outcome goes to `notify` (once for the caller; a queued
    /// fetch reports `Deferred` first, then its real outcome when it has run).
    Fetch { req: FetchRequest, notify: Notify },
    /// A queued fetch has run: its slot in the polite queue is free.
    QueuedDone { query: Query },
    /// A streamed transfer (a file download) asks for its rate-limit slot: the slot
    /// reserved, or when the next one is when none is free before `wait_until`. The
    /// caller waits for it and streams with a permit held (see `actor::transfer`).
    Reserve {
        wait_until: Instant,
        reply: RpcReplyPort<Reservation>,
    },
    /// Test hook: panic inside the handler.
    #[cfg(any(test, feature = "test-hooks"))]
    Crash,
}

/// Request counters of one upstream, for reports.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
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
    /// Requests our own rate limit could not serve within the answer budget.
    pub deferred: u64,
    /// Deferred requests put in the polite queue.
    pub queued: u64,
    /// Requests dropped because every caller had gone.
    pub cancelled: u64,
    /// Fetches waiting in the polite queue now.
    pub queue_len: u64,
    /// Fetches waiting now for their reserved slot of our own rate limit (within the
    /// caller's wait: the answer budget, or the deadline when it waits for our limits).
    #[serde(default)]
    pub slot_waits: u64,
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
            deferred: c.deferred.load(Ordering::Relaxed),
            queued: c.queued.load(Ordering::Relaxed),
            cancelled: c.cancelled.load(Ordering::Relaxed),
            queue_len: c.queue_len.load(Ordering::Relaxed),
            slot_waits: c.slot_waits.load(Ordering::Relaxed),
        }
    }
}

pub(crate) struct FetchActor;

/// What the FetchActor owns besides the shared context: the polite queue.
pub(crate) struct FetchState {
    ctx: Arc<FetchContext>,
    /// Deferred fetches waiting for their reserved slot (deduplicated by query).
    queued: HashMap<Query, Instant>,
}

impl Actor for FetchActor {
    type Msg = FetchMsg;
    type State = FetchState;
    /// The context outlives restarts (the supervisor hands it back), so the limiter's
    /// window and the retry budget are not reset by a crash. The polite queue's tasks
    /// keep running across a restart; only their bookkeeping here starts empty.
    type Arguments = Arc<FetchContext>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        ctx: Arc<FetchContext>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(FetchState {
            ctx,
            queued: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: FetchMsg,
        st: &mut FetchState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            FetchMsg::Fetch { req, notify } => st.fetch(myself, req, notify),
            FetchMsg::QueuedDone { query } => {
                st.queued.remove(&query);
                st.ctx
                    .counters
                    .queue_len
                    .store(st.queued.len() as u64, Ordering::Relaxed);
            }
            FetchMsg::Reserve { wait_until, reply } => {
                let now = Instant::now();
                let r = st
                    .ctx
                    .lock_limiter()
                    .reserve(now.into_std(), wait_until.into_std());
                if let Reservation::NotBefore(_) = r {
                    st.ctx.counters.deferred.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("sentinel_deferred_total", "upstream" => st.ctx.upstream.as_str())
                        .increment(1);
                }
                if reply.send(r).is_err()
                    && let Reservation::At(at) = r
                {
                    // The caller went first: give the slot back.
                    st.ctx.lock_limiter().cancel(at);
                }
            }
            #[cfg(any(test, feature = "test-hooks"))]
            FetchMsg::Crash => panic!("test hook: FetchActor asked to crash"),
        }
        Ok(())
    }
}

impl FetchState {
    fn fetch(&mut self, myself: ActorRef<FetchMsg>, req: FetchRequest, notify: Notify) {
        let now = Instant::now();
        let ctx = &self.ctx;
        if let Some(at) = self.queued.get(&req.query) {
            // Already waiting in the polite queue: this caller joins it.
            notify(FetchOutcome::Deferred {
                retry_after: at.saturating_duration_since(now),
                queued: true,
            });
            return;
        }
        if req.spare_only && !ctx.room_to_spare(now) {
            // A refresh-ahead never takes a slot a caller may need: it simply does not
            // happen (the document goes stale and is fetched on demand as usual).
            metrics::counter!("sentinel_refresh_ahead_skipped_total", "upstream" => ctx.upstream.as_str())
                .increment(1);
            notify(FetchOutcome::Deferred {
                retry_after: std::time::Duration::ZERO,
                queued: false,
            });
            return;
        }
        if ctx.fleet_quota() {
            // The fleet's quota is a Redis round trip: taken in the fetch's own task.
            spawn_fleet_fetch(ctx.clone(), req, notify);
            return;
        }
        // A refresh-ahead takes a slot free now or none.
        let latest = if req.spare_only { now } else { req.wait_until };
        let reservation = ctx
            .lock_limiter()
            .reserve(now.into_std(), latest.into_std());
        match reservation {
            Reservation::NotBefore(next) if req.spare_only => {
                metrics::counter!("sentinel_refresh_ahead_skipped_total", "upstream" => ctx.upstream.as_str())
                .increment(1);
                notify(FetchOutcome::Deferred {
                    retry_after: next.saturating_duration_since(now.into_std()),
                    queued: false,
                });
            }
            Reservation::At(at) => {
                spawn_fetch(ctx.clone(), Instant::from_std(at), req, notify, None)
            }
            Reservation::NotBefore(next) => {
                ctx.counters.deferred.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("sentinel_deferred_total", "upstream" => ctx.upstream.as_str())
                    .increment(1);
                if self.queued.len() >= ctx.queue_capacity() {
                    notify(FetchOutcome::Deferred {
                        retry_after: next.saturating_duration_since(now.into_std()),
                        queued: false,
                    });
                    return;
                }
                // Reserve the next free slot, however far, and run the fetch then, in
                // the background: its result fills the cache for whoever asks again.
                let at = Instant::from_std(ctx.lock_limiter().reserve_any(now.into_std()));
                self.queued.insert(req.query.clone(), at);
                ctx.counters.queued.fetch_add(1, Ordering::Relaxed);
                ctx.counters
                    .queue_len
                    .store(self.queued.len() as u64, Ordering::Relaxed);
                notify(FetchOutcome::Deferred {
                    retry_after: at.saturating_duration_since(now),
                    queued: true,
                });
                let background = FetchRequest {
                    query: req.query,
                    etag: req.etag,
                    last_modified: req.last_modified,
                    deadline: at + req.deadline.saturating_duration_since(now),
                    // A retry of a queued fetch takes a slot only if one is free when
                    // it is due; otherwise the fetch ends with the upstream's failure.
                    wait_until: at,
                    // Nobody waits for it, so only the engine's shutdown stops it.
                    cancel: ctx.shutdown.child_token(),
                    spare_only: false,
                };
                spawn_fetch(ctx.clone(), at, background, notify, Some(myself));
            }
        }
    }
}

/// A fetch whose slot comes from the fleet's quota: reserved in a task (one Redis round
/// trip, bounded by its deadline), then run as any other. A refresh-ahead does not
/// take a fleet slot (it would take one a caller may need on another replica); a slot
/// past the answer budget is `deferred` with the fleet's exact wait (not queued).
fn spawn_fleet_fetch(ctx: Arc<FetchContext>, req: FetchRequest, notify: Notify) {
    tokio::spawn(async move {
        let now = Instant::now();
        if req.spare_only {
            notify(FetchOutcome::Deferred {
                retry_after: std::time::Duration::ZERO,
                queued: false,
            });
            return;
        }
        match ctx.reserve_slot(now, req.wait_until).await {
            Reservation::At(at) => spawn_fetch(ctx, Instant::from_std(at), req, notify, None),
            Reservation::NotBefore(next) => {
                ctx.counters.deferred.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("sentinel_deferred_total", "upstream" => ctx.upstream.as_str())
                    .increment(1);
                notify(FetchOutcome::Deferred {
                    retry_after: next.saturating_duration_since(Instant::now().into_std()),
                    queued: false,
                });
            }
        }
    });
}

/// Runs one fetch at its reserved slot `at`, in a task, and reports the outcome.
fn spawn_fetch(
    ctx: Arc<FetchContext>,
    at: Instant,
    req: FetchRequest,
    notify: Notify,
    queued_in: Option<ActorRef<FetchMsg>>,
) {
    let span = tracing::debug_span!("fetch", query = %redact_urls(&req.query.to_string()), queued = queued_in.is_some());
    tokio::spawn(
        async move {
            // Wait for the reserved slot, unless every caller goes first: then give
            // the slot back (when it is still the newest) and stop.
            let outcome = tokio::select! {
                biased;
                _ = req.cancel.cancelled() => {
                    ctx.lock_limiter().cancel(at.into_std());
                    ctx.counters.cancelled.fetch_add(1, Ordering::Relaxed);
                    FetchOutcome::Cancelled
                }
                // A slot that is due now must not cost a timer tick (tokio rounds a
                // deadline up to the next millisecond).
                _ = async {
                    if at > Instant::now() {
                        let _gauge = SlotWait::enter(&ctx.counters.slot_waits);
                        tokio::time::sleep_until(at).await
                    }
                } => {
                    let started = Instant::now();
                    let outcome = ctx.fetch(&req).await;
                    metrics::histogram!("sentinel_upstream_fetch_seconds",
                        "upstream" => ctx.upstream.as_str(), "outcome" => outcome_label(&outcome))
                    .record(started.elapsed().as_secs_f64());
                    let failure = match &outcome {
                        FetchOutcome::Failed(f) => Some((&f.kind, f.detail.as_str())),
                        _ => None,
                    };
                    ctx.recorder.fetched(ctx.upstream, outcome.upstream_verdict(), failure, started.elapsed());
                    outcome
                }
            };
            if let Some(actor) = queued_in {
                let _ = actor.cast(FetchMsg::QueuedDone {
                    query: req.query.clone(),
                });
            }
            notify(outcome);
        }
        .instrument(span),
    );
}

/// Counts a fetch as waiting for its slot while it lives (a cancelled wait included).
struct SlotWait<'a>(&'a std::sync::atomic::AtomicU64);

impl<'a> SlotWait<'a> {
    fn enter(gauge: &'a std::sync::atomic::AtomicU64) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        SlotWait(gauge)
    }
}

impl Drop for SlotWait<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn outcome_label(o: &FetchOutcome) -> &'static str {
    match o {
        FetchOutcome::Fetched { .. } => "fetched",
        FetchOutcome::NotModified { .. } => "not_modified",
        FetchOutcome::NotFound => "not_found",
        FetchOutcome::Failed(_) => "failed",
        FetchOutcome::Deferred { .. } => "deferred",
        FetchOutcome::Cancelled => "cancelled",
    }
}
