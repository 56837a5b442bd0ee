//! The solver: pubgrub over what is held ([`Held`]), the rules of the parent module.
//!
//! Candidates are read through [`Candidates`], which keeps, across the runs of one
//! resolution, the candidates the target may take; a range is looked up by binary
//! search, so walking down a project with 10,000 releases costs a lookup per step,
//! not a scan of the release list.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::ops::Bound;
use std::str::FromStr;
use std::sync::Arc;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, PackageName, Requirement, VerbatimUrl, VersionOrUrl};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyProvider, PackageResolutionStatistics,
    PubGrubError, Ranges, Reporter,
};

use super::{
    Candidate, Candidates, Held, Meta, MetaState, MissingNode, Need, ProjectState, Solution,
    SolveOutcome, Validated,
};
use crate::cancel::CancelFlag;
use crate::views::python::admits;

/// Most metadata documents foreseen at once while the solver walks down a project's
/// releases (the count doubles with each step down, up to this).
const MAX_FORESEEN_RELEASES: usize = 256;

/// A pubgrub package: the root, a project, or a project with one extra (depends on the
/// project at the same version plus the extra's requirements, as uv models it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Pkg {
    Root,
    Name(PackageName),
    Extra(PackageName, ExtraName),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str("the requested requirements"),
            Pkg::Name(n) => write!(f, "{n}"),
            Pkg::Extra(n, e) => write!(f, "{n}[{e}]"),
        }
    }
}

/// Why a solver run stopped early.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("needs data not held yet")]
    Need(Need),
    #[error("{0}")]
    Bound(String),
}

struct Provider<'a> {
    held: &'a Held,
    req: &'a Validated,
    /// Projects named by held metadata but not held yet: fetched with the next need.
    foreseen: RefCell<Vec<Need>>,
    missing: RefCell<Vec<MissingNode>>,
    decided: RefCell<HashSet<PackageName>>,
    /// Raised when the answer is no longer wanted (deadline passed, caller gone).
    cancel: &'a CancelFlag,
}

/// Whether the target may take `c` without pinning it exactly: not yanked, not a
/// pre-release unless allowed (PEP 592, PEP 440), and its Requires-Python admits the
/// target's Python.
fn open_to(c: &Candidate, req: &Validated) -> bool {
    !c.yanked && (req.prereleases || !c.version.any_prerelease()) && python_admits(c, req)
}

fn python_admits(c: &Candidate, req: &Validated) -> bool {
    c.requires_python
        .as_ref()
        .is_none_or(|spec| admits(spec, req.python))
}

fn below_high(v: &Version, high: &Bound<Version>) -> bool {
    match high {
        Bound::Included(h) => v <= h,
        Bound::Excluded(h) => v < h,
        Bound::Unbounded => true,
    }
}

fn above_low(v: &Version, low: &Bound<Version>) -> bool {
    match low {
        Bound::Included(l) => v >= l,
        Bound::Excluded(l) => v > l,
        Bound::Unbounded => true,
    }
}

impl Candidates {
    /// Indexes of the candidates open to the target (see [`open_to`]), newest first:
    /// computed on the first run and kept for the others (one target per resolution).
    fn open(&self, req: &Validated) -> &[u32] {
        self.open.get_or_init(|| {
            (0u32..)
                .zip(self.iter())
                .filter(|(_, c)| open_to(c, req))
                .map(|(i, _)| i)
                .collect()
        })
    }

    /// The index of `v` in the list (newest first), by binary search.
    fn position(&self, v: &Version) -> Option<usize> {
        self.binary_search_by(|c| v.cmp(&c.version)).ok()
    }

    /// The newest candidate the target may take within `range` (a release pinned
    /// exactly may be yanked or a pre-release). A binary search per segment of the
    /// range: no scan of the releases it excludes.
    pub fn newest_in(&self, range: &Ranges<Version>, req: &Validated) -> Option<&Candidate> {
        if let Some(v) = range.as_singleton() {
            let c = &self[self.position(v)?];
            return python_admits(c, req).then_some(c);
        }
        let open = self.open(req);
        let segments: Vec<_> = range.iter().collect();
        for (low, high) in segments.into_iter().rev() {
            let first = open.partition_point(|&i| !below_high(&self[i as usize].version, high));
            if let Some(&i) = open.get(first)
                && above_low(&self[i as usize].version, low)
            {
                return Some(&self[i as usize]);
            }
        }
        None
    }

    /// How many candidates (of any kind) lie within `range`, by binary search.
    pub fn count_in(&self, range: &Ranges<Version>) -> usize {
        range
            .iter()
            .map(|(low, high)| {
                let from = self.partition_point(|c| !below_high(&c.version, high));
                let to = self.partition_point(|c| above_low(&c.version, low));
                to.saturating_sub(from)
            })
            .sum()
    }
}

/// The newest candidate a requirement admits (what the solver most likely picks).
pub fn best_candidate<'a>(
    cands: &'a Candidates,
    r: &Requirement<VerbatimUrl>,
    req: &Validated,
) -> Option<&'a Candidate> {
    cands.newest_in(&range_of(r), req)
}

fn root_version() -> Version {
    Version::new([0])
}

/// The range a requirement allows.
fn range_of(req: &Requirement<VerbatimUrl>) -> Ranges<Version> {
    match &req.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specs)) => Ranges::from(specs.clone()),
        _ => Ranges::full(),
    }
}

impl Provider<'_> {
    fn candidates(&self, name: &PackageName) -> Result<Option<&Arc<Candidates>>, Stop> {
        match self.held.projects.get(name) {
            None => Err(Stop::Need(Need::Project(name.clone()))),
            Some(ProjectState::Held(c)) => Ok(Some(c)),
            Some(_) => Ok(None),
        }
    }

    /// The requirements of `meta` that apply to the target with `extras`.
    fn applying<'m>(
        &self,
        meta: &'m Meta,
        extras: &[ExtraName],
    ) -> impl Iterator<Item = &'m Requirement<VerbatimUrl>> {
        let env = &self.req.markers;
        let extras = extras.to_vec();
        meta.requires
            .iter()
            .filter(move |r| r.marker.evaluate(env, &extras))
    }

    /// Dependencies as pubgrub constraints; edges to projects that could not be
    /// fetched are left out and noted as missing.
    fn constraints<'r>(
        &self,
        parent: &str,
        reqs: impl Iterator<Item = &'r Requirement<VerbatimUrl>>,
    ) -> Vec<(Pkg, Ranges<Version>)> {
        let mut out = Vec::new();
        for r in reqs {
            // Worded only when noted: this runs for every requirement of every run.
            let by = || format!("{parent} requires {r}");
            if let Some(VersionOrUrl::Url(_)) = &r.version_or_url {
                self.note_missing(
                    &r.name,
                    None,
                    by(),
                    "a URL requirement: not resolved from the index".into(),
                );
                continue;
            }
            match self.held.projects.get(&r.name) {
                Some(ProjectState::Failed(reason)) => {
                    self.note_missing(&r.name, None, by(), reason.clone());
                    continue;
                }
                None => self
                    .foreseen
                    .borrow_mut()
                    .push(Need::Project(r.name.clone())),
                _ => {}
            }
            let range = range_of(r);
            out.push((Pkg::Name(r.name.clone()), range.clone()));
            for e in &r.extras {
                out.push((Pkg::Extra(r.name.clone(), e.clone()), range.clone()));
            }
        }
        out
    }

    fn note_missing(
        &self,
        name: &PackageName,
        version: Option<&Version>,
        by: String,
        reason: String,
    ) {
        let mut missing = self.missing.borrow_mut();
        let version = version.map(ToString::to_string);
        match missing
            .iter_mut()
            .find(|m| m.package == name.as_ref() && m.version == version)
        {
            Some(m) => {
                if !m.required_by.contains(&by) {
                    m.required_by.push(by);
                }
            }
            None => missing.push(MissingNode {
                package: name.to_string(),
                version,
                required_by: vec![by],
                reason,
            }),
        }
    }

    fn meta(&self, name: &PackageName, v: &Version) -> Result<Option<&Arc<Meta>>, Stop> {
        match self.held.metas.get(&(name.clone(), v.clone())) {
            Some(MetaState::Held(m)) => Ok(Some(m)),
            Some(MetaState::Failed(reason)) => {
                self.note_missing(
                    name,
                    Some(v),
                    format!("{name} {v} (chosen)"),
                    reason.clone(),
                );
                Ok(None)
            }
            None => {
                let Some(cands) = self.candidates(name)? else {
                    return Err(Stop::Need(Need::Metadata(name.clone(), v.clone(), None)));
                };
                let at = cands.position(v);
                let file = at.and_then(|i| cands[i].metadata_file.clone());
                if let Some(i) = at {
                    self.foresee_walk_down(name, cands, i);
                }
                Err(Stop::Need(Need::Metadata(name.clone(), v.clone(), file)))
            }
        }
    }

    /// When the solver is walking down `name`'s releases (the open one just newer than
    /// the one at `at` was fetched, so it was tried and given up), the next older
    /// releases are foreseen, as many as were walked (doubling, bounded): a walk down
    /// 10,000 releases takes a few dozen runs, not one per release.
    fn foresee_walk_down(&self, name: &PackageName, cands: &Candidates, at: usize) {
        let open = cands.open(self.req);
        let here = open.partition_point(|&i| (i as usize) < at);
        let held = |k: usize| {
            let v = &cands[open[k] as usize].version;
            self.held.metas.contains_key(&(name.clone(), v.clone()))
        };
        let walked = (0..here)
            .rev()
            .take(MAX_FORESEEN_RELEASES)
            .take_while(|&k| held(k))
            .count();
        if walked == 0 {
            return;
        }
        // `at` itself is not in `open` when it is pinned exactly (yanked, pre-release).
        let older = here + usize::from(open.get(here) == Some(&(at as u32)));
        let mut foreseen = self.foreseen.borrow_mut();
        for k in (older..open.len()).take(walked) {
            if !held(k) {
                let c = &cands[open[k] as usize];
                foreseen.push(Need::Metadata(
                    name.clone(),
                    c.version.clone(),
                    c.metadata_file.clone(),
                ));
            }
        }
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Err = Stop;
    type Priority = (u32, Reverse<usize>);

    fn prioritize(
        &self,
        package: &Pkg,
        range: &Ranges<Version>,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        // Conflicting packages first, then the ones with the fewest candidates left
        // (pub's heuristic: conflicts show up early).
        let n = match package {
            Pkg::Root => 0,
            Pkg::Name(n) | Pkg::Extra(n, _) => match self.held.projects.get(n) {
                Some(ProjectState::Held(c)) => c.count_in(range),
                _ => 0,
            },
        };
        (stats.conflict_count(), Reverse(n))
    }

    fn choose_version(
        &self,
        package: &Pkg,
        range: &Ranges<Version>,
    ) -> Result<Option<Version>, Stop> {
        let name = match package {
            Pkg::Root => return Ok(Some(root_version())),
            Pkg::Name(n) | Pkg::Extra(n, _) => n,
        };
        let Some(cands) = self.candidates(name)? else {
            return Ok(None);
        };
        Ok(cands.newest_in(range, self.req).map(|c| c.version.clone()))
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, Ranges<Version>, String>, Stop> {
        match package {
            Pkg::Root => {
                let reqs = self
                    .req
                    .roots
                    .iter()
                    .filter(|r| r.marker.evaluate(&self.req.markers, &[]));
                Ok(Dependencies::Available(
                    self.constraints("(requested)", reqs).into_iter().collect(),
                ))
            }
            Pkg::Name(n) => {
                {
                    let mut decided = self.decided.borrow_mut();
                    decided.insert(n.clone());
                    if decided.len() > self.req.max_packages {
                        return Err(Stop::Bound(format!(
                            "the resolution reached its bound of {} packages",
                            self.req.max_packages
                        )));
                    }
                }
                let Some(meta) = self.meta(n, version)? else {
                    return Ok(Dependencies::Available(Default::default()));
                };
                if let Some(rp) = meta.requires_python.as_deref()
                    && let Ok(spec) = VersionSpecifiers::from_str(rp)
                    && !admits(&spec, self.req.python)
                {
                    return Ok(Dependencies::Unavailable(format!("requires Python {rp}")));
                }
                let parent = format!("{n} {version}");
                Ok(Dependencies::Available(
                    self.constraints(&parent, self.applying(meta, &[]))
                        .into_iter()
                        .collect(),
                ))
            }
            Pkg::Extra(n, e) => {
                let Some(meta) = self.meta(n, version)? else {
                    return Ok(Dependencies::Available(
                        [(Pkg::Name(n.clone()), Ranges::singleton(version.clone()))]
                            .into_iter()
                            .collect(),
                    ));
                };
                let parent = format!("{n}[{e}] {version}");
                let base: Vec<&Requirement<VerbatimUrl>> = self.applying(meta, &[]).collect();
                let extra = self
                    .applying(meta, std::slice::from_ref(e))
                    .filter(|r| !base.contains(r));
                let mut deps = vec![(Pkg::Name(n.clone()), Ranges::singleton(version.clone()))];
                deps.extend(self.constraints(&parent, extra));
                Ok(Dependencies::Available(deps.into_iter().collect()))
            }
        }
    }

    /// Called by pubgrub before every step.
    fn should_cancel(&self) -> Result<(), Stop> {
        if self.cancel.is_raised() {
            return Err(Stop::Bound(
                "the resolution was stopped: its deadline passed or its caller went away".into(),
            ));
        }
        Ok(())
    }
}

/// One solver run over what is held.
pub fn solve(held: &Held, req: &Validated, cancel: &CancelFlag) -> SolveOutcome {
    let provider = Provider {
        held,
        req,
        foreseen: RefCell::new(Vec::new()),
        missing: RefCell::new(Vec::new()),
        decided: RefCell::new(HashSet::new()),
        cancel,
    };
    let result = pubgrub::resolve(&provider, Pkg::Root, root_version());
    let foreseen = provider.foreseen.take();
    let need = |n: Need| {
        let mut all = vec![n];
        for f in foreseen {
            if !all.contains(&f) {
                all.push(f);
            }
        }
        SolveOutcome::Need(all)
    };
    match result {
        Ok(selected) => {
            let mut versions = BTreeMap::new();
            let mut extras: BTreeMap<PackageName, BTreeSet<ExtraName>> = BTreeMap::new();
            for (p, v) in selected.iter() {
                match p {
                    Pkg::Root => {}
                    Pkg::Name(n) => {
                        versions.insert(n.clone(), v.clone());
                    }
                    Pkg::Extra(n, e) => {
                        extras.entry(n.clone()).or_default().insert(e.clone());
                    }
                }
            }
            SolveOutcome::Solved(Solution {
                versions,
                extras,
                missing: provider.missing.take(),
            })
        }
        Err(PubGrubError::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            // The root is a package at a placeholder version for pubgrub; in words it is
            // just "the requested requirements".
            let report = DefaultStringReporter::report(&tree).replace(
                &format!("{} {}", Pkg::Root, root_version()),
                &Pkg::Root.to_string(),
            );
            let mut names: Vec<PackageName> = tree
                .packages()
                .into_iter()
                .filter_map(|p| match p {
                    Pkg::Name(n) | Pkg::Extra(n, _) => Some(n.clone()),
                    Pkg::Root => None,
                })
                .collect();
            names.sort();
            names.dedup();
            // pubgrub words a missing project as a bare dependency on it: say first why
            // nothing can satisfy it.
            let absent: Vec<String> = names
                .iter()
                .filter(|n| matches!(held.projects.get(*n), Some(ProjectState::NotFound)))
                .map(|n| format!("{n} is not on the index (no project of that name).\n"))
                .collect();
            let report = absent.concat() + &report;
            SolveOutcome::NoSolution {
                report,
                hints: hints(held, req, &names),
            }
        }
        Err(PubGrubError::ErrorChoosingVersion {
            source: Stop::Need(n),
            ..
        })
        | Err(PubGrubError::ErrorRetrievingDependencies {
            source: Stop::Need(n),
            ..
        }) => need(n),
        Err(PubGrubError::ErrorChoosingVersion {
            source: Stop::Bound(b),
            ..
        })
        | Err(PubGrubError::ErrorRetrievingDependencies {
            source: Stop::Bound(b),
            ..
        })
        | Err(PubGrubError::ErrorInShouldCancel(Stop::Bound(b))) => SolveOutcome::Interrupted(b),
        Err(PubGrubError::ErrorInShouldCancel(Stop::Need(n))) => need(n),
    }
}

/// Why candidates of the packages in a conflict were not considered, in words.
fn hints(held: &Held, req: &Validated, names: &[PackageName]) -> Vec<String> {
    let mut out = Vec::new();
    for n in names {
        match held.projects.get(n) {
            Some(ProjectState::NotFound) => out.push(format!("{n} is not on the index")),
            Some(ProjectState::Held(cands)) => {
                let list = |f: &dyn Fn(&Candidate) -> bool| -> Vec<String> {
                    cands
                        .iter()
                        .filter(|c| f(c))
                        .map(|c| c.version.to_string())
                        .collect()
                };
                let pre = list(&|c| c.version.any_prerelease());
                if !req.prereleases && !pre.is_empty() {
                    let only = pre.len() == cands.len();
                    out.push(format!(
                        "{n}: pre-releases not considered ({}){}",
                        pre.join(", "),
                        if only {
                            "; it has nothing else: allow pre-releases to consider them"
                        } else {
                            ""
                        }
                    ));
                }
                let yanked = list(&|c| c.yanked);
                if !yanked.is_empty() {
                    out.push(format!(
                        "{n}: yanked releases not considered unless pinned with == ({})",
                        yanked.join(", ")
                    ));
                }
                let py = list(&|c| {
                    c.requires_python
                        .as_ref()
                        .is_some_and(|s| !admits(s, req.python))
                });
                if !py.is_empty() {
                    out.push(format!(
                        "{n}: releases excluded by their Requires-Python on Python {} ({})",
                        req.python,
                        py.join(", ")
                    ));
                }
            }
            _ => {}
        }
    }
    out
}
