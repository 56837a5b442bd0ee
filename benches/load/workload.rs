//! A mixed workload, shared by the soak and chaos scenarios.

use super::*;

/// A small deterministic generator (xorshift64*), so runs repeat without a new dependency.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Counts by key, printed as `key n, key n`.
#[derive(Default)]
pub(crate) struct Tally(pub(crate) std::collections::BTreeMap<String, u64>);

impl Tally {
    pub(crate) fn add(&mut self, k: impl Into<String>) {
        *self.0.entry(k.into()).or_default() += 1;
    }

    pub(crate) fn merge(&mut self, o: Tally) {
        for (k, v) in o.0 {
            *self.0.entry(k).or_default() += v;
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub(crate) fn show(&self) -> String {
        if self.0.is_empty() {
            return "-".into();
        }
        self.0
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every engine call the mixed workload makes (each upstream is reached by one of them).
pub(crate) const ENGINE_OPS: [&str; 9] = [
    "package_info",
    "versions",
    "recent_downloads",
    "download_trend",
    "download_breakdown",
    "dependencies",
    "top_packages",
    "overview(5)",
    "document(pepy)",
];

/// One engine call of kind `op`; `answer <label>` or `error <code>`.
pub(crate) async fn engine_op(
    e: &EngineHandle,
    op: usize,
    names: &[String],
    rng: &mut Rng,
) -> String {
    use sentinel_actors::StatsKind;
    let name = &names[rng.below(names.len())];
    let answer =
        |l: sentinel_actors::SourceLabel| format!("answer {}", Outcome::of_label(l).word());
    let error = |err: &sentinel_actors::QueryError| {
        use sentinel_actors::ErrorCode as E;
        use sentinel_actors::UnavailableCause as C;
        match (err.code(), err.cause()) {
            (E::Unavailable, Some(C::BreakerOpen { .. })) => {
                "error unavailable (breaker open)".to_string()
            }
            (E::Unavailable, Some(C::Restarting)) => "error unavailable (restarting)".to_string(),
            (E::Unavailable, Some(C::Cancelled)) => "error unavailable (cancelled)".to_string(),
            (E::Internal, _) => format!("error internal ({})", err.reason()),
            (code, _) => format!("error {code}"),
        }
    };
    match op % ENGINE_OPS.len() {
        0 => e
            .package_info(name, None)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.label())),
        1 => e
            .versions(name)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.label())),
        2 => e
            .recent_downloads(name)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.source)),
        3 => e
            .download_trend(name, 30)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.label())),
        4 => e
            .download_breakdown(name, StatsKind::PythonMinor, 30)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.label())),
        5 => e
            .dependencies(name, None, None)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.label())),
        6 => e
            .top_packages(50)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.label())),
        7 => {
            let batch: Vec<String> = (0..5)
                .map(|_| names[rng.below(names.len())].clone())
                .collect();
            e.overview(&batch)
                .await
                .map_or_else(|x| error(&x), |r| answer(r.source))
        }
        _ => {
            let q = Query::Pepy(PackageName::parse(name).expect("valid name"));
            e.document(q)
                .await
                .map_or_else(|x| error(&x), |a| answer(a.provenance.label()))
        }
    }
}

/// The MCP tools of the soak, with their arguments.
pub(crate) fn mcp_op(rng: &mut Rng, names: &[String]) -> (&'static str, serde_json::Value) {
    let name = names[rng.below(names.len())].clone();
    match rng.below(11) {
        0 => ("get_package_info", serde_json::json!({ "package": name })),
        1 => (
            "get_package_versions",
            serde_json::json!({ "package": name }),
        ),
        2 => (
            "get_download_statistics",
            serde_json::json!({ "package": name }),
        ),
        3 => (
            "get_download_trends",
            serde_json::json!({ "package": name, "days": 30 }),
        ),
        4 => (
            "get_download_breakdown",
            serde_json::json!({ "package": name, "by": "system" }),
        ),
        5 => (
            "get_package_dependencies",
            serde_json::json!({ "package": name }),
        ),
        6 => (
            "check_package_python_compatibility",
            serde_json::json!({ "package": name, "python_version": "3.12" }),
        ),
        7 => (
            "get_top_downloaded_packages",
            serde_json::json!({ "limit": 20 }),
        ),
        8 => {
            let batch: Vec<String> = (0..5)
                .map(|_| names[rng.below(names.len())].clone())
                .collect();
            (
                "get_packages_overview",
                serde_json::json!({ "packages": batch }),
            )
        }
        9 => ("health_check", serde_json::json!({})),
        _ => ("get_cache_stats", serde_json::json!({})),
    }
}

pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Latencies in a fixed-size log histogram (100 buckets per decade, 1 ns to 1,000 s:
/// values within 2.3 %), so that a long soak does not grow the harness's own memory,
/// which is in the RSS it measures.
pub(crate) struct LogHist {
    pub(crate) counts: Vec<u64>,
    pub(crate) n: u64,
}

impl Default for LogHist {
    fn default() -> Self {
        LogHist {
            counts: vec![0; 1_201],
            n: 0,
        }
    }
}

impl LogHist {
    pub(crate) fn bucket(d: Duration) -> usize {
        let ns = d.as_nanos().max(1) as f64;
        ((ns.log10() * 100.0) as usize).min(1_200)
    }

    pub(crate) fn add(&mut self, d: Duration) {
        self.counts[Self::bucket(d)] += 1;
        self.n += 1;
    }

    pub(crate) fn merge(&mut self, o: &LogHist) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.n += o.n;
    }

    /// Nearest-rank percentile, as the upper edge of its bucket.
    pub(crate) fn pct(&self, p: f64) -> Duration {
        let rank = ((p * self.n as f64).ceil() as u64).clamp(1, self.n.max(1));
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_nanos(10f64.powf((i + 1) as f64 / 100.0) as u64);
            }
        }
        Duration::ZERO
    }
}

/// What the workers of the soak and chaos runs bring back.
#[derive(Default)]
pub(crate) struct WorkerOut {
    pub(crate) lat: LogHist,
    pub(crate) outcomes: Tally,
    /// Calls that took longer than the deadline (+50 ms), or never answered.
    pub(crate) past_deadline: u64,
    pub(crate) slowest: Duration,
}

impl WorkerOut {
    pub(crate) fn record(&mut self, lat: Duration, outcome: String) {
        if lat > DEADLINE + SLACK {
            self.past_deadline += 1;
        }
        self.slowest = self.slowest.max(lat);
        self.lat.add(lat);
        self.outcomes.add(outcome);
    }

    pub(crate) fn merge(&mut self, o: WorkerOut) {
        self.lat.merge(&o.lat);
        self.outcomes.merge(o.outcomes);
        self.past_deadline += o.past_deadline;
        self.slowest = self.slowest.max(o.slowest);
    }
}

/// Bounds one call: past the deadline plus 5 s the harness stops waiting and counts it
/// as never answered.
pub(crate) async fn bounded<F: Future<Output = String>>(f: F) -> (Duration, String) {
    let s = Instant::now();
    match tokio::time::timeout(DEADLINE + Duration::from_secs(5), f).await {
        Ok(o) => (s.elapsed(), o),
        Err(_) => (s.elapsed(), "no answer (harness gave up)".into()),
    }
}
