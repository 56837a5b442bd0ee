//! The router's failure memory: an upstream's failure of a document answers the next
//! callers for `cache.failure_ttl_ms`, marked as remembered, instead of each caller
//! asking the failing upstream again until its breaker opens.
//!
//! Only the upstream's own verdicts are remembered (its status, timeout, connection or
//! body failures), never our own limits, deadlines, deferrals or cancellations. The
//! memory is bounded: a flood of distinct failing names keeps the newest
//! [`MAX_REMEMBERED`] and forgets the oldest. Its times are tokio's, so a paused clock
//! tests the expiry.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use sentinel_core::model::{Query, Remembered, UnavailableCause};

/// Most failures remembered at once.
pub(super) const MAX_REMEMBERED: usize = 4096;

pub(super) struct FailureMemo {
    ttl: Duration,
    /// The failure and when it happened.
    failed: HashMap<Query, (UnavailableCause, Instant)>,
    /// Keys in the order they were remembered (the TTL is one for all, so the front
    /// expires first); an entry whose time no longer matches `failed` is a leftover.
    order: VecDeque<(Query, Instant)>,
}

impl FailureMemo {
    pub(super) fn new(ttl: Duration) -> Self {
        FailureMemo {
            ttl,
            failed: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The failure of `query` still within the TTL, with how old it is and when the
    /// upstream is asked again.
    pub(super) fn recall(
        &mut self,
        query: &Query,
        now: Instant,
    ) -> Option<(UnavailableCause, Remembered)> {
        let (cause, at) = self.failed.get(query)?;
        let until = *at + self.ttl;
        if now >= until {
            self.failed.remove(query);
            return None;
        }
        Some((
            cause.clone(),
            Remembered {
                age: now.saturating_duration_since(*at),
                retry_after: until.saturating_duration_since(now),
            },
        ))
    }

    /// Remembers an upstream's failure of `query`; anything that is not the upstream's
    /// verdict is ignored.
    pub(super) fn remember(&mut self, query: &Query, cause: &UnavailableCause, now: Instant) {
        if self.ttl.is_zero() || !cause.is_upstream_failure() {
            return;
        }
        self.expire(now);
        while self.order.len() >= MAX_REMEMBERED {
            self.drop_oldest();
        }
        self.failed.insert(query.clone(), (cause.clone(), now));
        self.order.push_back((query.clone(), now));
    }

    /// The upstream answered `query`: its failure is forgotten.
    pub(super) fn forget(&mut self, query: &Query) {
        self.failed.remove(query);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.failed.len()
    }

    fn expire(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(_, at)| now >= *at + self.ttl)
        {
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        if let Some((q, at)) = self.order.pop_front()
            && self.failed.get(&q).is_some_and(|(_, t)| *t == at)
        {
            self.failed.remove(&q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentinel_core::model::PackageName;

    fn q(i: usize) -> Query {
        Query::Project(PackageName::parse(&format!("never-seen-{i}")).unwrap())
    }

    fn status() -> UnavailableCause {
        UnavailableCause::Status {
            status: 502,
            attempts: 1,
            retry_after: None,
        }
    }

    #[test]
    fn a_failure_is_recalled_with_its_age_until_the_ttl_then_asked_again() {
        let t0 = Instant::now();
        let mut m = FailureMemo::new(Duration::from_secs(5));
        m.remember(&q(1), &status(), t0);
        let (cause, r) = m.recall(&q(1), t0 + Duration::from_secs(2)).unwrap();
        assert_eq!(cause, status());
        assert_eq!(r.age, Duration::from_secs(2));
        assert_eq!(r.retry_after, Duration::from_secs(3));
        assert!(m.recall(&q(1), t0 + Duration::from_secs(5)).is_none());
        assert!(m.recall(&q(2), t0).is_none());
    }

    #[test]
    fn our_own_deferral_cancellation_and_restart_are_never_remembered() {
        let t0 = Instant::now();
        let mut m = FailureMemo::new(Duration::from_secs(5));
        for ours in [
            UnavailableCause::RateLimited {
                retry_after: Duration::from_secs(1),
                queued: true,
            },
            UnavailableCause::Cancelled,
            UnavailableCause::Restarting,
            UnavailableCause::Disabled,
            UnavailableCause::BreakerOpen {
                retry_after: Duration::from_secs(1),
            },
        ] {
            m.remember(&q(1), &ours, t0);
            assert!(m.recall(&q(1), t0).is_none(), "{ours:?}");
        }
    }

    #[test]
    fn a_ttl_of_zero_remembers_nothing() {
        let t0 = Instant::now();
        let mut m = FailureMemo::new(Duration::ZERO);
        m.remember(&q(1), &status(), t0);
        assert!(m.recall(&q(1), t0).is_none());
    }

    #[test]
    fn a_flood_of_distinct_failing_names_keeps_the_memory_bounded() {
        let t0 = Instant::now();
        let mut m = FailureMemo::new(Duration::from_secs(5));
        for i in 0..3 * MAX_REMEMBERED {
            m.remember(&q(i), &status(), t0 + Duration::from_micros(i as u64));
        }
        assert_eq!(m.len(), MAX_REMEMBERED);
        assert_eq!(m.order.len(), MAX_REMEMBERED);
        // The newest are kept, the oldest forgotten.
        let now = t0 + Duration::from_secs(1);
        assert!(m.recall(&q(3 * MAX_REMEMBERED - 1), now).is_some());
        assert!(m.recall(&q(0), now).is_none());
        // Past the TTL the next failure sweeps the expired ones out.
        m.remember(&q(0), &status(), t0 + Duration::from_secs(6));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn a_success_forgets_the_failure() {
        let t0 = Instant::now();
        let mut m = FailureMemo::new(Duration::from_secs(5));
        m.remember(&q(1), &status(), t0);
        m.forget(&q(1));
        assert!(m.recall(&q(1), t0).is_none());
        // A leftover in the order does not drop a newer failure of the same key.
        m.remember(&q(1), &status(), t0 + Duration::from_secs(1));
        m.expire(t0 + Duration::from_secs(5));
        assert!(m.recall(&q(1), t0 + Duration::from_secs(5)).is_some());
    }
}
