//! Text shared by the commands that keep their own glue (`audit`, `scan`, `check`) and
//! the questions (`crate::questions`): a missing node, advisory sources, dependency
//! confusion, audits.

use sentinel_actors::views::audit::AuditReport;
use sentinel_actors::views::resolve::MissingNode;
use sentinel_actors::views::vulns::AdvisorySource;

/// `  MISSING name version: reason`, a node a resolution could not fetch (no newline).
pub fn missing_line(m: &MissingNode) -> String {
    format!(
        "  MISSING {}{}: {}",
        m.package,
        m.version
            .as_deref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default(),
        m.reason
    )
}

/// Which sources listed an advisory (or answered for a release): `pypi`, `osv`,
/// `pypi+osv`.
pub(crate) fn sources(s: &[AdvisorySource]) -> String {
    if s.is_empty() {
        return "no source".into();
    }
    s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join("+")
}

/// The dependency-confusion lines of a scan or an audit (CLI and MCP text alike): the
/// summary, each name on both indexes with what pip would install, what was not
/// checked.
pub fn confusion(c: &sentinel_actors::views::confusion::ConfusionReport) -> String {
    let mut out = format!(
        "Dependency confusion (PyPI and the extra index {}): {}\n",
        c.extra_index, c.summary
    );
    for f in &c.on_both {
        out.push_str(&format!(
            "  {}{}: {} [PyPI {}, extra index {}]\n",
            f.package,
            if f.fails { " (fails)" } else { "" },
            f.words,
            crate::describe::sentence(&f.public),
            crate::describe::sentence(&f.extra),
        ));
    }
    if !c.extra_only.is_empty() {
        out.push_str(&format!(
            "  only on the extra index (not flagged): {}\n",
            c.extra_only.join(", ")
        ));
    }
    for f in &c.not_checked {
        out.push_str(&format!("  not checked {}: {}\n", f.item, f.reason));
    }
    out
}

/// An audit in words: the verdict with its counts, then each vulnerable release (its
/// advisories, fix and the chain that brings it in), the pins and packages that need
/// attention, what could not be checked, and the notes.
pub fn audit(r: &AuditReport) -> String {
    let mut out = format!(
        "{}\nTarget: CPython {} on {:?}; facts {}.\n",
        r.summary,
        r.target.python_version,
        r.target.platform,
        r.source.as_str()
    );
    if let Some(c) = &r.tree.conflict {
        out.push_str(&format!("\nNo solution for the target:\n{c}\n"));
    }
    if !r.vulnerable.is_empty() {
        out.push_str("\nVulnerable releases:\n");
    }
    for v in &r.vulnerable {
        let ids: Vec<String> = v
            .advisories
            .iter()
            .map(|a| match a.aliases.first() {
                Some(alias) => format!("{} ({alias}) [{}]", a.id, sources(&a.sources)),
                None => format!("{} [{}]", a.id, sources(&a.sources)),
            })
            .collect();
        out.push_str(&format!(
            "  {} {}{}: {}\n",
            v.package,
            v.version,
            if v.direct { " (direct)" } else { "" },
            ids.join(", ")
        ));
        for a in &v.advisories {
            if let Some(s) = &a.summary {
                out.push_str(&format!("      {}: {s}\n", a.id));
            }
        }
        out.push_str(&format!(
            "      fix: {}\n",
            v.fix
                .as_ref()
                .map(|f| f.note.clone())
                .unwrap_or_else(|| "no fixed release known".into())
        ));
        out.push_str(&format!("      via: {}\n", v.required_by.join(" -> ")));
    }
    if !r.pins.is_empty() {
        out.push_str("\nPins and requirements:\n");
    }
    for p in &r.pins {
        out.push_str(&format!(
            "  {} {} {}: {}{}\n",
            p.at,
            p.package,
            p.specifier,
            p.words,
            if p.fails {
                ""
            } else {
                " (reported, not failing)"
            }
        ));
    }
    if !r.packages.is_empty() {
        out.push_str("\nSupply-chain checks of direct dependencies:\n");
    }
    for p in &r.packages {
        out.push_str(&format!("  {}: {}\n", p.package, p.summary));
    }
    if let Some(c) = &r.confusion {
        out.push('\n');
        out.push_str(&confusion(c));
    }
    if !r.unchecked.is_empty() {
        out.push_str("\nNot checked:\n");
    }
    for f in r.unchecked.iter().take(30) {
        out.push_str(&format!("  {}: {} ({})\n", f.item, f.reason, f.suggestion));
    }
    if r.unchecked.len() > 30 {
        out.push_str(&format!("  ... and {} more\n", r.unchecked.len() - 30));
    }
    for p in r.problems.iter().take(20) {
        out.push_str(&format!("problem {}:{}: {}\n", p.file, p.line, p.reason));
    }
    for x in &r.references {
        out.push_str(&format!(
            "reference {}:{}: {} ({})\n",
            x.file, x.line, x.text, x.note
        ));
    }
    for n in r.notes.iter().chain(&r.tree.notes) {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}
