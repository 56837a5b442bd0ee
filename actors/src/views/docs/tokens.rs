//! Token counting with a real tokenizer: OpenAI's `o200k_base` encoding (GPT-4o and
//! later), bundled in `tiktoken-rs` (no network). Built once, lazily, on first use;
//! [`warm`] builds it ahead of the first question (the engine calls it at start, off
//! the async threads).

/// The encoding that counts every token in an answer.
pub const ENCODING: &str = "o200k_base";

/// Tokens of `text` (special-token strings count as ordinary text).
pub fn count(text: &str) -> usize {
    if text.is_empty() {
        return 0;
    }
    tiktoken_rs::o200k_base_singleton()
        .encode_ordinary(text)
        .len()
}

/// Builds the tokenizer now (it takes a moment: the vocabulary is parsed once).
pub fn warm() {
    let _ = tiktoken_rs::o200k_base_singleton();
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_tokens_not_characters() {
        assert_eq!(super::count(""), 0);
        assert_eq!(super::count("hello world"), 2);
        assert!(super::count("pip install requests") < "pip install requests".len());
    }
}
