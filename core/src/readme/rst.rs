//! reStructuredText to Markdown, for the constructs READMEs use: section titles
//! (underlined, or over- and underlined; levels in order of first appearance), literal
//! blocks (`::`), `code-block` directives and doctest blocks to fences, hyperlinks
//! (`` `text <url>`_ ``, named targets), inline literals and roles, images and badges
//! (`.. image::` with `:target:`), admonitions to quotes. Substitution references
//! (`|badge|`), comments, `contents` and `toctree` are dropped. Anything else passes
//! through as text, which a model reads well enough.
//!
//! One pass over the lines, without recursion: a directive's body is converted as flat
//! text, never parsed again, so nesting in the input cannot deepen the stack; every
//! search inside a line is bounded or resumes where the last one stopped, so the time
//! is linear in the input.

use std::collections::HashMap;

use crate::cancel::CancelFlag;

use super::format::CHECK_EVERY;

fn is_adornment(line: &str) -> Option<char> {
    let l = line.trim_end();
    let c = l.chars().next()?;
    (l.chars().count() >= 3
        && "=-~^\"'`#*+:._<>!$%&,/;?@[]\\{|}".contains(c)
        && l.chars().all(|x| x == c))
    .then_some(c)
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The block after a line at indent `base`: following lines that are blank or indented
/// deeper, dedented, trailing blanks dropped. Returns the lines and the next index.
fn block(lines: &[String], start: usize, base: usize) -> (Vec<String>, usize) {
    let mut j = start;
    while j < lines.len() && (lines[j].trim().is_empty() || indent_of(&lines[j]) > base) {
        j += 1;
    }
    let mut body: &[String] = &lines[start..j];
    while let [rest @ .., last] = body
        && last.trim().is_empty()
    {
        body = rest;
    }
    while let [first, rest @ ..] = body
        && first.trim().is_empty()
    {
        body = rest;
    }
    let min = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent_of(l))
        .min()
        .unwrap_or(0);
    let out = body
        .iter()
        .map(|l| l.get(min..).unwrap_or("").to_string())
        .collect();
    // Give back trailing blank lines so paragraphs stay separated.
    (out, j)
}

/// Converts reStructuredText to Markdown.
pub fn to_markdown(src: &str) -> String {
    to_markdown_until(src, &CancelFlag::never()).unwrap_or_default()
}

/// [`to_markdown`], or `None` once `flag` is raised (checked every few thousand lines).
pub fn to_markdown_until(src: &str, flag: &CancelFlag) -> Option<String> {
    let lines: Vec<String> = src.lines().map(|l| l.replace('\t', "    ")).collect();
    let mut targets: HashMap<String, String> = HashMap::new();
    for l in &lines {
        if let Some(rest) = l.trim().strip_prefix(".. _")
            && let Some((name, url)) = rest.split_once(": ")
        {
            targets.insert(
                name.trim_matches('`').to_lowercase(),
                url.trim().to_string(),
            );
        }
    }
    let mut styles: Vec<(char, bool)> = Vec::new();
    let mut level_of = |c: char, over: bool| -> usize {
        let pos = styles
            .iter()
            .position(|s| *s == (c, over))
            .unwrap_or_else(|| {
                styles.push((c, over));
                styles.len() - 1
            });
        (pos + 1).min(6)
    };
    let mut out: Vec<String> = Vec::new();
    let n = lines.len();
    let mut i = 0;
    let mut checked = 0;
    while i < n {
        if i >= checked + CHECK_EVERY {
            if flag.is_raised() {
                return None;
            }
            checked = i;
        }
        let line = &lines[i];
        let trimmed = line.trim();
        // Over- and underlined title.
        if let Some(c) = is_adornment(line)
            && i + 2 < n
            && !lines[i + 1].trim().is_empty()
            && is_adornment(&lines[i + 2]) == Some(c)
        {
            let level = level_of(c, true);
            heading(&mut out, level, &inline(lines[i + 1].trim(), &targets));
            i += 3;
            continue;
        }
        // Underlined title.
        if !trimmed.is_empty()
            && indent_of(line) == 0
            && i + 1 < n
            && is_adornment(&lines[i + 1]).is_some_and(|_| {
                lines[i + 1].trim_end().chars().count() + 2 >= trimmed.chars().count()
            })
            && is_adornment(line).is_none()
        {
            let c = is_adornment(&lines[i + 1]).unwrap_or('=');
            let level = level_of(c, false);
            heading(&mut out, level, &inline(trimmed, &targets));
            i += 2;
            continue;
        }
        // Directives and comments.
        if let Some(rest) = trimmed.strip_prefix("..")
            && (rest.is_empty() || rest.starts_with(' '))
        {
            let rest = rest.trim();
            let (body, next) = block(&lines, i + 1, indent_of(line));
            directive(&mut out, rest, &body, &targets);
            i = next;
            continue;
        }
        // Doctest block.
        if trimmed.starts_with(">>>") && out.last().is_none_or(|l| l.trim().is_empty()) {
            out.push("```python".into());
            while i < n && !lines[i].trim().is_empty() {
                out.push(lines[i].trim().to_string());
                i += 1;
            }
            out.push("```".into());
            continue;
        }
        // A paragraph ending in `::` introduces a literal block.
        if trimmed.ends_with("::") {
            let text = trimmed.trim_end_matches("::");
            if !text.trim().is_empty() {
                let text = if text.ends_with(char::is_whitespace) {
                    text.trim_end().to_string()
                } else {
                    format!("{text}:")
                };
                out.push(format!(
                    "{}{}",
                    " ".repeat(indent_of(line)),
                    inline(&text, &targets)
                ));
            }
            let (body, next) = block(&lines, i + 1, indent_of(line));
            if !body.is_empty() {
                out.push(String::new());
                out.push("```".into());
                out.extend(body);
                out.push("```".into());
                out.push(String::new());
            }
            i = next;
            continue;
        }
        // A line of substitution references only (`|build| |coverage|`): badges.
        let converted = inline(line, &targets);
        if !trimmed.is_empty() && converted.trim().is_empty() {
            i += 1;
            continue;
        }
        out.push(converted.trim_end().to_string());
        i += 1;
    }
    Some(collapse_blank_lines(&out.join("\n")).trim().to_string() + "\n")
}

/// Runs of blank lines as one, in one pass.
fn collapse_blank_lines(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut newlines = 0;
    for c in md.chars() {
        if c == '\n' {
            newlines += 1;
            if newlines > 2 {
                continue;
            }
        } else {
            newlines = 0;
        }
        out.push(c);
    }
    out
}

fn heading(out: &mut Vec<String>, level: usize, title: &str) {
    if out.last().is_some_and(|l| !l.trim().is_empty()) {
        out.push(String::new());
    }
    out.push(format!("{} {}", "#".repeat(level), title));
    out.push(String::new());
}

fn directive(
    out: &mut Vec<String>,
    rest: &str,
    body: &[String],
    targets: &HashMap<String, String>,
) {
    // `.. _name: url` targets were collected; `.. |name| image:: url` defines a badge.
    let rest = if let Some(r) = rest.strip_prefix('|') {
        r.split_once('|').map(|(_, r)| r.trim()).unwrap_or(r)
    } else {
        rest
    };
    let Some((name, arg)) = rest.split_once("::") else {
        return; // a comment or a target
    };
    let name = name.trim().to_ascii_lowercase();
    let arg = arg.trim();
    let option = |k: &str| {
        body.iter().find_map(|l| {
            l.trim()
                .strip_prefix(&format!(":{k}:"))
                .map(|v| v.trim().to_string())
        })
    };
    let content: Vec<&String> = body
        .iter()
        .skip_while(|l| l.trim_start().starts_with(':'))
        .collect();
    match name.as_str() {
        "image" | "figure" => {
            let alt = option("alt").unwrap_or_default();
            let img = format!("![{alt}]({arg})");
            out.push(match option("target") {
                Some(t) => format!("[{img}]({t})"),
                None => img,
            });
            out.push(String::new());
        }
        "code-block" | "code" | "sourcecode" | "highlight" if !content.is_empty() => {
            out.push(String::new());
            out.push(format!("```{arg}"));
            let start = content
                .iter()
                .position(|l| !l.trim().is_empty())
                .unwrap_or(0);
            out.extend(content[start..].iter().map(|l| l.to_string()));
            out.push("```".into());
            out.push(String::new());
        }
        "note" | "warning" | "tip" | "important" | "attention" | "caution" | "danger" | "hint"
        | "seealso" | "admonition" | "versionadded" | "versionchanged" | "deprecated" => {
            let mut label = name.clone();
            label[..1].make_ascii_uppercase();
            out.push(String::new());
            let first = inline(arg, targets);
            out.push(format!("> **{label}:** {first}").trim_end().to_string());
            for l in content {
                out.push(format!("> {}", inline(l, targets)).trim_end().to_string());
            }
            out.push(String::new());
        }
        "contents" | "toctree" | "raw" | "include" | "replace" | "meta" | "role"
        | "default-role" | "highlightlang" | "only" | "index" | "unicode" | "date" => {}
        _ => {
            for l in content {
                out.push(inline(l, targets));
            }
        }
    }
}

/// A character of a role's name (`:py:func:`).
fn is_role_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b':' | b'-' | b'_')
}

/// Inline markup: literals, roles, hyperlinks, substitution references.
pub fn inline(s: &str, targets: &HashMap<String, String>) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    // Where the run of role-name characters seen last ends: found once per run, not
    // again from each colon in it (a line of 100,000 colons stays linear).
    let mut run_end = 0;
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if let Some(r) = rest.strip_prefix("``")
            && let Some(end) = r.find("``")
            && end > 0
        {
            out.push('`');
            out.push_str(&r[..end]);
            out.push('`');
            i += 2 + end + 2;
            continue;
        }
        if b[i] == b':' {
            if run_end <= i {
                run_end = i + 1;
                while run_end < b.len() && is_role_char(b[run_end]) {
                    run_end += 1;
                }
            }
            // `:name:` then a backquote right after the run.
            if run_end > i + 2
                && b.get(run_end) == Some(&b'`')
                && b[run_end - 1] == b':'
                && let Some(end) = s[run_end + 1..].find('`')
            {
                let inner = &s[run_end + 1..run_end + 1 + end];
                let text = inner
                    .split_once(" <")
                    .map_or(inner, |(t, _)| t)
                    .trim_start_matches('~');
                out.push('`');
                out.push_str(text);
                out.push('`');
                i = run_end + 1 + end + 1;
                continue;
            }
        }
        if b[i] == b'`'
            && let Some(end) = rest[1..].find('`')
            && end > 0
        {
            let inner = &rest[1..1 + end];
            let mut k = i + 1 + end + 1;
            while k < s.len() && b[k] == b'_' {
                k += 1;
            }
            let is_ref = k > i + 1 + end + 1;
            if let Some((text, url)) = inner.strip_suffix('>').and_then(|x| x.rsplit_once('<')) {
                let text = text.trim();
                let text = if text.is_empty() { url } else { text };
                out.push_str(&format!("[{text}]({url})"));
            } else if is_ref {
                match targets.get(&inner.to_lowercase()) {
                    Some(u) => out.push_str(&format!("[{inner}]({u})")),
                    None => out.push_str(inner),
                }
            } else {
                out.push('`');
                out.push_str(inner);
                out.push('`');
            }
            i = k;
            continue;
        }
        // A substitution reference is short: look no further than 60 bytes for its end.
        if b[i] == b'|'
            && (i == 0 || b[i - 1].is_ascii_whitespace())
            && let Some(end) = b[i + 1..].iter().take(60).position(|&c| c == b'|')
            && end > 0
            && !rest[1..].starts_with(' ')
        {
            let mut k = i + 1 + end + 1;
            while k < s.len() && b[k] == b'_' {
                k += 1;
            }
            i = k;
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_literal_blocks_links_and_badges_become_markdown() {
        let rst = "\
.. image:: https://img.shields.io/pypi/v/x.svg
    :target: https://pypi.org/project/x
    :alt: PyPI

|ci| |cov|

=====
 x
=====

Intro with ``code`` and `a link <https://x.org>`_ and `Docs`_.

.. _Docs: https://docs.x.org

Install
-------

Run::

    pip install x

.. code-block:: python

    import x
    x.go()

.. note:: Be careful.

Sub
~~~

>>> 1 + 1
2
";
        let md = to_markdown(rst);
        assert!(
            md.contains(
                "[![PyPI](https://img.shields.io/pypi/v/x.svg)](https://pypi.org/project/x)"
            ),
            "{md}"
        );
        assert!(!md.contains("|ci|"), "{md}");
        assert!(md.contains("# x\n"), "{md}");
        assert!(md.contains("## Install\n"), "{md}");
        assert!(md.contains("### Sub\n"), "{md}");
        assert!(md.contains("`code`"), "{md}");
        assert!(md.contains("[a link](https://x.org)"), "{md}");
        assert!(md.contains("[Docs](https://docs.x.org)"), "{md}");
        assert!(md.contains("Run:\n\n```\npip install x\n```"), "{md}");
        assert!(md.contains("```python\nimport x\nx.go()\n```"), "{md}");
        assert!(md.contains("> **Note:** Be careful."), "{md}");
        assert!(md.contains("```python\n>>> 1 + 1\n2\n```"), "{md}");
        assert!(!md.contains(".. "), "{md}");
    }

    #[test]
    fn roles_keep_their_text() {
        let t = HashMap::new();
        assert_eq!(inline(":func:`os.path.join`", &t), "`os.path.join`");
        assert_eq!(inline(":ref:`the guide <guide>`", &t), "`the guide`");
        assert_eq!(inline("a `b`_ c", &t), "a b c");
        assert_eq!(inline("plain | pipes | stay", &t), "plain | pipes | stay");
    }
}
