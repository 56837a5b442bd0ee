//! `sentinel-sim`: one local HTTP origin that imitates the upstreams pypi-sentinel
//! talks to, with fault injection, for tests, benches and offline demos.
//!
//! **Recorded vs simulated.** PyPI JSON and Simple bodies of the fixture projects are
//! real recordings (see `sim/data/*/SOURCES.md`), served byte-exact. Everything else is
//! **simulated**: releases and Simple pages that were not recorded are derived from the
//! recorded project bodies; synthetic projects (`synth-0000`, …) are invented; every
//! download number (pypistats.org, pepy.tech, top packages) is generated
//! deterministically from the package name and the seed, dated relative to the
//! simulator's "today": the real current UTC date by default, or a pinned day
//! ([`SimConfig::today`], [`SimHandle::set_today`]) for reproducible runs; pypistats'
//! data can be made to lag ([`SimConfig::pypistats_lag_days`]). None of it is real
//! download data.
//!
//! # Crate map
//!
//! | module | what |
//! | --- | --- |
//! | `server.rs` | [`Sim::start`], [`SimHandle`], [`SimConfig`], the accept loop, fault application, [`serve_until_ctrl_c`] |
//! | `fault.rs` | [`FaultSpec`], [`Phase`], [`glob_match`], the pure decision logic, the fault store |
//! | `stats.rs` | [`SimStats`], request counters |
//! | `date.rs` | [`SimDay`], the calendar series are dated against (today or pinned, pypistats' lag) |
//! | `scenario.rs` | [`Scenario`] (named fault sets) |
//! | `profile.rs` | [`IndexProfile`]: PyPI, or a mirror with less (no JSON API, no metadata files, HTML only, `Range` ignored) |
//! | `data/` | fixtures index (`fixtures.rs`), download series generator (`pypistats.rs`), synthetic projects (`synthetic.rs`), resolver graphs (`graphs.rs`) and their real wheels (`wheels.rs`, hostile ones too), the per-simulator catalog |
//! | `routes/` | `pypi.rs`, `simple.rs`, `files.rs` (byte ranges), `pypistats.rs`, `pepy.rs`, `top.rs` (upstream routes), `admin.rs` (`/_sim/...`) |
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
mod date;
mod fault;
mod profile;
mod routes;
mod scenario;
mod server;
mod stats;

pub use date::{BadDay, SimDay};
pub use fault::{DRIFT_KINDS, FaultSpec, Phase, glob_match};
pub use profile::{IndexProfile, UnknownProfile};
/// The private index served at `/extra/simple/` (dependency confusion): its names.
pub use routes::extra as extra_index;
pub use routes::pypistats::RATE_LIMIT_BODY;
pub use scenario::{Scenario, UnknownScenario};
pub use server::{Sim, SimConfig, SimError, SimHandle, serve_until_ctrl_c};
pub use stats::SimStats;

/// The names of the synthetic dependency-graph projects (`sg-…`) every simulator
/// serves: invented projects for resolvers (markers, extras, pre-releases, yanked
/// releases, cycles, an unsatisfiable conflict, a 40-package tree `sg-tree-00`..`39`, a
/// lattice `sg-lattice` of 2^10 chains).
pub fn graph_projects() -> Vec<String> {
    data::graphs::names()
}

/// A fixed day that tests and demos pin as the simulator's "today"
/// ([`SimConfig::today`]) when they need reproducible dates (`YYYY-MM-DD`); by default
/// the simulator dates its series against the real UTC date.
pub const SIMULATED_TODAY: &str = "2026-11-24";

/// Summary text of every synthetic project.
pub const SYNTHETIC_SUMMARY: &str = data::synthetic::SUMMARY;
