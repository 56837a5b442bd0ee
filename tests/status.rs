//! The status page over HTTP: the guard (token), no credential in `/status.json`, the
//! engine's incidents and breakers on the server-rendered page (what a browser with
//! JavaScript off shows), and `/status` with 1,000 MCP sessions open (its latency is
//! printed as a figure, not asserted). The real-browser test is
//! tests/python/test_status_browser.py.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use pypi_sentinel::engine::{Engine, EngineConfig, EngineHandle, Upstream};
use pypi_sentinel::mcp::{self, HttpOptions, sessions::BoundedSessions};
use pypi_sentinel::secret::Secret;
use pypi_sentinel::sim::{FaultSpec, Sim, SimConfig, SimHandle};
use serde_json::Value;

const TOKEN: &str = "TOKEN-SECRET-b7e1";
const PEPY_KEY: &str = "PEPY-SECRET-4c2a";
const STATS_PASSWORD: &str = "STATS-PASSWORD-91ff";

fn config(sim: &SimHandle) -> EngineConfig {
    let mut cfg = sentinel_actors::testing::sim_config(&sim.base_url());
    for up in Upstream::ALL {
        cfg.upstreams.get_mut(up).retry.max_retries = 0;
    }
    cfg.upstreams.pepy.api_key = Some(PEPY_KEY.into());
    // A base URL with a password in it, as a private mirror's might have.
    let stats = cfg.upstreams.get_mut(Upstream::Pypistats);
    stats.base_url =
        stats
            .base_url
            .replacen("http://", &format!("http://statsuser:{STATS_PASSWORD}@"), 1);
    cfg
}

async fn serve(
    engine: &EngineHandle,
    opts: HttpOptions,
) -> (
    SocketAddr,
    BoundedSessions,
    tokio::sync::oneshot::Sender<()>,
) {
    let server = mcp::bind_http(engine.clone(), opts).await.expect("binds");
    let addr = server.local_addr();
    let sessions = server.sessions();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    (addr, sessions, tx)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn get(
    c: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    let mut r = c.get(format!("http://{addr}{path}"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_needs_the_token_shows_the_outage_and_never_a_credential() {
    let _ = pypi_sentinel::telemetry::metrics_handle();
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let engine = Engine::start(config(&sim)).await.expect("engine starts");
    let opts = HttpOptions {
        auth_token: Some(Secret::new(TOKEN.to_string())),
        ..HttpOptions::default()
    };
    let (addr, _sessions, _stop) = serve(&engine, opts).await;
    let c = http();
    for path in ["/status", "/status.json", "/status?part=main"] {
        let (code, body) = get(&c, addr, path, None).await;
        assert_eq!(code, 401, "{path} without the token: {body}");
        let (code, _) = get(&c, addr, path, Some("wrong")).await;
        assert_eq!(code, 401, "{path} with a wrong token");
    }

    // pypistats answers 502 until its breaker opens (bounded: a few dozen calls).
    sim.add_fault(FaultSpec {
        route: "/api/packages/**".into(),
        status: Some(502),
        ..Default::default()
    });
    let mut opened = false;
    for _ in 0..40 {
        let _ = engine.recent_downloads("numpy").await;
        let h = engine.health().await;
        if h.upstream(Upstream::Pypistats).map(|u| u.health.breaker)
            == Some(sentinel_actors::BreakerState::Open)
        {
            opened = true;
            break;
        }
    }
    assert!(opened, "the pypistats breaker opened under a 502 storm");

    let (code, json) = get(&c, addr, "/status.json", Some(TOKEN)).await;
    assert_eq!(code, 200, "{json}");
    for secret in [TOKEN, PEPY_KEY, STATS_PASSWORD] {
        assert!(
            !json.contains(secret),
            "/status.json leaks {secret}: {json}"
        );
    }
    let v: Value = serde_json::from_str(&json).unwrap();
    let stats = v["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["upstream"] == "pypistats")
        .expect("pypistats listed")
        .clone();
    assert_eq!(stats["breaker"], "open", "{stats}");
    assert!(
        stats["failures_last_hour"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    assert!(
        stats["p50_ms"].as_u64().is_some(),
        "latency measured: {stats}"
    );
    assert_eq!(stats["last_failure"]["kind"], "http_502", "{stats}");
    assert_eq!(
        stats["breaker_timeline"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["state"],
        "open"
    );
    let trip = v["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["what"]["kind"] == "breaker_transition" && i["what"]["upstream"] == "pypistats")
        .unwrap_or_else(|| {
            panic!(
                "a pypistats transition among the incidents: {}",
                v["incidents"]
            )
        });
    assert_eq!(trip["what"]["to"], "open");
    assert_eq!(trip["what"]["cause"]["cause"], "tripped");
    assert_eq!(trip["what"]["cause"]["last_failure"]["kind"], "http_502");
    assert!(v["fleet"].is_null(), "no fleet configured");

    // The server-rendered page (what a browser shows with JavaScript off).
    let (code, html) = get(&c, addr, "/status", Some(TOKEN)).await;
    assert_eq!(code, 200);
    for secret in [TOKEN, PEPY_KEY, STATS_PASSWORD] {
        assert!(!html.contains(secret), "/status leaks {secret}");
    }
    let row = html
        .split("<tr data-upstream=\"pypistats\">")
        .nth(1)
        .expect("a pypistats row");
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("data-breaker=\"open\""), "{row}");
    assert!(row.contains("OPEN"), "the state in words: {row}");
    assert!(
        html.contains("<tr data-kind=\"breaker\">") && html.contains("tripped"),
        "an incident row with its cause"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("url(http"),
        "nothing loaded from elsewhere"
    );
    assert!(!html.contains("<link"), "no external stylesheet");

    sim.clear_faults();
    engine.shutdown().await;
    sim.shutdown().await;
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1.0"}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_answers_with_a_thousand_sessions_open() {
    let _ = pypi_sentinel::telemetry::metrics_handle();
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let engine = Engine::start(config(&sim)).await.expect("engine starts");
    let opts = HttpOptions {
        max_sessions: 1_100,
        max_connections: 2_048,
        init_timeout: Duration::from_secs(600),
        ..HttpOptions::default()
    };
    let (addr, sessions, _stop) = serve(&engine, opts).await;
    let c = http();
    let opened = futures::stream::iter(0..1_000)
        .map(|_| {
            let c = c.clone();
            async move {
                c.post(format!("http://{addr}/mcp"))
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body(INIT)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }
        })
        .buffer_unordered(16)
        .filter(|r| std::future::ready(matches!(r, Ok(200))))
        .count()
        .await;
    assert_eq!(opened, 1_000, "every session opened");
    assert_eq!(sessions.live(), 1_000);

    let mut took = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let (code, body) = get(&c, addr, "/status", None).await;
        took.push(t.elapsed());
        assert_eq!(code, 200);
        assert!(body.contains("1000 of at most 1100"), "sessions shown");
    }
    let (_, json) = get(&c, addr, "/status.json", None).await;
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["mcp"]["sessions"], 1_000);
    took.sort();
    let figure = format!(
        "GET /status with 1,000 MCP sessions open: median {:.1} ms, max {:.1} ms over 20 requests",
        took[10].as_secs_f64() * 1e3,
        took[19].as_secs_f64() * 1e3
    );
    println!("{figure}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("status-latency.txt"), format!("{figure}\n"));
    engine.shutdown().await;
    sim.shutdown().await;
}

#[test]
fn the_schema_documents_every_section() {
    let s = pypi_sentinel::status::schema();
    let props = &s["properties"];
    for key in [
        "upstreams",
        "provenance",
        "tools",
        "cache",
        "store",
        "incidents",
        "mcp",
        "fleet",
    ] {
        assert!(props.get(key).is_some(), "{key} in the schema: {s}");
    }
}

/// With `[fleet]` on, the fleet section shows this replica's view of the shared tier
/// (a real `redis-server`, Debian's package, which CI installs): shared with the gate
/// closed while Redis answers; degraded with the gate open once it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_section_follows_the_shared_tier() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let mut redis = std::process::Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (Debian's package redis-server; .ci/run installs it)");
    // Killed by its PID whatever happens below.
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let redis = Kill(&mut redis);
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let mut cfg = sentinel_actors::testing::sim_config(&sim.base_url());
    cfg.fleet.redis_url = Some(format!("redis://127.0.0.1:{port}"));
    // A first call (connect, script load) on a loaded test machine may take longer
    // than the production deadline.
    cfg.fleet.op_timeout_ms = 200;
    let engine = Engine::start(cfg).await.expect("engine starts");
    let (addr, _sessions, _stop) = serve(&engine, HttpOptions::default()).await;
    let c = http();
    let fleet = |body: String| serde_json::from_str::<Value>(&body).unwrap()["fleet"].clone();

    // Bounded: Redis may still be starting; the gate closes once it answers.
    let mut seen = Value::Null;
    for _ in 0..100 {
        let _ = engine.package_info("requests", None).await;
        let (code, body) = get(&c, addr, "/status.json", None).await;
        assert_eq!(code, 200);
        seen = fleet(body);
        if seen["mode"] == "shared" && seen["ops"][0].as_u64() > Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen["mode"], "shared", "{seen}");
    assert_eq!(seen["gate_state"], "closed", "{seen}");
    assert!(seen["round_trip_ms"].as_f64().is_some(), "{seen}");
    let (_, page) = get(&c, addr, "/status", None).await;
    assert!(page.contains("<dt>Mode</dt><dd>shared</dd>"), "{page}");

    drop(redis);
    let mut seen = Value::Null;
    for i in 0..200 {
        // New documents each time: a cached answer would not touch Redis.
        let _ = engine.invalidate(None).await;
        let _ = engine
            .versions(if i % 2 == 0 { "requests" } else { "numpy" })
            .await;
        let (_, body) = get(&c, addr, "/status.json", None).await;
        seen = fleet(body);
        if seen["gate_state"] == "open" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen["gate_state"], "open", "{seen}");
    assert_eq!(seen["mode"], "degraded", "{seen}");
    let (code, _) = get(&c, addr, "/readyz", None).await;
    assert_eq!(code, 200, "readiness never depends on Redis");
    engine.shutdown().await;
}
