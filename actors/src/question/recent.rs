//! Recent downloads: pypistats' `recent` figures, then estimates from the series held
//! in the shared cache or kept in the store (pypistats' `overall`, pepy.tech), fetched
//! only when pypistats failed (never when our own rate limit deferred it: that would
//! only add load).

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use tokio::time::Instant;

use super::{Question, Walker, has_fallback, router_restarted};
use crate::actor::estimator::{EstimatorMsg, RememberedSeries, calibration_of, remembered_of};
use crate::actor::router::{DocAnswer, resolve_via, resolve_within};
use crate::cache::Lookup;
use sentinel_core::model::{
    DataAsOf, PackageName, Query, QueryError, StatsKind, UnavailableCause, Upstream,
};
use sentinel_core::upstream::Document;
use sentinel_core::views::downloads::{RecentDownloads, recent_data_date};
use sentinel_core::views::estimate::{
    Basis, Calibrated, Held, RecentEstimates, newest_day, recent_from_held,
};

/// Downloads over the last day, week and month.
#[derive(Debug, Clone)]
pub(crate) struct Recent(pub(crate) PackageName);

/// Where recent download figures came from.
#[derive(Debug)]
pub(crate) enum RecentAnswer {
    /// pypistats' figures.
    Figures(DocAnswer),
    /// pypistats failed or was slow; estimates from the series held, and why.
    Estimated {
        estimates: RecentEstimates,
        reason: String,
    },
}

impl Question for Recent {
    type Answer = RecentDownloads;

    async fn walk(self, w: &Walker, deadline: Instant) -> Result<RecentDownloads, QueryError> {
        let answer = recent(w, &self.0, deadline, true).await?;
        recent_view(&self.0, answer, w.args.cfg.clock.today())
    }
}

/// Recent downloads, the `recent` figures dated when an `overall` series held says
/// which day they are about (pypistats' `recent` body has no date).
///
/// `with_series`: when the figures must be fetched, pypistats' `overall` series is
/// asked for too (concurrently, within the answer budget, unless held fresh): it dates
/// the figures, tells when pypistats lags, and is the basis of estimates in a later
/// outage. Both stay fresh until pypistats' next daily update, so this is one more
/// request per package per day. Batches (overview) do without it, to spare the rate
/// limit: their figures are dated only by a series already held.
pub(super) async fn recent(
    w: &Walker,
    name: &PackageName,
    deadline: Instant,
    with_series: bool,
) -> Result<RecentAnswer, QueryError> {
    let now = Instant::now();
    let fresh = |q: &Query| matches!(w.args.cache.classify(q, now), Lookup::Fresh(_));
    let overall = Query::Stats(name.clone(), StatsKind::Overall);
    let companion =
        with_series && !fresh(&Query::Stats(name.clone(), StatsKind::Recent)) && !fresh(&overall);
    let answer = if companion {
        let series = async {
            let end = w.budget_end(deadline);
            // Its failure is the figures' business (their own chain): ignored here.
            let _ = resolve_within(&w.router(), overall, Some(end), deadline).await;
        };
        tokio::join!(recent_figures(w, name, deadline), series).0?
    } else {
        recent_figures(w, name, deadline).await?
    };
    match answer {
        RecentAnswer::Figures(mut ans) => {
            ans.data_date = data_date_of(w, name, &ans);
            Ok(RecentAnswer::Figures(ans))
        }
        other => Ok(other),
    }
}

async fn recent_figures(
    w: &Walker,
    name: &PackageName,
    deadline: Instant,
) -> Result<RecentAnswer, QueryError> {
    let q = Query::Stats(name.clone(), StatsKind::Recent);
    if let Some(hit) = w.fresh(&q) {
        return Ok(RecentAnswer::Figures(hit));
    }
    // pypistats gets the answer budget; past it the fetch goes on as a refresh while
    // the estimate is made from what is held (or from bases fetched now). What is held
    // is looked up only then: a healthy answer never reads the store.
    let budget_end = w.budget_end(deadline);
    let failure = match resolve_within(&w.router(), q.clone(), Some(budget_end), deadline).await {
        Err(_) => return Err(router_restarted()),
        Ok(Some(Ok(doc))) => return Ok(RecentAnswer::Figures(doc)),
        Ok(Some(Err(e))) if has_fallback(&e) => e,
        Ok(Some(Err(e))) => return Err(e),
        Ok(None) => {
            let slow = format!(
                "pypistats slow: no answer within the {} ms answer budget",
                w.args.cfg.timeouts.answer_budget_ms
            );
            let held = held_estimates(w, name, Recall::No).await;
            let estimates = if held.iter().any(Option::is_some) {
                held
            } else {
                // Nothing held: fetch the bases, each within a budget of its own (a
                // healthy pepy answers while pypistats hangs).
                fetch_bases(w, name, deadline, true).await;
                held_estimates(w, name, Recall::Yes).await
            };
            if estimates.iter().any(Option::is_some) {
                w.args.counters.estimates.fetch_add(1, Ordering::Relaxed);
                return Ok(RecentAnswer::Estimated {
                    estimates,
                    reason: slow,
                });
            }
            // No basis anywhere: wait for pypistats after all, up to the deadline.
            match resolve_via(&w.router(), q, deadline).await {
                Err(_) => return Err(router_restarted()),
                Ok(Ok(doc)) => return Ok(RecentAnswer::Figures(doc)),
                Ok(Err(e)) => {
                    if let Some(not_found) = unknown_to_pypi(w, name, deadline).await {
                        return Err(not_found);
                    }
                    return Err(without_basis(e));
                }
            }
        }
    };
    let deferred_by_us = matches!(failure.cause(), Some(UnavailableCause::RateLimited { .. }));
    // Deferred by our own limit, nothing more is fetched: what the estimator
    // remembers counts now.
    let recall = if deferred_by_us {
        Recall::Yes
    } else {
        Recall::No
    };
    let mut estimates = held_estimates(w, name, recall).await;
    if !estimates.iter().all(Option::is_some) && !deferred_by_us {
        // pypistats failed: fetch the bases we lack (each a flight of its own), then
        // estimate from what the cache holds.
        fetch_bases(w, name, deadline, false).await;
        estimates = held_estimates(w, name, Recall::Yes).await;
    }
    if estimates.iter().all(Option::is_none) {
        if let Some(not_found) = unknown_to_pypi(w, name, deadline).await {
            return Err(not_found);
        }
        return Err(without_basis(failure));
    }
    w.args.counters.estimates.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("sentinel_estimates_served_total").increment(1);
    Ok(RecentAnswer::Estimated {
        estimates,
        reason: failure.reason(),
    })
}

/// pypistats' failure, noting that nothing was held to estimate from.
fn without_basis(e: QueryError) -> QueryError {
    match e {
        QueryError::Unavailable {
            upstream,
            cause,
            remembered,
            ..
        } => QueryError::Unavailable {
            upstream,
            cause,
            note: Some("no daily series held to estimate from".into()),
            remembered,
        },
        other => other,
    }
}

/// pypistats could not answer and nothing is held: if PyPI (a different upstream,
/// often up) does not know the package, the honest answer is "not found", not an
/// outage.
async fn unknown_to_pypi(w: &Walker, name: &PackageName, deadline: Instant) -> Option<QueryError> {
    let q = Query::Project(name.clone());
    if w.args.cache.retained(&q, Instant::now()).is_some() {
        return None;
    }
    // Only within the answer budget: a hung PyPI must not turn an error into a wait.
    let budget_end = w.budget_end(deadline);
    match resolve_within(&w.router(), q, Some(budget_end), deadline).await {
        Ok(Some(Err(e @ QueryError::NotFound { .. }))) => Some(e),
        _ => None,
    }
}

/// Fetches the estimate bases (pypistats' `overall`, pepy.tech when enabled) into the
/// cache, concurrently; each waits at most the answer budget when `within_budget`
/// (then goes on as a refresh), else up to the deadline.
async fn fetch_bases(w: &Walker, name: &PackageName, deadline: Instant, within_budget: bool) {
    let end = within_budget.then(|| w.budget_end(deadline));
    let fetch = |q: Query| async move {
        let fresh = matches!(w.args.cache.classify(&q, Instant::now()), Lookup::Fresh(_));
        if !fresh {
            let _ = resolve_within(&w.router(), q, end, deadline).await;
        }
    };
    let overall = fetch(Query::Stats(name.clone(), StatsKind::Overall));
    let pepy = async {
        if w.args.cfg.upstreams.get(Upstream::Pepy).enabled {
            fetch(Query::Pepy(name.clone())).await;
        }
    };
    tokio::join!(overall, pepy);
}

/// Recent downloads as a view, from the walk's answer; `today` (days since
/// 1970-01-01, UTC) dates the data.
pub(crate) fn recent_view(
    name: &PackageName,
    answer: RecentAnswer,
    today: i64,
) -> Result<RecentDownloads, QueryError> {
    match answer {
        RecentAnswer::Figures(ans) => match ans.doc.as_ref() {
            Document::Recent(r) => Ok(RecentDownloads::from_doc(
                name.as_str(),
                r,
                &ans.provenance,
                ans.upstream,
                ans.age,
                ans.data_date.map(|d| DataAsOf::new(d, today)),
            )),
            _ => Err(QueryError::Internal(format!(
                "unexpected document for the recent downloads of {name}"
            ))),
        },
        RecentAnswer::Estimated { estimates, reason } => Ok(RecentDownloads::from_estimates(
            name.as_str(),
            estimates,
            &reason,
            today,
        )),
    }
}

/// A daily series found held: its days, when it was fetched, and where it was found.
type HeldSeries = (Vec<(String, u64)>, SystemTime, Held);

/// Whether an estimate may fall back on the sums the EstimatorActor remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recall {
    /// Not yet: the bases may still be fetched, and a fresh series beats old sums.
    No,
    /// Yes: the bases were fetched (or will not be), so the sums fill what is missing.
    Yes,
}

/// Estimates from the series held in the shared cache (fresh or stale), else from
/// the series the store kept from earlier runs, else (with `Recall::Yes`) from the
/// rolling sums the EstimatorActor remembers of series it saw filled: the estimator's
/// only inputs.
async fn held_estimates(w: &Walker, name: &PackageName, recall: Recall) -> RecentEstimates {
    let now = Instant::now();
    let cache = &w.args.cache;
    let daily_of = |q: Query| {
        let e = cache.retained(&q, now)?;
        let daily = match e.doc.as_ref() {
            Document::Series(s) => s.daily_totals(),
            Document::Pepy(d) => d.daily_totals(),
            _ => return None,
        };
        let held = if e.from_store {
            Held::Store
        } else {
            Held::Cache
        };
        Some((daily, e.fetched_at_wall, held))
    };
    let mut series = daily_of(Query::Stats(name.clone(), StatsKind::Overall));
    let mut pepy_series = daily_of(Query::Pepy(name.clone()));
    if (series.is_none() || pepy_series.is_none()) && w.args.store.is_active() {
        let store = w.args.store.clone();
        let package = name.clone();
        let kept = tokio::task::spawn_blocking(move || store.load_series(&package))
            .await
            .unwrap_or_default();
        let kept_series = |s: crate::store::StoredSeries| (s.daily, s.recorded, Held::Store);
        series = series.or(kept.pypistats.map(kept_series));
        pepy_series = pepy_series.or(kept.pepy.map(kept_series));
    }
    let basis = |s: &Option<HeldSeries>| {
        s.as_ref()
            .map(|(daily, recorded, held)| Basis::of_daily(daily, *recorded, *held))
    };
    let (mut overall, mut pepy) = (basis(&series), basis(&pepy_series));
    if recall == Recall::Yes && (overall.is_none() || pepy.is_none()) {
        let (o, p) = remembered_of(w.args.registry.estimator.get(), name).await;
        let remembered = |r: RememberedSeries| Basis {
            sums: r.sums,
            recorded: r.recorded,
            held: Held::Estimator,
        };
        overall = overall.or(o.map(remembered));
        pepy = pepy.or(p.map(remembered));
    }
    let calibration = match (&overall, &pepy) {
        (_, None) => None,
        (Some(o), Some(p)) => {
            if let (Some((o_daily, ..)), Some((p_daily, ..))) = (&series, &pepy_series) {
                teach(w, name, o_daily, p_daily);
            }
            // Asked only when pepy would be the basis for some figure.
            let pepy_needed = newest_day(p) > newest_day(o) || !o.sums.has_month();
            if pepy_needed {
                calibration_of(w.args.registry.estimator.get(), name).await
            } else {
                None
            }
        }
        (None, Some(_)) => calibration_of(w.args.registry.estimator.get(), name).await,
    };
    let calibrated = calibration.map(|calibration| Calibrated {
        package: name.as_str(),
        calibration,
    });
    recent_from_held(
        overall.as_ref(),
        pepy.as_ref(),
        calibrated,
        w.args.cfg.clock.now(),
    )
}

/// Both series are held: the estimator learns (or relearns, after a restart) the
/// package's calibration from them. Fire and forget; it is sent before any `Get`, so
/// the answer that follows already has it.
fn teach(w: &Walker, name: &PackageName, overall: &[(String, u64)], pepy: &[(String, u64)]) {
    if let Some(estimator) = w.args.registry.estimator.get() {
        let _ = estimator.cast(EstimatorMsg::Learn {
            package: name.clone(),
            pypistats: overall.to_vec(),
            pepy: pepy.to_vec(),
        });
    }
}

/// The data date of pypistats' `recent` figures, whose body has none: the day of
/// the `overall` series held in the cache whose without-mirrors counts give
/// exactly the same day, week and month figures. No such series held, or figures
/// that do not match (another daily update): unknown, never guessed.
fn data_date_of(w: &Walker, name: &PackageName, ans: &DocAnswer) -> Option<i64> {
    let Document::Recent(r) = ans.doc.as_ref() else {
        return None;
    };
    let q = Query::Stats(name.clone(), StatsKind::Overall);
    let held = w.args.cache.retained(&q, Instant::now())?;
    match held.doc.as_ref() {
        Document::Series(s) => recent_data_date(r, s),
        _ => None,
    }
}
