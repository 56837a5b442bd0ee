//! A herd across replicas whose lease holder is `kill -9`ed mid-fetch (issue 23,
//! FLEET.md 6, A2's variant): the holder is a real `pypi-sentinel serve --http`
//! process, killed while its upstream request waits on a 2 s delay; it never releases
//! nor renews its lease, which expires within 3 s; one surviving replica takes it over
//! and fetches, the others get its copy. Exactly 2 upstream requests, every surviving
//! caller answered (within its deadline: the engine would end a call there).

mod fleet_http;
#[path = "../actors/tests/common/redis.rs"]
#[allow(dead_code)]
mod redis;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use fleet_http::{open_session, post};
use futures::future::join_all;
use pypi_sentinel::engine::{Engine, EngineConfig};
use pypi_sentinel::sim::{FaultSpec, Sim, SimConfig, SimHandle};
use redis::RedisServer;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_pypi-sentinel");

fn config(sim: &SimHandle, redis: &str, id: &str) -> EngineConfig {
    let mut cfg = fleet_http::config(sim, Some(redis), id);
    // Room for the dead holder's lease to expire (3 s) and a 2 s fetch after it.
    cfg.timeouts.attempt_ms = 8_000;
    cfg.timeouts.answer_budget_ms = 9_000;
    cfg.timeouts.deadline_ms = 12_000;
    cfg
}

/// The document leases in Redis now (values).
fn lease_values(redis: &RedisServer) -> Vec<String> {
    redis
        .cli(&["--scan", "--pattern", "*:doc:*:lease"])
        .lines()
        .filter(|k| !k.is_empty())
        .map(|k| redis.cli(&["GET", k]).trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Waits (bounded: 20 s) until `f` holds.
async fn until(mut f: impl FnMut() -> bool, what: &str) {
    for _ in 0..2000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Kills the child by its PID when dropped (the test failing half-way included).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_holder_killed_mid_fetch_costs_one_more_request_and_every_caller_is_answered() {
    let redis = RedisServer::start();
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let name = sim.package_names().into_iter().next().unwrap();
    let route = format!("/pypi/{name}/json");
    sim.add_fault(FaultSpec {
        route: route.clone(),
        latency_ms: Some(2_000),
        ..Default::default()
    });
    // The holder: the shipped binary, on a free port.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let home = tempfile::tempdir().unwrap();
    let mut holder = Child(
        Command::new(BIN)
            .args(["--origin", &sim.base_url(), "--no-store"])
            .args(["--redis-url", &redis.url(), "serve", "--http", &addr])
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .env("PYPI_SENTINEL_FLEET__REPLICA_ID", "doomed")
            .env("PYPI_SENTINEL_FLEET__OP_TIMEOUT_MS", "200")
            .env("PYPI_SENTINEL_TIMEOUTS__ATTEMPT_MS", "8000")
            .env("PYPI_SENTINEL_TIMEOUTS__DEADLINE_MS", "12000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts"),
    );
    until(
        || std::net::TcpStream::connect(&addr).is_ok(),
        "the holder listening",
    )
    .await;
    // The survivors, in this process.
    let mut engines = Vec::new();
    for i in 0..2 {
        let cfg = config(&sim, &redis.url(), &format!("survivor{i}"));
        engines.push(Engine::start(cfg).await.expect("engine starts"));
    }
    until(
        || {
            engines.iter().all(|e| {
                e.metrics()
                    .fleet
                    .is_some_and(|f| f.events_subscriptions >= 1)
            })
        },
        "the survivors subscribed",
    )
    .await;
    // The holder is asked first, over MCP.
    let session = open_session(&addr).await;
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "get_package_info", "arguments": {"package": name}}});
    let ask = post(&addr, Some(&session), call);
    let doomed_call = tokio::spawn(async move { ask.send().await?.text().await });
    until(
        || {
            lease_values(&redis)
                .iter()
                .any(|v| v.starts_with("doomed:"))
        },
        "the holder's lease",
    )
    .await;
    until(|| sim.stats().matching(&route) == 1, "the holder's request").await;
    // The survivors' herd arrives; then the holder dies mid-fetch, without a word.
    let name = name.as_str();
    let calls = engines
        .iter()
        .flat_map(|e| (0..50).map(move |_| e.package_info(name, None)));
    let killer = async {
        // Let the herd reach the lease first.
        until(
            || {
                engines
                    .iter()
                    .all(|e| e.metrics().fleet.is_some_and(|f| f.lease_waits >= 1))
            },
            "the survivors waiting on the holder's lease",
        )
        .await;
        let pid = holder.0.id().to_string();
        let killed = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(killed.success());
        let _ = holder.0.wait();
    };
    let started = std::time::Instant::now();
    let (results, ()) = futures::join!(join_all(calls), killer);
    let took = started.elapsed();
    // Its stream was cut before any answer.
    let doomed = doomed_call.await.unwrap();
    assert!(
        doomed.as_ref().map_or(true, |t| !t.contains("\"result\"")),
        "the holder answered before it was killed: {doomed:?}"
    );
    for r in &results {
        let r = r.as_ref().expect("every surviving caller is answered");
        assert!(
            matches!(r.provenance.word(), "live" | "cached"),
            "{:?}",
            r.provenance
        );
    }
    assert_eq!(
        sim.stats().matching(&route),
        2,
        "the dead holder's request and one more"
    );
    let reports: Vec<_> = engines.iter().map(|e| e.metrics().fleet.unwrap()).collect();
    let granted: u64 = reports.iter().map(|r| r.leases.granted).sum();
    let takeovers: u64 = reports.iter().map(|r| r.leases.takeovers).sum();
    assert_eq!((granted, takeovers), (1, 1), "{reports:?}");
    eprintln!(
        "killed holder: 100 surviving calls answered in {took:?}; 2 upstream requests; \
         lease waits {:?}, fill wake-ups {:?}",
        reports.iter().map(|r| r.lease_waits).collect::<Vec<_>>(),
        reports.iter().map(|r| r.fill_wakeups).collect::<Vec<_>>()
    );
    for e in engines {
        e.shutdown().await;
    }
}
