//! A sliding window of one-second buckets holding two counters (e.g. calls and
//! failures), shared by the breaker and the retry budget.

use std::time::Instant;

/// Two counters per second over the last `len` seconds.
#[derive(Clone, Debug)]
pub(crate) struct SecondBuckets {
    start: Option<Instant>,
    buckets: Vec<(u64, u64, u64)>, // (second since start, first counter, second counter)
}

impl SecondBuckets {
    pub(crate) fn new(window_ms: u64) -> Self {
        let n = (window_ms / 1_000).max(1) as usize;
        SecondBuckets {
            start: None,
            buckets: vec![(u64::MAX, 0, 0); n],
        }
    }

    /// Seconds the window spans.
    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }

    fn second(&mut self, now: Instant) -> u64 {
        let start = *self.start.get_or_insert(now);
        now.saturating_duration_since(start).as_secs()
    }

    /// Adds to the counters of the bucket of `now`.
    pub(crate) fn add(&mut self, now: Instant, first: u64, second: u64) {
        let s = self.second(now);
        let n = self.buckets.len();
        let b = &mut self.buckets[(s as usize) % n];
        if b.0 != s {
            *b = (s, 0, 0);
        }
        b.1 += first;
        b.2 += second;
    }

    /// Sums of both counters over the window ending at `now`.
    pub(crate) fn totals(&mut self, now: Instant) -> (u64, u64) {
        let s = self.second(now);
        let n = self.buckets.len() as u64;
        self.buckets
            .iter()
            .filter(|b| b.0 != u64::MAX && b.0 <= s && s - b.0 < n)
            .fold((0, 0), |(x, y), b| (x + b.1, y + b.2))
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.buckets.iter_mut().for_each(|b| *b = (u64::MAX, 0, 0));
    }
}
