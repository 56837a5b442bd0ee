//! Text of resolutions and vulnerability reports, shared by the CLI and the MCP tools
//! (`resolve`, `vulns`; `resolve_dependencies`, `get_package_vulnerabilities`).

use sentinel_actors::Datum;
use sentinel_actors::views::resolve::{Resolution, ResolutionStatus};
use sentinel_actors::views::vulns::PackageVulnerabilities;

/// A resolution in words: one line per package (version, extras, who pulls it in,
/// markers, vulnerabilities), then what is missing, the conflict, and the notes.
pub fn resolution(r: &Resolution) -> String {
    let target = format!(
        "CPython {} on {:?}{}",
        r.target.python_version,
        r.target.platform,
        if r.prereleases {
            ", pre-releases allowed"
        } else {
            ""
        }
    );
    let mut out = match r.status {
        ResolutionStatus::Resolved => format!(
            "Resolved {} packages for {target} (metadata {}).\n",
            r.packages.len(),
            r.source.as_str()
        ),
        ResolutionStatus::Partial => format!(
            "PARTIAL: resolved {} packages for {target}; {} node(s) could not be fetched (metadata {}).\n",
            r.packages.len(),
            r.missing.len(),
            r.source.as_str()
        ),
        ResolutionStatus::NoSolution => {
            format!("No solution for {target}: the requirements conflict.\n")
        }
        ResolutionStatus::Incomplete => {
            format!("Incomplete: the resolution for {target} stopped at a bound.\n")
        }
    };
    for p in &r.packages {
        let extras = if p.extras.is_empty() {
            String::new()
        } else {
            format!("[{}]", p.extras.join(","))
        };
        let why = match p.required_by.as_slice() {
            [] => String::new(),
            [only] => format!(" <- {only}"),
            chain => format!(" <- {}", chain[chain.len() - 1]),
        };
        let markers = if p.markers.is_empty() {
            String::new()
        } else {
            format!(" (when {})", p.markers.join(" or "))
        };
        let flags = match (&p.vulnerabilities, p.yanked) {
            (Some(v), _) if v.active > 0 => format!(
                " VULNERABLE: {}{}",
                v.vulnerabilities
                    .iter()
                    .filter(|a| a.withdrawn.is_none())
                    .map(|a| a.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                v.fix
                    .as_ref()
                    .map(|f| format!(" ({})", f.note))
                    .unwrap_or_default()
            ),
            (_, true) => " (yanked)".into(),
            _ => String::new(),
        };
        out.push_str(&format!(
            "  {}{extras} {}{why}{markers}{flags}\n",
            p.name, p.version
        ));
    }
    for m in &r.missing {
        out.push_str(&format!(
            "  MISSING {}{}: {} (needed by {})\n",
            m.package,
            m.version
                .as_ref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default(),
            m.reason,
            m.required_by.join("; ")
        ));
    }
    if let Some(c) = &r.conflict {
        out.push_str(c.trim_end());
        out.push('\n');
    }
    for s in &r.skipped {
        out.push_str(&format!("  skipped: {s}\n"));
    }
    for n in &r.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    out
}

/// A release's vulnerabilities in words.
pub fn vulnerabilities(d: &Datum<PackageVulnerabilities>) -> String {
    let v = &d.value;
    let mut out = if v.active == 0 {
        format!(
            "{} {}: no known vulnerabilities in force ({}).\n",
            v.package,
            v.version,
            d.provenance.word()
        )
    } else {
        format!(
            "{} {}: {} known vulnerabilit{} ({}).\n",
            v.package,
            v.version,
            v.active,
            if v.active == 1 { "y" } else { "ies" },
            d.provenance.word()
        )
    };
    for a in &v.vulnerabilities {
        out.push_str(&format!(
            "  {}{}{}: {}{}\n",
            a.id,
            if a.aliases.is_empty() {
                String::new()
            } else {
                format!(" ({})", a.aliases.join(", "))
            },
            if a.withdrawn.is_some() {
                " [withdrawn]"
            } else {
                ""
            },
            a.summary.as_deref().unwrap_or("(no summary)"),
            if a.fixed_in.is_empty() {
                String::new()
            } else {
                format!("; fixed in {}", a.fixed_in.join(", "))
            }
        ));
    }
    if let Some(f) = &v.fix {
        out.push_str(&format!("  fix: {}\n", f.note));
    }
    out
}
