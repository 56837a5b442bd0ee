//! Known vulnerabilities of a release, from the `vulnerabilities` list of PyPI's
//! per-release JSON, from the OSV API, or both merged (`upstream::osv::merge`), with
//! the smallest upgrade that fixes them. Each advisory says which source listed it.
//!
//! "Smallest upgrade": for each advisory still in force (not withdrawn), the smallest
//! of its `fixed_in` versions above the release; the upgrade is the largest of those
//! (one version at or above every advisory's fix). When the release list is known, the
//! smallest published, non-yanked release at or above it is named too, because an
//! advisory's fix may be on a branch that was never published as such.

use std::str::FromStr;

use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use crate::upstream::{ProjectDoc, Vulnerability};

/// Where an advisory was listed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AdvisorySource {
    /// The index's per-release JSON (`vulnerabilities`).
    Pypi,
    /// The OSV API.
    Osv,
    /// OSV's export of every PyPI advisory, synced into the store (`vulns sync`):
    /// answered offline, as of the export's date.
    #[serde(rename = "osv-export")]
    OsvExport,
}

impl AdvisorySource {
    /// The name in output and in `Vulnerability::source`.
    pub fn as_str(self) -> &'static str {
        match self {
            AdvisorySource::Pypi => "pypi",
            AdvisorySource::Osv => "osv",
            AdvisorySource::OsvExport => "osv-export",
        }
    }

    /// The sources a merged `Vulnerability::source` names (`pypi`, `osv`, `pypi+osv`).
    pub fn parse_list(s: Option<&str>) -> Vec<AdvisorySource> {
        let mut out: Vec<AdvisorySource> = s
            .unwrap_or("")
            .split('+')
            .filter_map(|p| match p.trim() {
                "pypi" => Some(AdvisorySource::Pypi),
                "osv" => Some(AdvisorySource::Osv),
                "osv-export" => Some(AdvisorySource::OsvExport),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// One advisory as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Advisory {
    /// OSV id.
    pub id: String,
    /// Which sources listed it.
    pub sources: Vec<AdvisorySource>,
    /// Other ids (CVE...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Summary, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Link to the advisory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Versions that fix it.
    pub fixed_in: Vec<String>,
    /// When the upstream source withdrew it (then it does not count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// The date of the data it was read from (`YYYY-MM-DD`) when it was not asked
    /// for now: the date of OSV's export, synced into the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_date: Option<String>,
    /// The smallest fixed version above the release, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smallest_fix: Option<String>,
}

/// The upgrade that fixes every advisory in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FixAdvice {
    /// The smallest version at or above every advisory's fix.
    pub version: String,
    /// Whether that exact version is published (not yanked); `None` when the release
    /// list was not available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<bool>,
    /// The smallest published, non-yanked release at or above it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_to: Option<String>,
    /// The advice in words.
    pub note: String,
}

/// Vulnerabilities of one release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PackageVulnerabilities {
    /// Display name.
    pub package: String,
    /// The release.
    pub version: String,
    /// Advisories in force (not withdrawn).
    pub active: usize,
    /// Every advisory listed, withdrawn ones included (marked).
    pub vulnerabilities: Vec<Advisory>,
    /// The smallest upgrade that fixes the advisories in force, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<FixAdvice>,
    /// The sources that were asked and answered.
    pub sources: Vec<AdvisorySource>,
    /// What the answer should be read with (a source that could not be asked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The release list of a project body as (version, yanked), for "smallest published
/// fix": a release is yanked when it has files and all are; `None` for a per-release
/// body (it has no `releases`).
pub fn published_releases(p: &ProjectDoc) -> Option<Vec<(Version, bool)>> {
    p.releases.as_ref().map(|r| {
        r.iter()
            .filter_map(|(v, files)| {
                let parsed = Version::from_str(v).ok()?;
                let yanked = !files.is_empty() && files.iter().all(|f| f.yanked);
                Some((parsed, yanked))
            })
            .collect()
    })
}

impl PackageVulnerabilities {
    /// From a per-release (or project) body: the vulnerabilities of `info.version`.
    /// `published` is the release list, when known: (version, yanked).
    pub fn from_release(p: &ProjectDoc, published: Option<&[(Version, bool)]>) -> Self {
        let list = from_pypi(&p.vulnerabilities);
        let mut v = Self::from_list(&p.info.name, &p.info.version, &list, published);
        v.sources = vec![AdvisorySource::Pypi];
        v
    }

    /// From an advisory list.
    pub fn from_list(
        package: &str,
        version: &str,
        list: &[Vulnerability],
        published: Option<&[(Version, bool)]>,
    ) -> Self {
        let current = Version::from_str(version).ok();
        let mut vulnerabilities = Vec::new();
        let mut needed: Option<Version> = None;
        let mut unfixed = Vec::new();
        for v in list {
            let smallest = current.as_ref().and_then(|cur| {
                v.fixed_in
                    .iter()
                    .filter_map(|f| Version::from_str(f).ok())
                    .filter(|f| f > cur)
                    .min()
            });
            if v.withdrawn.is_none() {
                match &smallest {
                    Some(s) => {
                        if needed.as_ref().is_none_or(|n| s > n) {
                            needed = Some(s.clone());
                        }
                    }
                    None => unfixed.push(v.id.clone()),
                }
            }
            vulnerabilities.push(Advisory {
                id: v.id.clone(),
                sources: AdvisorySource::parse_list(v.source.as_deref()),
                aliases: v.aliases.clone(),
                summary: v.summary.clone(),
                link: v.link.clone(),
                fixed_in: v.fixed_in.clone(),
                withdrawn: v.withdrawn.clone(),
                data_date: v.data_date.clone(),
                smallest_fix: smallest.map(|s| s.to_string()),
            });
        }
        let active = list.iter().filter(|v| v.withdrawn.is_none()).count();
        let fix = needed.map(|n| {
            let exact = published.map(|p| p.iter().any(|(v, y)| v == &n && !y));
            let upgrade_to = published.and_then(|p| {
                p.iter()
                    .filter(|(v, y)| !y && v >= &n && !v.any_prerelease())
                    .map(|(v, _)| v)
                    .min()
                    .map(ToString::to_string)
            });
            let mut note = match (exact, &upgrade_to) {
                (Some(true), _) => format!("upgrade to {n}"),
                (Some(false), Some(u)) => format!(
                    "the advisories are fixed in {n}, which is not published; the smallest published release at or above it is {u}"
                ),
                (Some(false), None) => format!(
                    "the advisories are fixed in {n}, but no published release is at or above it yet"
                ),
                (None, _) => format!("upgrade to {n} or later (the release list was not available to check it)"),
            };
            if !unfixed.is_empty() {
                note.push_str(&format!(
                    "; no fixed version is listed for {}",
                    unfixed.join(", ")
                ));
            }
            FixAdvice {
                version: n.to_string(),
                published: exact,
                upgrade_to,
                note,
            }
        });
        let fix = match (fix, unfixed.is_empty()) {
            (None, false) => Some(FixAdvice {
                version: String::new(),
                published: None,
                upgrade_to: None,
                note: format!("no fixed version is listed for {}", unfixed.join(", ")),
            }),
            (f, _) => f,
        };
        PackageVulnerabilities {
            package: package.to_string(),
            version: version.to_string(),
            active,
            vulnerabilities,
            fix,
            sources: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// PyPI's list as listed by PyPI (its entries say `source: osv`, where PyPI had them
/// from: here the source is the one we asked).
pub fn from_pypi(list: &[Vulnerability]) -> Vec<Vulnerability> {
    list.iter()
        .map(|v| Vulnerability {
            source: Some(AdvisorySource::Pypi.as_str().into()),
            ..v.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vuln(id: &str, fixed: &[&str], withdrawn: bool) -> Vulnerability {
        Vulnerability {
            id: id.into(),
            aliases: vec![format!("ALIAS-{id}")],
            summary: Some("s".into()),
            link: None,
            source: Some("osv".into()),
            fixed_in: fixed.iter().map(|s| s.to_string()).collect(),
            withdrawn: withdrawn.then(|| "2024-01-01T00:00:00Z".into()),
            data_date: None,
        }
    }

    fn published(list: &[(&str, bool)]) -> Vec<(Version, bool)> {
        list.iter()
            .map(|(v, y)| (Version::from_str(v).unwrap(), *y))
            .collect()
    }

    #[test]
    fn smallest_fix_above_the_release_across_branches() {
        let p = published(&[("2.1.5", false), ("3.0.0", false)]);
        let r = PackageVulnerabilities::from_list(
            "m",
            "2.1.5",
            &[vuln("A", &["3.0.0", "2.1.6"], false)],
            Some(&p),
        );
        assert_eq!(r.active, 1);
        let fix = r.fix.unwrap();
        assert_eq!(fix.version, "2.1.6");
        assert_eq!(fix.published, Some(false));
        assert_eq!(fix.upgrade_to.as_deref(), Some("3.0.0"));
        assert!(fix.note.contains("not published"), "{}", fix.note);
    }

    #[test]
    fn withdrawn_advisories_do_not_count_and_the_largest_fix_wins() {
        let p = published(&[
            ("1.0", false),
            ("1.1", false),
            ("1.2", true),
            ("1.3", false),
        ]);
        let r = PackageVulnerabilities::from_list(
            "x",
            "1.0",
            &[
                vuln("A", &["1.1"], false),
                vuln("B", &["1.2"], false),
                vuln("C", &["9.0"], true),
            ],
            Some(&p),
        );
        assert_eq!(r.active, 2);
        let fix = r.fix.unwrap();
        assert_eq!(fix.version, "1.2");
        assert_eq!(fix.published, Some(false), "1.2 is yanked");
        assert_eq!(fix.upgrade_to.as_deref(), Some("1.3"));
        assert!(r.vulnerabilities[2].withdrawn.is_some());
    }

    #[test]
    fn no_advisories_no_fix() {
        let r = PackageVulnerabilities::from_list("x", "1.0", &[], None);
        assert_eq!(r.active, 0);
        assert!(r.fix.is_none());
        let r = PackageVulnerabilities::from_list("x", "1.0", &[vuln("A", &[], false)], None);
        assert!(r.fix.unwrap().note.contains("no fixed version"));
    }
}
