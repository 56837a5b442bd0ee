//! The chains of `scan_dependencies` and `check_package`, fanned out here in the
//! router's task over the same coalesced flights as every other question:
//!
//! - scan: the version list of every distinct package, concurrently (each with the
//!   versions chain: the project JSON, then the Simple API), merged per package;
//! - check: the version list and the top-packages dataset concurrently, then, when the
//!   package exists, its recent downloads (pypistats, else estimates): always for
//!   `check_package`; for an audit's direct dependencies only when the name resembles
//!   a popular one or the package is young, where the downloads decide the verdict
//!   (an audit of 50 dependencies would otherwise spend pypistats' rate limit on
//!   established packages).

use tokio::time::Instant;

use super::chain::{Answer, ChainCtx, recent, versions};
use super::{DocAnswer, resolve_within};
use crate::model::{PackageName, Query, QueryError};
use crate::model::{UnavailableCause, Upstream};
use crate::views::downloads::RecentDownloads;

/// What the check chain gathered; each part may have failed on its own.
#[derive(Debug)]
pub(crate) struct CheckParts {
    pub(crate) versions: Result<Answer, QueryError>,
    pub(crate) top: Result<DocAnswer, QueryError>,
    pub(crate) recent: Option<Result<RecentDownloads, QueryError>>,
}

pub(crate) async fn scan(
    ctx: &ChainCtx,
    names: Vec<PackageName>,
    deadline: Instant,
) -> Vec<(PackageName, Result<Answer, QueryError>)> {
    let deadline = ChainCtx::parts_deadline(deadline);
    let jobs = names.into_iter().map(|name| async move {
        let r = versions(ctx, name.clone(), deadline).await;
        (name, r)
    });
    futures::future::join_all(jobs).await
}

/// When the check fetches recent downloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CheckDownloads {
    /// Whenever the package exists (`check_package`).
    Always,
    /// Only when the downloads could change the verdict: the name resembles a popular
    /// one, or the first release is young (an audit's direct dependencies).
    WhenSuspect,
}

pub(crate) async fn check(
    ctx: &ChainCtx,
    name: PackageName,
    downloads: CheckDownloads,
    deadline: Instant,
) -> CheckParts {
    let deadline = ChainCtx::parts_deadline(deadline);
    // The top-packages dataset only serves the resemblance check: it gets the answer
    // budget (its flight goes on and the next check has it), not the whole deadline.
    let (versions, top) = tokio::join!(
        versions(ctx, name.clone(), deadline),
        top_within_budget(ctx, deadline)
    );
    let wanted = match downloads {
        CheckDownloads::Always => true,
        CheckDownloads::WhenSuspect => suspect(&name, &versions, &top, ctx),
    };
    let recent = match &versions {
        Ok(_) if wanted => Some(
            // Without the companion series, as batches do (spares pypistats' limit).
            recent(ctx, &name, deadline, false)
                .await
                .and_then(|a| super::chain::recent_view(&name, a, ctx.args.cfg.clock.today())),
        ),
        _ => None,
    };
    CheckParts {
        versions,
        top,
        recent,
    }
}

async fn top_within_budget(ctx: &ChainCtx, deadline: Instant) -> Result<DocAnswer, QueryError> {
    let end = ctx.budget_end(deadline);
    match resolve_within(&ctx.router(), Query::TopPackages, Some(end), deadline).await {
        Ok(Some(r)) => r,
        Ok(None) => Err(QueryError::unavailable(
            Upstream::TopPackages,
            UnavailableCause::Timeout {
                waited_ms: ctx.args.cfg.timeouts.answer_budget_ms,
                attempts: 1,
            },
        )),
        Err(_) => Err(QueryError::Internal(
            "the router restarted during the request; retry".into(),
        )),
    }
}

/// Whether the downloads could change the verdict on `name`: its name resembles a
/// popular one (and it is not popular itself), or its first release is young, or
/// either fact is unknown.
fn suspect(
    name: &PackageName,
    versions: &Result<Answer, QueryError>,
    top: &Result<DocAnswer, QueryError>,
    ctx: &ChainCtx,
) -> bool {
    use crate::upstream::Document;
    use crate::views::check;
    let resembles = match top.as_ref().map(|a| a.doc.as_ref()) {
        Ok(Document::Top(t)) => {
            let (rank, resembles, _) = check::resemblance(name.as_str(), t);
            rank.is_none() && resembles.is_some()
        }
        _ => true,
    };
    let age_days = match versions {
        Ok(Answer::Doc(a)) => match a.doc.as_ref() {
            Document::Project(p) => {
                check::ReleaseFacts::from_versions(
                    &crate::views::versions::VersionList::from_project(p),
                    ctx.args.cfg.clock.now(),
                )
                .age_days
            }
            _ => None,
        },
        _ => None,
    };
    let young = age_days.is_none_or(|days| days < check::YOUNG_DAYS);
    resembles || young
}
