//! The chains of `scan_dependencies` and `check_package`, fanned out here in the
//! router's task over the same coalesced flights as every other question:
//!
//! - scan: the version list of every distinct package, concurrently (each with the
//!   versions chain: the project JSON, then the Simple API), merged per package;
//! - check: the version list and the top-packages dataset concurrently, then, when the
//!   package exists, its recent downloads (pypistats, else estimates).

use tokio::time::Instant;

use super::chain::{Answer, ChainCtx, recent, versions};
use crate::model::{PackageName, Query, QueryError};
use crate::views::downloads::RecentDownloads;

/// What the check chain gathered; each part may have failed on its own.
#[derive(Debug)]
pub(crate) struct CheckParts {
    pub(crate) versions: Result<Answer, QueryError>,
    pub(crate) top: Result<super::DocAnswer, QueryError>,
    pub(crate) recent: Option<Result<RecentDownloads, QueryError>>,
}

pub(crate) async fn scan(
    ctx: &ChainCtx,
    names: Vec<PackageName>,
    deadline: Instant,
) -> Vec<(PackageName, Result<Answer, QueryError>)> {
    let jobs = names.into_iter().map(|name| async move {
        let r = versions(ctx, name.clone(), deadline).await;
        (name, r)
    });
    futures::future::join_all(jobs).await
}

pub(crate) async fn check(ctx: &ChainCtx, name: PackageName, deadline: Instant) -> CheckParts {
    let (versions, top) = tokio::join!(
        versions(ctx, name.clone(), deadline),
        ctx.doc(Query::TopPackages, deadline)
    );
    let recent = match &versions {
        Ok(_) => Some(
            // Without the companion series, as batches do (spares pypistats' limit).
            recent(ctx, &name, deadline, false)
                .await
                .and_then(|a| super::chain::recent_view(&name, a, ctx.args.cfg.clock.today())),
        ),
        Err(_) => None,
    };
    CheckParts {
        versions,
        top,
        recent,
    }
}
