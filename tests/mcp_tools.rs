//! The MCP server driven in-process by an rmcp client over `tokio::io::duplex`, against
//! the simulator: every tool's happy path (live, then cached), bad input
//! (`invalid_params` naming the parameter), missing packages, cold and warm upstream
//! outages; plus the HTTP endpoints and their guards.

use std::time::Duration;

use pypi_sentinel::engine::{Engine, EngineConfig, EngineHandle, Upstream};
use pypi_sentinel::mcp::{self, HttpOptions};
use pypi_sentinel::sim::{FaultSpec, Sim, SimConfig, SimHandle};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ErrorCode, GetPromptRequestParams,
    ReadResourceRequestParams, ResourceContents,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::{ServiceError, ServiceExt};
use serde_json::{Value, json};

type Client = RunningService<RoleClient, ()>;

struct Ctx {
    sim: SimHandle,
    engine: EngineHandle,
    client: Client,
}

fn test_config(sim: &SimHandle) -> EngineConfig {
    sentinel_actors::testing::sim_config(&sim.base_url())
}

async fn setup() -> Ctx {
    setup_with(SimConfig::default()).await
}

async fn setup_with(sim_cfg: SimConfig) -> Ctx {
    setup_adjusted(sim_cfg, |_| {}).await
}

async fn setup_adjusted(sim_cfg: SimConfig, adjust: impl FnOnce(&mut EngineConfig)) -> Ctx {
    // The Prometheus recorder, as `serve` installs it, so `get_metrics` has series.
    let _ = pypi_sentinel::telemetry::metrics_handle();
    let sim = Sim::start(sim_cfg).await.expect("simulator starts");
    let mut cfg = test_config(&sim);
    adjust(&mut cfg);
    let engine = Engine::start(cfg).await.expect("engine starts");
    let (server_io, client_io) = tokio::io::duplex(1 << 16);
    let server_engine = engine.clone();
    tokio::spawn(async move {
        if let Err(e) = mcp::serve_transport(server_engine, server_io).await {
            eprintln!("server ended: {e:#}");
        }
    });
    let client = ().serve(client_io).await.expect("client initialises");
    Ctx {
        sim,
        engine,
        client,
    }
}

impl Ctx {
    async fn call(&self, tool: &str, args: Value) -> Result<CallToolResult, ServiceError> {
        let mut params = CallToolRequestParams::new(tool.to_string());
        if let Value::Object(m) = args {
            params = params.with_arguments(m);
        }
        tokio::time::timeout(Duration::from_secs(20), self.client.call_tool(params))
            .await
            .unwrap_or_else(|_| panic!("{tool} did not answer within 20 s"))
    }

    /// A successful (not `is_error`) result: its structured content and text.
    async fn ok(&self, tool: &str, args: Value) -> (Value, String) {
        let r = self
            .call(tool, args.clone())
            .await
            .unwrap_or_else(|e| panic!("{tool} {args}: protocol error {e}"));
        let text = text_of(&r);
        assert_ne!(r.is_error, Some(true), "{tool} {args}: tool error: {text}");
        let s = r
            .structured_content
            .unwrap_or_else(|| panic!("{tool}: no structured content"));
        assert!(s.is_object(), "{tool}: structured content is not an object");
        assert!(s.get("source").is_some(), "{tool}: no source in {s}");
        assert!(!text.is_empty(), "{tool}: no human text");
        (s, text)
    }

    /// An `is_error` result: its structured content and text.
    async fn tool_err(&self, tool: &str, args: Value) -> (Value, String) {
        let r = self
            .call(tool, args.clone())
            .await
            .unwrap_or_else(|e| panic!("{tool} {args}: protocol error {e}"));
        let text = text_of(&r);
        assert_eq!(
            r.is_error,
            Some(true),
            "{tool} {args}: expected a tool error, got {text}"
        );
        (r.structured_content.expect("structured error"), text)
    }

    /// An `invalid_params` protocol error naming `param`.
    async fn invalid(&self, tool: &str, args: Value, param: &str) {
        match self.call(tool, args.clone()).await {
            Err(ServiceError::McpError(e)) => {
                assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{tool} {args}: {e:?}");
                assert!(
                    e.message.contains(param),
                    "{tool} {args}: message {:?} does not name {param}",
                    e.message
                );
                let data = e.data.expect("error data");
                assert_eq!(data["param"], param, "{tool} {args}: {data}");
                assert!(data["rule"].as_str().is_some_and(|r| !r.is_empty()));
                assert!(data.get("value").is_some());
            }
            other => panic!("{tool} {args}: expected invalid_params for {param}, got {other:?}"),
        }
    }
}

fn text_of(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn fault(route: &str, status: u16) -> FaultSpec {
    FaultSpec {
        route: route.into(),
        status: Some(status),
        ..Default::default()
    }
}

const STATS: &str = "/api/packages/**";
const PEPY: &str = "/api/v2/projects/**";
const HOURS: Duration = Duration::from_secs(3600);

// ---- discovery ----------------------------------------------------------------------

/// The tools the README documents.
const TOOL_NAMES: [&str; 24] = [
    "get_package_info",
    "get_package_versions",
    "get_package_dependencies",
    "get_package_docs",
    "get_package_docs_with_context",
    "check_package_python_compatibility",
    "get_package_compatible_python_versions",
    "get_download_statistics",
    "get_download_trends",
    "get_download_breakdown",
    "get_top_downloaded_packages",
    "get_packages_overview",
    "scan_dependencies",
    "check_package",
    "audit_project",
    "resolve_dependencies",
    "explain_dependency",
    "get_package_vulnerabilities",
    "download_package",
    "health_check",
    "ready_check",
    "get_metrics",
    "get_cache_stats",
    "refresh_cache",
];

/// `tools/list` carried every output schema whole, the provenance types written out
/// 13 to 23 times: 212 KB, 187 KB of it output schemas, which the Python client
/// validates every answer against. Each schema shares its definitions within itself
/// (`$defs`; MCP has none shared between tools), shared descriptions are stated once
/// (in the instructions), and each schema still validates its tool's answers (the
/// Python end-to-end test checks them with the official client): 111 KB, 86 KB of it
/// output schemas.
/// Subschemas over 80 bytes that occur more than once in `schema`.
fn repeated_subschemas(schema: &serde_json::Map<String, Value>) -> Vec<String> {
    fn walk(v: &Value, seen: &mut std::collections::HashMap<String, usize>) {
        match v {
            Value::Object(o) => {
                o.values().for_each(|x| walk(x, seen));
                let text = v.to_string();
                if text.len() > 80 {
                    *seen.entry(text).or_default() += 1;
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, seen)),
            _ => {}
        }
    }
    let mut seen = std::collections::HashMap::new();
    walk(&Value::Object(schema.clone()), &mut seen);
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(s, _)| s)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_stays_small_without_repeating_shared_descriptions() {
    let ctx = setup().await;
    let tools = ctx.client.list_all_tools().await.unwrap();
    let whole = serde_json::to_string(&tools).unwrap().len();
    let outputs: usize = tools
        .iter()
        .map(|t| serde_json::to_string(&t.output_schema).unwrap().len())
        .sum();
    // 24 tools: explain_dependency added about 5.8 KB of output schema; the
    // dependency-confusion findings (check, scan, audit) and the fleet section of the
    // health report about 9 KB more; the fleet's SSE counters, breakers across the
    // fleet and upstream requests per minute 0.9 KB in each of health and metrics.
    for t in &tools {
        eprintln!(
            "{}: {} bytes of output schema",
            t.name,
            serde_json::to_string(&t.output_schema).unwrap().len()
        );
    }
    assert!(outputs < 108_000, "output schemas: {outputs} bytes");
    assert!(whole < 140_000, "tools/list: {whole} bytes");
    let instructions = ctx
        .client
        .peer_info()
        .unwrap()
        .instructions
        .clone()
        .unwrap();
    for field in ["source", "provenance", "age_secs", "data_as_of", "lagging"] {
        assert!(instructions.contains(&format!("`{field}")), "{field}");
    }
    for t in &tools {
        let schema = serde_json::to_string(&t.output_schema).unwrap();
        assert!(!schema.contains("\"uint64\""), "{}", t.name);
        assert!(
            schema.contains("$defs") || !schema.contains("$ref"),
            "{}",
            t.name
        );
        // Within a schema nothing sizeable is written out twice: it is a definition.
        let repeated = t
            .output_schema
            .as_deref()
            .map(repeated_subschemas)
            .unwrap_or_default();
        assert!(repeated.is_empty(), "{}: {repeated:?}", t.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_every_tool_with_schemas_and_server_info() {
    let ctx = setup().await;
    let tools = ctx.client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    let mut expected = TOOL_NAMES.to_vec();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(
        names,
        mcp::tool_names(),
        "the names come from the #[tool] functions"
    );
    for n in &names {
        assert_eq!(
            mcp::metric_label(n),
            *n,
            "every listed tool is a metric label"
        );
    }
    assert_eq!(mcp::metric_label("get_package_infoo"), "unknown");
    for t in &tools {
        assert_eq!(
            t.input_schema.get("type"),
            Some(&json!("object")),
            "{}",
            t.name
        );
        assert!(
            t.description.as_ref().is_some_and(|d| d.len() > 30),
            "{} needs a description",
            t.name
        );
        let out = t.output_schema.as_ref().expect("output schema");
        assert_eq!(out.get("type"), Some(&json!("object")), "{}", t.name);
    }
    let versions = tools
        .iter()
        .find(|t| t.name == "get_package_versions")
        .unwrap();
    let props = versions.input_schema.get("properties").unwrap();
    for p in ["package", "include_prereleases", "include_yanked", "limit"] {
        assert!(props.get(p).is_some(), "get_package_versions.{p}");
    }
    let required = versions.input_schema.get("required").unwrap();
    assert_eq!(required, &json!(["package"]));

    let info = ctx.client.peer_info().expect("server info");
    let implementation = info.server_info.as_ref().expect("implementation");
    assert_eq!(implementation.name, "pypi-sentinel");
    assert_eq!(implementation.version, env!("CARGO_PKG_VERSION"));
    assert!(
        info.instructions
            .as_deref()
            .is_some_and(|i| i.contains("stale"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_resource_and_report_prompt() {
    let ctx = setup().await;
    let resources = ctx.client.list_all_resources().await.unwrap();
    assert!(resources.iter().any(|r| r.uri == mcp::HEALTH_RESOURCE_URI));
    let r = ctx
        .client
        .read_resource(ReadResourceRequestParams::new(mcp::HEALTH_RESOURCE_URI))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &r.contents[0] else {
        panic!("text contents expected");
    };
    let health: Value = serde_json::from_str(text).unwrap();
    assert_eq!(health["ready"], true);
    assert!(
        ctx.client
            .read_resource(ReadResourceRequestParams::new("sentinel://nope"))
            .await
            .is_err()
    );

    let prompts = ctx.client.list_all_prompts().await.unwrap();
    assert!(prompts.iter().any(|p| p.name == "package_report"));
    let mut args = serde_json::Map::new();
    args.insert("package".into(), json!("numpy"));
    let mut req = GetPromptRequestParams::new("package_report");
    req.arguments = Some(args);
    let p = ctx.client.get_prompt(req).await.unwrap();
    assert!(!p.messages.is_empty());
}

// ---- happy paths --------------------------------------------------------------------

/// Calls a tool twice: the first answer is live, the second cached.
async fn live_then_cached(ctx: &Ctx, tool: &str, args: Value) -> (Value, String) {
    let (first, text) = ctx.ok(tool, args.clone()).await;
    assert_eq!(first["source"], "live", "{tool}: first call {first}");
    assert!(text.contains("live"), "{tool}: text {text:?}");
    let (second, text2) = ctx.ok(tool, args).await;
    assert_eq!(second["source"], "cached", "{tool}: second call {second}");
    assert!(text2.contains("cached"), "{tool}: text {text2:?}");
    (first, text)
}

fn assert_single_datum(tool: &str, v: &Value, kind: &str) {
    assert_eq!(v["provenance"]["kind"], kind, "{tool}: {v}");
    assert!(v["age_secs"].is_u64(), "{tool}: age_secs in {v}");
    assert!(v["upstream"].is_string(), "{tool}: upstream in {v}");
    assert!(v["observed_at_unix"].is_u64(), "{tool}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_metadata_tools_answer_live_then_cached() {
    let ctx = setup().await;

    let (v, text) = live_then_cached(&ctx, "get_package_info", json!({"package": "numpy"})).await;
    assert_single_datum("get_package_info", &v, "live");
    assert_eq!(v["name"], "numpy");
    assert!(v["version"].is_string());
    assert!(v["requires_python"].is_string());
    assert_eq!(v["upstream"], "pypi-json");
    assert!(text.starts_with("numpy "), "{text}");

    let (v, _) = live_then_cached(
        &ctx,
        "get_package_versions",
        json!({"package": "django", "limit": 5, "include_prereleases": false}),
    )
    .await;
    assert_single_datum("get_package_versions", &v, "live");
    let versions = v["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 5);
    assert!(versions.iter().all(|e| e["prerelease"] == false));
    assert!(v["total_versions"].as_u64().unwrap() > 5);
    assert_eq!(
        versions.last().unwrap()["version"],
        v["latest_stable"],
        "newest stable last"
    );
    // Unfiltered: pre-releases included by default.
    let (all, _) = ctx
        .ok("get_package_versions", json!({"package": "django"}))
        .await;
    let all = all["versions"].as_array().unwrap();
    assert!(all.iter().any(|e| e["prerelease"] == true));

    let (v, text) = live_then_cached(
        &ctx,
        "get_package_dependencies",
        json!({"package": "black", "python_version": "3.10", "platform": "windows"}),
    )
    .await;
    assert_single_datum("get_package_dependencies", &v, "live");
    let deps = v["dependencies"].as_array().unwrap();
    assert!(!deps.is_empty());
    assert!(deps.iter().all(|d| d["applies"].is_boolean()), "{v}");
    assert_eq!(v["evaluated_for"]["python_version"], "3.10");
    assert!(text.contains("apply to Python 3.10"), "{text}");
    // Without a target, markers are not evaluated.
    let (v, _) = ctx
        .ok("get_package_dependencies", json!({"package": "black"}))
        .await;
    assert!(v["evaluated_for"].is_null());
    assert!(
        v["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["applies"].is_null())
    );

    let (v, text) = live_then_cached(
        &ctx,
        "check_package_python_compatibility",
        json!({"package": "pytest", "python_version": "3.12"}),
    )
    .await;
    assert_single_datum("check_package_python_compatibility", &v, "live");
    assert_eq!(v["python_version"], "3.12");
    assert!(v["compatible"].is_boolean());
    assert!(text.contains("Python 3.12"), "{text}");

    let (v, _) = live_then_cached(
        &ctx,
        "get_package_compatible_python_versions",
        json!({"package": "scipy"}),
    )
    .await;
    assert_single_datum("get_package_compatible_python_versions", &v, "live");
    assert!(!v["supported"].as_array().unwrap().is_empty(), "{v}");

    // A specific release.
    let (v, _) = ctx
        .ok(
            "get_package_info",
            json!({"package": "numpy", "version": "1.24.0"}),
        )
        .await;
    assert_eq!(v["version"], "1.24.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_tools_answer_live_then_cached() {
    let ctx = setup().await;

    let (v, text) = live_then_cached(
        &ctx,
        "get_download_statistics",
        json!({"package": "pyyaml"}),
    )
    .await;
    for key in ["last_day", "last_week", "last_month"] {
        assert!(v[key]["value"].is_u64(), "{key}: {v}");
        assert_eq!(v[key]["provenance"]["kind"], "live", "{key}");
    }
    assert_eq!(v["period"], "all");
    assert!(text.contains("downloads last month"), "{text}");
    let (v, _) = ctx
        .ok(
            "get_download_statistics",
            json!({"package": "pyyaml", "period": "week"}),
        )
        .await;
    assert!(v.get("last_week").is_some() && v.get("last_month").is_none());
    assert_eq!(v["last_week"]["provenance"]["kind"], "cached");

    let (v, _) = live_then_cached(
        &ctx,
        "get_download_trends",
        json!({"package": "coverage", "days": 14}),
    )
    .await;
    assert_single_datum("get_download_trends", &v, "live");
    assert_eq!(v["days"], 14);
    assert_eq!(v["points"].as_array().unwrap().len(), 14);
    assert!(v["total"].as_u64().unwrap() > 0);

    let (v, _) = live_then_cached(
        &ctx,
        "get_download_breakdown",
        json!({"package": "docutils", "by": "python_minor"}),
    )
    .await;
    assert_single_datum("get_download_breakdown", &v, "live");
    assert!(!v["categories"].as_array().unwrap().is_empty());

    let (v, text) =
        live_then_cached(&ctx, "get_top_downloaded_packages", json!({"limit": 5})).await;
    assert_single_datum("get_top_downloaded_packages", &v, "live");
    assert_eq!(v["rows"].as_array().unwrap().len(), 5);
    assert_eq!(v["rows"][0]["rank"], 1);
    assert!(text.contains("1. "), "{text}");
    let (v, _) = ctx.ok("get_top_downloaded_packages", json!({})).await;
    assert_eq!(v["rows"].as_array().unwrap().len(), 10, "default limit");
}

/// Tokens of `text` with the tokenizer the answers name.
fn tokens(text: &str) -> usize {
    pypi_sentinel::engine::views::docs::tokens::count(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_docs_fit_the_budget_most_useful_first_live_then_cached() {
    let ctx = setup().await;
    let (v, text) = live_then_cached(
        &ctx,
        "get_package_docs",
        json!({"package": "black", "max_tokens": 600}),
    )
    .await;
    assert_single_datum("get_package_docs", &v, "live");
    assert_eq!(v["encoding"], "o200k_base");
    assert_eq!(v["max_tokens"], 600);
    let md = v["markdown"].as_str().unwrap();
    assert!(tokens(md) <= 600, "{} tokens", tokens(md));
    assert_eq!(v["tokens"].as_u64().unwrap() as usize, tokens(md));
    assert!(v["total_tokens"].as_u64().unwrap() > 600);
    assert_eq!(v["sections"][0]["kind"], "install", "{}", v["sections"]);
    assert!(md.lines().last().unwrap().contains("left out"), "{md}");
    assert!(
        v["left_out"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == "changelog")
    );
    assert!(v["version"].is_string() && v["summary"].is_string());
    assert!(
        v["source_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "{v}"
    );
    assert!(text.contains("o200k_base") && text.contains(md), "{text}");

    // reStructuredText, default budget.
    let (v, _) = ctx
        .ok("get_package_docs", json!({"package": "pymysql"}))
        .await;
    assert_eq!(v["format"], "rst");
    assert_eq!(v["max_tokens"], 4000);
    assert!(!v["markdown"].as_str().unwrap().contains(".. image::"));

    ctx.invalid(
        "get_package_docs",
        json!({"package": "black", "max_tokens": 50}),
        "max_tokens",
    )
    .await;
    ctx.invalid(
        "get_package_docs",
        json!({"package": "black", "max_tokens": 40_000}),
        "max_tokens",
    )
    .await;
    ctx.invalid(
        "get_package_docs",
        json!({"package": "not a name!"}),
        "package",
    )
    .await;
    let (e, _) = ctx
        .tool_err(
            "get_package_docs",
            json!({"package": "no-such-package-xyz"}),
        )
        .await;
    assert_eq!(e["code"], "not_found", "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_with_context_states_shares_and_reports_a_failing_dependency() {
    // Synthetic projects (clearly marked by the simulator) depend on recorded ones:
    // find one that needs pyyaml, and pytest with its `test` extra.
    let ctx = setup_with(SimConfig {
        synthetic: 30,
        ..SimConfig::default()
    })
    .await;
    let mut chosen = None;
    for i in 0..30 {
        let name = format!("synth-{i:04}");
        let d = ctx.engine.dependencies(&name, None, None).await.unwrap();
        if d.value.provides_extra == ["test"] {
            chosen = Some(name);
            break;
        }
    }
    let name = chosen.expect("a synthetic project with a test extra");
    // pytest's project JSON fails for the whole test.
    ctx.sim.add_fault(fault("/pypi/pytest/json", 500));
    let args =
        json!({"package": name, "extras": ["test"], "python_version": "3.12", "max_tokens": 300});
    let (v, text) = ctx.ok("get_package_docs_with_context", args).await;
    let deps = &v["dependencies"];
    let items = deps["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(items[0]["package"], "pyyaml");
    assert_eq!(items[0]["provenance"]["kind"], "live");
    let failures = deps["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{v}");
    assert_eq!(failures[0]["item"], "pytest");
    assert!(
        failures[0]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    assert!(
        failures[0]["suggestion"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    // One budget: the package's Markdown plus each dependency's text.
    let share = items[0]["share_tokens"].as_u64().unwrap();
    let dep_tokens = tokens(items[0]["text"].as_str().unwrap());
    assert!(dep_tokens as u64 <= share && share <= v["dependency_budget"].as_u64().unwrap());
    let md = v["docs"]["markdown"].as_str().unwrap();
    assert_eq!(
        v["tokens"].as_u64().unwrap() as usize,
        tokens(md) + dep_tokens
    );
    assert!(tokens(md) + dep_tokens <= 300);
    assert_eq!(v["evaluated_for"]["python_version"], "3.12");
    assert!(
        text.contains("pyyaml") && text.contains("failures:"),
        "{text}"
    );
    assert!(
        text.contains(&format!("of its {share}-token share")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_docs_are_served_stale_during_an_outage() {
    let ctx = setup().await;
    let (v, _) = ctx
        .ok(
            "get_package_docs",
            json!({"package": "pytest", "max_tokens": 200}),
        )
        .await;
    let live_md = v["markdown"].as_str().unwrap().to_string();
    ctx.engine.age_cache(2 * HOURS);
    ctx.sim.add_fault(fault("/pypi/**", 503));
    let (v, text) = ctx
        .ok(
            "get_package_docs",
            json!({"package": "pytest", "max_tokens": 200}),
        )
        .await;
    assert_eq!(v["source"], "stale", "{v}");
    assert_eq!(v["markdown"], live_md.as_str());
    assert!(text.contains("stale"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_merges_items_and_failures() {
    let ctx = setup().await;
    let args = json!({"packages": ["apeye", "pymysql", "no-such-package-xyz", "not a name!"]});
    let (v, text) = ctx.ok("get_packages_overview", args.clone()).await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{v}");
    assert_eq!(items[0]["info"]["provenance"]["kind"], "live");
    assert!(items[0]["downloads"]["last_month"]["value"].is_u64());
    let failures = v["failures"].as_array().unwrap();
    assert!(failures.len() >= 2, "{v}");
    for f in failures {
        assert!(f["reason"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(f["suggestion"].as_str().is_some_and(|s| !s.is_empty()));
    }
    assert!(
        failures
            .iter()
            .any(|f| f["code"] == "not_found" && f["item"] == "no-such-package-xyz")
    );
    assert!(failures.iter().any(|f| f["code"] == "invalid_input"));
    assert_eq!(v["source"], "live");
    assert!(text.contains("2 package(s) answered"), "{text}");
    let (v, _) = ctx.ok("get_packages_overview", args).await;
    assert_eq!(v["source"], "cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_tools() {
    let ctx = setup().await;
    let (h, text) = ctx.ok("health_check", json!({})).await;
    assert_eq!(h["ready"], true);
    // The extra index is listed only when one is configured.
    assert_eq!(
        h["upstreams"].as_array().unwrap().len(),
        Upstream::ALL.len() - 1
    );
    assert!(text.starts_with("ready"), "{text}");

    let (r, _) = ctx.ok("ready_check", json!({})).await;
    assert_eq!(r["ready"], true);

    ctx.ok("get_package_info", json!({"package": "bar"})).await;
    let (m, _) = ctx.ok("get_metrics", json!({})).await;
    assert!(m["calls"].as_u64().unwrap() >= 1);
    let prom = m["prometheus"].as_str().unwrap();
    assert!(
        prom.contains("sentinel_tool_calls_total") && prom.contains("tool=\"get_package_info\""),
        "tool calls are counted by tool and outcome: {prom}"
    );
    assert!(prom.contains("sentinel_upstream_requests_total"), "{prom}");

    let (c, _) = ctx.ok("get_cache_stats", json!({})).await;
    assert!(c["entries"].as_u64().unwrap() >= 1, "{c}");

    let (r, text) = ctx.ok("refresh_cache", json!({"package": "bar"})).await;
    assert!(r["invalidated"].as_u64().unwrap() >= 1, "{r}");
    assert!(text.contains("bar"));
    // Dropped: the next answer is live again.
    let (v, _) = ctx.ok("get_package_info", json!({"package": "bar"})).await;
    assert_eq!(v["source"], "live");
    let (r, _) = ctx.ok("refresh_cache", json!({})).await;
    assert!(r["invalidated"].is_u64());
}

// ---- bad input ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_invalid_params_naming_the_parameter() {
    let ctx = setup().await;
    let bad = "not a name!";
    for tool in [
        "get_package_info",
        "get_package_versions",
        "get_package_dependencies",
        "get_package_compatible_python_versions",
        "get_download_statistics",
        "get_download_trends",
        "refresh_cache",
    ] {
        ctx.invalid(tool, json!({"package": bad}), "package").await;
    }
    ctx.invalid(
        "check_package_python_compatibility",
        json!({"package": bad, "python_version": "3.12"}),
        "package",
    )
    .await;
    ctx.invalid(
        "get_download_breakdown",
        json!({"package": bad, "by": "system"}),
        "package",
    )
    .await;

    let v = "1.0-foo-bar!!";
    for tool in [
        "get_package_info",
        "get_package_dependencies",
        "get_package_compatible_python_versions",
    ] {
        ctx.invalid(tool, json!({"package": "numpy", "version": v}), "version")
            .await;
    }
    ctx.invalid(
        "check_package_python_compatibility",
        json!({"package": "numpy", "version": v, "python_version": "3.12"}),
        "version",
    )
    .await;
    ctx.invalid(
        "check_package_python_compatibility",
        json!({"package": "numpy", "python_version": "three"}),
        "python_version",
    )
    .await;
    ctx.invalid(
        "get_package_dependencies",
        json!({"package": "numpy", "python_version": "3"}),
        "python_version",
    )
    .await;
    ctx.invalid(
        "get_package_dependencies",
        json!({"package": "numpy", "platform": "beos"}),
        "platform",
    )
    .await;
    ctx.invalid(
        "get_package_dependencies",
        json!({"package": "numpy", "extras": ["bad extra!"]}),
        "extras",
    )
    .await;

    ctx.invalid(
        "get_package_versions",
        json!({"package": "numpy", "limit": 0}),
        "limit",
    )
    .await;
    for limit in [0, -1, 1001] {
        ctx.invalid(
            "get_top_downloaded_packages",
            json!({"limit": limit}),
            "limit",
        )
        .await;
    }
    for days in [0, 181] {
        ctx.invalid(
            "get_download_trends",
            json!({"package": "numpy", "days": days}),
            "days",
        )
        .await;
        ctx.invalid(
            "get_download_breakdown",
            json!({"package": "numpy", "by": "system", "days": days}),
            "days",
        )
        .await;
    }
    ctx.invalid(
        "get_download_breakdown",
        json!({"package": "numpy", "by": "arch"}),
        "by",
    )
    .await;
    ctx.invalid(
        "get_download_statistics",
        json!({"package": "numpy", "period": "year"}),
        "period",
    )
    .await;
    ctx.invalid("get_packages_overview", json!({"packages": []}), "packages")
        .await;
    let many: Vec<String> = (0..101).map(|i| format!("p{i}")).collect();
    ctx.invalid(
        "get_packages_overview",
        json!({"packages": many}),
        "packages",
    )
    .await;

    // Nothing reached the upstreams.
    assert_eq!(ctx.sim.stats().total, 0);
    // A missing required argument is refused too (by rmcp, as a tool error).
    let r = ctx.call("get_package_info", json!({})).await;
    assert!(
        r.is_err() || r.as_ref().is_ok_and(|r| r.is_error == Some(true)),
        "{r:?}"
    );
}

// ---- not found ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_packages_are_not_found_tool_errors() {
    let ctx = setup().await;
    let missing = "no-such-package-xyz";
    for (tool, args) in [
        ("get_package_info", json!({"package": missing})),
        ("get_package_versions", json!({"package": missing})),
        ("get_package_dependencies", json!({"package": missing})),
        (
            "check_package_python_compatibility",
            json!({"package": missing, "python_version": "3.12"}),
        ),
        (
            "get_package_compatible_python_versions",
            json!({"package": missing}),
        ),
    ] {
        let (s, text) = ctx.tool_err(tool, args).await;
        assert_eq!(s["error"], "not_found", "{tool}: {s}");
        assert_eq!(s["upstream"], "pypi-json", "{tool}: {s}");
        assert!(s["suggestion"].is_string());
        assert!(
            text.contains("package \"no-such-package-xyz\" was not found on pypi-json"),
            "{tool}: {text}"
        );
    }
    let (s, _) = ctx
        .tool_err(
            "get_package_info",
            json!({"package": "numpy", "version": "999.0"}),
        )
        .await;
    assert_eq!(s["error"], "not_found", "{s}");
}

// ---- outages ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_outage_is_an_unavailable_tool_error_with_a_suggestion() {
    let ctx = setup().await;
    ctx.sim.add_fault(fault(STATS, 502));
    ctx.sim.add_fault(fault(PEPY, 502));
    for (tool, args) in [
        ("get_download_trends", json!({"package": "numpy"})),
        (
            "get_download_breakdown",
            json!({"package": "numpy", "by": "system"}),
        ),
        ("get_download_statistics", json!({"package": "django"})),
    ] {
        let (s, text) = ctx.tool_err(tool, args).await;
        assert_eq!(s["error"], "unavailable", "{tool}: {s}");
        assert!(
            s["suggestion"].as_str().is_some_and(|x| !x.is_empty()),
            "{tool}: {s}"
        );
        assert!(s["reason"].as_str().is_some_and(|x| !x.is_empty()));
        assert!(s.get("retry_after_secs").is_some(), "{tool}: {s}");
        assert!(
            text.contains("unavailable") || text.contains("deadline"),
            "{text}"
        );
    }
    // PyPI down too: metadata and versions fail the same way.
    ctx.sim.add_fault(fault("/pypi/**", 502));
    ctx.sim.add_fault(fault("/simple/**", 502));
    let (s, _) = ctx
        .tool_err("get_package_info", json!({"package": "pytz"}))
        .await;
    assert_eq!(s["error"], "unavailable", "{s}");
    let (s, _) = ctx
        .tool_err("get_package_versions", json!({"package": "pytz"}))
        .await;
    assert_eq!(s["error"], "unavailable", "{s}");
    // The overview lists the failures instead of failing.
    let (v, _) = ctx
        .ok(
            "get_packages_overview",
            json!({"packages": ["pytz", "snowballstemmer"]}),
        )
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 0);
    assert_eq!(v["failures"].as_array().unwrap().len(), 2);
    assert_eq!(v["source"], "unavailable");

    // The server is still healthy enough to report on itself.
    let (h, _) = ctx.ok("health_check", json!({})).await;
    assert_eq!(h["ready"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_outage_is_served_stale_and_says_so() {
    let ctx = setup().await;
    let (v, _) = ctx
        .ok("get_download_trends", json!({"package": "numpy"}))
        .await;
    assert_eq!(v["source"], "live");
    let (v, _) = ctx
        .ok("get_download_statistics", json!({"package": "numpy"}))
        .await;
    assert_eq!(v["source"], "live");
    let (v, _) = ctx
        .ok("get_package_info", json!({"package": "xo-gd"}))
        .await;
    assert_eq!(v["source"], "live");

    ctx.sim.add_fault(fault(STATS, 502));
    ctx.sim.add_fault(fault(PEPY, 502));
    ctx.sim.add_fault(fault("/pypi/**", 502));
    // A day later: past pypistats' next daily update (downloads stay fresh until
    // then, 24 h at most) and PyPI's 15 min.
    ctx.engine.age_cache(25 * HOURS);

    let (v, text) = ctx
        .ok("get_download_trends", json!({"package": "numpy"}))
        .await;
    assert_eq!(v["source"], "stale", "{v}");
    assert_eq!(v["provenance"]["kind"], "stale");
    assert!(v["provenance"]["reason"].is_string());
    assert!(v["age_secs"].as_u64().unwrap() >= 25 * 3600);
    assert!(text.contains("stale, 1 d old"), "{text}");

    let (v, text) = ctx
        .ok("get_download_statistics", json!({"package": "numpy"}))
        .await;
    assert_eq!(v["source"], "stale", "{v}");
    assert_eq!(v["last_month"]["provenance"]["kind"], "stale");
    assert!(text.contains("stale"), "{text}");

    let (v, _) = ctx
        .ok("get_package_info", json!({"package": "xo-gd"}))
        .await;
    assert_eq!(v["source"], "stale", "{v}");
    assert_single_datum("get_package_info", &v, "stale");
    ctx.sim.clear_faults();
}

// ---- HTTP ---------------------------------------------------------------------------

async fn http_server(
    engine: &EngineHandle,
    token: Option<&str>,
    extra: &[&str],
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let server = mcp::bind_http(
        engine.clone(),
        HttpOptions {
            auth_token: token.map(pypi_sentinel::secret::Secret::new),
            allowed_hosts: extra.iter().map(|s| s.to_string()).collect(),
            ..HttpOptions::default()
        },
    )
    .await
    .expect("binds");
    let addr = server.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    (addr, tx)
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1.0"}}}"#;

fn post_mcp(http: &reqwest::Client, addr: std::net::SocketAddr) -> reqwest::RequestBuilder {
    http.post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(INIT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_and_guards() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let engine = Engine::start(test_config(&sim)).await.unwrap();
    let http = reqwest::Client::new();

    let (addr, stop) = http_server(&engine, None, &["sentinel.test"]).await;
    let get = |path: &str| http.get(format!("http://{addr}{path}"));

    let r = get("/healthz").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h: Value = r.json().await.unwrap();
    assert_eq!(h["ready"], true);
    assert_eq!(get("/readyz").send().await.unwrap().status(), 200);
    let r = get("/metrics").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/plain; version=0.0.4"
    );

    // DNS rebinding: foreign Host or Origin.
    let r = get("/readyz")
        .header("host", "evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = get("/readyz")
        .header("host", format!("sentinel.test:{}", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "allowed extra host");
    let r = get("/readyz")
        .header("origin", "http://evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = get("/readyz")
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = post_mcp(&http, addr)
        .header("host", "evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // MCP initialise over streamable HTTP.
    let r = post_mcp(&http, addr).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.contains("pypi-sentinel"), "{body}");
    let _ = stop.send(());

    // With a token: everything but /healthz needs it.
    let (addr, stop) = http_server(&engine, Some("s3cret"), &[]).await;
    let get = |path: &str| http.get(format!("http://{addr}{path}"));
    assert_eq!(get("/healthz").send().await.unwrap().status(), 200);
    let r = get("/metrics").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = get("/metrics").bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = get("/metrics").bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(post_mcp(&http, addr).send().await.unwrap().status(), 401);
    let r = post_mcp(&http, addr)
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = stop.send(());

    // Non-loopback without a token is refused.
    let err = mcp::bind_http(
        engine.clone(),
        HttpOptions {
            addr: "0.0.0.0:0".parse().unwrap(),
            ..HttpOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("refusing to bind 0.0.0.0:0 without --auth-token"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_answers_carry_the_data_date_and_say_when_pypistats_lags() {
    let ctx = setup().await;
    let yesterday = ctx.sim.today().plus_days(-1).to_string();
    let (v, text) = ctx
        .ok("get_download_trends", json!({"package": "numpy"}))
        .await;
    assert_eq!(v["data_as_of"]["date"], yesterday.as_str(), "{v}");
    assert_eq!(v["data_as_of"]["lagging"], false);
    assert!(text.contains(&format!("data as of {yesterday}")), "{text}");
    assert!(!text.contains("lagging"), "{text}");
    let (v, text) = ctx
        .ok("get_download_statistics", json!({"package": "numpy"}))
        .await;
    assert_eq!(
        v["last_month"]["data_as_of"]["date"],
        yesterday.as_str(),
        "{v}"
    );
    assert!(text.contains(&format!("data as of {yesterday}")), "{text}");

    // pypistats 3 days behind schedule: the newest day is 4 days old.
    ctx.sim.set_pypistats_lag_days(3);
    let newest = ctx.sim.today().plus_days(-4).to_string();
    let (v, text) = ctx
        .ok(
            "get_download_breakdown",
            json!({"package": "django", "by": "system"}),
        )
        .await;
    assert_eq!(v["data_as_of"]["date"], newest.as_str(), "{v}");
    assert_eq!(v["data_as_of"]["age_days"], 4);
    assert_eq!(v["data_as_of"]["lagging"], true);
    assert!(
        text.contains("pypistats' data is lagging") && text.contains("4 days old"),
        "{text}"
    );
}

// ---- dependency tools ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_dependency_lists_each_chain_with_versions_markers_and_provenance() {
    let ctx = setup().await;
    let (v, text) = ctx
        .ok(
            "explain_dependency",
            json!({"package": "sg-markup", "requirements": ["sg-web[cli]>=1"], "python_version": "3.12"}),
        )
        .await;
    assert_eq!(v["presence"], "in_tree", "{v}");
    assert_eq!(v["version"], "3.0.0");
    assert_eq!(v["source"], "live", "provenance at the top, as every tool");
    assert_eq!(v["total_chains"], 2);
    let second = &v["chains"][1];
    assert_eq!(second[1]["from"], "sg-web");
    assert_eq!(second[1]["from_version"], "1.1.0");
    assert_eq!(second[1]["marker"], "extra == 'cli'");
    assert_eq!(second[1]["provenance"]["kind"], "live");
    assert!(
        text.contains("sg-markup 3.0.0 is in the tree by 2 chains"),
        "{text}"
    );
    assert!(
        text.contains("-> sg-web[cli] 1.1.0 requires sg-cli>=1 ; extra == 'cli'\n"),
        "{text}"
    );
    let (v, text) = ctx
        .ok(
            "explain_dependency",
            json!({"package": "sg-colour", "requirements": ["sg-web"], "platform": "linux"}),
        )
        .await;
    assert_eq!(v["presence"], "excluded_by_markers", "{v}");
    assert!(
        text.contains("EXCLUDED sg-web 1.1.0 requires sg-colour"),
        "{text}"
    );
    let e = ctx
        .call(
            "explain_dependency",
            json!({"package": "", "requirements": ["sg-web"]}),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("package"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_dependencies_and_vulnerabilities_tools() {
    let ctx = setup().await;
    let (v, text) = ctx
        .ok(
            "resolve_dependencies",
            json!({"requirements": ["sg-web"], "python_version": "3.9", "platform": "windows"}),
        )
        .await;
    assert_eq!(v["status"], "resolved", "{v}");
    assert_eq!(v["source"], "live");
    let http = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "sg-http")
        .unwrap();
    assert_eq!(http["version"], "1.1.0");
    assert_eq!(http["vulnerabilities"]["active"], 1);
    assert!(text.contains("VULNERABLE: SGSIM-2024-0001"), "{text}");
    let (v, text) = ctx
        .ok(
            "resolve_dependencies",
            json!({"requirements": ["sg-conflict"]}),
        )
        .await;
    assert_eq!(v["status"], "no_solution");
    assert!(v["conflict"].as_str().unwrap().contains("sg-shared"), "{v}");
    assert!(text.starts_with("No solution"), "{text}");
    let (v, text) = ctx
        .ok(
            "get_package_vulnerabilities",
            json!({"package": "sg-markup", "version": "2.1.5"}),
        )
        .await;
    assert_eq!(v["active"], 1);
    assert_eq!(v["fix"]["upgrade_to"], "3.0.0");
    assert_eq!(v["source"], "live");
    assert!(text.contains("not published"), "{text}");
    ctx.invalid(
        "resolve_dependencies",
        json!({"requirements": []}),
        "requirements",
    )
    .await;
    ctx.invalid(
        "resolve_dependencies",
        json!({"requirements": ["not a requirement !!"]}),
        "requirements",
    )
    .await;
    ctx.invalid(
        "resolve_dependencies",
        json!({"requirements": ["sg-web"], "python_version": "9.1"}),
        "python_version",
    )
    .await;
    for bad in [0, -3, 1001] {
        ctx.invalid(
            "resolve_dependencies",
            json!({"requirements": ["sg-web"], "max_packages": bad}),
            "max_packages",
        )
        .await;
    }
    let many: Vec<String> = (0..51).map(|i| format!("sg-tree-{i:02}")).collect();
    ctx.invalid(
        "resolve_dependencies",
        json!({ "requirements": many }),
        "requirements",
    )
    .await;
    ctx.invalid(
        "resolve_dependencies",
        json!({"requirements": ["sg-web"], "platform": "beos"}),
        "platform",
    )
    .await;
    ctx.invalid(
        "get_package_vulnerabilities",
        json!({"package": "a b"}),
        "package",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_project_and_check_package_report_vulnerabilities() {
    let ctx = setup().await;
    // On Python 3.9 sg-http 1.1.0 is installed (1.1.1 needs 3.10): vulnerable.
    let project = "sg-http>=1.0\nsg-certs\n";
    let (v, text) = ctx
        .ok(
            "audit_project",
            json!({"content": project, "filename": "requirements.txt", "python_version": "3.9"}),
        )
        .await;
    assert_eq!(v["verdict"], "findings", "{v}");
    assert_eq!(v["vulnerable"][0]["package"], "sg-http");
    assert_eq!(v["vulnerable"][0]["version"], "1.1.0");
    assert_eq!(v["vulnerable"][0]["fix"]["version"], "1.1.1");
    assert!(text.starts_with("findings: "), "{text}");
    assert!(text.contains("SGSIM-2024-0001"), "{text}");
    let (v, _) = ctx
        .ok(
            "audit_project",
            json!({"content": project, "filename": "requirements.txt", "python_version": "3.12"}),
        )
        .await;
    assert_eq!(v["verdict"], "clean", "{v}");
    // No directory is allowed over MCP by default; both inputs at once is an error.
    ctx.invalid("audit_project", json!({"path": "."}), "path")
        .await;
    ctx.invalid(
        "audit_project",
        json!({"path": ".", "content": "x", "filename": "requirements.txt"}),
        "path",
    )
    .await;
    ctx.invalid(
        "audit_project",
        json!({"content": project, "filename": "requirements.txt", "python_version": "banana"}),
        "python_version",
    )
    .await;
    // check_package reads the latest release's vulnerabilities from the project JSON.
    let (v, text) = ctx.ok("check_package", json!({"package": "sg-idna"})).await;
    assert_eq!(
        v["latest_vulnerabilities"]["value"]["version"], "4.0",
        "{v}"
    );
    assert_eq!(v["latest_vulnerabilities"]["value"]["active"], 0);
    assert!(text.contains("no known vulnerability"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_package_writes_verified_files_only_where_allowed() {
    // The default: no directory allowed, and the answer says which key to set.
    let ctx = setup().await;
    let (v, text) = ctx
        .tool_err("download_package", json!({"package": "sg-native"}))
        .await;
    assert_eq!(v["error"], "download");
    assert_eq!(v["code"], "dir_not_allowed");
    assert!(text.contains("download.allowed_dirs"), "{text}");
    assert_eq!(
        ctx.sim.stats().matching("/**"),
        0,
        "refused before any request"
    );

    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().to_path_buf();
    let ctx = setup_adjusted(SimConfig::default(), |c| {
        c.download.allowed_dirs = vec![allowed];
    })
    .await;
    let (v, text) = ctx
        .ok(
            "download_package",
            json!({"package": "sg-native", "python_version": "3.12", "platform": "macos"}),
        )
        .await;
    assert_eq!(
        v["file"]["filename"],
        "sg_native-1.1.0-cp312-cp312-macosx_11_0_arm64.whl"
    );
    assert_eq!(v["file"]["kind"], "wheel");
    assert_eq!(v["verified"], true);
    assert_eq!(v["source"], "live");
    assert_eq!(v["provenance"]["kind"], "live");
    assert_eq!(v["other_candidates"], 7);
    assert!(text.contains("verified") && text.contains("live"), "{text}");
    let path = std::path::PathBuf::from(v["path"].as_str().unwrap());
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        v["file"]["size"].as_u64().unwrap()
    );

    // Corrupt on every attempt: both digests in the structured error, nothing written.
    ctx.sim.add_fault(FaultSpec {
        route: "/files/**".into(),
        corrupt_bytes: true,
        ..Default::default()
    });
    let (v, text) = ctx
        .tool_err(
            "download_package",
            json!({"package": "sg-web", "version": "1.0.0"}),
        )
        .await;
    assert_eq!(v["code"], "corrupt");
    let d = &v["download"];
    assert_eq!(d["failure"], "corrupt");
    assert_eq!(d["attempts"], 2);
    assert_eq!(d["got"].as_array().unwrap().len(), 2);
    assert!(text.contains(d["expected"].as_str().unwrap()), "{text}");
    ctx.sim.clear_faults();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    // A hostile name, a destination outside, bad input.
    let (v, _) = ctx
        .tool_err(
            "download_package",
            json!({"package": "sg-hostile", "version": "1.0.3"}),
        )
        .await;
    assert_eq!(v["code"], "unsafe_file_name");
    let (v, _) = ctx
        .tool_err(
            "download_package",
            json!({"package": "sg-web", "dest": "/tmp"}),
        )
        .await;
    assert_eq!(v["code"], "dir_not_allowed");
    ctx.invalid(
        "download_package",
        json!({"package": "sg-web", "kind": "egg"}),
        "kind",
    )
    .await;
    ctx.invalid(
        "download_package",
        json!({"package": "sg-web", "platform": "beos"}),
        "platform",
    )
    .await;
    ctx.invalid(
        "download_package",
        json!({"package": "sg-web", "surprise": 1}),
        "surprise",
    )
    .await;
}
