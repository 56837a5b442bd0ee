//! EstimatorActor: owns the estimates' learned state, in two bounded maps:
//!
//! - a per-package calibration between the two download sources (pypistats / pepy
//!   over the days both cover, [`sentinel_core::views::calibration`]);
//! - the compact rolling sums ([`RollingSums`]: last day, 7 and 30 days, with their
//!   dates) of every download series it has seen filled, so an estimate can still be
//!   made once the series itself has left the cache (evicted under its byte budget)
//!   and the store has none (off, degraded or pruned).
//!
//! It learns while both sources answer: when the CacheActor fills the cache with one
//! series (pypistats' `overall`, pepy's) while the other is held, and when a walk
//! making an estimate holds both, a fire-and-forget `Learn` is cast. A walk asks for
//! a package's calibration (`Get`) only when it is about to estimate from pepy: fresh
//! answers never cross its mailbox. Its memory is rebuilt after a restart from the series the cache and
//! the store hold: the next estimate that finds both series held teaches it again
//! (the store keeps the daily series for years, so a calibration learned once comes
//! back as long as the store holds its days).

use std::time::{Duration, SystemTime};

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use tokio::time::Instant;

use crate::cache::SharedCache;
use sentinel_core::model::{PackageName, Query, StatsKind};
use sentinel_core::upstream::Document;
use sentinel_core::views::calibration::{Calibration, calibrate};
use sentinel_core::views::estimate::RollingSums;

/// How many packages' calibrations are kept (about 100 bytes each: well under a
/// megabyte); the least recently used go first.
pub(crate) const MAX_PACKAGES: u64 = 4_096;

/// How many series' rolling sums are kept (about 250 bytes each with the key and the
/// map's own: about 4 MB at most, against the few kilobytes each whole series takes in
/// the cache); the least recently used go first.
pub(crate) const MAX_REMEMBERED_SERIES: u64 = 16_384;

/// Which of the two download series a remembered sum is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SeriesOf {
    /// pypistats' `overall` series (without mirrors).
    Pypistats,
    /// pepy.tech's daily totals.
    Pepy,
}

/// A series as the estimator remembers it: its sums and when it was fetched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RememberedSeries {
    pub sums: RollingSums,
    pub recorded: SystemTime,
}

pub(crate) enum EstimatorMsg {
    /// Both series of a package are held: learn (or refresh) its calibration.
    /// `(YYYY-MM-DD, downloads)`: pypistats' without-mirrors totals, pepy's totals.
    Learn {
        package: PackageName,
        pypistats: Vec<(String, u64)>,
        pepy: Vec<(String, u64)>,
    },
    /// A download series was filled: remember its sums (a newer fetch replaces an
    /// older one).
    Observe {
        package: PackageName,
        series: SeriesOf,
        seen: RememberedSeries,
    },
    /// Both series' sums as remembered (pypistats', pepy's).
    Recall {
        package: PackageName,
        reply: RpcReplyPort<(Option<RememberedSeries>, Option<RememberedSeries>)>,
    },
    /// The package's calibration, if one was learned.
    Get {
        package: PackageName,
        reply: RpcReplyPort<Option<Calibration>>,
    },
    /// How many calibrations are held. For tests.
    #[cfg(any(test, feature = "test-hooks"))]
    Count { reply: RpcReplyPort<u64> },
    /// Test hook: panic inside the handler.
    #[cfg(any(test, feature = "test-hooks"))]
    Crash,
}

pub(crate) struct EstimatorActor;

pub(crate) struct EstimatorState {
    calibrations: moka::sync::Cache<PackageName, Calibration>,
    remembered: moka::sync::Cache<(PackageName, SeriesOf), RememberedSeries>,
}

impl Actor for EstimatorActor {
    type Msg = EstimatorMsg;
    type State = EstimatorState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(EstimatorState {
            calibrations: moka::sync::Cache::builder()
                .max_capacity(MAX_PACKAGES)
                .build(),
            remembered: moka::sync::Cache::builder()
                .max_capacity(MAX_REMEMBERED_SERIES)
                .build(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: EstimatorMsg,
        st: &mut EstimatorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            EstimatorMsg::Learn {
                package,
                pypistats,
                pepy,
            } => {
                let Some(new) = calibrate(&pypistats, &pepy) else {
                    return Ok(());
                };
                // An older overlap (a series kept from an earlier run) never replaces
                // a newer one.
                let keep_old = st
                    .calibrations
                    .get(&package)
                    .is_some_and(|old| old.last_day > new.last_day);
                if !keep_old {
                    tracing::debug!(%package, ratio = new.ratio, days = new.days, "calibration learned");
                    st.calibrations.insert(package, new);
                }
            }
            EstimatorMsg::Observe {
                package,
                series,
                seen,
            } => {
                let key = (package, series);
                let older = st
                    .remembered
                    .get(&key)
                    .is_some_and(|old| old.recorded > seen.recorded);
                if !older {
                    st.remembered.insert(key, seen);
                }
            }
            EstimatorMsg::Recall { package, reply } => {
                let of = |series| st.remembered.get(&(package.clone(), series));
                let _ = reply.send((of(SeriesOf::Pypistats), of(SeriesOf::Pepy)));
            }
            EstimatorMsg::Get { package, reply } => {
                let _ = reply.send(st.calibrations.get(&package));
            }
            #[cfg(any(test, feature = "test-hooks"))]
            EstimatorMsg::Count { reply } => {
                st.calibrations.run_pending_tasks();
                let _ = reply.send(st.calibrations.entry_count());
            }
            #[cfg(any(test, feature = "test-hooks"))]
            EstimatorMsg::Crash => panic!("test hook: EstimatorActor asked to crash"),
        }
        Ok(())
    }
}

/// The daily totals of a download series document: pypistats' without-mirrors
/// `overall` series or pepy's.
fn daily_of(cache: &SharedCache, q: &Query, now: Instant) -> Option<Vec<(String, u64)>> {
    Some(held_daily(cache, q, now)?.0)
}

/// The daily totals of a held series and its wall-clock fetch time.
fn held_daily(
    cache: &SharedCache,
    q: &Query,
    now: Instant,
) -> Option<(Vec<(String, u64)>, SystemTime)> {
    let held = cache.retained(q, now)?;
    let daily = match held.doc.as_ref() {
        Document::Series(s) => s.daily_totals(),
        Document::Pepy(p) => p.daily_totals(),
        _ => return None,
    };
    Some((daily, held.fetched_at_wall))
}

/// `query` was just filled: when it is one of the two download series, the estimator
/// remembers its sums, and when the other is held too, it learns from both. Cache
/// lookups and casts, nothing awaited (called from the CacheActor's handler, about
/// once a day per package).
pub(crate) fn learn_on_fill(
    cache: &SharedCache,
    estimator: Option<ActorRef<EstimatorMsg>>,
    query: &Query,
) {
    let (name, series) = match query {
        Query::Stats(name, StatsKind::Overall) => (name, SeriesOf::Pypistats),
        Query::Pepy(name) => (name, SeriesOf::Pepy),
        _ => return,
    };
    let Some(estimator) = estimator else {
        return;
    };
    let now = Instant::now();
    if let Some((daily, recorded)) = held_daily(cache, query, now) {
        let _ = estimator.cast(EstimatorMsg::Observe {
            package: name.clone(),
            series,
            seen: RememberedSeries {
                sums: RollingSums::of(&daily),
                recorded,
            },
        });
    }
    let overall = Query::Stats(name.clone(), StatsKind::Overall);
    let (Some(pypistats), Some(pepy)) = (
        daily_of(cache, &overall, now),
        daily_of(cache, &Query::Pepy(name.clone()), now),
    ) else {
        return;
    };
    let _ = estimator.cast(EstimatorMsg::Learn {
        package: name.clone(),
        pypistats,
        pepy,
    });
}

/// The package's calibration, or none when the actor has not learned one or cannot
/// answer within a second (restarting): an estimate then stays unscaled.
pub(crate) async fn calibration_of(
    estimator: Option<ActorRef<EstimatorMsg>>,
    package: &PackageName,
) -> Option<Calibration> {
    let estimator = estimator?;
    let package = package.clone();
    match estimator
        .call(
            |reply| EstimatorMsg::Get { package, reply },
            Some(Duration::from_secs(1)),
        )
        .await
    {
        Ok(CallResult::Success(c)) => c,
        _ => None,
    }
}

/// Both series' sums as the estimator remembers them (pypistats', pepy's); none when
/// it cannot answer within a second (restarting).
pub(crate) async fn remembered_of(
    estimator: Option<ActorRef<EstimatorMsg>>,
    package: &PackageName,
) -> (Option<RememberedSeries>, Option<RememberedSeries>) {
    let Some(estimator) = estimator else {
        return (None, None);
    };
    let package = package.clone();
    match estimator
        .call(
            |reply| EstimatorMsg::Recall { package, reply },
            Some(Duration::from_secs(1)),
        )
        .await
    {
        Ok(CallResult::Success(r)) => r,
        _ => (None, None),
    }
}
