//! A scanned project checked against PyPI: for each declared dependency, whether the
//! package exists, the newest release that satisfies the requirement, and whether a
//! pin is yanked, missing or outdated; with the provenance of the version list each
//! answer rests on, and typed failures for the packages that could not be checked.

use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use serde::{Deserialize, Serialize};

use crate::model::ItemFailure;
use crate::model::{Provenance, SourceLabel, Upstream};
use crate::project::{
    DeclaredDependency, DependencySource, OptionLine, Problem, Reference, ScannedFile,
};
use crate::views::versions::VersionList;

/// What the check found for one dependency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DependencyVerdict {
    /// Exists; a release satisfies it; a pin (if any) is the newest and not yanked.
    Ok,
    /// The pinned release is older than the newest stable release.
    Outdated,
    /// The pinned release is yanked.
    Yanked,
    /// The pinned version is not a release of the package.
    PinMissing,
    /// No release satisfies the requirement.
    NoMatch,
    /// The package is not on PyPI.
    NotFound,
    /// A direct reference (URL, VCS, path), or past the scan's package bound: not checked.
    NotChecked,
    /// PyPI could not be asked (see `failures`).
    Unavailable,
}

/// The check of one dependency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DependencyCheck {
    /// The verdict.
    pub verdict: DependencyVerdict,
    /// The verdict in words, with the versions it rests on.
    pub words: String,
    /// Whether the package is on PyPI (`None` when it could not be asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// The newest stable, not yanked release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
    /// The newest release the requirement admits (yanked releases skipped, as pip
    /// does; pre-releases only when nothing else matches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_satisfying: Option<String>,
    /// Whether the pinned release is yanked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_yanked: Option<bool>,
    /// Whether a newer stable release than the pin exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_outdated: Option<bool>,
    /// Where the version list came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// The upstream of the version list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
    /// Age of the version list, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<u64>,
}

/// A declared dependency and its check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScannedDependency {
    /// What the file declares.
    #[serde(flatten)]
    pub declared: DeclaredDependency,
    /// What PyPI says about it.
    pub check: DependencyCheck,
}

/// Counts over the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScanSummary {
    /// Dependencies declared.
    pub dependencies: usize,
    /// Distinct packages asked of PyPI.
    pub packages_checked: usize,
    /// Dependencies whose verdict is `ok`.
    pub ok: usize,
    /// Not on PyPI.
    pub not_found: usize,
    /// Pins that are yanked.
    pub yanked: usize,
    /// Pins with a newer stable release.
    pub outdated: usize,
    /// Pins that are no release, or requirements no release satisfies.
    pub unsatisfiable: usize,
    /// Not checked (direct references, over the bound).
    pub not_checked: usize,
    /// PyPI could not be asked.
    pub unavailable: usize,
    /// Lines that could not be read.
    pub problems: usize,
    /// Dependencies counted here but not listed in the answer (past
    /// [`MAX_LISTED_DEPENDENCIES`]).
    #[serde(default)]
    pub not_listed: usize,
}

/// The most dependencies one scan answer lists; the summary counts them all. Those
/// with a finding come first (in file order), then the rest in file order.
pub const MAX_LISTED_DEPENDENCIES: usize = 1_000;

/// Keeps at most [`MAX_LISTED_DEPENDENCIES`] of `deps` (findings first, each group in
/// file order, then back in file order), and returns how many were left out.
pub fn keep_listed(deps: &mut Vec<ScannedDependency>) -> usize {
    if deps.len() <= MAX_LISTED_DEPENDENCIES {
        return 0;
    }
    let total = deps.len();
    let mut indexed: Vec<(usize, ScannedDependency)> =
        std::mem::take(deps).into_iter().enumerate().collect();
    // Stable: a finding (anything but ok and not checked) before the others.
    indexed.sort_by_key(|(i, d)| {
        let plain = matches!(
            d.check.verdict,
            DependencyVerdict::Ok | DependencyVerdict::NotChecked
        );
        (plain, *i)
    });
    indexed.truncate(MAX_LISTED_DEPENDENCIES);
    indexed.sort_by_key(|(i, _)| *i);
    *deps = indexed.into_iter().map(|(_, d)| d).collect();
    total - deps.len()
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScanReport {
    /// The files read.
    pub files: Vec<ScannedFile>,
    /// Every declared dependency with its check, in file order.
    pub dependencies: Vec<ScannedDependency>,
    /// Requirements without a name (paths, URLs, editables): reported, not fetched.
    pub references: Vec<Reference>,
    /// Options lines: reported, not followed.
    pub options: Vec<OptionLine>,
    /// What could not be read, with file and line.
    pub problems: Vec<Problem>,
    /// Notes on the scan.
    pub notes: Vec<String>,
    /// Packages PyPI could not be asked about, with typed reasons.
    pub failures: Vec<ItemFailure>,
    /// Counts.
    pub summary: ScanSummary,
    /// With an extra index configured: the names on both indexes (dependency
    /// confusion), and those that could not be checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confusion: Option<super::confusion::ConfusionReport>,
    /// The overall source of the checks.
    pub source: SourceLabel,
}

impl ScanSummary {
    /// The verdict counts in words: `3 ok, 1 outdated, 0 yanked, ...` (the CLI's and
    /// the MCP tool's summary lines both say them so).
    pub fn verdict_words(&self) -> String {
        format!(
            "{} ok, {} outdated, {} yanked, {} unsatisfiable, {} not on PyPI, {} not checked, {} unavailable",
            self.ok,
            self.outdated,
            self.yanked,
            self.unsatisfiable,
            self.not_found,
            self.not_checked,
            self.unavailable
        )
    }

    /// Counts the verdicts of `deps`.
    pub fn count(deps: &[ScannedDependency], packages_checked: usize, problems: usize) -> Self {
        let mut s = ScanSummary {
            dependencies: deps.len(),
            packages_checked,
            problems,
            ..Default::default()
        };
        for d in deps {
            match d.check.verdict {
                DependencyVerdict::Ok => s.ok += 1,
                DependencyVerdict::Outdated => s.outdated += 1,
                DependencyVerdict::Yanked => s.yanked += 1,
                DependencyVerdict::PinMissing | DependencyVerdict::NoMatch => s.unsatisfiable += 1,
                DependencyVerdict::NotFound => s.not_found += 1,
                DependencyVerdict::NotChecked => s.not_checked += 1,
                DependencyVerdict::Unavailable => s.unavailable += 1,
            }
        }
        s
    }
}

impl DependencyCheck {
    /// Not checked, with why.
    pub fn not_checked(words: impl Into<String>) -> Self {
        Self::bare(DependencyVerdict::NotChecked, words.into(), None)
    }

    /// The package is not on PyPI.
    pub fn not_found(name: &str) -> Self {
        Self::bare(
            DependencyVerdict::NotFound,
            format!("not on PyPI: no project named `{name}`"),
            Some(false),
        )
    }

    /// PyPI could not be asked.
    pub fn unavailable(reason: &str) -> Self {
        Self::bare(
            DependencyVerdict::Unavailable,
            format!("not checked: {reason}"),
            None,
        )
    }

    fn bare(verdict: DependencyVerdict, words: String, exists: Option<bool>) -> Self {
        DependencyCheck {
            verdict,
            words,
            exists,
            latest: None,
            newest_satisfying: None,
            pin_yanked: None,
            pin_outdated: None,
            provenance: None,
            upstream: None,
            age_secs: None,
        }
    }

    /// Checks `dep` against the package's version list.
    pub fn against(dep: &DeclaredDependency, list: &crate::model::Datum<VersionList>) -> Self {
        let mut c = Self::bare(DependencyVerdict::Ok, String::new(), Some(true));
        c.provenance = Some(list.provenance.clone());
        c.upstream = Some(list.upstream);
        c.age_secs = Some(list.age_secs);
        if dep.source != DependencySource::Index {
            c.verdict = DependencyVerdict::NotChecked;
            c.words = "a direct reference: not checked against PyPI".into();
            return c;
        }
        let l = &list.value;
        c.latest = l.latest_stable.clone().or_else(|| l.latest.clone());
        let spec = VersionSpecifiers::from_str(&dep.specifier).ok();
        let parsed: Vec<(&crate::views::versions::VersionEntry, Version)> = l
            .versions
            .iter()
            .filter_map(|e| Version::from_str(&e.version).ok().map(|v| (e, v)))
            .collect();
        let admits = |v: &Version| spec.as_ref().is_none_or(|s| s.contains(v));
        c.newest_satisfying = parsed
            .iter()
            .rev()
            .find(|(e, v)| !e.yanked && !e.prerelease && admits(v))
            .or_else(|| parsed.iter().rev().find(|(e, v)| !e.yanked && admits(v)))
            .map(|(e, _)| e.version.clone());
        let latest = c.latest.clone().unwrap_or_default();
        if let Some(pin) = &dep.pinned {
            let pin_v = Version::from_str(pin).ok();
            let entry = parsed
                .iter()
                .find(|(_, v)| Some(v) == pin_v.as_ref())
                .map(|(e, _)| *e);
            let Some(entry) = entry else {
                c.verdict = DependencyVerdict::PinMissing;
                c.words = format!("{pin} is not a release of {} (latest {latest})", dep.name);
                return c;
            };
            c.pin_yanked = Some(entry.yanked);
            let newer = l
                .latest_stable
                .as_deref()
                .and_then(|s| Version::from_str(s).ok())
                .zip(pin_v)
                .is_some_and(|(latest, pin)| latest > pin);
            c.pin_outdated = Some(newer);
            if entry.yanked {
                c.verdict = DependencyVerdict::Yanked;
                c.words = format!("{pin} is yanked (latest {latest})");
            } else if newer {
                c.verdict = DependencyVerdict::Outdated;
                c.words = format!("{pin} is pinned; {latest} is the latest");
            } else {
                c.words = format!("{pin} is the latest");
            }
            return c;
        }
        match &c.newest_satisfying {
            None => {
                c.verdict = DependencyVerdict::NoMatch;
                c.words = format!("no release satisfies `{}` (latest {latest})", dep.specifier);
            }
            Some(v) if *v == latest || dep.specifier.is_empty() => {
                c.words = format!("{v} satisfies it (the latest)");
            }
            Some(v) => {
                c.words = format!("{v} is the newest that satisfies it; {latest} is the latest");
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Datum;
    use crate::project::{At, Read, read_requirement};

    fn dep(s: &str) -> DeclaredDependency {
        match read_requirement(
            s,
            At {
                file: "f",
                line: 1,
                group: "g",
            },
        ) {
            Ok(Read::Dep(d)) => *d,
            _ => panic!(),
        }
    }

    #[test]
    fn pins_and_ranges_against_black() {
        let s = crate::upstream::simple::parse(include_bytes!(
            "../../../sim/data/pypi-simple/json/black.json"
        ))
        .unwrap();
        let list = Datum::new(
            VersionList::from_simple(&s),
            Provenance::Live,
            Upstream::PypiSimple,
            std::time::Duration::ZERO,
        );
        let latest = list.value.latest_stable.clone().unwrap();
        let c = DependencyCheck::against(&dep("black==21.11b0"), &list);
        assert_eq!(c.verdict, DependencyVerdict::Yanked, "{}", c.words);
        let c = DependencyCheck::against(&dep("black==22.1.0"), &list);
        assert_eq!(c.verdict, DependencyVerdict::Outdated, "{}", c.words);
        let c = DependencyCheck::against(&dep(&format!("black=={latest}")), &list);
        assert_eq!(c.verdict, DependencyVerdict::Ok, "{}", c.words);
        let c = DependencyCheck::against(&dep("black==0.0.0.1"), &list);
        assert_eq!(c.verdict, DependencyVerdict::PinMissing);
        let c = DependencyCheck::against(&dep("black<22"), &list);
        assert_eq!(c.verdict, DependencyVerdict::Ok);
        assert!(
            c.newest_satisfying.as_deref().unwrap().starts_with("21."),
            "{c:?}"
        );
        let c = DependencyCheck::against(&dep("black>999"), &list);
        assert_eq!(c.verdict, DependencyVerdict::NoMatch);
    }

    #[test]
    fn a_scan_of_62000_dependencies_lists_1000_findings_first_and_counts_the_rest() {
        let mut deps: Vec<ScannedDependency> = (0..62_000)
            .map(|i| ScannedDependency {
                declared: dep(&format!("pkg-{i:06}>=1.0")),
                check: DependencyCheck::not_checked("past the bound"),
            })
            .collect();
        // Two findings far down the file must be listed.
        deps[40_000].check = DependencyCheck::not_found("pkg-040000");
        deps[61_999].check = DependencyCheck::not_found("pkg-061999");
        let left_out = keep_listed(&mut deps);
        assert_eq!(left_out, 61_000);
        assert_eq!(deps.len(), MAX_LISTED_DEPENDENCIES);
        let names: Vec<&str> = deps.iter().map(|d| d.declared.name.as_str()).collect();
        assert_eq!(names[0], "pkg-000000", "file order kept");
        assert!(names.contains(&"pkg-040000") && names.contains(&"pkg-061999"));
        assert_eq!(names[MAX_LISTED_DEPENDENCIES - 1], "pkg-061999");
        let mut few = deps[..10].to_vec();
        assert_eq!(keep_listed(&mut few), 0, "a short list is kept whole");
        assert_eq!(few.len(), 10);
    }
}
