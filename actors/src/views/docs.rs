//! A package's README (the project JSON's long description) sized for a model's
//! context: rendered to Markdown (reStructuredText converted), split into sections,
//! ranked by use (install, quick start, usage, API first; badges, changelog, licence,
//! contributors last) and cut to a token budget at section boundaries, saying what was
//! left out. Tokens are counted with a real tokenizer ([`tokens`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::PartialResult;
use crate::model::Datum;
use crate::upstream::ProjectDoc;
use crate::views::deps::TargetEnv;

pub mod rst;
pub mod tokens;

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
    fn of(content_type: Option<&str>, text: &str) -> Self {
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
    fn of_title(title: &str, package: &str) -> Self {
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
    fn inherits(self) -> bool {
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

/// One section of the README, rendered to Markdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Heading text (`Introduction` for the text before the first heading).
    pub title: String,
    /// Heading level, 1 to 6 (0 for the text before the first heading).
    pub level: usize,
    /// What it is for.
    pub kind: SectionKind,
    /// Body, Markdown, without the heading.
    pub body: String,
}

impl Section {
    fn render(&self, body: &str) -> String {
        if self.level == 0 {
            return body.trim().to_string();
        }
        let hashes = if self.level <= 2 { "##" } else { "###" };
        if body.trim().is_empty() {
            format!("{hashes} {}", self.title)
        } else {
            format!("{hashes} {}\n\n{}", self.title, body.trim())
        }
    }
}

fn fence_marker(line: &str) -> Option<&'static str> {
    let l = line.trim_start();
    if l.starts_with("```") {
        Some("```")
    } else if l.starts_with("~~~") {
        Some("~~~")
    } else {
        None
    }
}

fn is_setext_underline(line: &str) -> Option<usize> {
    let l = line.trim();
    if l.len() >= 2 && l.chars().all(|c| c == '=') {
        Some(1)
    } else if l.len() >= 2 && l.chars().all(|c| c == '-') {
        Some(2)
    } else {
        None
    }
}

/// A line that holds only badges (images, linked images, HTML images).
fn is_badge_line(line: &str) -> bool {
    let l = line.trim();
    if l.is_empty() {
        return false;
    }
    let img = l.contains("![") || l.to_ascii_lowercase().contains("<img");
    if !img {
        return false;
    }
    // Remove linked images and images; what is left is whitespace or HTML.
    let mut rest = l.to_string();
    for _ in 0..64 {
        let Some(start) = rest.find("![").or_else(|| rest.find("[![")) else {
            break;
        };
        let start = if rest[..start].ends_with('[') {
            start - 1
        } else {
            start
        };
        let Some(close) = rest[start..].find(')') else {
            break;
        };
        let mut end = start + close + 1;
        if rest[start..].starts_with("[![")
            && let Some(c2) = rest[end..].find(')')
        {
            end += c2 + 1;
        }
        rest.replace_range(start..end, "");
    }
    let rest = rest.trim();
    rest.is_empty() || rest.starts_with('<')
}

/// Splits Markdown into sections at ATX (`#`) and setext headings, outside code
/// fences. Lines of badges before the first heading become their own section.
pub fn split_markdown(md: &str, package: &str) -> Vec<Section> {
    let lines: Vec<&str> = md.lines().collect();
    let mut sections = vec![Section {
        title: "Introduction".into(),
        level: 0,
        kind: SectionKind::Intro,
        body: String::new(),
    }];
    let mut badges = String::new();
    let mut stack: Vec<(usize, SectionKind)> = Vec::new();
    let mut fence: Option<&str> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(f) = fence {
            if line.trim_start().starts_with(f) {
                fence = None;
            }
            push_line(&mut sections, line);
            i += 1;
            continue;
        }
        if let Some(f) = fence_marker(line) {
            fence = Some(f);
            push_line(&mut sections, line);
            i += 1;
            continue;
        }
        let atx = line
            .trim_start()
            .strip_prefix('#')
            .map(|_| line.trim_start())
            .and_then(|l| {
                let level = l.chars().take_while(|c| *c == '#').count();
                let rest = &l[level..];
                (level <= 6 && (rest.is_empty() || rest.starts_with(' ')))
                    .then(|| (level, rest.trim().trim_end_matches('#').trim().to_string()))
            });
        let setext = (!line.trim().is_empty()
            && !line.starts_with("    ")
            && i + 1 < lines.len()
            && !line.trim_start().starts_with(['-', '*', '|', '>']))
        .then(|| is_setext_underline(lines[i + 1]))
        .flatten()
        .map(|level| (level, line.trim().to_string()));
        let heading = atx.or(setext.clone());
        if let Some((level, title)) = heading.filter(|(_, t)| !t.is_empty()) {
            let title = strip_inline(&title);
            let mut kind = SectionKind::of_title(&title, package);
            stack.retain(|(l, _)| *l < level);
            // Under a changelog, licence or contributors heading everything belongs to
            // it (a changelog's `### Documentation` is not the documentation); under
            // another kind, a subsection that says nothing of its own inherits it.
            if let Some((_, k)) = stack.iter().rev().find(|(_, k)| k.inherits())
                && (kind == SectionKind::Other || *k >= SectionKind::Badges)
            {
                kind = *k;
            }
            stack.push((level, kind));
            sections.push(Section {
                title,
                level,
                kind,
                body: String::new(),
            });
            i += if setext.is_some() && atx_is_none(line) {
                2
            } else {
                1
            };
            continue;
        }
        if sections.len() == 1 && is_badge_line(line) {
            badges.push_str(line.trim());
            badges.push('\n');
        } else {
            push_line(&mut sections, line);
        }
        i += 1;
    }
    if !badges.is_empty() {
        sections.push(Section {
            title: "Badges".into(),
            level: 2,
            kind: SectionKind::Badges,
            body: badges,
        });
    }
    // A heading whose only content is its subsections says nothing once sections are
    // reordered: only sections with a body are kept.
    sections.retain(|s| !s.body.trim().is_empty());
    sections
}

fn atx_is_none(line: &str) -> bool {
    !line.trim_start().starts_with('#')
}

fn push_line(sections: &mut [Section], line: &str) {
    let s = sections.last_mut().expect("at least the introduction");
    s.body.push_str(line);
    s.body.push('\n');
}

/// Heading text without emphasis, links' URLs, or HTML.
fn strip_inline(t: &str) -> String {
    let mut out = String::new();
    let mut chars = t.chars().peekable();
    let mut in_tag = false;
    let mut in_url = false;
    while let Some(c) = chars.next() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            ']' if chars.peek() == Some(&'(') => in_url = true,
            ')' if in_url => in_url = false,
            _ if in_url => {}
            '*' | '_' | '`' | '[' | ']' => {}
            _ => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Renders a description to Markdown and splits it into sections.
pub fn sections_of(text: &str, format: DocFormat, package: &str) -> Vec<Section> {
    match format {
        DocFormat::None => Vec::new(),
        DocFormat::Markdown => split_markdown(text, package),
        DocFormat::Rst => split_markdown(&rst::to_markdown(text), package),
        DocFormat::Plain => vec![Section {
            title: "Description".into(),
            level: 0,
            kind: SectionKind::Intro,
            body: text.trim().to_string(),
        }],
    }
}

/// A section as shown in the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SectionShown {
    /// Heading.
    pub title: String,
    /// What it is for.
    pub kind: SectionKind,
    /// Tokens shown.
    pub tokens: usize,
    /// Tokens of the section left out when it was cut at a paragraph boundary.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tokens_left_out: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A section left out of the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SectionLeftOut {
    /// Heading.
    pub title: String,
    /// What it is for.
    pub kind: SectionKind,
    /// Its size in tokens.
    pub tokens: usize,
}

/// Sections fitted to a budget.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fitted {
    /// The Markdown, sections in rank order, with the marker of what was left out.
    pub markdown: String,
    /// Sections shown, in order.
    pub shown: Vec<SectionShown>,
    /// Sections left out.
    pub left_out: Vec<SectionLeftOut>,
    /// Tokens of the whole description rendered.
    pub total_tokens: usize,
}

/// `1,204`.
pub fn thousands(n: usize) -> String {
    super::words::thousands(n as u64)
}

/// The honest marker of what was left out, or `None` when nothing was. Names the
/// first `named` sections left out with their sizes, and sums up the rest.
fn marker(shown: &[SectionShown], left_out: &[SectionLeftOut], named: usize) -> Option<String> {
    let mut parts = Vec::new();
    if !left_out.is_empty() {
        let n = left_out.len();
        let mut list: Vec<String> = left_out
            .iter()
            .take(named)
            .map(|s| format!("{} ({} tokens)", s.title, thousands(s.tokens)))
            .collect();
        let rest = &left_out[named.min(n)..];
        if !rest.is_empty() {
            let tokens: usize = rest.iter().map(|s| s.tokens).sum();
            list.push(format!(
                "{}{} more ({} tokens)",
                if named == 0 { "" } else { "and " },
                rest.len(),
                thousands(tokens)
            ));
        }
        parts.push(format!(
            "{n} section{} left out: {}",
            if n == 1 { "" } else { "s" },
            list.join(", ")
        ));
    }
    for s in shown.iter().filter(|s| s.tokens_left_out > 0) {
        parts.push(format!(
            "{} cut short, {} tokens left out",
            s.title,
            thousands(s.tokens_left_out)
        ));
    }
    (!parts.is_empty()).then(|| format!("[{}]", parts.join("; ")))
}

/// Paragraphs of a body: blank-line separated, a code fence kept whole.
fn paragraphs(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut fence: Option<&str> = None;
    for line in body.lines() {
        if let Some(f) = fence {
            cur.push_str(line);
            cur.push('\n');
            if line.trim_start().starts_with(f) {
                fence = None;
            }
            continue;
        }
        if let Some(f) = fence_marker(line) {
            fence = Some(f);
        }
        if line.trim().is_empty() && fence.is_none() {
            if !cur.trim().is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            cur.clear();
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out.into_iter().map(|p| p.trim_end().to_string()).collect()
}

/// Fits sections into `budget` tokens: in rank order (document order within a rank),
/// whole sections while they fit; the first that does not fit may be cut at a
/// paragraph boundary; the rest are named in the marker (as many as fit, the others
/// counted). The Markdown returned, marker included, counts at most `budget` tokens.
pub fn fit(sections: &[Section], budget: usize) -> Fitted {
    let mut order: Vec<usize> = (0..sections.len()).collect();
    order.sort_by_key(|&i| (sections[i].kind, i));
    let rendered: Vec<String> = sections.iter().map(|s| s.render(&s.body)).collect();
    let sizes: Vec<usize> = rendered.iter().map(|r| tokens::count(r)).collect();
    let whole = rendered
        .iter()
        .filter(|r| !r.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("\n\n");
    let total_tokens = tokens::count(&whole);
    // Room for the marker: none when everything fits, else a little, more while the
    // answer is over (a marker naming no section is about 15 tokens).
    let mut reserve = if total_tokens <= budget {
        0
    } else {
        budget.min(30)
    };
    loop {
        let f = fit_with(
            sections,
            &order,
            &rendered,
            &sizes,
            budget - reserve,
            budget,
        );
        if tokens::count(&f.markdown) <= budget {
            return Fitted { total_tokens, ..f };
        }
        if reserve >= budget {
            // Not even the marker fits (a budget of a few tokens): say nothing rather
            // than break the budget; `left_out` still lists every section.
            return Fitted {
                markdown: String::new(),
                shown: Vec::new(),
                left_out: order
                    .iter()
                    .map(|&i| SectionLeftOut {
                        title: sections[i].title.clone(),
                        kind: sections[i].kind,
                        tokens: sizes[i],
                    })
                    .collect(),
                total_tokens,
            };
        }
        reserve = (reserve * 2).max(16).min(budget);
    }
}

fn fit_with(
    sections: &[Section],
    order: &[usize],
    rendered: &[String],
    sizes: &[usize],
    room: usize,
    budget: usize,
) -> Fitted {
    let mut used = 0usize;
    let mut parts: Vec<String> = Vec::new();
    let mut shown = Vec::new();
    let mut left_out = Vec::new();
    let mut cut_one = false;
    for &i in order {
        let s = &sections[i];
        if rendered[i].is_empty() {
            continue;
        }
        // `\n\n` between parts: counted generously as 1 token.
        let sep = usize::from(!parts.is_empty());
        if used + sizes[i] + sep <= room {
            used += sizes[i] + sep;
            parts.push(rendered[i].clone());
            shown.push(SectionShown {
                title: s.title.clone(),
                kind: s.kind,
                tokens: sizes[i],
                tokens_left_out: 0,
            });
            continue;
        }
        if !cut_one && room > used + sep + 20 {
            // Cut at a paragraph boundary: as many whole paragraphs as fit.
            let mut body = String::new();
            let mut best: Option<(String, usize)> = None;
            for p in paragraphs(&s.body) {
                let candidate = if body.is_empty() {
                    p
                } else {
                    format!("{body}\n\n{p}")
                };
                let r = s.render(&candidate);
                let n = tokens::count(&r);
                if used + sep + n > room {
                    break;
                }
                body = candidate;
                best = Some((r, n));
            }
            if let Some((r, n)) = best {
                cut_one = true;
                used += n + sep;
                parts.push(r);
                shown.push(SectionShown {
                    title: s.title.clone(),
                    kind: s.kind,
                    tokens: n,
                    tokens_left_out: sizes[i].saturating_sub(n),
                });
                continue;
            }
        }
        left_out.push(SectionLeftOut {
            title: s.title.clone(),
            kind: s.kind,
            tokens: sizes[i],
        });
    }
    let text = parts.join("\n\n");
    // The marker names as many sections as the budget allows, the rest counted.
    let mut named = left_out.len();
    let markdown = loop {
        let Some(m) = marker(&shown, &left_out, named) else {
            break text;
        };
        let candidate = if text.is_empty() {
            m
        } else {
            format!("{text}\n\n{m}")
        };
        if named == 0 || tokens::count(&candidate) <= budget {
            break candidate;
        }
        named = if named > 8 { named / 2 } else { named - 1 };
    };
    Fitted {
        markdown,
        shown,
        left_out,
        total_tokens: 0,
    }
}

/// Cuts plain text to at most `budget` tokens at a word boundary, ending with `…` when
/// cut. Returns the text and whether it was cut.
pub fn cut_text(text: &str, budget: usize) -> (String, bool) {
    let text = text.trim();
    if tokens::count(text) <= budget {
        return (text.to_string(), false);
    }
    let bounds: Vec<usize> = text
        .char_indices()
        .filter(|(_, c)| c.is_whitespace())
        .map(|(i, _)| i)
        .collect();
    // Largest prefix ending at a word boundary that fits with the ellipsis.
    let (mut lo, mut hi) = (0usize, bounds.len());
    let mut best = String::new();
    while lo < hi {
        let mid = (lo + hi) / 2;
        let candidate = format!("{}…", text[..bounds[mid]].trim_end());
        if tokens::count(&candidate) <= budget {
            best = candidate;
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    (best, true)
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
    let mut project_urls = i.project_urls.clone().unwrap_or_default();
    if let Some(home) = i.home_page.as_ref().filter(|h| !h.trim().is_empty()) {
        project_urls
            .entry("Homepage".into())
            .or_insert_with(|| home.clone());
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
    /// Tokens of the whole description rendered.
    pub total_tokens: usize,
    /// The tokenizer's encoding, e.g. `o200k_base`.
    pub encoding: String,
    /// Sections shown, in order.
    pub sections: Vec<SectionShown>,
    /// Sections left out.
    pub left_out: Vec<SectionLeftOut>,
}

impl PackageDocs {
    /// From a project or release body, within `max_tokens` for the Markdown.
    pub fn from_project(p: &ProjectDoc, max_tokens: usize) -> Self {
        let i = &p.info;
        let text = i.description.as_deref().unwrap_or("");
        let format = DocFormat::of(i.description_content_type.as_deref(), text);
        let sections = sections_of(text, format, &i.name);
        let fitted = fit(&sections, max_tokens);
        let (project_urls, documentation_url, source_url) = urls_of(p);
        PackageDocs {
            package: i.name.clone(),
            version: i.version.clone(),
            summary: i.summary.clone().filter(|s| !s.trim().is_empty()),
            documentation_url,
            source_url,
            project_urls,
            format,
            tokens: tokens::count(&fitted.markdown),
            markdown: fitted.markdown,
            max_tokens,
            total_tokens: fitted.total_tokens,
            encoding: tokens::ENCODING.into(),
            sections: fitted.shown,
            left_out: fitted.left_out,
        }
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
        let text = i.description.as_deref().unwrap_or("");
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
        let mut out = i.summary.clone().unwrap_or_default().trim().to_string();
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
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1_234_567), "1,234,567");
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

    #[test]
    fn a_budget_too_small_for_any_section_still_marks_what_was_left_out() {
        let s = split_markdown("# Install\n\npip install x\n\n# License\n\nMIT\n", "x");
        let f = fit(&s, 100);
        assert!(f.left_out.is_empty(), "{f:?}");
        let f = fit(&s, 1);
        assert!(tokens::count(&f.markdown) <= 1, "{}", f.markdown);
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
                        let n = d.left_out.len();
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
    fn cut_text_ends_at_a_word_with_an_ellipsis() {
        let text = "one two three four five six seven eight nine ten ".repeat(20);
        let (cut, was) = cut_text(&text, 10);
        assert!(was);
        assert!(cut.ends_with('…'));
        assert!(tokens::count(&cut) <= 10);
        let (whole, was) = cut_text("short", 10);
        assert_eq!((whole.as_str(), was), ("short", false));
    }
}
