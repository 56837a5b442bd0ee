//! What a README is written in and what each of its sections is for: the leaf the
//! splitter, the converter and the fitting all name.

use serde::{Deserialize, Serialize};

/// Lines between two looks at the cancel flag.
pub const CHECK_EVERY: usize = 4096;

/// The source format of the description, from `description_content_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocFormat {
    /// `text/markdown`.
    Markdown,
    /// `text/x-rst`, or no content type (PyPI renders those as reStructuredText).
    Rst,
    /// `text/plain`.
    Plain,
    /// The release publishes no description.
    None,
}

impl DocFormat {
    /// The format of a description with this content type.
    pub fn of(content_type: Option<&str>, text: &str) -> Self {
        if text.trim().is_empty() {
            return DocFormat::None;
        }
        let ct = content_type.unwrap_or("").to_ascii_lowercase();
        if ct.starts_with("text/markdown") {
            DocFormat::Markdown
        } else if ct.starts_with("text/plain") {
            DocFormat::Plain
        } else {
            DocFormat::Rst
        }
    }
}

/// What a section is for; the order is the order sections are kept in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    /// Installation.
    Install,
    /// Quick start, getting started, tutorial.
    QuickStart,
    /// Usage.
    Usage,
    /// API, reference, examples.
    Api,
    /// The text before the first heading, or an overview.
    Intro,
    /// Anything else.
    Other,
    /// Badges (status images).
    Badges,
    /// Changelog, history, release notes.
    Changelog,
    /// Licence text.
    License,
    /// Contributors, authors, contributing, support, sponsors.
    Contributors,
}

impl SectionKind {
    /// Classifies a heading.
    pub fn of_title(title: &str, package: &str) -> Self {
        let t = title.to_lowercase();
        let has = |ws: &[&str]| ws.iter().any(|w| t.contains(w));
        if norm(&t) == norm(package) {
            SectionKind::Intro
        } else if has(&["install", "getting it", "setup", "set up"]) {
            SectionKind::Install
        } else if has(&[
            "quick",
            "getting started",
            "get started",
            "tutorial",
            "first steps",
        ]) {
            SectionKind::QuickStart
        } else if has(&["usage", "how to use", "using ", "use it"]) {
            SectionKind::Usage
        } else if has(&["api", "example", "reference", "documentation"]) {
            SectionKind::Api
        } else if has(&["change", "history", "release notes", "news", "what's new"])
            || looks_like_version(&t)
        {
            SectionKind::Changelog
        } else if has(&["licen", "copyright"]) {
            SectionKind::License
        } else if has(&[
            "contribut",
            "author",
            "credit",
            "acknowledg",
            "thank",
            "sponsor",
            "support",
            "maintainer",
            "community",
            "code of conduct",
            "funding",
        ]) {
            SectionKind::Contributors
        } else if has(&[
            "overview",
            "introduction",
            "about",
            "what is",
            "description",
        ]) {
            SectionKind::Intro
        } else {
            SectionKind::Other
        }
    }

    /// Inherited by subsections that say nothing of their own.
    pub fn inherits(self) -> bool {
        !matches!(self, SectionKind::Intro | SectionKind::Other)
    }
}

fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// `24.1.0`, `v1.2 (2020-01-01)`, `Version 3.0`: changelog entries.
fn looks_like_version(t: &str) -> bool {
    let t = t
        .trim_start_matches("version")
        .trim()
        .trim_start_matches('v');
    let mut chars = t.chars();
    chars.next().is_some_and(|c| c.is_ascii_digit()) && t.contains('.')
}
