//! Load harness: drives the engine (and the MCP streamable HTTP server) against the
//! simulator on 127.0.0.1 and prints one table per scenario: throughput, p50/p99/p99.9
//! latency, upstream requests per client request, errors and RSS.
//!
//! ```text
//! cargo bench --bench load                 # full run, bounded (about 17 min, 10 of them the soak)
//! cargo bench --bench load -- --quick      # smoke run for CI (< 60 s, 20 s of it the soak)
//! cargo bench --bench load -- --only hot,herd
//! cargo bench --bench load -- --only soak --soak-secs 600
//! ```
//!
//! Scenarios: `hot`, `mcp`, `cold`, `herd`, `breaker`, `storm`, `outage`, `memory`,
//! `series`, `faults`, `overview`, `abandoned`, `resolve`, `chaos`, `soak` (`series` and `chaos` are
//! left out of `--quick` unless named with `--only`; `soak` runs 600 s, 20 s with
//! `--quick`, or `--soak-secs N`; `--soak-session-calls N`, `--soak-no-prometheus` and
//! `--soak-no-trim`
//! vary it).
//! Every loop is bounded in count and in time; nothing touches the internet. Ratios are
//! measured in one run (docs/ARCHITECTURE.md section 7); absolute figures drift on shared machines.

use std::future::Future;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pypi_sentinel::mcp::{HttpOptions, bind_http};
use sentinel_actors::upstream::{self, Document};
use sentinel_actors::{Engine, EngineConfig, EngineHandle, PackageName, Query, Upstream};
use sentinel_sim::{FaultSpec, Sim, SimConfig, SimHandle};

#[path = "../support/mcp_http.rs"]
mod mcp_http;
use mcp_http::McpSession;
mod abandoned;
mod breaker;
mod chaos;
mod cold;
mod faults;
mod herd;
mod hot;
mod mcp;
mod measure;
mod memory;
mod outage;
mod overview;
mod resolve;
mod series;
mod setup;
mod soak;
mod storm;
mod workload;

use abandoned::*;
use breaker::*;
use chaos::*;
use cold::*;
use faults::*;
use herd::*;
use hot::*;
use mcp::*;
use measure::*;
use memory::*;
use outage::*;
use overview::*;
use resolve::*;
use series::*;
use setup::*;
use soak::*;
use storm::*;
use workload::*;

pub(crate) const CHILD_SIM_ENV: &str = "SENTINEL_LOAD_SIM_CHILD";

#[derive(Clone, Debug)]
pub(crate) struct Opts {
    pub(crate) quick: bool,
    pub(crate) only: Option<Vec<String>>,
    /// Length of the soak (`--soak-secs N`); default 600 s, 20 s with `--quick`.
    pub(crate) soak_secs: Option<u64>,
    /// Calls per MCP session in the soak before the client closes it and opens another
    /// (`--soak-session-calls N`, default 150; 0 = keep each session for the whole run).
    pub(crate) soak_session_calls: u32,
    /// Leave out the Prometheus recorder in the soak (`--soak-no-prometheus`); by default
    /// it is installed as `pypi-sentinel serve` installs it, and never scraped.
    pub(crate) soak_no_prometheus: bool,
    /// Leave out `serve`'s periodic `malloc_trim` in the soak (`--soak-no-trim`), to see
    /// glibc's retention.
    pub(crate) soak_no_trim: bool,
}

impl Opts {
    pub(crate) fn from_args() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick");
        let only = args
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1))
            .map(|s| s.split(',').map(str::to_string).collect());
        let soak_secs = args
            .iter()
            .position(|a| a == "--soak-secs")
            .and_then(|i| args.get(i + 1))
            .map(|s| s.parse().expect("--soak-secs takes a number of seconds"));
        let soak_session_calls = args
            .iter()
            .position(|a| a == "--soak-session-calls")
            .and_then(|i| args.get(i + 1))
            .map_or(150, |s| {
                s.parse()
                    .expect("--soak-session-calls takes a number of calls")
            });
        let soak_no_prometheus = args.iter().any(|a| a == "--soak-no-prometheus");
        let soak_no_trim = args.iter().any(|a| a == "--soak-no-trim");
        Opts {
            quick,
            only,
            soak_secs,
            soak_session_calls,
            soak_no_prometheus,
            soak_no_trim,
        }
    }

    pub(crate) fn wants(&self, scenario: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == scenario))
    }

    /// `quick` or `full` figure.
    pub(crate) fn pick<T>(&self, quick: T, full: T) -> T {
        if self.quick { quick } else { full }
    }
}

fn main() {
    if let Ok(n) = std::env::var(CHILD_SIM_ENV) {
        child_sim_main(n.parse().expect("synthetic count"));
        return;
    }
    let opts = Opts::from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    rt.block_on(async {
        println!(
            "# pypi-sentinel load harness ({} mode)",
            if opts.quick { "quick" } else { "full" }
        );
        let mut lap = Instant::now();
        let mut lap_note = |name: &str| {
            eprintln!(
                "load harness: {name} took {:.1} s",
                lap.elapsed().as_secs_f64()
            );
            lap = Instant::now();
        };
        // Memory first, while this process holds nothing else.
        if opts.wants("memory") {
            memory(&opts).await;
            lap_note("memory");
        }
        if opts.wants("series") && !opts.quick {
            series(&opts).await;
            lap_note("series");
        }
        // Disjoint ranges of synthetic names per scenario, so nothing is cached by accident.
        let hot_n = opts.pick(1_000, 5_000);
        let cold_n = opts.pick(1_500, 8_000);
        let breaker_n = 200;
        let storm_n = opts.pick(600, 5_000);
        let outage_n = opts.pick(2_500, 20_500);
        let mut at = 0;
        let mut range = |n: usize| {
            let r = at..at + n;
            at += n;
            r
        };
        let hot_r = range(hot_n);
        let cold_r = range(cold_n);
        let herd_r = range(1);
        let breaker_r = range(breaker_n);
        let storm_r = range(storm_n);
        let outage_r = range(outage_n);
        let synthetic = at;
        let sim = Sim::start(SimConfig {
            synthetic,
            ..Default::default()
        })
        .await
        .expect("sim starts");
        println!(
            "simulator at {} with {synthetic} synthetic packages; RSS at start {:.1} MiB",
            sim.base_url(),
            mib(rss_bytes())
        );
        if opts.wants("hot") {
            hot(&opts, &sim, hot_r.len()).await;
            lap_note("hot");
        }
        if opts.wants("mcp") {
            mcp(&opts, &sim).await;
            lap_note("mcp");
        }
        if opts.wants("cold") {
            cold(&opts, &sim, cold_r).await;
            lap_note("cold");
        }
        if opts.wants("herd") {
            herd(&sim, synth(herd_r.start)).await;
            lap_note("herd");
        }
        if opts.wants("breaker") {
            breaker(&opts, &sim, breaker_r).await;
            lap_note("breaker");
        }
        if opts.wants("storm") {
            storm(&opts, &sim, storm_r).await;
            lap_note("storm");
        }
        if opts.wants("outage") {
            outage(&opts, &sim, outage_r).await;
            lap_note("outage");
        }
        if opts.wants("faults") {
            faults(&opts).await;
            lap_note("faults");
        }
        if opts.wants("overview") {
            overview(&opts).await;
            lap_note("overview");
        }
        if opts.wants("abandoned") {
            abandoned(&opts).await;
            lap_note("abandoned");
        }
        if opts.wants("resolve") {
            resolve(&opts).await;
            lap_note("resolve");
        }
        sim.shutdown().await;
        // Chaos is left out of `--quick` unless named (`--quick --only chaos`): CI's run
        // must stay well under a minute, and the soak already takes 20 s of it.
        if opts.wants("chaos") && (!opts.quick || opts.only.is_some()) {
            chaos(&opts).await;
            lap_note("chaos");
        }
        if opts.wants("soak") {
            soak(&opts).await;
            lap_note("soak");
        }
    });
    println!();
    println!("total time {:.1} s", started.elapsed().as_secs_f64());
}
