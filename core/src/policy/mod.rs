//! Pure policies: no I/O, no sleeping, no clock reads. Every method that needs time
//! takes `now: std::time::Instant`: tests build instants as `Instant::now() + d`, and
//! the engine passes `tokio::time::Instant::now().into_std()`, which a paused tokio
//! clock moves with `tokio::time::advance`.

mod backoff;
mod breaker;
mod cache_control;
mod daily;
mod rate_limit;
mod restart;
mod retry_budget;
mod window;

pub use backoff::{
    FailureKind, GiveUpReason, RetryConfig, RetryDecision, is_retryable, parse_retry_after,
};
pub use breaker::{
    Admission, Breaker, BreakerConfig, BreakerSnapshot, BreakerState, CallOutcome, ConsecutiveRule,
    Transition,
};
pub use cache_control::UpstreamFreshness;
pub use daily::DailyFreshness;
pub use rate_limit::{RateLimit, Reservation};
pub use restart::{RestartDecision, RestartIntensity};
pub use retry_budget::{RetryBudget, RetryBudgetConfig, RetryBudgetSnapshot};

/// A policy setting that breaks a rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value}: {rule}")]
pub struct PolicyConfigError {
    /// The field.
    pub field: &'static str,
    /// The value found.
    pub value: String,
    /// The rule it breaks.
    pub rule: &'static str,
}
