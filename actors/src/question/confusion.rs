//! The dependency-confusion part of `check_package`, `scan_dependencies` and
//! `audit_project`: when an extra index is configured (`upstreams.extra_index`, pip's
//! `--extra-index-url`), each name's page there is fetched beside its PyPI version
//! list (same flights, same limits), and the view (`views::confusion`) compares them.

use tokio::time::Instant;

use super::Walker;
use crate::actor::router::DocAnswer;
use sentinel_core::model::{Datum, PackageName, Query, QueryError, untrusted};
use sentinel_core::upstream::Document;
use sentinel_core::views::confusion::Side;
use sentinel_core::views::versions::VersionList;

/// Whether an extra index is configured.
pub(crate) fn configured(w: &Walker) -> bool {
    w.args.cfg.upstreams.extra_index_configured()
}

/// The extra index's URL as it may be shown (credentials redacted).
pub(crate) fn extra_index_url(w: &Walker) -> String {
    untrusted::redact_urls(&w.args.cfg.upstreams.extra_index.base_url)
}

/// The name's page on the extra index, when one is configured.
pub(crate) async fn extra_page(
    w: &Walker,
    name: &PackageName,
    deadline: Instant,
) -> Option<Result<DocAnswer, QueryError>> {
    if !configured(w) {
        return None;
    }
    Some(w.doc(Query::ExtraSimple(name.clone()), deadline).await)
}

/// What the extra index said, for the view.
pub(crate) fn extra_side(page: Result<DocAnswer, QueryError>) -> Side {
    match page {
        Ok(a) => match a.doc.as_ref() {
            Document::Simple(s) => Ok(Some(a.datum(VersionList::from_simple(s)))),
            _ => Err("the extra index answered something other than a Simple page".into()),
        },
        Err(QueryError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.reason()),
    }
}

/// What PyPI said, for the view.
pub(crate) fn public_side(list: &Result<Datum<VersionList>, QueryError>) -> Side {
    match list {
        Ok(d) => Ok(Some(d.clone())),
        Err(QueryError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.reason()),
    }
}
