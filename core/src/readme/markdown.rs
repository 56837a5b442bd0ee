//! Markdown split into sections at its headings, and sections into paragraphs: line
//! by line, in one pass, without recursion (no input can deepen the stack), checking
//! the question's [`CancelFlag`] every few thousand lines.

use crate::cancel::CancelFlag;

use super::format::{CHECK_EVERY, DocFormat, SectionKind};
use super::rst;

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
    /// The section as Markdown: its heading, then `body`.
    pub fn render(&self, body: &str) -> String {
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

/// The fence (```` ``` ```` or `~~~`) a line opens or closes, if any.
pub fn fence_marker(line: &str) -> Option<&'static str> {
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
    split_markdown_until(md, package, &CancelFlag::never()).unwrap_or_default()
}

/// [`split_markdown`], or `None` once `flag` is raised.
pub fn split_markdown_until(md: &str, package: &str, flag: &CancelFlag) -> Option<Vec<Section>> {
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
        if i % CHECK_EVERY == 0 && flag.is_raised() {
            return None;
        }
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
    Some(sections)
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
    sections_of_until(text, format, package, &CancelFlag::never()).unwrap_or_default()
}

/// [`sections_of`], or `None` once `flag` is raised.
pub fn sections_of_until(
    text: &str,
    format: DocFormat,
    package: &str,
    flag: &CancelFlag,
) -> Option<Vec<Section>> {
    Some(match format {
        DocFormat::None => Vec::new(),
        DocFormat::Markdown => split_markdown_until(text, package, flag)?,
        DocFormat::Rst => {
            split_markdown_until(&rst::to_markdown_until(text, flag)?, package, flag)?
        }
        DocFormat::Plain => vec![Section {
            title: "Description".into(),
            level: 0,
            kind: SectionKind::Intro,
            body: text.trim().to_string(),
        }],
    })
}

/// Paragraphs of a body: blank-line separated, a code fence kept whole.
pub fn paragraphs(body: &str) -> Vec<String> {
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
