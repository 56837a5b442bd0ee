//! `scan`, `check` and `audit`: a project's declared dependencies checked against
//! PyPI, the supply-chain check of one package, and a project's audit.
//!
//! `scan` reads files only under `scan.allowed_dirs`; when the configuration sets
//! none, the current directory is allowed (an MCP server allows none by default).
//! `audit` scans, resolves the tree for a target (or takes a lockfile's pins) and
//! reports vulnerable releases, bad pins and suspicious direct dependencies.
//!
//! Exits ([`Exit`]): `Ok` answered (`audit`: clean), `BadInput` a path refused,
//! `NotFound` (`check`) not on PyPI, `Unavailable`, `Partial` answered in part (some
//! packages could not be checked; `audit`: nothing found but not everything checked),
//! `AuditFindings` (`audit`) findings.

use std::path::PathBuf;

use clap::Args;
use sentinel_actors::views::audit::AuditVerdict;
use sentinel_actors::views::check::CheckVerdict;
use sentinel_actors::views::check::PackageCheck;
use sentinel_actors::views::scan::{DependencyVerdict, ScanReport};
use sentinel_actors::{Engine, EngineConfig, ScanInput};

use super::output::{self, source_cell, table};
use super::{Exit, Failure};
use crate::text::thousands;

/// Arguments of `scan`.
#[derive(Args, Debug)]
pub(super) struct ScanArgs {
    /// A project file (pyproject.toml, requirements*.txt, setup.cfg, uv.lock,
    /// poetry.lock, pylock.toml) or a directory holding them. Default: the current
    /// directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// List every dependency, not only the ones that need attention.
    #[arg(long)]
    all: bool,
}

/// Arguments of `audit`.
#[derive(Args, Debug)]
#[command(mut_args(|a| super::target::only(a, sentinel_actors::RESOLVE_TARGET)))]
pub(super) struct AuditArgs {
    /// A project file (pyproject.toml, requirements*.txt, setup.cfg, uv.lock,
    /// poetry.lock, pylock.toml) or a directory holding them. Default: the current
    /// directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    #[command(flatten)]
    target: super::target::TargetArgs,
}

/// Arguments of `check`.
#[derive(Args, Debug)]
pub(super) struct CheckArgs {
    /// The package to check before `pip install`.
    name: String,
}

macro_rules! outln {
    ($($t:tt)*) => { output::emit(&(output::clean(&format!($($t)*), true) + "\n")) };
}

fn print_json<T: serde::Serialize>(v: &T) {
    outln!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    );
}

/// The project at `path` to read: with no `scan.allowed_dirs` configured, a person at
/// the CLI may read under the current directory. A relative path is relative to it.
fn project_input(cfg: &mut EngineConfig, path: &std::path::Path) -> Result<ScanInput, Failure> {
    if cfg.scan.allowed_dirs.is_empty() {
        let cwd = std::env::current_dir().map_err(|e| {
            Failure::new(
                Exit::Config,
                format!("cannot read the current directory: {e}"),
            )
        })?;
        cfg.scan.allowed_dirs = vec![cwd];
    }
    Ok(ScanInput::Path(
        std::path::absolute(path).unwrap_or(path.to_path_buf()),
    ))
}

pub(super) async fn scan(mut cfg: EngineConfig, args: ScanArgs, json: bool) -> Result<(), Failure> {
    let input = project_input(&mut cfg, &args.path)?;
    let engine = Engine::start(cfg)
        .await
        .map_err(|e| Failure::new(Exit::Config, e.to_string()))?;
    let r =
        super::progress::while_waiting(&engine, "scanning", json, engine.scan_dependencies(input))
            .await;
    engine.shutdown().await;
    let r = r?;
    let partial = (!r.failures.is_empty()).then(|| {
        Failure::partial(format!(
            "{} of {} packages could not be checked",
            r.failures.len(),
            r.summary.packages_checked
        ))
    });
    if json {
        print_json(&r);
    } else {
        print_scan(&r, args.all);
    }
    partial.map_or(Ok(()), Err)
}

/// `pypi-sentinel audit`: exits `Ok` when clean, `AuditFindings` with findings,
/// `Partial` when nothing was found but some of it could not be checked.
pub(super) async fn audit(
    mut cfg: EngineConfig,
    args: AuditArgs,
    json: bool,
) -> Result<(), Failure> {
    let target = args.target.target()?;
    let input = project_input(&mut cfg, &args.path)?;
    let engine = Engine::start(cfg)
        .await
        .map_err(|e| Failure::new(Exit::Config, e.to_string()))?;
    let r = super::progress::while_waiting(
        &engine,
        "auditing",
        json,
        engine.audit_project(input, &target),
    )
    .await;
    engine.shutdown().await;
    let r = r?;
    if json {
        print_json(&r);
    } else {
        output::emit(&output::clean(&crate::resolve_text::audit(&r), true));
    }
    match r.verdict {
        AuditVerdict::Clean => Ok(()),
        AuditVerdict::Findings => Err(Failure {
            reported: true,
            ..Failure::new(Exit::AuditFindings, "the audit found problems")
        }),
        AuditVerdict::Incomplete => Err(Failure::partial(format!(
            "nothing found, but {} item(s) could not be checked",
            r.unchecked.len()
        ))),
    }
}

fn print_scan(r: &ScanReport, all: bool) {
    let files: Vec<&str> = r.files.iter().map(|f| f.file.as_str()).collect();
    outln!("files: {}", files.join(", "));
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
        output::emit(&table(&rows));
    }
    let s = &r.summary;
    outln!(
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
        outln!("  reference {}:{}: {} ({})", x.file, x.line, x.text, x.note);
    }
    for o in &r.options {
        outln!(
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
        outln!(
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
        outln!("  note: {n}");
    }
    if let Some(c) = &r.confusion {
        output::emit(&crate::resolve_text::confusion(c));
    }
    for f in &r.failures {
        outln!("  failed {}: {} ({})", f.item, f.reason, f.suggestion);
    }
}

pub(super) async fn check(cfg: EngineConfig, args: CheckArgs, json: bool) -> Result<(), Failure> {
    let engine = Engine::start(cfg)
        .await
        .map_err(|e| Failure::new(Exit::Config, e.to_string()))?;
    let r =
        super::progress::while_waiting(&engine, "checking", json, engine.check_package(&args.name))
            .await;
    engine.shutdown().await;
    let c = r?;
    if json {
        print_json(&c);
    } else {
        print_check(&c);
    }
    if c.verdict == CheckVerdict::NotFound {
        // Printed already: only the exit code remains.
        return Err(Failure {
            code: Exit::NotFound,
            message: format!("{} is not on PyPI", c.package),
            reported: true,
        });
    }
    if !c.failures.is_empty() {
        return Err(Failure::partial(format!(
            "{} fact(s) could not be had",
            c.failures.len()
        )));
    }
    Ok(())
}

fn print_check(c: &PackageCheck) {
    let verdict = serde_json::to_value(c.verdict)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    outln!("{}: {verdict}", c.package);
    outln!("  {}", c.summary);
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
        output::emit(&table(&rows));
    }
    if let Some(p) = &c.popularity {
        outln!("  rule: {}", p.value.rule);
    }
    outln!("  vulnerabilities: {}", c.vulnerabilities);
    if let Some(n) = &c.confusion {
        outln!(
            "  dependency confusion: {}",
            crate::describe::confusion_status(n)
        );
    }
    for f in &c.failures {
        outln!("  failed {}: {} ({})", f.item, f.reason, f.suggestion);
    }
}
