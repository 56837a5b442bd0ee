//! Package metadata of one release.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::upstream::ProjectDoc;

/// The metadata people ask about first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageInfo {
    /// Display name.
    pub name: String,
    /// The release described.
    pub version: String,
    /// One-line summary.
    pub summary: Option<String>,
    /// The PEP 639 licence expression when declared, else the `License` field.
    pub license: Option<String>,
    /// Where `license` came from: `license_expression` or `license`.
    pub license_source: Option<String>,
    /// `Requires-Python`.
    pub requires_python: Option<String>,
    /// Project URLs (label -> URL), with the legacy home page as `Homepage` if absent.
    pub project_urls: BTreeMap<String, String>,
    /// Author.
    pub author: Option<String>,
    /// Trove classifiers.
    pub classifiers: Vec<String>,
    /// Earliest upload time of the release's files.
    pub release_date: Option<String>,
    /// Whether the release is yanked.
    pub yanked: bool,
    /// Why, when given.
    pub yanked_reason: Option<String>,
    /// Number of declared requirements.
    pub dependency_count: usize,
}

/// Empty strings upstream mean "not given".
fn given(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl PackageInfo {
    /// From a project or release body.
    pub fn from_project(p: &ProjectDoc) -> Self {
        let i = &p.info;
        let (license, license_source) = match (given(&i.license_expression), given(&i.license)) {
            (Some(e), _) => (Some(e), Some("license_expression".to_string())),
            (None, Some(l)) => (Some(l), Some("license".to_string())),
            (None, None) => (None, None),
        };
        let mut project_urls = i.project_urls.clone().unwrap_or_default();
        if let Some(home) = given(&i.home_page) {
            project_urls.entry("Homepage".into()).or_insert(home);
        }
        PackageInfo {
            name: i.name.clone(),
            version: i.version.clone(),
            summary: given(&i.summary),
            license,
            license_source,
            requires_python: given(&i.requires_python),
            project_urls,
            author: given(&i.author),
            classifiers: i.classifiers.clone(),
            release_date: ProjectDoc::first_upload(&p.urls),
            yanked: i.yanked,
            yanked_reason: given(&i.yanked_reason),
            dependency_count: i.requires_dist.as_ref().map_or(0, Vec::len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::pypi;

    #[test]
    fn django_info_has_its_release_date_and_urls() {
        let p = pypi::parse(include_bytes!(
            "../../../sim/data/pypi-json/project/django.json"
        ))
        .unwrap();
        let info = PackageInfo::from_project(&p);
        assert_eq!(info.name, "Django");
        assert!(info.release_date.is_some());
        assert!(info.requires_python.is_some());
        assert!(!info.project_urls.is_empty());
        assert_eq!(
            info.dependency_count,
            p.info.requires_dist.as_ref().map_or(0, Vec::len)
        );
    }

    #[test]
    fn empty_strings_are_not_given() {
        let p = pypi::parse(br#"{"info":{"name":"x","version":"1","license":"","license_expression":"MIT","summary":""}}"#).unwrap();
        let info = PackageInfo::from_project(&p);
        assert_eq!(info.license.as_deref(), Some("MIT"));
        assert_eq!(info.license_source.as_deref(), Some("license_expression"));
        assert_eq!(info.summary, None);
    }
}
