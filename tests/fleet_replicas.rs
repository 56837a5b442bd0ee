//! The product as a fleet (issue 23): replicas sharing one real `redis-server` (Debian's
//! package; `.ci/run` installs it) and one simulator. MCP sessions across replicas
//! (rmcp's `SessionStore` on Redis) and `pypi-sentinel fleet status`.

mod fleet_http;
#[path = "../actors/tests/common/redis.rs"]
#[allow(dead_code)]
mod redis;

use std::time::Duration;

use fleet_http::{config, open_session, post};
use pypi_sentinel::engine::{Engine, EngineConfig, EngineHandle};
use pypi_sentinel::mcp::{self, HttpOptions};
use pypi_sentinel::sim::{Sim, SimConfig};
use redis::RedisServer;
use serde_json::{Value, json};

async fn engine(cfg: EngineConfig) -> EngineHandle {
    Engine::start(cfg).await.expect("engine starts")
}

/// Serves `engine` over HTTP on a free loopback port until the test ends.
async fn serve(engine: &EngineHandle) -> std::net::SocketAddr {
    serve_with(engine, HttpOptions::default()).await
}

async fn serve_with(engine: &EngineHandle, opts: HttpOptions) -> std::net::SocketAddr {
    let server = mcp::bind_http(engine.clone(), opts).await.expect("binds");
    let addr = server.local_addr();
    tokio::spawn(server.run(std::future::pending::<()>()));
    addr
}

/// The JSON-RPC reply in an SSE (or JSON) body.
fn reply(body: &str) -> Value {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .chain(serde_json::from_str(body).ok())
        .find(|m| m.get("result").is_some() || m.get("error").is_some())
        .unwrap_or_else(|| panic!("no reply in {body:?}"))
}

/// `tools/call get_package_info` on `addr` within `session`: the HTTP status and reply.
async fn call(addr: std::net::SocketAddr, session: &str, package: &str) -> (u16, Option<Value>) {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "get_package_info", "arguments": {"package": package}}});
    let r = post(addr, Some(session), body).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, (status == 200).then(|| reply(&text)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_session_initialised_on_one_replica_keeps_working_on_the_others() {
    // The Prometheus recorder, installed before anything records as `serve` does.
    let _ = pypi_sentinel::telemetry::metrics_handle();
    let redis = RedisServer::start();
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let name = sim.package_names().into_iter().next().unwrap();
    let mut addrs = Vec::new();
    let mut engines = Vec::new();
    for i in 0..3 {
        let e = engine(config(&sim, Some(&redis.url()), &format!("r{i}"))).await;
        addrs.push(serve(&e).await);
        engines.push(e);
    }
    let session = open_session(addrs[0]).await;
    // The session's `initialize` is in Redis, under a hash of its id (never the id).
    let keys = redis.cli(&["--scan", "--pattern", "*:mcp:session:*"]);
    assert_eq!(keys.lines().count(), 1, "{keys}");
    assert!(!keys.contains(&session), "the session id is a key: {keys}");
    // Its next calls land on replicas 2 and 3: served there.
    for addr in &addrs[1..] {
        let (status, reply) = call(*addr, &session, &name).await;
        assert_eq!(status, 200, "session not restored on {addr}");
        let reply = reply.unwrap();
        assert!(reply.get("result").is_some(), "{reply}");
        assert_ne!(reply["result"]["isError"], json!(true), "{reply}");
    }
    // And on the first replica, as before.
    assert_eq!(call(addrs[0], &session, &name).await.0, 200);
    let restored: u64 = engines
        .iter()
        .map(|e| e.metrics().fleet.unwrap().sessions_restored)
        .sum();
    assert_eq!(restored, 2);
    // A made-up session id is still refused everywhere.
    assert_eq!(call(addrs[1], "not-a-session", &name).await.0, 404);
    // `/metrics` has the fleet's upstream requests per minute (the gauge is set each
    // time a replica reads the fleet's counters, within 5 s).
    let mut text = String::new();
    for _ in 0..1_000 {
        text = reqwest::get(format!("http://{}/metrics", addrs[0]))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("sentinel_fleet_upstream_requests_minute{upstream=\"pypi-json\"}") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        text.contains("sentinel_fleet_upstream_requests_minute{upstream=\"pypi-json\"}"),
        "{text}"
    );
    // And the shared tier's own series: Redis calls by operation and outcome, their
    // durations, the gate, the replicas seen and L2's results.
    for series in [
        "sentinel_redis_ops_total{op=\"l2_get_or_lease\",outcome=\"ok\"}",
        "sentinel_redis_op_seconds_count{op=\"heartbeat\"}",
        "sentinel_redis_gate_state 0",
        "sentinel_fleet_replicas ",
        "sentinel_fleet_l2_total{result=\"miss\"}",
        "sentinel_fleet_l2_total{result=\"hit\"}",
    ] {
        assert!(
            text.contains(series),
            "{series} missing from /metrics:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_session_counts_toward_the_cap_and_a_full_replica_answers_503() {
    let redis = RedisServer::start();
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let name = sim.package_names().into_iter().next().unwrap();
    let a = serve(&engine(config(&sim, Some(&redis.url()), "a")).await).await;
    let full = HttpOptions {
        max_sessions: 1,
        ..HttpOptions::default()
    };
    let b = serve_with(&engine(config(&sim, Some(&redis.url()), "b")).await, full).await;
    let on_b = open_session(b).await;
    let on_a = open_session(a).await;
    // b is full: a's session is refused there with 503 and Retry-After (not restored
    // past the cap, not a 500), and b's own session keeps working.
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "get_package_info", "arguments": {"package": &name}}});
    let r = post(b, Some(&on_a), body).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(call(b, &on_b, &name).await.0, 200);
    assert_eq!(call(a, &on_a, &name).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_without_the_fleet_another_replica_does_not_know_the_session() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let name = sim.package_names().into_iter().next().unwrap();
    let a = serve(&engine(config(&sim, None, "a")).await).await;
    let b = serve(&engine(config(&sim, None, "b")).await).await;
    let session = open_session(a).await;
    assert_eq!(call(b, &session, &name).await.0, 404);
    assert_eq!(call(a, &session, &name).await.0, 200);
}

/// Runs the binary with `args` and no user configuration: (exit code, stdout, stderr).
async fn cli(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let data = std::env::temp_dir().join("sentinel-fleet-cli-tests");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pypi-sentinel"))
            .args(&args)
            .env("PYPI_SENTINEL_DATA_DIR", &data)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("PYPI_SENTINEL_FLEET__REDIS_URL")
            .env("HOME", &data)
            .env("XDG_CONFIG_HOME", data.join("none"))
            .output()
            .expect("binary runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_status_shows_replicas_quota_l2_and_leases_from_redis() {
    let redis = RedisServer::start();
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let names: Vec<String> = sim.package_names().into_iter().take(2).collect();
    let mut engines = Vec::new();
    for i in 0..2 {
        let mut cfg = config(&sim, Some(&redis.url()), &format!("r{i}"));
        // pypistats' real strict windows: its slots come from the fleet quota.
        cfg.upstreams.pypistats.rate_limit = EngineConfig::default().upstreams.pypistats.rate_limit;
        engines.push(engine(cfg).await);
    }
    // Real state: two documents in L2 and two fleet quota grants.
    for n in &names {
        engines[0].package_info(n, None).await.unwrap();
        engines[1].download_trend(n, 30).await.unwrap();
    }
    for _ in 0..500 {
        if engines
            .iter()
            .map(|e| e.metrics().fleet.unwrap().l2_writes)
            .sum::<u64>()
            >= 4
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The fleet's upstream requests are written within a second.
    for _ in 0..500 {
        if engines
            .iter()
            .all(|e| !e.metrics().fleet.unwrap().upstream_requests.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Leases are held only while a replica fetches: planted, as a replica writes them.
    redis.cli(&[
        "SET",
        "pypi-sentinel:v1:{probe:pypistats:0123456789abcdef}",
        "r7",
        "PX",
        "60000",
    ]);
    redis.cli(&[
        "SET",
        "pypi-sentinel:v1:doc:pypi-json:0123456789abcdef:00ff:lease",
        "r8",
        "PX",
        "60000",
    ]);

    let args = |json: bool| {
        let mut a = vec![
            "--origin".to_string(),
            sim.base_url(),
            "--redis-url".into(),
            redis.url(),
        ];
        a.extend(["fleet".to_string(), "status".to_string()]);
        if json {
            a.push("--json".into());
        }
        a
    };
    let (code, out, err) = cli(args(true)).await;
    assert_eq!(code, 0, "{err}");
    let s: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let ids: Vec<&str> = s["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"r0") && ids.contains(&"r1") && ids.len() == 2,
        "{s}"
    );
    assert_eq!(s["l2"]["documents"], json!(4), "{s}");
    assert_eq!(s["l2"]["by_upstream"]["pypi-json"], json!(2), "{s}");
    assert_eq!(s["l2"]["by_upstream"]["pypistats"], json!(2), "{s}");
    assert!(s["l2"]["bytes"].as_u64().unwrap() > 0, "{s}");
    let quota = s["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["upstream"] == json!("pypistats"))
        .unwrap_or_else(|| panic!("no pypistats quota: {s}"));
    // Both windows (per second, per minute) saw the two grants of this run.
    assert_eq!(quota["windows"][1]["used"], json!(2), "{s}");
    assert_eq!(quota["windows"][1]["limit"], json!(30), "{s}");
    assert!(quota["next_slot_ms"].as_i64().unwrap() >= 0);
    assert_eq!(s["leases_held"], json!(1), "{s}");
    assert_eq!(s["leases"][0]["holder"], json!("r8"), "{s}");
    assert_eq!(s["probe_leases"][0]["holder"], json!("r7"), "{s}");
    assert!(
        s["probe_leases"][0]["upstream"]
            .as_str()
            .unwrap()
            .starts_with("pypistats"),
        "{s}"
    );
    // The text says the same for people, and never the password.
    let (code, text, _) = cli(args(false)).await;
    assert_eq!(code, 0);
    assert!(text.contains("replicas seen in 5 min: 2"), "{text}");
    assert!(text.contains("L2: 4 documents"), "{text}");
    assert!(text.contains("quota pypistats: "), "{text}");
    assert!(text.contains("probe leases held: 1"), "{text}");
    assert!(
        text.contains("breakers closed on every replica: pypi-json"),
        "{text}"
    );
    assert!(
        text.contains("fleet upstream requests per minute, last 10 minutes"),
        "{text}"
    );
    let minutes = s["upstream_requests"][0]["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 10, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_status_without_a_redis_url_is_a_configuration_error_and_a_dead_redis_unavailable() {
    let (code, out, err) = cli(vec!["fleet".into(), "status".into(), "--json".into()]).await;
    assert_eq!(code, 5, "{out} {err}");
    assert!(err.contains("redis_url"), "{err}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}");
    let (code, _, err) = cli(vec![
        "--redis-url".into(),
        url,
        "fleet".into(),
        "status".into(),
    ])
    .await;
    assert_eq!(code, 4, "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
