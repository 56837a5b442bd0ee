//! `resolve`, `why` and `vulns`: dependency resolution for a target, why a package is
//! in its tree, and the known vulnerabilities of a release.
//!
//! Exits ([`Exit`]) beyond the common ones: `resolve` and `why` exit `Partial` when some
//! node could not be fetched, `NoSolution` when no solution exists, `Unavailable` when
//! it stopped at a bound (`why` exits `Ok` whether or not the package is in the tree:
//! the answer says which); `vulns` exits `Ok` whatever it finds (it reports; `audit`
//! gates).

use clap::Args;
use sentinel_actors::views::resolve::{MissingNode, ResolutionStatus, ResolveRequest};
use sentinel_actors::{Engine, EngineConfig, RESOLVE_TARGET};

use super::output;
use super::target::{self, TargetArgs};
use super::{Exit, Failure};
use crate::questions::Why;

/// Arguments of `resolve`.
#[derive(Args, Debug, Clone)]
#[command(mut_args(|a| target::only(a, RESOLVE_TARGET)))]
pub(crate) struct ResolveArgs {
    /// PEP 508 requirements, e.g. `"black[d]>=24"` (1 to 50).
    #[arg(required = true, value_name = "REQUIREMENT")]
    requirements: Vec<String>,
    #[command(flatten)]
    target: TargetArgs,
    /// Bound on the packages of the resolution (1-1000).
    #[arg(long, value_name = "N")]
    max_packages: Option<usize>,
    /// Do not fetch the vulnerabilities of the resolved releases.
    #[arg(long)]
    no_vulns: bool,
}

/// Arguments of `why`.
#[derive(Args, Debug, Clone)]
#[command(mut_args(|a| target::only(a, RESOLVE_TARGET)))]
pub(crate) struct WhyArgs {
    /// The package to explain, e.g. `idna`.
    package: String,
    /// PEP 508 requirements whose tree to look in, e.g. `"requests<3"` (1 to 50).
    #[arg(required = true, value_name = "REQUIREMENT")]
    requirements: Vec<String>,
    #[command(flatten)]
    target: TargetArgs,
    /// Bound on the packages of the resolution (1-1000).
    #[arg(long, value_name = "N")]
    max_packages: Option<usize>,
}

/// Arguments of `vulns`.
#[derive(Args, Debug, Clone)]
pub(crate) struct VulnsArgs {
    /// Package, optionally `==VERSION` (default: the latest release).
    pub(super) spec: String,
}

fn print(text: &str) {
    output::emit(&output::clean(text, true));
}

fn print_json<T: serde::Serialize>(v: &T) {
    let s = serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    print(&(s + "\n"));
}

/// `pypi-sentinel resolve`.
pub(super) async fn resolve(cfg: EngineConfig, a: ResolveArgs, json: bool) -> Result<(), Failure> {
    let request = ResolveRequest {
        requirements: a.requirements,
        target: a.target.target()?,
        max_packages: a.max_packages,
        vulnerabilities: !a.no_vulns,
    };
    let engine = Engine::start(cfg)
        .await
        .map_err(|e| Failure::new(Exit::Config, e.to_string()))?;
    let r =
        super::progress::while_waiting(&engine, "resolving", json, engine.resolve(&request)).await;
    engine.shutdown().await;
    let r = r?;
    show(json, &r, crate::resolve_text::resolution);
    status_exit(r.status, &r.missing)
}

/// `pypi-sentinel why`.
pub(super) async fn why(cfg: EngineConfig, a: WhyArgs, json: bool) -> Result<(), Failure> {
    let q = Why {
        package: a.package,
        requirements: a.requirements,
        target: a.target.target()?,
        max_packages: a.max_packages,
    };
    super::query::once(cfg, q, json).await
}

/// Prints an answer: `--json` as it is, else its text.
fn show<T: serde::Serialize>(json: bool, answer: &T, text: impl FnOnce(&T) -> String) {
    if json {
        print_json(answer);
    } else {
        print(&text(answer));
    }
}

/// The exit of a resolution's status (`missing`: what could not be fetched).
pub(crate) fn status_exit(
    status: ResolutionStatus,
    missing: &[MissingNode],
) -> Result<(), Failure> {
    match status {
        ResolutionStatus::Resolved => Ok(()),
        ResolutionStatus::Partial => Err(Failure::partial(format!(
            "partial resolution: {} could not be fetched",
            missing
                .iter()
                .map(|m| m.package.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        ResolutionStatus::NoSolution => Err(Failure {
            reported: true,
            ..Failure::new(Exit::NoSolution, "no solution: the requirements conflict")
        }),
        ResolutionStatus::Incomplete => Err(Failure {
            reported: true,
            ..Failure::new(Exit::Unavailable, "the resolution stopped at a bound")
        }),
    }
}

/// `pypi-sentinel vulns`.
pub(super) async fn vulns(cfg: EngineConfig, a: VulnsArgs, json: bool) -> Result<(), Failure> {
    let (name, version) = match a.spec.split_once("==") {
        None => (a.spec.as_str(), None),
        Some((n, v)) => (n, Some(v)),
    };
    let engine = Engine::start(cfg)
        .await
        .map_err(|e| Failure::new(Exit::Config, e.to_string()))?;
    let d = super::progress::while_waiting(
        &engine,
        "looking up vulnerabilities",
        json,
        engine.vulnerabilities(name, version),
    )
    .await;
    engine.shutdown().await;
    let d = d?;
    if json {
        print_json(&d);
    } else {
        print(&crate::resolve_text::vulnerabilities(&d));
    }
    Ok(())
}
