//! The words every answer's text shares: how fresh a datum is (live, cached, stale and
//! why, estimated and from what), and one failed item of a partial answer. Each
//! question's own text is in its file under `crate::questions`.

use crate::engine::{Datum, ItemFailure};

/// The freshness of one datum, without parentheses (the one describer's sentence).
pub(crate) fn freshness<T>(d: &Datum<T>) -> String {
    crate::describe::sentence(d)
}

/// One failed item of a partial answer, as a list line.
pub(crate) fn failure(f: &ItemFailure) -> String {
    format!("- {}: {} ({})", f.item, f.reason, f.suggestion)
}
