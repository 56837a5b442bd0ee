//! Metadata and recent downloads of several packages, fanned out concurrently (each by
//! the usual path) and merged into a [`PartialResult`].

use tokio::time::Instant;

use super::Walker;
use super::recent::{recent, recent_view};
use serde::{Deserialize, Serialize};

use sentinel_core::model::{Datum, PackageName, QueryError, SourceLabel};
use sentinel_core::model::{ItemFailure, PartialResult};
use sentinel_core::upstream::Document;
use sentinel_core::views::downloads::RecentDownloads;
use sentinel_core::views::info::PackageInfo;

/// One item of a batch query.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct PackageOverview {
    /// The package.
    pub package: String,
    /// Its metadata (latest release).
    pub info: Datum<PackageInfo>,
    /// Its recent downloads, when pypistats (or an estimate) could answer.
    pub downloads: Option<RecentDownloads>,
}

/// Metadata and recent downloads of several packages (names as given; each is
/// checked in the walk, so one bad name is one failure, not the whole answer).
#[derive(Debug, Clone)]
pub(crate) struct Overview(pub(crate) Vec<String>);

impl super::Question for Overview {
    type Answer = PartialResult<PackageOverview>;

    async fn walk(self, w: &Walker, deadline: Instant) -> Result<Self::Answer, QueryError> {
        Ok(overview(w, &self.0, deadline).await)
    }
}

async fn overview(
    w: &Walker,
    packages: &[String],
    deadline: Instant,
) -> PartialResult<PackageOverview> {
    let deadline = Walker::parts_deadline(deadline);
    let jobs = packages.iter().map(|p| async move {
        let name = match PackageName::parse(p) {
            Ok(n) => n,
            Err(e) => return (p.clone(), Err(QueryError::from(e)), None),
        };
        let info = async {
            let ans = super::metadata::project(w, &name, deadline).await?;
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
            recent(w, &name, deadline, false)
                .await
                .and_then(|r| recent_view(&name, r, w.args.cfg.clock.today()))
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
