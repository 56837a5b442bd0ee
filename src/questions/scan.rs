//! `scan_dependencies` / `pypi-sentinel scan [PATH]` and `check_package` /
//! `pypi-sentinel check NAME`: a project's declared dependencies checked against
//! PyPI, and the supply-chain check of one package before `pip install` (their
//! arguments, texts and exits, for both front ends).
//!
//! The CLI reads files only under `scan.allowed_dirs`; when the configuration sets
//! none, the current directory is allowed (an MCP server allows none by default).
//! Exits: `Ok` answered, `BadInput` a path refused, `NotFound` (`check`) not on PyPI,
//! `Unavailable`, `Partial` answered in part (some packages or facts could not be had).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use sentinel_actors::views::check::{CheckVerdict, PackageCheck};
use sentinel_actors::views::scan::{DependencyVerdict, ScanReport};
use sentinel_actors::{EngineConfig, EngineHandle, InputError, QueryError, ScanInput, clip_echo};
use serde::Deserialize;

use super::show;
use super::{Ask, Run};
use crate::terminal::output::{source_cell, table};
use crate::terminal::{Exit, Failure};
use crate::text::thousands;

/// A project to read: a `path` on the server, or a file's `content` with its
/// `filename` (the arguments of `scan_dependencies`, and of `audit_project` beside its
/// target).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Project {
    /// A project file or directory on the server, read only under the directories the
    /// server's configuration allows (`scan.allowed_dirs`; none by default). Relative
    /// paths are resolved against the first allowed directory. Give either `path` or
    /// `content`.
    #[serde(default)]
    pub path: Option<String>,
    /// The text of one project file (always allowed). Give `filename` with it.
    #[serde(default)]
    pub content: Option<String>,
    /// The file name of `content`, which says its kind: pyproject.toml,
    /// requirements*.txt (or .in), setup.cfg, uv.lock, poetry.lock, pylock.toml.
    #[serde(default)]
    pub filename: Option<String>,
}

impl Project {
    /// The project at a path (the CLI's).
    pub(super) fn at(path: String) -> Self {
        Project {
            path: Some(path),
            ..Project::default()
        }
    }
}

/// Arguments of `scan_dependencies`: the project.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
// Other arguments are refused (`mcp::params`: serde's `deny_unknown_fields` does not
// work beside `flatten`).
#[schemars(extend("additionalProperties" = false))]
pub struct Scan {
    /// What to read.
    #[serde(flatten)]
    pub project: Project,
    /// The CLI's `--all`: its table lists the dependencies that are ok too.
    #[serde(skip)]
    pub all: bool,
}

impl Ask for Scan {
    const TOOL: &'static str = "scan_dependencies";
    const DESCRIPTION: &'static str = "The dependencies a Python project declares, from a file or directory `path` on the server (only under the directories its configuration allows) or from a file's `content` with its `filename`: pyproject.toml (PEP 621, PEP 735 groups, Poetry, whose ^/~ constraints are translated to PEP 440), requirements*.txt (markers, -r/-c includes, hashes; options lines reported, not followed), setup.cfg, uv.lock, poetry.lock, pylock.toml. Each dependency is checked against PyPI: exists, newest satisfying release, pin yanked or outdated. URLs and paths are reported, not fetched; unreadable lines are reported with file and line.";
    const DOING: &'static str = "scanning";
    type Answer = ScanReport;
    type Output<'a> = &'a ScanReport;

    async fn ask(&self, engine: &EngineHandle) -> Result<ScanReport, QueryError> {
        engine
            .scan_dependencies(project_input(&self.project)?)
            .await
    }

    fn output<'a>(&self, a: &'a ScanReport) -> &'a ScanReport {
        a
    }

    fn text(&self, r: &ScanReport) -> String {
        scan_text(r)
    }

    fn table(&self, r: &ScanReport) -> String {
        scan_table(r, self.all)
    }

    /// Partial when some packages could not be checked.
    fn exit(&self, r: &ScanReport) -> Result<(), Failure> {
        if r.failures.is_empty() {
            return Ok(());
        }
        Err(Failure::partial(format!(
            "{} of {} packages could not be checked",
            r.failures.len(),
            r.summary.packages_checked
        )))
    }
}

/// What the engine reads for `project`, its arguments checked.
pub(super) fn project_input(project: &Project) -> Result<ScanInput, InputError> {
    let refuse = |param: &'static str, value: &str, rule: &str| InputError {
        param,
        value: clip_echo(value),
        rule: rule.into(),
    };
    let Project {
        path,
        content,
        filename,
    } = project;
    match (path.as_deref(), content.as_deref()) {
        (Some(_), Some(_)) => Err(refuse(
            "path",
            "(with content)",
            "give either path or content, not both",
        )),
        (None, None) => Err(refuse(
            "path",
            "(missing)",
            "give a path, or content with its filename",
        )),
        (Some(path), None) => {
            if path.trim().is_empty() || path.contains('\0') {
                return Err(refuse(
                    "path",
                    path,
                    "must be a non-empty file or directory path",
                ));
            }
            Ok(ScanInput::Path(PathBuf::from(path)))
        }
        (None, Some(content)) => {
            let Some(filename) = filename.as_deref() else {
                return Err(refuse(
                    "filename",
                    "(missing)",
                    "is required with content: it says the file's kind (pyproject.toml, requirements.txt, setup.cfg, uv.lock, poetry.lock, pylock.toml)",
                ));
            };
            Ok(ScanInput::Content {
                filename: filename.to_string(),
                content: content.to_string(),
            })
        }
    }
}

/// The CLI's project path: with no `scan.allowed_dirs` configured, a person at the
/// CLI may read under the current directory. A relative path is relative to it.
pub(super) fn cli_project(cfg: &mut EngineConfig, path: &Path) -> Result<String, Failure> {
    crate::terminal::allow_current_dir(&mut cfg.scan.allowed_dirs)?;
    let path = std::path::absolute(path).unwrap_or(path.to_path_buf());
    path.to_str().map(str::to_string).ok_or_else(|| {
        Failure::new(
            Exit::BadInput,
            format!(
                "{}: the path is not UTF-8; give it another way (a link, or the file's directory)",
                path.display()
            ),
        )
    })
}

fn scan_text(r: &ScanReport) -> String {
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
        out.push_str(confusion(c).trim_end());
    }
    for f in &r.failures {
        out.push_str(&format!("\n{}: {} ({})", f.item, f.reason, f.suggestion));
    }
    out
}

fn scan_table(r: &ScanReport, all: bool) -> String {
    let mut out = String::new();
    let files: Vec<&str> = r.files.iter().map(|f| f.file.as_str()).collect();
    ln!(out, "files: {}", files.join(", "));
    let mut rows = vec![vec![
        "where".into(),
        "package".into(),
        "requirement".into(),
        "group".into(),
        "verdict".into(),
        "source".into(),
    ]];
    for d in &r.dependencies {
        if !all && d.check.verdict == DependencyVerdict::Ok {
            continue;
        }
        let verdict = serde_json::to_value(d.check.verdict)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let source = match (&d.check.provenance, d.check.upstream) {
            (Some(p), Some(up)) => source_cell(&sentinel_actors::Datum::new(
                (),
                p.clone(),
                up,
                std::time::Duration::from_secs(d.check.age_secs.unwrap_or(0)),
            )),
            _ => "-".into(),
        };
        rows.push(vec![
            format!("{}:{}", d.declared.file, d.declared.line),
            d.declared.name.clone(),
            if d.declared.specifier.is_empty() {
                "*".into()
            } else {
                d.declared.specifier.clone()
            },
            d.declared.group.clone(),
            format!("{verdict}: {}", d.check.words),
            source,
        ]);
    }
    if rows.len() > 1 {
        out.push_str(&table(&rows));
    }
    let s = &r.summary;
    ln!(
        out,
        "{} dependencies, {} packages checked ({}): {}{}",
        s.dependencies,
        s.packages_checked,
        r.source,
        s.verdict_words(),
        if all || s.ok == 0 {
            ""
        } else {
            " (--all lists the ok ones too)"
        }
    );
    for x in &r.references {
        ln!(
            out,
            "  reference {}:{}: {} ({})",
            x.file,
            x.line,
            x.text,
            x.note
        );
    }
    for o in &r.options {
        ln!(
            out,
            "  option {}:{}: {}{} ({})",
            o.file,
            o.line,
            o.option,
            o.value
                .as_deref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default(),
            o.note
        );
    }
    for p in &r.problems {
        ln!(
            out,
            "  problem {}:{}: {}{}",
            p.file,
            p.line,
            p.reason,
            if p.text.is_empty() {
                String::new()
            } else {
                format!(" [{}]", p.text)
            }
        );
    }
    for n in &r.notes {
        ln!(out, "  note: {n}");
    }
    if let Some(c) = &r.confusion {
        out.push_str(&confusion(c));
    }
    for f in &r.failures {
        ln!(out, "  failed {}: {} ({})", f.item, f.reason, f.suggestion);
    }
    out
}

/// The dependencies a project declares (a file or directory), checked against PyPI.
#[derive(clap::Args, Debug)]
pub(crate) struct ScanFlags {
    /// A project file (pyproject.toml, requirements*.txt, setup.cfg, uv.lock,
    /// poetry.lock, pylock.toml) or a directory holding them. Default: the current
    /// directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// List every dependency, not only the ones that need attention.
    #[arg(long)]
    all: bool,
    /// The path as the engine reads it, set by `configure`.
    #[arg(skip)]
    project: String,
}

impl Run for ScanFlags {
    fn configure(&mut self, cfg: &mut EngineConfig) -> Result<(), Failure> {
        self.project = cli_project(cfg, &self.path)?;
        Ok(())
    }

    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        let q = Scan {
            project: Project::at(self.project),
            all: self.all,
        };
        show(engine, q, json).await
    }
}

/// The dependency-confusion lines of a scan or an audit (CLI and MCP text alike): the
/// summary, each name on both indexes with what pip would install, what was not
/// checked.
pub(super) fn confusion(c: &sentinel_actors::views::confusion::ConfusionReport) -> String {
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

/// A package to check before `pip install`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The package name to check before suggesting `pip install`, e.g. `requests`.
    pub package: String,
}

impl Ask for Check {
    const TOOL: &'static str = "check_package";
    const DESCRIPTION: &'static str = "Before suggesting `pip install X`: does X exist on PyPI, when was its first release and how many releases does it have, how many downloads (compared with the popular package it most resembles), is its name within a small edit distance of a popular package (Damerau-Levenshtein on PEP 503 names: at most 1 for names up to 5 characters, else 2, against the top-packages dataset), are releases yanked, and does its latest release have known vulnerabilities. With an extra (private) index configured beside PyPI, `confusion` says whether the name is on both (dependency confusion: the versions each has, when PyPI's first appeared, which release pip would install, the highest across both) or could not be checked. The verdict (not_found, suspicious, caution, ok, unknown) comes with its evidence in words; every fact keeps its provenance.";
    const DOING: &'static str = "checking";
    type Answer = PackageCheck;
    type Output<'a> = &'a PackageCheck;

    async fn ask(&self, engine: &EngineHandle) -> Result<PackageCheck, QueryError> {
        engine.check_package(&self.package).await
    }

    fn output<'a>(&self, a: &'a PackageCheck) -> &'a PackageCheck {
        a
    }

    fn text(&self, c: &PackageCheck) -> String {
        check_text(c)
    }

    fn table(&self, c: &PackageCheck) -> String {
        check_table(c)
    }

    /// Not found when PyPI has no such package; partial when some fact could not be had.
    fn exit(&self, c: &PackageCheck) -> Result<(), Failure> {
        if c.verdict == CheckVerdict::NotFound {
            return Err(Failure::after_answer(
                Exit::NotFound,
                format!("{} is not on PyPI", c.package),
            ));
        }
        if !c.failures.is_empty() {
            return Err(Failure::partial(format!(
                "{} fact(s) could not be had",
                c.failures.len()
            )));
        }
        Ok(())
    }
}

/// The short text of a package check: the verdict with its evidence, then what is
/// missing.
fn check_text(c: &PackageCheck) -> String {
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

fn check_table(c: &PackageCheck) -> String {
    let mut out = String::new();
    let verdict = serde_json::to_value(c.verdict)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    ln!(out, "{}: {verdict}", c.package);
    ln!(out, "  {}", c.summary);
    let mut rows = vec![vec!["fact".into(), "value".into(), "source".into()]];
    if let Some(r) = &c.releases {
        rows.push(vec![
            "releases".into(),
            r.value.releases.to_string(),
            source_cell(r),
        ]);
        rows.push(vec![
            "first release".into(),
            r.value.first_release.clone().unwrap_or_else(|| "-".into()),
            source_cell(r),
        ]);
        if !r.value.yanked.is_empty() {
            rows.push(vec![
                "yanked".into(),
                r.value.yanked.join(", "),
                source_cell(r),
            ]);
        }
    }
    if let Some(d) = &c.downloads_30d {
        rows.push(vec![
            "downloads (30 days)".into(),
            d.value.map(thousands).unwrap_or_else(|| "-".into()),
            source_cell(d),
        ]);
    }
    if let Some(p) = &c.popularity {
        if let Some(rank) = p.value.rank {
            rows.push(vec!["rank".into(), rank.to_string(), source_cell(p)]);
        }
        if let Some(r) = &p.value.resembles {
            rows.push(vec![
                "resembles".into(),
                format!(
                    "{} (distance {}, rank {}, {} downloads in 30 days)",
                    r.name,
                    r.distance,
                    r.rank,
                    thousands(r.downloads_30d)
                ),
                source_cell(p),
            ]);
        }
    }
    if rows.len() > 1 {
        out.push_str(&table(&rows));
    }
    if let Some(p) = &c.popularity {
        ln!(out, "  rule: {}", p.value.rule);
    }
    ln!(out, "  vulnerabilities: {}", c.vulnerabilities);
    if let Some(n) = &c.confusion {
        ln!(
            out,
            "  dependency confusion: {}",
            crate::describe::confusion_status(n)
        );
    }
    for f in &c.failures {
        ln!(out, "  failed {}: {} ({})", f.item, f.reason, f.suggestion);
    }
    out
}

/// The supply-chain check before `pip install NAME`: exists, age, downloads, typo of a popular name.
#[derive(clap::Args, Debug)]
pub(crate) struct CheckFlags {
    /// The package to check before `pip install`.
    name: String,
}

impl Run for CheckFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        show(engine, Check { package: self.name }, json).await
    }
}
