//! Scenario: the fault-latency matrix.

use super::*;

/// The question asked of each upstream in the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Json,
    Simple,
    Stats,
    Pepy,
    Top,
}

impl Target {
    pub(crate) const ALL: [Target; 5] = [
        Target::Json,
        Target::Simple,
        Target::Stats,
        Target::Pepy,
        Target::Top,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Target::Json => "pypi-json (package_info)",
            Target::Simple => "pypi-simple (versions, JSON 502)",
            Target::Stats => "pypistats (recent_downloads)",
            Target::Pepy => "pepy (document Pepy)",
            Target::Top => "top-packages (top_packages 100)",
        }
    }

    pub(crate) fn upstream(self) -> Upstream {
        match self {
            Target::Json => Upstream::PypiJson,
            Target::Simple => Upstream::PypiSimple,
            Target::Stats => Upstream::Pypistats,
            Target::Pepy => Upstream::Pepy,
            Target::Top => Upstream::TopPackages,
        }
    }

    pub(crate) fn route(self) -> &'static str {
        match self {
            Target::Json => "/pypi/**",
            Target::Simple => "/simple/**",
            Target::Stats => "/api/packages/**",
            Target::Pepy => "/api/v2/projects/**",
            Target::Top => "/top-pypi-packages.min.json",
        }
    }
}

/// One fault of the matrix (`Limiter` is our own rate limit at 1/s, not a simulator fault;
/// `StatsAndPepy` is 502 on pypistats and pepy together).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    S502,
    S503RetryAfter,
    S429HugeRetryAfter,
    Hang,
    Reset,
    Truncate,
    RedirectLoop,
    Limiter,
    StatsAndPepy,
}

impl Fault {
    pub(crate) const MATRIX: [Fault; 8] = [
        Fault::S502,
        Fault::S503RetryAfter,
        Fault::S429HugeRetryAfter,
        Fault::Hang,
        Fault::Reset,
        Fault::Truncate,
        Fault::RedirectLoop,
        Fault::Limiter,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Fault::S502 => "502",
            Fault::S503RetryAfter => "503 RA 2",
            Fault::S429HugeRetryAfter => "429 RA 1e12",
            Fault::Hang => "hang",
            Fault::Reset => "reset",
            Fault::Truncate => "truncated",
            Fault::RedirectLoop => "redirect loop",
            Fault::Limiter => "limiter 1/s, burst",
            Fault::StatsAndPepy => "502 pypistats + pepy",
        }
    }

    pub(crate) fn specs(self, route: &str) -> Vec<FaultSpec> {
        let on = |f: FaultSpec| FaultSpec {
            route: route.into(),
            ..f
        };
        match self {
            Fault::S502 => vec![on(FaultSpec {
                status: Some(502),
                ..Default::default()
            })],
            Fault::S503RetryAfter => vec![on(FaultSpec {
                status: Some(503),
                retry_after: Some(2),
                ..Default::default()
            })],
            Fault::S429HugeRetryAfter => vec![on(FaultSpec {
                status: Some(429),
                retry_after: Some(1_000_000_000_000),
                ..Default::default()
            })],
            Fault::Hang => vec![on(FaultSpec {
                hang: true,
                ..Default::default()
            })],
            Fault::Reset => vec![on(FaultSpec {
                reset: true,
                ..Default::default()
            })],
            Fault::Truncate => vec![on(FaultSpec {
                truncate: true,
                ..Default::default()
            })],
            Fault::RedirectLoop => vec![on(FaultSpec {
                redirect_loop: true,
                ..Default::default()
            })],
            Fault::Limiter => Vec::new(),
            Fault::StatsAndPepy => vec![
                FaultSpec {
                    status: Some(502),
                    ..FaultSpec::on("/api/packages/**")
                },
                FaultSpec {
                    status: Some(502),
                    ..FaultSpec::on("/api/v2/projects/**")
                },
            ],
        }
    }
}

/// What one call came back with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Outcome {
    Live,
    Cached,
    Stale,
    Estimated,
    Mixed,
    Deferred,
    /// Unavailable; `true` when refused by an open breaker.
    Unavailable(bool),
    Deadline,
    Other,
}

impl Outcome {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Outcome::Live => "live",
            Outcome::Cached => "cached",
            Outcome::Stale => "stale",
            Outcome::Estimated => "estimated",
            Outcome::Mixed => "mixed",
            Outcome::Deferred => "deferred",
            Outcome::Unavailable(false) => "unavailable",
            Outcome::Unavailable(true) => "unavail(breaker)",
            Outcome::Deadline => "deadline",
            Outcome::Other => "other-error",
        }
    }

    pub(crate) fn of_label(l: sentinel_actors::SourceLabel) -> Self {
        use sentinel_actors::SourceLabel as L;
        match l {
            L::Live => Outcome::Live,
            L::Cached => Outcome::Cached,
            L::Stale => Outcome::Stale,
            L::Estimated => Outcome::Estimated,
            L::Mixed => Outcome::Mixed,
            L::Unavailable => Outcome::Unavailable(false),
        }
    }

    pub(crate) fn of_error(e: &sentinel_actors::QueryError) -> Self {
        use sentinel_actors::ErrorCode as E;
        match e.code() {
            E::Deferred => Outcome::Deferred,
            E::Unavailable => Outcome::Unavailable(matches!(
                e.cause(),
                Some(sentinel_actors::UnavailableCause::BreakerOpen { .. })
            )),
            E::DeadlineExceeded => Outcome::Deadline,
            _ => Outcome::Other,
        }
    }
}

pub(crate) async fn ask_target(e: &EngineHandle, target: Target, name: &str) -> Outcome {
    match target {
        Target::Json => match e.package_info(name, None).await {
            Ok(d) => Outcome::of_label(d.provenance.label()),
            Err(err) => Outcome::of_error(&err),
        },
        Target::Simple => match e.versions(name).await {
            Ok(d) => Outcome::of_label(d.provenance.label()),
            Err(err) => Outcome::of_error(&err),
        },
        Target::Stats => match e.recent_downloads(name).await {
            Ok(r) => Outcome::of_label(r.source),
            Err(err) => Outcome::of_error(&err),
        },
        Target::Pepy => {
            let q = Query::Pepy(PackageName::parse(name).expect("valid name"));
            match e.document(q).await {
                Ok(a) => Outcome::of_label(a.provenance.label()),
                Err(err) => Outcome::of_error(&err),
            }
        }
        Target::Top => match e.top_packages(100).await {
            Ok(d) => Outcome::of_label(d.provenance.label()),
            Err(err) => Outcome::of_error(&err),
        },
    }
}

/// One measured call of a cell.
pub(crate) struct Call {
    pub(crate) lat: Duration,
    pub(crate) outcome: Outcome,
    pub(crate) after_open: bool,
}

impl Call {
    /// Started with its upstream's breaker open, and answered without a fetch from a
    /// second source (an estimate from pepy or a live answer needs one).
    pub(crate) fn fail_fast(&self) -> bool {
        self.after_open && !matches!(self.outcome, Outcome::Estimated | Outcome::Live)
    }
}

pub(crate) struct Cell {
    pub(crate) target: Target,
    pub(crate) fault: Fault,
    pub(crate) warm: bool,
    pub(crate) calls: Vec<Call>,
    pub(crate) upstream_requests: u64,
    pub(crate) transitions: u64,
    pub(crate) warm_note: Option<String>,
}

pub(crate) fn pct_of(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

pub(crate) const BUDGET: Duration = Duration::from_millis(2_000);
pub(crate) const DEADLINE: Duration = Duration::from_millis(15_000);
pub(crate) const SLACK: Duration = Duration::from_millis(50);
pub(crate) const FAST: Duration = Duration::from_millis(5);

impl Cell {
    pub(crate) fn sorted(&self, keep: impl Fn(&Call) -> bool) -> Vec<Duration> {
        let mut v: Vec<Duration> = self
            .calls
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.lat)
            .collect();
        v.sort_unstable();
        v
    }

    pub(crate) fn outcomes(&self) -> String {
        let mut counts: std::collections::BTreeMap<Outcome, usize> = Default::default();
        for c in &self.calls {
            *counts.entry(c.outcome).or_default() += 1;
        }
        counts
            .iter()
            .map(|(o, n)| format!("{} {n}", o.word()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// PASS/FAIL per applicable target, in words.
    pub(crate) fn verdicts(&self) -> Vec<(&'static str, bool)> {
        let all = self.sorted(|_| true);
        let mut v = vec![("max<=deadline", pct_of(&all, 1.0) <= DEADLINE + SLACK)];
        if self.warm {
            v.push(("p99<=budget+50ms", pct_of(&all, 0.99) <= BUDGET + SLACK));
        }
        let open = self.sorted(Call::fail_fast);
        if !open.is_empty() {
            v.push(("open p99<5ms", pct_of(&open, 0.99) < FAST));
        }
        if self.fault == Fault::Limiter {
            v.push(("limiter p99<5ms", pct_of(&all, 0.99) < FAST));
        }
        v
    }

    pub(crate) fn row(&self) -> String {
        let all = self.sorted(|_| true);
        let open = self.sorted(Call::fail_fast);
        let deferred = self.sorted(|c| c.outcome == Outcome::Deferred);
        let open_col = if open.is_empty() {
            "-".to_string()
        } else {
            format!("{} ({})", fmt_d(pct_of(&open, 0.99)), open.len())
        };
        let deferred_col = if deferred.is_empty() {
            "-".to_string()
        } else {
            format!("{} ({})", fmt_d(pct_of(&deferred, 0.99)), deferred.len())
        };
        let verdicts = self
            .verdicts()
            .iter()
            .map(|(t, ok)| format!("{t} {}", if *ok { "PASS" } else { "**FAIL**" }))
            .collect::<Vec<_>>()
            .join("; ");
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} | {} |",
            self.target.label(),
            self.fault.label(),
            if self.warm { "warm" } else { "cold" },
            self.calls.len(),
            fmt_d(pct_of(&all, 0.5)),
            fmt_d(pct_of(&all, 0.99)),
            fmt_d(pct_of(&all, 1.0)),
            open_col,
            deferred_col,
            self.outcomes(),
            self.upstream_requests as f64 / self.calls.len().max(1) as f64,
            self.transitions,
            verdicts,
        )
    }
}

/// Answers `name` once outside the measurement, asking again after a deferral, so its
/// copy is in the cache (bounded).
pub(crate) async fn warm_one(e: &EngineHandle, target: Target, name: &str, until: Instant) -> bool {
    loop {
        match ask_target(e, target, name).await {
            Outcome::Live | Outcome::Cached => return true,
            _ if Instant::now() >= until => return false,
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// One cell: its own simulator and engine (so no breaker or cache state leaks between
/// cells), `n` calls at concurrency 4 (the limiter cells: all `n` at once).
pub(crate) async fn fault_cell(target: Target, fault: Fault, warm: bool, n: usize) -> Cell {
    pub(crate) const WARM_KEYS: usize = 5;
    let sim = Sim::start(SimConfig {
        synthetic: n + WARM_KEYS + 5,
        ..Default::default()
    })
    .await
    .expect("sim starts");
    let mut cfg = EngineConfig::default().with_origin(&sim.base_url());
    for up in Upstream::ALL {
        cfg.upstreams.get_mut(up).rate_limit = None;
    }
    if fault == Fault::Limiter {
        cfg.upstreams.get_mut(target.upstream()).rate_limit =
            Some(sentinel_actors::RateLimitConfig {
                per_second: 1,
                per_minute: None,
                burst: None,
            });
    }
    let engine = start_engine(cfg).await;
    // The Simple row asks `versions` with the JSON API failing, warm and cold.
    if target == Target::Simple {
        sim.add_fault(FaultSpec {
            status: Some(502),
            ..FaultSpec::on("/pypi/**")
        });
    }
    let names: Vec<String> = if warm {
        (0..WARM_KEYS).map(synth).collect()
    } else {
        (WARM_KEYS..WARM_KEYS + n).map(synth).collect()
    };
    let mut warm_note = None;
    if warm {
        let until = Instant::now() + Duration::from_secs(15);
        let mut ok = 0;
        let keys = if target == Target::Top { 1 } else { WARM_KEYS };
        for name in names.iter().take(keys) {
            ok += usize::from(warm_one(&engine, target, name, until).await);
        }
        if ok < keys {
            warm_note = Some(format!("only {ok}/{keys} keys warmed"));
        }
        // Past every fresh TTL (24 h at most), well inside the 7-day stale retention.
        engine.age_cache(Duration::from_secs(2 * 24 * 3600));
    }
    let route = target.route();
    for spec in fault.specs(route) {
        sim.add_fault(spec);
    }
    sim.reset_stats();
    let t0 = engine.metrics().breaker_transitions;
    let conc = if fault == Fault::Limiter { n } else { 4 };
    let next = Arc::new(AtomicUsize::new(0));
    let stop_at = Instant::now() + Duration::from_secs(30);
    let names = Arc::new(names);
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (e, next, names) = (engine.clone(), next.clone(), names.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() >= stop_at {
                    break;
                }
                let name = &names[i % names.len()];
                // Whether this upstream's own breaker is open as the call starts.
                let after_open = e.metrics().breaker_transitions > t0
                    && breaker_state(&e.health().await, target.upstream()).0 == "open";
                let s = Instant::now();
                let outcome = ask_target(&e, target, name).await;
                out.push(Call {
                    lat: s.elapsed(),
                    outcome,
                    after_open,
                });
            }
            out
        }));
    }
    let mut calls = Vec::new();
    for t in tasks {
        calls.extend(t.await.expect("cell task"));
    }
    let upstream_requests = sim.stats().total;
    let transitions = engine.metrics().breaker_transitions - t0;
    engine.shutdown().await;
    sim.shutdown().await;
    Cell {
        target,
        fault,
        warm,
        calls,
        upstream_requests,
        transitions,
        warm_note,
    }
}

pub(crate) async fn faults(opts: &Opts) {
    println!();
    println!(
        "### 7. Fault-latency matrix (answer budget 2 s, deadline 15 s; targets: warm p99 <= 2.05 s, \
         breaker open or limiter saturated p99 < 5 ms, no call past the deadline)"
    );
    println!();
    println!(
        "| upstream (question) | fault | cache | calls | p50 | p99 | max | p99 with its breaker open (n) | p99 of deferred (n) | outcomes | upstream req/call | breaker transitions | targets |"
    );
    println!(
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |"
    );
    let _ = std::io::stdout().flush();
    let n = opts.pick(8, 20);
    let mut rows: Vec<(Fault, Vec<Target>)> = if opts.quick {
        vec![(Fault::S502, vec![Target::Json, Target::Stats])]
    } else {
        Fault::MATRIX
            .iter()
            .map(|f| (*f, Target::ALL.to_vec()))
            .collect()
    };
    rows.push((Fault::StatsAndPepy, vec![Target::Stats]));
    let started = Instant::now();
    let (mut pass, mut fail) = (0, 0);
    let mut notes = Vec::new();
    for (fault, targets) in rows {
        let row_start = Instant::now();
        // The cells of one fault run at once, each on its own simulator and engine: most
        // of their time is spent waiting (hangs, Retry-After), not computing.
        let mut tasks = Vec::new();
        for &target in &targets {
            for warm in [false, true] {
                tasks.push(tokio::spawn(fault_cell(target, fault, warm, n)));
            }
        }
        for t in tasks {
            let cell = t.await.expect("cell");
            println!("{}", cell.row());
            for (_, ok) in cell.verdicts() {
                if ok {
                    pass += 1;
                } else {
                    fail += 1;
                }
            }
            if let Some(w) = &cell.warm_note {
                notes.push(format!(
                    "- {} / {} / warm: {w}",
                    cell.target.label(),
                    cell.fault.label()
                ));
            }
        }
        let _ = std::io::stdout().flush();
        notes.push(format!(
            "- row `{}`: {:.1} s",
            fault.label(),
            row_start.elapsed().as_secs_f64()
        ));
    }
    println!();
    println!(
        "targets: {pass} PASS, {fail} FAIL; matrix wall time {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!();
    println!("{}", notes.join("\n"));
    let _ = std::io::stdout().flush();
}
