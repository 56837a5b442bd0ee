//! The circuit breaker under failure storms: a deterministic simulation of the pure
//! `Breaker` (no network, no sleeping) that compares its streak rules at several
//! traffic rates and failure probabilities.
//!
//! `cargo run --release -p sentinel-actors --example breaker_storm`
//!
//! Each run: 30 s of healthy traffic (so the window holds the upstream's normal
//! traffic, as in production), then 120 s in which each call fails with probability
//! `p`. Calls arrive as a Poisson process at the given rate (below 1 call/s: exactly
//! one every 2 s or 5 s, one at a time), take 50 ms, and report their outcome to the breaker
//! when they end. Every call draws its outcome whether or not the breaker lets it go,
//! so "rejected, would have succeeded" is known, and all variants see the same calls.
//! Figures are over the 120 s storm, across `SEEDS` seeded runs.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sentinel_actors::policy::{
    Admission, Breaker, BreakerConfig, BreakerState, CallOutcome, ConsecutiveRule,
};
use std::time::Instant;

const WARMUP: Duration = Duration::from_secs(30);
const STORM: Duration = Duration::from_secs(120);
const LATENCY: Duration = Duration::from_millis(50);
const SEEDS: u64 = 10;
const RATES: [f64; 6] = [0.2, 0.5, 2.0, 20.0, 100.0, 500.0];
const FAILURE_P: [f64; 5] = [0.1, 0.2, 0.35, 0.5, 1.0];

struct Variant {
    name: &'static str,
    cfg: BreakerConfig,
}

fn variants() -> Vec<Variant> {
    let with = |rule, span_ms| BreakerConfig {
        consecutive_rule: rule,
        consecutive_span_ms: span_ms,
        ..BreakerConfig::default()
    };
    vec![
        Variant {
            name: "(a) 5 in a row",
            cfg: with(ConsecutiveRule::Fixed, 1_000),
        },
        Variant {
            name: "(b) rate only",
            cfg: with(ConsecutiveRule::Off, 1_000),
        },
        Variant {
            name: "(b') 5 in a row below min_calls",
            cfg: with(ConsecutiveRule::LowTraffic, 1_000),
        },
        Variant {
            name: "(c) max(5, 1 s of traffic)",
            cfg: with(ConsecutiveRule::Scaled, 1_000),
        },
        Variant {
            name: "(c) max(5, 0.25 s of traffic)",
            cfg: with(ConsecutiveRule::Scaled, 250),
        },
    ]
}

/// One run's figures over the storm.
#[derive(Default)]
struct Run {
    calls: u64,
    rejected: u64,
    rejected_would_succeed: u64,
    opens: u64,
    /// Seconds after the storm began, and calls admitted in the storm until then.
    first_open: Option<(f64, u64)>,
}

fn simulate(cfg: &BreakerConfig, rate: f64, p: f64, seed: u64) -> Run {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut br = Breaker::new(cfg.clone());
    let t0 = Instant::now();
    let storm_at = t0 + WARMUP;
    let end = storm_at + STORM;
    // Calls in flight: (end time, arrival sequence, failed, was probe).
    let mut in_flight: BinaryHeap<Reverse<(Instant, u64, bool, bool)>> = BinaryHeap::new();
    let mut run = Run::default();
    let mut admitted_in_storm = 0u64;
    let mut opens_before_storm = None;
    let mut t = t0;
    let mut seq = 0u64;
    loop {
        t += if rate < 1.0 {
            Duration::from_secs_f64(1.0 / rate)
        } else {
            // Poisson arrivals: exponential gaps.
            let u: f64 = rng.random::<f64>();
            Duration::from_secs_f64(-(1.0 - u).ln() / rate)
        };
        if t >= end {
            break;
        }
        // Answers that came back before this call.
        while let Some(Reverse((done, _, failed, probe))) = in_flight.peek().copied() {
            if done > t {
                break;
            }
            in_flight.pop();
            let outcome = if failed {
                CallOutcome::Failure
            } else {
                CallOutcome::Success
            };
            if let Some(tr) = br.record(outcome, probe, done)
                && tr.to == BreakerState::Open
                && done >= storm_at
                && run.first_open.is_none()
            {
                let secs = done.duration_since(storm_at).as_secs_f64();
                run.first_open = Some((secs, admitted_in_storm));
            }
        }
        let in_storm = t >= storm_at;
        if in_storm && opens_before_storm.is_none() {
            opens_before_storm = Some(br.snapshot(t).times_opened);
        }
        let fails = in_storm && rng.random::<f64>() < p;
        seq += 1;
        let admission = br.admit(t);
        if in_storm {
            run.calls += 1;
        }
        match admission {
            Admission::Allowed | Admission::Probe => {
                admitted_in_storm += u64::from(in_storm);
                let probe = admission == Admission::Probe;
                in_flight.push(Reverse((t + LATENCY, seq, fails, probe)));
            }
            Admission::Rejected { .. } => {
                if in_storm {
                    run.rejected += 1;
                    run.rejected_would_succeed += u64::from(!fails);
                }
            }
        }
    }
    run.opens = br.snapshot(end).times_opened - opens_before_storm.unwrap_or(0);
    run
}

/// The figures of one (variant, rate, p) over all seeds.
struct Cell {
    opened_runs: u64,
    median_open: Option<(f64, u64)>,
    rejected: f64,
    rejected_would_succeed: f64,
    opens: f64,
}

fn cell(cfg: &BreakerConfig, rate: f64, p: f64) -> Cell {
    let runs: Vec<Run> = (0..SEEDS).map(|s| simulate(cfg, rate, p, 1 + s)).collect();
    let mut firsts: Vec<(f64, u64)> = runs.iter().filter_map(|r| r.first_open).collect();
    firsts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let calls: u64 = runs.iter().map(|r| r.calls).sum();
    let share = |n: u64| 100.0 * n as f64 / calls.max(1) as f64;
    Cell {
        opened_runs: firsts.len() as u64,
        median_open: firsts.get(firsts.len() / 2).copied(),
        rejected: share(runs.iter().map(|r| r.rejected).sum()),
        rejected_would_succeed: share(runs.iter().map(|r| r.rejected_would_succeed).sum()),
        opens: runs.iter().map(|r| r.opens).sum::<u64>() as f64 / SEEDS as f64,
    }
}

fn rate_label(rate: f64) -> String {
    if rate < 1.0 {
        format!("1 per {} s", 1.0 / rate)
    } else {
        format!("{rate}/s")
    }
}

fn secs_label(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1_000.0)
    } else {
        format!("{s:.1} s")
    }
}

fn main() {
    let variants = variants();
    let mut cells = Vec::new();
    for &p in &FAILURE_P {
        for &rate in &RATES {
            let row: Vec<Cell> = variants.iter().map(|v| cell(&v.cfg, rate, p)).collect();
            cells.push((p, rate, row));
        }
    }
    let header = |title: &str| {
        println!("\n{title}\n");
        print!("| failing | traffic |");
        for v in &variants {
            print!(" {} |", v.name);
        }
        println!();
        print!("| ---: | ---: |");
        for _ in &variants {
            print!(" ---: |");
        }
        println!();
    };

    header(&format!(
        "Time to first open after the storm begins: median over the runs that opened \
         (calls let through until then), and runs that opened of {SEEDS}; - = never"
    ));
    for (p, rate, row) in &cells {
        print!("| {:.0} % | {} |", p * 100.0, rate_label(*rate));
        for c in row {
            match c.median_open {
                Some((s, n)) if c.opened_runs == SEEDS => print!(" {} ({n}) |", secs_label(s)),
                Some((s, n)) => print!(" {} ({n}), {}/{SEEDS} |", secs_label(s), c.opened_runs),
                None => print!(" - |"),
            }
        }
        println!();
    }

    header(
        "Calls failed fast by the breaker, % of calls in the storm \
         (of which would have succeeded, % of calls)",
    );
    for (p, rate, row) in &cells {
        print!("| {:.0} % | {} |", p * 100.0, rate_label(*rate));
        for c in row {
            print!(" {:.1} ({:.1}) |", c.rejected, c.rejected_would_succeed);
        }
        println!();
    }

    header("Open transitions in the 120 s storm (mean per run; half-open -> open included)");
    for (p, rate, row) in &cells {
        print!("| {:.0} % | {} |", p * 100.0, rate_label(*rate));
        for c in row {
            print!(" {:.1} |", c.opens);
        }
        println!();
    }
    println!(
        "\n{SEEDS} seeded runs per cell; 30 s healthy warm-up, then 120 s storm; \
         50 ms per call; other settings: BreakerConfig::default()"
    );
}
