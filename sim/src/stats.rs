//! Request counters: every upstream request the simulator receives (faulted ones
//! included), keyed by request path. Admin routes (`/_sim/...`) are not counted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::fault::glob_match;

/// A snapshot of the request counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// All upstream requests received.
    pub total: u64,
    /// Requests per request path (without the query string), e.g.
    /// `"/api/packages/numpy/recent"`.
    pub routes: BTreeMap<String, u64>,
    /// The most `/files/...` requests served at once (from arrival until the body is
    /// sent or the connection drops): how many concurrent transfers a client made.
    #[serde(default)]
    pub max_concurrent_files: u64,
    /// Body bytes of every `/files/...` answer (whole files, byte ranges, metadata
    /// files): what a client read from the files host.
    #[serde(default)]
    pub files_bytes: u64,
}

impl SimStats {
    /// Sum of the counters of every path matching `glob` (same syntax as
    /// [`FaultSpec::route`](crate::FaultSpec::route)).
    pub fn matching(&self, glob: &str) -> u64 {
        self.routes
            .iter()
            .filter(|(path, _)| glob_match(glob, path))
            .map(|(_, n)| *n)
            .sum()
    }
}

/// The live counters of one simulator.
#[derive(Debug, Default)]
pub(crate) struct StatsStore {
    inner: Mutex<SimStats>,
    /// `/files/...` requests being served now.
    files_now: Arc<AtomicU64>,
}

/// One `/files/...` request being served; dropping it ends it.
#[derive(Debug)]
pub(crate) struct FileInFlight(Arc<AtomicU64>);

impl Drop for FileInFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl StatsStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, SimStats> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn record(&self, path: &str) {
        let mut g = self.lock();
        g.total += 1;
        *g.routes.entry(path.to_owned()).or_default() += 1;
    }

    pub(crate) fn file_bytes(&self, n: u64) {
        self.lock().files_bytes += n;
    }

    pub(crate) fn file_started(&self) -> FileInFlight {
        let now = self.files_now.fetch_add(1, Ordering::SeqCst) + 1;
        let mut g = self.lock();
        g.max_concurrent_files = g.max_concurrent_files.max(now);
        FileInFlight(self.files_now.clone())
    }

    pub(crate) fn snapshot(&self) -> SimStats {
        self.lock().clone()
    }

    pub(crate) fn reset(&self) {
        *self.lock() = SimStats::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_matches() {
        let s = StatsStore::default();
        s.record("/pypi/numpy/json");
        s.record("/pypi/numpy/json");
        s.record("/api/packages/numpy/recent");
        let snap = s.snapshot();
        assert_eq!(snap.total, 3);
        assert_eq!(snap.matching("/pypi/**"), 2);
        assert_eq!(snap.matching("/api/packages/*/recent"), 1);
        assert_eq!(snap.matching("/**"), 3);
        s.reset();
        assert_eq!(s.snapshot(), SimStats::default());
    }
}
