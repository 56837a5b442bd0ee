//! The dependency tools: `resolve_dependencies`, `explain_dependency` and
//! `get_package_vulnerabilities`.
//! A second `#[tool_router]` block on [`SentinelMcp`], combined with the first where
//! the router is built.

use std::sync::Arc;

use rmcp::model::{CallToolResult, JsonObject};
use rmcp::{ErrorData as McpError, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{SentinelMcp, answer, datum_answer};
use crate::engine::views::resolve::{Resolution, ResolveRequest};
use crate::engine::views::vulns::PackageVulnerabilities;
use crate::engine::{RESOLVE_TARGET, Target, TargetOnly, limits};
use crate::mcp::output::{DatumOut, schema};
use crate::mcp::params::Parameters;
use crate::questions::Why;

/// What to resolve, and for which target.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(transform = TargetOnly(RESOLVE_TARGET))]
pub(super) struct ResolveParams {
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

/// A release whose vulnerabilities to list.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub(super) struct VulnerabilitiesParams {
    /// The PyPI project name, e.g. `jinja2`.
    pub package: String,
    /// A release, e.g. `2.11.2`. Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
}

// Output schemas, derived from the types the tools serialise.
fn resolve_schema() -> Arc<JsonObject> {
    schema::<Resolution>()
}

fn vulnerabilities_schema() -> Arc<JsonObject> {
    schema::<DatumOut<PackageVulnerabilities>>()
}

#[tool_router(router = resolve_router, vis = "pub(super)")]
impl SentinelMcp {
    /// Dependency resolution.
    #[tool(
        description = "Resolve requirements (e.g. [\"black[d]>=24\"]) for a target Python version and platform with the PubGrub algorithm, as pip/uv would install them: each package with its version, the chain of requirements that pulls it in, the environment markers it applies under and its known vulnerabilities (with the smallest fixing upgrade). With no solution, `conflict` explains it in words. During an index outage, metadata already held is used and the notes say so; a package that cannot be fetched makes the answer `partial` and is named in `missing`.",
        output_schema = resolve_schema(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn resolve_dependencies(
        &self,
        Parameters(p): Parameters<ResolveParams>,
    ) -> Result<CallToolResult, McpError> {
        // The engine checks the rest; a negative bound must be named as given.
        let max_packages = match p.max_packages.map(limits::resolve_packages).transpose() {
            Ok(m) => m,
            Err(e) => return Err(super::invalid(e.param, e.value, &e.rule)),
        };
        let request = ResolveRequest {
            requirements: p.requirements,
            target: p.target,
            max_packages,
            vulnerabilities: p.include_vulnerabilities.unwrap_or(true),
        };
        let r = self.engine.resolve(&request).await;
        answer(r, |r| {
            (
                serde_json::to_value(r).unwrap_or(Value::Null),
                crate::resolve_text::resolution(r),
            )
        })
    }

    /// Why a package is in a resolved tree.
    #[tool(
        description = "Explain why a package is in the dependency tree of some requirements (like `pnpm why`, `npm explain`, `cargo tree -i`): resolves them for a target Python and platform, then lists every chain of requirements from a requested one down to the package, shortest first, with each edge's versions, requirement and environment marker (at most 50 chains; `total_chains` counts all, `chains_left_out` the rest). When it is not in the tree, `presence` says why: `excluded_by_markers` (with the requirements in `excluded`), `not_in_tree`, `could_not_be_fetched`, or `unknown` (partial resolution, no solution).",
        output_schema = super::output_of::<Why>(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn explain_dependency(
        &self,
        Parameters(q): Parameters<Why>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Vulnerabilities of a release.
    #[tool(
        description = "Known vulnerabilities (OSV advisories: id, aliases such as CVE ids, summary, fixed_in, withdrawn, and `sources`: `pypi` when the index's per-release JSON lists it, `osv` when the OSV API does) of a PyPI package's latest release (or of `version`), with the smallest upgrade that fixes those in force and the smallest published release at or above it. Which sources are asked is configured (`[vulnerabilities] source`); a release the index has no per-release JSON for is asked of OSV, and `notes` say so.",
        output_schema = vulnerabilities_schema(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn get_package_vulnerabilities(
        &self,
        Parameters(p): Parameters<VulnerabilitiesParams>,
    ) -> Result<CallToolResult, McpError> {
        let r = self
            .engine
            .vulnerabilities(&p.package, p.version.as_deref())
            .await;
        datum_answer(r, crate::resolve_text::vulnerabilities)
    }
}
