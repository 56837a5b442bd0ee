//! `audit_project`: a project's dependencies scanned, resolved for a target and checked
//! for known vulnerabilities and supply-chain signs, in one answer that can gate CI.
//!
//! The tree audited is what would be installed:
//! - with a lockfile (`uv.lock`, `poetry.lock`, `pylock.toml`) among the files read,
//!   its pins are the tree (what the project installs), audited as locked, not
//!   re-resolved; pins whose markers exclude the target are left out;
//! - otherwise the declared index requirements (every group and extra, as a lock would
//!   take them; `-c` constraints are not requirements) are resolved for the target
//!   with the resolver of `resolve_dependencies`, so every vulnerable package comes
//!   with the chain of requirements that pulls it in.
//!
//! Findings, and whether they fail the audit (the verdict `findings`):
//! - a release in the tree with a known vulnerability in force: fails;
//! - a yanked pin, a package not on PyPI, a pin or requirement no release satisfies,
//!   requirements that conflict: fail;
//! - a direct dependency `check_package` calls `suspicious` (a likely typo-squat): fails;
//!   `caution` is reported, does not fail;
//! - an outdated pin is reported and does not fail: pins are often deliberate.
//!
//! Nothing found but something could not be checked: `incomplete`, never `clean`. That
//! is an outage with nothing held, a deferral, and also anything of the project that
//! was not read or not checked: a line or file that could not be read (a TOML syntax
//! error, a misspelt requirement, a file past a bound: the scan's `problems`), a
//! declared index package past the scan's bound, or what an audit's bounds left out.
//! Direct references (URLs, paths, editables) are reported and do not make it
//! incomplete: they are never fetched, by design.

use serde::{Deserialize, Serialize};

use crate::model::{Datum, QueryError, SourceLabel};
use crate::model::{ErrorCode, ItemFailure};
use crate::project::{DependencySource, Problem, Reference, ScannedFile};
use crate::resolver::{MissingNode, Resolution, ResolutionStatus};
use crate::views::check::{CheckVerdict, PackageCheck};
use crate::views::deps::TargetEnv;
use crate::views::scan::{DependencyVerdict, ScanReport, ScanSummary};
use crate::views::vulns::{Advisory, FixAdvice, PackageVulnerabilities};
use crate::words::plural;

/// How an audit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditVerdict {
    /// Everything was checked and nothing that fails the audit was found.
    Clean,
    /// Something that fails the audit was found (see `vulnerable`, `pins`, `packages`,
    /// `resolution`).
    Findings,
    /// Nothing that fails was found, but some of it could not be checked (`unchecked`):
    /// not clean.
    Incomplete,
}

impl AuditVerdict {
    /// `clean`, `findings`, `incomplete`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditVerdict::Clean => "clean",
            AuditVerdict::Findings => "findings",
            AuditVerdict::Incomplete => "incomplete",
        }
    }
}

/// A release in the tree with known vulnerabilities in force.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VulnerableRelease {
    /// Normalised name.
    pub package: String,
    /// The release in the tree.
    pub version: String,
    /// Whether the project declares it (else a dependency pulls it in).
    pub direct: bool,
    /// How it gets into the tree: the requirement chain from a declared requirement
    /// (resolved), or the lockfile line that pins it (locked).
    pub required_by: Vec<String>,
    /// Advisories in force (withdrawn ones left out).
    pub advisories: Vec<Advisory>,
    /// The smallest upgrade that fixes them all, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<FixAdvice>,
}

/// A declared pin or requirement that needs attention.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PinFinding {
    /// `file:line`.
    pub at: String,
    /// Normalised name.
    pub package: String,
    /// The requirement's specifier (`==1.2.3`).
    pub specifier: String,
    /// `outdated`, `yanked`, `pin_missing`, `no_match`, `not_found`.
    pub verdict: DependencyVerdict,
    /// Whether it fails the audit (every verdict but `outdated`).
    pub fails: bool,
    /// In words.
    pub words: String,
}

/// A direct dependency whose supply-chain check is not `ok`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PackageFinding {
    /// Normalised name.
    pub package: String,
    /// `suspicious` (fails), `caution` or `not_found` (fails).
    pub verdict: CheckVerdict,
    /// Whether it fails the audit.
    pub fails: bool,
    /// The verdict with its evidence.
    pub summary: String,
}

/// How the tree was had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TreeMode {
    /// Resolved from the declared requirements for the target.
    Resolved,
    /// Read from a lockfile's pins.
    Locked,
    /// The requirements could not be resolved: their exact pins (`==`) audited alone,
    /// what those pull in not.
    Pins,
    /// No index requirement to audit.
    Empty,
}

/// The tree audited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditTree {
    /// Resolved, locked or empty.
    pub mode: TreeMode,
    /// How the resolution ended (resolved mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ResolutionStatus>,
    /// Releases in the tree.
    pub packages: usize,
    /// Releases whose vulnerabilities were checked.
    pub checked: usize,
    /// With no solution: the conflict in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
    /// Nodes the resolution could not fetch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<MissingNode>,
    /// The resolution's or the lock reading's notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl AuditTree {
    /// No tree: nothing to audit, or it could not be had (`notes` says which).
    fn empty(notes: Vec<String>) -> Self {
        AuditTree {
            mode: TreeMode::Empty,
            status: None,
            packages: 0,
            checked: 0,
            conflict: None,
            missing: Vec::new(),
            notes,
        }
    }
}

/// The answer of an audit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditReport {
    /// Clean, findings or incomplete.
    pub verdict: AuditVerdict,
    /// The verdict with its counts, in words.
    pub summary: String,
    /// The environment the tree was resolved (and markers evaluated) for.
    pub target: TargetEnv,
    /// The files read.
    pub files: Vec<ScannedFile>,
    /// Releases in the tree with known vulnerabilities in force.
    pub vulnerable: Vec<VulnerableRelease>,
    /// Declared pins and requirements that need attention.
    pub pins: Vec<PinFinding>,
    /// Direct dependencies whose supply-chain check is not `ok`.
    pub packages: Vec<PackageFinding>,
    /// The tree audited.
    pub tree: AuditTree,
    /// What could not be checked, and why: a release's vulnerabilities, a package's
    /// check.
    pub unchecked: Vec<ItemFailure>,
    /// The scan's counts.
    pub scan: ScanSummary,
    /// Lines that could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    /// Requirements without a name (paths, URLs): reported, not audited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// What was assumed or left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// With an extra index configured: the scanned names on both indexes (dependency
    /// confusion; one where pip would install PyPI's release fails the audit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confusion: Option<crate::views::confusion::ConfusionReport>,
    /// The overall source of the facts (`live`, `cached`, `stale`, `mixed`...).
    pub source: SourceLabel,
}

/// A release pinned by a lockfile, with its vulnerabilities as fetched.
#[derive(Debug)]
pub struct LockedRelease {
    /// Normalised name.
    pub package: String,
    /// The pinned version.
    pub version: String,
    /// `uv.lock:42`.
    pub at: String,
    /// Whether the project declares it directly (in a non-lock file).
    pub direct: bool,
    /// Its vulnerabilities, or why they could not be had.
    pub vulnerabilities: Result<Datum<PackageVulnerabilities>, QueryError>,
}

/// The tree as the engine had it.
#[derive(Debug)]
pub enum TreeFacts {
    /// A resolution of the declared requirements (with vulnerabilities).
    Resolved(Box<Resolution>),
    /// A lockfile's pins, left out ones noted.
    Locked {
        /// The pins for the target.
        releases: Vec<LockedRelease>,
        /// What was left out.
        notes: Vec<String>,
    },
    /// Nothing to audit (no index requirement).
    Empty(Vec<String>),
    /// The resolution could not be asked.
    Failed(ItemFailure),
    /// The resolution failed or found no solution; the exact pins among the declared
    /// requirements were audited alone.
    Pins {
        /// Why the tree could not be resolved (it makes the audit `incomplete`).
        failure: ItemFailure,
        /// The exact pins for the target.
        releases: Vec<LockedRelease>,
        /// What the tree's notes say.
        notes: Vec<String>,
    },
}

/// Audits pinned releases one by one (a lockfile's, or a failed resolution's exact
/// pins): the vulnerable ones into `vulnerable`, the ones that could not be checked into
/// `unchecked`. Returns how many were checked.
fn audit_pins(
    releases: Vec<LockedRelease>,
    labels: &mut Vec<SourceLabel>,
    unchecked: &mut Vec<ItemFailure>,
    vulnerable: &mut Vec<VulnerableRelease>,
) -> usize {
    let mut checked = 0;
    for l in releases {
        match l.vulnerabilities {
            Ok(v) => {
                checked += 1;
                labels.push(v.label());
                if v.value.active > 0 {
                    vulnerable.push(VulnerableRelease {
                        package: l.package,
                        version: l.version,
                        direct: l.direct,
                        required_by: vec![format!("pinned at {}", l.at)],
                        advisories: in_force(&v.value),
                        fix: v.value.fix.clone(),
                    });
                }
            }
            Err(QueryError::NotFound { .. }) => unchecked.push(ItemFailure {
                item: format!("{} {}", l.package, l.version),
                code: ErrorCode::NotFound,
                reason: format!("pinned at {} but not a release on the index", l.at),
                suggestion: "check the pin's spelling and version (or re-lock the project)".into(),
                retry_after_secs: None,
            }),
            Err(e) => {
                labels.push(SourceLabel::Unavailable);
                unchecked.push(ItemFailure::from_error(
                    format!("{} {}/vulnerabilities", l.package, l.version),
                    &e,
                ));
            }
        }
    }
    checked
}

/// Draws the report from its parts: the scan, the tree and the direct dependencies'
/// checks (each `Err` is a check that could not be asked), and what the audit's
/// bounds left out (`left_out`, each making the audit `incomplete`).
pub fn assemble(
    target: TargetEnv,
    scan: ScanReport,
    tree: TreeFacts,
    checks: Vec<(String, Result<PackageCheck, QueryError>)>,
    direct: &[String],
    left_out: Vec<ItemFailure>,
) -> AuditReport {
    let mut labels = vec![scan.source];
    let mut unchecked: Vec<ItemFailure> = scan.failures.clone();
    unchecked.extend(not_read(&scan));
    unchecked.extend(left_out);
    let mut notes = scan.notes.clone();
    let mut vulnerable = Vec::new();

    let tree = match tree {
        TreeFacts::Resolved(r) => {
            labels.push(r.source);
            let mut checked = 0;
            for p in &r.packages {
                match &p.vulnerabilities {
                    Some(v) => {
                        checked += 1;
                        if v.active > 0 {
                            vulnerable.push(VulnerableRelease {
                                package: p.name.clone(),
                                version: p.version.clone(),
                                direct: direct.contains(&p.name),
                                required_by: p.required_by.clone(),
                                advisories: in_force(v),
                                fix: v.fix.clone(),
                            });
                        }
                    }
                    None => unchecked.push(p.vulnerabilities_unavailable.clone().unwrap_or_else(
                        || ItemFailure {
                            item: format!("{} {}/vulnerabilities", p.name, p.version),
                            code: ErrorCode::Unavailable,
                            reason: "its release JSON could not be fetched".into(),
                            suggestion: "run the audit again; get_package_vulnerabilities asks for one release".into(),
                            retry_after_secs: None,
                        },
                    )),
                }
            }
            for m in &r.missing {
                unchecked.push(ItemFailure {
                    item: match &m.version {
                        Some(v) => format!("{} {v}", m.package),
                        None => m.package.clone(),
                    },
                    code: ErrorCode::Unavailable,
                    reason: format!(
                        "the resolution could not fetch it ({}): it and what it pulls in are not audited",
                        m.reason
                    ),
                    suggestion: "run the audit again when the index answers".into(),
                    retry_after_secs: None,
                });
            }
            if r.status == ResolutionStatus::Incomplete {
                unchecked.push(ItemFailure {
                    item: "resolution".into(),
                    code: ErrorCode::Incomplete,
                    reason:
                        "the resolution stopped at a bound before an answer (see the tree's notes)"
                            .into(),
                    suggestion: "audit fewer requirements at once".into(),
                    retry_after_secs: None,
                });
            }
            AuditTree {
                mode: TreeMode::Resolved,
                status: Some(r.status),
                packages: r.packages.len(),
                checked,
                conflict: r.conflict.clone(),
                missing: r.missing.clone(),
                notes: r.notes.clone(),
            }
        }
        TreeFacts::Locked {
            releases,
            notes: lock_notes,
        } => {
            let packages = releases.len();
            let checked = audit_pins(releases, &mut labels, &mut unchecked, &mut vulnerable);
            AuditTree {
                mode: TreeMode::Locked,
                status: None,
                packages,
                checked,
                conflict: None,
                missing: Vec::new(),
                notes: lock_notes,
            }
        }
        TreeFacts::Pins {
            failure,
            releases,
            notes: pin_notes,
        } => {
            labels.push(SourceLabel::Unavailable);
            unchecked.push(failure);
            let packages = releases.len();
            let checked = audit_pins(releases, &mut labels, &mut unchecked, &mut vulnerable);
            AuditTree {
                mode: TreeMode::Pins,
                status: None,
                packages,
                checked,
                conflict: None,
                missing: Vec::new(),
                notes: pin_notes,
            }
        }
        TreeFacts::Failed(f) => {
            labels.push(SourceLabel::Unavailable);
            let why = format!("the tree could not be resolved: {}", f.reason);
            unchecked.push(f);
            AuditTree::empty(vec![why])
        }
        TreeFacts::Empty(why) => AuditTree::empty(why),
    };

    let mut pins = Vec::new();
    for d in &scan.dependencies {
        let v = d.check.verdict;
        if matches!(
            v,
            DependencyVerdict::Ok | DependencyVerdict::NotChecked | DependencyVerdict::Unavailable
        ) {
            continue;
        }
        pins.push(PinFinding {
            at: format!("{}:{}", d.declared.file, d.declared.line),
            package: d.declared.name.clone(),
            specifier: d.declared.specifier.clone(),
            verdict: v,
            fails: v != DependencyVerdict::Outdated,
            words: d.check.words.clone(),
        });
    }

    let mut packages = Vec::new();
    for (name, c) in checks {
        match c {
            Ok(c) => {
                labels.push(c.source);
                for f in &c.failures {
                    unchecked.push(f.clone());
                }
                let fails = matches!(c.verdict, CheckVerdict::Suspicious | CheckVerdict::NotFound);
                // Not on PyPI is already a pin finding from the scan.
                if matches!(c.verdict, CheckVerdict::Ok | CheckVerdict::Unknown)
                    || (c.verdict == CheckVerdict::NotFound
                        && pins.iter().any(|p| p.package == c.package))
                {
                    continue;
                }
                packages.push(PackageFinding {
                    package: c.package,
                    verdict: c.verdict,
                    fails,
                    summary: c.summary,
                });
            }
            Err(e) => unchecked.push(ItemFailure::from_error(format!("{name}/check"), &e)),
        }
    }

    // The scan and a direct dependency's check may both say one name was not checked
    // (its confusion check, when the extra index failed): once is enough.
    let mut seen = std::collections::HashSet::new();
    unchecked.retain(|f| seen.insert((f.item.clone(), f.reason.clone())));
    let conflict = tree.conflict.is_some();
    let fails = !vulnerable.is_empty()
        || conflict
        || pins.iter().any(|p| p.fails)
        || packages.iter().any(|p| p.fails)
        || scan
            .confusion
            .as_ref()
            .is_some_and(|c| c.on_both.iter().any(|f| f.fails));
    let verdict = if fails {
        AuditVerdict::Findings
    } else if !unchecked.is_empty() {
        AuditVerdict::Incomplete
    } else {
        AuditVerdict::Clean
    };
    if tree.mode == TreeMode::Locked && scan.summary.dependencies > tree.packages {
        notes.push(
            "the lockfile's pins are the tree audited; declared requirements were checked against PyPI but not re-resolved".into(),
        );
    }
    let mut summary = summary_words(verdict, &tree, &vulnerable, &pins, &packages, &unchecked);
    if let Some(c) = &scan.confusion {
        summary.push_str(&format!("; dependency confusion: {}", c.summary));
    }
    AuditReport {
        verdict,
        summary,
        target,
        files: scan.files,
        vulnerable,
        pins,
        packages,
        tree,
        unchecked,
        scan: scan.summary,
        problems: scan.problems,
        references: scan.references,
        notes,
        confusion: scan.confusion,
        source: SourceLabel::merge(labels),
    }
}

/// What of the project was not read or not checked, as unchecked items: whatever a
/// line that could not be read declares is not audited, so the audit is not clean.
fn not_read(scan: &ScanReport) -> Vec<ItemFailure> {
    let mut out = Vec::new();
    if scan.summary.problems > 0 {
        out.push(ItemFailure {
            item: "project files".into(),
            code: ErrorCode::Unreadable,
            reason: format!(
                "{} could not be read (see problems): what they declare was not audited",
                plural(
                    scan.summary.problems as u64,
                    "line or file",
                    "lines or files"
                )
            ),
            suggestion: "fix or remove what problems lists, then audit again".into(),
            retry_after_secs: None,
        });
    }
    let past_bound = scan
        .dependencies
        .iter()
        .filter(|d| {
            d.check.verdict == DependencyVerdict::NotChecked
                && d.declared.source == DependencySource::Index
        })
        .count();
    if past_bound > 0 {
        out.push(ItemFailure {
            item: "declared packages".into(),
            code: ErrorCode::OverBound,
            reason: format!(
                "{past_bound} declared requirement(s) past the scan's bound were not checked against PyPI"
            ),
            suggestion: "audit the project in parts (one file or group at a time)".into(),
            retry_after_secs: None,
        });
    }
    out
}

fn in_force(v: &PackageVulnerabilities) -> Vec<Advisory> {
    v.vulnerabilities
        .iter()
        .filter(|a| a.withdrawn.is_none())
        .cloned()
        .collect()
}

fn summary_words(
    verdict: AuditVerdict,
    tree: &AuditTree,
    vulnerable: &[VulnerableRelease],
    pins: &[PinFinding],
    packages: &[PackageFinding],
    unchecked: &[ItemFailure],
) -> String {
    let how = match tree.mode {
        TreeMode::Resolved => "resolved",
        TreeMode::Locked => "locked",
        TreeMode::Pins => "not resolved: the exact pins alone",
        TreeMode::Empty => "no index requirement",
    };
    let mut parts = vec![format!(
        "{} ({how}), {} checked for vulnerabilities",
        plural(
            tree.packages as u64,
            "release in the tree",
            "releases in the tree"
        ),
        tree.checked
    )];
    let advisories: usize = vulnerable.iter().map(|v| v.advisories.len()).sum();
    parts.push(format!(
        "{} with {}",
        plural(
            vulnerable.len() as u64,
            "vulnerable release",
            "vulnerable releases"
        ),
        plural(advisories as u64, "advisory", "advisories")
    ));
    if tree.conflict.is_some() {
        parts.push("no solution: the requirements cannot be installed together".into());
    }
    let failing_pins = pins.iter().filter(|p| p.fails).count();
    if failing_pins > 0 {
        parts.push(plural(
            failing_pins as u64,
            "yanked, missing or unsatisfiable pin",
            "yanked, missing or unsatisfiable pins",
        ));
    }
    let outdated = pins.len() - failing_pins;
    if outdated > 0 {
        parts.push(format!("{outdated} outdated (reported, not failing)"));
    }
    let suspicious = packages.iter().filter(|p| p.fails).count();
    if suspicious > 0 {
        parts.push(plural(
            suspicious as u64,
            "suspicious or missing package",
            "suspicious or missing packages",
        ));
    }
    let caution = packages.len() - suspicious;
    if caution > 0 {
        parts.push(format!("{caution} to look at (caution)"));
    }
    if !unchecked.is_empty() {
        parts.push(format!("{} not checked", unchecked.len()));
    }
    format!("{}: {}", verdict.as_str(), parts.join("; "))
}
