//! The walks of `scan_dependencies` and `check_package`, fanned out over the same
//! coalesced flights as every other question:
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

use super::recent::{recent, recent_view};
use super::versions::{VersionsAnswer, versions};
use super::{Question, Walker, router_restarted};
use crate::actor::router::{DocAnswer, resolve_within};
use crate::model::{PackageName, Query, QueryError, Upstream};
use crate::views::downloads::RecentDownloads;

/// The version lists of several packages (scan_dependencies).
#[derive(Debug, Clone)]
pub(crate) struct Scan(pub(crate) Vec<PackageName>);

/// Per package, its versions answer, in the order asked.
pub(crate) type ScanAnswer = Vec<(PackageName, Result<VersionsAnswer, QueryError>)>;

impl Question for Scan {
    type Answer = ScanAnswer;

    async fn walk(self, w: &Walker, deadline: Instant) -> Result<ScanAnswer, QueryError> {
        Ok(scan(w, self.0, deadline).await)
    }
}

/// The facts of the supply-chain check of one package (check_package; audit_project
/// per direct dependency).
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub(crate) name: PackageName,
    pub(crate) downloads: CheckDownloads,
}

impl Question for Check {
    type Answer = CheckParts;

    async fn walk(self, w: &Walker, deadline: Instant) -> Result<CheckParts, QueryError> {
        Ok(check(w, self.name, self.downloads, deadline).await)
    }
}

/// What the check chain gathered; each part may have failed on its own.
#[derive(Debug)]
pub(crate) struct CheckParts {
    pub(crate) versions: Result<VersionsAnswer, QueryError>,
    pub(crate) top: Result<DocAnswer, QueryError>,
    pub(crate) recent: Option<Result<RecentDownloads, QueryError>>,
}

async fn scan(w: &Walker, names: Vec<PackageName>, deadline: Instant) -> ScanAnswer {
    let deadline = Walker::parts_deadline(deadline);
    let jobs = names.into_iter().map(|name| async move {
        let r = versions(w, name.clone(), deadline).await;
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

async fn check(
    w: &Walker,
    name: PackageName,
    downloads: CheckDownloads,
    deadline: Instant,
) -> CheckParts {
    let deadline = Walker::parts_deadline(deadline);
    // The top-packages dataset only serves the resemblance check: it gets the answer
    // budget (its flight goes on and the next check has it), not the whole deadline.
    let (versions, top) = tokio::join!(
        versions(w, name.clone(), deadline),
        top_within_budget(w, deadline)
    );
    let wanted = match downloads {
        CheckDownloads::Always => true,
        CheckDownloads::WhenSuspect => suspect(&name, &versions, &top, w),
    };
    let recent = match &versions {
        Ok(_) if wanted => Some(
            // Without the companion series, as batches do (spares pypistats' limit).
            recent(w, &name, deadline, false)
                .await
                .and_then(|a| recent_view(&name, a, w.args.cfg.clock.today())),
        ),
        _ => None,
    };
    CheckParts {
        versions,
        top,
        recent,
    }
}

async fn top_within_budget(w: &Walker, deadline: Instant) -> Result<DocAnswer, QueryError> {
    let end = w.budget_end(deadline);
    match resolve_within(&w.router(), Query::TopPackages, Some(end), deadline).await {
        Ok(Some(r)) => r,
        Ok(None) => Err(QueryError::unavailable(
            Upstream::TopPackages,
            w.budget_timeout(),
        )),
        Err(_) => Err(router_restarted()),
    }
}

/// Whether the downloads could change the verdict on `name`: its name resembles a
/// popular one (and it is not popular itself), or its first release is young, or
/// either fact is unknown.
fn suspect(
    name: &PackageName,
    versions: &Result<VersionsAnswer, QueryError>,
    top: &Result<DocAnswer, QueryError>,
    w: &Walker,
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
        Ok(VersionsAnswer::Project(a)) => match a.doc.as_ref() {
            Document::Project(p) => {
                check::ReleaseFacts::from_versions(
                    &crate::views::versions::VersionList::from_project(p),
                    w.args.cfg.clock.now(),
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
