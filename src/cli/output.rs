//! Terminal output: aligned tables, provenance words (coloured only on a terminal and
//! when `NO_COLOR` is unset), sparklines.

use std::io::IsTerminal;

use sentinel_actors::{Datum, Provenance};

/// Whether to colour stdout.
pub(super) fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// A short provenance tag for a table cell: `live`, `cached`, `stale 3h`, `estimated (high)`.
pub(super) fn source_cell<T>(d: &Datum<T>) -> String {
    let word = match &d.provenance {
        Provenance::Stale { .. } => format!("stale {}", age(d.age_secs)),
        Provenance::Estimated { confidence, .. } => {
            format!("estimated ({})", confidence.as_str())
        }
        Provenance::Cached if d.age_secs > 0 => format!("cached {}", age(d.age_secs)),
        p => p.word().to_string(),
    };
    paint(&d.provenance, word)
}

/// The note under a table explaining a provenance that needs one.
pub(super) fn source_note<T>(label: &str, d: &Datum<T>) -> Option<String> {
    match &d.provenance {
        Provenance::Stale { reason } => Some(format!("{label}: stale because {reason}")),
        Provenance::Estimated { basis, .. } => Some(format!("{label}: estimated from {basis}")),
        Provenance::Unavailable { reason, suggestion } => {
            Some(format!("{label}: unavailable ({reason}); {suggestion}"))
        }
        _ => None,
    }
}

fn paint(p: &Provenance, text: String) -> String {
    if !color_enabled() {
        return text;
    }
    let code = match p {
        Provenance::Live | Provenance::Revalidated => "32",
        Provenance::Cached => "34",
        Provenance::Stale { .. } => "33",
        Provenance::Estimated { .. } => "36",
        Provenance::Unavailable { .. } => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// `42s`, `5m`, `3h`, `2d`.
pub(crate) fn age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

pub(crate) use crate::text::thousands;

/// A one-line chart of a series.
pub(super) fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
        return String::new();
    };
    let span = (max - min).max(1) as f64;
    values
        .iter()
        .map(|&v| BARS[(((v - min) as f64 / span) * 7.0).round() as usize])
        .collect()
}

/// Column-aligned rows (the first row is the header). Width counts characters, not
/// escape codes.
pub(super) fn table(rows: &[Vec<String>]) -> String {
    let visible = |s: &str| strip_ansi(s).chars().count();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| visible(s))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < r.len() {
                line.push_str(&" ".repeat(widths[c] - visible(cell) + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut in_esc = false;
    for c in s.chars() {
        match (in_esc, c) {
            (false, '\x1b') => in_esc = true,
            (true, 'm') => in_esc = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(age(3 * 3600 + 5), "3h");
        assert_eq!(sparkline(&[0, 7, 14]), "▁▅█");
        assert_eq!(sparkline(&[]), "");
        let t = table(&[
            vec!["a".into(), "bb".into()],
            vec!["ccc".into(), "\x1b[32md\x1b[0m".into()],
        ]);
        assert_eq!(t, "a    bb\nccc  \x1b[32md\x1b[0m\n");
    }
}
