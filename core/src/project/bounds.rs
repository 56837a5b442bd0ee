//! What keeps one scan's cost linear in its input and its answer small, whatever the
//! client sends: line numbers from one index of line starts (a scan per entry from the
//! start of the file once made a 3 MB pyproject cost minutes), caps on every list a
//! file can multiply (1.3 million unreadable lines once made a 231 MB answer), and the
//! redaction of whatever a file echoes into the answer.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::untrusted::{REDACTED, redact_urls};

/// Most problems listed per file; the rest are counted.
pub const MAX_PROBLEMS_PER_FILE: usize = 100;
/// Most problems listed in one answer; the rest are counted.
pub const MAX_PROBLEMS: usize = 500;
/// Most references, options lines and notes listed in one answer, each.
pub const MAX_LISTED: usize = 500;

/// The 1-based line of any byte offset, by binary search over the line starts.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// The line starts of `text`.
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|s| *s <= offset)
    }
}

/// What was left out of a scan's lists, and what it has read (so each file is read at
/// most once). Not part of the answer: [`finish`](super::ParsedProject::finish) turns
/// it into entries saying how much was left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// file -> (problems listed, problems left out).
    pub problems_by_file: BTreeMap<String, (usize, usize)>,
    /// Problems not listed.
    pub problems_left_out: usize,
    /// References not listed.
    pub references_left_out: usize,
    /// Options not listed.
    pub options_left_out: usize,
    /// Notes not listed.
    pub notes_left_out: usize,
    /// Requirements past the bound, not read.
    pub requirements_left_out: usize,
    /// The bound on requirements.
    pub max_requirements: usize,
    /// The file whose requirements went past the bound first.
    pub requirements_left_out_file: String,
    /// Canonical paths (or keys) of the files read so far.
    pub read: BTreeSet<String>,
    /// Whether the scan stopped before the end (deadline or caller gone).
    pub stopped: bool,
}

/// `reason` with the secrets of `text` removed: [`redact_urls`] on it, and every word
/// that redaction took out of `text` (a token, a user name) hidden too, for messages
/// that echo part of a line without its `https://` (a PEP 508 parse error does).
pub fn redact_echo(reason: &str, text: &str) -> String {
    let mut out = redact_urls(reason);
    let red = redact_urls(text);
    if red == text {
        return out;
    }
    let kept: BTreeSet<&str> = words(&red).collect();
    for secret in words(text).filter(|w| !kept.contains(w) && w.len() >= 3) {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| {
        c.is_whitespace() || matches!(c, '@' | '/' | ':' | '?' | '&' | '=' | '#' | '"' | '\'')
    })
    .filter(|w| !w.is_empty())
}

/// Deepest nesting of arrays and inline tables a TOML file may have before it is
/// parsed. Real project files nest 3 or 4 deep.
pub const MAX_TOML_NESTING: usize = 64;

/// The deepest nesting of `[`/`{` in a TOML text outside strings and comments, in one
/// pass (table headers count too: `[[package]]` is 2). Brackets inside strings are
/// skipped, so a string of `]` cannot hide a deep nesting that follows.
pub fn toml_nesting(text: &str) -> usize {
    #[derive(PartialEq)]
    enum S {
        Code,
        Comment,
        Basic,
        Literal,
        MultiBasic,
        MultiLiteral,
    }
    let b = text.as_bytes();
    let (mut s, mut depth, mut deepest, mut i) = (S::Code, 0usize, 0usize, 0usize);
    while i < b.len() {
        let c = b[i];
        match s {
            S::Code => match c {
                b'#' => s = S::Comment,
                b'"' if b[i..].starts_with(b"\"\"\"") => {
                    s = S::MultiBasic;
                    i += 2;
                }
                b'\'' if b[i..].starts_with(b"'''") => {
                    s = S::MultiLiteral;
                    i += 2;
                }
                b'"' => s = S::Basic,
                b'\'' => s = S::Literal,
                b'[' | b'{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            },
            S::Comment if c == b'\n' => s = S::Code,
            S::Basic if c == b'\\' => i += 1,
            S::Basic if c == b'"' || c == b'\n' => s = S::Code,
            S::Literal if c == b'\'' || c == b'\n' => s = S::Code,
            S::MultiBasic if c == b'\\' => i += 1,
            S::MultiBasic if b[i..].starts_with(b"\"\"\"") => {
                s = S::Code;
                i += 2;
            }
            S::MultiLiteral if b[i..].starts_with(b"'''") => {
                s = S::Code;
                i += 2;
            }
            _ => {}
        }
        i += 1;
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_from_the_index_match_a_count_of_newlines() {
        let text = "a\nbb\n\nccc\n";
        let idx = LineIndex::new(text);
        for at in 0..=text.len() + 3 {
            let want = text.as_bytes()[..at.min(text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            assert_eq!(idx.line(at), want, "offset {at}");
        }
    }

    #[test]
    fn toml_nesting_skips_strings_and_comments() {
        assert_eq!(toml_nesting("[[package]]\nname = \"a[b]\"\n"), 2);
        assert_eq!(toml_nesting("a = [\"]]]]\", [[1]]]\n"), 3);
        assert_eq!(
            toml_nesting("# [[[[[[\na = '[[[['\nb = \"\"\"\n[[[\"\"\"\n"),
            0
        );
        assert_eq!(toml_nesting(&format!("a = {}", "[".repeat(1000))), 1000);
        assert_eq!(toml_nesting("a = {b = {c = [1]}}"), 3);
    }

    #[test]
    fn secrets_a_message_echoes_without_the_scheme_are_hidden() {
        let line = "pkg @ https://user:TOKEN123@host/x.whl ; ((";
        let reason = "Expected marker, found `user:TOKEN123@host`";
        let r = redact_echo(reason, line);
        assert!(!r.contains("TOKEN123"), "{r}");
        assert_eq!(redact_echo("plain", "no url here"), "plain");
    }
}
