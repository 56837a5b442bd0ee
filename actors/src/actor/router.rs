//! RouterActor: decides how a cache miss is answered. It coalesces identical in-flight
//! queries (N callers, 1 upstream request), serves stale entries while they are
//! refreshed in the background, and runs each upstream resolution in a spawned task
//! that follows the fallback order: upstream (unless its breaker is open), then the
//! stale entry, then a structured error with a suggestion.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::time::Instant;
use tracing::Instrument;

use super::EngineShared;
use super::estimator::EstimatorMsg;
use super::fetch::{FetchFailure, FetchMsg, FetchOutcome, FetchRequest};
use super::health::HealthMsg;
use crate::cache::{CacheEntry, Lookup};
use crate::model::{Provenance, Query, QueryError, Upstream};
use crate::policy::{Admission, BreakerState, CallOutcome, FailureKind};
use crate::upstream::Document;

/// A document with where it came from.
#[derive(Clone, Debug)]
pub struct DocAnswer {
    /// The document.
    pub doc: Arc<Document>,
    /// Its provenance.
    pub provenance: Provenance,
    /// The upstream it came from.
    pub upstream: Upstream,
    /// Its age.
    pub age: Duration,
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
        }
    }
}

pub(crate) type Resolution = Result<DocAnswer, QueryError>;

pub(crate) enum RouterMsg {
    /// Answer a query that missed the fresh cache.
    Resolve {
        query: Query,
        deadline: Instant,
        stale_ok: bool,
        reply: RpcReplyPort<Resolution>,
    },
    /// A spawned resolution finished.
    Resolved { query: Query, result: Resolution },
    /// How many distinct queries are in flight.
    InFlight { reply: RpcReplyPort<usize> },
    /// Test hook: panic inside the handler.
    Crash,
}

pub(crate) struct RouterActor;

pub(crate) struct RouterState {
    shared: Arc<EngineShared>,
    /// Waiters per in-flight query. A background refresh has an empty list.
    in_flight: HashMap<Query, Vec<RpcReplyPort<Resolution>>>,
}

impl Actor for RouterActor {
    type Msg = RouterMsg;
    type State = RouterState;
    type Arguments = Arc<EngineShared>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        shared: Arc<EngineShared>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RouterState {
            shared,
            in_flight: HashMap::new(),
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
                deadline,
                stale_ok,
                reply,
            } => {
                let now = Instant::now();
                let up = query.upstream();
                if let Some(waiters) = st.in_flight.get_mut(&query) {
                    st.shared.counters.coalesced.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("sentinel_coalesced_requests_total").increment(1);
                    waiters.push(reply);
                    return Ok(());
                }
                match st.shared.cache.classify(&query, now) {
                    // Filled while this message waited in the mailbox.
                    Lookup::Fresh(e) => {
                        let _ =
                            reply.send(Ok(DocAnswer::from_entry(&e, Provenance::Cached, up, now)));
                        return Ok(());
                    }
                    Lookup::Stale(e) if stale_ok && st.shared.cfg.stale_while_revalidate => {
                        st.shared.cache.note_stale_served();
                        let reason = match st.shared.board.view(up).state {
                            BreakerState::Closed => {
                                "past its fresh TTL; a refresh is running in the background"
                                    .to_string()
                            }
                            s => format!("past its fresh TTL; {up} circuit breaker is {s}"),
                        };
                        let _ = reply.send(Ok(DocAnswer::from_entry(
                            &e,
                            Provenance::Stale { reason },
                            up,
                            now,
                        )));
                        st.in_flight.insert(query.clone(), Vec::new());
                    }
                    _ => {
                        st.in_flight.insert(query.clone(), vec![reply]);
                    }
                }
                let shared = st.shared.clone();
                // One span per upstream document resolved, carrying package and upstream.
                let span = tracing::info_span!(
                    "resolve",
                    upstream = %up,
                    package = query.package().map(|p| p.as_str()).unwrap_or("-"),
                    query = %query,
                );
                tokio::spawn(
                    async move {
                        let result = resolve(&shared, &query, deadline).await;
                        match &result {
                            Ok(a) => tracing::debug!(provenance = a.provenance.word(), "resolved"),
                            Err(e) => tracing::info!(error = %e, "not resolved"),
                        }
                        let _ = myself.cast(RouterMsg::Resolved { query, result });
                    }
                    .instrument(span),
                );
            }
            RouterMsg::Resolved { query, result } => {
                // After a restart the new router has no waiters for old work: nothing to do.
                if let Some(waiters) = st.in_flight.remove(&query) {
                    for w in waiters {
                        let _ = w.send(result.clone());
                    }
                }
            }
            RouterMsg::InFlight { reply } => {
                let _ = reply.send(st.in_flight.len());
            }
            RouterMsg::Crash => panic!("test hook: RouterActor asked to crash"),
        }
        Ok(())
    }
}

/// Asks the breaker whether a request may go. Closed and open-not-yet-due are read from
/// the published state without a message; only the transitions go to the HealthActor.
async fn admit(sh: &EngineShared, up: Upstream) -> Admission {
    let view = sh.board.view(up);
    let now = Instant::now();
    match view.state {
        BreakerState::Closed => Admission::Allowed,
        BreakerState::Open if view.open_until.is_some_and(|u| now < u) => Admission::Rejected {
            until: view.open_until.unwrap_or(now),
        },
        _ => {
            let Some(health) = sh.registry.health.get() else {
                return Admission::Allowed;
            };
            match health
                .call(
                    |reply| HealthMsg::Admit {
                        upstream: up,
                        reply,
                    },
                    Some(Duration::from_secs(1)),
                )
                .await
            {
                Ok(CallResult::Success(a)) => a,
                // The health actor is restarting: its breakers start closed anyway.
                _ => Admission::Allowed,
            }
        }
    }
}

/// Upstream, then stale, then a structured error.
pub(crate) async fn resolve(sh: &EngineShared, q: &Query, deadline: Instant) -> Resolution {
    let up = q.upstream();
    let stale = sh.cache.peek(q);
    if !sh.cfg.upstreams.get(up).enabled {
        return fallback(
            sh,
            q,
            stale,
            format!("{up} is not enabled in the configuration"),
            match up {
                Upstream::Pepy => "set upstreams.pepy.api_key to enable pepy.tech".into(),
                _ => format!(
                    "enable upstreams.{} in the configuration",
                    up.as_str().replace('-', "_")
                ),
            },
            None,
        );
    }
    let was_probe = match admit(sh, up).await {
        Admission::Allowed => false,
        Admission::Probe => true,
        Admission::Rejected { until } => {
            let wait = until.saturating_duration_since(Instant::now());
            return fallback(
                sh,
                q,
                stale,
                format!("{up} circuit breaker is open after repeated failures"),
                format!(
                    "{up} is failing; it will be probed again in {} s",
                    wait.as_secs().max(1)
                ),
                Some(wait),
            );
        }
    };
    let outcome = match sh.registry.fetch(up).get() {
        None => {
            // No request was made: hand the probe back rather than count a failure.
            if was_probe && let Some(health) = sh.registry.health.get() {
                let _ = health.cast(HealthMsg::ReleaseProbe { upstream: up });
            }
            return fallback(
                sh,
                q,
                stale,
                format!("the {up} fetch actor is restarting"),
                "retry in a moment".into(),
                Some(Duration::from_secs(1)),
            );
        }
        Some(fetch) => {
            let req = FetchRequest {
                query: q.clone(),
                etag: stale.as_ref().and_then(|e| e.etag.clone()),
                deadline,
            };
            let budget =
                deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(50);
            match fetch
                .call(|reply| FetchMsg::Fetch { req, reply }, Some(budget))
                .await
            {
                Ok(CallResult::Success(o)) => o,
                Ok(CallResult::Timeout) => FetchOutcome::Failed(FetchFailure {
                    kind: FailureKind::Timeout,
                    detail: format!("{up} did not answer before the deadline"),
                    retry_after: None,
                    attempts: 1,
                }),
                Ok(CallResult::SenderError) | Err(_) => FetchOutcome::Failed(FetchFailure {
                    kind: FailureKind::Other,
                    detail: format!("the {up} fetch actor stopped during the request"),
                    retry_after: None,
                    attempts: 1,
                }),
            }
        }
    };
    if let Some(health) = sh.registry.health.get() {
        let outcome = match &outcome {
            FetchOutcome::Failed(_) => CallOutcome::Failure,
            _ => CallOutcome::Success,
        };
        let _ = health.cast(HealthMsg::Record {
            upstream: up,
            outcome,
            was_probe,
        });
    }
    let now = Instant::now();
    match outcome {
        FetchOutcome::Fetched { doc, etag } => {
            let entry = Arc::new(CacheEntry::new(doc.clone(), etag, now));
            sh.cache.insert(q.clone(), entry);
            if let Some(est) = sh.registry.estimator.get() {
                let _ = est.cast(EstimatorMsg::Observe {
                    query: q.clone(),
                    doc: doc.clone(),
                    at: SystemTime::now(),
                });
            }
            Ok(DocAnswer {
                doc,
                provenance: Provenance::Live,
                upstream: up,
                age: Duration::ZERO,
            })
        }
        FetchOutcome::NotModified => match stale {
            Some(old) => {
                let entry = Arc::new(old.revalidated(now));
                sh.cache.insert(q.clone(), entry.clone());
                Ok(DocAnswer::from_entry(
                    &entry,
                    Provenance::Revalidated,
                    up,
                    now,
                ))
            }
            None => Err(QueryError::Unavailable {
                upstream: up,
                reason: "304 Not Modified without a cached copy".into(),
                suggestion: "retry; the cache entry was evicted meanwhile".into(),
                retry_after: None,
            }),
        },
        FetchOutcome::NotFound => Err(QueryError::NotFound {
            what: describe(q),
            upstream: up,
        }),
        FetchOutcome::Failed(f) => {
            let suggestion = match f.kind {
                FailureKind::Status(429) => format!("{up} is rate limiting us; retry later"),
                FailureKind::Body => {
                    format!("{up} sent an unusable response; retry later or use a mirror")
                }
                _ => format!(
                    "{up} is not answering properly; retry later or point the configuration at a mirror"
                ),
            };
            fallback(
                sh,
                q,
                stale,
                format!("{} after {} attempt(s)", f.detail, f.attempts.max(1)),
                suggestion,
                f.retry_after,
            )
        }
    }
}

fn describe(q: &Query) -> String {
    match q {
        Query::Release(n, v) => format!("version {v} of package \"{n}\""),
        Query::TopPackages => "the top-packages dataset".into(),
        q => format!(
            "package {:?}",
            q.package().map(|p| p.as_str()).unwrap_or_default()
        ),
    }
}

fn fallback(
    sh: &EngineShared,
    q: &Query,
    stale: Option<Arc<CacheEntry>>,
    reason: String,
    suggestion: String,
    retry_after: Option<Duration>,
) -> Resolution {
    let up = q.upstream();
    let now = Instant::now();
    match stale {
        Some(e) => {
            sh.cache.note_stale_served();
            Ok(DocAnswer::from_entry(
                &e,
                Provenance::Stale { reason },
                up,
                now,
            ))
        }
        None => Err(QueryError::Unavailable {
            upstream: up,
            reason,
            suggestion,
            retry_after,
        }),
    }
}
