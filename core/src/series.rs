//! Fixed-size time series over the last hour: a ring of [`BUCKETS`] buckets of
//! [`BUCKET_SECS`] seconds each, keyed by wall-clock seconds. Memory is fixed at
//! construction whatever the traffic: a bucket older than the ring is overwritten by
//! the one that lands in its slot. Used by the engine's recorder and the MCP layer's
//! (the status page's last hour).

/// Seconds per bucket.
pub const BUCKET_SECS: u64 = 10;
/// Buckets in a ring: one hour.
pub const BUCKETS: usize = 360;

/// A ring of buckets of `T`, one per [`BUCKET_SECS`] of wall-clock time.
#[derive(Clone, Debug)]
pub struct Ring<T: Copy + Default> {
    /// `(bucket number + 1, value)`; 0 marks a slot never written.
    slots: Box<[(u64, T)]>,
}

impl<T: Copy + Default> Default for Ring<T> {
    fn default() -> Self {
        Ring {
            slots: vec![(0, T::default()); BUCKETS].into_boxed_slice(),
        }
    }
}

impl<T: Copy + Default> Ring<T> {
    /// Updates the bucket of `now_secs` (unix seconds), starting it afresh when its
    /// slot held an older bucket.
    pub fn update(&mut self, now_secs: u64, f: impl FnOnce(&mut T)) {
        let b = now_secs / BUCKET_SECS;
        let slot = &mut self.slots[(b % BUCKETS as u64) as usize];
        if slot.0 != b + 1 {
            *slot = (b + 1, T::default());
        }
        f(&mut slot.1);
    }

    /// The buckets of the last hour up to `now_secs`, oldest first: each bucket's start
    /// (unix seconds) and its value, `None` where nothing was recorded.
    pub fn window(&self, now_secs: u64) -> Vec<(u64, Option<T>)> {
        let last = now_secs / BUCKET_SECS;
        let first = last.saturating_sub(BUCKETS as u64 - 1);
        (first..=last)
            .map(|b| {
                let slot = &self.slots[(b % BUCKETS as u64) as usize];
                (b * BUCKET_SECS, (slot.0 == b + 1).then_some(slot.1))
            })
            .collect()
    }

    /// The values of the buckets within the last `secs` seconds up to `now_secs`.
    pub fn recent(&self, now_secs: u64, secs: u64) -> impl Iterator<Item = T> + '_ {
        let last = now_secs / BUCKET_SECS;
        let n = secs.div_ceil(BUCKET_SECS).clamp(1, BUCKETS as u64);
        let first = (last + 1).saturating_sub(n);
        (first..=last).filter_map(move |b| {
            let slot = &self.slots[(b % BUCKETS as u64) as usize];
            (slot.0 == b + 1).then_some(slot.1)
        })
    }
}

/// Upper bounds (ms) of the latency histogram's buckets; the last bucket is open.
pub const LATENCY_BOUNDS_MS: [u32; 15] = [
    5, 10, 25, 50, 75, 100, 150, 250, 500, 750, 1_000, 2_500, 5_000, 10_000, 30_000,
];
/// Buckets of a latency histogram: one per bound and one past the last.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// A bounded latency histogram (fixed buckets; quantiles are the bucket's upper bound).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    counts: [u32; LATENCY_BUCKETS],
}

impl Latency {
    /// Records one duration in milliseconds.
    pub fn record(&mut self, ms: f64) {
        let i = LATENCY_BOUNDS_MS
            .iter()
            .position(|b| ms <= f64::from(*b))
            .unwrap_or(LATENCY_BOUNDS_MS.len());
        self.counts[i] = self.counts[i].saturating_add(1);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Latency) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| u64::from(*c)).sum()
    }

    /// The `q` quantile (0..=1) as the upper bound (ms) of the bucket it falls in;
    /// `None` without samples. Past the last bound it is that bound (a floor).
    pub fn quantile_ms(&self, q: f64) -> Option<u32> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return Some(LATENCY_BOUNDS_MS[i.min(LATENCY_BOUNDS_MS.len() - 1)]);
            }
        }
        LATENCY_BOUNDS_MS.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_reused_after_an_hour_and_memory_stays_fixed() {
        let mut r: Ring<u32> = Ring::default();
        r.update(1_000, |v| *v += 1);
        r.update(1_005, |v| *v += 1);
        assert_eq!(r.recent(1_005, 10).collect::<Vec<_>>(), vec![2]);
        // One hour later the same slot starts afresh.
        let later = 1_000 + BUCKET_SECS * BUCKETS as u64;
        r.update(later, |v| *v += 1);
        assert_eq!(r.recent(later, 10).collect::<Vec<_>>(), vec![1]);
        let w = r.window(later);
        assert_eq!(w.len(), BUCKETS);
        assert_eq!(w.iter().filter(|(_, v)| v.is_some()).count(), 1);
        assert_eq!(w.last().map(|(s, _)| *s), Some(later / 10 * 10));
        // A million updates over a day keep the same number of slots.
        for t in 0..1_000_000u64 {
            r.update(t / 10, |v| *v += 1);
        }
        assert_eq!(r.slots.len(), BUCKETS);
    }

    #[test]
    fn recent_counts_only_the_asked_seconds() {
        let mut r: Ring<u32> = Ring::default();
        for t in [100, 150, 190, 195] {
            r.update(t, |v| *v += 1);
        }
        assert_eq!(r.recent(199, 60).sum::<u32>(), 3);
        assert_eq!(r.recent(199, 3_600).sum::<u32>(), 4);
    }

    #[test]
    fn latency_quantiles_fall_in_their_bucket() {
        let mut l = Latency::default();
        assert_eq!(l.quantile_ms(0.5), None);
        for _ in 0..98 {
            l.record(3.0);
        }
        l.record(400.0);
        l.record(60_000.0);
        assert_eq!(l.quantile_ms(0.5), Some(5));
        assert_eq!(l.quantile_ms(0.99), Some(500));
        assert_eq!(l.quantile_ms(1.0), Some(30_000));
        assert_eq!(l.count(), 100);
    }
}
