//! The project tools: `scan_dependencies` (a project's declared dependencies checked
//! against PyPI) and `check_package` (the supply-chain check before `pip install X`).
//! A second `#[tool_router]` block on [`SentinelMcp`], combined with the main one where
//! the router is built.

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::model::{CallToolResult, JsonObject};
use rmcp::{ErrorData as McpError, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{SentinelMcp, answer, invalid};
use crate::engine::views::audit::AuditReport;
use crate::engine::views::check::PackageCheck;
use crate::engine::views::scan::{DependencyVerdict, ScanReport};
use crate::engine::{RESOLVE_TARGET, ScanInput, Target, TargetOnly};
use crate::mcp::output::{schema, to_value};
use crate::mcp::params::Parameters;

/// Arguments of `scan_dependencies`: a `path`, or a file's `content` with its `filename`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScanParams {
    /// A project file or directory on the server, read only under the directories the
    /// server's configuration allows (`scan.allowed_dirs`; none by default). Relative
    /// paths are resolved against the first allowed directory. Give either `path` or
    /// `content`.
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// The text of one project file (always allowed). Give `filename` with it.
    #[serde(default)]
    pub(crate) content: Option<String>,
    /// The file name of `content`, which says its kind: pyproject.toml,
    /// requirements*.txt (or .in), setup.cfg, uv.lock, poetry.lock, pylock.toml.
    #[serde(default)]
    pub(crate) filename: Option<String>,
}

/// Arguments of `audit_project`: the project as for `scan_dependencies`, and the target.
#[derive(Debug, Deserialize, JsonSchema)]
// Other arguments are refused (`mcp::params`: serde's `deny_unknown_fields` does not
// work beside `flatten`).
#[schemars(transform = TargetOnly(RESOLVE_TARGET), extend("additionalProperties" = false))]
pub(crate) struct AuditParams {
    /// A project file or directory on the server, read only under the directories the
    /// server's configuration allows (`scan.allowed_dirs`; none by default). Give
    /// either `path` or `content`.
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// The text of one project file (always allowed). Give `filename` with it.
    #[serde(default)]
    pub(crate) content: Option<String>,
    /// The file name of `content`, which says its kind: pyproject.toml,
    /// requirements*.txt (or .in), setup.cfg, uv.lock, poetry.lock, pylock.toml.
    #[serde(default)]
    pub(crate) filename: Option<String>,
    /// Where the project would be installed: python_version, platform, markers,
    /// prereleases.
    #[serde(flatten)]
    pub(crate) target: Target,
}

/// Arguments of `check_package`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckParams {
    /// The package name to check before suggesting `pip install`, e.g. `requests`.
    pub(crate) package: String,
}

/// The project to read: a `path`, or a file's `content` with its `filename`.
fn scan_input(p: ScanParams) -> Result<ScanInput, McpError> {
    Ok(match (p.path, p.content) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "path",
                "(with content)",
                "give either path or content, not both",
            ));
        }
        (None, None) => {
            return Err(invalid(
                "path",
                "(missing)",
                "give a path, or content with its filename",
            ));
        }
        (Some(path), None) => {
            if path.trim().is_empty() || path.contains('\0') {
                return Err(invalid(
                    "path",
                    &path,
                    "must be a non-empty file or directory path",
                ));
            }
            ScanInput::Path(PathBuf::from(path))
        }
        (None, Some(content)) => {
            let Some(filename) = p.filename else {
                return Err(invalid(
                    "filename",
                    "(missing)",
                    "is required with content: it says the file's kind (pyproject.toml, requirements.txt, setup.cfg, uv.lock, poetry.lock, pylock.toml)",
                ));
            };
            ScanInput::Content { filename, content }
        }
    })
}

fn audit_schema() -> Arc<JsonObject> {
    schema::<AuditReport>()
}

fn scan_schema() -> Arc<JsonObject> {
    schema::<ScanReport>()
}

fn check_schema() -> Arc<JsonObject> {
    schema::<PackageCheck>()
}

/// The short text of a scan: counts, then the dependencies that need attention, then
/// the problems.
pub(crate) fn scan_text(r: &ScanReport) -> String {
    let s = &r.summary;
    let mut out = format!(
        "{} file(s), {} dependencies ({} packages checked, source {}): {}; {} problem line(s).",
        r.files.len(),
        s.dependencies,
        s.packages_checked,
        r.source.as_str(),
        s.verdict_words(),
        s.problems
    );
    let mut shown = 0;
    for d in &r.dependencies {
        if matches!(d.check.verdict, DependencyVerdict::Ok) {
            continue;
        }
        if shown == 40 {
            out.push_str("\n...");
            break;
        }
        shown += 1;
        out.push_str(&format!(
            "\n{}:{} {} {}: {}",
            d.declared.file, d.declared.line, d.declared.name, d.declared.specifier, d.check.words
        ));
    }
    for p in r.problems.iter().take(20) {
        out.push_str(&format!("\n{}:{}: {}", p.file, p.line, p.reason));
    }
    for o in r.options.iter().take(10) {
        out.push_str(&format!("\n{}:{}: {} {}", o.file, o.line, o.option, o.note));
    }
    for n in &r.notes {
        out.push_str(&format!("\nnote: {n}"));
    }
    if let Some(c) = &r.confusion {
        out.push('\n');
        out.push_str(crate::resolve_text::confusion(c).trim_end());
    }
    for f in &r.failures {
        out.push_str(&format!("\n{}: {} ({})", f.item, f.reason, f.suggestion));
    }
    out
}

/// The short text of a package check: the verdict with its evidence, then what is
/// missing.
pub(crate) fn check_text(c: &PackageCheck) -> String {
    let mut out = format!(
        "{}: {} (source {})",
        c.package,
        c.summary,
        c.source.as_str()
    );
    out.push_str(&format!("\nvulnerabilities: {}", c.vulnerabilities));
    if let Some(n) = &c.confusion {
        out.push_str(&format!(
            "\ndependency confusion: {}",
            crate::describe::confusion_status(n)
        ));
    }
    for f in &c.failures {
        out.push_str(&format!("\n{}: {} ({})", f.item, f.reason, f.suggestion));
    }
    out
}

#[tool_router(router = scan_router, vis = "pub(crate)")]
impl SentinelMcp {
    /// Scan a project's dependencies.
    #[tool(
        description = "The dependencies a Python project declares, from a file or directory `path` on the server (only under the directories its configuration allows) or from a file's `content` with its `filename`: pyproject.toml (PEP 621, PEP 735 groups, Poetry, whose ^/~ constraints are translated to PEP 440), requirements*.txt (markers, -r/-c includes, hashes; options lines reported, not followed), setup.cfg, uv.lock, poetry.lock, pylock.toml. Each dependency is checked against PyPI: exists, newest satisfying release, pin yanked or outdated. URLs and paths are reported, not fetched; unreadable lines are reported with file and line.",
        output_schema = scan_schema(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn scan_dependencies(
        &self,
        Parameters(p): Parameters<ScanParams>,
    ) -> Result<CallToolResult, McpError> {
        let input = scan_input(p)?;
        let r = self.engine.scan_dependencies(input).await;
        answer(r, |rep| (to_value(rep), scan_text(rep)))
    }

    /// Audit a project.
    #[tool(
        description = "Audit a Python project for a target (Python version, platform): reads its files as scan_dependencies does (a `path` under the server's allowed directories, or a file's `content` with its `filename`), resolves the declared requirements for the target (or, with a lockfile, takes its pins as the tree), and reports every release in the tree with known vulnerabilities in force (OSV ids and aliases, which source listed each: `pypi` or `osv`, the requirement chain that brings it in, the smallest fix), yanked / missing / unsatisfiable / outdated pins, conflicting requirements, and direct dependencies whose supply-chain check (check_package) is suspicious or needs caution; with an extra index configured, `confusion` lists the names on both indexes (one where pip would install PyPI's release fails the audit). `verdict`: `clean`, `findings` (vulnerable, yanked, missing, unsatisfiable, conflicting or suspicious; outdated pins are reported and do not fail) or `incomplete` (nothing found but some of it could not be checked, listed in `unchecked`).",
        output_schema = audit_schema(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn audit_project(
        &self,
        Parameters(p): Parameters<AuditParams>,
    ) -> Result<CallToolResult, McpError> {
        let target = p.target;
        let input = scan_input(ScanParams {
            path: p.path,
            content: p.content,
            filename: p.filename,
        })?;
        let r = self.engine.audit_project(input, &target).await;
        answer(r, |rep| (to_value(rep), crate::resolve_text::audit(rep)))
    }

    /// Supply-chain check of one package.
    #[tool(
        description = "Before suggesting `pip install X`: does X exist on PyPI, when was its first release and how many releases does it have, how many downloads (compared with the popular package it most resembles), is its name within a small edit distance of a popular package (Damerau-Levenshtein on PEP 503 names: at most 1 for names up to 5 characters, else 2, against the top-packages dataset), are releases yanked, and does its latest release have known vulnerabilities. With an extra (private) index configured beside PyPI, `confusion` says whether the name is on both (dependency confusion: the versions each has, when PyPI's first appeared, which release pip would install, the highest across both) or could not be checked. The verdict (not_found, suspicious, caution, ok, unknown) comes with its evidence in words; every fact keeps its provenance.",
        output_schema = check_schema(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn check_package(
        &self,
        Parameters(p): Parameters<CheckParams>,
    ) -> Result<CallToolResult, McpError> {
        let r = self.engine.check_package(&p.package).await;
        answer(r, |c| (to_value(c), check_text(c)))
    }
}
