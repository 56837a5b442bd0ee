//! `explain_dependency` / `pypi-sentinel why PACKAGE REQUIREMENT...`: every chain by
//! which a package enters the tree some requirements resolve to, and its text (the one
//! home of its wording, for both front ends).

use schemars::JsonSchema;
use sentinel_actors::resolver::{ResolutionStatus, ResolveRequest};
use sentinel_actors::{
    EngineHandle, Explain, Explanation, Presence, QueryError, RESOLVE_TARGET, Target, TargetOnly,
};
use serde::Deserialize;

use super::Ask;
use super::Run;
use super::show;
use crate::terminal::Failure;
use crate::terminal::target::{self, TargetArgs};

/// Why a package is in the dependency tree of some requirements, for a target.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(transform = TargetOnly(RESOLVE_TARGET))]
pub struct Why {
    /// The package to explain, e.g. `idna`.
    pub package: String,
    /// PEP 508 requirements to resolve, e.g. `["requests<3"]` (1 to 50). URL and path
    /// requirements are refused.
    pub requirements: Vec<String>,
    /// Where the requirements would be installed: python_version, platform, markers,
    /// prereleases.
    #[serde(flatten)]
    pub target: Target,
    /// Bound on the packages of the resolution, 1 to 1000. Default 200.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub max_packages: Option<usize>,
}

impl Ask for Why {
    const TOOL: &'static str = "explain_dependency";
    const DESCRIPTION: &'static str = "Explain why a package is in the dependency tree of some requirements (like `pnpm why`, `npm explain`, `cargo tree -i`): resolves them for a target Python and platform, then lists every chain of requirements from a requested one down to the package, shortest first, with each edge's versions, requirement and environment marker (at most 50 chains; `total_chains` counts all, `chains_left_out` the rest). When it is not in the tree, `presence` says why: `excluded_by_markers` (with the requirements in `excluded`), `not_in_tree`, `could_not_be_fetched`, or `unknown` (partial resolution, no solution).";

    type Answer = Explanation;
    type Output<'a> = &'a Explanation;

    /// The chains, or why there are none.
    async fn ask(&self, engine: &EngineHandle) -> Result<Explanation, QueryError> {
        let request = ResolveRequest {
            requirements: self.requirements.clone(),
            target: self.target.clone(),
            max_packages: self.max_packages,
            vulnerabilities: false,
        };
        engine.ask(Explain::new(&request, &self.package)?).await
    }

    fn output<'a>(&self, a: &'a Explanation) -> &'a Explanation {
        a
    }

    /// The explanation in words: the summary, each chain as a line of hops with the
    /// requirement and marker of each, what was left out, then the notes.
    fn text(&self, x: &Explanation) -> String {
        let mut out = format!("{}; metadata {}.\n", x.summary, x.source.as_str());
        for (i, chain) in x.chains.iter().enumerate() {
            out.push_str(&format!("{:>3}. ", i + 1));
            let hops: Vec<String> = chain
                .iter()
                .map(|s| {
                    // Said only when not live or cached (the summary gives the source).
                    let read = s
                        .provenance
                        .as_ref()
                        .and_then(crate::describe::why)
                        .map(|w| format!(" [{w}]"))
                        .unwrap_or_default();
                    // The requirement's words carry its marker.
                    format!("{}{read}", s.requirement)
                })
                .collect();
            out.push_str(&hops.join("\n     -> "));
            out.push('\n');
        }
        if x.chains_left_out > 0 {
            out.push_str(&format!(
                "  ... and {}{} more chain(s), not listed.\n",
                if x.total_is_lower_bound {
                    "at least "
                } else {
                    ""
                },
                x.chains_left_out
            ));
        }
        if x.presence != Presence::InTree {
            for e in &x.excluded {
                out.push_str(&format!(
                    "  EXCLUDED {} (false for the target)\n",
                    e.requirement
                ));
            }
        }
        if x.resolution == ResolutionStatus::Partial {
            for m in &x.missing {
                out.push_str(&super::resolve::missing_line(m));
                out.push('\n');
            }
        }
        if let Some(c) = &x.conflict {
            out.push_str(&format!("Conflict:\n{c}\n"));
        }
        for n in &x.notes {
            out.push_str(&format!("Note: {n}\n"));
        }
        out
    }

    /// Partial when some node could not be fetched, no solution, or stopped at a bound;
    /// success whether or not the package is in the tree (the answer says which).
    fn exit(&self, x: &Explanation) -> Result<(), crate::terminal::Failure> {
        super::resolve::status_exit(x.resolution, &x.missing)
    }
}

/// Why a package is in the tree of some requirements for a target: every chain
/// that pulls it in, shortest first, with versions and markers (`why idna "requests<3"`).
#[derive(clap::Args, Debug)]
#[command(mut_args(|a| target::only(a, RESOLVE_TARGET)))]
pub(crate) struct WhyFlags {
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

impl Run for WhyFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        let q = Why {
            package: self.package,
            requirements: self.requirements,
            target: self.target.target()?,
            max_packages: self.max_packages,
        };
        show(engine, q, json).await
    }
}
