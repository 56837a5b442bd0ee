//! Every version of a project, sorted by PEP 440 (not by the string order in which
//! PyPI's sorted-keys JSON lists them).

use std::collections::BTreeMap;
use std::str::FromStr;

use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use crate::upstream::{ProjectDoc, SimpleDoc};

/// One version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionEntry {
    /// The version string as published.
    pub version: String,
    /// A pre-release or development release (PEP 440).
    pub prerelease: bool,
    /// Every file of the release is yanked (a release without files is not).
    pub yanked: bool,
    /// Earliest upload time of its files.
    pub upload_date: Option<String>,
    /// Number of files.
    pub files: usize,
    /// Whether the string is a valid PEP 440 version (legacy versions sort first).
    pub pep440: bool,
}

/// The versions of a project, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionList {
    /// Normalised or display name of the project.
    pub package: String,
    /// Versions, ascending by PEP 440.
    pub versions: Vec<VersionEntry>,
    /// The newest version that is neither a pre-release nor yanked.
    pub latest_stable: Option<String>,
    /// The newest version of all.
    pub latest: Option<String>,
    /// Where the list came from when it is not the JSON API (e.g. the Simple API
    /// after the JSON API failed), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Default)]
struct Collected {
    yanked_files: usize,
    files: usize,
    first_upload: Option<String>,
}

impl VersionList {
    /// From a project body's `releases`.
    pub fn from_project(p: &ProjectDoc) -> Self {
        let mut by_version = BTreeMap::new();
        for (v, files) in p.releases.iter().flatten() {
            by_version.insert(
                v.clone(),
                Collected {
                    yanked_files: files.iter().filter(|f| f.yanked).count(),
                    files: files.len(),
                    first_upload: ProjectDoc::first_upload(files),
                },
            );
        }
        Self::build(p.info.name.clone(), by_version)
    }

    /// From a Simple API page: versions from `versions`, file facts from the file names.
    pub fn from_simple(s: &SimpleDoc) -> Self {
        let mut by_version: BTreeMap<String, Collected> = s
            .versions
            .iter()
            .map(|v| (v.clone(), Collected::default()))
            .collect();
        for f in &s.files {
            let Some(v) = f.version() else { continue };
            // Pages older than api 1.1 have no `versions`: the files name them.
            let c = by_version.entry(v.to_string()).or_default();
            c.files += 1;
            c.yanked_files += usize::from(f.is_yanked());
            if let Some(t) = &f.upload_time
                && c.first_upload.as_ref().is_none_or(|u| t < u)
            {
                c.first_upload = Some(t.clone());
            }
        }
        Self::build(s.name.clone(), by_version)
    }

    fn build(package: String, by_version: BTreeMap<String, Collected>) -> Self {
        let mut entries: Vec<(Option<Version>, VersionEntry)> = by_version
            .into_iter()
            .map(|(v, c)| {
                let parsed = Version::from_str(&v).ok();
                let entry = VersionEntry {
                    prerelease: parsed.as_ref().is_some_and(|p| p.any_prerelease()),
                    yanked: c.files > 0 && c.yanked_files == c.files,
                    upload_date: c.first_upload,
                    files: c.files,
                    pep440: parsed.is_some(),
                    version: v,
                };
                (parsed, entry)
            })
            .collect();
        // Legacy (non-PEP 440) versions first, in string order; then PEP 440 order.
        entries.sort_by(|(a, ea), (b, eb)| match (a, b) {
            (Some(a), Some(b)) => a.cmp(b),
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (None, None) => ea.version.cmp(&eb.version),
        });
        let versions: Vec<VersionEntry> = entries.into_iter().map(|(_, e)| e).collect();
        let latest_stable = versions
            .iter()
            .rev()
            .find(|e| e.pep440 && !e.prerelease && !e.yanked)
            .map(|e| e.version.clone());
        let latest = versions.last().map(|e| e.version.clone());
        VersionList {
            note: None,
            package,
            versions,
            latest_stable,
            latest,
        }
    }
}

/// Sorts version strings by PEP 440 (legacy strings first). Exposed for the benches.
pub fn sort_pep440(versions: &mut [String]) {
    versions.sort_by_cached_key(|v| (Version::from_str(v).ok(), v.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::{pypi, simple};

    #[test]
    fn django_versions_sort_by_pep440_not_by_string() {
        let p = pypi::parse(include_bytes!(
            "../../../sim/data/pypi-json/project/django.json"
        ))
        .unwrap();
        let list = VersionList::from_project(&p);
        let pos = |v: &str| list.versions.iter().position(|e| e.version == v).unwrap();
        assert!(pos("1.9") < pos("1.10"), "1.9 sorts before 1.10");
        assert!(pos("1.1") < pos("1.1.1"));
        assert_eq!(list.latest_stable.as_deref(), Some(p.info.version.as_str()));
        assert!(list.versions.iter().any(|e| e.prerelease));
    }

    #[test]
    fn black_simple_page_marks_the_yanked_release() {
        let s = simple::parse(include_bytes!(
            "../../../sim/data/pypi-simple/json/black.json"
        ))
        .unwrap();
        let list = VersionList::from_simple(&s);
        let e = list
            .versions
            .iter()
            .find(|e| e.version == "21.11b0")
            .unwrap();
        assert!(e.yanked && e.prerelease);
        assert!(e.upload_date.is_some());
        assert_eq!(list.versions.len(), s.versions.len());
    }

    #[test]
    fn json_and_simple_agree_on_numpy_order() {
        let p = pypi::parse(include_bytes!(
            "../../../sim/data/pypi-json/project/numpy.json"
        ))
        .unwrap();
        let from_json: Vec<String> = VersionList::from_project(&p)
            .versions
            .into_iter()
            .filter(|e| e.files > 0)
            .map(|e| e.version)
            .collect();
        let mut sorted = from_json.clone();
        sorted.reverse();
        sort_pep440(&mut sorted);
        assert_eq!(sorted, from_json);
    }
}
