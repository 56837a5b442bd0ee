//! The typo-squat rule: which popular name a package's name is a letter or two away
//! from (Damerau-Levenshtein over PEP 503-normalised names, against the most
//! downloaded projects of the top-packages dataset). The check's verdict
//! ([`crate::views::check`]) weighs it with the other evidence.

use serde::{Deserialize, Serialize};

use crate::upstream::TopDoc;
use crate::words::thousands;

/// How many of the top packages count as popular names.
pub const POPULAR_ROWS: usize = 5_000;
/// The popular package a name resembles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Resemblance {
    /// The popular name.
    pub name: String,
    /// Its rank in the top-packages dataset (1 = most downloaded).
    pub rank: usize,
    /// Its downloads over the dataset's 30 days.
    pub downloads_30d: u64,
    /// The edit distance.
    pub distance: usize,
}

/// The rule's threshold for two names.
pub fn max_distance(a: &str, b: &str) -> usize {
    if a.len().min(b.len()) <= 5 { 1 } else { 2 }
}

/// The closest popular name to `name` within the rule (most downloaded on a tie), and
/// `name`'s own rank. `name` must be normalised.
pub fn resemblance(name: &str, top: &TopDoc) -> (Option<usize>, Option<Resemblance>, usize) {
    let rows = &top.rows[..top.rows.len().min(POPULAR_ROWS)];
    let norm = |s: &str| {
        crate::model::PackageName::parse(s)
            .map(|n| n.to_string())
            .unwrap_or_else(|_| s.to_ascii_lowercase())
    };
    let mut own_rank = None;
    let mut best: Option<Resemblance> = None;
    for (i, row) in rows.iter().enumerate() {
        let other = norm(&row.project);
        if other == name {
            own_rank = Some(i + 1);
            continue;
        }
        let limit = max_distance(name, &other);
        if name.len().abs_diff(other.len()) > limit {
            continue;
        }
        let d = strsim::damerau_levenshtein(name, &other);
        if d <= limit && best.as_ref().is_none_or(|b| d < b.distance) {
            best = Some(Resemblance {
                name: other,
                rank: i + 1,
                downloads_30d: row.download_count,
                distance: d,
            });
        }
    }
    (own_rank, best, rows.len())
}

/// The rule in words.
pub fn rule_words(compared: usize) -> String {
    format!(
        "Damerau-Levenshtein distance between PEP 503-normalised names, at most 1 when the shorter name has up to 5 characters and at most 2 otherwise, against the {compared} most downloaded projects of the top-packages dataset"
    )
}

/// "one letter away from", "two letters away from".
fn distance_words(d: usize) -> &'static str {
    match d {
        1 => "one letter away from",
        _ => "two letters away from",
    }
}

/// A resemblance in words, for a verdict.
pub fn resembles_words(r: &Resemblance) -> String {
    format!(
        "{} `{}` (rank {} of the top packages, {} downloads in 30 days)",
        distance_words(r.distance),
        r.name,
        r.rank,
        thousands(r.downloads_30d)
    )
}
