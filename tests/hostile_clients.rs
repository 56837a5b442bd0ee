//! Hostile clients and leaked secrets: each test reproduces one attack from the
//! security review and is named after it. Bounded in time: every wait has a timeout of
//! a few seconds, and the HTTP bounds are configured small.

use std::io::{Read, Write};
use std::time::Duration;

use pypi_sentinel::engine::{Engine, EngineConfig, EngineHandle, Upstream};
use pypi_sentinel::mcp::{self, HttpOptions};
use pypi_sentinel::secret::Secret;
use pypi_sentinel::sim::{FaultSpec, Sim, SimConfig, SimHandle};
use rmcp::model::{CallToolRequestParams, ErrorCode, ReadResourceRequestParams, ResourceContents};
use rmcp::service::{RoleClient, RunningService};
use rmcp::{ServiceError, ServiceExt};
use serde_json::{Value, json};

type Client = RunningService<RoleClient, ()>;

const BIN: &str = env!("CARGO_BIN_EXE_pypi-sentinel");

fn config(sim: &SimHandle) -> EngineConfig {
    let mut cfg = sentinel_actors::testing::sim_config(&sim.base_url());
    for up in Upstream::ALL {
        cfg.upstreams.get_mut(up).retry.max_retries = 0;
    }
    // Long enough that a hanging upstream is still hanging when a test cancels.
    cfg.timeouts.attempt_ms = 10_000;
    cfg.timeouts.deadline_ms = 10_000;
    cfg
}

async fn engine_with(cfg_of: impl FnOnce(&SimHandle) -> EngineConfig) -> (SimHandle, EngineHandle) {
    let _ = pypi_sentinel::telemetry::metrics_handle();
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let engine = Engine::start(cfg_of(&sim)).await.expect("engine starts");
    (sim, engine)
}

/// An rmcp client talking to the server in-process over a duplex pipe.
async fn stdio_like_client(engine: &EngineHandle) -> Client {
    let (server_io, client_io) = tokio::io::duplex(1 << 16);
    let e = engine.clone();
    tokio::spawn(async move {
        let _ = mcp::serve_transport(e, server_io).await;
    });
    ().serve(client_io).await.expect("client initialises")
}

async fn call(
    client: &Client,
    tool: &str,
    args: Value,
) -> Result<rmcp::model::CallToolResult, ServiceError> {
    let mut p = CallToolRequestParams::new(tool.to_string());
    if let Value::Object(m) = args {
        p = p.with_arguments(m);
    }
    tokio::time::timeout(Duration::from_secs(15), client.call_tool(p))
        .await
        .unwrap_or_else(|_| panic!("{tool} did not answer"))
}

/// The `invalid_params` error data of a call that must be refused.
async fn invalid_data(client: &Client, tool: &str, args: Value) -> (String, Value) {
    match call(client, tool, args.clone()).await {
        Err(ServiceError::McpError(e)) => {
            assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{tool} {args}: {e:?}");
            (e.message.to_string(), e.data.expect("error data"))
        }
        other => panic!("{tool} {args}: expected invalid_params, got {other:?}"),
    }
}

// ---- arguments ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrongly_typed_or_missing_arguments_are_invalid_params_naming_the_param() {
    let (_sim, engine) = engine_with(config).await;
    let client = stdio_like_client(&engine).await;
    let cases = [
        (
            "get_package_info",
            json!({"package": 5}),
            "package",
            "must be a string",
        ),
        (
            "get_top_downloaded_packages",
            json!({"limit": "5"}),
            "limit",
            "must be an integer",
        ),
        ("get_package_info", json!({}), "package", "is required"),
        (
            "get_package_versions",
            json!({"package": "x", "include_yanked": "no"}),
            "include_yanked",
            "must be a boolean",
        ),
        (
            "get_packages_overview",
            json!({"packages": "numpy"}),
            "packages",
            "must be an array",
        ),
    ];
    for (tool, args, param, rule) in cases {
        let (_, data) = invalid_data(&client, tool, args.clone()).await;
        assert_eq!(data["param"], param, "{tool} {args}: {data}");
        assert!(
            data["rule"].as_str().is_some_and(|r| r.starts_with(rule)),
            "{tool} {args}: {data}"
        );
        assert!(data.get("value").is_some(), "{data}");
    }
    let (_, data) = invalid_data(
        &client,
        "get_packages_overview",
        json!({"packages": ["a", 7]}),
    )
    .await;
    assert_eq!(data["param"], "packages[1]", "{data}");
    assert_eq!(data["value"], "7", "{data}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_four_megabyte_name_is_echoed_truncated() {
    let (sim, engine) = engine_with(config).await;
    let client = stdio_like_client(&engine).await;
    let huge = "a".repeat(4 << 20);
    for args in [
        json!({"package": huge}),
        json!({"package": "requests", "version": huge}),
        json!({"package": "requests", "python_version": huge}),
    ] {
        let tool = if args.get("python_version").is_some() {
            "check_package_python_compatibility"
        } else {
            "get_package_info"
        };
        let (message, data) = invalid_data(&client, tool, args).await;
        assert!(message.len() < 1_000, "message of {} bytes", message.len());
        let value = data["value"].as_str().unwrap();
        assert!(value.len() < 1_000, "value of {} bytes", value.len());
        assert!(value.ends_with("more characters)"), "{value:.300}");
    }
    // Wrongly typed huge values too (serde would echo them whole).
    let (message, data) = invalid_data(
        &client,
        "get_top_downloaded_packages",
        json!({"limit": huge}),
    )
    .await;
    assert!(message.len() < 1_000 && data.to_string().len() < 1_000);
    assert_eq!(sim.stats().total, 0, "no upstream request for bad input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_four_is_refused_by_every_tool_that_takes_a_python() {
    let (sim, engine) = engine_with(config).await;
    let client = stdio_like_client(&engine).await;
    for bad in ["4.0", "1.5", "3", "3.x", "10.1"] {
        for (tool, args) in [
            (
                "check_package_python_compatibility",
                json!({"package": "django", "python_version": bad}),
            ),
            (
                "get_package_dependencies",
                json!({"package": "django", "python_version": bad}),
            ),
        ] {
            let (_, data) = invalid_data(&client, tool, args).await;
            assert_eq!(data["param"], "python_version", "{tool} {bad}: {data}");
            assert!(
                data["rule"].as_str().unwrap().contains("2.x or 3.x"),
                "{data}"
            );
        }
    }
    assert_eq!(sim.stats().total, 0);
    let r = call(
        &client,
        "check_package_python_compatibility",
        json!({"package": "django", "python_version": "3.12"}),
    )
    .await
    .expect("3.12 is a Python");
    assert_ne!(r.is_error, Some(true));
}

// ---- metrics ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_tool_names_do_not_become_metric_labels() {
    let (_sim, engine) = engine_with(config).await;
    let client = stdio_like_client(&engine).await;
    for i in 0..300 {
        let r = call(&client, &format!("evil-tool-{i}"), json!({})).await;
        assert!(r.is_err(), "an unknown tool is an error");
    }
    let text = pypi_sentinel::telemetry::render_metrics();
    assert!(!text.contains("evil-tool-"), "client strings in /metrics");
    assert!(
        text.contains("tool=\"unknown\""),
        "unknown tools counted under one label"
    );
}

// ---- cancellation -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_drops_its_future_and_the_upstream_fetch() {
    let (sim, engine) = engine_with(config).await;
    for route in ["/pypi/**", "/simple/**"] {
        sim.add_fault(FaultSpec {
            hang: true,
            ..FaultSpec::on(route)
        });
    }
    let client = stdio_like_client(&engine).await;
    let mut p = CallToolRequestParams::new("get_package_info");
    p = p.with_arguments(json!({"package": "numpy"}).as_object().unwrap().clone());
    // Dropping the client's call sends notifications/cancelled.
    let gave_up = tokio::time::timeout(Duration::from_millis(500), client.call_tool(p)).await;
    assert!(gave_up.is_err(), "the upstream hangs");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let h = engine.health().await;
        let cancelled = h.upstream(Upstream::PypiJson).unwrap().requests.cancelled;
        if cancelled >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fetch was not cancelled: the tool's future outlived the client's cancellation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- HTTP ---------------------------------------------------------------------------

async fn serve(
    engine: &EngineHandle,
    opts: HttpOptions,
) -> (
    std::net::SocketAddr,
    mcp::sessions::BoundedSessions,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let server = mcp::bind_http(engine.clone(), opts).await.expect("binds");
    let addr = server.local_addr();
    let sessions = server.sessions();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    (addr, sessions, tx, task)
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1.0"}}}"#;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn post(
    c: &reqwest::Client,
    addr: std::net::SocketAddr,
    session: Option<&str>,
    body: String,
) -> reqwest::RequestBuilder {
    let mut r = c
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(body);
    if let Some(s) = session {
        r = r.header("mcp-session-id", s);
    }
    r
}

/// Opens a session (initialize); with `initialized`, completes the handshake.
async fn open_session(
    c: &reqwest::Client,
    addr: std::net::SocketAddr,
    initialized: bool,
) -> reqwest::Response {
    let r = post(c, addr, None, INIT.into()).send().await.unwrap();
    if r.status() != 200 || !initialized {
        return r;
    }
    let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let n = post(c, addr, Some(&id), note).send().await.unwrap();
    assert_eq!(n.status(), 202);
    r
}

/// The JSON-RPC messages of an SSE (or JSON) reply body.
fn messages(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .chain(serde_json::from_str(body).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_flood_is_capped_with_503_and_delete_answers_204() {
    let (_sim, engine) = engine_with(config).await;
    let opts = HttpOptions {
        max_sessions: 3,
        ..HttpOptions::default()
    };
    let (addr, sessions, _stop, _task) = serve(&engine, opts).await;
    let c = http();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = open_session(&c, addr, true).await;
        assert_eq!(r.status(), 200);
        ids.push(r.headers()["mcp-session-id"].to_str().unwrap().to_string());
    }
    assert_eq!(sessions.live(), 3);
    let r = open_session(&c, addr, true).await;
    assert_eq!(r.status(), 503, "the fourth session is refused");
    assert!(r.headers().contains_key("retry-after"));

    // Closing a session answers what the official clients expect, and frees a place.
    let d = c
        .delete(format!("http://{addr}/mcp"))
        .header("mcp-session-id", &ids[0])
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(d.status(), 204);
    assert_eq!(sessions.live(), 2);
    assert_eq!(open_session(&c, addr, true).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_that_never_send_initialized_are_reaped() {
    let (_sim, engine) = engine_with(config).await;
    let opts = HttpOptions {
        init_timeout: Duration::from_millis(500),
        ..HttpOptions::default()
    };
    let (addr, sessions, _stop, _task) = serve(&engine, opts).await;
    let c = http();
    for _ in 0..5 {
        assert_eq!(open_session(&c, addr, false).await.status(), 200);
    }
    assert_eq!(open_session(&c, addr, true).await.status(), 200);
    assert_eq!(sessions.live(), 6);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sessions.live() > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "half-open sessions still live: {}",
            sessions.live()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(sessions.live(), 1, "the initialized session stays");
}

/// A JSON-RPC `ping` whose body is `pad` bytes larger than a bare one.
fn padded_ping(id: u64, pad: usize) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "ping", "params": {"_meta": {"pad": "x".repeat(pad)}}})
        .to_string()
}

/// Whether a reply carries a JSON-RPC result for `id`.
async fn answered(r: reqwest::Response, id: u64) -> bool {
    r.status() == 200
        && messages(&r.text().await.unwrap())
            .iter()
            .any(|m| m["id"] == id && m.get("result").is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_that_never_finishes_holds_back_only_other_large_bodies() {
    let (_sim, engine) = engine_with(config).await;
    let opts = HttpOptions {
        large_body_wait: Duration::from_millis(300),
        ..HttpOptions::default()
    };
    let (addr, _sessions, _stop, _task) = serve(&engine, opts).await;
    let c = http();
    let r = open_session(&c, addr, true).await;
    let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();

    // A large body whose head promises 1 MB and whose first kilobyte is all that comes.
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMcp-Protocol-Version: 2025-06-18\r\n\
         Mcp-Session-Id: {id}\r\nContent-Length: 1048576\r\n\r\n{{\"pad\": \"{}",
        "x".repeat(1024)
    );
    let mut stalled = std::net::TcpStream::connect(addr).unwrap();
    stalled.write_all(head.as_bytes()).unwrap();

    // Another large body waits its turn, then is refused with 503 and Retry-After. The
    // stalled one may not hold the turn yet when the first tries: try until it does.
    let mut refused = None;
    for attempt in 0..50 {
        let r = post(&c, addr, Some(&id), padded_ping(100 + attempt, 300 * 1024))
            .send()
            .await
            .unwrap();
        if r.status() == 503 {
            refused = Some(r);
            break;
        }
        assert!(
            answered(r, 100 + attempt).await,
            "a large ping is answered or refused"
        );
    }
    let refused = refused.expect("a large body behind a stalled one is refused");
    assert!(refused.headers().contains_key("retry-after"));

    // A small request is not held back at all.
    let small = post(&c, addr, Some(&id), padded_ping(7, 0))
        .send()
        .await
        .unwrap();
    assert!(
        answered(small, 7).await,
        "a small request is answered while a large body stalls"
    );

    // Once the stalled client goes away, large bodies are read again.
    drop(stalled);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = post(&c, addr, Some(&id), padded_ping(8, 300 * 1024))
            .send()
            .await
            .unwrap();
        if r.status() != 503 {
            assert!(answered(r, 8).await, "a large ping is answered");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "large bodies stay refused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads until EOF or `limit`; returns whether the server closed the connection.
fn closed_within(stream: &mut std::net::TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_and_idle_connections_are_closed() {
    let (_sim, engine) = engine_with(config).await;
    let opts = HttpOptions {
        header_read_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(1),
        ..HttpOptions::default()
    };
    let (addr, _sessions, _stop, _task) = serve(&engine, opts).await;
    tokio::task::spawn_blocking(move || {
        // Slowloris: a request head that never ends.
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").unwrap();
        let started = std::time::Instant::now();
        assert!(closed_within(&mut s, Duration::from_secs(3)), "half-sent headers held the connection");
        assert!(started.elapsed() < Duration::from_secs(2));
        // A connection that never says anything.
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        assert!(closed_within(&mut s, Duration::from_secs(3)), "an idle connection was kept");
        // A body that never arrives (the head is complete, so only the idle timeout helps).
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(
            b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{",
        )
        .unwrap();
        assert!(closed_within(&mut s, Duration::from_secs(4)), "a stalled body held the connection");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed() {
    let (_sim, engine) = engine_with(config).await;
    let opts = HttpOptions {
        max_connections: 2,
        ..HttpOptions::default()
    };
    let (addr, _sessions, _stop, _task) = serve(&engine, opts).await;
    tokio::task::spawn_blocking(move || {
        let _a = std::net::TcpStream::connect(addr).unwrap();
        let _b = std::net::TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        assert!(
            closed_within(&mut c, Duration::from_secs(2)),
            "a third connection was served"
        );
    })
    .await
    .unwrap();
    // Once they go, new connections are served again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = http()
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Starts `n` calls of get_package_info on one session; returns their reply bodies.
async fn calls_in_flight(
    addr: std::net::SocketAddr,
    n: usize,
) -> Vec<tokio::task::JoinHandle<String>> {
    let c = http();
    let r = open_session(&c, addr, true).await;
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    (0..n)
        .map(|i| {
            let c = c.clone();
            let session = session.clone();
            tokio::spawn(async move {
                let body = json!({"jsonrpc": "2.0", "id": 100 + i, "method": "tools/call",
                    "params": {"name": "get_package_info", "arguments": {"package": format!("pkg-{i}")}}});
                let r = post(&c, addr, Some(&session), body.to_string()).send().await.unwrap();
                r.text().await.unwrap_or_default()
            })
        })
        .collect()
}

fn reply_of(body: &str) -> Value {
    messages(body)
        .into_iter()
        .find(|m| m.get("result").is_some() || m.get("error").is_some())
        .unwrap_or_else(|| panic!("no reply in the stream: {body:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_calls_in_flight_loses_no_reply() {
    let (sim, engine) = engine_with(config).await;
    // Slow but within the grace: every call gets its result.
    sim.add_fault(FaultSpec {
        latency_ms: Some(800),
        ..FaultSpec::on("/pypi/**")
    });
    let opts = HttpOptions {
        shutdown_grace: Duration::from_secs(5),
        ..HttpOptions::default()
    };
    let (addr, _sessions, stop, task) = serve(&engine, opts).await;
    let calls = calls_in_flight(addr, 5).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = stop.send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // No new session while draining.
    assert_eq!(open_session(&http(), addr, false).await.status(), 503);
    for c in calls {
        let reply = reply_of(&c.await.unwrap());
        assert!(reply.get("result").is_some(), "{reply}");
    }
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_calls_past_the_grace_with_an_error() {
    let (sim, engine) = engine_with(config).await;
    for route in ["/pypi/**", "/simple/**"] {
        sim.add_fault(FaultSpec {
            hang: true,
            ..FaultSpec::on(route)
        });
    }
    let opts = HttpOptions {
        shutdown_grace: Duration::from_millis(500),
        hard_deadline: Duration::from_secs(1),
        ..HttpOptions::default()
    };
    let (addr, _sessions, stop, task) = serve(&engine, opts).await;
    let calls = calls_in_flight(addr, 4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = tokio::time::Instant::now();
    let _ = stop.send(());
    for c in calls {
        let reply = reply_of(&c.await.unwrap());
        let error = reply.get("error").unwrap_or_else(|| panic!("{reply}"));
        assert_eq!(error["data"]["error"], "shutting_down", "{reply}");
    }
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the server stops within its deadlines")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(4));
}

// ---- secrets ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_in_a_refused_requirement_is_not_echoed_in_the_error() {
    let (_sim, engine) = engine_with(config).await;
    let client = stdio_like_client(&engine).await;
    for req in [
        "pkg @ https://user:s3cr3tT0k3n@h.invalid/p.whl",
        "pkg @ https://h.invalid/p.whl?access_token=s3cr3tT0k3n",
    ] {
        let (message, data) = invalid_data(
            &client,
            "resolve_dependencies",
            json!({"requirements": [req]}),
        )
        .await;
        assert!(!message.contains("s3cr3tT0k3n"), "{message}");
        assert!(!data.to_string().contains("s3cr3tT0k3n"), "{data}");
        assert!(data.to_string().contains("***"), "{data}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_in_base_urls_never_leaks() {
    let (_sim, engine) = engine_with(|sim| {
        let mut cfg = config(sim);
        let url = sim.base_url().replace("http://", "http://user:hunter2@");
        cfg.upstreams.pypistats.base_url = url;
        cfg
    })
    .await;
    // The tool and the resource.
    let client = stdio_like_client(&engine).await;
    let r = call(&client, "health_check", json!({})).await.unwrap();
    let all = format!("{:?} {:?}", r.content, r.structured_content);
    assert!(!all.contains("hunter2"), "health_check leaks: {all:.400}");
    assert!(all.contains("***@"));
    let res = client
        .read_resource(ReadResourceRequestParams::new(mcp::HEALTH_RESOURCE_URI))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &res.contents[0] else {
        panic!("text resource")
    };
    assert!(!text.contains("hunter2"));

    // /healthz: without the token only ok / not ok; with it, redacted.
    let opts = HttpOptions {
        auth_token: Some(Secret::new("t0ken")),
        ..HttpOptions::default()
    };
    let (addr, _sessions, _stop, _task) = serve(&engine, opts).await;
    let r = http()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body == "ok" || body == "not ok", "{body}");
    let r = http()
        .get(format!("http://{addr}/healthz"))
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(
        body.contains("upstreams") && !body.contains("hunter2"),
        "{body:.400}"
    );
}

#[test]
fn secrets_from_the_environment_that_look_like_numbers_are_strings_and_never_printed() {
    let env = vec![
        (
            "PYPI_SENTINEL_UPSTREAMS__PEPY__API_KEY".to_string(),
            "12345".to_string(),
        ),
        (
            "PYPI_SENTINEL_UPSTREAMS__PEPY__ENABLED".to_string(),
            "true".to_string(),
        ),
    ];
    let loaded = pypi_sentinel::config::load_with_env(None, &Default::default(), env).unwrap();
    assert_eq!(
        loaded.engine.upstreams.pepy.api_key.as_deref(),
        Some("12345")
    );
    assert!(loaded.engine.upstreams.pepy.enabled);

    // `config check` shows neither the key nor a password in a base URL.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["config", "check"])
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("PYPI_SENTINEL_UPSTREAMS__PEPY__API_KEY", "987654321")
        .env(
            "PYPI_SENTINEL_UPSTREAMS__PYPI_JSON__BASE_URL",
            "https://me:hunter2@mirror.example",
        )
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(
        !all.contains("987654321") && !all.contains("hunter2"),
        "{all}"
    );
    assert!(all.contains("https://***@mirror.example"), "{all}");

    // A refused value does not print the password either.
    let out = std::process::Command::new(BIN)
        .args(["config", "check"])
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env(
            "PYPI_SENTINEL_UPSTREAMS__PYPI_JSON__BASE_URL",
            "ftp://me:hunter2@mirror.example",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
}

// ---- stdio --------------------------------------------------------------------------

#[test]
fn sigterm_ends_stdio_serving_while_the_host_keeps_stdin_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(BIN)
        .args(["--origin", "http://127.0.0.1:9", "serve"])
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take(); // held open, as a host does
    std::thread::sleep(Duration::from_millis(800));
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success() || status.code().is_some(), "{status:?}");
            break;
        }
        if started.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("serve over stdio ignored SIGTERM while stdin stayed open");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
