//! `Engine::start(config) -> EngineHandle`: the public embedding API.
//!
//! The handle validates input, answers fresh cache hits itself (no mailbox hop), and
//! sends everything else to the RouterActor, bounded by the request deadline. Views
//! (package info, versions, downloads...) are computed here from the documents the
//! router returns, so one cached project body answers many questions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::actor::EngineShared;
use crate::actor::fetch::FetchStats;
use crate::actor::health::{HealthMsg, UpstreamHealth};
use crate::actor::router::{DocAnswer, RouterMsg, resolve_via, run_walk};
use crate::actor::supervisor::{Supervisor, SupervisorMsg};
use crate::cache::CacheStats;
use crate::config::{ConfigError, EngineConfig};
use crate::question::Question;
use crate::question::overview::{Overview, PackageOverview};
use crate::question::recent::Recent;
use crate::question::release::{ReleaseDoc, ReleaseFor, Selected};
use crate::question::resolve::{Resolve, Vulnerabilities};
use crate::question::versions::{Versions, version_list};
use crate::store::{Store, StoreReport};
use sentinel_core::model::{
    DataAsOf, Datum, InputError, PackageName, PackageVersion, PartialResult, Query, QueryError,
    StatsKind, Upstream,
};
use sentinel_core::upstream::{Document, ProjectDoc};
use sentinel_core::views::deps::{Dependencies, TargetEnv};
use sentinel_core::views::docs::tokens;
use sentinel_core::views::downloads::{Breakdown, RecentDownloads, TopPackages, Trend};
use sentinel_core::views::info::PackageInfo;
use sentinel_core::views::python::{PythonCompat, SupportedPythons};
use sentinel_core::views::versions::VersionList;

mod audit_api;
mod docs_api;
mod download_api;
#[cfg(feature = "fleet")]
mod fleet_api;
pub use download_api::TransferProgress;
mod osv_api;
pub use osv_api::{OsvSyncError, OsvSyncReport};
mod scan_api;
mod status_api;
pub use audit_api::AUDIT_DEADLINE_FACTOR;
pub use scan_api::{MAX_SCAN_PACKAGES, ScanInput};

/// The engine. See [`Engine::start`].
#[derive(Debug)]
pub struct Engine;

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration breaks a rule.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The HTTP client could not be built (e.g. no TLS roots).
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The actors could not be spawned.
    #[error("could not start the actors: {0}")]
    Spawn(String),
}

impl Engine {
    /// Validates the configuration, starts the supervisor and its actors, and returns a
    /// handle. Must be called inside a tokio runtime.
    pub async fn start(cfg: EngineConfig) -> Result<EngineHandle, StartError> {
        cfg.validate()?;
        // The tokenizer of the docs answers parses its vocabulary once: do it now, off
        // the async threads, rather than in the first docs question.
        tokio::task::spawn_blocking(tokens::warm);
        // Opening is blocking file I/O (and at most a busy timeout when another process
        // holds the file); it never fails the start: a store that cannot be used is
        // reported memory-only.
        let store_cfg = cfg.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&store_cfg))
            .await
            .map_err(|e| StartError::Spawn(format!("the store's opening panicked: {e}")))?;
        let shared = Arc::new(EngineShared::new(cfg, store)?);
        let (supervisor, join) = Actor::spawn(None, Supervisor, shared.clone())
            .await
            .map_err(|e| StartError::Spawn(e.to_string()))?;
        let warmed = spawn_warm_up(&shared);
        let handle = EngineHandle {
            inner: Arc::new(Inner {
                warmed,
                shared,
                supervisor,
                join: tokio::sync::Mutex::new(Some(join)),
                active: AtomicUsize::new(0),
                idle: Notify::new(),
                accepting: AtomicBool::new(true),
            }),
        };
        osv_api::spawn_resync(&handle);
        Ok(handle)
    }
}

/// Loads the store's most recently used documents into the cache in the background
/// (the engine answers meanwhile: a miss before they are in reads the file as usual).
/// What it loads is a copy from disk: `stale` with its true age until the upstream
/// confirms or replaces it, never `cached`. It never replaces what this run fetched.
/// The receiver turns `true` when it is done.
fn spawn_warm_up(shared: &Arc<EngineShared>) -> tokio::sync::watch::Receiver<bool> {
    let (done, warmed) = tokio::sync::watch::channel(false);
    let store = shared.store.clone();
    if !store.is_active() || shared.cfg.store.warm_up_documents == 0 {
        let _ = done.send(true);
        return warmed;
    }
    let cache = shared.cache.clone();
    tokio::spawn(async move {
        let loaded = tokio::task::spawn_blocking(move || store.warm_up(Instant::now()))
            .await
            .unwrap_or_default();
        let n = loaded.len();
        let mut kept = 0usize;
        let now = Instant::now();
        for (q, kept_copy) in loaded {
            let e = cache.kept_entry(&q, kept_copy, now);
            kept += usize::from(cache.insert_if_absent(q, Arc::new(e)));
        }
        if n > 0 {
            tracing::info!(
                loaded = n,
                kept,
                "store: warmed the cache with recently used documents"
            );
        }
        let _ = done.send(true);
    });
    warmed
}

struct Inner {
    shared: Arc<EngineShared>,
    /// `true` once the warm-up from the store is done (or there is none).
    warmed: tokio::sync::watch::Receiver<bool>,
    supervisor: ActorRef<SupervisorMsg>,
    join: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    active: AtomicUsize,
    idle: Notify,
    accepting: AtomicBool,
}

/// Dropping the last handle without `shutdown()` still stops the actor tree and any
/// queued background fetches.
impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        let _ = self.supervisor.cast(SupervisorMsg::Shutdown);
        // The writer commits what is queued: a dropped engine keeps it. The wait for
        // its end never holds a tokio worker (`block_in_place` on a multi-thread
        // runtime, the blocking pool on a current-thread one).
        self.shared
            .store
            .close_in_background(Duration::from_secs(2));
    }
}

/// A cheap-to-clone handle on a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("ready", &self.inner.shared.readiness.is_ready())
            .finish()
    }
}

/// Counts a call in flight, for graceful shutdown.
struct CallGuard<'a>(&'a Inner);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Readiness of the engine.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Readiness {
    /// Whether calls are accepted.
    pub ready: bool,
    /// Why not, when not.
    pub reason: Option<String>,
}

/// The health report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct HealthReport {
    /// Readiness.
    pub ready: bool,
    /// Why not ready, when not.
    pub reason: Option<String>,
    /// Breakers and request counters per upstream.
    pub upstreams: Vec<UpstreamReport>,
    /// Cache statistics.
    pub cache: CacheStats,
    /// Actor restarts since start.
    pub actor_restarts: u64,
    /// The store on disk: state, size, entries, errors, and a warning when it runs
    /// memory-only.
    pub store: StoreReport,
    /// The fleet's shared tier (Redis), when `[fleet]` is on. Never part of
    /// readiness: a replica is ready with Redis down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<crate::fleet::FleetReport>,
}

impl HealthReport {
    /// The report of one upstream.
    pub fn upstream(&self, up: Upstream) -> Option<&UpstreamReport> {
        self.upstreams.iter().find(|u| u.health.upstream == up)
    }
}

/// One upstream in the health report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct UpstreamReport {
    /// Breaker state and error rate.
    #[serde(flatten)]
    pub health: UpstreamHealth,
    /// Request counters.
    pub requests: FetchStats,
    /// Whether the upstream is enabled.
    pub enabled: bool,
    /// Its base URL.
    pub base_url: String,
}

/// Engine-wide counters.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct MetricsSnapshot {
    /// Calls made through the handle.
    pub calls: u64,
    /// Callers that joined an identical in-flight request.
    pub coalesced: u64,
    /// Actor restarts.
    pub actor_restarts: u64,
    /// Answers that carried estimated figures.
    pub estimates_served: u64,
    /// Breaker transitions, all upstreams.
    pub breaker_transitions: u64,
    /// Per-upstream request counters.
    pub upstreams: Vec<FetchStats>,
    /// Cache statistics.
    pub cache: CacheStats,
    /// The fleet's shared tier (Redis), when `[fleet]` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<crate::fleet::FleetReport>,
}

/// The most dependencies one docs-with-context answer summarises.
pub const MAX_CONTEXT_DEPS: usize = 30;

/// The most packages one batch call accepts.
pub const MAX_BATCH: usize = 100;

fn datum_of<T>(ans: &DocAnswer, value: T) -> Datum<T> {
    ans.datum(value)
}

/// A download datum, carrying the date of its data (the document's newest day) seen
/// from `today`.
fn dated_datum_of<T>(ans: &DocAnswer, value: T, today: i64) -> Datum<T> {
    datum_of(ans, value).dated(ans.data_date.map(|d| DataAsOf::new(d, today)))
}

fn unexpected(q: &Query) -> QueryError {
    QueryError::Internal(format!("unexpected document kind for {q}"))
}

impl EngineHandle {
    // ---- plumbing -------------------------------------------------------------------

    fn shared(&self) -> &EngineShared {
        &self.inner.shared
    }

    fn enter(&self) -> Result<CallGuard<'_>, QueryError> {
        if !self.inner.accepting.load(Ordering::Acquire) {
            return Err(QueryError::NotReady {
                reason: "the engine is shutting down".into(),
            });
        }
        if !self.shared().readiness.is_ready() {
            return Err(QueryError::NotReady {
                reason: self.shared().readiness.reason(),
            });
        }
        self.inner.active.fetch_add(1, Ordering::AcqRel);
        self.shared().counters.calls.fetch_add(1, Ordering::Relaxed);
        Ok(CallGuard(&self.inner))
    }

    fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.shared().cfg.timeouts.deadline_ms)
    }

    /// One document, by the path of docs/ARCHITECTURE.md section 2: fresh hit here, else the router.
    /// Anything past its fresh TTL may be answered stale.
    #[cfg(feature = "internals")]
    pub async fn document(&self, q: Query) -> Result<DocAnswer, QueryError> {
        let _guard = self.enter()?;
        self.document_until(q, self.deadline()).await
    }

    async fn document_until(&self, q: Query, deadline: Instant) -> Result<DocAnswer, QueryError> {
        if let Some(hit) = DocAnswer::fresh(&self.shared().cache, &q) {
            return Ok(hit);
        }
        let q2 = q.clone();
        self.via_router(deadline, move |router| {
            let q = q2.clone();
            async move { resolve_via(&router, q, deadline).await.ok() }
        })
        .await
    }

    /// Asks a question, within the answer deadline: any [`Question`] (its input was
    /// checked when it was built, e.g. [`crate::Explain::new`]), walked by the router
    /// as a task it tracks, its typed answer returned here. Dropping this future aborts
    /// the walk and its upstream requests. The one entry point a new question needs.
    pub async fn ask<Q: Question>(&self, question: Q) -> Result<Q::Answer, QueryError> {
        let _guard = self.enter()?;
        self.ask_by(question, self.deadline()).await
    }

    /// [`ask`](Self::ask) by `deadline`: the router runs the walk as a task it
    /// tracks, and the typed answer comes back here. Dropping this future aborts the
    /// walk; a router that stops mid-walk is asked once more on its successor, within
    /// the deadline.
    pub(crate) async fn ask_by<Q: Question>(
        &self,
        question: Q,
        deadline: Instant,
    ) -> Result<Q::Answer, QueryError> {
        // A part that ran out names what was left of the deadline when it began; the
        // caller waited the whole of it, so that is what the answer says.
        let whole = deadline.saturating_duration_since(Instant::now());
        let answer = self
            .via_router(deadline, move |router| {
                let question = question.clone();
                async move {
                    let (reply, answer) = tokio::sync::oneshot::channel();
                    let job = crate::question::job(question, deadline, reply);
                    match run_walk(&router, job, answer, deadline).await {
                        Ok(Some(r)) => Some(r),
                        Ok(None) => Some(Err(QueryError::DeadlineExceeded {
                            deadline_ms: whole.as_millis() as u64,
                        })),
                        Err(_) => None,
                    }
                }
            })
            .await;
        match answer {
            Err(QueryError::DeadlineExceeded { .. }) => Err(QueryError::DeadlineExceeded {
                deadline_ms: whole.as_millis() as u64,
            }),
            other => other,
        }
    }

    /// Calls the router, trying once more on its successor when it died mid-call
    /// (`None` from `call`), bounded by the deadline.
    async fn via_router<T, F, Fut>(&self, deadline: Instant, call: F) -> Result<T, QueryError>
    where
        F: Fn(ActorRef<RouterMsg>) -> Fut,
        Fut: std::future::Future<Output = Option<Result<T, QueryError>>>,
    {
        for _ in 0..2 {
            let Some(router) = self.shared().router.get() else {
                // Restarting: give the supervisor a moment, bounded by the deadline.
                if Instant::now() + Duration::from_millis(20) >= deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            match call(router).await {
                Some(r) => return r,
                None => {
                    if !self.shared().readiness.is_ready() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        if !self.shared().readiness.is_ready() {
            return Err(QueryError::NotReady {
                reason: self.shared().readiness.reason(),
            });
        }
        Err(QueryError::Internal(
            "the router restarted during the request; retry".into(),
        ))
    }

    // ---- package metadata -----------------------------------------------------------

    /// Metadata of the latest release, or of `version`.
    pub async fn package_info(
        &self,
        package: &str,
        version: Option<&str>,
    ) -> Result<Datum<PackageInfo>, QueryError> {
        self.release_view(package, version, PackageInfo::from_project)
            .await
    }

    /// A view of a release document (the project's latest, or `version`): validates
    /// the input, fetches the document by the usual path, and computes `view` from it.
    async fn release_view<T>(
        &self,
        package: &str,
        version: Option<&str>,
        view: impl FnOnce(&ProjectDoc) -> T,
    ) -> Result<Datum<T>, QueryError> {
        let name = PackageName::parse(package)?;
        let version = version.map(PackageVersion::parse).transpose()?;
        let _guard = self.enter()?;
        let ans = self
            .release_doc(&name, version.as_ref(), self.deadline())
            .await?;
        let (Document::Project(p) | Document::Release(p)) = ans.doc.as_ref() else {
            return Err(QueryError::Internal("not a release document".into()));
        };
        Ok(datum_of(&ans, view(p)))
    }

    /// Every version, sorted by PEP 440, with pre-release and yanked flags. When the
    /// JSON API cannot answer, the router falls back to the Simple API.
    pub async fn versions(&self, package: &str) -> Result<Datum<VersionList>, QueryError> {
        let name = PackageName::parse(package)?;
        let _guard = self.enter()?;
        version_list(self.ask_by(Versions(name), self.deadline()).await?)
    }

    async fn release_doc(
        &self,
        name: &PackageName,
        version: Option<&PackageVersion>,
        deadline: Instant,
    ) -> Result<DocAnswer, QueryError> {
        let q = ReleaseDoc {
            name: name.clone(),
            version: version.cloned(),
        };
        let ans = self.ask_by(q, deadline).await?;
        match ans.doc.as_ref() {
            Document::Project(_) | Document::Release(_) => Ok(ans),
            _ => Err(QueryError::Internal(format!(
                "not a release document for {name}"
            ))),
        }
    }

    /// `requires_dist` of a release, parsed, and evaluated for `env` when given.
    ///
    /// With a target Python and no version, the answer is for the release pip would
    /// pick there (the newest, not yanked, not a pre-release, whose Requires-Python
    /// admits it), and says so; asked for a release that excludes the target, it says
    /// that first.
    pub async fn dependencies(
        &self,
        package: &str,
        version: Option<&str>,
        env: Option<&TargetEnv>,
    ) -> Result<Datum<Dependencies>, QueryError> {
        let Some(env) = env else {
            return self
                .release_view(package, version, |p| Dependencies::from_project(p, None))
                .await;
        };
        let _guard = self.enter()?;
        let (ans, note) = self
            .release_for_target(package, version, env, self.deadline())
            .await?;
        let (Document::Project(p) | Document::Release(p)) = ans.doc.as_ref() else {
            return Err(QueryError::Internal("not a release document".into()));
        };
        let mut deps = Dependencies::from_project(p, Some(env));
        if let Some(n) = note {
            deps.notes.insert(0, n);
        }
        Ok(datum_of(&ans, deps))
    }

    /// The release document for a target: the one asked for (with a note when it
    /// excludes the target's Python), or the one pip would pick there.
    async fn release_for_target(
        &self,
        package: &str,
        version: Option<&str>,
        env: &TargetEnv,
        deadline: Instant,
    ) -> Result<(DocAnswer, Option<String>), QueryError> {
        let name = PackageName::parse(package)?;
        let version = version.map(PackageVersion::parse).transpose()?;
        let python = sentinel_core::views::python::parse_python_version(
            if env.assumed.iter().any(|a| a == "python_full_version") {
                &env.python_version
            } else {
                &env.python_full_version
            },
        )?;
        let question = ReleaseFor {
            name,
            version,
            python,
        };
        let Selected { doc, note } = self.ask_by(question, deadline).await?;
        Ok((doc, note))
    }

    /// Whether a release supports Python `python` (e.g. `3.12`).
    pub async fn python_compatibility(
        &self,
        package: &str,
        version: Option<&str>,
        python: &str,
    ) -> Result<Datum<PythonCompat>, QueryError> {
        let python = sentinel_core::views::python::parse_python_version(python)?;
        self.release_view(package, version, |p| PythonCompat::check(p, &python))
            .await
    }

    /// The Python versions a release supports.
    pub async fn supported_pythons(
        &self,
        package: &str,
        version: Option<&str>,
    ) -> Result<Datum<SupportedPythons>, QueryError> {
        self.release_view(package, version, SupportedPythons::from_project)
            .await
    }

    // ---- downloads ------------------------------------------------------------------

    /// Downloads over the last day, week and month, each figure with its own
    /// provenance. When pypistats' `recent` endpoint cannot answer (or is slower than
    /// the answer budget while a basis is held), the router estimates the figures from
    /// the daily series the cache holds (and pepy.tech when enabled); with no basis the
    /// call fails with the typed cause.
    pub async fn recent_downloads(&self, package: &str) -> Result<RecentDownloads, QueryError> {
        let name = PackageName::parse(package)?;
        let _guard = self.enter()?;
        self.ask_by(Recent(name), self.deadline()).await
    }

    /// Downloads by Python major or minor version, or by operating system, summed over
    /// the last `days` days.
    pub async fn download_breakdown(
        &self,
        package: &str,
        kind: StatsKind,
        days: u32,
    ) -> Result<Datum<Breakdown>, QueryError> {
        let name = PackageName::parse(package)?;
        if matches!(kind, StatsKind::Recent | StatsKind::Overall) {
            return Err(InputError {
                param: "kind",
                value: kind.endpoint().into(),
                rule: "a breakdown is python_major, python_minor or system".into(),
            }
            .into());
        }
        let days = check_days(days)?;
        let _guard = self.enter()?;
        let q = Query::Stats(name.clone(), kind);
        let ans = self.document_until(q.clone(), self.deadline()).await?;
        match ans.doc.as_ref() {
            Document::Series(s) => Ok(dated_datum_of(
                &ans,
                Breakdown::from_series(name.as_str(), kind, s, days),
                self.shared().cfg.clock.today(),
            )),
            _ => Err(unexpected(&q)),
        }
    }

    /// The daily download series over the last `days` days (at most 180), with totals
    /// and change over the period.
    pub async fn download_trend(
        &self,
        package: &str,
        days: u32,
    ) -> Result<Datum<Trend>, QueryError> {
        let name = PackageName::parse(package)?;
        let days = check_days(days)?;
        let _guard = self.enter()?;
        let q = Query::Stats(name.clone(), StatsKind::Overall);
        let ans = self.document_until(q.clone(), self.deadline()).await?;
        match ans.doc.as_ref() {
            Document::Series(s) => Ok(dated_datum_of(
                &ans,
                Trend::from_series(name.as_str(), s, days),
                self.shared().cfg.clock.today(),
            )),
            _ => Err(unexpected(&q)),
        }
    }

    /// The top `limit` packages of the 30-day ranking dataset.
    pub async fn top_packages(&self, limit: usize) -> Result<Datum<TopPackages>, QueryError> {
        let limit =
            sentinel_core::model::limits::top_limit(i64::try_from(limit).unwrap_or(i64::MAX))?;
        let _guard = self.enter()?;
        let q = Query::TopPackages;
        let ans = self.document_until(q.clone(), self.deadline()).await?;
        match ans.doc.as_ref() {
            Document::Top(t) => Ok(datum_of(&ans, TopPackages::from_doc(t, limit))),
            _ => Err(unexpected(&q)),
        }
    }

    // ---- batch ----------------------------------------------------------------------

    /// Metadata and recent downloads of several packages at once, fanned out
    /// concurrently and merged: every package that could be answered, every failure
    /// with its reason and a suggestion, and the overall source of the figures.
    pub async fn overview(
        &self,
        packages: &[String],
    ) -> Result<PartialResult<PackageOverview>, QueryError> {
        if packages.is_empty() || packages.len() > MAX_BATCH {
            return Err(InputError {
                param: "packages",
                value: format!("{} packages", packages.len()),
                rule: format!("give between 1 and {MAX_BATCH} package names"),
            }
            .into());
        }
        let _guard = self.enter()?;
        self.ask_by(Overview(packages.to_vec()), self.deadline())
            .await
    }

    // ---- dependency intelligence ------------------------------------------------------

    /// Resolves requirements for a target (Python version, platform, marker overrides;
    /// pre-releases on or off) with pubgrub over release metadata fetched through the
    /// router's flights: PEP 658 metadata files, else the per-release JSON. Each
    /// package comes with its version, the chain of requirements that pulls it in, the
    /// markers it applies under and (unless turned off) its known vulnerabilities; with
    /// no solution, the conflict in words. A node that cannot be fetched (nothing held)
    /// makes the answer `partial`, naming it. Bounded by `max_packages` and the
    /// engine's deadline.
    ///
    /// Argument errors name the parameter, the value and the rule; everything else is
    /// in the [`Resolution`](sentinel_core::resolver::Resolution).
    pub async fn resolve(
        &self,
        request: &sentinel_core::resolver::ResolveRequest,
    ) -> Result<sentinel_core::resolver::Resolution, QueryError> {
        let checked = request.validate()?;
        let _guard = self.enter()?;
        let question = Resolve {
            raw: request.clone(),
            checked,
        };
        self.ask_by(question, self.deadline()).await
    }

    /// The known vulnerabilities of a release (the latest when `version` is `None`),
    /// from PyPI's per-release JSON (OSV), with the smallest upgrade that fixes those
    /// in force.
    pub async fn vulnerabilities(
        &self,
        package: &str,
        version: Option<&str>,
    ) -> Result<Datum<sentinel_core::views::vulns::PackageVulnerabilities>, QueryError> {
        let name = PackageName::parse(package)?;
        let version = version.map(PackageVersion::parse).transpose()?;
        let _guard = self.enter()?;
        let (doc, v) = self
            .ask_by(Vulnerabilities { name, version }, self.deadline())
            .await?;
        // Dated when read from OSV's export synced earlier.
        Ok(dated_datum_of(&doc, v, self.shared().cfg.clock.today()))
    }

    // ---- operations -----------------------------------------------------------------

    /// Whether the engine takes calls.
    pub fn readiness(&self) -> Readiness {
        let ready =
            self.shared().readiness.is_ready() && self.inner.accepting.load(Ordering::Acquire);
        Readiness {
            ready,
            reason: (!ready).then(|| self.shared().readiness.reason()),
        }
    }

    /// Breakers, error rates, request counters, cache statistics and restarts.
    pub async fn health(&self) -> HealthReport {
        let sh = self.shared();
        let breakers = match sh.registry.health.get() {
            Some(h) => match h
                .call(
                    |reply| HealthMsg::Report { reply },
                    Some(Duration::from_secs(2)),
                )
                .await
            {
                Ok(CallResult::Success(r)) => Some(r),
                _ => None,
            },
            None => None,
        };
        // No inline maintenance here: /healthz must not wait for moka's evictions (the
        // maintenance task runs them off the workers every few seconds).
        // An extra index is listed only when one is configured.
        let upstreams = Upstream::ALL
            .iter()
            .filter(|up| **up != Upstream::ExtraIndex || sh.cfg.upstreams.extra_index_configured())
            .map(|up| {
                let view = sh.board.view(*up);
                let health = breakers
                    .as_ref()
                    .and_then(|b| b.iter().find(|h| h.upstream == *up).cloned())
                    .unwrap_or(UpstreamHealth {
                        upstream: *up,
                        breaker: view.state,
                        open_for_secs: None,
                        failure_rate: 0.0,
                        calls_in_window: 0,
                        consecutive_failures: 0,
                        times_opened: 0,
                    });
                let cfg = sh.cfg.upstreams.get(*up);
                UpstreamReport {
                    health,
                    requests: sh.fetch[up.index()].stats(),
                    enabled: cfg.enabled,
                    base_url: cfg.base_url.clone(),
                }
            })
            .collect();
        let r = self.readiness();
        HealthReport {
            ready: r.ready,
            reason: r.reason,
            upstreams,
            cache: sh.cache.stats(),
            actor_restarts: sh.counters.restarts.load(Ordering::Relaxed),
            store: sh.store.report(),
            fleet: sh.fleet_report(),
        }
    }

    /// A snapshot of the engine's counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        let sh = self.shared();
        let c = &sh.counters;
        MetricsSnapshot {
            calls: c.calls.load(Ordering::Relaxed),
            coalesced: c.coalesced.load(Ordering::Relaxed),
            actor_restarts: c.restarts.load(Ordering::Relaxed),
            estimates_served: c.estimates.load(Ordering::Relaxed),
            breaker_transitions: sh.board.transitions.load(Ordering::Relaxed),
            upstreams: sh.fetch.iter().map(|f| f.stats()).collect(),
            cache: self.cache_stats(),
            fleet: sh.fleet_report(),
        }
    }

    /// Cache statistics.
    pub fn cache_stats(&self) -> CacheStats {
        self.shared().cache.run_pending_tasks();
        let mut stats = self.shared().cache.stats();
        stats.store = Some(self.shared().store.report());
        stats
    }

    /// Waits until the writes sent to the store so far are on disk, up to `max`.
    /// `false` when there is no store or it did not finish in time.
    pub async fn flush_store(&self, max: Duration) -> bool {
        let store = self.shared().store.clone();
        tokio::task::spawn_blocking(move || store.flush(max))
            .await
            .unwrap_or(false)
    }

    /// Waits until the start-up warm-up from the store is done (at once when there is
    /// none), up to `max`. Whether it is done. The engine answers meanwhile; this is for
    /// tests, benchmarks and embedders that want the warm cache first.
    pub async fn warmed_up(&self, max: Duration) -> bool {
        let mut rx = self.inner.warmed.clone();
        matches!(
            tokio::time::timeout(max, rx.wait_for(|done| *done)).await,
            Ok(Ok(_))
        )
    }

    /// Drops cached entries about `package`, or everything. Returns how many went.
    pub async fn invalidate(&self, package: Option<&str>) -> Result<u64, QueryError> {
        let name = package.map(PackageName::parse).transpose()?;
        let _guard = self.enter()?;
        // The CacheActor owns the writes; while it restarts, the handle does it.
        let n = match self.shared().registry.cache.get() {
            Some(cache) => {
                let package = name.clone();
                match cache
                    .call(
                        |reply| crate::actor::cache::CacheMsg::Invalidate { package, reply },
                        Some(Duration::from_secs(1)),
                    )
                    .await
                {
                    Ok(CallResult::Success(n)) => Some(n),
                    _ => None,
                }
            }
            None => None,
        }
        .unwrap_or_else(|| self.shared().cache.invalidate(name.as_ref()));
        // The other replicas too (their memory, and the fleet's copies marked stale).
        #[cfg(feature = "fleet")]
        if let Some(f) = &self.shared().fleet {
            f.publish_invalidation(name.as_ref());
        }
        tracing::info!(
            package = name.as_ref().map(|p| p.as_str()),
            removed = n,
            "cache invalidated"
        );
        Ok(n)
    }

    /// Stops taking calls, waits for calls in flight up to the grace period, then stops
    /// the actors. Idempotent.
    pub async fn shutdown(&self) {
        self.inner.accepting.store(false, Ordering::Release);
        let grace = Duration::from_millis(self.shared().cfg.shutdown_grace_ms);
        let wait_idle = async {
            loop {
                let notified = self.inner.idle.notified();
                if self.inner.active.load(Ordering::Acquire) == 0 {
                    break;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(grace, wait_idle).await.is_err() {
            tracing::warn!(
                in_flight = self.inner.active.load(Ordering::Acquire),
                "shutdown grace period over; stopping with calls in flight"
            );
        }
        self.shared().shutdown.cancel();
        let _ = self.inner.supervisor.cast(SupervisorMsg::Shutdown);
        if let Some(join) = self.inner.join.lock().await.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), join).await;
        }
        let store = self.shared().store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close(Duration::from_secs(5))).await;
        self.shared().readiness.set_not_ready("shut down");
    }

    /// Calls in flight through this handle (and its clones).
    pub fn in_flight(&self) -> usize {
        self.inner.active.load(Ordering::Acquire)
    }

    /// Test hook: make every cached entry `by` older (see [`crate::cache::SharedCache::age_all`]).
    #[cfg(feature = "test-hooks")]
    pub fn age_cache(&self, by: Duration) {
        self.shared().cache.age_all(by);
    }

    /// Waits until no query is in flight in the router (background refreshes
    /// included), up to `max`. For tests.
    #[cfg(feature = "test-hooks")]
    pub async fn settle(&self, max: Duration) -> bool {
        let end = Instant::now() + max;
        while Instant::now() < end {
            let Some(router) = self.shared().router.get() else {
                return false;
            };
            match router
                .call(
                    |reply| RouterMsg::InFlight { reply },
                    Some(Duration::from_secs(1)),
                )
                .await
            {
                Ok(CallResult::Success(0)) => return true,
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
        false
    }

    /// Runs the CacheActor's refresh-ahead pass now (it runs on its own timer too):
    /// how many refreshes it asked the router for (`None` while it restarts). For
    /// tests.
    #[cfg(feature = "test-hooks")]
    pub async fn refresh_ahead_now(&self) -> Option<usize> {
        use crate::actor::cache::CacheMsg;
        let cache = self.shared().registry.cache.get()?;
        match cache
            .call(
                |reply| CacheMsg::RefreshAheadNow { reply },
                Some(Duration::from_secs(1)),
            )
            .await
        {
            Ok(CallResult::Success(n)) => Some(n),
            _ => None,
        }
    }

    /// Holds the CacheActor's mailbox until the returned sender answers (`true`: it
    /// then panics, dropping the fills waiting in its mailbox; `false` or dropping the
    /// sender: it goes on). `None` while it restarts. For tests of the fill path.
    #[cfg(feature = "test-hooks")]
    pub async fn stall_cache_actor(&self) -> Option<tokio::sync::oneshot::Sender<bool>> {
        use crate::actor::cache::CacheMsg;
        let cache = self.shared().registry.cache.get()?;
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let (release_tx, release) = tokio::sync::oneshot::channel();
        cache
            .cast(CacheMsg::Stall {
                started: started_tx,
                release,
            })
            .ok()?;
        started.await.ok()?;
        Some(release_tx)
    }

    /// How many question walks the router runs now (`None` while it restarts). For
    /// tests.
    #[cfg(feature = "test-hooks")]
    pub async fn walks_running(&self) -> Option<usize> {
        let router = self.shared().router.get()?;
        match router
            .call(
                |reply| RouterMsg::WalksRunning { reply },
                Some(Duration::from_secs(1)),
            )
            .await
        {
            Ok(CallResult::Success(n)) => Some(n),
            _ => None,
        }
    }

    /// Test hook: make one actor panic inside its handler, to exercise supervision.
    #[cfg(feature = "test-hooks")]
    pub fn inject_actor_panic(&self, kind: crate::actor::ActorKind) {
        let _ = self.inner.supervisor.cast(SupervisorMsg::CrashChild(kind));
    }

    /// How many packages' calibrations the estimator holds (`None` while it
    /// restarts). For tests.
    #[cfg(feature = "test-hooks")]
    pub async fn calibrations_held(&self) -> Option<u64> {
        use crate::actor::estimator::EstimatorMsg;
        let estimator = self.shared().registry.estimator.get()?;
        match estimator
            .call(
                |reply| EstimatorMsg::Count { reply },
                Some(Duration::from_secs(1)),
            )
            .await
        {
            Ok(CallResult::Success(n)) => Some(n),
            _ => None,
        }
    }
}

fn check_days(days: u32) -> Result<u32, QueryError> {
    Ok(sentinel_core::model::limits::days(days.into())?)
}
