//! The router's steps of the fleet. L2 (`crate::fleet::l2`): on a miss, the fleet's
//! copy is read before the store's and the upstream, in the same round trip as the
//! document's lease; after a fetch (or a 304) the new copy is written for the other
//! replicas, in the background, fenced by the lease (`crate::fleet::lease`) which the
//! flight holds while its fetch runs (renewed there; released when the flight ends
//! without a fill). A fetch that failed at the upstream is told to the fleet, so no
//! other replica asks again before its `retry_after`; another replica's failure ends a
//! flight here the same way, as a remembered failure. Probes
//! (`crate::fleet::probe`): a breaker due for its probe first takes the fleet's probe
//! lease, and a probe's outcome is told to the fleet. Without the `fleet` feature or
//! with the fleet off these are the store's read and nothing.

use std::sync::Arc;

use ractor::ActorRef;
use tokio::time::Instant;

use super::{RouterArgs, RouterMsg};
use crate::actor::health::BreakerView;
use crate::cache::CacheEntry;
use sentinel_core::model::{Provenance, Query, Remembered, UnavailableCause, Upstream};
use sentinel_core::policy::Admission;

/// The lease of a document this replica fetches for the fleet (always `None` without
/// the fleet).
#[cfg(feature = "fleet")]
pub(super) type Held = Option<crate::fleet::lease::Lease>;
#[cfg(not(feature = "fleet"))]
pub(super) type Held = Option<std::convert::Infallible>;

/// What the fleet said about a miss besides its copy.
#[derive(Default)]
pub(crate) struct Turn {
    /// This replica fetches it for the fleet.
    pub(super) lease: Held,
    /// Another replica holds the lease (and no copy came while waiting for it).
    pub(super) held_elsewhere: bool,
    /// Another replica's fetch failed a moment ago: answer with that, do not ask.
    pub(super) failed: Option<(UnavailableCause, Remembered)>,
    /// Another replica's fetch answered 404 a moment ago: not found, do not ask.
    pub(super) not_found: bool,
}

/// Which flight asks the fleet before the upstream.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Ask {
    /// A miss: waits (up to the answer budget) while another replica fetches it and
    /// there is no copy at all.
    Miss,
    /// A stale copy in memory: never waits (the copy is the fallback).
    Stale,
    /// A refresh-ahead: a copy is new enough only when younger than the refresh-ahead
    /// lead before its TTL; never waits.
    Refresh,
}

/// Reads a flight's earlier copy off the actor: the fleet's (L2, with the document's
/// lease) first when the fleet is on, else (or when it has none) the store's when
/// `store` says it may hold one. The flight goes on with [`RouterMsg::Loaded`]. Returns
/// whether a read was started (with the fleet off and no store read, none is).
pub(super) fn load_copy(
    args: &RouterArgs,
    router: &ActorRef<RouterMsg>,
    query: Query,
    flight: u64,
    store: bool,
    ask: Ask,
) -> bool {
    #[cfg(feature = "fleet")]
    let fleet = args.fleet.clone();
    #[cfg(not(feature = "fleet"))]
    let fleet: Option<()> = None;
    if fleet.is_none() && !store {
        return false;
    }
    let (cache, st, router) = (args.cache.clone(), args.store.clone(), router.clone());
    #[cfg(feature = "fleet")]
    let base_url = args.cfg.upstreams.get(query.upstream()).base_url.clone();
    #[cfg(feature = "fleet")]
    let (until, lead) = (
        Instant::now()
            + match ask {
                Ask::Miss => std::time::Duration::from_millis(args.cfg.timeouts.answer_budget_ms),
                Ask::Stale | Ask::Refresh => std::time::Duration::ZERO,
            },
        match ask {
            Ask::Refresh => std::time::Duration::from_millis(args.cfg.cache.refresh_ahead_ms),
            Ask::Miss | Ask::Stale => std::time::Duration::ZERO,
        },
    );
    #[cfg(not(feature = "fleet"))]
    let _ = ask;
    tokio::spawn(async move {
        let mut entry: Option<Arc<CacheEntry>> = None;
        #[cfg_attr(not(feature = "fleet"), allow(unused_mut))]
        let mut turn = Turn::default();
        #[cfg(feature = "fleet")]
        if let Some(fleet) = fleet
            && let Some(l2) = fleet
                .l2_get(
                    &query,
                    &base_url,
                    // The kind's configured TTL; a copy whose upstream's Cache-Control
                    // said less is judged by that in the script (its `fr`).
                    cache
                        .fresh_for(
                            &query,
                            None,
                            cache.clock().now(),
                            sentinel_core::policy::UpstreamFreshness::Unsaid,
                        )
                        .saturating_sub(lead),
                    lead,
                    until,
                )
                .await
        {
            turn.lease = l2.lease;
            turn.held_elsewhere = l2.held_elsewhere;
            if let Some(f) = l2.failed {
                match f.cause {
                    Some(cause) => turn.failed = Some((cause, f.remembered)),
                    None => turn.not_found = true,
                }
            }
            if let Some(copy) = l2.copy {
                fleet.watch(&query, &base_url);
                entry = Some(Arc::new(copy.into_entry(&cache, &query)));
            }
        }
        if entry.is_none() && store {
            let q = query.clone();
            entry = tokio::task::spawn_blocking(move || {
                let now = Instant::now();
                st.load(&q, now)
                    .map(|kept| Arc::new(cache.kept_entry(&q, kept, now)))
            })
            .await
            .ok()
            .flatten();
        }
        let _ = router.cast(RouterMsg::Loaded {
            query,
            flight,
            entry,
            turn,
        });
    });
    true
}

/// The flight holding `lease` failed with `cause`: an upstream failure (or its breaker
/// open) is told to the fleet, which then does not ask for `retry_after` (else
/// `cache.failure_ttl_ms`); anything else (our own limits) only releases the lease.
pub(super) fn fetch_failed(args: &RouterArgs, lease: Held, cause: &UnavailableCause) {
    #[cfg(feature = "fleet")]
    if let Some(l) = lease {
        let shared =
            cause.is_upstream_failure() || matches!(cause, UnavailableCause::BreakerOpen { .. });
        if shared {
            l.failed(
                cause,
                std::time::Duration::from_millis(args.cfg.cache.failure_ttl_ms),
            );
        }
    }
    #[cfg(not(feature = "fleet"))]
    let _ = (args, lease, cause);
}

/// The flight holding `lease` was answered 404: the fleet remembers it for a minute.
pub(super) fn not_found(lease: Held) {
    #[cfg(feature = "fleet")]
    if let Some(l) = lease {
        l.not_found();
    }
    #[cfg(not(feature = "fleet"))]
    let _ = lease;
}

/// A document just fetched or confirmed: the fleet's copy too (in the background),
/// under the flight's lease when it held one.
pub(super) fn share_copy(
    args: &RouterArgs,
    query: &Query,
    provenance: &Provenance,
    e: &CacheEntry,
    lease: Held,
) {
    #[cfg(feature = "fleet")]
    if let Some(fleet) = &args.fleet
        && matches!(provenance, Provenance::Live | Provenance::Revalidated)
        // `no-store`: kept for this answer only, never in a shared store (its lease,
        // when held, is released as it drops).
        && e.upstream != sentinel_core::policy::UpstreamFreshness::NoStore
    {
        let base_url = &args.cfg.upstreams.get(query.upstream()).base_url;
        fleet.watch(query, base_url);
        let doc = crate::fleet::codec::L2Doc {
            doc: e.doc.clone(),
            etag: e.etag.clone(),
            last_modified: e.last_modified.clone(),
            freshness: e.upstream,
        };
        fleet.l2_put(
            query,
            base_url,
            doc,
            e.age(Instant::now()),
            e.fresh_for,
            lease,
        );
    }
    #[cfg(not(feature = "fleet"))]
    let _ = (args, query, provenance, e, lease);
}

/// Before asking the HealthActor for a half-open probe of `up` (its breaker open and
/// due), whether another replica probes this open period (`fleet::probe`): then the
/// answer is `Rejected` until that replica's lease ends, and its outcome comes through
/// the fleet's stream. `None`: ask the HealthActor as one replica does (fleet off,
/// `share_probes` off, the breaker already half-open here, or Redis unreachable).
pub(super) fn probe_turn(
    args: &RouterArgs,
    up: Upstream,
    view: BreakerView,
) -> impl std::future::Future<Output = Option<Admission>> + Send + 'static {
    #[cfg(feature = "fleet")]
    let ask = args
        .fleet
        .clone()
        .filter(|f| f.cfg.share_probes && view.state == sentinel_core::policy::BreakerState::Open)
        .map(|f| (f, args.cfg.upstreams.get(up).base_url.clone()));
    #[cfg(not(feature = "fleet"))]
    let _ = (args, up, view);
    async move {
        #[cfg(feature = "fleet")]
        if let Some((f, base_url)) = ask {
            return match f.probe_turn(up, &base_url, view.period).await {
                crate::fleet::probe::ProbeTurn::Ours => None,
                crate::fleet::probe::ProbeTurn::Theirs { until } => Some(Admission::Rejected {
                    until: until.into_std(),
                }),
            };
        }
        None
    }
}

/// A half-open probe of `up` answered: the other replicas' breakers take its outcome.
pub(super) fn share_probe(args: &RouterArgs, up: Upstream, ok: bool) {
    #[cfg(feature = "fleet")]
    if let Some(f) = args.fleet.as_ref().filter(|f| f.cfg.share_probes) {
        f.publish_probe(up, &args.cfg.upstreams.get(up).base_url, ok);
    }
    #[cfg(not(feature = "fleet"))]
    let _ = (args, up, ok);
}
