//! The audit of a project (`audit_project`): three questions walked at the same time
//! (they share the router's flights, so a package's release list is fetched once for
//! all three): the scan's checks, the tree (resolved for the target, or a lockfile's
//! pins with each release's vulnerabilities), and the supply-chain check of each
//! direct dependency. A pass that our own rate limit deferred in part is walked again
//! when the latest slot is due, within the audit's deadline. The view
//! (`audit`) draws the report.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;
use tokio::time::Instant;

use super::resolve::{Resolve, Vulnerabilities};
use super::scan::{Check, CheckDownloads, scan_project};
use super::{Question, Walker};
use sentinel_core::audit::{self, AuditReport, LockedRelease, TreeFacts};
use sentinel_core::model::{ErrorCode, ItemFailure};
use sentinel_core::model::{PackageName, PackageVersion, QueryError, limits};
use sentinel_core::model::{SourceLabel, Target};
use sentinel_core::project::{DeclaredDependency, DependencySource, ParsedProject};
use sentinel_core::resolver::{Resolution, ResolutionStatus, ResolveRequest};
use sentinel_core::views::deps::{TargetEnv, parse_requirement};

/// An audit of a parsed project for a target.
#[derive(Debug, Clone)]
pub(crate) struct Audit {
    pub(crate) parsed: ParsedProject,
    pub(crate) target: Target,
    pub(crate) env: TargetEnv,
}

impl Question for Audit {
    type Answer = AuditReport;

    /// Pass after pass while our own limit deferred parts and each pass made progress;
    /// each pass within one question deadline, all by `end` (the audit's deadline).
    async fn walk(self, w: &Walker, end: Instant) -> Result<AuditReport, QueryError> {
        let Audit {
            parsed,
            target,
            env,
        } = self;
        let plan = Plan::of(&parsed);
        let whole = Duration::from_millis(w.args.cfg.timeouts.deadline_ms);
        let mut started = Instant::now();
        let mut report = audit_pass(w, whole, &parsed, &plan, &target, &env, end).await?;
        while let NextPass::At(due) =
            next_pass(&report.unchecked, started, Instant::now(), whole, end)
        {
            tokio::time::sleep_until(due).await;
            started = Instant::now();
            let again = audit_pass(w, whole, &parsed, &plan, &target, &env, end).await?;
            let progress = again.unchecked.len() < report.unchecked.len();
            report = again;
            if !progress {
                break;
            }
        }
        Ok(report)
    }
}

/// The groups that are a project's main (always installed) requirements; every other
/// group is an extra or a dependency group.
const MAIN_GROUPS: [&str; 4] = [
    "dependencies",
    "requirements",
    "install_requires",
    "poetry:main",
];

/// The groups whose entries are not requirements of the tree.
const NOT_REQUIREMENTS: [&str; 2] = ["constraints", "lock"];

/// One pass: the three questions at once, each within the pass's deadline.
async fn audit_pass(
    w: &Walker,
    whole: Duration,
    parsed: &ParsedProject,
    plan: &Plan,
    target: &Target,
    env: &TargetEnv,
    end: Instant,
) -> Result<AuditReport, QueryError> {
    let deadline = (Instant::now() + whole).min(end);
    let Plan {
        direct,
        pins,
        exact,
        requirements,
        left_out,
    } = plan;
    let tree = async {
        if !pins.is_empty() {
            locked_tree(w, pins, direct, env, deadline).await
        } else if !requirements.is_empty() {
            let tree = resolved_tree(w, requirements, target, deadline).await;
            match (unresolved(&tree), exact.is_empty()) {
                (Some(failure), false) => {
                    pins_alone(w, failure, exact, direct, env, deadline).await
                }
                _ => tree,
            }
        } else {
            TreeFacts::Empty(vec![
                "no requirement on the index was declared: nothing to resolve".into(),
            ])
        }
    };
    let checks = join_all(direct.iter().map(|name| async move {
        let r = match PackageName::parse(name) {
            Ok(name) => {
                let check = Check {
                    name,
                    downloads: CheckDownloads::WhenSuspect,
                };
                check.walk(w, deadline).await
            }
            Err(e) => Err(e.into()),
        };
        (name.clone(), r)
    }));
    let (scan, tree, checks) =
        tokio::join!(scan_project(w, parsed.clone(), deadline), tree, checks);
    Ok(audit::assemble(
        env.clone(),
        scan?,
        tree,
        checks,
        direct,
        left_out.clone(),
    ))
}

/// The declared requirements resolved together, as a lock takes them. When they
/// have no solution together, the main ones are resolved alone and each other
/// group or extra with them: extras and groups that exclude each other (a `cpu`
/// and a `gpu` extra) are not a project's fault, and each is still audited. A
/// conflict is a finding only within the main requirements or between them and a
/// group.
async fn resolved_tree(
    w: &Walker,
    requirements: &[(String, String)],
    target: &Target,
    deadline: Instant,
) -> TreeFacts {
    let mut notes = Vec::new();
    if requirements.len() > limits::MAX_AUDIT_REQUIREMENTS {
        notes.push(format!(
            "{} requirement(s) past the first {} were not resolved",
            requirements.len() - limits::MAX_AUDIT_REQUIREMENTS,
            limits::MAX_AUDIT_REQUIREMENTS
        ));
    }
    let requirements = &requirements[..requirements.len().min(limits::MAX_AUDIT_REQUIREMENTS)];
    let all: Vec<String> = requirements.iter().map(|(_, r)| r.clone()).collect();
    let together = match resolution(w, all, target, deadline).await {
        Ok(r) => r,
        Err(f) => return TreeFacts::Failed(f),
    };
    let groups: BTreeSet<&str> = requirements
        .iter()
        .map(|(g, _)| g.as_str())
        .filter(|g| !MAIN_GROUPS.contains(g))
        .collect();
    if together.status != ResolutionStatus::NoSolution || groups.is_empty() {
        let mut r = together;
        r.notes.splice(0..0, notes);
        return TreeFacts::Resolved(Box::new(r));
    }
    let of = |wanted: Option<&str>| -> Vec<String> {
        requirements
            .iter()
            .filter(|(g, _)| MAIN_GROUPS.contains(&g.as_str()) || Some(g.as_str()) == wanted)
            .map(|(_, r)| r.clone())
            .collect()
    };
    let main_len = of(None).len();
    let passes = join_all(
        std::iter::once(None)
            .chain(groups.iter().map(|g| Some(*g)))
            .map(|g| {
                let reqs = of(g);
                async move {
                    // A group with nothing beyond the main ones adds no pass.
                    let r = if reqs.is_empty() || (g.is_some() && reqs.len() == main_len) {
                        None
                    } else {
                        Some(resolution(w, reqs, target, deadline).await)
                    };
                    (g, r)
                }
            }),
    )
    .await;
    let mut merged = together;
    merged.status = ResolutionStatus::Resolved;
    merged.conflict = None;
    merged.packages.clear();
    merged.missing.clear();
    merged.notes = notes;
    merged.notes.push(format!(
        "the declared requirements have no solution together; the main requirements were resolved alone and each of {} with them",
        groups.iter().copied().collect::<Vec<_>>().join(", ")
    ));
    for (group, r) in passes {
        let label = group.unwrap_or("the main requirements");
        match r {
            None => {}
            Some(Err(f)) => return TreeFacts::Failed(f),
            Some(Ok(r)) => {
                if r.status == ResolutionStatus::NoSolution {
                    let why = r.conflict.unwrap_or_default();
                    let conflict = merged.conflict.get_or_insert_with(String::new);
                    conflict.push_str(&format!("{label}: {why}\n"));
                    merged.status = ResolutionStatus::NoSolution;
                    continue;
                }
                if r.status == ResolutionStatus::Partial
                    && merged.status == ResolutionStatus::Resolved
                {
                    merged.status = ResolutionStatus::Partial;
                }
                for p in r.packages {
                    if !merged
                        .packages
                        .iter()
                        .any(|q| q.name == p.name && q.version == p.version)
                    {
                        merged.packages.push(p);
                    }
                }
                merged.missing.extend(r.missing);
                merged.source = SourceLabel::merge([merged.source, r.source]);
            }
        }
    }
    if merged.conflict.is_none() {
        merged.notes.push(
            "that is not a finding: every group installs with the main requirements, only not all together (extras or groups meant as alternatives)".into(),
        );
    }
    TreeFacts::Resolved(Box::new(merged))
}

/// Why a resolved tree audits nothing: the resolution could not be asked, or found no
/// solution at all (a misspelt name, an impossible pin).
fn unresolved(tree: &TreeFacts) -> Option<ItemFailure> {
    match tree {
        TreeFacts::Failed(f) => Some(f.clone()),
        TreeFacts::Resolved(r)
            if r.status == ResolutionStatus::NoSolution && r.packages.is_empty() =>
        {
            Some(ItemFailure {
                item: "resolution".into(),
                code: ErrorCode::Incomplete,
                reason: format!(
                    "the declared requirements have no solution: {}",
                    r.conflict.as_deref().unwrap_or("no reason given").trim()
                ),
                suggestion: "fix the requirement the conflict names, then audit again".into(),
                retry_after_secs: None,
            })
        }
        // Nothing could be fetched (the index is down): the pins can still be audited
        // (from OSV's export synced into the store, or a source that answers).
        TreeFacts::Resolved(r)
            if r.status == ResolutionStatus::Partial
                && r.packages.is_empty()
                && !r.missing.is_empty() =>
        {
            Some(ItemFailure {
                item: "resolution".into(),
                code: ErrorCode::Unavailable,
                reason: format!(
                    "nothing could be fetched to resolve the requirements ({})",
                    r.missing[0].reason
                ),
                suggestion: "run the audit again when the index answers".into(),
                retry_after_secs: None,
            })
        }
        _ => None,
    }
}

/// The exact pins (`==`) among the declared requirements, audited alone when the
/// requirements could not be resolved: each pinned release's vulnerabilities are still
/// known; what it pulls in is not, and `failure` makes the audit `incomplete`.
async fn pins_alone(
    w: &Walker,
    failure: ItemFailure,
    exact: &[DeclaredDependency],
    direct: &[String],
    env: &TargetEnv,
    deadline: Instant,
) -> TreeFacts {
    match locked_tree(w, exact, direct, env, deadline).await {
        TreeFacts::Locked {
            releases,
            mut notes,
        } => {
            notes.insert(
                0,
                format!(
                    "the requirements could not be resolved ({}): the {} exact pin(s) (==) were audited alone; what they pull in was not",
                    failure.reason,
                    releases.len()
                ),
            );
            TreeFacts::Pins {
                failure,
                releases,
                notes,
            }
        }
        other => other,
    }
}

/// One resolution of `requirements` for the target, with vulnerabilities.
async fn resolution(
    w: &Walker,
    requirements: Vec<String>,
    target: &Target,
    deadline: Instant,
) -> Result<Resolution, ItemFailure> {
    let failed = |e: &QueryError| ItemFailure::from_error("resolution".into(), e);
    let request = ResolveRequest {
        requirements,
        target: target.clone(),
        max_packages: Some(limits::MAX_RESOLVE_PACKAGES),
        vulnerabilities: true,
    };
    let checked = request
        .validate_within(limits::MAX_AUDIT_REQUIREMENTS)
        .map_err(|e| failed(&e.into()))?;
    let question = Resolve {
        raw: request,
        checked,
    };
    question.walk(w, deadline).await.map_err(|e| failed(&e))
}

async fn locked_tree(
    w: &Walker,
    pins: &[DeclaredDependency],
    direct: &[String],
    env: &TargetEnv,
    deadline: Instant,
) -> TreeFacts {
    let mut notes = Vec::new();
    let markers = env.marker_env();
    let mut seen = BTreeSet::new();
    let mut kept = Vec::new();
    let mut excluded = Vec::new();
    for p in pins {
        let Some(version) = p.pinned.clone() else {
            continue;
        };
        let applies = match (&p.marker, &markers) {
            (Some(m), Some(env)) => parse_requirement(&format!("{}; {m}", p.name))
                .is_none_or(|r| r.marker.evaluate(env, &[])),
            _ => true,
        };
        if !applies {
            excluded.push(format!("{} {version}", p.name));
        } else if seen.insert((p.name.clone(), version.clone())) {
            kept.push((p, version));
        }
    }
    if !excluded.is_empty() {
        notes.push(format!(
            "{} pin(s) whose markers exclude the target were left out: {}",
            excluded.len(),
            excluded.join(", ")
        ));
    }
    if kept.len() > limits::MAX_SCAN_PACKAGES {
        notes.push(format!(
            "{} pin(s) past the first {} were not audited",
            kept.len() - limits::MAX_SCAN_PACKAGES,
            limits::MAX_SCAN_PACKAGES
        ));
        kept.truncate(limits::MAX_SCAN_PACKAGES);
    }
    let releases = join_all(kept.into_iter().map(|(p, version)| async move {
        let vulnerabilities = release_vulnerabilities(w, &p.name, &version, deadline).await;
        LockedRelease {
            direct: direct.contains(&p.name),
            at: format!("{}:{}", p.file, p.line),
            package: p.name.clone(),
            version,
            vulnerabilities,
        }
    }))
    .await;
    TreeFacts::Locked { releases, notes }
}

async fn release_vulnerabilities(
    w: &Walker,
    package: &str,
    version: &str,
    deadline: Instant,
) -> Result<
    sentinel_core::model::Datum<sentinel_core::views::vulns::PackageVulnerabilities>,
    QueryError,
> {
    let name = PackageName::parse(package)?;
    let version = PackageVersion::parse(version)?;
    let question = Vulnerabilities {
        name,
        version: Some(version),
    };
    let (doc, v) = question.walk(w, deadline).await?;
    // Dated when read from OSV's export synced earlier.
    let today = w.args.cfg.clock.today();
    Ok(doc.datum(v).dated(
        doc.data_date
            .map(|d| sentinel_core::model::DataAsOf::new(d, today)),
    ))
}

/// Whether an audit asks again after a pass, and when.
#[derive(Debug, PartialEq)]
enum NextPass {
    Done,
    At(Instant),
}

/// An audit is a batch: it asks again (answered from the cache then, each pass checking
/// more, for as long as a pass checks more) for what was not checked
/// - because our own rate limit deferred it: when its queued fetch is due;
/// - because a slow upstream ran the pass out of time (the pass took most of a question
///   deadline, `whole`): at once, while the fetches go on.
///
/// Failures that came fast (an outage, an upstream's Retry-After) are reported as they
/// are, at once; so is everything when the next pass could not finish before `end`.
fn next_pass(
    unchecked: &[ItemFailure],
    pass_started: Instant,
    now: Instant,
    whole: Duration,
    end: Instant,
) -> NextPass {
    let slow =
        !unchecked.is_empty() && now.saturating_duration_since(pass_started) >= whole * 4 / 5;
    let due = match unchecked.iter().filter_map(ItemFailure::deferred_for).max() {
        Some(due) => due,
        None if slow => Duration::ZERO,
        None => return NextPass::Done,
    };
    if now + due + Duration::from_secs(1) >= end {
        return NextPass::Done;
    }
    NextPass::At(now + due)
}

/// What an audit asks about, drawn from the parsed project once for every pass.
struct Plan {
    /// The direct dependencies' names (checked with `check_package`).
    direct: Vec<String>,
    /// A lockfile's index pins (then the tree is the lock).
    pins: Vec<DeclaredDependency>,
    /// The exact pins (`==`) among the declared requirements: audited alone when the
    /// requirements cannot be resolved.
    exact: Vec<DeclaredDependency>,
    /// The declared requirements, by group (else the tree is resolved from them).
    requirements: Vec<(String, String)>,
    /// What the bounds left out of the audit: it is then `incomplete`, never `clean`.
    left_out: Vec<ItemFailure>,
}

impl Plan {
    fn of(parsed: &ParsedProject) -> Self {
        let pins: Vec<DeclaredDependency> = parsed
            .dependencies
            .iter()
            .filter(|d| d.group == "lock" && d.source == DependencySource::Index)
            .cloned()
            .collect();
        let requirements = requirements_of(parsed);
        let exact: Vec<DeclaredDependency> = parsed
            .dependencies
            .iter()
            .filter(|d| {
                d.source == DependencySource::Index
                    && d.pinned.is_some()
                    && d.group != "lock"
                    && !NOT_REQUIREMENTS.contains(&d.group.as_str())
            })
            .cloned()
            .collect();
        let mut left_out = Vec::new();
        let mut bound = |n: usize, max: usize, what: &str| {
            if n > max {
                left_out.push(ItemFailure {
                    item: what.to_string(),
                    code: ErrorCode::OverBound,
                    reason: format!("{} {what} past the first {max} were not audited", n - max),
                    suggestion: "audit the project in parts (one file or group at a time)".into(),
                    retry_after_secs: None,
                });
            }
        };
        let direct_all = {
            let mut seen = BTreeSet::new();
            parsed
                .dependencies
                .iter()
                .filter(|d| {
                    d.source == DependencySource::Index
                        && !NOT_REQUIREMENTS.contains(&d.group.as_str())
                })
                .filter(|d| seen.insert(d.name.as_str()))
                .count()
        };
        bound(direct_all, limits::MAX_SCAN_PACKAGES, "direct dependencies");
        if pins.is_empty() {
            bound(
                requirements.len(),
                limits::MAX_AUDIT_REQUIREMENTS,
                "requirements",
            );
        } else {
            let distinct: BTreeSet<(&str, Option<&str>)> = pins
                .iter()
                .map(|p| (p.name.as_str(), p.pinned.as_deref()))
                .collect();
            bound(distinct.len(), limits::MAX_SCAN_PACKAGES, "lockfile pins");
        }
        Plan {
            direct: direct_names(parsed),
            pins,
            exact,
            requirements,
            left_out,
        }
    }
}

/// The index packages the project declares itself (not only through a lockfile),
/// normalised, in file order, at most [`limits::MAX_SCAN_PACKAGES`].
fn direct_names(parsed: &ParsedProject) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in &parsed.dependencies {
        if d.source == DependencySource::Index
            && !NOT_REQUIREMENTS.contains(&d.group.as_str())
            && !out.contains(&d.name)
            && out.len() < limits::MAX_SCAN_PACKAGES
        {
            out.push(d.name.clone());
        }
    }
    out
}

/// The declared index requirements as (group, PEP 508 string) (every group and extra,
/// as a lock takes them; constraints and lock pins are not requirements), without
/// repeats.
fn requirements_of(parsed: &ParsedProject) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for d in &parsed.dependencies {
        if d.source != DependencySource::Index || NOT_REQUIREMENTS.contains(&d.group.as_str()) {
            continue;
        }
        let mut r = d.name.clone();
        if !d.extras.is_empty() {
            r.push_str(&format!("[{}]", d.extras.join(",")));
        }
        r.push_str(&d.specifier);
        if let Some(m) = &d.marker {
            r.push_str(&format!("; {m}"));
        }
        if !out.iter().any(|(g, x)| *g == d.group && *x == r) {
            out.push((d.group.clone(), r));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHOLE: Duration = Duration::from_secs(15);

    fn failure(code: ErrorCode, retry_after_secs: Option<u64>) -> ItemFailure {
        ItemFailure {
            item: "pkg".into(),
            code,
            reason: String::new(),
            suggestion: String::new(),
            retry_after_secs,
        }
    }

    #[test]
    fn a_pass_deferred_by_our_own_limit_is_asked_again_when_the_latest_slot_is_due() {
        let t0 = Instant::now();
        let unchecked = [
            failure(ErrorCode::Deferred, Some(3)),
            failure(ErrorCode::Deferred, Some(7)),
            failure(ErrorCode::Deferred, None),
        ];
        let end = t0 + WHOLE * 3;
        let now = t0 + Duration::from_secs(1);
        assert_eq!(
            next_pass(&unchecked, t0, now, WHOLE, end),
            NextPass::At(now + Duration::from_secs(7))
        );
    }

    #[test]
    fn an_upstream_outage_that_failed_fast_is_reported_at_once() {
        let t0 = Instant::now();
        let unchecked = [failure(ErrorCode::Unavailable, Some(30))];
        let now = t0 + Duration::from_secs(1);
        assert_eq!(
            next_pass(&unchecked, t0, now, WHOLE, t0 + WHOLE * 3),
            NextPass::Done
        );
    }

    #[test]
    fn a_pass_a_slow_upstream_ran_out_of_time_is_asked_again_at_once() {
        let t0 = Instant::now();
        let unchecked = [failure(ErrorCode::DeadlineExceeded, None)];
        let now = t0 + WHOLE * 4 / 5;
        assert_eq!(
            next_pass(&unchecked, t0, now, WHOLE, t0 + WHOLE * 3),
            NextPass::At(now)
        );
    }

    #[test]
    fn a_deferral_due_after_the_audits_end_is_reported_not_waited_for() {
        let t0 = Instant::now();
        let unchecked = [failure(ErrorCode::Deferred, Some(60))];
        assert_eq!(
            next_pass(&unchecked, t0, t0, WHOLE, t0 + WHOLE * 3),
            NextPass::Done
        );
    }

    #[test]
    fn a_clean_pass_is_done() {
        let t0 = Instant::now();
        assert_eq!(
            next_pass(&[], t0, t0 + WHOLE, WHOLE, t0 + WHOLE * 3),
            NextPass::Done
        );
    }
}
