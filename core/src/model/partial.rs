//! The shared shape of merged answers: what succeeded, what failed and why.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ErrorCode, QueryError, SourceLabel};

/// A failed item of a batch query.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ItemFailure {
    /// The item (package name as given, or `package/facet`).
    pub item: String,
    /// The error code (`not_found`, `unavailable`, `invalid_input`, ...).
    #[schemars(with = "String")]
    pub code: ErrorCode,
    /// What went wrong.
    pub reason: String,
    /// What to do about it.
    pub suggestion: String,
    /// When it is worth asking again (a deferred item: when its queued fetch is due).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// The merged answer of a fan-out: what succeeded, what failed and why, and the overall
/// source of the figures.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct PartialResult<T> {
    /// Items that succeeded.
    pub items: Vec<T>,
    /// Items (or parts of items) that failed.
    pub failures: Vec<ItemFailure>,
    /// `live`, `cached`, `stale`, `estimated`, `mixed` or `unavailable`.
    pub source: SourceLabel,
}

impl ItemFailure {
    /// When our own rate limit deferred this item: how long until its queued fetch is
    /// due (a second when the limiter did not say).
    pub fn deferred_for(&self) -> Option<Duration> {
        (self.code == ErrorCode::Deferred)
            .then(|| Duration::from_secs(self.retry_after_secs.unwrap_or(1)))
    }

    /// The failure of `item` that `e` describes.
    pub fn from_error(item: String, e: &QueryError) -> Self {
        ItemFailure {
            item,
            code: e.code(),
            reason: e.reason(),
            suggestion: e.suggestion(),
            retry_after_secs: e.retry_after().map(|d| d.as_secs_f64().ceil() as u64),
        }
    }
}
