//! The short docs of several packages (a package's dependencies), concurrently.

use tokio::time::Instant;

use super::{Question, Walker};
use sentinel_core::model::{Datum, PackageName, QueryError};
use sentinel_core::upstream::Document;
use sentinel_core::views::docs::DocSummary;

/// The short docs of several packages, in the order asked.
#[derive(Debug, Clone)]
pub(crate) struct DocSummaries(pub(crate) Vec<PackageName>);

/// Each package's short docs, or why it failed, in the order asked.
pub(crate) type Summaries = Vec<(PackageName, Result<Datum<DocSummary>, QueryError>)>;

impl Question for DocSummaries {
    type Answer = Summaries;

    async fn walk(self, w: &Walker, deadline: Instant) -> Result<Summaries, QueryError> {
        Ok(doc_summaries(w, self.0, deadline).await)
    }
}

/// Every package's latest project body, fetched concurrently (each by the usual path:
/// fresh hit, flight, stale copy), summarised.
async fn doc_summaries(
    w: &Walker,
    names: Vec<PackageName>,
    deadline: Instant,
) -> Vec<(PackageName, Result<Datum<DocSummary>, QueryError>)> {
    let deadline = Walker::parts_deadline(deadline);
    let jobs = names.into_iter().map(|name| async move {
        let ans = super::metadata::project(w, &name, deadline).await;
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
