//! The resolve walk: fetches what the solver needs through the router's own flights
//! (so coalescing, the breaker, rate limits, stale copies and provenance all apply),
//! many at once, and runs the solver ([`sentinel_core::resolver`]) again until it
//! answers.
//!
//! - Candidates of a project: its Simple API page (PEP 691).
//! - Metadata of a release, the first of these that answers: the PEP 658 metadata file
//!   of a wheel whose `core-metadata` says it exists; the per-release JSON; the
//!   `METADATA` inside one of its wheels (a pure-Python one first), read with range
//!   requests by the files upstream (`actor/http/wheel.rs`), for a mirror or private
//!   index that serves neither. Each package says which (`metadata_from`).
//! - Before the first run, the requirements are walked along the newest admissible
//!   candidates (what the solver will most likely pick) as a pipeline: a candidate's
//!   dependencies' pages are asked for as soon as its metadata arrives, everything in
//!   flight at once within the fetch layer's limits; after that each run names what it
//!   missed and what it foresees, fetched together.
//! - Vulnerabilities of the chosen releases: their per-release JSON (kept when it
//!   already served as metadata), OSV, or both, as configured (`vulns`), in parallel.
//!
//! A document that cannot be fetched and has no held copy makes its node missing (a
//! partial answer naming it), never a different version picked in silence.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt, join_all};
use futures::stream::{FuturesUnordered, StreamExt};
use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, PackageName as ReqName, Requirement, VerbatimUrl};
use tokio::time::Instant;

use super::{Question, Walker};
use crate::actor::router::DocAnswer;
use crate::config::VulnSource;
use sentinel_core::model::{
    MetadataFile, PackageName, PackageVersion, Provenance, Query, QueryError, SourceLabel,
};
use sentinel_core::resolver::{
    Candidate, Candidates, Held, Meta, MetaState, Need, ProjectState, Resolution, ResolutionStatus,
    ResolveRequest, ResolveStats, ResolvedPackage, Solution, SolveOutcome, Validated,
    best_candidate, chains, edges, solve,
};
use sentinel_core::upstream::{Document, SimpleDoc};
use sentinel_core::views::vulns::PackageVulnerabilities;

/// A dependency resolution: the request as given, and as checked.
#[derive(Debug, Clone)]
pub(crate) struct Resolve {
    pub(crate) raw: ResolveRequest,
    pub(crate) checked: Validated,
}

impl Question for Resolve {
    type Answer = Resolution;

    async fn walk(self, w: &Walker, deadline: Instant) -> Result<Resolution, QueryError> {
        Ok(resolve(w, &self.raw, &self.checked, deadline).await)
    }
}

/// The known vulnerabilities of a release (the latest when no version).
#[derive(Debug, Clone)]
pub(crate) struct Vulnerabilities {
    pub(crate) name: PackageName,
    pub(crate) version: Option<PackageVersion>,
}

impl Question for Vulnerabilities {
    type Answer = (DocAnswer, PackageVulnerabilities);

    async fn walk(self, w: &Walker, deadline: Instant) -> Result<Self::Answer, QueryError> {
        vulnerabilities(w, self.name, self.version, deadline).await
    }
}

/// Most solver runs of one resolution (each after a fetch).
const MAX_RUNS: u32 = 1000;

/// What the fetches learnt besides the held set: labels, stale reasons, the release
/// documents already fetched (for vulnerabilities).
#[derive(Default)]
struct Log {
    labels: Vec<SourceLabel>,
    stale: BTreeSet<String>,
    fallbacks: BTreeSet<String>,
    releases: HashMap<(ReqName, Version), DocAnswer>,
}

impl Log {
    fn saw(&mut self, p: &Provenance) {
        self.labels.push(p.label());
        if let Provenance::Stale { reason } = p {
            self.stale.insert(reason.clone());
        }
    }
}

fn model_name(n: &ReqName) -> Result<PackageName, QueryError> {
    PackageName::parse(n.as_ref()).map_err(QueryError::from)
}

/// What the files of one version say, gathered from a Simple API page.
#[derive(Default)]
struct Files {
    count: usize,
    yanked: usize,
    requires_python: Option<String>,
    metadata_file: Option<MetadataFile>,
}

/// Candidates from a Simple API page: one per version with files, newest first.
fn candidates(doc: &SimpleDoc) -> Vec<Candidate> {
    let mut by_version: HashMap<Version, Files> = HashMap::new();
    for f in &doc.files {
        let Some(v) = f.version().and_then(|v| Version::from_str(v).ok()) else {
            continue;
        };
        let e = by_version.entry(v).or_default();
        e.count += 1;
        if f.is_yanked() {
            e.yanked += 1;
        }
        if e.requires_python.is_none() {
            e.requires_python = f.requires_python.clone().filter(|s| !s.trim().is_empty());
        }
        if e.metadata_file.is_none() && f.is_wheel() {
            e.metadata_file = f.metadata_file();
        }
    }
    let mut out: Vec<Candidate> = by_version
        .into_iter()
        .map(|(version, f)| Candidate {
            version,
            yanked: f.count > 0 && f.yanked == f.count,
            requires_python: f
                .requires_python
                .and_then(|r| VersionSpecifiers::from_str(&r).ok()),
            metadata_file: f.metadata_file,
        })
        .collect();
    out.sort_by(|a, b| b.version.cmp(&a.version));
    out
}

async fn fetch_project(
    w: &Walker,
    name: &ReqName,
    deadline: Instant,
) -> (ProjectState, Option<Provenance>) {
    let q = match model_name(name) {
        Ok(n) => Query::Simple(n),
        Err(e) => return (ProjectState::Failed(e.reason()), None),
    };
    match w.doc(q, deadline).await {
        Ok(ans) => match ans.doc.as_ref() {
            Document::Simple(s) => (
                ProjectState::Held(Arc::new(Candidates::new(candidates(s)))),
                Some(ans.provenance.clone()),
            ),
            _ => (ProjectState::Failed("not a Simple API page".into()), None),
        },
        Err(QueryError::NotFound { .. }) => (ProjectState::NotFound, None),
        Err(e) => (ProjectState::Failed(e.reason()), None),
    }
}

async fn fetch_meta(
    w: &Walker,
    name: &ReqName,
    version: &Version,
    file: Option<MetadataFile>,
    deadline: Instant,
) -> (MetaState, Option<DocAnswer>, Option<String>) {
    let (n, v) = match (
        model_name(name),
        PackageVersion::parse(&version.to_string()),
    ) {
        (Ok(n), Ok(v)) => (n, v),
        (Err(e), _) => return (MetaState::Failed(e.reason()), None, None),
        (_, Err(e)) => return (MetaState::Failed(QueryError::from(e).reason()), None, None),
    };
    let mut fallback = None;
    if let Some(file) = file {
        match super::metadata::host_allowed(w, &n, &file.url) {
            // A file on a host the rule refuses is not asked for at all.
            Err(why) => {
                fallback = Some(format!(
                    "the metadata file of {name} {version} was not fetched: {why}"
                ));
            }
            Ok(()) => match w
                .doc(Query::CoreMetadata(n.clone(), v.clone(), file), deadline)
                .await
            {
                Ok(ans) => {
                    if let Document::Metadata(m) = ans.doc.as_ref() {
                        let meta = Meta::new(
                            &m.requires_dist,
                            m.requires_python.clone(),
                            m.provides_extra.clone(),
                            super::metadata::FROM_METADATA_FILE,
                            ans.provenance.clone(),
                        );
                        return (MetaState::Held(Arc::new(meta)), None, None);
                    }
                }
                // A file that does not match the hash the index gives (or fails) is
                // not used; the release's other sources are asked, and the node says so.
                Err(e) => {
                    fallback = Some(format!(
                        "the metadata file of {name} {version} failed ({})",
                        e.reason()
                    ));
                }
            },
        }
    }
    if fallback.is_none()
        && let Some(ans) = super::metadata::wheel_held(w, &n, &v).await
        && let Document::Metadata(m) = ans.doc.as_ref()
    {
        // Read out of a wheel by an earlier run and immutable: nothing to ask.
        let meta = Meta::new(
            &m.requires_dist,
            m.requires_python.clone(),
            m.provides_extra.clone(),
            super::metadata::FROM_WHEEL,
            ans.provenance.clone(),
        );
        return (MetaState::Held(Arc::new(meta)), None, None);
    }
    // This index has shown it serves no per-release JSON: a wheel first.
    let mut wheel_failed = None;
    if w.no_release_json.load(std::sync::atomic::Ordering::Relaxed) {
        match super::metadata::from_files(w, &n, &v, deadline).await {
            Ok((ans, from)) => return (wheel_meta(&ans, from), None, read_from(fallback, from)),
            Err(why) => wheel_failed = Some(why),
        }
    }
    let release_failed = match w.doc(Query::Release(n.clone(), v.clone()), deadline).await {
        Ok(ans) => match ans.doc.as_ref() {
            Document::Release(p) | Document::Project(p) => {
                let meta = Meta::new(
                    p.info.requires_dist.as_deref().unwrap_or_default(),
                    p.info.requires_python.clone(),
                    p.info.provides_extra.clone().unwrap_or_default(),
                    "release-json",
                    ans.provenance.clone(),
                );
                let note = read_from(fallback, "release-json");
                return (MetaState::Held(Arc::new(meta)), Some(ans), note);
            }
            _ => "not a release document".to_string(),
        },
        Err(e) => {
            if matches!(e, QueryError::NotFound { .. }) {
                w.no_release_json
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            e.reason()
        }
    };
    // No metadata file and no per-release JSON (a mirror or a private index): the
    // METADATA inside one of the release's wheels.
    let wheel = match wheel_failed {
        Some(why) => Err(why),
        None => super::metadata::from_files(w, &n, &v, deadline).await,
    };
    match wheel {
        Ok((ans, from)) => (wheel_meta(&ans, from), None, read_from(fallback, from)),
        Err(why) => (
            MetaState::Failed(format!("{release_failed}; {why}")),
            None,
            fallback,
        ),
    }
}

/// The note that the metadata file was passed over, ending with where the metadata
/// came from instead (`from`: the node's `metadata_from`).
fn read_from(fallback: Option<String>, from: &str) -> Option<String> {
    let source = match from {
        "release-json" => "the per-release JSON",
        super::metadata::FROM_WHEEL => "the wheel's METADATA",
        super::metadata::FROM_SDIST => "the sdist's PKG-INFO",
        _ => "the next source",
    };
    fallback.map(|f| format!("{f}; read from {source}"))
}

/// The metadata read out of a wheel or an sdist (`from` says which).
fn wheel_meta(ans: &DocAnswer, from: &'static str) -> MetaState {
    match ans.doc.as_ref() {
        Document::Metadata(m) => MetaState::Held(Arc::new(Meta::new(
            &m.requires_dist,
            m.requires_python.clone(),
            m.provides_extra.clone(),
            from,
            ans.provenance.clone(),
        ))),
        _ => MetaState::Failed("not a METADATA document".into()),
    }
}

/// What one metadata fetch gave: the state, the release document when it was the
/// per-release JSON, and a fallback note.
type MetaFetch = (MetaState, Option<DocAnswer>, Option<String>);

fn record_page(
    held: &mut Held,
    log: &mut Log,
    p: ReqName,
    (state, prov): (ProjectState, Option<Provenance>),
) {
    if let Some(prov) = prov {
        log.saw(&prov);
    }
    held.projects.insert(p, state);
}

fn record_meta(
    held: &mut Held,
    log: &mut Log,
    p: ReqName,
    v: Version,
    (state, release, fallback): MetaFetch,
) {
    if let MetaState::Held(m) = &state {
        log.saw(&m.provenance);
    }
    if let Some(f) = fallback {
        log.fallbacks.insert(f);
    }
    if let Some(r) = release {
        log.releases.insert((p.clone(), v.clone()), r);
    }
    held.metas.insert((p, v), state);
}

/// Fetches every need at once (a release's page first when it is not held).
async fn fetch_all(
    w: &Walker,
    held: &mut Held,
    log: &mut Log,
    needs: Vec<Need>,
    deadline: Instant,
) {
    let mut projects: Vec<ReqName> = Vec::new();
    let mut metas: Vec<(ReqName, Version, Option<MetadataFile>)> = Vec::new();
    for n in needs {
        match n {
            Need::Project(p) => {
                if !held.projects.contains_key(&p) && !projects.contains(&p) {
                    projects.push(p);
                }
            }
            Need::Metadata(p, v, f) => {
                if !held.metas.contains_key(&(p.clone(), v.clone()))
                    && !metas.iter().any(|(a, b, _)| a == &p && b == &v)
                {
                    metas.push((p, v, f));
                }
            }
        }
    }
    let pages = join_all(projects.iter().map(|p| fetch_project(w, p, deadline)));
    let files = join_all(
        metas
            .iter()
            .map(|(p, v, f)| fetch_meta(w, p, v, f.clone(), deadline)),
    );
    let (pages, files) = tokio::join!(pages, files);
    for (p, page) in projects.into_iter().zip(pages) {
        record_page(held, log, p, page);
    }
    for ((p, v, _), got) in metas.into_iter().zip(files) {
        record_meta(held, log, p, v, got);
    }
}

/// A prefetch fetch that came back.
enum Fetched {
    Page(ReqName, (ProjectState, Option<Provenance>)),
    Meta(ReqName, Version, MetaFetch),
}

/// The prefetch's pipeline: what is in flight and what is waiting on it.
struct Pipeline<'w> {
    w: &'w Walker,
    deadline: Instant,
    tasks: FuturesUnordered<BoxFuture<'w, Fetched>>,
    /// Projects followed (each once, along its first requirement seen).
    seen: HashSet<ReqName>,
    /// Requirements whose project page is in flight.
    waiting: HashMap<ReqName, Requirement<VerbatimUrl>>,
    /// Releases whose metadata was asked for, and the extras to follow in each.
    picked: HashMap<(ReqName, Version), Vec<ExtraName>>,
}

impl<'w> Pipeline<'w> {
    /// Follows a requirement: its page, then (see [`Self::pick`]) its newest admissible
    /// release's metadata.
    fn want(&mut self, r: Requirement<VerbatimUrl>, held: &Held, req: &Validated) {
        if !self.seen.insert(r.name.clone()) {
            return;
        }
        if held.projects.contains_key(&r.name) {
            return self.pick(&r, held, req);
        }
        let (w, deadline, name) = (self.w, self.deadline, r.name.clone());
        self.waiting.insert(r.name.clone(), r);
        self.tasks.push(
            async move {
                let got = fetch_project(w, &name, deadline).await;
                Fetched::Page(name, got)
            }
            .boxed(),
        );
    }

    /// Asks for the metadata of the newest candidate `r` admits, once per release and
    /// never past `max_packages` releases.
    fn pick(&mut self, r: &Requirement<VerbatimUrl>, held: &Held, req: &Validated) {
        let Some(ProjectState::Held(cands)) = held.projects.get(&r.name) else {
            return;
        };
        let Some(c) = best_candidate(cands, r, req) else {
            return;
        };
        let key = (r.name.clone(), c.version.clone());
        if self.picked.contains_key(&key) || self.picked.len() >= req.max_packages {
            return;
        }
        self.picked.insert(key, r.extras.clone());
        let (w, deadline) = (self.w, self.deadline);
        let (name, version, file) = (r.name.clone(), c.version.clone(), c.metadata_file.clone());
        self.tasks.push(
            async move {
                let got = fetch_meta(w, &name, &version, file, deadline).await;
                Fetched::Meta(name, version, got)
            }
            .boxed(),
        );
    }
}

/// Walks the requirements along the newest admissible candidates (what the solver
/// will most likely pick) as a pipeline: as soon as a page arrives its candidate's
/// metadata is asked for, and as soon as that arrives its dependencies' pages, so
/// nothing waits for a whole level. Each document is asked for once; the fetch layer's
/// limits bound how many go at once; nothing is started past the deadline. Dropping
/// the walk drops every fetch in flight.
async fn prefetch(w: &Walker, req: &Validated, held: &mut Held, log: &mut Log, deadline: Instant) {
    let mut pipe = Pipeline {
        w,
        deadline,
        tasks: FuturesUnordered::new(),
        seen: HashSet::new(),
        waiting: HashMap::new(),
        picked: HashMap::new(),
    };
    for r in req
        .roots
        .iter()
        .filter(|r| r.marker.evaluate(&req.markers, &[]))
    {
        pipe.want(r.clone(), held, req);
    }
    while let Ok(Some(got)) = tokio::time::timeout_at(deadline, pipe.tasks.next()).await {
        match got {
            Fetched::Page(name, page) => {
                record_page(held, log, name.clone(), page);
                if let Some(r) = pipe.waiting.remove(&name) {
                    pipe.pick(&r, held, req);
                }
            }
            Fetched::Meta(name, version, meta) => {
                record_meta(held, log, name.clone(), version.clone(), meta);
                let key = (name, version);
                let Some(MetaState::Held(m)) = held.metas.get(&key) else {
                    continue;
                };
                let (m, extras) = (
                    m.clone(),
                    pipe.picked.get(&key).cloned().unwrap_or_default(),
                );
                for d in &m.requires {
                    if d.marker.evaluate(&req.markers, &extras) {
                        pipe.want(d.clone(), held, req);
                    }
                }
            }
        }
    }
}

/// One solver run on the CPU pool (never on the runtime's threads), stopped by the
/// deadline or when the awaiting resolution is dropped (its caller went away).
async fn solve_on_pool(
    pool: &crate::cpu::CpuPool,
    held: &Arc<Held>,
    req: &Arc<Validated>,
    deadline: Instant,
) -> SolveOutcome {
    let (held, req) = (held.clone(), req.clone());
    match pool
        .run(deadline, move |flag| solve(&held, &req, flag))
        .await
    {
        Ok(outcome) => outcome,
        Err(crate::cpu::CpuError::Deadline) => SolveOutcome::Interrupted(
            "the resolution ran out of time (the engine's deadline)".into(),
        ),
        Err(crate::cpu::CpuError::Panicked) => {
            SolveOutcome::Interrupted("the solver failed (a bug); retry, or report it".into())
        }
        Err(crate::cpu::CpuError::NoThread) => SolveOutcome::Interrupted(
            "no thread could be started for the solver (the system's limit); retry".into(),
        ),
    }
}

/// What a solved resolution was computed from, for questions over its graph (the
/// edges come from [`edges`], the one place they are built).
pub(crate) struct Solved {
    pub(crate) held: Arc<Held>,
    pub(crate) sol: Solution,
}

/// Resolves `raw` (checked as `req`) by the chain described in the module docs.
async fn resolve(
    w: &Walker,
    raw: &ResolveRequest,
    req: &Validated,
    deadline: Instant,
) -> Resolution {
    resolve_solved(w, raw, req, deadline).await.0
}

/// [`resolve`], with what it was solved from when it was.
pub(crate) async fn resolve_solved(
    w: &Walker,
    raw: &ResolveRequest,
    req: &Validated,
    deadline: Instant,
) -> (Resolution, Option<Solved>) {
    let started = Instant::now();
    // What could not be fetched makes an honest partial answer, not a deadline error.
    let deadline = Walker::parts_deadline(deadline);
    let mut held = Held::default();
    let mut log = Log::default();
    let mut stats = ResolveStats::default();
    prefetch(w, req, &mut held, &mut log, deadline).await;
    let shared_req = Arc::new(req.clone());
    let mut held = Arc::new(held);
    let outcome = loop {
        stats.solver_runs += 1;
        let outcome = solve_on_pool(crate::cpu::pool(), &held, &shared_req, deadline).await;
        match outcome {
            SolveOutcome::Need(needs)
                if stats.solver_runs < MAX_RUNS && Instant::now() < deadline =>
            {
                // The run has returned, so this is the only handle: no copy is made.
                let held = Arc::make_mut(&mut held);
                fetch_all(w, held, &mut log, needs, deadline).await;
            }
            SolveOutcome::Need(needs) => {
                break SolveOutcome::Interrupted(format!(
                    "the resolution ran out of {} before fetching {}",
                    if Instant::now() >= deadline {
                        "time (the engine's deadline)"
                    } else {
                        "solver runs"
                    },
                    describe_need(&needs[0])
                ));
            }
            other => break other,
        }
    };
    stats.projects = held.projects.len();
    stats.metadata = held.metas.len();
    let skipped: Vec<String> = req
        .roots
        .iter()
        .filter(|r| !r.marker.evaluate(&req.markers, &[]))
        .map(|r| format!("{r} (its markers exclude the target)"))
        .collect();
    let mut notes = Vec::new();
    if !req.env.assumed.is_empty() {
        notes.push(format!(
            "markers evaluated for CPython {} on {:?}, assuming {} (override them to be exact)",
            req.env.python_full_version,
            req.env.platform,
            req.env
                .assumed
                .iter()
                .map(|k| match req.env.markers.get(k) {
                    Some(v) => format!("{k}={v}"),
                    None => format!("{k}={}", req.env.python_full_version),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for s in &log.stale {
        notes.push(format!("served from metadata the engine already held: {s}"));
    }
    notes.extend(log.fallbacks.iter().cloned());
    let mut resolution = Resolution {
        status: ResolutionStatus::Resolved,
        requirements: raw.requirements.clone(),
        target: req.env.clone(),
        prereleases: req.prereleases,
        packages: Vec::new(),
        conflict: None,
        missing: Vec::new(),
        skipped,
        source: SourceLabel::merge(log.labels.iter().copied()),
        notes,
        stats,
    };
    let mut solved = None;
    match outcome {
        SolveOutcome::Solved(mut sol) => {
            let graph = edges(&held, req, &sol);
            let chains = chains(&graph);
            for (n, v) in &sol.versions {
                let meta = match held.metas.get(&(n.clone(), v.clone())) {
                    Some(MetaState::Held(m)) => Some(m.clone()),
                    _ => None,
                };
                let cand = match held.projects.get(n) {
                    Some(ProjectState::Held(c)) => c.iter().find(|c| &c.version == v).cloned(),
                    _ => None,
                };
                let (required_by, markers) = chains.get(n).cloned().unwrap_or_default();
                resolution.packages.push(ResolvedPackage {
                    name: n.to_string(),
                    version: v.to_string(),
                    extras: sol
                        .extras
                        .get(n)
                        .map(|e| e.iter().map(ToString::to_string).collect())
                        .unwrap_or_default(),
                    required_by,
                    markers,
                    yanked: cand.as_ref().is_some_and(|c| c.yanked),
                    requires_python: meta.as_ref().and_then(|m| m.requires_python.clone()),
                    metadata_from: meta.as_ref().map_or("unavailable", |m| m.from).to_string(),
                    provenance: meta.as_ref().map_or(
                        Provenance::Unavailable {
                            reason: "its metadata could not be fetched".into(),
                            suggestion: "retry when the index answers".into(),
                        },
                        |m| m.provenance.clone(),
                    ),
                    vulnerabilities: None,
                    vulnerabilities_unavailable: None,
                });
                if let (Some(m), Some(asked)) = (&meta, sol.extras.get(n)) {
                    let named: Vec<String> = m
                        .requires
                        .iter()
                        .flat_map(|r| {
                            asked
                                .iter()
                                .filter(|e| {
                                    !r.marker.evaluate_extras(&[])
                                        && r.marker.evaluate_extras(std::slice::from_ref(*e))
                                })
                                .map(ToString::to_string)
                        })
                        .collect();
                    for e in asked {
                        let e = e.to_string();
                        if !m.provides_extra.contains(&e) && !named.contains(&e) {
                            resolution.notes.push(format!(
                                "unknown extra {e:?}: {n} {v} does not provide it (ignored)"
                            ));
                        }
                    }
                }
                if let Some(m) = &meta
                    && !m.unparsed.is_empty()
                {
                    resolution.notes.push(format!(
                        "{n} {v}: requirements that could not be read were ignored (what they require is not in the answer): {}",
                        m.unparsed.join("; ")
                    ));
                }
            }
            for p in &resolution.packages {
                if p.yanked {
                    resolution.notes.push(format!(
                        "{} {} is yanked (pinned exactly)",
                        p.name, p.version
                    ));
                }
            }
            resolution.missing = std::mem::take(&mut sol.missing);
            if !resolution.missing.is_empty() {
                resolution.status = ResolutionStatus::Partial;
                resolution.source = SourceLabel::merge(
                    log.labels.iter().copied().chain([SourceLabel::Unavailable]),
                );
                for m in &resolution.missing {
                    resolution.notes.push(format!(
                        "partial: {}{} could not be fetched ({}); what it would pull in is not in the answer",
                        m.package,
                        m.version.as_ref().map(|v| format!(" {v}")).unwrap_or_default(),
                        m.reason
                    ));
                }
            }
            if req.vulnerabilities {
                attach_vulnerabilities(w, &held, &mut log, &mut resolution, deadline).await;
            }
            solved = Some(Solved { held, sol });
        }
        SolveOutcome::NoSolution { report, hints } => {
            resolution.status = ResolutionStatus::NoSolution;
            resolution.conflict = Some(report);
            resolution.notes.extend(hints);
        }
        SolveOutcome::Interrupted(why) => {
            resolution.status = ResolutionStatus::Incomplete;
            resolution.notes.push(why);
        }
        SolveOutcome::Need(_) => unreachable_need(&mut resolution),
    }
    resolution.stats.elapsed_ms = started.elapsed().as_millis() as u64;
    (resolution, solved)
}

fn unreachable_need(r: &mut Resolution) {
    r.status = ResolutionStatus::Incomplete;
    r.notes
        .push("the resolution stopped before it had every document it needed".into());
}

fn describe_need(n: &Need) -> String {
    match n {
        Need::Project(p) => format!("the release list of {p}"),
        Need::Metadata(p, v, _) => format!("the metadata of {p} {v}"),
    }
}

/// The release list of a held project, for "smallest published fix".
fn published(held: &Held, name: &ReqName) -> Option<Vec<(Version, bool)>> {
    match held.projects.get(name) {
        Some(ProjectState::Held(c)) => {
            Some(c.iter().map(|c| (c.version.clone(), c.yanked)).collect())
        }
        _ => None,
    }
}

async fn attach_vulnerabilities(
    w: &Walker,
    held: &Held,
    log: &mut Log,
    r: &mut Resolution,
    deadline: Instant,
) {
    let jobs = r.packages.iter().map(|p| {
        let name = ReqName::from_str(&p.name).ok();
        let version = Version::from_str(&p.version).ok();
        let kept = match (&name, &version) {
            (Some(n), Some(v)) => log.releases.get(&(n.clone(), v.clone())).cloned(),
            _ => None,
        };
        let list = name.as_ref().and_then(|n| published(held, n));
        let (pn, pv) = (p.name.clone(), p.version.clone());
        async move {
            let n = PackageName::parse(&pn)?;
            let v = PackageVersion::parse(&pv)?;
            // The resolver chose it from the Simple page: the release exists.
            super::vulns::of_release(w, &n, &v, kept.map(Ok), list.as_deref(), true, deadline).await
        }
    });
    let answers = join_all(jobs).await;
    let mut failed = Vec::new();
    for (p, ans) in r.packages.iter_mut().zip(answers) {
        match ans {
            Ok((_, mut v)) => {
                v.package = p.name.clone();
                p.vulnerabilities = Some(v);
            }
            Err(e) => {
                failed.push(format!("{} {}: {}", p.name, p.version, e.reason()));
                p.vulnerabilities_unavailable =
                    Some(sentinel_core::model::ItemFailure::from_error(
                        format!("{} {}/vulnerabilities", p.name, p.version),
                        &e,
                    ));
            }
        }
    }
    let vulnerable: Vec<String> = r
        .packages
        .iter()
        .filter_map(|p| {
            let v = p.vulnerabilities.as_ref()?;
            (v.active > 0).then(|| format!("{} {} ({})", p.name, p.version, v.active))
        })
        .collect();
    if !vulnerable.is_empty() {
        r.notes.push(format!(
            "known vulnerabilities in the resolved set: {}",
            vulnerable.join(", ")
        ));
    }
    if !failed.is_empty() {
        r.notes.push(format!(
            "vulnerabilities could not be fetched for {}",
            failed.join("; ")
        ));
    }
}

/// The vulnerabilities of a release (the latest when `version` is `None`), with the
/// release list from the Simple page (or the project body) for the smallest fix.
async fn vulnerabilities(
    w: &Walker,
    name: PackageName,
    version: Option<PackageVersion>,
    deadline: Instant,
) -> Result<(DocAnswer, PackageVulnerabilities), QueryError> {
    let page = w.doc(Query::Simple(name.clone()), deadline);
    // Answered from OSV's synced export: no per-release (or project) JSON is asked.
    let offline = super::vulns::offline_ready(w).await;
    let release = async {
        match &version {
            _ if offline => None,
            Some(v) if w.args.cfg.vulnerabilities.source != VulnSource::Osv => Some(
                w.doc(Query::Release(name.clone(), v.clone()), deadline)
                    .await,
            ),
            Some(_) => None,
            None => Some(w.doc(Query::Project(name.clone()), deadline).await),
        }
    };
    let (release, page) = tokio::join!(release, page);
    let list: Option<Vec<(Version, bool)>> = match &page {
        Ok(ans) => match ans.doc.as_ref() {
            Document::Simple(s) => Some(
                candidates(s)
                    .into_iter()
                    .map(|c| (c.version, c.yanked))
                    .collect(),
            ),
            _ => None,
        },
        Err(_) => None,
    };
    let version = match version {
        Some(v) => v,
        None => {
            // The latest: the project body lists its advisories. On an index without
            // the JSON API, the newest release the Simple page lists.
            let project = release.unwrap_or_else(|| {
                Err(QueryError::NotFound {
                    what: format!("the project JSON of {name} (not asked: offline)"),
                    upstream: sentinel_core::model::Upstream::PypiJson,
                })
            });
            let newest = list.as_ref().and_then(|l| {
                l.iter()
                    .filter(|(v, y)| !y && !v.any_prerelease())
                    .map(|(v, _)| v)
                    .max()
                    .and_then(|v| PackageVersion::parse(&v.to_string()).ok())
            });
            return match (project, newest) {
                (Err(QueryError::NotFound { .. }), Some(v)) => {
                    super::vulns::of_release(w, &name, &v, None, list.as_deref(), true, deadline)
                        .await
                }
                (project, _) => {
                    // Offline, the release list is the Simple page's: its failure is why.
                    if let (true, Err(e)) = (offline, &page) {
                        return Err(e.clone());
                    }
                    let release = project?;
                    let (Document::Release(doc) | Document::Project(doc)) = release.doc.as_ref()
                    else {
                        return Err(QueryError::Internal("not a release document".into()));
                    };
                    let list =
                        list.or_else(|| sentinel_core::views::vulns::published_releases(doc));
                    let v = super::vulns::of_release(
                        w,
                        &name,
                        &PackageVersion::parse(&doc.info.version)?,
                        Some(Ok(release.clone())),
                        list.as_deref(),
                        true,
                        deadline,
                    )
                    .await?;
                    Ok(v)
                }
            };
        }
    };
    let exists = list.as_ref().is_some_and(|l| {
        Version::from_str(version.as_str()).is_ok_and(|v| l.iter().any(|(x, _)| x == &v))
    });
    // Offline, no per-release JSON says "no such release": the Simple page does.
    if offline && list.is_some() && !exists {
        return Err(QueryError::NotFound {
            what: format!("version {version} of package {name}"),
            upstream: sentinel_core::model::Upstream::PypiSimple,
        });
    }
    super::vulns::of_release(
        w,
        &name,
        &version,
        release,
        list.as_deref(),
        exists,
        deadline,
    )
    .await
}
