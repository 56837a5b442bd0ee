//! Measurement: closed loops, percentiles and the printed table.

use super::*;

pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

pub(crate) fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// The outcome of one closed-loop run.
pub(crate) struct Run {
    pub(crate) lat: Vec<Duration>,
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
}

impl Run {
    pub(crate) fn pct(&self, p: f64) -> Duration {
        if self.lat.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((p * self.lat.len() as f64).ceil() as usize).clamp(1, self.lat.len()) - 1;
        self.lat[idx]
    }

    pub(crate) fn throughput(&self) -> f64 {
        self.lat.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `f(i)` for `i` in `0..total` on `conc` concurrent tasks, each task one call at a
/// time (closed loop), stopping early at `max_time`. `f` returns whether the call succeeded.
pub(crate) async fn closed_loop<F, Fut>(conc: usize, total: usize, max_time: Duration, f: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let stop_at = start + max_time;
    let mut tasks = Vec::with_capacity(conc);
    for _ in 0..conc {
        let (f, next, errors) = (f.clone(), next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(total / conc + 1);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() >= stop_at {
                    break;
                }
                let t = Instant::now();
                let ok = f(i).await;
                lat.push(t.elapsed());
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut lat = Vec::with_capacity(total);
    for t in tasks {
        lat.extend(t.await.expect("load task"));
    }
    let elapsed = start.elapsed();
    lat.sort_unstable();
    Run {
        lat,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
    }
}

pub(crate) fn fmt_d(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

pub(crate) struct Table {
    pub(crate) title: String,
}

impl Table {
    pub(crate) fn new(title: &str) -> Self {
        println!();
        println!("### {title}");
        println!();
        println!(
            "| case | conc | calls | calls/s | p50 | p99 | p99.9 | upstream req | upstream/call | errors | RSS MiB |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        let _ = std::io::stdout().flush();
        Table {
            title: title.into(),
        }
    }

    pub(crate) fn row(&self, case: &str, conc: usize, run: &Run, upstream: u64) {
        let n = run.lat.len();
        println!(
            "| {case} | {conc} | {n} | {:.0} | {} | {} | {} | {upstream} | {:.3} | {} | {:.0} |",
            run.throughput(),
            fmt_d(run.pct(0.50)),
            fmt_d(run.pct(0.99)),
            fmt_d(run.pct(0.999)),
            upstream as f64 / n.max(1) as f64,
            run.errors,
            mib(rss_bytes()),
        );
        let _ = std::io::stdout().flush();
    }

    pub(crate) fn note(&self, text: &str) {
        let _ = &self.title;
        println!();
        println!("{text}");
        let _ = std::io::stdout().flush();
    }
}
