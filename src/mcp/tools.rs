//! [`SentinelMcp`]: the MCP server handler. One tool per engine question, plus
//! operations tools, the `sentinel://health` resource and the `package_report` prompt.
//!
//! Every tool answers with structured content (a JSON object with a top-level
//! `source` and, for a single datum, `provenance`, `upstream`, `age_secs` and
//! `observed_at_unix`) and a short human text that states the freshness. Bad input is
//! a protocol error (`invalid_params`, with `{"param","value","rule"}` as data); an
//! upstream failure or a missing package is a tool result with `is_error` and a
//! suggestion, so an assistant can tell the user what happened and what to do.

use std::sync::{Arc, OnceLock};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolResult, ContentBlock, GetPromptRequestParams, GetPromptResponse, GetPromptResult,
    Implementation, JsonObject, ListPromptsResult, ListResourcesResult, PaginatedRequestParams,
    Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, Role, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::Serialize;
use serde_json::{Value, json};

mod download;
mod resolve;

use super::drain::Drain;
use super::output::{DatumOut, schema, to_value};
use super::params::{PackageReportParams, Parameters};

mod scan;
use crate::engine::{Datum, EngineHandle, QueryError};
use crate::questions::{self, Ask};

/// The URI of the health resource.
pub const HEALTH_RESOURCE_URI: &str = "sentinel://health";

/// The instructions sent to clients at initialisation.
pub const INSTRUCTIONS: &str = "pypi-sentinel answers questions about Python packages \
(metadata, versions, dependencies, READMEs sized to a token budget, Python compatibility, download statistics, top \
packages) from PyPI, pypistats.org, pepy.tech and the top-packages dataset, and keeps \
answering when those services fail.\n\
Every figure says where it came from. In the structured result, `source` is the overall \
label: `live` (fetched now), `cached` (fetched recently, within its freshness window), \
`stale` (older than its freshness window, served because the upstream failed; \
`provenance.reason` says why), `estimated` (computed from other observations; \
`provenance.basis` and `provenance.confidence` say how), `mixed` (figures of several \
kinds) or `unavailable`. `age_secs` is the age of the data; `observed_at_unix` when the \
upstream answered; `upstream` which one. Download figures carry `data_as_of`: `date`, the \
newest day in the upstream's data, `age_days`, and `lagging` when that is more than 2 \
days old. Tell the user when data is stale or estimated.\n\
Errors: invalid input is a protocol error naming the parameter and the rule; a missing \
package or an upstream outage is a tool result with `isError` and a structured \
`error` (`not_found`, `unavailable`, `internal`) with a `suggestion` and, when known, \
`retry_after_secs`.";

/// The MCP server: a handle on the engine and the tool router.
///
/// Cheap to create: HTTP makes one per session, so the router (every tool's JSON
/// schemas) is built once per process and shared.
#[derive(Clone)]
pub struct SentinelMcp {
    engine: EngineHandle,
    tool_router: Arc<ToolRouter<Self>>,
    drain: Arc<Drain>,
    /// The last hour of tool calls, for the status page.
    activity: Arc<super::activity::Activity>,
}

impl std::fmt::Debug for SentinelMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelMcp")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

// ---- results ------------------------------------------------------------------------

/// A successful tool result: human text plus structured content.
fn ok(structured: Value, text: String) -> Result<CallToolResult, McpError> {
    let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
    r.structured_content = Some(structured);
    Ok(r)
}

/// A failed tool result (`is_error`): human text plus structured content.
fn tool_error(structured: Value, text: String) -> CallToolResult {
    let mut r = CallToolResult::error(vec![ContentBlock::text(text)]);
    r.structured_content = Some(structured);
    r
}

/// An `invalid_params` protocol error naming the parameter, the value (truncated to
/// 200 characters with a count) and the rule.
pub(crate) fn invalid(param: &str, value: impl std::fmt::Display, rule: &str) -> McpError {
    super::params::argument_error(param, &value.to_string(), rule)
}

/// Maps an engine error: invalid input to a protocol error, everything else to a tool
/// result with `is_error` and a suggestion.
pub(crate) fn query_error(e: QueryError) -> Result<CallToolResult, McpError> {
    if let QueryError::InvalidInput(ie) = &e {
        return Err(invalid(ie.param, &ie.value, &ie.rule));
    }
    // The words come from the engine's one describer, as in the CLI and batch items.
    let reason = e.reason();
    let suggestion = e.suggestion();
    let retry = e.retry_after().map(|d| d.as_secs_f64().ceil() as u64);
    let error = match &e {
        QueryError::NotFound { .. } => "not_found",
        QueryError::Internal(_) => "internal",
        QueryError::Download(_) => "download",
        _ => "unavailable",
    };
    let mut structured = json!({
        "error": error,
        "code": e.code(),
        "source": "unavailable",
        "upstream": Value::Null,
        "reason": reason,
        "suggestion": suggestion,
        "retry_after_secs": retry,
    });
    match &e {
        QueryError::NotFound { what, upstream } => {
            structured["what"] = json!(what);
            structured["upstream"] = json!(upstream);
        }
        QueryError::Unavailable {
            upstream,
            cause,
            remembered,
            ..
        } => {
            structured["upstream"] = json!(upstream);
            structured["cause"] = serde_json::to_value(cause).unwrap_or(Value::Null);
            // A failure of a moment ago, answered again without asking the upstream.
            if let Some(r) = remembered {
                structured["remembered"] = json!(r);
            }
        }
        // The typed failure with its fields: both digests of a corrupt file, sizes, hosts.
        QueryError::Download(d) => {
            structured["download"] = serde_json::to_value(d).unwrap_or(Value::Null);
        }
        _ => {}
    }
    let mut text = match &e {
        QueryError::Unavailable { upstream, .. } if !e.is_deferred() => {
            format!("{upstream} is unavailable: {reason}. {suggestion}")
        }
        _ => format!("{reason}. {suggestion}"),
    };
    if let Some(s) = retry {
        text.push_str(&format!(" (retry after {s} s)"));
    }
    if let Some(Value::String(w)) = structured.get("what") {
        structured["what"] = json!(crate::secret::truncate_echo(w));
    }
    Ok(tool_error(structured, text))
}

/// Applies `f` to a successful answer, or maps the error.
fn answer<T>(
    r: Result<T, QueryError>,
    f: impl FnOnce(&T) -> (Value, String),
) -> Result<CallToolResult, McpError> {
    match r {
        Ok(v) => {
            let (structured, text) = f(&v);
            ok(structured, text)
        }
        Err(e) => query_error(e),
    }
}

/// A single-datum answer: its structured form and `render`'s text.
fn datum_answer<T: Serialize>(
    r: Result<Datum<T>, QueryError>,
    render: impl FnOnce(&Datum<T>) -> String,
) -> Result<CallToolResult, McpError> {
    answer(r, |d| (to_value(&DatumOut::of(d)), render(d)))
}

/// The output schema of question `Q`'s tool: derived from its structured content, the
/// type [`SentinelMcp::serve`] writes.
pub(super) fn output_of<Q: Ask>() -> Arc<JsonObject> {
    schema::<Q::Output<'static>>()
}

impl SentinelMcp {
    /// Asks question `q`: its structured content and, beside it, its text; or the error.
    pub(super) async fn serve<Q: Ask>(&self, q: Q) -> Result<CallToolResult, McpError> {
        answer(q.ask(&self.engine).await, |a| {
            (to_value(&q.output(a)), q.text(a))
        })
    }
}

// ---- tools --------------------------------------------------------------------------

#[tool_router]
impl SentinelMcp {
    /// A server on `engine`.
    pub fn new(engine: EngineHandle) -> Self {
        Self::with_drain(engine, Arc::default(), Arc::default())
    }

    /// A server on `engine` that follows the HTTP server's drain on shutdown.
    pub(crate) fn with_drain(
        engine: EngineHandle,
        drain: Arc<Drain>,
        activity: Arc<super::activity::Activity>,
    ) -> Self {
        Self {
            engine,
            tool_router: router().clone(),
            drain,
            activity,
        }
    }

    /// The engine this server answers from.
    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }

    /// Package metadata.
    #[tool(
        description = "Metadata of a PyPI package's latest release (or of `version`): summary, license, Requires-Python, project URLs, classifiers, release date, yanked status, number of dependencies. The result says whether the data is live, cached or stale.",
        output_schema = output_of::<questions::Info>(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn get_package_info(
        &self,
        Parameters(q): Parameters<questions::Info>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Versions.
    #[tool(
        description = "Every version of a PyPI package, sorted by PEP 440 (oldest first; legacy non-PEP 440 versions last), each with pre-release and yanked flags, upload date and file count, plus the latest stable and latest versions. Filter with include_prereleases / include_yanked; `limit` keeps the newest N. When the JSON API fails the list comes from the Simple API and `notes` says so.",
        output_schema = output_of::<questions::Versions>(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn get_package_versions(
        &self,
        Parameters(q): Parameters<questions::Versions>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Dependencies.
    #[tool(
        description = "The declared dependencies (Requires-Dist) of a PyPI package's latest release (or of `version`), parsed: name, version specifier, extras, environment marker, which extra pulls it in. Give python_version (e.g. 3.12), platform (linux, macos, windows), extras and/or markers to evaluate the markers: each dependency then says whether it `applies`, and the notes list what was assumed. With a python_version and no version, the answer is for the release pip would pick on that Python, and says so.",
        output_schema = output_of::<questions::Deps>(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn get_package_dependencies(
        &self,
        Parameters(q): Parameters<questions::Deps>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Package docs.
    #[tool(
        description = "A PyPI package's README (the long description of its latest release, or of `version`) as Markdown sized for your context: reStructuredText is converted; sections come most useful first (install, quick start, usage, API and examples; badges, changelog, licence and contributors last) and are cut to max_tokens (100-32000, default 4000, counted with the o200k_base tokenizer) at section boundaries, ending with a marker naming what was left out and its size. Also the summary, documentation and source URLs, and the version the docs belong to.",
        output_schema = output_of::<questions::Docs>(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn get_package_docs(
        &self,
        Parameters(q): Parameters<questions::Docs>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Package docs with its dependencies' short docs.
    #[tool(
        description = "get_package_docs plus a short summary (summary line and first README paragraph) of each runtime dependency for a target (python_version, platform, extras, markers as in get_package_dependencies; default CPython 3.12 on linux), all under one max_tokens budget: the dependencies take a third at most, each its stated share, the package's README the rest. A dependency that cannot be fetched is listed under failures with its reason; the others are still answered.",
        output_schema = output_of::<questions::DocsContext>(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn get_package_docs_with_context(
        &self,
        Parameters(q): Parameters<questions::DocsContext>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Python compatibility.
    #[tool(
        description = "Whether a PyPI package's latest release (or `version`) supports a given Python version (e.g. 3.13, or 3.9.0 checked as given), decided from Requires-Python. Without Requires-Python the answer is null (not declared; classifiers are reported as listed or not, never as a no). `compatible` is true, false or null; `detail` explains.",
        output_schema = output_of::<questions::PythonCheck>(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn check_package_python_compatibility(
        &self,
        Parameters(q): Parameters<questions::PythonCheck>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Supported Pythons.
    #[tool(
        description = "The Python versions (2.7, 3.0 ... 3.15) a PyPI package's latest release (or `version`) supports, from Requires-Python when declared, else from classifiers; both lists are returned.",
        output_schema = output_of::<questions::Pythons>(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn get_package_compatible_python_versions(
        &self,
        Parameters(q): Parameters<questions::Pythons>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Recent downloads.
    #[tool(
        description = "Downloads of a PyPI package over the last day, week and month (pypistats.org, without mirrors). Each figure carries its own provenance: when pypistats is down the figures may be stale or estimated from the daily series, and say so. `period` = day, week, month or all (default).",
        output_schema = output_of::<questions::Downloads>(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn get_download_statistics(
        &self,
        Parameters(q): Parameters<questions::Downloads>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Trend.
    #[tool(
        description = "The daily download series of a PyPI package over the last `days` days (1 to 180, default 30), with total, average per day, peak day and change (first week vs last week, in percent).",
        output_schema = output_of::<questions::Trend>(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn get_download_trends(
        &self,
        Parameters(q): Parameters<questions::Trend>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Breakdown.
    #[tool(
        description = "Downloads of a PyPI package split by Python major version (`by` = python_major), Python minor version (python_minor) or operating system (system), summed over the last `days` days (1 to 180, default 30), largest first with percentages.",
        output_schema = output_of::<questions::Breakdown>(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn get_download_breakdown(
        &self,
        Parameters(q): Parameters<questions::Breakdown>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Top packages.
    #[tool(
        description = "The most downloaded PyPI packages over the last 30 days, from the top-packages dataset: rank, project, download count. `limit` 1 to 1000, default 10.",
        output_schema = output_of::<questions::Top>(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn get_top_downloaded_packages(
        &self,
        Parameters(q): Parameters<questions::Top>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Overview of several packages.
    #[tool(
        description = "Metadata and recent downloads of 1 to 100 PyPI packages at once, fetched concurrently. Returns every package that could be answered (`items`), every failure with its reason and a suggestion (`failures`), and the overall `source`. One bad or missing package does not fail the others.",
        output_schema = output_of::<questions::Overview>(),
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn get_packages_overview(
        &self,
        Parameters(q): Parameters<questions::Overview>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Health.
    #[tool(
        description = "The health of pypi-sentinel: readiness, the circuit breaker and error rate of each upstream (pypi-json, pypi-simple, pypistats, pepy, top-packages), request counters, cache and store statistics and actor restarts. Call it when answers come back stale or unavailable.",
        output_schema = output_of::<questions::Health>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn health_check(
        &self,
        Parameters(q): Parameters<questions::Health>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Readiness.
    #[tool(
        description = "Whether pypi-sentinel takes calls now (`ready`), and why not when not.",
        output_schema = output_of::<questions::Ready>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn ready_check(
        &self,
        Parameters(q): Parameters<questions::Ready>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Metrics.
    #[tool(
        description = "pypi-sentinel's counters: calls, coalesced calls, estimates served, breaker transitions, actor restarts, per-upstream request counters and cache statistics; `prometheus` holds every metric series in Prometheus text format.",
        output_schema = output_of::<questions::Metrics>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_metrics(
        &self,
        Parameters(q): Parameters<questions::Metrics>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Cache statistics.
    #[tool(
        description = "Cache statistics: entries, bytes used and capacity, fresh hits, stale hits, misses, stale answers served, evictions and hit ratio; and the store on disk behind the cache (state, size, documents, daily counts, reads, writes, errors).",
        output_schema = output_of::<questions::Cache>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_cache_stats(
        &self,
        Parameters(q): Parameters<questions::Cache>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }

    /// Invalidate.
    #[tool(
        description = "Drops cached data about `package` (or everything when omitted) so the next question is answered live. Use it when the user says data is out of date; it does not fetch anything itself.",
        output_schema = output_of::<questions::Refresh>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn refresh_cache(
        &self,
        Parameters(q): Parameters<questions::Refresh>,
    ) -> Result<CallToolResult, McpError> {
        self.serve(q).await
    }
}

/// The tool router `#[tool_router]` builds, with every tool's schemas: built once per
/// process and shared by every session.
fn router() -> &'static Arc<ToolRouter<SentinelMcp>> {
    static ROUTER: OnceLock<Arc<ToolRouter<SentinelMcp>>> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut router = SentinelMcp::tool_router()
            + SentinelMcp::scan_router()
            + SentinelMcp::resolve_router()
            + SentinelMcp::download_router();
        super::output::compact_output_schemas(
            router
                .map
                .values_mut()
                .filter_map(|r| r.attr.output_schema.as_mut()),
        );
        Arc::new(router)
    })
}

/// Every tool's name, sorted, from the `#[tool]` functions themselves.
pub fn tool_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = router().map.keys().map(|k| k.as_ref()).collect();
    names.sort_unstable();
    names
}

/// The metric label of a call to tool `name`: the tool's own name, or `unknown` for a
/// name no tool has (a client's invented names would each become a series: 20,000
/// names made /metrics 318 MB).
pub fn metric_label(name: &str) -> &'static str {
    router()
        .map
        .get_key_value(name)
        .map_or("unknown", |(k, _)| k.as_ref())
}

// ---- handler ------------------------------------------------------------------------

/// The JSON-RPC error of a call the server will not finish because it is shutting down.
fn shutting_down(message: &'static str) -> McpError {
    McpError::new(
        rmcp::model::ErrorCode::INTERNAL_ERROR,
        message,
        Some(
            json!({ "error": "shutting_down", "suggestion": "call again; the server is restarting or stopping" }),
        ),
    )
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SentinelMcp {
    /// Every tool call: a span with the tool and package, a counter by tool and outcome,
    /// and a latency histogram by tool; then the router generated by `#[tool_router]`.
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, McpError> {
        use tracing::Instrument;
        let tool = metric_label(&request.name);
        let package = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("package"))
            .and_then(Value::as_str)
            .map(crate::secret::truncate_echo)
            .unwrap_or_else(|| "-".into());
        let span = tracing::info_span!("tool", tool = %tool, package = %package);
        let started = std::time::Instant::now();
        let result = match self.drain.calls_guard() {
            None => Err(shutting_down(
                "the server is shutting down; call again later",
            )),
            Some(_in_flight) => {
                let cancelled = context.ct.clone();
                let tcc = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
                let call = self.tool_router.call(tcc).instrument(span);
                // rmcp only signals a client's notifications/cancelled on the request's
                // token; returning here drops the call's future, which the engine takes
                // as an abandoned waiter (and cancels the upstream fetch when nobody
                // else waits).
                tokio::select! {
                    r = call => r,
                    () = cancelled.cancelled() => Err(McpError::new(
                        rmcp::model::ErrorCode(-32800),
                        "request cancelled",
                        None,
                    )),
                    () = self.drain.aborted() => Err(shutting_down(
                        "the server shut down before this call finished (past its shutdown grace); call again",
                    )),
                }
            }
        };
        let outcome = match &result {
            Ok(rmcp::model::CallToolResponse::Complete(r)) if r.is_error == Some(true) => {
                "tool_error"
            }
            Ok(_) => "ok",
            Err(e) if e.code == rmcp::model::ErrorCode::INVALID_PARAMS => "invalid_params",
            Err(_) => "protocol_error",
        };
        metrics::counter!("sentinel_tool_calls_total", "tool" => tool, "outcome" => outcome)
            .increment(1);
        let (label, cancelled) = match &result {
            Ok(rmcp::model::CallToolResponse::Complete(r)) => (
                super::activity::label_of(r.structured_content.as_ref(), r.is_error == Some(true)),
                false,
            ),
            Ok(_) => ("live", false),
            Err(e) => ("error", e.code == rmcp::model::ErrorCode(-32800)),
        };
        self.activity.record(tool, label, cancelled);
        metrics::counter!("sentinel_answers_total", "tool" => tool, "provenance" => label)
            .increment(1);
        metrics::histogram!("sentinel_tool_call_seconds", "tool" => tool)
            .record(started.elapsed().as_secs_f64());
        result
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(
            Implementation::new("pypi-sentinel", env!("CARGO_PKG_VERSION"))
                .with_title("pypi-sentinel")
                .with_description(
                    "A resilient, honest gateway to Python package data (PyPI, pypistats.org, pepy.tech)",
                ),
        )
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new(HEALTH_RESOURCE_URI, "health")
                .with_title("pypi-sentinel health")
                .with_description(
                    "Readiness, breakers per upstream, request counters, cache statistics (JSON)",
                )
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        if request.uri != HEALTH_RESOURCE_URI {
            let uri = crate::secret::truncate_echo(&request.uri);
            return Err(McpError::resource_not_found(
                format!("no resource {uri:?}; the only one is {HEALTH_RESOURCE_URI}"),
                Some(json!({ "uri": uri })),
            ));
        }
        let h = crate::secret::redact_health(self.engine.health().await);
        let text = serde_json::to_string_pretty(&h)
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, HEALTH_RESOURCE_URI).with_mime_type("application/json"),
        ])
        .into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            "package_report",
            Some(
                "A report on a PyPI package: metadata, versions, Python support, dependencies and downloads, with the freshness of each figure",
            ),
            Some(vec![
                PromptArgument::new("package")
                    .with_description("The PyPI project name, e.g. requests")
                    .with_required(true),
            ]),
        )]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        if request.name != "package_report" {
            return Err(invalid(
                "name",
                &request.name,
                "no such prompt; the only one is package_report",
            ));
        }
        let args = Value::Object(request.arguments.unwrap_or_default());
        let p: PackageReportParams = super::params::parse_arguments(&args)?;
        let name = crate::engine::PackageName::parse(&p.package)
            .map_err(|e| invalid(e.param, &e.value, &e.rule))?;
        let text = format!(
            "Write a short report on the Python package `{name}` for a developer deciding whether to depend on it. \
             Use the pypi-sentinel tools: get_package_info (summary, license, latest release and its date), \
             get_package_versions with limit 10 (release cadence, pre-releases, yanked releases), \
             get_package_compatible_python_versions, get_package_dependencies, get_download_statistics and \
             get_download_trends (popularity and direction). For every figure, say whether it is live, cached, \
             stale (and why) or estimated (and from what); do not present stale or estimated numbers as current. \
             If a tool reports an error, say which part is missing and pass on its suggestion."
        );
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                .with_description(format!("Report on {name}"))
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::questions::{self, Ask};

    /// Each question names the tool that serves it, and that tool exists.
    #[test]
    fn every_question_names_a_tool_that_exists() {
        let names = super::tool_names();
        for tool in [
            questions::Info::TOOL,
            questions::Versions::TOOL,
            questions::Deps::TOOL,
            questions::PythonCheck::TOOL,
            questions::Pythons::TOOL,
            questions::Trend::TOOL,
            questions::Breakdown::TOOL,
            questions::Top::TOOL,
            questions::Docs::TOOL,
            questions::DocsContext::TOOL,
            questions::Why::TOOL,
            questions::Downloads::TOOL,
            questions::Overview::TOOL,
            questions::Health::TOOL,
            questions::Ready::TOOL,
            questions::Metrics::TOOL,
            questions::Cache::TOOL,
            questions::Refresh::TOOL,
        ] {
            assert!(names.contains(&tool), "{tool}");
        }
    }

    /// The argument names a client sends, per tool that takes a target, as they were
    /// before the target became one type: a flattened `Target` must not add or drop any.
    #[test]
    fn the_target_tools_keep_their_argument_names_and_strictness() {
        let cases: [(&str, &[&str], bool); 6] = [
            (
                "get_package_dependencies",
                &[
                    "extras",
                    "markers",
                    "package",
                    "platform",
                    "python_version",
                    "version",
                ],
                false,
            ),
            (
                "get_package_docs_with_context",
                &[
                    "extras",
                    "markers",
                    "max_tokens",
                    "package",
                    "platform",
                    "python_version",
                    "version",
                ],
                false,
            ),
            (
                "download_package",
                &[
                    "dest",
                    "kind",
                    "machine",
                    "package",
                    "platform",
                    "python_version",
                    "version",
                ],
                true,
            ),
            (
                "resolve_dependencies",
                &[
                    "include_vulnerabilities",
                    "markers",
                    "max_packages",
                    "platform",
                    "prereleases",
                    "python_version",
                    "requirements",
                ],
                false,
            ),
            (
                "explain_dependency",
                &[
                    "markers",
                    "max_packages",
                    "package",
                    "platform",
                    "prereleases",
                    "python_version",
                    "requirements",
                ],
                false,
            ),
            (
                "audit_project",
                &[
                    "content",
                    "filename",
                    "markers",
                    "path",
                    "platform",
                    "prereleases",
                    "python_version",
                ],
                true,
            ),
        ];
        for (tool, names, strict) in cases {
            let route = super::router().map.get(tool).expect(tool);
            let schema = &route.attr.input_schema;
            let mut got: Vec<&str> = schema["properties"]
                .as_object()
                .expect("properties")
                .keys()
                .map(String::as_str)
                .collect();
            got.sort_unstable();
            assert_eq!(got, names, "{tool}");
            assert_eq!(
                schema.get("additionalProperties") == Some(&serde_json::json!(false)),
                strict,
                "{tool}"
            );
        }
    }
}
