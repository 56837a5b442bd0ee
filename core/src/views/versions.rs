//! Every version of a project, sorted by PEP 440 (not by the string order in which
//! PyPI's sorted-keys JSON lists them).

use std::collections::BTreeMap;
use std::str::FromStr;

use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use crate::upstream::{ProjectDoc, SimpleDoc};

/// One version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VersionList {
    /// Normalised or display name of the project.
    pub package: String,
    /// Versions, ascending by PEP 440.
    pub versions: Vec<VersionEntry>,
    /// The newest version that is neither a pre-release nor yanked.
    pub latest_stable: Option<String>,
    /// The newest version of all.
    pub latest: Option<String>,
    /// What the list rests on when it is not simply the JSON API's: the Simple API
    /// after the JSON API failed, files that could not be mapped to a release, legacy
    /// versions listed last. In words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Default)]
struct Collected {
    yanked_files: usize,
    files: usize,
    first_upload: Option<String>,
}

/// The listed version a file belongs to: the one PEP 440-equal to the version its
/// name carries, else (for installers and other names the parser cannot read) the
/// longest listed version that the name carries after a `-`.
fn map_file<'a>(
    filename: &str,
    from_name: Option<&str>,
    listed: &'a [(String, Option<Version>)],
) -> Option<&'a str> {
    if let Some(v) = from_name {
        if let Some((s, _)) = listed.iter().find(|(s, _)| s == v) {
            return Some(s);
        }
        if let Ok(parsed) = Version::from_str(v)
            && let Some((s, _)) = listed.iter().find(|(_, p)| p.as_ref() == Some(&parsed))
        {
            return Some(s);
        }
        return None;
    }
    listed
        .iter()
        .filter(|(s, _)| {
            filename.match_indices(&format!("-{s}")).any(|(i, m)| {
                let rest = &filename[i + m.len()..];
                // The version must end there: not `1.1` inside `1.10`.
                let digit_next = rest.starts_with(|c: char| c.is_ascii_digit());
                let dot_digit_next =
                    rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit());
                !(digit_next || dot_digit_next)
            })
        })
        .max_by_key(|(s, _)| s.len())
        .map(|(s, _)| s.as_str())
}

impl Collected {
    /// Counts one Simple API file for its release.
    fn add(&mut self, f: &crate::upstream::SimpleFile) {
        self.files += 1;
        self.yanked_files += usize::from(f.is_yanked());
        if let Some(t) = &f.upload_time
            && self.first_upload.as_ref().is_none_or(|u| t < u)
        {
            self.first_upload = Some(t.clone());
        }
    }
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
        // PEP 700 (API 1.1+) lists the project's versions: they are the truth. Each
        // file is mapped to the listed version it belongs to, by PEP 440 equality of
        // the version its name carries (`69.3` is `69.3.0`), never turned into one.
        if s.versions.is_empty() {
            return Self::from_simple_file_names(s);
        }
        let listed: Vec<(String, Option<Version>)> = s
            .versions
            .iter()
            .map(|v| (v.clone(), Version::from_str(v).ok()))
            .collect();
        let mut by_version: BTreeMap<String, Collected> = listed
            .iter()
            .map(|(v, _)| (v.clone(), Collected::default()))
            .collect();
        let mut unmapped: Vec<&str> = Vec::new();
        for f in &s.files {
            let Some(v) = map_file(&f.filename, f.version(), &listed) else {
                unmapped.push(&f.filename);
                continue;
            };
            by_version.entry(v.to_string()).or_default().add(f);
        }
        let mut list = Self::build(s.name.clone(), by_version);
        if !unmapped.is_empty() {
            let shown: Vec<&str> = unmapped.iter().take(5).copied().collect();
            list.notes.push(format!(
                "{} file(s) could not be mapped to a listed release and are not counted: {}{}",
                unmapped.len(),
                shown.join(", "),
                if unmapped.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                }
            ));
        }
        list
    }

    /// A page without a version list (API 1.0): versions as its file names give them.
    fn from_simple_file_names(s: &SimpleDoc) -> Self {
        let mut by_version: BTreeMap<String, Collected> = BTreeMap::new();
        let mut unreadable = 0usize;
        for f in &s.files {
            let Some(v) = f.version() else {
                unreadable += 1;
                continue;
            };
            by_version.entry(v.to_string()).or_default().add(f);
        }
        let mut list = Self::build(s.name.clone(), by_version);
        list.notes.push(format!(
            "the Simple page does not list versions (API 1.0): they are read from file names{}",
            if unreadable > 0 {
                format!(", {unreadable} file(s) unreadable")
            } else {
                String::new()
            }
        ));
        list
    }

    fn build(package: String, by_version: BTreeMap<String, Collected>) -> Self {
        let mut notes = Vec::new();
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
        // PEP 440 order; legacy (non-PEP 440) versions have none, so they come after,
        // oldest upload first.
        entries.sort_by(|(a, ea), (b, eb)| match (a, b) {
            (Some(a), Some(b)) => a.cmp(b),
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, None) => (&ea.upload_date, &ea.version).cmp(&(&eb.upload_date, &eb.version)),
        });
        let legacy = entries.iter().filter(|(p, _)| p.is_none()).count();
        if legacy > 0 {
            notes.push(format!(
                "{legacy} legacy version(s) that are not PEP 440 are listed last, by upload date: they have no PEP 440 order"
            ));
        }
        let versions: Vec<VersionEntry> = entries.into_iter().map(|(_, e)| e).collect();
        let latest_stable = versions
            .iter()
            .rev()
            .find(|e| e.pep440 && !e.prerelease && !e.yanked)
            .map(|e| e.version.clone());
        let latest = versions
            .iter()
            .rev()
            .find(|e| e.pep440)
            .or(versions.last())
            .map(|e| e.version.clone());
        VersionList {
            notes,
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

    fn simple(versions: &[&str], files: &[&str]) -> SimpleDoc {
        let body = serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": "x",
            "versions": versions,
            "files": files.iter().map(|f| serde_json::json!({"filename": f, "upload-time": "2020-01-01T00:00:00Z"})).collect::<Vec<_>>(),
        });
        crate::upstream::simple::parse(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn the_simple_fallback_never_invents_versions() {
        // setuptools 69.3.0 ships a file named 69.3; cuda-toolkit 12.8.2.0 one named
        // 12.8.2; pillow a "-rc1" sdist; pywin32 installers the parser cannot read.
        let s = simple(
            &["12.8.2.0", "69.3.0", "306"],
            &[
                "x-69.3.tar.gz",
                "x-69.3.0-py3-none-any.whl",
                "x_toolkit-12.8.2-py3-none-any.whl",
                "x-2.0.0-rc1.tar.gz",
                "x-306.win32-py3.8.exe",
                "x-306.win-amd64-py3.9.msi",
            ],
        );
        let list = VersionList::from_simple(&s);
        let names: Vec<&str> = list.versions.iter().map(|e| e.version.as_str()).collect();
        assert_eq!(names, vec!["12.8.2.0", "69.3.0", "306"]);
        let files = |v: &str| list.versions.iter().find(|e| e.version == v).unwrap().files;
        assert_eq!(files("69.3.0"), 2);
        assert_eq!(files("12.8.2.0"), 1);
        assert_eq!(files("306"), 2, "installers are counted");
        assert!(
            list.notes
                .iter()
                .any(|n| n.starts_with("1 file(s) could not be mapped")
                    && n.contains("x-2.0.0-rc1.tar.gz")),
            "{:?}",
            list.notes
        );
    }

    #[test]
    fn legacy_versions_come_after_pep440_ones_and_say_why() {
        let body = serde_json::json!({"info": {"name": "pytz", "version": "2024.1"}, "releases": {
            "2004d": [{"filename": "pytz-2004d.tar.gz", "upload_time_iso_8601": "2005-01-01T00:00:00Z"}],
            "2013d": [{"filename": "pytz-2013d.tar.gz", "upload_time_iso_8601": "2013-01-01T00:00:00Z"}],
            "2024.1": [{"filename": "pytz-2024.1.tar.gz", "upload_time_iso_8601": "2024-01-01T00:00:00Z"}],
        }});
        let p = crate::upstream::pypi::parse(body.to_string().as_bytes()).unwrap();
        let list = VersionList::from_project(&p);
        let names: Vec<&str> = list.versions.iter().map(|e| e.version.as_str()).collect();
        assert_eq!(names, vec!["2024.1", "2004d", "2013d"]);
        assert_eq!(list.latest.as_deref(), Some("2024.1"));
        assert!(
            list.notes[0].contains("2 legacy version(s)"),
            "{:?}",
            list.notes
        );
    }
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
