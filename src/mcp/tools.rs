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

use rmcp::handler::server::router::tool::{ToolRoute, ToolRouter};
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolResult, ContentBlock, GetPromptRequestParams, GetPromptResponse, GetPromptResult,
    Implementation, JsonObject, ListPromptsResult, ListResourcesResult, PaginatedRequestParams,
    Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, Role, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, tool_handler};
use serde_json::{Value, json};

use super::drain::Drain;
use super::params::{PackageReportParams, Parameters};
use crate::structured::{schema, to_value};

use crate::engine::{EngineHandle, QueryError};
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
    activity: Arc<crate::status::activity::Activity>,
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

impl SentinelMcp {
    /// A server on `engine`.
    pub fn new(engine: EngineHandle) -> Self {
        Self::with_drain(engine, Arc::default(), Arc::default())
    }

    /// A server on `engine` that follows the HTTP server's drain on shutdown.
    pub(crate) fn with_drain(
        engine: EngineHandle,
        drain: Arc<Drain>,
        activity: Arc<crate::status::activity::Activity>,
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
}

/// The tool router, with every tool's schemas: the questions of
/// [`questions::each`] (one route each, [`QuestionRoutes`]) and the tools that keep
/// their own `#[tool]` functions; built once per process and shared by every session.
fn router() -> &'static Arc<ToolRouter<SentinelMcp>> {
    static ROUTER: OnceLock<Arc<ToolRouter<SentinelMcp>>> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut routes = QuestionRoutes(ToolRouter::new());
        questions::each(&mut routes);
        let mut router = routes.0;
        crate::structured::compact_output_schemas(
            router
                .map
                .values_mut()
                .filter_map(|r| r.attr.output_schema.as_mut()),
        );
        Arc::new(router)
    })
}

/// Builds one tool route per question: its name, description and hints from the
/// question's [`Ask`] constants, the input schema from the question type (its doc
/// comments), the output schema from its structured content, and a call that reads
/// the arguments ([`Parameters`]) and [`serve`](SentinelMcp::serve)s the question.
struct QuestionRoutes(ToolRouter<SentinelMcp>);

impl questions::Visit for QuestionRoutes {
    fn question<Q: Ask>(&mut self) {
        let input = rmcp::handler::server::common::schema_for_input::<Parameters<Q>>()
            .unwrap_or_else(|e| panic!("the input schema of {}: {e}", Q::TOOL));
        let hints = Q::HINTS;
        let mut annotations = rmcp::model::ToolAnnotations::new()
            .read_only(hints.read_only)
            .open_world(hints.open_world);
        if let Some(i) = hints.idempotent {
            annotations = annotations.idempotent(i).destructive(false);
        }
        let tool = rmcp::model::Tool::new_with_raw(Q::TOOL, Some(Q::DESCRIPTION.into()), input)
            .with_raw_output_schema(output_of::<Q>())
            .with_annotations(annotations);
        self.0.add_route(ToolRoute::new_dyn(
            tool,
            |mut call: ToolCallContext<'_, SentinelMcp>| {
                Box::pin(async move {
                    use rmcp::handler::server::common::FromContextPart;
                    let Parameters(q) = Parameters::<Q>::from_context_part(&mut call)?;
                    call.service.serve(q).await.map(Into::into)
                })
            },
        ));
    }
}

/// Every tool's name, sorted, from the router itself.
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
                crate::status::activity::label_of(
                    r.structured_content.as_ref(),
                    r.is_error == Some(true),
                ),
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

    /// Every question of the registry is served under its own name, and the tools
    /// outside it (scan, check, audit, download) are there too: 24 in all.
    #[test]
    fn every_question_is_a_tool_of_its_own_name() {
        struct Names(Vec<&'static str>);
        impl questions::Visit for Names {
            fn question<Q: Ask>(&mut self) {
                self.0.push(Q::TOOL);
            }
        }
        let mut asked = Names(Vec::new());
        questions::each(&mut asked);
        let names = super::tool_names();
        for tool in &asked.0 {
            assert!(names.contains(tool), "{tool}");
        }
        let mut unique = asked.0.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            asked.0.len(),
            "a tool name twice: {:?}",
            asked.0
        );
        assert_eq!(names.len(), 24, "{names:?}");
        let route = &super::router().map["refresh_cache"].attr;
        let hints = route.annotations.as_ref().expect("annotations");
        assert_eq!(hints.read_only_hint, Some(false));
        assert_eq!(hints.idempotent_hint, Some(true));
        assert_eq!(hints.destructive_hint, Some(false));
        let info = super::router().map["get_package_info"]
            .attr
            .annotations
            .clone();
        assert_eq!(info.and_then(|a| a.open_world_hint), Some(true));
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
