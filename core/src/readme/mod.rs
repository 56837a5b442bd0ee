//! A README rendered to Markdown (reStructuredText converted), split into sections,
//! and fitted to a token budget with a real tokenizer: the pure machinery behind the
//! docs view ([`crate::views::docs`]). Iterative and chunked, checking a
//! [`crate::cancel::CancelFlag`], so a hostile README cannot stall or deepen the stack.

pub mod fit;
pub mod format;
pub mod markdown;
pub mod rst;
pub mod tokens;

pub use fit::{Fitted, SectionLeftOut, SectionShown, cut_text, fit, thousands};
pub use format::{DocFormat, SectionKind};
pub use markdown::{Section, sections_of, split_markdown};
