//! Sections fitted to a token budget, and plain text cut to one, in time linear in
//! what is read: each section and paragraph is counted once, a cut tokenizes no
//! further than the budget, and the answer is counted whole only to check it.

use serde::{Deserialize, Serialize};

use crate::cancel::CancelFlag;

use super::format::SectionKind;
use super::markdown::{Section, fence_marker, paragraphs};
use super::tokens;

/// A section as shown in the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SectionShown {
    /// Heading.
    pub title: String,
    /// What it is for.
    pub kind: SectionKind,
    /// Tokens shown.
    pub tokens: usize,
    /// Tokens of the section left out when it was cut at a paragraph boundary (or, when
    /// its first paragraph alone was over the budget, inside that paragraph).
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
    /// Tokens of the whole description rendered (the sections' sizes and a token
    /// between two).
    pub total_tokens: usize,
}

/// `1,204`.
pub fn thousands(n: usize) -> String {
    crate::words::thousands(n as u64)
}

/// The honest marker of what was left out, or `None` when nothing was. Names the
/// first `named` sections left out with their sizes, and sums up the rest; says how
/// many bytes of the README were not read at all.
fn marker(
    shown: &[SectionShown],
    left_out: &[SectionLeftOut],
    named: usize,
    unread: usize,
) -> Option<String> {
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
    if unread > 0 {
        parts.push(format!(
            "the README's last {} bytes not read",
            thousands(unread)
        ));
    }
    (!parts.is_empty()).then(|| format!("[{}]", parts.join("; ")))
}

/// Fits sections into `budget` tokens: in rank order (document order within a rank),
/// whole sections while they fit; the first that does not fit may be cut at a
/// paragraph boundary; the rest are named in the marker (as many as fit, the others
/// counted). The Markdown returned, marker included, counts at most `budget` tokens.
pub fn fit(sections: &[Section], budget: usize) -> Fitted {
    fit_until(sections, budget, 0, &CancelFlag::never()).unwrap_or_default()
}

/// [`fit`], the marker also saying that the README's last `unread` bytes were not
/// read; `None` once `flag` is raised (checked between sections and paragraphs).
pub fn fit_until(
    sections: &[Section],
    budget: usize,
    unread: usize,
    flag: &CancelFlag,
) -> Option<Fitted> {
    let mut order: Vec<usize> = (0..sections.len()).collect();
    order.sort_by_key(|&i| (sections[i].kind, i));
    let rendered: Vec<String> = sections.iter().map(|s| s.render(&s.body)).collect();
    let mut sizes = Vec::with_capacity(rendered.len());
    for r in &rendered {
        sizes.push(tokens::count_until(r, flag)?);
    }
    // The parts' sizes and a token for each `\n\n` between two: the whole is not
    // tokenized again.
    let nonempty = rendered.iter().filter(|r| !r.is_empty()).count();
    let total_tokens = sizes.iter().sum::<usize>() + nonempty.saturating_sub(1);
    // Room for the marker: none when everything fits, else a little, more while the
    // answer is over (a marker naming no section is about 15 tokens).
    let mut reserve = if total_tokens <= budget && unread == 0 {
        0
    } else {
        budget.min(30)
    };
    let parts = Parts {
        sections,
        order: &order,
        rendered: &rendered,
        sizes: &sizes,
        unread,
    };
    loop {
        let f = parts.fit_with(budget - reserve, budget, flag)?;
        if tokens::count(&f.markdown) <= budget {
            return Some(Fitted { total_tokens, ..f });
        }
        if reserve >= budget {
            // Not even the marker fits (a budget of a few tokens): say nothing rather
            // than break the budget; `left_out` still lists every section.
            return Some(Fitted {
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
            });
        }
        reserve = (reserve * 2).max(16).min(budget);
    }
}

/// The sections with their rendering and sizes, fitted again with more room kept for
/// the marker until the answer fits.
struct Parts<'a> {
    sections: &'a [Section],
    order: &'a [usize],
    rendered: &'a [String],
    sizes: &'a [usize],
    unread: usize,
}

impl Parts<'_> {
    fn fit_with(&self, room: usize, budget: usize, flag: &CancelFlag) -> Option<Fitted> {
        let mut used = 0usize;
        let mut parts: Vec<String> = Vec::new();
        let mut shown = Vec::new();
        let mut left_out = Vec::new();
        let mut cut_one = false;
        for &i in self.order {
            let (s, size) = (&self.sections[i], self.sizes[i]);
            if self.rendered[i].is_empty() {
                continue;
            }
            // `\n\n` between parts: counted generously as 1 token.
            let sep = usize::from(!parts.is_empty());
            if used + size + sep <= room {
                used += size + sep;
                parts.push(self.rendered[i].clone());
                shown.push(SectionShown {
                    title: s.title.clone(),
                    kind: s.kind,
                    tokens: size,
                    tokens_left_out: 0,
                });
                continue;
            }
            if !cut_one && room > used + sep + 20 {
                let cut = cut_section(s, room - used - sep, parts.is_empty(), flag)?;
                if let Some((r, n)) = cut {
                    cut_one = true;
                    used += n + sep;
                    parts.push(r);
                    shown.push(SectionShown {
                        title: s.title.clone(),
                        kind: s.kind,
                        tokens: n,
                        tokens_left_out: size.saturating_sub(n).max(1),
                    });
                    continue;
                }
            }
            left_out.push(SectionLeftOut {
                title: s.title.clone(),
                kind: s.kind,
                tokens: size,
            });
        }
        let text = parts.join("\n\n");
        // The marker names as many sections as the budget allows (each name costs a
        // few tokens, so no more than a quarter of the budget), the rest counted.
        let mut named = left_out.len().min(budget / 4);
        let markdown = loop {
            let Some(m) = marker(&shown, &left_out, named, self.unread) else {
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
            if flag.is_raised() {
                return None;
            }
            named = if named > 8 { named / 2 } else { named - 1 };
        };
        Some(Fitted {
            markdown,
            shown,
            left_out,
            total_tokens: 0,
        })
    }
}

/// A section cut to `room` tokens: as many whole paragraphs as fit (each counted
/// once, the result checked); when not even the first fits and nothing is shown
/// before it (`alone`), that paragraph's beginning, cut at a word and marked `…`.
/// `Some(None)` when nothing of it fits; `None` once `flag` is raised.
fn cut_section(
    s: &Section,
    room: usize,
    alone: bool,
    flag: &CancelFlag,
) -> Option<Option<(String, usize)>> {
    let paras = paragraphs(&s.body);
    // The heading, and 2 tokens for each `\n\n`: an estimate on the generous side.
    let mut estimate = tokens::count(&s.render("")) + 2;
    let mut k = 0;
    for p in &paras {
        if flag.is_raised() {
            return None;
        }
        estimate += tokens::count_up_to(p, room) + 2;
        if estimate > room {
            break;
        }
        k += 1;
    }
    while k > 0 {
        let r = s.render(&paras[..k].join("\n\n"));
        let n = tokens::count(&r);
        if n <= room {
            return Some(Some((r, n)));
        }
        if flag.is_raised() {
            return None;
        }
        k -= 1 + k / 8;
    }
    let Some(first) = paras.first().filter(|_| alone) else {
        return Some(None);
    };
    // A fence cut short is closed again, so what follows is not read as code.
    let close = fence_marker(first).map_or(String::new(), |f| format!("\n{f}"));
    let mut want = room.saturating_sub(tokens::count(&s.render(&close)) + 2);
    while want > 0 {
        let (head, was_cut) = cut_text(first, want);
        let r = s.render(&if was_cut { head + &close } else { head });
        let n = tokens::count(&r);
        if n <= room {
            return Some(Some((r, n)));
        }
        want -= 1 + want / 8;
    }
    Some(None)
}

/// Cuts plain text to at most `budget` tokens at a word boundary (inside a word when
/// its first word alone is over the budget), ending with `…` when cut. Returns the
/// text and whether it was cut. Tokenizes no further than the budget, and counts the
/// cut text once or a few times: linear in the budget, whatever the text's size.
pub fn cut_text(text: &str, budget: usize) -> (String, bool) {
    let text = text.trim();
    if tokens::count_up_to(text, budget) <= budget {
        return (text.to_string(), false);
    }
    // `…` is a token of its own, or merges into the last one.
    let mut room = budget.saturating_sub(1);
    loop {
        let head = tokens::prefix(text, room);
        let at_word_end = text[head.len()..].starts_with(char::is_whitespace);
        let head = match head.rfind(char::is_whitespace) {
            Some(i) if !at_word_end && i > 0 => &head[..i],
            _ => head,
        };
        let candidate = format!("{}…", head.trim_end());
        if room == 0 || tokens::count(&candidate) <= budget {
            return (candidate, true);
        }
        room -= 1 + room / 8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readme::markdown::split_markdown;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_budget_too_small_for_any_section_still_marks_what_was_left_out() {
        let s = split_markdown("# Install\n\npip install x\n\n# License\n\nMIT\n", "x");
        let f = fit(&s, 100);
        assert!(f.left_out.is_empty(), "{f:?}");
        let f = fit(&s, 1);
        assert!(tokens::count(&f.markdown) <= 1, "{}", f.markdown);
    }

    #[test]
    fn cut_text_ends_at_a_word_with_an_ellipsis() {
        let text = "one two three four five six seven eight nine ten ".repeat(20);
        let (cut, was) = cut_text(&text, 10);
        assert!(was);
        assert!(cut.ends_with('…'));
        assert!(tokens::count(&cut) <= 10);
        assert!(text.starts_with(cut.trim_end_matches('…')), "{cut}");
        assert!(text[cut.len() - '…'.len_utf8()..].starts_with(' '), "{cut}");
        let (whole, was) = cut_text("short", 10);
        assert_eq!((whole.as_str(), was), ("short", false));
    }

    #[test]
    fn cut_text_of_a_2_mb_word_is_its_beginning_not_nothing() {
        let text = "x".repeat(2 << 20);
        let (cut, was) = cut_text(&text, 50);
        assert!(was && cut.ends_with('…') && cut.len() > 10, "{cut}");
        assert!(tokens::count(&cut) <= 50);
    }

    #[test]
    fn a_readme_one_paragraph_larger_than_the_budget_shows_its_cut_beginning() {
        let para = "Every word of this single paragraph matters to the reader. ".repeat(400);
        for md in [
            para.clone(),
            format!("# Usage\n\n{para}\n\n## Licence\n\nMIT\n"),
        ] {
            let s = split_markdown(&md, "x");
            let f = fit(&s, 300);
            assert!(tokens::count(&f.markdown) <= 300, "{}", f.markdown);
            assert!(f.shown[0].tokens_left_out > 0, "{f:?}");
            assert!(f.markdown.contains("Every word of this"), "{}", f.markdown);
            assert!(f.markdown.contains("…"), "{}", f.markdown);
            assert!(f.markdown.contains("cut short"), "{}", f.markdown);
        }
        // A code block cut short is closed again.
        let code = format!("```\n{}```\n", "print('hello')\n".repeat(2000));
        let f = fit(&split_markdown(&code, "x"), 200);
        assert!(f.markdown.contains("print('hello')"), "{}", f.markdown);
        assert_eq!(f.markdown.matches("```").count(), 2, "{}", f.markdown);
    }

    #[test]
    fn a_section_of_thousands_of_tiny_paragraphs_is_cut_once_not_recounted_each_time() {
        let md = format!("# Usage\n\n{}", "a\n\n".repeat(200_000));
        let s = split_markdown(&md, "x");
        let f = fit(&s, 32_000);
        assert!(tokens::count(&f.markdown) <= 32_000);
        assert!(f.shown[0].tokens_left_out > 0, "{:?}", f.shown);
    }

    #[test]
    fn a_hundred_thousand_headings_are_named_within_the_budget() {
        let md = "# h\n\nx\n\n".repeat(100_000);
        let f = fit(&split_markdown(&md, "x"), 500);
        assert!(tokens::count(&f.markdown) <= 500, "{}", f.markdown);
        assert!(f.markdown.contains("more ("), "{}", f.markdown);
        assert_eq!(f.shown.len() + f.left_out.len(), 100_000);
    }
}
