//! Errors a caller of the engine can see.

use std::time::Duration;

use serde::Serialize;

use super::query::Upstream;

/// Input that failed validation before any network request was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("invalid {param} {value:?}: {rule}")]
pub struct InputError {
    /// Which parameter was wrong (`package`, `version`, `python_version`, `limit`, ...).
    pub param: &'static str,
    /// The value as given.
    pub value: String,
    /// The rule it broke, in words a user can act on.
    pub rule: String,
}

/// Why a query produced no answer.
#[derive(Clone, Debug, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueryError {
    /// The input was invalid; nothing was sent upstream.
    #[error(transparent)]
    InvalidInput(#[from] InputError),
    /// The upstream answered that the package (or version) does not exist.
    #[error("{what} was not found on {upstream}")]
    NotFound {
        /// What was looked for, e.g. `package "nosuchpkg"`.
        what: String,
        /// Who said so.
        upstream: Upstream,
    },
    /// No live, cached, stale or estimated answer could be given.
    #[error("{upstream} is unavailable: {reason}. {suggestion}")]
    Unavailable {
        /// The upstream that failed.
        upstream: Upstream,
        /// What went wrong, e.g. `HTTP 502 after 2 attempts` or `circuit breaker open`.
        reason: String,
        /// What the caller can do.
        suggestion: String,
        /// When it is worth trying again, if known.
        #[serde(
            rename = "retry_after_secs",
            serialize_with = "serialize_opt_secs",
            skip_serializing_if = "Option::is_none"
        )]
        retry_after: Option<Duration>,
    },
    /// The request deadline passed before an answer was ready.
    #[error("no answer within the {deadline_ms} ms deadline")]
    DeadlineExceeded {
        /// The deadline that passed.
        deadline_ms: u64,
    },
    /// The engine is not ready (starting, shutting down, or stopped after too many
    /// actor restarts).
    #[error("engine not ready: {reason}")]
    NotReady {
        /// Why.
        reason: String,
    },
    /// A bug or an internal failure (an actor died mid-request).
    #[error("internal error: {0}")]
    Internal(String),
}

fn serialize_opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs()),
        None => s.serialize_none(),
    }
}

impl QueryError {
    /// A short machine-readable code for the error kind.
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::InvalidInput(_) => "invalid_input",
            QueryError::NotFound { .. } => "not_found",
            QueryError::Unavailable { .. } => "unavailable",
            QueryError::DeadlineExceeded { .. } => "deadline_exceeded",
            QueryError::NotReady { .. } => "not_ready",
            QueryError::Internal(_) => "internal",
        }
    }
}
