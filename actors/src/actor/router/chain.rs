//! The fallback chains of questions that span several documents, walked in tasks the
//! router spawns, over the router's own coalesced flights:
//!
//! - versions: the project JSON, then the Simple API page (the alternate document);
//! - recent downloads: pypistats' `recent`, then estimates from the series held in the
//!   shared cache or kept in the store (pypistats' `overall`, pepy.tech), fetched only when the upstream
//!   failed (never when our own rate limit deferred it: that would only add load);
//! - overview: a batch fanned out per package and merged into a [`PartialResult`].
//!
//! A document's own fallback (its stale copy) is the flight's business (router `mod`).

use std::sync::atomic::Ordering;

use ractor::ActorRef;
use tokio::time::Instant;

use super::{DocAnswer, Resolution, RouterArgs, RouterMsg, resolve_via, resolve_within};
use crate::cache::Lookup;
use crate::engine::{ItemFailure, PackageOverview, PartialResult};
use crate::model::{
    DataAsOf, Datum, PackageName, PackageVersion, Provenance, Query, QueryError, SourceLabel,
    StatsKind, UnavailableCause, Upstream,
};
use crate::upstream::Document;
use crate::views::docs::DocSummary;
use crate::views::downloads::{RecentDownloads, recent_data_date};
use crate::views::estimate::{Basis, RecentEstimates, recent_from_held};
use crate::views::info::PackageInfo;
use crate::views::python::{PyVersion, choose_release, release_admits};
use crate::views::resolve::{Resolution as Resolved, ResolveRequest, Validated};
use crate::views::vulns::PackageVulnerabilities;

/// A question whose answer may need more than one document.
#[derive(Debug, Clone)]
pub(crate) enum Question {
    /// Every version of a project.
    Versions(PackageName),
    /// Downloads over the last day, week and month.
    Recent(PackageName),
    /// Metadata and recent downloads of several packages.
    Overview(Vec<String>),
    /// The short docs of several packages (a package's dependencies), concurrently.
    DocSummaries(Vec<PackageName>),
    /// A release for a target Python: the one asked for (saying when it excludes the
    /// target), or the one pip would pick there.
    Release {
        name: PackageName,
        version: Option<PackageVersion>,
        python: PyVersion,
    },
    /// The version lists of several packages (scan_dependencies).
    Scan(Vec<PackageName>),
    /// The facts of the supply-chain check of one package (check_package; audit_project
    /// per direct dependency).
    Check {
        name: PackageName,
        downloads: super::scan::CheckDownloads,
    },
    /// A dependency resolution (see [`super::resolve`]).
    Resolve(Box<(ResolveRequest, Validated)>),
    /// The known vulnerabilities of a release (the latest when no version).
    Vulnerabilities {
        name: PackageName,
        version: Option<PackageVersion>,
    },
}

/// What a chain produced.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The primary document.
    Doc(DocAnswer),
    /// The primary failed (`primary`); the alternate document answered.
    Alternate { doc: DocAnswer, primary: QueryError },
    /// The primary failed or was slow; estimates from the series held, and why.
    Estimated {
        estimates: RecentEstimates,
        reason: String,
    },
    /// A merged batch.
    Overview(PartialResult<PackageOverview>),
    /// Each package's short docs, or why it failed, in the order asked.
    DocSummaries(Vec<(PackageName, Result<Datum<DocSummary>, QueryError>)>),
    /// A release document, with what was chosen or found about the target, in words.
    Selected {
        doc: DocAnswer,
        note: Option<String>,
    },
    /// Per package, its versions answer (scan).
    Scan(Vec<(PackageName, Result<Answer, QueryError>)>),
    /// The parts of a package check.
    Check(Box<super::scan::CheckParts>),
    /// A resolution.
    Resolved(Box<Resolved>),
    /// Vulnerabilities of a release, with the release document's provenance.
    Vulnerabilities(DocAnswer, PackageVulnerabilities),
}

pub(crate) struct ChainCtx {
    pub(crate) router: ActorRef<RouterMsg>,
    pub(crate) args: RouterArgs,
}

pub(crate) async fn answer(
    ctx: &ChainCtx,
    question: Question,
    deadline: Instant,
) -> Result<Answer, QueryError> {
    match question {
        Question::Versions(name) => versions(ctx, name, deadline).await,
        Question::Recent(name) => recent(ctx, &name, deadline, true).await,
        Question::Overview(packages) => {
            Ok(Answer::Overview(overview(ctx, &packages, deadline).await))
        }
        Question::Release {
            name,
            version,
            python,
        } => release_for(ctx, name, version, python, deadline).await,
        Question::DocSummaries(names) => Ok(Answer::DocSummaries(
            doc_summaries(ctx, names, deadline).await,
        )),
        Question::Scan(names) => Ok(Answer::Scan(super::scan::scan(ctx, names, deadline).await)),
        Question::Check { name, downloads } => Ok(Answer::Check(Box::new(
            super::scan::check(ctx, name, downloads, deadline).await,
        ))),
        Question::Resolve(r) => {
            let (raw, req) = *r;
            Ok(Answer::Resolved(Box::new(
                super::resolve::resolve(ctx, &raw, &req, deadline).await,
            )))
        }
        Question::Vulnerabilities { name, version } => {
            let (doc, v) = super::resolve::vulnerabilities(ctx, name, version, deadline).await?;
            Ok(Answer::Vulnerabilities(doc, v))
        }
    }
}

impl ChainCtx {
    /// One document: a fresh hit here, else the router's flight.
    pub(crate) async fn doc(&self, q: Query, deadline: Instant) -> Resolution {
        let now = Instant::now();
        if let Lookup::Fresh(e) = self.args.cache.lookup(&q, now) {
            return Ok(DocAnswer::from_entry(
                &e,
                Provenance::Cached,
                q.upstream(),
                now,
            ));
        }
        // The router that spawned this chain may have been restarted meanwhile: ask the
        // current one, and once more if it dies mid-call.
        for _ in 0..2 {
            match resolve_via(&self.router(), q.clone(), deadline).await {
                Ok(r) => return r,
                Err(_) if Instant::now() + std::time::Duration::from_millis(20) < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(_) => break,
            }
        }
        Err(restarted())
    }

    /// The current router (the one that spawned this chain may have been restarted).
    pub(crate) fn router(&self) -> ActorRef<RouterMsg> {
        self.args
            .registry
            .router
            .get()
            .unwrap_or_else(|| self.router.clone())
    }

    /// Where the parts of a merged answer (a fan-out, a resolution, a check) stop: a
    /// little before the caller's deadline, so that a part that could not be had is a
    /// typed failure in an answer rather than the whole answer missing the deadline.
    pub(crate) fn parts_deadline(deadline: Instant) -> Instant {
        let margin = (deadline.saturating_duration_since(Instant::now()) / 10)
            .min(std::time::Duration::from_secs(1));
        deadline - margin
    }

    pub(crate) fn budget_end(&self, deadline: Instant) -> Instant {
        let budget = std::time::Duration::from_millis(self.args.cfg.timeouts.answer_budget_ms);
        (Instant::now() + budget).min(deadline)
    }

    /// Estimates from the series held in the shared cache (fresh or stale), else from
    /// the series the store kept from earlier runs: the estimator's only inputs, so its
    /// memory is the cache's and the store's.
    async fn held_estimates(&self, name: &PackageName) -> RecentEstimates {
        let now = Instant::now();
        let cache = &self.args.cache;
        let overall = cache.retained(&Query::Stats(name.clone(), StatsKind::Overall), now);
        let pepy = cache.retained(&Query::Pepy(name.clone()), now);
        let mut series = overall.as_ref().and_then(|e| match e.doc.as_ref() {
            Document::Series(s) => Some(Basis {
                daily: s.daily_totals(),
                recorded: e.fetched_at_wall,
                kept_on_disk: e.from_store,
            }),
            _ => None,
        });
        let mut pepy_basis = pepy.as_ref().and_then(|e| match e.doc.as_ref() {
            Document::Pepy(d) => Some(Basis {
                daily: d.daily_totals(),
                recorded: e.fetched_at_wall,
                kept_on_disk: e.from_store,
            }),
            _ => None,
        });
        if (series.is_none() || pepy_basis.is_none()) && self.args.store.is_active() {
            let store = self.args.store.clone();
            let package = name.clone();
            let kept = tokio::task::spawn_blocking(move || store.load_series(&package))
                .await
                .unwrap_or_default();
            let basis = |s: crate::store::StoredSeries| Basis {
                daily: s.daily,
                recorded: s.recorded,
                kept_on_disk: true,
            };
            series = series.or(kept.pypistats.map(basis));
            pepy_basis = pepy_basis.or(kept.pepy.map(basis));
        }
        recent_from_held(
            series.as_ref(),
            pepy_basis.as_ref(),
            self.args.cfg.clock.now(),
        )
    }

    /// The data date of pypistats' `recent` figures, whose body has none: the day of
    /// the `overall` series held in the cache whose without-mirrors counts give
    /// exactly the same day, week and month figures. No such series held, or figures
    /// that do not match (another daily update): unknown, never guessed.
    fn recent_data_date(&self, name: &PackageName, ans: &DocAnswer) -> Option<i64> {
        let Document::Recent(r) = ans.doc.as_ref() else {
            return None;
        };
        let q = Query::Stats(name.clone(), StatsKind::Overall);
        let held = self.args.cache.retained(&q, Instant::now())?;
        match held.doc.as_ref() {
            Document::Series(s) => recent_data_date(r, s),
            _ => None,
        }
    }
}

fn restarted() -> QueryError {
    QueryError::Internal("the router restarted during the request; retry".into())
}

/// Errors after which another source may still answer.
fn has_fallback(e: &QueryError) -> bool {
    matches!(
        e,
        QueryError::Unavailable { .. } | QueryError::DeadlineExceeded { .. }
    )
}

pub(super) async fn versions(
    ctx: &ChainCtx,
    name: PackageName,
    deadline: Instant,
) -> Result<Answer, QueryError> {
    let q = Query::Project(name.clone());
    let started = Instant::now();
    if let Lookup::Fresh(e) = ctx.args.cache.lookup(&q, started) {
        return Ok(Answer::Doc(DocAnswer::from_entry(
            &e,
            Provenance::Cached,
            q.upstream(),
            started,
        )));
    }
    // The JSON API gets the answer budget (its own stale copy, if any, is served by the
    // flight); past it the Simple API is the alternate, while the JSON fetch goes on.
    let budget_end = ctx.budget_end(deadline);
    let (primary, slow) =
        match resolve_within(&ctx.router(), q.clone(), Some(budget_end), deadline).await {
            Err(_) => return Err(restarted()),
            Ok(Some(Ok(doc))) => return Ok(Answer::Doc(doc)),
            Ok(Some(Err(e))) if has_fallback(&e) => (e, false),
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) => (
                QueryError::unavailable(
                    Upstream::PypiJson,
                    UnavailableCause::Timeout {
                        waited_ms: ctx.args.cfg.timeouts.answer_budget_ms,
                        attempts: 1,
                    },
                ),
                true,
            ),
        };
    match ctx.doc(Query::Simple(name), deadline).await {
        Ok(doc) => Ok(Answer::Alternate { doc, primary }),
        Err(e @ QueryError::NotFound { .. }) => Err(e),
        // Deferred by our own limit: that is what to tell (with its retry_after);
        // asking again will answer from the Simple page it queued.
        Err(e) if e.is_deferred() => Err(e),
        // The JSON API was only slow: wait for it after all, up to the deadline.
        Err(_) if slow => resolve_via(&ctx.router(), q, deadline)
            .await
            .unwrap_or_else(|_| Err(restarted()))
            .map(Answer::Doc)
            .map_err(|e| e.waited_at_least(started.elapsed())),
        Err(_) => Err(primary),
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
    ctx: &ChainCtx,
    name: &PackageName,
    deadline: Instant,
    with_series: bool,
) -> Result<Answer, QueryError> {
    let now = Instant::now();
    let fresh = |q: &Query| matches!(ctx.args.cache.classify(q, now), Lookup::Fresh(_));
    let overall = Query::Stats(name.clone(), StatsKind::Overall);
    let companion =
        with_series && !fresh(&Query::Stats(name.clone(), StatsKind::Recent)) && !fresh(&overall);
    let answer = if companion {
        let series = async {
            let end = ctx.budget_end(deadline);
            // Its failure is the figures' business (their own chain): ignored here.
            let _ = resolve_within(&ctx.router(), overall, Some(end), deadline).await;
        };
        tokio::join!(recent_figures(ctx, name, deadline), series).0?
    } else {
        recent_figures(ctx, name, deadline).await?
    };
    match answer {
        Answer::Doc(mut ans) => {
            ans.data_date = ctx.recent_data_date(name, &ans);
            Ok(Answer::Doc(ans))
        }
        other => Ok(other),
    }
}

async fn recent_figures(
    ctx: &ChainCtx,
    name: &PackageName,
    deadline: Instant,
) -> Result<Answer, QueryError> {
    let q = Query::Stats(name.clone(), StatsKind::Recent);
    let now = Instant::now();
    if let Lookup::Fresh(e) = ctx.args.cache.lookup(&q, now) {
        return Ok(Answer::Doc(DocAnswer::from_entry(
            &e,
            Provenance::Cached,
            q.upstream(),
            now,
        )));
    }
    // pypistats gets the answer budget; past it the fetch goes on as a refresh while
    // the estimate is made from what is held (or from bases fetched now). What is held
    // is looked up only then: a healthy answer never reads the store.
    let budget_end = ctx.budget_end(deadline);
    let failure = match resolve_within(&ctx.router(), q.clone(), Some(budget_end), deadline).await {
        Err(_) => return Err(restarted()),
        Ok(Some(Ok(doc))) => return Ok(Answer::Doc(doc)),
        Ok(Some(Err(e))) if has_fallback(&e) => e,
        Ok(Some(Err(e))) => return Err(e),
        Ok(None) => {
            let slow = format!(
                "pypistats slow: no answer within the {} ms answer budget",
                ctx.args.cfg.timeouts.answer_budget_ms
            );
            let held = ctx.held_estimates(name).await;
            let estimates = if held.iter().any(Option::is_some) {
                held
            } else {
                // Nothing held: fetch the bases, each within a budget of its own (a
                // healthy pepy answers while pypistats hangs).
                fetch_bases(ctx, name, deadline, true).await;
                ctx.held_estimates(name).await
            };
            if estimates.iter().any(Option::is_some) {
                ctx.args.counters.estimates.fetch_add(1, Ordering::Relaxed);
                return Ok(Answer::Estimated {
                    estimates,
                    reason: slow,
                });
            }
            // No basis anywhere: wait for pypistats after all, up to the deadline.
            match resolve_via(&ctx.router(), q, deadline).await {
                Err(_) => return Err(restarted()),
                Ok(Ok(doc)) => return Ok(Answer::Doc(doc)),
                Ok(Err(e)) => {
                    if let Some(not_found) = unknown_to_pypi(ctx, name, deadline).await {
                        return Err(not_found);
                    }
                    return Err(without_basis(e));
                }
            }
        }
    };
    let mut estimates = ctx.held_estimates(name).await;
    let deferred_by_us = matches!(failure.cause(), Some(UnavailableCause::RateLimited { .. }));
    if !estimates.iter().all(Option::is_some) && !deferred_by_us {
        // pypistats failed: fetch the bases we lack (each a flight of its own), then
        // estimate from what the cache holds.
        fetch_bases(ctx, name, deadline, false).await;
        estimates = ctx.held_estimates(name).await;
    }
    if estimates.iter().all(Option::is_none) {
        if let Some(not_found) = unknown_to_pypi(ctx, name, deadline).await {
            return Err(not_found);
        }
        return Err(without_basis(failure));
    }
    ctx.args.counters.estimates.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("sentinel_estimates_served_total").increment(1);
    Ok(Answer::Estimated {
        estimates,
        reason: failure.reason(),
    })
}

/// pypistats' failure, noting that nothing was held to estimate from.
fn without_basis(e: QueryError) -> QueryError {
    match e {
        QueryError::Unavailable {
            upstream, cause, ..
        } => QueryError::Unavailable {
            upstream,
            cause,
            note: Some("no daily series held to estimate from".into()),
        },
        other => other,
    }
}

/// pypistats could not answer and nothing is held: if PyPI (a different upstream,
/// often up) does not know the package, the honest answer is "not found", not an
/// outage.
async fn unknown_to_pypi(
    ctx: &ChainCtx,
    name: &PackageName,
    deadline: Instant,
) -> Option<QueryError> {
    let q = Query::Project(name.clone());
    if ctx.args.cache.retained(&q, Instant::now()).is_some() {
        return None;
    }
    // Only within the answer budget: a hung PyPI must not turn an error into a wait.
    let budget_end = ctx.budget_end(deadline);
    match resolve_within(&ctx.router(), q, Some(budget_end), deadline).await {
        Ok(Some(Err(e @ QueryError::NotFound { .. }))) => Some(e),
        _ => None,
    }
}

/// Fetches the estimate bases (pypistats' `overall`, pepy.tech when enabled) into the
/// cache, concurrently; each waits at most the answer budget when `within_budget`
/// (then goes on as a refresh), else up to the deadline.
async fn fetch_bases(ctx: &ChainCtx, name: &PackageName, deadline: Instant, within_budget: bool) {
    let end = within_budget.then(|| ctx.budget_end(deadline));
    let fetch = |q: Query| async move {
        let fresh = matches!(
            ctx.args.cache.classify(&q, Instant::now()),
            Lookup::Fresh(_)
        );
        if !fresh {
            let _ = resolve_within(&ctx.router(), q, end, deadline).await;
        }
    };
    let overall = fetch(Query::Stats(name.clone(), StatsKind::Overall));
    let pepy = async {
        if ctx.args.cfg.upstreams.get(Upstream::Pepy).enabled {
            fetch(Query::Pepy(name.clone())).await;
        }
    };
    tokio::join!(overall, pepy);
}

/// A release for a target Python (see [`Question::Release`]).
async fn release_for(
    ctx: &ChainCtx,
    name: PackageName,
    version: Option<PackageVersion>,
    python: PyVersion,
    deadline: Instant,
) -> Result<Answer, QueryError> {
    let q = match &version {
        None => Query::Project(name.clone()),
        Some(v) => Query::Release(name.clone(), v.clone()),
    };
    let doc = ctx.doc(q, deadline).await?;
    let (Document::Project(p) | Document::Release(p)) = doc.doc.as_ref() else {
        return Ok(Answer::Doc(doc));
    };
    if version.is_some() {
        let note = (release_admits(p, &python) == Some(false)).then(|| {
            format!(
                "{} {} requires Python {}: it does not install on Python {python}",
                p.info.name,
                p.info.version,
                p.info.requires_python.as_deref().unwrap_or_default()
            )
        });
        return Ok(Answer::Selected { doc, note });
    }
    match choose_release(p, &python) {
        Ok(None) => Ok(Answer::Doc(doc)),
        Ok(Some(choice)) => {
            let v = PackageVersion::parse(&choice.version).map_err(QueryError::from)?;
            let release = ctx.doc(Query::Release(name, v), deadline).await?;
            Ok(Answer::Selected {
                doc: release,
                note: Some(choice.note),
            })
        }
        Err(words) => Ok(Answer::Selected {
            doc,
            note: Some(words),
        }),
    }
}

/// Recent downloads as a view, from the chain's answer; `today` (days since
/// 1970-01-01, UTC) dates the data.
pub(crate) fn recent_view(
    name: &PackageName,
    answer: Answer,
    today: i64,
) -> Result<RecentDownloads, QueryError> {
    match answer {
        Answer::Doc(ans) => match ans.doc.as_ref() {
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
        Answer::Estimated { estimates, reason } => Ok(RecentDownloads::from_estimates(
            name.as_str(),
            estimates,
            &reason,
            today,
        )),
        _ => Err(QueryError::Internal("unexpected answer kind".into())),
    }
}

/// Every package's latest project body, fetched concurrently (each by the usual path:
/// fresh hit, flight, stale copy), summarised.
async fn doc_summaries(
    ctx: &ChainCtx,
    names: Vec<PackageName>,
    deadline: Instant,
) -> Vec<(PackageName, Result<Datum<DocSummary>, QueryError>)> {
    let deadline = ChainCtx::parts_deadline(deadline);
    let jobs = names.into_iter().map(|name| async move {
        let ans = ctx.doc(Query::Project(name.clone()), deadline).await;
        let summary = ans.and_then(|ans| match ans.doc.as_ref() {
            Document::Project(doc) => Ok(Datum::new(
                DocSummary::from_project(doc),
                ans.provenance.clone(),
                ans.upstream,
                ans.age,
            )),
            _ => Err(QueryError::Internal("not a project document".into())),
        });
        (name, summary)
    });
    futures::future::join_all(jobs).await
}

async fn overview(
    ctx: &ChainCtx,
    packages: &[String],
    deadline: Instant,
) -> PartialResult<PackageOverview> {
    let deadline = ChainCtx::parts_deadline(deadline);
    let jobs = packages.iter().map(|p| async move {
        let name = match PackageName::parse(p) {
            Ok(n) => n,
            Err(e) => return (p.clone(), Err(QueryError::from(e)), None),
        };
        let info = async {
            let ans = ctx.doc(Query::Project(name.clone()), deadline).await?;
            match ans.doc.as_ref() {
                Document::Project(doc) => Ok(Datum::new(
                    PackageInfo::from_project(doc),
                    ans.provenance.clone(),
                    ans.upstream,
                    ans.age,
                )),
                _ => Err(QueryError::Internal("not a project document".into())),
            }
        };
        let downloads = async {
            recent(ctx, &name, deadline, false)
                .await
                .and_then(|r| recent_view(&name, r, ctx.args.cfg.clock.today()))
        };
        let (info, downloads) = tokio::join!(info, downloads);
        (p.clone(), info, Some(downloads))
    });
    let results = futures::future::join_all(jobs).await;
    let mut items = Vec::new();
    let mut failures = Vec::new();
    let mut labels = Vec::new();
    for (p, info, downloads) in results {
        match info {
            Ok(info) => {
                labels.push(info.label());
                let downloads = match downloads {
                    Some(Ok(d)) => {
                        labels.push(d.source);
                        Some(d)
                    }
                    Some(Err(e)) => {
                        labels.push(SourceLabel::Unavailable);
                        failures.push(ItemFailure::from_error(format!("{p}/downloads"), &e));
                        None
                    }
                    None => None,
                };
                items.push(PackageOverview {
                    package: p,
                    info,
                    downloads,
                });
            }
            Err(e) => failures.push(ItemFailure::from_error(p, &e)),
        }
    }
    PartialResult {
        items,
        failures,
        source: SourceLabel::merge(labels),
    }
}
