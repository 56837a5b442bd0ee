//! The router's words: why a stale copy is served, and what a missing document is.

use sentinel_core::model::{Query, StaleReason, Upstream};
use sentinel_core::policy::BreakerState;
use tokio::time::Instant;

use crate::cache::CacheEntry;

/// Why a stale copy is served at once, past its fresh TTL.
pub(super) fn swr_reason(
    e: &CacheEntry,
    up: Upstream,
    breaker: BreakerState,
    now: Instant,
) -> StaleReason {
    match breaker {
        BreakerState::Open => return StaleReason::BreakerOpen { upstream: up },
        BreakerState::HalfOpen => return StaleReason::BreakerHalfOpen { upstream: up },
        BreakerState::Closed => {}
    }
    if e.from_store {
        return StaleReason::Unconfirmed {
            upstream: up,
            last_failure: e.refresh_failure.as_ref().map(|(cause, _)| cause.clone()),
        };
    }
    StaleReason::PastTtl {
        upstream: up,
        last_failure: e
            .refresh_failure
            .as_ref()
            .map(|(cause, at)| (cause.clone(), now.saturating_duration_since(*at))),
    }
}

pub(super) fn describe(q: &Query) -> String {
    match q {
        Query::Release(n, v) => format!("version {v} of package \"{n}\""),
        Query::TopPackages => "the top-packages dataset".into(),
        Query::CoreMetadata(n, v, _) => {
            format!("the metadata file of version {v} of package \"{n}\"")
        }
        Query::SdistMetadata(n, v, _) => {
            format!("the PKG-INFO in the sdist of version {v} of package \"{n}\"")
        }
        Query::WheelMetadata(n, v, _) => {
            format!("the METADATA in a wheel of version {v} of package \"{n}\"")
        }
        q => format!(
            "package {:?}",
            q.package().map(|p| p.as_str()).unwrap_or_default()
        ),
    }
}
