//! Dependency confusion: a name that exists both on public PyPI and on a private index
//! configured beside it (pip's `--extra-index-url`). pip does not prefer an index: it
//! gathers the candidates of both and installs the highest version, so whoever can
//! upload a higher version of a private name to PyPI gets it installed.
//!
//! For each name, the two indexes' version lists (each with its provenance) give a
//! [`NameConfusion`]: on both (a [`ConfusionFinding`]: which versions each has, when
//! the public one first appeared, which release pip would install and from where), only
//! on the extra index, not on it, or not checked (an index that could not be asked is
//! never "clean").

use std::str::FromStr;

use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use super::versions::VersionList;
use crate::model::{Datum, ItemFailure};
use crate::words::plural;

/// The newest versions listed per index in an answer (the count says how many in all).
pub const LISTED_VERSIONS: usize = 20;

/// One index's releases of a name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IndexSide {
    /// How many versions the index lists.
    pub count: usize,
    /// The newest versions (at most [`LISTED_VERSIONS`]), oldest first.
    pub versions: Vec<String>,
    /// The newest version.
    pub latest: Option<String>,
    /// The earliest upload time of any of its files, when the index gives upload
    /// times (the JSON API, PEP 700 Simple pages).
    pub first_upload: Option<String>,
}

impl IndexSide {
    /// From a version list.
    pub fn of(list: &VersionList) -> Self {
        let all: Vec<String> = list.versions.iter().map(|v| v.version.clone()).collect();
        let skip = all.len().saturating_sub(LISTED_VERSIONS);
        IndexSide {
            count: all.len(),
            versions: all[skip..].to_vec(),
            latest: list.latest.clone(),
            first_upload: list
                .versions
                .iter()
                .filter_map(|v| v.upload_date.clone())
                .min(),
        }
    }
}

/// The index pip would take the release from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PipIndex {
    /// Public PyPI.
    Pypi,
    /// The extra (private) index.
    ExtraIndex,
    /// Both list that version: pip prefers neither, it may take either's file.
    Either,
}

/// The release pip would install with no version constraint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PipChoice {
    /// The highest version across both indexes (final releases, not yanked; pre-releases
    /// only when there is nothing else, as pip does).
    pub version: String,
    /// Where it comes from.
    pub index: PipIndex,
}

/// How dangerous a name on both indexes is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfusionRisk {
    /// pip would install PyPI's release (or may, for the same version on both): the
    /// attack in force. Fails an audit.
    PublicWins,
    /// pip would install the extra index's release today; anyone who uploads a higher
    /// version to PyPI changes that.
    ExtraWins,
    /// Every version the extra index lists is on PyPI too: it looks like a mirror or
    /// proxy of PyPI for this name, not a private project.
    Mirrored,
}

/// A name on both indexes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConfusionFinding {
    /// Normalised name.
    pub package: String,
    /// PyPI's releases, with the provenance of its version list.
    pub public: Datum<IndexSide>,
    /// The extra index's releases, with the provenance of its Simple page.
    pub extra: Datum<IndexSide>,
    /// What pip would install (absent when neither index lists a version pip can order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pip_installs: Option<PipChoice>,
    /// Public wins, extra wins, or mirrored.
    pub risk: ConfusionRisk,
    /// Whether it fails an audit (`public_wins`).
    pub fails: bool,
    /// In words.
    pub words: String,
}

/// What the check found for one name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfusionStatus {
    /// On PyPI and on the extra index: see `finding`.
    OnBoth,
    /// Only on the extra index: pip installs the private project (not flagged).
    ExtraOnly,
    /// Not on the extra index: nothing to confuse.
    NotOnExtra,
    /// An index could not be asked: not checked for confusion (see `reason`).
    NotChecked,
}

/// The dependency-confusion check of one name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NameConfusion {
    /// Normalised name.
    pub package: String,
    /// On both, extra only, not on the extra index, or not checked.
    pub status: ConfusionStatus,
    /// When on both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<ConfusionFinding>,
    /// Why it was not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What one index said about a name: its versions, "no such project", or a failure.
pub type Side = Result<Option<Datum<VersionList>>, String>;

/// pip's pick across both indexes.
fn pip_choice(public: &VersionList, extra: &VersionList) -> Option<PipChoice> {
    let candidates = |l: &VersionList, pre: bool| -> Vec<Version> {
        l.versions
            .iter()
            .filter(|v| !v.yanked && (pre || !v.prerelease))
            .filter_map(|v| Version::from_str(&v.version).ok())
            .collect()
    };
    let pick = |pre: bool| {
        let (p, e) = (candidates(public, pre), candidates(extra, pre));
        let best = p.iter().chain(e.iter()).max()?.clone();
        let index = match (p.contains(&best), e.contains(&best)) {
            (true, true) => PipIndex::Either,
            (true, false) => PipIndex::Pypi,
            _ => PipIndex::ExtraIndex,
        };
        Some(PipChoice {
            version: best.to_string(),
            index,
        })
    };
    pick(false).or_else(|| pick(true))
}

/// The finding for a name both indexes list.
pub fn finding(
    package: &str,
    public: Datum<VersionList>,
    extra: Datum<VersionList>,
) -> ConfusionFinding {
    let choice = pip_choice(&public.value, &extra.value);
    let public_versions: Vec<Option<Version>> = public
        .value
        .versions
        .iter()
        .map(|v| Version::from_str(&v.version).ok())
        .collect();
    let mirrored = !extra.value.versions.is_empty()
        && extra.value.versions.iter().all(|v| {
            let parsed = Version::from_str(&v.version).ok();
            public
                .value
                .versions
                .iter()
                .zip(&public_versions)
                .any(|(p, pv)| p.version == v.version || (parsed.is_some() && *pv == parsed))
        });
    let risk = match (&choice, mirrored) {
        (_, true) => ConfusionRisk::Mirrored,
        (Some(c), false) if c.index != PipIndex::ExtraIndex => ConfusionRisk::PublicWins,
        _ => ConfusionRisk::ExtraWins,
    };
    let (ps, es) = (IndexSide::of(&public.value), IndexSide::of(&extra.value));
    let first = ps
        .first_upload
        .as_deref()
        .map(|d| format!("first uploaded {}", d.get(..10).unwrap_or(d)))
        .unwrap_or_else(|| "first upload unknown (the index gave no upload times)".into());
    let newest = |s: &IndexSide| s.latest.clone().unwrap_or_else(|| "none".into());
    let pip = match &choice {
        Some(c) => format!(
            "pip would install {} {}",
            c.version,
            match c.index {
                PipIndex::Pypi => "from PyPI",
                PipIndex::ExtraIndex => "from the extra index",
                PipIndex::Either => "from either index (both list it; pip prefers neither)",
            }
        ),
        None => "pip would find no release it can order on either index".into(),
    };
    let why = match risk {
        ConfusionRisk::PublicWins => {
            "dependency confusion: the public project is installed in place of the private one; pin the index (uv's index strategy, pip's --index-url alone) or claim the name on PyPI"
        }
        ConfusionRisk::ExtraWins => {
            "the private release wins today, but anyone can upload a higher version to PyPI and pip would take it"
        }
        ConfusionRisk::Mirrored => {
            "every version the extra index lists is on PyPI too: it looks like a mirror of PyPI for this name"
        }
    };
    let words = format!(
        "{package} is on both indexes: PyPI has {} (newest {}, {first}), the extra index has {} (newest {}); {pip} (the highest version across both, as pip chooses); {why}",
        plural(ps.count as u64, "version", "versions"),
        newest(&ps),
        plural(es.count as u64, "version", "versions"),
        newest(&es),
    );
    ConfusionFinding {
        package: package.to_string(),
        public: public.map(|_| ps),
        extra: extra.map(|_| es),
        pip_installs: choice,
        fails: risk == ConfusionRisk::PublicWins,
        risk,
        words,
    }
}

/// The check of one name from what each index said.
pub fn compare(package: &str, public: Side, extra: Side) -> NameConfusion {
    let (status, finding, reason) = match (public, extra) {
        (_, Err(e)) => (
            ConfusionStatus::NotChecked,
            None,
            Some(format!(
                "not checked for confusion: the extra index could not be asked ({e})"
            )),
        ),
        (_, Ok(None)) => (ConfusionStatus::NotOnExtra, None, None),
        (Err(e), Ok(Some(_))) => (
            ConfusionStatus::NotChecked,
            None,
            Some(format!(
                "not checked for confusion: on the extra index, and PyPI could not be asked ({e})"
            )),
        ),
        (Ok(None), Ok(Some(_))) => (ConfusionStatus::ExtraOnly, None, None),
        (Ok(Some(p)), Ok(Some(x))) => (ConfusionStatus::OnBoth, Some(finding(package, p, x)), None),
    };
    NameConfusion {
        package: package.to_string(),
        status,
        finding,
        reason,
    }
}

/// The check of many names (a scan's or an audit's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConfusionReport {
    /// The extra index asked (credentials redacted).
    pub extra_index: String,
    /// Names checked on both indexes.
    pub checked: usize,
    /// Names on both indexes.
    pub on_both: Vec<ConfusionFinding>,
    /// Names only on the extra index (not flagged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_only: Vec<String>,
    /// Names not checked for confusion, and why (never read as "clean").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_checked: Vec<ItemFailure>,
    /// In words.
    pub summary: String,
}

impl ConfusionReport {
    /// Gathers the names' checks.
    pub fn of(extra_index: String, names: Vec<NameConfusion>) -> Self {
        let checked = names.len();
        let mut on_both = Vec::new();
        let mut extra_only = Vec::new();
        let mut not_checked = Vec::new();
        for n in names {
            match n.status {
                ConfusionStatus::OnBoth => on_both.extend(n.finding),
                ConfusionStatus::ExtraOnly => extra_only.push(n.package),
                ConfusionStatus::NotOnExtra => {}
                ConfusionStatus::NotChecked => not_checked.push(ItemFailure {
                    item: format!("{}/confusion", n.package),
                    code: crate::model::ErrorCode::Unavailable,
                    reason: n.reason.unwrap_or_default(),
                    suggestion: "retry when the extra index (and PyPI) answer; until then the name is not checked for dependency confusion".into(),
                    retry_after_secs: None,
                }),
            }
        }
        let public_wins = on_both.iter().filter(|f| f.fails).count();
        let mut summary = format!(
            "{} checked against PyPI and the extra index: {} on both ({} where pip would install PyPI's release), {} only on the extra index",
            plural(checked as u64, "name", "names"),
            on_both.len(),
            public_wins,
            extra_only.len()
        );
        if !not_checked.is_empty() {
            summary.push_str(&format!(
                "; {} not checked for confusion (an index could not be asked)",
                not_checked.len()
            ));
        }
        ConfusionReport {
            extra_index,
            checked,
            on_both,
            extra_only,
            not_checked,
            summary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Provenance, Upstream};
    use crate::views::versions::VersionEntry;

    fn list(name: &str, versions: &[(&str, Option<&str>)]) -> VersionList {
        VersionList {
            package: name.into(),
            versions: versions
                .iter()
                .map(|(v, d)| VersionEntry {
                    version: v.to_string(),
                    prerelease: Version::from_str(v).is_ok_and(|v| v.any_prerelease()),
                    yanked: false,
                    upload_date: d.map(str::to_string),
                    files: 1,
                    pep440: true,
                })
                .collect(),
            latest_stable: versions.last().map(|v| v.0.to_string()),
            latest: versions.last().map(|v| v.0.to_string()),
            notes: Vec::new(),
        }
    }

    fn datum(l: VersionList, up: Upstream) -> Datum<VersionList> {
        Datum::new(l, Provenance::Live, up, std::time::Duration::ZERO)
    }

    #[test]
    fn a_higher_public_version_is_installed_by_pip_and_fails() {
        let public = list(
            "acme",
            &[
                ("1.0", Some("2020-01-02T00:00:00")),
                ("99.0", Some("2026-01-01T00:00:00")),
            ],
        );
        let extra = list("acme", &[("1.2", None), ("1.3", None)]);
        let n = compare(
            "acme",
            Ok(Some(datum(public, Upstream::PypiJson))),
            Ok(Some(datum(extra, Upstream::ExtraIndex))),
        );
        assert_eq!(n.status, ConfusionStatus::OnBoth);
        let f = n.finding.unwrap();
        assert_eq!(f.risk, ConfusionRisk::PublicWins);
        assert!(f.fails);
        assert_eq!(
            f.pip_installs,
            Some(PipChoice {
                version: "99.0".into(),
                index: PipIndex::Pypi
            })
        );
        assert_eq!(
            f.public.value.first_upload.as_deref(),
            Some("2020-01-02T00:00:00")
        );
        assert_eq!(f.extra.value.versions, ["1.2", "1.3"]);
        assert!(f.words.contains("first uploaded 2020-01-02"), "{}", f.words);
    }

    #[test]
    fn a_higher_private_version_wins_but_is_still_flagged() {
        let public = list("acme", &[("1.0", None), ("2.0rc1", None)]);
        let extra = list("acme", &[("1.5", None)]);
        let f = finding(
            "acme",
            datum(public, Upstream::PypiJson),
            datum(extra, Upstream::ExtraIndex),
        );
        // A pre-release is not pip's choice while a final release exists.
        assert_eq!(f.pip_installs.as_ref().unwrap().version, "1.5");
        assert_eq!(f.pip_installs.unwrap().index, PipIndex::ExtraIndex);
        assert_eq!(f.risk, ConfusionRisk::ExtraWins);
        assert!(!f.fails);
    }

    #[test]
    fn a_mirror_of_pypi_is_not_an_attack() {
        let public = list("six", &[("1.15.0", None), ("1.16.0", None)]);
        let extra = list("six", &[("1.15", None)]);
        let f = finding(
            "six",
            datum(public, Upstream::PypiJson),
            datum(extra, Upstream::ExtraIndex),
        );
        assert_eq!(f.risk, ConfusionRisk::Mirrored);
        assert!(!f.fails);
    }

    #[test]
    fn private_only_and_failing_indexes() {
        let extra = || {
            Ok(Some(datum(
                list("acme", &[("1", None)]),
                Upstream::ExtraIndex,
            )))
        };
        assert_eq!(
            compare("acme", Ok(None), extra()).status,
            ConfusionStatus::ExtraOnly
        );
        let n = compare("acme", Err("503".into()), extra());
        assert_eq!(n.status, ConfusionStatus::NotChecked);
        let n = compare("acme", Ok(None), Err("connection refused".into()));
        assert_eq!(n.status, ConfusionStatus::NotChecked);
        assert!(n.reason.unwrap().contains("connection refused"));
        assert_eq!(
            compare("acme", Ok(None), Ok(None)).status,
            ConfusionStatus::NotOnExtra
        );
        let r = ConfusionReport::of(
            "https://x/simple".into(),
            vec![compare("acme", Ok(None), Err("down".into()))],
        );
        assert_eq!(r.not_checked.len(), 1);
        assert!(r.summary.contains("not checked"), "{}", r.summary);
    }
}
