//! Terminal output: aligned tables, provenance words (coloured only on a terminal and
//! when `NO_COLOR` is unset), sparklines.

use std::io::IsTerminal;

use sentinel_actors::{Datum, Provenance};

/// Whether to colour stdout.
pub(crate) fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// A short provenance tag for a table cell (coloured on a terminal): `live`, `cached 5m`,
/// `stale 3h`, `estimated (high)`.
pub(crate) fn source_cell<T>(d: &Datum<T>) -> String {
    paint(
        &d.provenance,
        crate::describe::tag(&d.provenance, d.age_secs),
    )
}

/// The note under a table explaining a provenance that needs one.
pub(crate) fn source_note<T>(label: &str, d: &Datum<T>) -> Option<String> {
    crate::describe::why(&d.provenance).map(|w| format!("{label}: {w}"))
}

/// `, data as of 2026-11-29` for a download figure whose data has a date, else empty.
pub(crate) fn as_of_suffix<T>(d: &Datum<T>) -> String {
    crate::describe::data_date(d)
        .map(|w| format!(", {w}"))
        .unwrap_or_default()
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

pub(crate) use crate::text::thousands;

/// The notes under a table, one `  note: ` line each.
pub(crate) fn notes(notes: impl IntoIterator<Item = Option<String>>) -> String {
    notes
        .into_iter()
        .flatten()
        .map(|n| format!("  note: {n}\n"))
        .collect()
}

/// A one-line chart of a series.
pub(crate) fn sparkline(values: &[u64]) -> String {
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
/// Longest cell printed unless `--full`.
const MAX_CELL_CHARS: usize = 200;
/// Most rows printed unless `--full`.
const MAX_ROWS: usize = 500;

static FULL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--full`: print tables whole.
pub(crate) fn set_full(full: bool) {
    FULL.store(full, std::sync::atomic::Ordering::Relaxed);
}

fn full() -> bool {
    FULL.load(std::sync::atomic::Ordering::Relaxed)
}

/// Text safe for a terminal: upstream text may carry escape sequences (window titles,
/// screen clears) and control characters. Only our own colour sequences (`ESC [ ... m`)
/// survive; every other control character goes, except newlines when `keep_newlines`.
pub(crate) fn clean(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Keep a well-formed SGR sequence, drop any other escape.
            let mut seq = String::from("\x1b");
            if chars.peek() == Some(&'[') {
                seq.push(chars.next().unwrap_or('['));
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_digit() || d == ';' {
                        seq.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if chars.peek() == Some(&'m') {
                    chars.next();
                    seq.push('m');
                    out.push_str(&seq);
                }
            }
            continue;
        }
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' | '\t' | '\r' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A table cell: one line, clean, and cut at `MAX_CELL_CHARS` unless `--full`.
fn cell(s: &str) -> String {
    let s = clean(s, false);
    if full() || strip_ansi(&s).chars().count() <= MAX_CELL_CHARS {
        return s;
    }
    let plain = strip_ansi(&s);
    let kept: String = plain.chars().take(MAX_CELL_CHARS).collect();
    format!("{kept}... ({} characters; --full)", plain.chars().count())
}

/// Writes to stdout; a closed pipe (`| head`) ends the program quietly, as Unix tools do.
pub(crate) fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(super::Exit::Ok.code().into());
    }
}

pub(crate) fn table(all_rows: &[Vec<String>]) -> String {
    let shown = if full() {
        all_rows.len()
    } else {
        all_rows.len().min(MAX_ROWS)
    };
    let rows: Vec<Vec<String>> = all_rows[..shown]
        .iter()
        .map(|r| r.iter().map(|c| cell(c)).collect())
        .collect();
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
    for r in &rows {
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
    if shown < all_rows.len() {
        out.push_str(&format!(
            "... {} more rows not shown (--full prints them all)\n",
            all_rows.len() - shown
        ));
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
    fn upstream_escape_sequences_never_reach_the_terminal() {
        let hostile = "evil\x1b]0;owned\x07\x1b[2J\x1b[31mred\x1b[0m\nnext\u{9b}";
        let c = cell(hostile);
        assert!(!c.contains("\x1b]"), "{c:?}");
        assert!(!c.contains("\x1b[2J"), "{c:?}");
        assert!(
            !c.contains('\n') && !c.contains('\x07') && !c.contains('\u{9b}'),
            "{c:?}"
        );
        assert!(
            c.contains("\x1b[31mred\x1b[0m"),
            "our own colours survive: {c:?}"
        );
    }

    #[test]
    fn a_huge_body_prints_a_bounded_table() {
        let rows: Vec<Vec<String>> = (0..10_000)
            .map(|i| vec![format!("r{i}"), "x".repeat(100_000)])
            .collect();
        let t = table(&rows);
        assert!(t.len() < 200_000, "{} bytes", t.len());
        assert!(
            t.contains("9500 more rows not shown"),
            "{}",
            &t[t.len() - 200..]
        );
        assert!(t.contains("(100000 characters; --full)"));
    }

    #[test]
    fn formats() {
        assert_eq!(crate::text::age_short(3 * 3600 + 5), "3h");
        assert_eq!(sparkline(&[0, 7, 14]), "▁▅█");
        assert_eq!(sparkline(&[]), "");
        let t = table(&[
            vec!["a".into(), "bb".into()],
            vec!["ccc".into(), "\x1b[32md\x1b[0m".into()],
        ]);
        assert_eq!(t, "a    bb\nccc  \x1b[32md\x1b[0m\n");
    }
}
