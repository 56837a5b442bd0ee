//! `audit_project` / `pypi-sentinel audit [PATH]`: a project's audit for a target
//! (its scan, its tree's vulnerabilities with the chain and the smallest fix, bad
//! pins, suspicious direct dependencies, dependency confusion).
//!
//! Exits: `Ok` clean, `AuditFindings` findings, `Partial` nothing found but not
//! everything checked, and the common ones.

use std::path::PathBuf;

use schemars::JsonSchema;
use sentinel_actors::audit::{AuditReport, AuditVerdict};
use sentinel_actors::{EngineConfig, EngineHandle, QueryError, RESOLVE_TARGET, Target, TargetOnly};
use serde::Deserialize;

use super::scan::{cli_project, project_input};
use super::show;
use super::{Ask, Run};
use crate::terminal::target::{self, TargetArgs};
use crate::terminal::{Exit, Failure};

/// Arguments of `audit_project`: the project as for `scan_dependencies`, and the target.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
// Other arguments are refused (`mcp::params`: serde's `deny_unknown_fields` does not
// work beside `flatten`).
#[schemars(transform = TargetOnly(RESOLVE_TARGET), extend("additionalProperties" = false))]
pub struct Audit {
    /// A project file or directory on the server, read only under the directories the
    /// server's configuration allows (`scan.allowed_dirs`; none by default). Give
    /// either `path` or `content`.
    #[serde(default)]
    pub path: Option<String>,
    /// The text of one project file (always allowed). Give `filename` with it.
    #[serde(default)]
    pub content: Option<String>,
    /// The file name of `content`, which says its kind: pyproject.toml,
    /// requirements*.txt (or .in), setup.cfg, uv.lock, poetry.lock, pylock.toml.
    #[serde(default)]
    pub filename: Option<String>,
    /// Where the project would be installed: python_version, platform, markers,
    /// prereleases.
    #[serde(flatten)]
    pub target: Target,
}

impl Ask for Audit {
    const TOOL: &'static str = "audit_project";
    const DESCRIPTION: &'static str = "Audit a Python project for a target (Python version, platform): reads its files as scan_dependencies does (a `path` under the server's allowed directories, or a file's `content` with its `filename`), resolves the declared requirements for the target (or, with a lockfile, takes its pins as the tree), and reports every release in the tree with known vulnerabilities in force (OSV ids and aliases, which source listed each: `pypi` or `osv`, the requirement chain that brings it in, the smallest fix), yanked / missing / unsatisfiable / outdated pins, conflicting requirements, and direct dependencies whose supply-chain check (check_package) is suspicious or needs caution; with an extra index configured, `confusion` lists the names on both indexes (one where pip would install PyPI's release fails the audit). `verdict`: `clean`, `findings` (vulnerable, yanked, missing, unsatisfiable, conflicting or suspicious; outdated pins are reported and do not fail) or `incomplete` (nothing found but some of it could not be checked, listed in `unchecked`).";
    const DOING: &'static str = "auditing";
    type Answer = AuditReport;
    type Output<'a> = &'a AuditReport;

    async fn ask(&self, engine: &EngineHandle) -> Result<AuditReport, QueryError> {
        let input = project_input(
            self.path.as_deref(),
            self.content.as_deref(),
            self.filename.as_deref(),
        )?;
        engine.audit_project(input, &self.target).await
    }

    fn output<'a>(&self, a: &'a AuditReport) -> &'a AuditReport {
        a
    }

    fn text(&self, r: &AuditReport) -> String {
        audit_text(r)
    }

    fn exit(&self, r: &AuditReport) -> Result<(), Failure> {
        match r.verdict {
            AuditVerdict::Clean => Ok(()),
            AuditVerdict::Findings => Err(Failure::after_answer(
                Exit::AuditFindings,
                "the audit found problems",
            )),
            AuditVerdict::Incomplete => Err(Failure::partial(format!(
                "nothing found, but {} item(s) could not be checked",
                r.unchecked.len()
            ))),
        }
    }
}

/// An audit in words: the verdict with its counts, then each vulnerable release (its
/// advisories, fix and the chain that brings it in), the pins and packages that need
/// attention, what could not be checked, and the notes.
pub(crate) fn audit_text(r: &AuditReport) -> String {
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
                Some(alias) => format!(
                    "{} ({alias}) [{}]",
                    a.id,
                    super::resolve::sources(&a.sources)
                ),
                None => format!("{} [{}]", a.id, super::resolve::sources(&a.sources)),
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
        out.push_str(&super::scan::confusion(c));
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

/// Audit a project for a target: vulnerable releases in its tree (with the chain and
/// the smallest fix), bad pins, suspicious dependencies. Exit 0 clean, 8 findings.
#[derive(clap::Args, Debug)]
#[command(mut_args(|a| target::only(a, RESOLVE_TARGET)))]
pub(crate) struct AuditFlags {
    /// A project file (pyproject.toml, requirements*.txt, setup.cfg, uv.lock,
    /// poetry.lock, pylock.toml) or a directory holding them. Default: the current
    /// directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    #[command(flatten)]
    target: TargetArgs,
    /// The path as the engine reads it, set by `configure`.
    #[arg(skip)]
    project: String,
}

impl Run for AuditFlags {
    fn configure(&mut self, cfg: &mut EngineConfig) -> Result<(), Failure> {
        self.project = cli_project(cfg, &self.path)?;
        Ok(())
    }

    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        let q = Audit {
            path: Some(self.project),
            content: None,
            filename: None,
            target: self.target.target()?,
        };
        show(engine, q, json).await
    }
}
