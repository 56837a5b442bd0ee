//! The cooperative cancel flag every long job on untrusted input checks between units
//! of work (a line, a section, a solver step). The engine's CPU pool raises it when the
//! job's deadline passes or its caller goes away; a blocking thread cannot be killed,
//! so the job must look and return early.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Raised when the job's answer is no longer wanted (deadline passed, caller gone).
#[derive(Clone, Debug, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A flag nobody raises: for callers outside the pool (tests, one-shot tools).
    pub fn never() -> Self {
        CancelFlag::default()
    }

    /// Whether the job should stop now.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Tells the job to stop (the pool does, at the deadline or when the caller goes).
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_flag_is_seen_by_every_clone() {
        let flag = CancelFlag::never();
        let job = flag.clone();
        assert!(!job.is_raised());
        flag.raise();
        assert!(job.is_raised());
    }
}
