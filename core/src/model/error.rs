//! Errors a caller of the engine can see.

use std::time::Duration;

use serde::Serialize;

use super::code::ErrorCode;
use super::source::Upstream;

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

/// Why an upstream could not give an answer: typed, so every front end words it the
/// same way ([`UnavailableCause::describe`], [`QueryError::suggestion`]) and so only the
/// upstream's own failures reach its circuit breaker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum UnavailableCause {
    /// The upstream's circuit breaker is open after repeated failures.
    BreakerOpen {
        /// When the next probe is allowed.
        #[serde(rename = "retry_after_secs", serialize_with = "serialize_secs")]
        retry_after: Duration,
    },
    /// Our own client-side rate limit has no slot for this upstream within the answer
    /// budget. Not an upstream failure: the request is queued when `queued`, and asking
    /// again after `retry_after` answers from the cache.
    RateLimited {
        /// When the queued fetch is due (or the next slot, when not queued).
        #[serde(rename = "retry_after_secs", serialize_with = "serialize_secs")]
        retry_after: Duration,
        /// Whether the fetch was put in the polite queue.
        queued: bool,
    },
    /// The upstream answered with an unusable HTTP status.
    Status {
        /// The status code.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The upstream's `Retry-After`, clamped to the breaker's longest open time.
        #[serde(
            rename = "retry_after_secs",
            serialize_with = "serialize_opt_secs",
            skip_serializing_if = "Option::is_none"
        )]
        retry_after: Option<Duration>,
    },
    /// No answer within the time allowed.
    Timeout {
        /// How long we waited, in ms.
        waited_ms: u64,
        /// Attempts made.
        attempts: u32,
    },
    /// The connection failed, was reset, or the body was cut short.
    Transport {
        /// What the transport said.
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The body was unusable (malformed, too large, wrong content type).
    BadBody {
        /// What was wrong.
        detail: String,
    },
    /// A metadata file whose bytes do not match the sha256 the index gives for it
    /// (PEP 658 / 714): neither kept nor used. Boxed: errors stay small.
    MetadataMismatch(Box<HashMismatch>),
    /// The release has no wheel and its sdist's `PKG-INFO` is not static (PEP 643):
    /// its requirements cannot be known without building it. Not a failure.
    NeedsBuild {
        /// Which file, and why, e.g. `x-1.0.tar.gz: its sdist's PKG-INFO lists
        /// Requires-Dist as Dynamic: ...`.
        detail: String,
    },
    /// A redirect we do not follow: a loop, another host, or no `Location`.
    Redirect {
        /// What was wrong.
        detail: String,
    },
    /// The upstream is disabled in the configuration.
    Disabled,
    /// The upstream's fetch actor is restarting after a crash.
    Restarting,
    /// Every caller went away before the answer came.
    Cancelled,
}

/// Which file's metadata did not match, and both digests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct HashMismatch {
    /// The file the metadata is about, e.g. `x-1.0-py3-none-any.whl`.
    pub file: String,
    /// The sha256 the index gives.
    pub expected: String,
    /// The sha256 of the bytes served.
    pub got: String,
}

impl UnavailableCause {
    /// Whether the upstream itself failed (what its circuit breaker counts). Our own
    /// limits, cancellations and restarts are never the upstream's failure.
    pub fn is_upstream_failure(&self) -> bool {
        matches!(
            self,
            UnavailableCause::Status { .. }
                | UnavailableCause::Timeout { .. }
                | UnavailableCause::Transport { .. }
                | UnavailableCause::BadBody { .. }
                | UnavailableCause::MetadataMismatch(_)
                | UnavailableCause::Redirect { .. }
        )
    }

    /// When it is worth asking again, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            UnavailableCause::BreakerOpen { retry_after }
            | UnavailableCause::RateLimited { retry_after, .. } => Some(*retry_after),
            UnavailableCause::Status { retry_after, .. } => *retry_after,
            UnavailableCause::Restarting => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// What happened, in words, e.g. `pypistats answered HTTP 502 (2 attempts)`.
    pub fn describe(&self, up: Upstream) -> String {
        let attempts = |n: u32| {
            if n > 1 {
                format!(" ({n} attempts)")
            } else {
                String::new()
            }
        };
        match self {
            UnavailableCause::BreakerOpen { retry_after } => format!(
                "{up} circuit breaker is open after repeated failures; next probe in {}",
                secs_words(*retry_after)
            ),
            UnavailableCause::RateLimited {
                retry_after,
                queued,
            } => format!(
                "deferred by our own rate limit for {up}; {} in {}",
                if *queued {
                    "the fetch is queued and due"
                } else {
                    "next slot"
                },
                secs_words(*retry_after)
            ),
            UnavailableCause::Status {
                status,
                attempts: n,
                ..
            } => format!("{up} answered HTTP {status}{}", attempts(*n)),
            UnavailableCause::Timeout {
                waited_ms,
                attempts: n,
            } => format!(
                "{up} did not answer within {}{}",
                ms_words(*waited_ms),
                attempts(*n)
            ),
            UnavailableCause::Transport {
                detail,
                attempts: n,
            } => {
                format!("{up} connection failed{}: {detail}", attempts(*n))
            }
            UnavailableCause::BadBody { detail } => format!("{up} sent an unusable body: {detail}"),
            UnavailableCause::MetadataMismatch(m) => format!(
                "metadata for {} does not match the sha256 the index gives: expected {}, got {}",
                m.file, m.expected, m.got
            ),
            UnavailableCause::NeedsBuild { detail } => detail.clone(),
            UnavailableCause::Redirect { detail } => format!("{up} {detail}"),
            UnavailableCause::Disabled => format!("{up} is not enabled in the configuration"),
            UnavailableCause::Restarting => format!("the {up} fetch actor is restarting"),
            UnavailableCause::Cancelled => "every caller went away".into(),
        }
    }

    /// What the caller can do about it.
    pub fn suggestion(&self, up: Upstream) -> String {
        match self {
            UnavailableCause::BreakerOpen { retry_after } => format!(
                "{up} is failing; retry after {} or point the configuration at a mirror",
                secs_words(*retry_after)
            ),
            UnavailableCause::RateLimited { retry_after, .. } => format!(
                "ask again in {}; the answer will come from the cache",
                secs_words(*retry_after)
            ),
            UnavailableCause::Status { status: 429, .. } => {
                format!("{up} is rate limiting us; retry later")
            }
            UnavailableCause::BadBody { .. } | UnavailableCause::Redirect { .. } => {
                format!("{up} sent an unusable response; retry later or use a mirror")
            }
            UnavailableCause::NeedsBuild { .. } => {
                "build the sdist (e.g. `pip wheel --no-deps`) to read its requirements, or ask for a release with a wheel".into()
            }
            UnavailableCause::MetadataMismatch(_) => format!(
                "{up} serves a metadata file that disagrees with its own listing; the wheel's own METADATA is read instead, or tell the index's operator"
            ),
            UnavailableCause::Disabled => match up {
                Upstream::Pepy => "set upstreams.pepy.api_key to enable pepy.tech".into(),
                _ => format!(
                    "enable upstreams.{} in the configuration",
                    up.as_str().replace('-', "_")
                ),
            },
            UnavailableCause::Restarting | UnavailableCause::Cancelled => {
                "retry in a moment".into()
            }
            _ => format!(
                "{up} is not answering properly; retry later or point the configuration at a mirror"
            ),
        }
    }
}

/// An upstream's failure of a moment ago, answered again without asking it (the
/// router's failure memory): how old it is and when the upstream is asked again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Remembered {
    /// How long ago the upstream failed.
    #[serde(rename = "age_secs", serialize_with = "serialize_floor_secs")]
    pub age: Duration,
    /// When the next call asks the upstream again.
    #[serde(rename = "retry_after_secs", serialize_with = "serialize_secs")]
    pub retry_after: Duration,
}

impl Remembered {
    /// e.g. `remembered from a failed fetch 2 s ago: pypistats is asked again in 3 s`.
    pub fn describe(&self, up: Upstream) -> String {
        format!(
            "remembered from a failed fetch {} s ago: {up} is asked again in {}",
            self.age.as_secs(),
            secs_words(self.retry_after)
        )
    }
}

fn serialize_floor_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

fn secs_words(d: Duration) -> String {
    let s = d.as_secs_f64().ceil() as u64;
    if s < 120 {
        format!("{} s", s.max(1))
    } else if s < 7200 {
        format!("{} min", s.div_ceil(60))
    } else {
        format!("{} h", s.div_ceil(3600))
    }
}

fn ms_words(ms: u64) -> String {
    if ms < 10_000 {
        format!("{ms} ms")
    } else {
        format!("{} s", ms / 1000)
    }
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
    #[error("{upstream} is unavailable: {}{}{}. {}", cause.describe(*upstream), note.as_deref().map(|n| format!("; {n}")).unwrap_or_default(), remembered.map(|r| format!("; {}", r.describe(*upstream))).unwrap_or_default(), cause.suggestion(*upstream))]
    Unavailable {
        /// The upstream that failed.
        upstream: Upstream,
        /// Why, typed.
        #[serde(flatten)]
        cause: UnavailableCause,
        /// What else was tried, e.g. `no daily series held to estimate from`.
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// Set when this is a failure of a moment ago answered again from memory
        /// (`cache.failure_ttl_ms`): the upstream was not asked for this call.
        #[serde(skip_serializing_if = "Option::is_none")]
        remembered: Option<Remembered>,
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
    /// `download_package` refused or could not verify the file; nothing was written.
    #[error(transparent)]
    Download(Box<super::DownloadError>),
}

impl From<super::DownloadError> for QueryError {
    fn from(e: super::DownloadError) -> Self {
        QueryError::Download(Box::new(e))
    }
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs_f64().ceil() as u64)
}

fn serialize_opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_secs_f64().ceil() as u64)),
        None => s.serialize_none(),
    }
}

impl QueryError {
    /// Whether our own rate limit deferred this request (nothing failed: asking again
    /// after its `retry_after` answers from the cache).
    pub fn is_deferred(&self) -> bool {
        matches!(
            self,
            QueryError::Unavailable {
                cause: UnavailableCause::RateLimited { .. },
                ..
            }
        )
    }

    /// An upstream could not answer, for this cause.
    pub fn unavailable(upstream: Upstream, cause: UnavailableCause) -> Self {
        QueryError::Unavailable {
            upstream,
            cause,
            note: None,
            remembered: None,
        }
    }

    /// The same failure, marked as answered again from memory.
    pub fn with_remembered(self, memo: Option<Remembered>) -> Self {
        match self {
            QueryError::Unavailable {
                upstream,
                cause,
                note,
                ..
            } => QueryError::Unavailable {
                upstream,
                cause,
                note,
                remembered: memo,
            },
            other => other,
        }
    }

    /// Whether this failure was answered from the router's failure memory (the
    /// upstream was not asked for this call).
    pub fn remembered_failure(&self) -> Option<Remembered> {
        match self {
            QueryError::Unavailable { remembered, .. } => *remembered,
            _ => None,
        }
    }

    /// A short machine-readable code for the error kind. A request deferred by our own
    /// rate limit is `deferred`, not `unavailable`: nothing failed.
    pub fn code(&self) -> ErrorCode {
        match self {
            QueryError::InvalidInput(_) => ErrorCode::InvalidInput,
            QueryError::NotFound { .. } => ErrorCode::NotFound,
            QueryError::Unavailable {
                cause: UnavailableCause::RateLimited { .. },
                ..
            } => ErrorCode::Deferred,
            QueryError::Unavailable { .. } => ErrorCode::Unavailable,
            QueryError::DeadlineExceeded { .. } => ErrorCode::DeadlineExceeded,
            QueryError::NotReady { .. } => ErrorCode::NotReady,
            QueryError::Internal(_) => ErrorCode::Internal,
            QueryError::Download(d) => d.code(),
        }
    }

    /// What went wrong, without the suggestion.
    pub fn reason(&self) -> String {
        match self {
            QueryError::Unavailable {
                upstream,
                cause,
                note,
                remembered,
            } => {
                let mut r = cause.describe(*upstream);
                for extra in [note.clone(), remembered.map(|m| m.describe(*upstream))]
                    .into_iter()
                    .flatten()
                {
                    r = format!("{r}; {extra}");
                }
                r
            }
            other => other.to_string(),
        }
    }

    /// What the caller can do: the one wording MCP, the CLI and batch answers share.
    pub fn suggestion(&self) -> String {
        match self {
            QueryError::InvalidInput(_) => "fix the input and retry".into(),
            QueryError::NotFound { .. } => {
                "check the spelling of the name (and of the version, if given)".into()
            }
            QueryError::Unavailable {
                upstream, cause, ..
            } => cause.suggestion(*upstream),
            QueryError::DeadlineExceeded { .. } => {
                "retry in a few seconds; the upstream was slow".into()
            }
            QueryError::NotReady { .. } => {
                "the engine is starting or shutting down; retry shortly or check its health".into()
            }
            QueryError::Internal(_) => "retry; if it persists, check the engine's health".into(),
            QueryError::Download(d) => d.suggestion(),
        }
    }

    /// When it is worth asking again, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            // A remembered failure: not before the memory lets the upstream be asked.
            QueryError::Unavailable {
                cause, remembered, ..
            } => match (cause.retry_after(), remembered) {
                (Some(a), Some(m)) => Some(a.max(m.retry_after)),
                (a, m) => a.or(m.map(|m| m.retry_after)),
            },
            QueryError::DeadlineExceeded { .. } => Some(Duration::from_secs(5)),
            QueryError::NotReady { .. } => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// A timeout that a chain went on waiting past (for an alternate, then for the
    /// primary again) names the whole wait, not the step's.
    pub fn waited_at_least(self, waited: Duration) -> Self {
        match self {
            QueryError::Unavailable {
                upstream,
                cause:
                    UnavailableCause::Timeout {
                        waited_ms,
                        attempts,
                    },
                note,
                remembered,
            } => QueryError::Unavailable {
                upstream,
                cause: UnavailableCause::Timeout {
                    waited_ms: waited_ms.max(waited.as_millis() as u64),
                    attempts,
                },
                note,
                remembered,
            },
            other => other,
        }
    }

    /// The typed cause, for an upstream that could not answer.
    pub fn cause(&self) -> Option<&UnavailableCause> {
        match self {
            QueryError::Unavailable { cause, .. } => Some(cause),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_rate_limit_is_deferred_not_an_upstream_failure() {
        let e = QueryError::unavailable(
            Upstream::Pypistats,
            UnavailableCause::RateLimited {
                retry_after: Duration::from_millis(11_200),
                queued: true,
            },
        );
        assert_eq!(e.code(), ErrorCode::Deferred);
        assert!(!e.cause().unwrap().is_upstream_failure());
        assert_eq!(e.retry_after(), Some(Duration::from_millis(11_200)));
        assert!(
            e.to_string()
                .contains("deferred by our own rate limit for pypistats"),
            "{e}"
        );
        let j = serde_json::to_value(&e).unwrap();
        assert_eq!(j["cause"], "rate_limited");
        assert_eq!(j["retry_after_secs"], 12);
    }

    #[test]
    fn status_failures_name_the_status_and_attempts() {
        let e = QueryError::unavailable(
            Upstream::PypiJson,
            UnavailableCause::Status {
                status: 502,
                attempts: 2,
                retry_after: None,
            },
        );
        assert_eq!(e.reason(), "pypi-json answered HTTP 502 (2 attempts)");
        assert!(e.cause().unwrap().is_upstream_failure());
        assert_eq!(e.code(), ErrorCode::Unavailable);
    }

    #[test]
    fn a_chain_that_waited_on_names_its_whole_wait() {
        let step = QueryError::unavailable(
            Upstream::PypiJson,
            UnavailableCause::Timeout {
                waited_ms: 1_999,
                attempts: 1,
            },
        );
        let whole = step.waited_at_least(Duration::from_millis(13_500));
        assert!(
            whole.to_string().contains("did not answer within 13 s"),
            "{whole}"
        );
        let other = QueryError::Internal("x".into()).waited_at_least(Duration::from_secs(9));
        assert_eq!(
            other.to_string(),
            QueryError::Internal("x".into()).to_string()
        );
    }

    #[test]
    fn timeouts_report_the_time_actually_waited() {
        let c = UnavailableCause::Timeout {
            waited_ms: 14_750,
            attempts: 1,
        };
        assert_eq!(
            c.describe(Upstream::PypiJson),
            "pypi-json did not answer within 14 s"
        );
    }
}
