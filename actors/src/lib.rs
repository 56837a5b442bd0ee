//! # sentinel-actors: the pypi-sentinel engine
//!
//! A supervised actor system that answers questions about Python packages (metadata,
//! versions, dependencies, Python compatibility, download statistics, top packages)
//! from PyPI, pypistats.org, pepy.tech and the top-packages dataset, and keeps answering
//! when they fail: every figure says where it came from ([`model::Provenance`]).
//!
//! ## Crate map
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`engine`] | [`Engine::start`] and [`EngineHandle`], the embedding API; views are computed here |
//! | [`model`] | validated names and versions, queries, provenance, errors |
//! | [`upstream`] | per-upstream `Accept` headers and tolerant parsers into [`upstream::Document`] |
//! | [`views`] | answers computed from documents: info, versions, deps, Python, downloads, estimates |
//! | [`policy`] | pure state machines: retry/backoff, retry budget, circuit breaker |
//! | [`cache`] | the shared, byte-weighted cache value (fresh hits never cross a mailbox) |
//! | `actor` | supervisor, router, fetch (one per upstream), health, cache, estimator actors |
//! | [`config`] | [`EngineConfig`] with DESIGN.md section 5 defaults and validation |
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sentinel_actors::{Engine, EngineConfig};
//! let engine = Engine::start(EngineConfig::default()).await?;
//! let info = engine.package_info("requests", None).await?;
//! println!("{} {} ({})", info.value.name, info.value.version, info.provenance.word());
//! engine.shutdown().await;
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod actor;
pub mod cache;
pub mod config;
pub mod engine;
pub mod model;
pub mod policy;
pub mod upstream;
pub mod views;

pub use actor::ActorKind;
pub use actor::fetch::FetchStats;
pub use actor::health::UpstreamHealth;
pub use actor::router::DocAnswer;
pub use config::{ConfigError, EngineConfig};
pub use engine::{
    Engine, EngineHandle, HealthReport, ItemFailure, MAX_BATCH, MetricsSnapshot, PackageOverview,
    PartialResult, Readiness, StartError, UpstreamReport,
};
pub use model::{
    Confidence, Datum, InputError, PackageName, PackageVersion, Provenance, Query, QueryError,
    SourceLabel, StatsKind, UnavailableCause, Upstream,
};
