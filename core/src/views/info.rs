//! Package metadata of one release.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::upstream::ProjectDoc;

/// The metadata people ask about first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PackageInfo {
    /// Display name.
    pub name: String,
    /// The release described.
    pub version: String,
    /// One-line summary.
    pub summary: Option<String>,
    /// The PEP 639 licence expression when declared, else the `License` field.
    pub license: Option<String>,
    /// Where `license` came from: `license_expression`, `license`, `classifier` (the
    /// `License ::` classifier, when the field is empty or a whole licence text), or
    /// `license_first_line` (a long text without a classifier: its first line).
    pub license_source: Option<String>,
    /// When the `License` field holds a whole licence text, its length in characters
    /// (the text itself is not repeated: it can be 75 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_text_chars: Option<usize>,
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

/// A `License` field longer than this (or of several lines) is a licence text, not a
/// name.
const SHORT_LICENSE_CHARS: usize = 100;

/// The licence named by a `License :: ...` classifier, e.g. `MIT License`.
fn license_classifier(classifiers: &[String]) -> Option<String> {
    classifiers
        .iter()
        .filter_map(|c| c.strip_prefix("License :: "))
        .map(|rest| rest.rsplit(" :: ").next().unwrap_or(rest).to_string())
        .find(|name| !name.is_empty())
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
        let classifier = license_classifier(&i.classifiers);
        let field = given(&i.license);
        let is_text = |l: &str| l.contains('\n') || l.chars().count() > SHORT_LICENSE_CHARS;
        let text_chars = field
            .as_deref()
            .filter(|l| is_text(l))
            .map(|l| l.chars().count());
        let (license, license_source) = match (given(&i.license_expression), field, classifier) {
            (Some(e), _, _) => (Some(e), "license_expression"),
            (None, Some(l), _) if !is_text(&l) => (Some(l), "license"),
            (None, _, Some(c)) => (Some(c), "classifier"),
            (None, Some(l), None) => {
                let first: String = l
                    .lines()
                    .map(str::trim)
                    .find(|x| !x.is_empty())
                    .unwrap_or("")
                    .chars()
                    .take(SHORT_LICENSE_CHARS)
                    .collect();
                (Some(first), "license_first_line")
            }
            (None, None, None) => (None, ""),
        };
        let license_source = license.as_ref().map(|_| license_source.to_string());
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
            license_text_chars: text_chars,
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

    fn info(license: Option<&str>, classifiers: &[&str]) -> PackageInfo {
        let body = serde_json::json!({"info": {"name": "x", "version": "1",
            "license": license, "classifiers": classifiers}});
        PackageInfo::from_project(&pypi::parse(body.to_string().as_bytes()).unwrap())
    }

    #[test]
    fn a_whole_licence_text_is_named_by_its_classifier_with_its_length() {
        let text = format!("Copyright (c) 2012 Matplotlib\n{}", "terms ".repeat(12_000));
        let i = info(
            Some(&text),
            &["License :: OSI Approved :: Python Software Foundation License"],
        );
        assert_eq!(
            i.license.as_deref(),
            Some("Python Software Foundation License")
        );
        assert_eq!(i.license_source.as_deref(), Some("classifier"));
        assert_eq!(i.license_text_chars, Some(text.trim().chars().count()));
        // No classifier: the first line, and the length.
        let i = info(Some(&text), &[]);
        assert_eq!(i.license.as_deref(), Some("Copyright (c) 2012 Matplotlib"));
        assert_eq!(i.license_source.as_deref(), Some("license_first_line"));
    }

    #[test]
    fn an_empty_licence_field_falls_back_to_the_classifier() {
        // Jinja2 showed nothing.
        let i = info(Some(""), &["License :: OSI Approved :: BSD License"]);
        assert_eq!(i.license.as_deref(), Some("BSD License"));
        let i = info(Some("MIT"), &["License :: OSI Approved :: MIT License"]);
        assert_eq!(
            (i.license.as_deref(), i.license_source.as_deref()),
            (Some("MIT"), Some("license"))
        );
    }

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
