//! Every version of a project: the project JSON, then the Simple API page (the
//! alternate document) when the JSON API fails or is slower than the answer budget.

use tokio::time::Instant;

use super::{Question, Walker, has_fallback, router_restarted};
use crate::actor::router::{DocAnswer, resolve_via, resolve_within};
use sentinel_core::model::{Datum, PackageName, Query, QueryError, Upstream};
use sentinel_core::upstream::Document;
use sentinel_core::views::versions::VersionList;

/// Every version of a project.
#[derive(Debug, Clone)]
pub(crate) struct Versions(pub(crate) PackageName);

/// Where a version list came from.
#[derive(Debug)]
pub(crate) enum VersionsAnswer {
    /// The project JSON.
    Project(DocAnswer),
    /// The project JSON failed (`primary`); the Simple page answered.
    Alternate { doc: DocAnswer, primary: QueryError },
}

impl Question for Versions {
    type Answer = VersionsAnswer;

    async fn walk(self, w: &Walker, deadline: Instant) -> Result<VersionsAnswer, QueryError> {
        versions(w, self.0, deadline).await
    }
}

pub(crate) async fn versions(
    w: &Walker,
    name: PackageName,
    deadline: Instant,
) -> Result<VersionsAnswer, QueryError> {
    let q = Query::Project(name.clone());
    let started = Instant::now();
    if let Some(hit) = w.fresh(&q) {
        return Ok(VersionsAnswer::Project(hit));
    }
    // The JSON API gets the answer budget (its own stale copy, if any, is served by the
    // flight); past it the Simple API is the alternate, while the JSON fetch goes on.
    let budget_end = w.budget_end(deadline);
    let (primary, slow) =
        match resolve_within(&w.router(), q.clone(), Some(budget_end), deadline).await {
            Err(_) => return Err(router_restarted()),
            Ok(Some(Ok(doc))) => return Ok(VersionsAnswer::Project(doc)),
            Ok(Some(Err(e))) if has_fallback(&e) => (e, false),
            // An index without a JSON API (a mirror, a private index) answers 404 there:
            // the Simple API says whether the project exists.
            Ok(Some(Err(e @ QueryError::NotFound { .. }))) => (e, false),
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) => (
                QueryError::unavailable(Upstream::PypiJson, w.budget_timeout()),
                true,
            ),
        };
    match w.doc(Query::Simple(name), deadline).await {
        Ok(doc) => Ok(VersionsAnswer::Alternate { doc, primary }),
        // Neither API has it: the JSON API's "not found" when it said so too (as info
        // and deps say), else the Simple API's.
        Err(e @ QueryError::NotFound { .. }) => Err(match primary {
            p @ QueryError::NotFound { .. } => p,
            _ => e,
        }),
        // Deferred by our own limit: that is what to tell (with its retry_after);
        // asking again will answer from the Simple page it queued.
        Err(e) if e.is_deferred() => Err(e),
        // The JSON API was only slow: wait for it after all, up to the deadline.
        Err(_) if slow => resolve_via(&w.router(), q, deadline)
            .await
            .unwrap_or_else(|_| Err(router_restarted()))
            .map(VersionsAnswer::Project)
            .map_err(|e| e.waited_at_least(started.elapsed())),
        Err(_) => Err(primary),
    }
}

/// The version list of a versions answer, saying when it came from the Simple API.
pub(crate) fn version_list(answer: VersionsAnswer) -> Result<Datum<VersionList>, QueryError> {
    match answer {
        VersionsAnswer::Project(ans) => match ans.doc.as_ref() {
            Document::Project(p) => Ok(ans.datum(VersionList::from_project(p))),
            _ => Err(QueryError::Internal("not a project document".into())),
        },
        VersionsAnswer::Alternate { doc, primary } => match doc.doc.as_ref() {
            Document::Simple(s) => {
                let mut list = VersionList::from_simple(s);
                list.notes.insert(
                    0,
                    format!(
                        "the JSON API failed ({}); listed from the Simple API",
                        primary.reason()
                    ),
                );
                Ok(doc.datum(list))
            }
            _ => Err(QueryError::Internal("not a Simple API page".into())),
        },
    }
}
