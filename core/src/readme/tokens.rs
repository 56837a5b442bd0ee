//! Token counting with a real tokenizer: OpenAI's `o200k_base` encoding (GPT-4o and
//! later), bundled in `tiktoken-rs` (no network). Built once, lazily, on first use;
//! [`warm`] builds it ahead of the first question (the engine calls it at start, off
//! the async threads).
//!
//! Texts are tokenized in chunks of at most [`CHUNK`] bytes: the tokenizer's time and
//! memory grow with the length of a run it cannot split (a 20 MB README without
//! whitespace once cost 33 s and 1.1 GB). Chunks end where the tokenizer's own
//! pre-split ends a piece anyway (before a space that follows a non-space, or after a
//! line break followed by a non-space), so counts are exact; only a run with no such
//! place in a whole chunk is cut at a character boundary, which may shift its count by
//! a token per cut.

use crate::cancel::CancelFlag;

/// The encoding that counts every token in an answer.
pub const ENCODING: &str = "o200k_base";

/// The most bytes tokenized at once.
pub const CHUNK: usize = 4096;

fn bpe() -> &'static tiktoken_rs::CoreBPE {
    tiktoken_rs::o200k_base_singleton()
}

/// Whether the tokenizer's pre-split always starts a piece at byte `p` of `b`.
fn piece_starts_at(b: &[u8], p: usize) -> bool {
    let (prev, cur) = (b[p - 1], b[p]);
    let next_is_word = b.get(p + 1).is_some_and(|c| !c.is_ascii_whitespace());
    (cur == b' ' && !prev.is_ascii_whitespace() && next_is_word)
        || (prev == b'\n' && !cur.is_ascii_whitespace() && cur != b'/')
}

/// `text` in chunks of at most [`CHUNK`] bytes (a few more for a last character).
pub fn chunks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if rest.len() <= CHUNK {
            return Some(std::mem::take(&mut rest));
        }
        let b = rest.as_bytes();
        let at = (CHUNK / 2..=CHUNK)
            .rev()
            .find(|&p| piece_starts_at(b, p))
            .unwrap_or_else(|| {
                let mut p = CHUNK;
                while !rest.is_char_boundary(p) {
                    p += 1;
                }
                p
            });
        let (head, tail) = rest.split_at(at);
        rest = tail;
        Some(head)
    })
}

/// Tokens of `text` (special-token strings count as ordinary text).
pub fn count(text: &str) -> usize {
    chunks(text).map(|c| bpe().encode_ordinary(c).len()).sum()
}

/// Tokens of `text`, or `None` when `flag` was raised (checked between chunks).
pub fn count_until(text: &str, flag: &CancelFlag) -> Option<usize> {
    let mut n = 0;
    for c in chunks(text) {
        if flag.is_raised() {
            return None;
        }
        n += bpe().encode_ordinary(c).len();
    }
    Some(n)
}

/// Tokens of `text`, counted no further than `limit` (a longer text answers a number
/// above `limit`, not its size): what a share needs, at the cost of the share.
pub fn count_up_to(text: &str, limit: usize) -> usize {
    let mut n = 0;
    for c in chunks(text) {
        n += bpe().encode_ordinary(c).len();
        if n > limit {
            break;
        }
    }
    n
}

/// The longest prefix of `text` made of its first tokens, at most `budget` of them,
/// tokenizing no further than the cut. Re-counted alone, the prefix may count a token
/// more or less: callers check it.
pub fn prefix(text: &str, budget: usize) -> &str {
    let mut used = 0;
    let mut end = 0;
    for c in chunks(text) {
        let toks = bpe().encode_ordinary(c);
        if used + toks.len() <= budget {
            used += toks.len();
            end += c.len();
            continue;
        }
        let keep = &toks[..budget - used];
        let bytes = bpe().decode_bytes(keep).map_or(0, |b| b.len());
        let mut at = end + bytes.min(c.len());
        // A token may end inside a character: keep whole characters only.
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        return &text[..at];
    }
    text
}

/// Builds the tokenizer now (it takes a moment: the vocabulary is parsed once).
pub fn warm() {
    let _ = bpe();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(text: &str) -> usize {
        bpe().encode_ordinary(text).len()
    }

    #[test]
    fn counts_tokens_not_characters() {
        assert_eq!(count(""), 0);
        assert_eq!(count("hello world"), 2);
        assert!(count("pip install requests") < "pip install requests".len());
    }

    #[test]
    fn counting_in_chunks_is_exact_on_text_with_spaces_and_lines() {
        let text = "Install it with `pip install x`, then:\n\n```python\nimport x\nx.go(1, 2)\n```\n\nSee https://x.org/docs/ for more. ".repeat(400);
        assert!(text.len() > 10 * CHUNK);
        assert_eq!(count(&text), whole(&text));
        let lines = "a/b/c\n/d\n\n  indented\n".repeat(2000);
        assert_eq!(count(&lines), whole(&lines));
    }

    #[test]
    fn a_20_mb_run_without_whitespace_is_tokenized_in_bounded_chunks() {
        let text = "é".repeat(50_000) + &"a".repeat(100_000);
        assert!(chunks(&text).all(|c| c.len() <= CHUNK + 3));
        assert_eq!(chunks(&text).collect::<String>(), text);
        assert!(count(&text) > 0);
    }

    #[test]
    fn a_prefix_stops_at_the_budget_and_keeps_whole_characters() {
        let text = "the quick brown fox jumps over the lazy dog ".repeat(1000);
        let p = prefix(&text, 100);
        assert!(text.starts_with(p));
        assert!((99..=101).contains(&count(p)), "{}", count(p));
        assert_eq!(prefix("short", 10), "short");
        assert_eq!(prefix("anything", 0), "");
        let wide = "日本語".repeat(10_000);
        let p = prefix(&wide, 7);
        assert!(!p.is_empty() && wide.starts_with(p));
        assert!(count_up_to(&wide, 50) > 50 && count_up_to(&wide, 50) < count(&wide));
    }
}
