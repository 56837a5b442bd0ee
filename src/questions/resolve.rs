//! `resolve_dependencies` / `pypi-sentinel resolve REQUIREMENT...` and
//! `get_package_vulnerabilities` / `pypi-sentinel vulns NAME[==VERSION]`: a
//! resolution for a target, and the known vulnerabilities of a release, with their
//! text (the one home of their wording, for both front ends).
//!
//! Exits beyond the common ones: `resolve` (and `why`) exit `Partial` when some node
//! could not be fetched, `NoSolution` when no solution exists, `Unavailable` when it
//! stopped at a bound; `vulns` exits `Ok` whatever it finds (it reports; `audit` gates).

use schemars::JsonSchema;
use sentinel_actors::resolver::{MissingNode, Resolution, ResolutionStatus, ResolveRequest};
use sentinel_actors::views::vulns::{AdvisorySource, PackageVulnerabilities};
use sentinel_actors::{
    Datum, EngineHandle, QueryError, RESOLVE_TARGET, Target, TargetOnly, limits,
};
use serde::Deserialize;

use super::show;
use super::{Ask, Run, split_spec};
use crate::structured::DatumOut;
use crate::terminal::target::{self, TargetArgs};
use crate::terminal::{Exit, Failure};

/// What to resolve, and for which target.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(transform = TargetOnly(RESOLVE_TARGET))]
pub struct Resolve {
    /// PEP 508 requirements, e.g. `["black[d]>=24", "requests<3"]` (1 to 50). URL and
    /// path requirements are refused.
    pub requirements: Vec<String>,
    /// Where they would be installed: python_version, platform, markers, prereleases.
    #[serde(flatten)]
    pub target: Target,
    /// Bound on the packages of the resolution, 1 to 1000. Default 200.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub max_packages: Option<i64>,
    /// Fetch each resolved release's known vulnerabilities. Default true.
    #[serde(default)]
    pub include_vulnerabilities: Option<bool>,
}

impl Ask for Resolve {
    const TOOL: &'static str = "resolve_dependencies";
    const DESCRIPTION: &'static str = "Resolve requirements (e.g. [\"black[d]>=24\"]) for a target Python version and platform with the PubGrub algorithm, as pip/uv would install them: each package with its version, the chain of requirements that pulls it in, the environment markers it applies under and its known vulnerabilities (with the smallest fixing upgrade). With no solution, `conflict` explains it in words. During an index outage, metadata already held is used and the notes say so; a package that cannot be fetched makes the answer `partial` and is named in `missing`.";
    const DOING: &'static str = "resolving";
    type Answer = Resolution;
    type Output<'a> = &'a Resolution;

    async fn ask(&self, engine: &EngineHandle) -> Result<Resolution, QueryError> {
        // The engine checks the rest; a negative bound must be named as given.
        let max_packages = self
            .max_packages
            .map(limits::resolve_packages)
            .transpose()?;
        let request = ResolveRequest {
            requirements: self.requirements.clone(),
            target: self.target.clone(),
            max_packages,
            vulnerabilities: self.include_vulnerabilities.unwrap_or(true),
        };
        engine.resolve(&request).await
    }

    fn output<'a>(&self, a: &'a Resolution) -> &'a Resolution {
        a
    }

    fn text(&self, r: &Resolution) -> String {
        resolution_text(r)
    }

    fn exit(&self, r: &Resolution) -> Result<(), Failure> {
        status_exit(r.status, &r.missing)
    }
}

/// A resolution in words: one line per package (version, extras, who pulls it in,
/// markers, vulnerabilities), then what is missing, the conflict, and the notes.
fn resolution_text(r: &Resolution) -> String {
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
        ResolutionStatus::NoSolution => format!("No solution for {target}:\n"),
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
            "{} (needed by {})\n",
            missing_line(m),
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

/// `  MISSING name version: reason`, a node a resolution could not fetch (no newline).
pub(super) fn missing_line(m: &MissingNode) -> String {
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
pub(super) fn sources(s: &[AdvisorySource]) -> String {
    if s.is_empty() {
        return "no source".into();
    }
    s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join("+")
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
        ResolutionStatus::NoSolution => Err(Failure::after_answer(
            Exit::NoSolution,
            "no solution: the requirements conflict",
        )),
        ResolutionStatus::Incomplete => Err(Failure::after_answer(
            Exit::Unavailable,
            "the resolution stopped at a bound",
        )),
    }
}

/// Resolve requirements for a target Python and platform (pubgrub), with each
/// package's requirement chain, markers and known vulnerabilities.
#[derive(clap::Args, Debug)]
#[command(mut_args(|a| target::only(a, RESOLVE_TARGET)))]
pub(crate) struct ResolveFlags {
    /// PEP 508 requirements, e.g. `"black[d]>=24"` (1 to 50).
    #[arg(required = true, value_name = "REQUIREMENT")]
    requirements: Vec<String>,
    #[command(flatten)]
    target: TargetArgs,
    /// Bound on the packages of the resolution (1-1000).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    max_packages: Option<i64>,
    /// Do not fetch the vulnerabilities of the resolved releases.
    #[arg(long)]
    no_vulns: bool,
}

impl Run for ResolveFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        let q = Resolve {
            requirements: self.requirements,
            target: self.target.target()?,
            max_packages: self.max_packages,
            include_vulnerabilities: Some(!self.no_vulns),
        };
        show(engine, q, json).await
    }
}

/// A release whose vulnerabilities to list.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Vulns {
    /// The PyPI project name, e.g. `jinja2`.
    pub package: String,
    /// A release, e.g. `2.11.2`. Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
}

impl Ask for Vulns {
    const TOOL: &'static str = "get_package_vulnerabilities";
    const DESCRIPTION: &'static str = "Known vulnerabilities (OSV advisories: id, aliases such as CVE ids, summary, fixed_in, withdrawn, and `sources`: `pypi` when the index's per-release JSON lists it, `osv` when the OSV API does) of a PyPI package's latest release (or of `version`), with the smallest upgrade that fixes those in force and the smallest published release at or above it. Which sources are asked is configured (`[vulnerabilities] source`); a release the index has no per-release JSON for is asked of OSV, and `notes` say so.";
    const DOING: &'static str = "looking up vulnerabilities";
    type Answer = Datum<PackageVulnerabilities>;
    type Output<'a> = DatumOut<&'a PackageVulnerabilities>;

    async fn ask(&self, engine: &EngineHandle) -> Result<Self::Answer, QueryError> {
        engine
            .vulnerabilities(&self.package, self.version.as_deref())
            .await
    }

    fn output<'a>(&self, a: &'a Self::Answer) -> Self::Output<'a> {
        DatumOut::of(a)
    }

    fn text(&self, a: &Self::Answer) -> String {
        vulnerabilities_text(a)
    }
}

/// A release's vulnerabilities in words.
fn vulnerabilities_text(d: &Datum<PackageVulnerabilities>) -> String {
    let v = &d.value;
    let mut out = if v.active == 0 {
        format!(
            "{} {}: no known vulnerabilities in force (from {}, {}).\n",
            v.package,
            v.version,
            sources(&v.sources),
            d.provenance.word()
        )
    } else {
        format!(
            "{} {}: {} known vulnerabilit{} (from {}, {}).\n",
            v.package,
            v.version,
            v.active,
            if v.active == 1 { "y" } else { "ies" },
            sources(&v.sources),
            d.provenance.word()
        )
    };
    for a in &v.vulnerabilities {
        out.push_str(&format!(
            "  {} [{}]{}{}: {}{}\n",
            a.id,
            sources(&a.sources),
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
    for n in &v.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    out
}

/// Known vulnerabilities of a release (`vulns NAME` or `vulns NAME==VERSION`);
/// `vulns sync` keeps OSV's export in the store for offline audits.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct VulnsFlags {
    #[command(subcommand)]
    action: Option<super::vulns_sync::VulnsAction>,
    /// Package, optionally `==VERSION` (default: the latest release).
    #[arg(required = true)]
    spec: Option<String>,
    #[arg(skip)]
    source: sentinel_actors::VulnSource,
}

impl Run for VulnsFlags {
    fn configure(&mut self, cfg: &mut sentinel_actors::EngineConfig) -> Result<(), Failure> {
        self.source = cfg.vulnerabilities.source;
        Ok(())
    }

    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        if let Some(action) = self.action {
            return action.run(engine, self.source, json).await;
        }
        let (package, version) = split_spec(self.spec.as_deref().unwrap_or_default())?;
        show(engine, Vulns { package, version }, json).await
    }
}
