//! A package's README (the project JSON's long description) sized for a model's
//! context: rendered to Markdown (reStructuredText converted), split into sections,
//! ranked by use (install, quick start, usage, API first; badges, changelog, licence,
//! contributors last) and cut to a token budget at section boundaries, saying what was
//! left out. Tokens are counted with a real tokenizer ([`tokens`]).
//!
//! Bounded for hostile READMEs: at most [`MAX_README_BYTES`] of a description are
//! read (the answer says how much was not), tokenizing is chunked ([`tokens`]), the
//! fitting counts each part once, and the parsing is iterative; the engine runs this
//! on the CPU pool with the question's deadline, and keeps each answer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cancel::CancelFlag;
use crate::model::Datum;
use crate::model::PartialResult;
use crate::model::untrusted::redact_urls;
use crate::upstream::ProjectDoc;
use crate::views::deps::TargetEnv;

use crate::readme::markdown::paragraphs;
// The README machinery lives in `crate::readme`; these names stay here for the
// product and the benches, which use them through `views::docs`.
pub use crate::readme::{
    DocFormat, Fitted, Section, SectionKind, SectionLeftOut, SectionShown, cut_text, fit, rst,
    sections_of, split_markdown, thousands, tokens,
};

/// The most bytes of a description read for `get_package_docs` (the rest is left
/// out, and the answer says so): a 20 MB README once cost 33 s of CPU and 1.1 GB.
pub const MAX_README_BYTES: usize = 512 * 1024;

/// The most bytes of a description read for a dependency's summary: its first
/// paragraph is near the top.
pub const MAX_SUMMARY_BYTES: usize = 16 * 1024;

/// The most bytes of a one-line summary kept.
const MAX_SUMMARY_LINE_BYTES: usize = 2048;

/// The most sections listed one by one in an answer's `left_out`.
pub const MAX_LISTED_LEFT_OUT: usize = 100;

/// The most project URLs listed in an answer.
const MAX_PROJECT_URLS: usize = 64;

/// The first `max` bytes of `text` (ending at a line break when one is near), and how
/// many bytes were left out.
fn bounded(text: &str, max: usize) -> (&str, usize) {
    if text.len() <= max {
        return (text, 0);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if let Some(nl) = text[..end].rfind('\n').filter(|&nl| nl >= end / 2) {
        end = nl + 1;
    }
    (&text[..end], text.len() - end)
}

/// A one-line summary no longer than [`MAX_SUMMARY_LINE_BYTES`].
fn summary_line(s: &str) -> String {
    let (head, left) = bounded(s.trim(), MAX_SUMMARY_LINE_BYTES);
    if left == 0 {
        head.to_string()
    } else {
        format!("{}…", head.trim_end())
    }
}

/// The project URL whose label says it is `what` (`docs` or `source`).
fn url_for(urls: &BTreeMap<String, String>, words: &[&str]) -> Option<String> {
    urls.iter()
        .find(|(k, _)| {
            let k = k.to_lowercase();
            words.iter().any(|w| k.contains(w))
        })
        .map(|(_, v)| v.clone())
}

/// The project URLs (with the legacy home page), and the documentation and source
/// URLs among them.
fn urls_of(p: &ProjectDoc) -> (BTreeMap<String, String>, Option<String>, Option<String>) {
    let i = &p.info;
    // A bounded list, secrets in URLs hidden: it is an index's word, echoed.
    let short = |k: &String, v: &String| k.len() <= 200 && v.len() <= MAX_SUMMARY_LINE_BYTES;
    let mut project_urls: BTreeMap<String, String> = i
        .project_urls
        .iter()
        .flatten()
        .filter(|(k, v)| short(k, v))
        .take(MAX_PROJECT_URLS)
        .map(|(k, v)| (k.clone(), redact_urls(v)))
        .collect();
    if let Some(home) = i
        .home_page
        .as_ref()
        .filter(|h| !h.trim().is_empty() && h.len() <= MAX_SUMMARY_LINE_BYTES)
    {
        project_urls
            .entry("Homepage".into())
            .or_insert_with(|| redact_urls(home));
    }
    // Else a repository's root on a forge (not a file in it, such as a changelog).
    let repo_root = |u: &&String| {
        ["github.com/", "gitlab.com/", "codeberg.org/"]
            .iter()
            .any(|h| {
                u.split_once(h)
                    .is_some_and(|(_, path)| path.trim_end_matches('/').split('/').count() == 2)
            })
    };
    let source = url_for(&project_urls, &["source", "code", "repo", "github"])
        .or_else(|| project_urls.values().find(repo_root).cloned());
    let docs = url_for(&project_urls, &["doc"]);
    (project_urls, docs, source)
}

/// A package's docs sized for a model's context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PackageDocs {
    /// Display name.
    pub package: String,
    /// The release the docs belong to.
    pub version: String,
    /// One-line summary.
    pub summary: Option<String>,
    /// Documentation URL, when the project lists one.
    pub documentation_url: Option<String>,
    /// Source repository URL, when the project lists one.
    pub source_url: Option<String>,
    /// Every project URL (label -> URL).
    pub project_urls: BTreeMap<String, String>,
    /// The description's source format.
    pub format: DocFormat,
    /// The README as Markdown: most useful sections first, cut to the budget, ending
    /// with a marker of what was left out.
    pub markdown: String,
    /// Tokens of `markdown` (never more than `max_tokens`).
    pub tokens: usize,
    /// The budget asked for.
    pub max_tokens: usize,
    /// Tokens of the description rendered (of the part read, when it is longer than
    /// [`MAX_README_BYTES`]).
    pub total_tokens: usize,
    /// Bytes at the end of the description not read (past [`MAX_README_BYTES`]); the
    /// marker says so too.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes_not_read: usize,
    /// The tokenizer's encoding, e.g. `o200k_base`.
    pub encoding: String,
    /// Sections shown, in order.
    pub sections: Vec<SectionShown>,
    /// Sections left out: the first [`MAX_LISTED_LEFT_OUT`] in rank order, the others
    /// counted in `more_left_out`.
    pub left_out: Vec<SectionLeftOut>,
    /// Sections left out beyond those listed, counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_left_out: Option<MoreLeftOut>,
}

/// Sections left out beyond those listed one by one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MoreLeftOut {
    /// How many.
    pub sections: usize,
    /// Their tokens in all.
    pub tokens: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl PackageDocs {
    /// From a project or release body, within `max_tokens` for the Markdown.
    pub fn from_project(p: &ProjectDoc, max_tokens: usize) -> Self {
        Self::from_project_until(p, max_tokens, &CancelFlag::never()).expect("a flag nobody raises")
    }

    /// [`from_project`](Self::from_project), or `None` once `flag` is raised (checked
    /// between lines, sections and paragraphs).
    pub fn from_project_until(
        p: &ProjectDoc,
        max_tokens: usize,
        flag: &CancelFlag,
    ) -> Option<Self> {
        let i = &p.info;
        let (text, bytes_not_read) =
            bounded(i.description.as_deref().unwrap_or(""), MAX_README_BYTES);
        let format = DocFormat::of(i.description_content_type.as_deref(), text);
        let sections = crate::readme::markdown::sections_of_until(text, format, &i.name, flag)?;
        let mut fitted = fit::fit_until(&sections, max_tokens, bytes_not_read, flag)?;
        let more_left_out = (fitted.left_out.len() > MAX_LISTED_LEFT_OUT).then(|| {
            let rest = fitted.left_out.split_off(MAX_LISTED_LEFT_OUT);
            MoreLeftOut {
                sections: rest.len(),
                tokens: rest.iter().map(|s| s.tokens).sum(),
            }
        });
        let (project_urls, documentation_url, source_url) = urls_of(p);
        Some(PackageDocs {
            package: i.name.clone(),
            version: i.version.clone(),
            summary: i
                .summary
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(summary_line),
            documentation_url,
            source_url,
            project_urls,
            format,
            tokens: tokens::count(&fitted.markdown),
            markdown: fitted.markdown,
            max_tokens,
            total_tokens: fitted.total_tokens,
            bytes_not_read,
            encoding: tokens::ENCODING.into(),
            sections: fitted.shown,
            left_out: fitted.left_out,
            more_left_out,
        })
    }

    /// How many sections were left out, listed or not.
    pub fn sections_left_out(&self) -> usize {
        self.left_out.len() + self.more_left_out.map_or(0, |m| m.sections)
    }
}

/// A dependency's docs in short: its summary line and the first paragraph of its
/// README, before any budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DocSummary {
    /// Display name.
    pub package: String,
    /// The release described (the latest).
    pub version: String,
    /// Summary line, then the first paragraph of the README's introduction.
    pub text: String,
    /// Documentation URL, when listed.
    pub documentation_url: Option<String>,
}

impl DocSummary {
    /// From a project body.
    pub fn from_project(p: &ProjectDoc) -> Self {
        let i = &p.info;
        let (text, _) = bounded(i.description.as_deref().unwrap_or(""), MAX_SUMMARY_BYTES);
        let format = DocFormat::of(i.description_content_type.as_deref(), text);
        let sections = sections_of(text, format, &i.name);
        let first = sections
            .iter()
            .filter(|s| !matches!(s.kind, SectionKind::Badges))
            .flat_map(|s| paragraphs(&s.body))
            .find(|p| {
                let t = p.trim_start();
                !t.starts_with("```")
                    && !t.starts_with('<')
                    && !t.starts_with('|')
                    && !t.contains("![")
                    && t.split_whitespace().count() >= 5
            });
        let mut out = summary_line(i.summary.as_deref().unwrap_or(""));
        if let Some(f) = first {
            let f = f.split_whitespace().collect::<Vec<_>>().join(" ");
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&f);
        }
        DocSummary {
            package: i.name.clone(),
            version: i.version.clone(),
            text: out,
            documentation_url: urls_of(p).1,
        }
    }
}

/// A dependency's short docs within its share of the budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DependencyDocs {
    /// Normalised name, as required.
    pub package: String,
    /// The version specifier required (empty when unconstrained).
    pub specifier: String,
    /// The release summarised (the dependency's latest).
    pub version: String,
    /// Summary line and the first paragraph of its README, cut to `share_tokens`.
    pub text: String,
    /// Tokens of `text`.
    pub tokens: usize,
    /// Its share of the dependencies' budget.
    pub share_tokens: usize,
    /// Whether `text` was cut to the share.
    pub cut: bool,
    /// Documentation URL, when listed.
    pub documentation_url: Option<String>,
}

/// A package's docs and its runtime dependencies' short docs, under one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DocsWithContext {
    /// The package's own docs, within what the dependencies left.
    pub docs: Datum<PackageDocs>,
    /// Each runtime dependency for the target: its short docs and share, or why it
    /// failed.
    pub dependencies: PartialResult<Datum<DependencyDocs>>,
    /// The environment the dependencies were evaluated for.
    pub evaluated_for: TargetEnv,
    /// What was chosen or assumed, in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Tokens of the package's Markdown plus every dependency's text (never more than
    /// `max_tokens`).
    pub tokens: usize,
    /// The total budget asked for.
    pub max_tokens: usize,
    /// The part of the budget the dependencies could take (a third at most); what they
    /// did not use went to the package's own docs.
    pub dependency_budget: usize,
    /// The tokenizer's encoding.
    pub encoding: String,
}

/// Shares of `budget` for items of `natural` sizes: each gets what it needs up to an
/// equal split of what is left, smallest first, so short items give their slack to
/// long ones. The shares sum to at most `budget`.
pub fn shares(natural: &[usize], budget: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..natural.len()).collect();
    order.sort_by_key(|&i| natural[i]);
    let mut out = vec![0; natural.len()];
    let mut left = budget;
    for (k, &i) in order.iter().enumerate() {
        let share = natural[i].min(left / (order.len() - k));
        out[i] = share;
        left -= share;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_give_short_items_what_they_need_and_split_the_rest() {
        assert_eq!(shares(&[10, 500, 500], 300), vec![10, 145, 145]);
        assert_eq!(shares(&[10, 20], 300), vec![10, 20]);
        assert_eq!(shares(&[], 300), Vec::<usize>::new());
        assert!(shares(&[100, 100, 100], 100).iter().sum::<usize>() <= 100);
    }

    #[test]
    fn markdown_splits_at_headings_outside_fences_and_ranks_titles() {
        let md = "[![ci](https://x/badge.svg)](https://x)\n\nIntro text.\n\n## Changelog\n\n### 1.2.0\n\nFixed.\n\n## Install\n\n```sh\n# not a heading\npip install x\n```\n\nUsage\n-----\n\nCall it.\n";
        let s = split_markdown(md, "x");
        let titles: Vec<(&str, SectionKind)> =
            s.iter().map(|s| (s.title.as_str(), s.kind)).collect();
        assert_eq!(
            titles,
            vec![
                ("Introduction", SectionKind::Intro),
                // `# Changelog` has no body of its own: dropped; its child inherits.
                ("1.2.0", SectionKind::Changelog),
                ("Install", SectionKind::Install),
                ("Usage", SectionKind::Usage),
                ("Badges", SectionKind::Badges),
            ]
        );
        assert!(s[2].body.contains("# not a heading"));
    }

    // ---- recorded READMEs (sim/data/pypi-json: project bodies recorded from PyPI) ----

    fn recorded(name: &str) -> ProjectDoc {
        let path = format!(
            "{}/../sim/data/pypi-json/project/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        crate::upstream::pypi::parse(&std::fs::read(&path).expect(&path)).expect(&path)
    }

    const RECORDED: [&str; 15] = [
        "apeye",
        "bar",
        "black",
        "coverage",
        "django",
        "docutils",
        "numpy",
        "octocheese-2026-02",
        "pymysql",
        "pytest",
        "pytz",
        "pyyaml",
        "scipy",
        "snowballstemmer",
        "xo-gd",
    ];

    #[test]
    fn every_recorded_readme_honours_every_budget_counted_with_the_same_tokenizer() {
        for name in RECORDED {
            let p = recorded(name);
            for budget in [100, 300, 1000, 4000, 32_000] {
                let d = PackageDocs::from_project(&p, budget);
                let n = tokens::count(&d.markdown);
                assert!(n <= budget, "{name} at {budget}: {n} tokens");
                assert_eq!(d.tokens, n, "{name}");
                assert_eq!(d.encoding, "o200k_base");
                assert_eq!(d.version, p.info.version);
                let cut = d.sections.iter().any(|s| s.tokens_left_out > 0);
                if d.left_out.is_empty() && !cut {
                    assert!(!d.markdown.contains("left out"), "{name} at {budget}");
                } else {
                    let marker = d.markdown.lines().last().unwrap_or("");
                    assert!(
                        marker.starts_with('[') && marker.contains("left out"),
                        "{name} at {budget}: {marker}"
                    );
                    if !d.left_out.is_empty() {
                        let n = d.sections_left_out();
                        assert!(d.left_out.len() <= MAX_LISTED_LEFT_OUT);
                        assert!(marker.contains(&format!("{n} section")), "{name}: {marker}");
                    }
                    // Each section left out is named with its size, or counted in "N more".
                    for l in &d.left_out {
                        assert!(
                            marker.contains(&format!(
                                "{} ({} tokens)",
                                l.title,
                                thousands(l.tokens)
                            )) || marker.contains(" more ("),
                            "{name}: {marker}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn black_markdown_readme_puts_install_and_usage_first_and_names_the_changelog_left_out() {
        let p = recorded("black");
        assert_eq!(
            DocFormat::of(p.info.description_content_type.as_deref(), "x"),
            DocFormat::Markdown
        );
        let d = PackageDocs::from_project(&p, 1000);
        assert!(d.total_tokens > 10_000, "{}", d.total_tokens);
        assert_eq!(d.sections[0].kind, SectionKind::Install, "{:?}", d.sections);
        assert!(
            d.markdown.starts_with("## Installation and usage")
                || d.markdown.starts_with("### Installation"),
            "{}",
            &d.markdown[..200]
        );
        let pos = |k: SectionKind| d.sections.iter().position(|s| s.kind == k);
        if let (Some(u), Some(o)) = (pos(SectionKind::Usage), pos(SectionKind::Other)) {
            assert!(u < o);
        }
        assert!(
            d.left_out.iter().any(|s| s.kind == SectionKind::Changelog),
            "{:?}",
            d.left_out
        );
        // Whatever is shown, ranks never go down the list and come back up.
        let kinds: Vec<SectionKind> = d.sections.iter().map(|s| s.kind).collect();
        assert!(kinds.windows(2).all(|w| w[0] <= w[1]), "{kinds:?}");
        // With room for everything, nothing is left out and there is no marker.
        let all = PackageDocs::from_project(&p, 32_000);
        if all.total_tokens < 30_000 {
            assert!(all.left_out.is_empty());
        }
    }

    #[test]
    fn rst_readmes_become_markdown_with_install_before_licence() {
        for name in [
            "pymysql",
            "coverage",
            "pytest",
            "apeye",
            "snowballstemmer",
            "pytz",
            "django",
        ] {
            let p = recorded(name);
            let d = PackageDocs::from_project(&p, 32_000);
            assert_eq!(d.format, DocFormat::Rst, "{name}");
            let md = &d.markdown;
            assert!(!md.contains(".. image::"), "{name}: {md}");
            assert!(!md.contains("\n.. "), "{name}");
            assert!(
                md.contains("## ") || md.contains("### ") || d.sections.len() == 1,
                "{name}: {md}"
            );
            let kinds: Vec<SectionKind> = d.sections.iter().map(|s| s.kind).collect();
            assert!(kinds.windows(2).all(|w| w[0] <= w[1]), "{name}: {kinds:?}");
        }
        let d = PackageDocs::from_project(&recorded("pymysql"), 32_000);
        let titles: Vec<&str> = d.sections.iter().map(|s| s.title.as_str()).collect();
        let at = |t: &str| {
            titles
                .iter()
                .position(|x| *x == t)
                .unwrap_or_else(|| panic!("{t} in {titles:?}"))
        };
        assert!(at("Installation") < at("Example"));
        assert!(at("Example") < at("License"));
        assert!(
            d.markdown.contains("```"),
            "literal blocks become fences: {}",
            d.markdown
        );
        assert!(
            d.markdown.contains("[![Documentation Status]("),
            "badges are images: {}",
            d.markdown
        );
        assert_eq!(
            d.sections.last().map(|s| s.kind),
            Some(SectionKind::License)
        );
    }

    #[test]
    fn a_readme_without_sections_is_cut_at_a_paragraph_and_says_so() {
        // PyYAML's recorded description has no headings: one section, cut at a paragraph.
        let p = recorded("pyyaml");
        let all = PackageDocs::from_project(&p, 32_000);
        assert_eq!(all.sections.len(), 1, "{:?}", all.sections);
        assert!(all.left_out.is_empty() && !all.markdown.contains("left out"));
        let budget = all.tokens * 2 / 3;
        assert!(budget < all.tokens);
        let d = fit(
            &sections_of(
                p.info.description.as_deref().unwrap(),
                DocFormat::Rst,
                "PyYAML",
            ),
            budget,
        );
        assert!(tokens::count(&d.markdown) <= budget, "{}", d.markdown);
        assert_eq!(d.shown.len(), 1, "{d:?}");
        assert!(d.shown[0].tokens_left_out > 0);
        assert!(
            d.markdown.ends_with(&format!(
                "[{} cut short, {} tokens left out]",
                d.shown[0].title,
                thousands(d.shown[0].tokens_left_out)
            )),
            "{}",
            d.markdown
        );
        // Whole paragraphs only: each paragraph shown is one of the README's.
        let body = d
            .markdown
            .rsplit_once("\n\n[")
            .map_or(d.markdown.as_str(), |(b, _)| b);
        let source = p.info.description.as_deref().unwrap().replace("\r\n", "\n");
        for para in body.split("\n\n") {
            assert!(
                source.contains(para.trim()),
                "not a whole paragraph: {para:?}"
            );
        }
    }

    #[test]
    fn numpy_markdown_sections_come_before_the_contributors() {
        let d = PackageDocs::from_project(&recorded("numpy"), 150);
        assert!(d.tokens <= 150);
        assert!(
            d.left_out.iter().all(|s| s.kind > SectionKind::Intro),
            "{:?}",
            d.left_out
        );
        assert!(d.markdown.contains("left out"), "{}", d.markdown);
    }

    #[test]
    fn a_release_without_a_description_says_none() {
        let p = crate::upstream::pypi::parse(
            br#"{"info":{"name":"x","version":"1","description":""}}"#,
        )
        .unwrap();
        let d = PackageDocs::from_project(&p, 100);
        assert_eq!(
            (d.format, d.markdown.as_str(), d.tokens),
            (DocFormat::None, "", 0)
        );
    }

    #[test]
    fn summaries_of_recorded_projects_are_the_summary_and_a_real_paragraph() {
        let s = DocSummary::from_project(&recorded("pymysql"));
        assert!(
            s.text
                .starts_with(recorded("pymysql").info.summary.as_deref().unwrap()),
            "{}",
            s.text
        );
        assert!(s.text.contains("MySQL client library"), "{}", s.text);
        assert!(!s.text.contains("!["), "{}", s.text);
        // numpy's README opens with badges over several lines: skipped.
        let s = DocSummary::from_project(&recorded("numpy"));
        assert!(!s.text.contains("!["), "{}", s.text);
    }

    #[test]
    fn a_readme_still_rendering_when_its_flag_is_raised_stops_at_the_next_section() {
        // The engine's pool raises the flag at the deadline (actors/src/cpu.rs).
        let body = serde_json::json!({"info": {"name": "x", "version": "1",
            "description": "# h\n\nsome words here\n\n".repeat(40_000)}});
        let p = crate::upstream::pypi::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
        let flag = CancelFlag::never();
        flag.raise();
        assert!(
            PackageDocs::from_project_until(&p, 4000, &flag).is_none(),
            "the job saw its flag and gave up"
        );
    }
}
