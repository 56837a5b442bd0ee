//! `sentinel-sim`: one local HTTP origin that imitates the upstreams pypi-sentinel
//! talks to, with fault injection, for tests, benches and offline demos.
//!
//! **Recorded vs simulated.** PyPI JSON and Simple bodies of the fixture projects are
//! real recordings (see `sim/data/*/SOURCES.md`), served byte-exact. Everything else is
//! **simulated**: releases and Simple pages that were not recorded are derived from the
//! recorded project bodies; synthetic projects (`synth-0000`, …) are invented; every
//! download number (pypistats.org, pepy.tech, top packages) is generated
//! deterministically from the package name and the seed, relative to the fixed
//! simulated "today" 2026-11-24. None of it is real download data.
//!
//! # Crate map
//!
//! | module | what |
//! | --- | --- |
//! | `server.rs` | [`Sim::start`], [`SimHandle`], [`SimConfig`], the accept loop, fault application, [`serve_until_ctrl_c`] |
//! | `fault.rs` | [`FaultSpec`], [`Phase`], [`glob_match`], the pure decision logic, the fault store |
//! | `stats.rs` | [`SimStats`], request counters |
//! | `scenario.rs` | [`Scenario`] (named fault sets) |
//! | `data/` | fixtures index (`fixtures.rs`), download series generator (`pypistats.rs`), synthetic projects (`synthetic.rs`), the per-simulator catalog |
//! | `routes/` | `pypi.rs`, `simple.rs`, `pypistats.rs`, `pepy.rs`, `top.rs` (upstream routes), `admin.rs` (`/_sim/...`) |
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), sentinel_sim::SimError> {
//! use sentinel_sim::{FaultSpec, Sim, SimConfig};
//! let sim = Sim::start(SimConfig::default()).await?;
//! sim.add_fault(FaultSpec { status: Some(502), ..FaultSpec::on("/api/packages/**") });
//! println!("{}/pypi/numpy/json", sim.base_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod data;
mod fault;
mod routes;
mod scenario;
mod server;
mod stats;

pub use fault::{DRIFT_KINDS, FaultSpec, Phase, glob_match};
pub use routes::pypistats::RATE_LIMIT_BODY;
pub use scenario::{Scenario, UnknownScenario};
pub use server::{Sim, SimConfig, SimError, SimHandle, serve_until_ctrl_c};
pub use stats::SimStats;

/// The names of the synthetic dependency-graph projects (`sg-…`) every simulator
/// serves: invented projects for resolvers (markers, extras, pre-releases, yanked
/// releases, cycles, an unsatisfiable conflict, a 40-package tree `sg-tree-00`..`39`).
pub fn graph_projects() -> Vec<String> {
    data::graphs::names()
}

/// The fixed simulated "today" of every generated time series (`YYYY-MM-DD`); the last
/// daily point is the day before.
pub const SIMULATED_TODAY: &str = "2026-11-24";

/// Summary text of every synthetic project.
pub const SYNTHETIC_SUMMARY: &str = data::synthetic::SUMMARY;
