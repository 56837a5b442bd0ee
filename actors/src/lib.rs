//! # sentinel-actors: the pypi-sentinel engine
//!
//! A supervised actor system that answers questions about Python packages (metadata,
//! versions, dependencies, Python compatibility, download statistics, top packages)
//! from PyPI, pypistats.org, pepy.tech and the top-packages dataset, and keeps answering
//! when they fail: every figure says where it came from ([`model::Provenance`]).
//!
//! ## Crate map
//!
//! The public surface is this facade: [`Engine`], [`EngineHandle`], [`EngineConfig`]
//! (and its parts), the model ([`PackageName`], [`Provenance`], [`QueryError`] with its
//! typed [`UnavailableCause`], ...), the answers in [`views`], and the reports. Every
//! public type has one path. The parts below are crate-private (public only with the
//! `internals` feature, for the workspace's benches):
//!
//! | module | what it holds |
//! | --- | --- |
//! | `engine` | [`Engine::start`] and [`EngineHandle`]: validate, fresh hit, router, view; the byte transfer of `download_package` (sha256-checked, atomic write) |
//! | `question` | one file per question family: its input, its walk over the router's flights, its typed answer |
//! | `actor` | supervisor, router (each question's life), fetch (one per upstream), health, estimator |
//! | `cache` | the shared, byte-weighted cache value (fresh hits never cross a mailbox) |
//! | `store` | the SQLite file behind it: last-known-good documents and download history across restarts |
//! | [`cpu`] | the bounded pool for CPU-heavy work on untrusted input (parsing, READMEs, the resolver): off the runtime's threads, within the deadline, cancellable |
//! | `config` | [`EngineConfig`] with the documented defaults and validation |
//! | `clock` | [`UtcClock`] and [`ClockHand`]: the engine's "now in UTC", on tokio's clock |
//!
//! The pure bottom is the crate `sentinel-core` (no tokio, reqwest, ractor, rusqlite or
//! moka), re-exported here at its old paths: `model` (validated names and versions,
//! queries, provenance, typed errors), [`views`] (answers computed from documents),
//! [`project`] (a client's project files), `policy` (pure state machines on an injected
//! `now`), `upstream` (per-upstream parsers), and the resolver, wheel tags, README
//! fitting and typo-squat rule that the views use.
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
mod clock;
mod config;
pub mod cpu;
mod engine;
mod fleet;
mod question;
mod recorder;
#[cfg(feature = "test-hooks")]
pub mod testing;

// The engine's parts below the facade: crate-private, public only with the `internals`
// feature (the workspace's benches and examples use it).
macro_rules! internal_modules {
    ($($name:ident),*) => {$(
        #[cfg(feature = "internals")]
        pub mod $name;
        #[cfg(not(feature = "internals"))]
        #[allow(unreachable_pub, dead_code, unused_imports)]
        mod $name;
    )*};
}
internal_modules!(cache, store);

// The pure bottom lives in `sentinel-core`: the engine's files import it by its own
// name (`sentinel_core::model::X`), so none of them imports this root; these keep the
// public paths (`sentinel_actors::model::X` and the `internals` feature's modules).
/// Domain types: the pure model of `sentinel-core`, plus the engine's clock.
mod model {
    pub use crate::clock::{ClockHand, UtcClock};
    pub use sentinel_core::model::*;
}
#[cfg(feature = "fleet")]
pub use fleet::{
    BreakerStatus, FleetSnapshot, L2Status, LeaseStatus, MAX_KEYS, MinuteCounts, QuotaStatus,
    ReplicaSeen, WindowStatus, fleet_status,
};
pub use fleet::{
    FleetBreaker, FleetConfig, FleetRate, FleetReport, LeaseReport, redact_url as redact_redis_url,
};
#[cfg(feature = "fleet")]
pub use fleet::{FleetSessions, MAX_SESSION_BYTES, SessionStoreError as FleetSessionError};
#[cfg(feature = "fleet")]
pub use fleet::{FleetSse, SseLogError as FleetSseError};
#[cfg(not(feature = "internals"))]
use sentinel_core::policy;
#[cfg(feature = "internals")]
pub use sentinel_core::{policy, upstream};
// The answers' modules (the audit and the resolution above the views), the project
// files, and the bounded rings of the last hour (the status page's recorder uses them).
pub use sentinel_core::{audit, project, resolver, series, views};
#[allow(unused_imports)]
use sentinel_core::{readme, tags};

pub use actor::ActorKind;
pub use actor::fetch::FetchStats;
pub use actor::health::UpstreamHealth;
#[cfg(feature = "internals")]
pub use actor::router::DocAnswer;
pub use cache::CacheStats;
pub use config::OsvExportConfig;
pub use config::{
    AuthConfig, CacheConfig, ConfigError, DownloadConfig, EngineConfig, PYPI_FILES_HOST,
    RateLimitConfig, ScanConfig, StoreConfig, SupervisionConfig, TimeoutConfig, UpstreamConfig,
    UpstreamsConfig, VulnSource, VulnerabilitiesConfig, default_user_agent,
};
pub use engine::{
    AUDIT_DEADLINE_FACTOR, Engine, EngineHandle, HealthReport, MAX_BATCH, MAX_CONTEXT_DEPS,
    MAX_SCAN_PACKAGES, MetricsSnapshot, Readiness, ScanInput, StartError, TransferProgress,
    UpstreamReport,
};
pub use engine::{OsvSyncError, OsvSyncReport};
pub use model::{
    ClockHand, Confidence, DataAsOf, Datum, DownloadError, ECHO_MAX_CHARS, ErrorCode, InputError,
    LAGGING_AFTER_DAYS, PackageName, PackageVersion, Provenance, Query, QueryError, QueryKind,
    Remembered, SourceLabel, StaleReason, StatsKind, UnavailableCause, Upstream, UtcClock,
    clip_echo, limits, untrusted,
};
pub use model::{DEPS_TARGET, FILE_TARGET, RESOLVE_TARGET, Target, TargetField, TargetOnly};
pub use model::{ItemFailure, PartialResult};
pub use policy::{
    BreakerConfig, BreakerState, ConsecutiveRule, PolicyConfigError, RetryBudgetConfig, RetryConfig,
};
pub use question::public::*;
pub use question::{Question, Walker};
pub use recorder::{
    BreakerRun, FailureNote, Incident, IncidentKind, MAX_INCIDENTS, TransitionCause, UpstreamHour,
};
pub use store::{OsvSetInfo, StoreReport, StoreState};
