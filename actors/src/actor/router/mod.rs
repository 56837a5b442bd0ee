//! RouterActor: owns each question's whole life, from the first cache miss to the
//! answer (docs/ARCHITECTURE.md section 2).
//!
//! For one document it keeps one *flight*: the waiters of an identical query share one
//! upstream request (coalescing); the breaker is read from the published board (a probe
//! asks the HealthActor); the FetchActor is asked for the document and its outcome comes
//! back here as a message; the CacheActor fills the cache and acks, and only then are
//! the waiters answered (callers arriving meanwhile join the flight); the upstream's
//! verdict (and only the upstream's: never our own rate limit, never a cancellation)
//! goes to the HealthActor.
//! Every document has one fallback, the stale copy: served at once past the fresh TTL
//! (stale-while-revalidate), when the upstream fails (stale-if-error), and when it is
//! slower than the caller's answer budget (stale-if-slow). A flight whose callers have
//! all gone is cancelled unless the cache wants it as a refresh. An upstream failure is
//! remembered for `cache.failure_ttl_ms` (`memo.rs`): a flight started within it ends
//! with that failure, marked as remembered (or with the stale copy), without asking
//! again, so that a failing upstream is not asked once per caller until its breaker
//! opens.
//!
//! Questions (`crate::question`) are walked in tasks the router spawns and tracks
//! (id, deadline, abort handle) over these same flights: a question's caller leaving,
//! shutdown and a router restart each abort its walk, and with it the walk's waits on
//! flights. The router sees each walk as a type-erased job; its typed answer goes
//! straight back to the caller.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod call;
mod fleet;
mod loaded;
mod memo;
mod walks;
mod words;

pub(crate) use call::{RouterGone, resolve_via, resolve_within};
use memo::FailureMemo;
use walks::Walks;
pub(crate) use walks::{WalkCtx, WalkId, WalkJob, run_walk};
use words::{describe, swr_reason};

use super::EngineCounters;
use super::cache::{CacheMsg, Fill, FillJob, Writes};
use super::fetch::{FetchMsg, FetchOutcome, FetchRequest, Notify};
use super::health::{BreakerBoard, HealthMsg};
use super::registry::{Registry, Slot};
use crate::cache::{CacheEntry, Lookup, SharedCache};
use crate::config::EngineConfig;
use crate::store::Store;
use sentinel_core::model::{
    Provenance, Query, QueryError, Remembered, StaleReason, UnavailableCause, Upstream,
};
use sentinel_core::policy::{Admission, BreakerState, CallOutcome};
use sentinel_core::upstream::Document;

/// A document with where it came from.
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "internals"), allow(unreachable_pub))]
pub struct DocAnswer {
    /// The document.
    pub doc: Arc<Document>,
    /// Its provenance.
    pub provenance: Provenance,
    /// The upstream it came from.
    pub upstream: Upstream,
    /// Its age.
    pub age: Duration,
    /// The newest day in its data (days since 1970-01-01), when it has dates.
    pub data_date: Option<i64>,
}

impl DocAnswer {
    pub(crate) fn from_entry(
        e: &CacheEntry,
        provenance: Provenance,
        up: Upstream,
        now: Instant,
    ) -> Self {
        DocAnswer {
            doc: e.doc.clone(),
            provenance,
            upstream: up,
            age: e.age(now),
            data_date: e.data_date,
        }
    }
}

impl DocAnswer {
    /// The cache's fresh copy of `q`, answered as `cached`, when it holds one: the hit
    /// that never crosses a mailbox.
    pub(crate) fn fresh(cache: &SharedCache, q: &Query) -> Option<Self> {
        let now = Instant::now();
        match cache.lookup(q, now) {
            Lookup::Fresh(e) => Some(DocAnswer::from_entry(
                &e,
                Provenance::Cached,
                q.upstream(),
                now,
            )),
            _ => None,
        }
    }

    /// `value`, computed from this document, with its provenance.
    pub(crate) fn datum<T>(&self, value: T) -> sentinel_core::model::Datum<T> {
        sentinel_core::model::Datum::new(value, self.provenance.clone(), self.upstream, self.age)
    }
}

pub(crate) type Resolution = Result<DocAnswer, QueryError>;

/// Identifies one caller waiting on a flight, so that it can leave.
pub(crate) type WaiterId = u64;

pub(crate) enum RouterMsg {
    /// Answer a document query that missed the fresh cache.
    Resolve {
        query: Query,
        waiter: WaiterId,
        deadline: Instant,
        reply: RpcReplyPort<Resolution>,
    },
    /// Run a question's walk, tracked as `walk` until it ends or is forgotten.
    Ask {
        walk: WalkId,
        deadline: Instant,
        job: WalkJob,
    },
    /// The walk's caller went away: abort the walk (its fetches, its solver runs).
    Forget { walk: WalkId },
    /// A walk ended on its own.
    WalkEnded { walk: WalkId },
    /// A caller gave up (its future was dropped: a disconnect, a cancellation, its
    /// deadline). A flight nobody waits for any more is cancelled.
    Abandon { query: Query, waiter: WaiterId },
    /// A caller answered from a fallback no longer waits, but the result should still
    /// refresh the cache.
    Detach { query: Query, waiter: WaiterId },
    /// The HealthActor decided on a probe for a flight.
    Admitted {
        query: Query,
        flight: u64,
        admission: Admission,
    },
    /// A flight's fetch finished (or a queued fetch ran).
    Fetched {
        query: Query,
        flight: u64,
        was_probe: bool,
        outcome: FetchOutcome,
    },
    /// A flight's answer budget is spent.
    BudgetElapsed { query: Query, flight: u64 },
    /// The CacheActor put a flight's document in the cache (`None`: it failed
    /// part-way; the cache is answered from as it is).
    Filled {
        query: Query,
        flight: u64,
        entry: Option<Arc<CacheEntry>>,
    },
    /// The CacheActor asks for a hot document to be refreshed before it goes stale.
    RefreshAhead { query: Query },
    /// The store's copy (or none) for a flight that started on a miss.
    Loaded {
        query: Query,
        flight: u64,
        entry: Option<Arc<CacheEntry>>,
        turn: fleet::Turn,
    },
    /// How many distinct queries are in flight.
    #[cfg(any(test, feature = "test-hooks"))]
    InFlight { reply: RpcReplyPort<usize> },
    /// How many walks are running.
    #[cfg(any(test, feature = "test-hooks"))]
    WalksRunning { reply: RpcReplyPort<usize> },
    /// Test hook: panic inside the handler.
    #[cfg(any(test, feature = "test-hooks"))]
    Crash,
}

/// What the router needs, handed over at spawn (not the whole engine).
#[derive(Clone)]
pub(crate) struct RouterArgs {
    pub(crate) cfg: Arc<EngineConfig>,
    pub(crate) cache: SharedCache,
    pub(crate) board: Arc<BreakerBoard>,
    pub(crate) registry: Arc<Registry>,
    /// The router's own current reference, replaced by the supervisor on a restart.
    pub(crate) router: Arc<Slot<RouterMsg>>,
    pub(crate) counters: Arc<EngineCounters>,
    pub(crate) store: Store,
    /// The cache's write side, for fills the CacheActor cannot take.
    pub(crate) writes: Writes,
    /// The fleet's shared tier (L2 documents), when on.
    #[cfg(feature = "fleet")]
    pub(crate) fleet: Option<Arc<crate::fleet::client::FleetClient>>,
}

pub(crate) struct RouterActor;

/// One upstream request and everyone waiting for it.
struct Flight {
    id: u64,
    waiters: Vec<(WaiterId, RpcReplyPort<Resolution>)>,
    /// The result is wanted for the cache even with nobody waiting.
    refresh: bool,
    cancel: CancellationToken,
    /// The copy held when the flight started: its ETag and the fallback.
    stale: Option<Arc<CacheEntry>>,
    deadline: Instant,
    budget_end: Instant,
    /// The fetch is done and the CacheActor is filling the cache: the waiters (and
    /// whoever joins meanwhile) get the document, with this provenance, on its ack.
    filling: Option<Provenance>,
    /// A refresh-ahead: only a rate-limit slot free now with room to spare.
    spare_only: bool,
    /// The document's fleet lease, while this replica fetches it for the fleet.
    lease: fleet::Held,
}

pub(crate) struct RouterState {
    args: RouterArgs,
    flights: HashMap<Query, Flight>,
    next_flight: u64,
    /// Upstream failures of a moment ago, answered again for a short while.
    failures: FailureMemo,
    /// The walks this router runs.
    walks: Walks,
}

impl Actor for RouterActor {
    type Msg = RouterMsg;
    type State = RouterState;
    type Arguments = RouterArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: RouterArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let memo = Duration::from_millis(args.cfg.cache.failure_ttl_ms);
        Ok(RouterState {
            args,
            flights: HashMap::new(),
            next_flight: 1,
            failures: FailureMemo::new(memo),
            walks: Walks::default(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: RouterMsg,
        st: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RouterMsg::Resolve {
                query,
                waiter,
                deadline,
                reply,
            } => st.resolve(&myself, query, waiter, deadline, reply),
            RouterMsg::Ask {
                walk,
                deadline,
                job,
            } => st.start_walk(&myself, walk, deadline, job),
            RouterMsg::Forget { walk } => {
                if let Some(w) = st.walks.0.remove(&walk) {
                    w.abort();
                }
                st.walks.publish();
            }
            RouterMsg::WalkEnded { walk } => {
                st.walks.0.remove(&walk);
                st.walks.publish();
            }
            RouterMsg::Abandon { query, waiter } => st.leave(&query, waiter, false),
            RouterMsg::Detach { query, waiter } => st.leave(&query, waiter, true),
            RouterMsg::Admitted {
                query,
                flight,
                admission,
            } => st.admitted(&myself, query, flight, admission),
            RouterMsg::Fetched {
                query,
                flight,
                was_probe,
                outcome,
            } => st.fetched(&myself, query, flight, was_probe, outcome),
            RouterMsg::Filled {
                query,
                flight,
                entry,
            } => st.filled(&query, flight, entry),
            RouterMsg::RefreshAhead { query } => st.refresh_ahead(&myself, query),
            RouterMsg::BudgetElapsed { query, flight } => st.budget_elapsed(&query, flight),
            RouterMsg::Loaded {
                query,
                flight,
                entry,
                turn,
            } => st.loaded(&myself, query, flight, entry, turn),
            #[cfg(any(test, feature = "test-hooks"))]
            RouterMsg::InFlight { reply } => {
                let _ = reply.send(st.flights.len());
            }
            #[cfg(any(test, feature = "test-hooks"))]
            RouterMsg::WalksRunning { reply } => {
                let _ = reply.send(st.walks.0.len());
            }
            #[cfg(any(test, feature = "test-hooks"))]
            RouterMsg::Crash => panic!("test hook: RouterActor asked to crash"),
        }
        Ok(())
    }
}

impl RouterState {
    /// Spawns a walk and tracks it. The walk is bounded by its deadline here too, so a
    /// walk that overruns it (a bug) still ends and is forgotten.
    fn start_walk(
        &mut self,
        myself: &ActorRef<RouterMsg>,
        walk: WalkId,
        deadline: Instant,
        job: WalkJob,
    ) {
        let ctx = WalkCtx {
            router: myself.clone(),
            args: self.args.clone(),
        };
        let router = myself.clone();
        let task = tokio::spawn(async move {
            let _ = tokio::time::timeout_at(deadline, job(ctx)).await;
            let _ = router.cast(RouterMsg::WalkEnded { walk });
        });
        self.walks.0.insert(walk, task.abort_handle());
        self.walks.publish();
    }

    fn budget(&self) -> Duration {
        Duration::from_millis(self.args.cfg.timeouts.answer_budget_ms)
    }

    fn resolve(
        &mut self,
        myself: &ActorRef<RouterMsg>,
        query: Query,
        waiter: WaiterId,
        deadline: Instant,
        reply: RpcReplyPort<Resolution>,
    ) {
        let now = Instant::now();
        let up = query.upstream();
        let budget = self.budget();
        if let Some(flight) = self.flights.get_mut(&query) {
            self.args.counters.coalesced.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("sentinel_coalesced_requests_total").increment(1);
            if flight.filling.is_some() {
                // Fetched, being filled: the new document on the ack, no second fetch.
                flight.waiters.push((waiter, reply));
                return;
            }
            // Joining a flight that has a stale copy: the copy now (stale-while-
            // revalidate), or at this caller's own budget; never the whole fetch. A copy
            // from disk not yet tried against the upstream is only a fallback, as for
            // the flight's first caller.
            if let Some(e) = flight.stale.clone() {
                if self.args.cfg.stale_while_revalidate && !e.is_unconfirmed_from_store() {
                    let reason = swr_reason(&e, up, self.args.board.view(up).state, now);
                    self.answer_stale(std::iter::once((waiter, reply)), &e, up, reason, now);
                    return;
                }
                let id = flight.id;
                let budget_end = (now + budget).min(deadline);
                flight.waiters.push((waiter, reply));
                let q = query.clone();
                myself.send_after(budget_end.saturating_duration_since(now), move || {
                    RouterMsg::BudgetElapsed {
                        query: q,
                        flight: id,
                    }
                });
                return;
            }
            flight.waiters.push((waiter, reply));
            return;
        }
        let stale = match self.args.cache.classify(&query, now) {
            // Filled while this message waited in the mailbox.
            Lookup::Fresh(e) => {
                let _ = reply.send(Ok(DocAnswer::from_entry(&e, Provenance::Cached, up, now)));
                return;
            }
            Lookup::Stale(e) => Some(e),
            Lookup::Miss => None,
        };
        let mut waiters = vec![(waiter, reply)];
        let mut refresh = false;
        if let Some(e) = &stale
            && self.args.cfg.stale_while_revalidate
            && !e.is_unconfirmed_from_store()
        {
            // Stale-while-revalidate: the copy now, the refresh in the background.
            let reason = swr_reason(e, up, self.args.board.view(up).state, now);
            self.answer_stale(waiters.drain(..), e, up, reason, now);
            refresh = true;
        }
        let id = self.next_flight;
        self.next_flight += 1;
        let budget_end = (now + self.budget()).min(deadline);
        // Only a key the store may hold is read: its filter of kept keys answers "not
        // there" for a document never kept, without touching the file.
        let miss = stale.is_none();
        let load = miss && self.args.store.may_hold(&query);
        self.flights.insert(
            query.clone(),
            Flight {
                id,
                waiters,
                refresh,
                cancel: CancellationToken::new(),
                stale,
                deadline,
                budget_end,
                filling: None,
                spare_only: false,
                lease: None,
            },
        );
        // A miss: the fleet's copy (L2), or an earlier run's copy on disk, may be
        // there; past the TTL, the fleet's may be newer, or another replica fetching it.
        // Read off the actor; the flight goes on when it is back.
        let ask = if miss {
            fleet::Ask::Miss
        } else {
            fleet::Ask::Stale
        };
        if fleet::load_copy(&self.args, myself, query.clone(), id, load, ask) {
            return;
        }
        self.begin(myself, query, id);
    }

    /// Arms stale-if-slow when the flight holds a copy, then asks the upstream.
    fn begin(&mut self, myself: &ActorRef<RouterMsg>, query: Query, id: u64) {
        let Some(flight) = self.flights.get(&query).filter(|f| f.id == id) else {
            return;
        };
        if flight.stale.is_some() && !flight.refresh {
            // Stale-if-slow: the copy is the fallback once the budget is spent.
            let q = query.clone();
            let wait = flight.budget_end.saturating_duration_since(Instant::now());
            myself.send_after(wait, move || RouterMsg::BudgetElapsed {
                query: q,
                flight: id,
            });
        }
        self.start(myself, query, id);
    }

    /// Asks the breaker, then the FetchActor.
    fn start(&mut self, myself: &ActorRef<RouterMsg>, query: Query, id: u64) {
        let up = query.upstream();
        if !self.args.cfg.upstreams.get(up).enabled {
            return self.finish(&query, id, Err(UnavailableCause::Disabled));
        }
        let now = Instant::now();
        let view = self.args.board.view(up);
        let open = view.state == BreakerState::Open && view.open_until.is_some_and(|u| now < u);
        // An open breaker speaks for the whole upstream; else a failure of this
        // document a moment ago answers without asking again.
        if !open && let Some((cause, memo)) = self.failures.recall(&query, now) {
            metrics::counter!("sentinel_remembered_failures_served_total").increment(1);
            return self.fail(&query, id, cause, Some(memo));
        }
        match view.state {
            BreakerState::Closed => self.dispatch(myself, query, id, false),
            BreakerState::Open if open => {
                let retry_after = view
                    .open_until
                    .unwrap_or(now)
                    .saturating_duration_since(now);
                self.finish(
                    &query,
                    id,
                    Err(UnavailableCause::BreakerOpen { retry_after }),
                )
            }
            // Open and due, or half-open: only the HealthActor may hand out a probe.
            _ => {
                let Some(health) = self.args.registry.health.get() else {
                    return self.dispatch(myself, query, id, false);
                };
                let router = myself.clone();
                let fleet_turn = fleet::probe_turn(&self.args, up, view);
                tokio::spawn(async move {
                    let admission = match fleet_turn.await {
                        Some(theirs) => theirs,
                        None => super::health::admit(&health, up).await,
                    };
                    let _ = router.cast(RouterMsg::Admitted {
                        query,
                        flight: id,
                        admission,
                    });
                });
            }
        }
    }

    fn admitted(
        &mut self,
        myself: &ActorRef<RouterMsg>,
        query: Query,
        id: u64,
        admission: Admission,
    ) {
        let live = self.flights.get(&query).is_some_and(|f| f.id == id);
        match admission {
            Admission::Allowed if live => self.dispatch(myself, query, id, false),
            Admission::Probe if live => self.dispatch(myself, query, id, true),
            Admission::Probe => self.release_probe(query.upstream()),
            Admission::Rejected { until } => {
                let retry_after = until.saturating_duration_since(Instant::now().into_std());
                self.finish(
                    &query,
                    id,
                    Err(UnavailableCause::BreakerOpen { retry_after }),
                )
            }
            Admission::Allowed => {}
        }
    }

    fn dispatch(&mut self, myself: &ActorRef<RouterMsg>, query: Query, id: u64, was_probe: bool) {
        let up = query.upstream();
        let Some(flight) = self.flights.get(&query).filter(|f| f.id == id) else {
            return;
        };
        let Some(fetch) = self.args.registry.fetch(up).get() else {
            if was_probe {
                self.release_probe(up);
            }
            return self.finish(&query, id, Err(UnavailableCause::Restarting));
        };
        let req = FetchRequest {
            query: query.clone(),
            etag: flight.stale.as_ref().and_then(|e| e.etag.clone()),
            last_modified: flight.stale.as_ref().and_then(|e| e.last_modified.clone()),
            deadline: flight.deadline,
            // A slot of our own rate limit is waited for within the answer budget
            // (then `deferred`), or up to the deadline when the caller would rather wait.
            wait_until: if self.args.cfg.timeouts.wait_for_own_limits {
                flight.deadline
            } else {
                flight.budget_end
            },
            cancel: flight.cancel.clone(),
            spare_only: flight.spare_only,
        };
        let router = myself.clone();
        let q = query.clone();
        let notify: Notify = Arc::new(move |outcome| {
            let _ = router.cast(RouterMsg::Fetched {
                query: q.clone(),
                flight: id,
                was_probe,
                outcome,
            });
        });
        if fetch.cast(FetchMsg::Fetch { req, notify }).is_err() {
            if was_probe {
                self.release_probe(up);
            }
            self.finish(&query, id, Err(UnavailableCause::Restarting));
        }
    }

    fn release_probe(&self, up: Upstream) {
        if let Some(health) = self.args.registry.health.get() {
            let _ = health.cast(HealthMsg::ReleaseProbe { upstream: up });
        }
    }

    /// A fetch finished. Its verdict goes to the breaker whether or not anyone still
    /// waits (the upstream did answer); the result goes to the CacheActor, and the
    /// waiters get it on the fill's ack.
    fn fetched(
        &mut self,
        myself: &ActorRef<RouterMsg>,
        query: Query,
        id: u64,
        was_probe: bool,
        outcome: FetchOutcome,
    ) {
        let up = query.upstream();
        match (outcome.upstream_verdict(), self.args.registry.health.get()) {
            (Some(ok), Some(health)) => {
                if was_probe {
                    fleet::share_probe(&self.args, up, ok);
                }
                let _ = health.cast(HealthMsg::Record {
                    upstream: up,
                    outcome: if ok {
                        CallOutcome::Success
                    } else {
                        CallOutcome::Failure
                    },
                    was_probe,
                });
            }
            (None, _) if was_probe => self.release_probe(up),
            _ => {}
        }
        let now = Instant::now();
        let held = self
            .flights
            .get(&query)
            .filter(|f| f.id == id)
            .and_then(|f| f.stale.clone())
            .or_else(|| self.args.cache.peek(&query));
        if outcome.upstream_verdict() == Some(true) {
            self.failures.forget(&query);
        }
        let result = match outcome {
            FetchOutcome::Fetched {
                doc,
                etag,
                last_modified,
                freshness,
            } => Ok(Some(Fill::Fetched {
                doc,
                etag,
                last_modified,
                at: now,
                freshness,
            })),
            FetchOutcome::NotModified { freshness } => match held {
                Some(held) => Ok(Some(Fill::Revalidated {
                    held,
                    at: now,
                    freshness,
                })),
                // The copy was evicted meanwhile: nothing to confirm.
                None => Err(UnavailableCause::BadBody {
                    detail: "304 Not Modified without a cached copy".into(),
                }),
            },
            FetchOutcome::NotFound => Ok(None),
            FetchOutcome::Failed(f) => {
                let cause = f.cause();
                if !f.ours {
                    self.failures.remember(&query, &cause, now);
                    if let Some(fl) = self.flights.get_mut(&query).filter(|f| f.id == id) {
                        fleet::fetch_failed(&self.args, fl.lease.take(), &cause);
                    }
                }
                if let Some(held) = held {
                    self.note_refresh_failure(query.clone(), held, cause.clone(), now);
                }
                Err(cause)
            }
            FetchOutcome::Deferred {
                retry_after,
                queued,
            } => Err(UnavailableCause::RateLimited {
                retry_after,
                queued,
            }),
            FetchOutcome::Cancelled => Err(UnavailableCause::Cancelled),
        };
        match result {
            Ok(None) => {
                if let Some(f) = self.flights.get_mut(&query).filter(|f| f.id == id) {
                    fleet::not_found(f.lease.take());
                }
                self.answer(&query, id, |_| {
                    Err(QueryError::NotFound {
                        what: describe(&query),
                        upstream: up,
                    })
                });
            }
            Ok(Some(fill)) => self.fill(myself, query, id, fill),
            Err(cause) => self.finish(&query, id, Err(cause)),
        }
    }

    /// Hands the document to the CacheActor and keeps the flight until its ack: the
    /// waiters, and callers who arrive meanwhile (they join the flight), are answered
    /// from the filled entry, so nobody misses the cache in between and fetches again.
    fn fill(&mut self, myself: &ActorRef<RouterMsg>, query: Query, id: u64, fill: Fill) {
        if let Some(flight) = self.flights.get_mut(&query).filter(|f| f.id == id) {
            flight.filling = Some(fill.provenance());
        }
        let router = myself.clone();
        let q = query.clone();
        let done = Box::new(move |entry| {
            let _ = router.cast(RouterMsg::Filled {
                query: q,
                flight: id,
                entry,
            });
        });
        let job = FillJob::new(query, fill, self.args.writes.clone(), done);
        // Not taken (the actor is restarting): the job applies itself when dropped.
        if let Some(cache) = self.args.registry.cache.get() {
            let _ = cache.cast(CacheMsg::Fill(Box::new(job)));
        }
    }

    /// The CacheActor's ack: the flight's waiters get the filled document.
    fn filled(&mut self, query: &Query, id: u64, entry: Option<Arc<CacheEntry>>) {
        let Some(provenance) = self
            .flights
            .get(query)
            .filter(|f| f.id == id)
            .and_then(|f| f.filling.clone())
        else {
            return;
        };
        let up = query.upstream();
        let entry = entry.or_else(|| self.args.cache.peek(query));
        let lease = self.flights.get_mut(query).and_then(|f| f.lease.take());
        if let Some(e) = &entry {
            fleet::share_copy(&self.args, query, &provenance, e, lease);
        }
        // Just fetched (or confirmed): its age is that of the fetch, zero.
        self.answer(query, id, |_| match &entry {
            Some(e) => Ok(DocAnswer::from_entry(
                e,
                provenance.clone(),
                up,
                e.fetched_at,
            )),
            None => Err(QueryError::Internal("the cache dropped a new entry".into())),
        });
    }

    /// The held copy's refresh failed: the CacheActor notes it on the entry (in its
    /// mailbox's order, after any fill sent before).
    fn note_refresh_failure(
        &self,
        query: Query,
        held: Arc<CacheEntry>,
        cause: UnavailableCause,
        at: Instant,
    ) {
        let msg = CacheMsg::RefreshFailed {
            query,
            held,
            cause,
            at,
        };
        let unsent = match self.args.registry.cache.get() {
            Some(cache) => cache.cast(msg).err().and_then(|e| match e {
                ractor::MessagingErr::SendErr(m) => Some(m),
                _ => None,
            }),
            None => Some(msg),
        };
        if let Some(CacheMsg::RefreshFailed {
            query,
            held,
            cause,
            at,
        }) = unsent
        {
            self.args.writes.refresh_failed(&query, &held, cause, at);
        }
    }

    /// A hot document is about to go stale: refresh it through the usual flight path
    /// (memo, breaker, the FetchActor), as a background flight nobody waits for, which
    /// takes a rate-limit slot only when one is free with room to spare.
    fn refresh_ahead(&mut self, myself: &ActorRef<RouterMsg>, query: Query) {
        let now = Instant::now();
        let up = query.upstream();
        // Already in flight, or the breaker is not closed (a probe is for callers).
        if self.flights.contains_key(&query)
            || self.args.board.view(up).state != BreakerState::Closed
        {
            return;
        }
        // Only a copy still fresh: a stale one is refreshed on demand as usual.
        let Lookup::Fresh(held) = self.args.cache.classify(&query, now) else {
            return;
        };
        let id = self.next_flight;
        self.next_flight += 1;
        let deadline = now + Duration::from_millis(self.args.cfg.timeouts.deadline_ms);
        self.flights.insert(
            query.clone(),
            Flight {
                id,
                waiters: Vec::new(),
                refresh: true,
                cancel: CancellationToken::new(),
                stale: Some(held),
                deadline,
                budget_end: now,
                filling: None,
                spare_only: true,
                lease: None,
            },
        );
        // The fleet first: another replica's newer copy, or its fetch under way, and
        // the lease if nobody refreshed it yet.
        if fleet::load_copy(
            &self.args,
            myself,
            query.clone(),
            id,
            false,
            fleet::Ask::Refresh,
        ) {
            return;
        }
        self.start(myself, query, id);
    }

    /// Ends a flight without a new document: waiters get the stale copy labelled with
    /// the cause, or the typed error.
    fn finish(&mut self, query: &Query, id: u64, result: Result<(), UnavailableCause>) {
        if let Err(cause) = result {
            if let UnavailableCause::BreakerOpen { .. } = cause
                && let Some(f) = self.flights.get_mut(query).filter(|f| f.id == id)
            {
                // The fleet too leaves it alone until the breaker's next probe.
                fleet::fetch_failed(&self.args, f.lease.take(), &cause);
            }
            self.fail(query, id, cause, None);
        }
    }

    /// Ends a flight with `cause`, `memo` set when it is a failure remembered from a
    /// moment ago rather than the upstream's answer now.
    fn fail(&mut self, query: &Query, id: u64, cause: UnavailableCause, memo: Option<Remembered>) {
        let up = query.upstream();
        let now = Instant::now();
        let stale = self
            .flights
            .get(query)
            .filter(|f| f.id == id)
            .and_then(|f| f.stale.clone());
        match stale {
            Some(e) => {
                let Some(flight) = self.flights.remove(query) else {
                    return;
                };
                let reason = StaleReason::Failed {
                    upstream: up,
                    cause,
                    remembered: memo,
                };
                self.answer_stale(flight.waiters.into_iter(), &e, up, reason, now);
            }
            None => self.answer(query, id, |_| {
                Err(QueryError::unavailable(up, cause.clone()).with_remembered(memo))
            }),
        }
    }

    /// Removes the flight `id` of `query` and answers each waiter.
    fn answer(&mut self, query: &Query, id: u64, make: impl Fn(WaiterId) -> Resolution) {
        if self.flights.get(query).is_none_or(|f| f.id != id) {
            return;
        }
        if let Some(flight) = self.flights.remove(query) {
            for (w, reply) in flight.waiters {
                let _ = reply.send(make(w));
            }
        }
    }

    fn answer_stale(
        &self,
        waiters: impl Iterator<Item = (WaiterId, RpcReplyPort<Resolution>)>,
        e: &CacheEntry,
        up: Upstream,
        reason: StaleReason,
        now: Instant,
    ) {
        let reason = if e.from_store {
            reason.kept_on_disk()
        } else {
            reason
        }
        .to_string();
        for (_, reply) in waiters {
            self.args.cache.note_stale_served();
            let provenance = Provenance::Stale {
                reason: reason.clone(),
            };
            let _ = reply.send(Ok(DocAnswer::from_entry(e, provenance, up, now)));
        }
    }

    /// Stale-if-slow: the budget is spent and the upstream has not answered.
    fn budget_elapsed(&mut self, query: &Query, id: u64) {
        let budget = self.budget();
        let now = Instant::now();
        let Some(flight) = self.flights.get_mut(query).filter(|f| f.id == id) else {
            return;
        };
        if flight.filling.is_some() {
            // The new document is on its way: better than the stale copy.
            return;
        }
        let Some(e) = flight.stale.clone() else {
            return;
        };
        if flight.waiters.is_empty() {
            return;
        }
        let waiters: Vec<_> = flight.waiters.drain(..).collect();
        flight.refresh = true;
        let reason = StaleReason::Slow {
            upstream: query.upstream(),
            budget,
        };
        self.answer_stale(waiters.into_iter(), &e, query.upstream(), reason, now);
    }

    /// A waiter leaves. Nobody left and no refresh wanted: the flight is cancelled (its
    /// fetch stops, releases its slot, and counts for nothing).
    fn leave(&mut self, query: &Query, waiter: WaiterId, keep_as_refresh: bool) {
        let Some(flight) = self.flights.get_mut(query) else {
            return;
        };
        flight.waiters.retain(|(w, _)| *w != waiter);
        flight.refresh |= keep_as_refresh;
        // A flight being filled ends on the ack, nothing left to cancel.
        if flight.waiters.is_empty() && !flight.refresh && flight.filling.is_none() {
            flight.cancel.cancel();
            self.flights.remove(query);
            metrics::counter!("sentinel_flights_cancelled_total").increment(1);
        }
    }
}
