//! A client's `notifications/cancelled` ends the question it cancels: the tool call's
//! future is dropped by rmcp, the router aborts the walk, and the simulator sees no
//! more requests for it. Counts, not wall-clock bounds: after the cancel, two requests
//! of the test's own through the slow route give a walk still alive the time to send
//! its next level.

use std::time::Duration;

use pypi_sentinel::engine::{Engine, EngineConfig, EngineHandle, Upstream};
use pypi_sentinel::mcp;
use pypi_sentinel::sim::{FaultSpec, Sim, SimConfig, SimHandle};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequest, CallToolRequestParams, ClientRequest};
use rmcp::service::PeerRequestOptions;
use serde_json::json;

const FILES_LATENCY_MS: u64 = 400;

async fn setup() -> (
    SimHandle,
    EngineHandle,
    rmcp::service::RunningService<rmcp::RoleClient, ()>,
) {
    let sim = Sim::start(SimConfig::default())
        .await
        .expect("simulator starts");
    let mut cfg = EngineConfig::default().with_origin(&sim.base_url());
    for up in Upstream::ALL {
        cfg.upstreams.get_mut(up).rate_limit = None;
    }
    cfg.timeouts.attempt_ms = 10_000;
    cfg.timeouts.deadline_ms = 30_000;
    cfg.store.enabled = false;
    let engine = Engine::start(cfg).await.expect("engine starts");
    let (server_io, client_io) = tokio::io::duplex(1 << 16);
    let server_engine = engine.clone();
    tokio::spawn(async move {
        let _ = mcp::serve_transport(server_engine, server_io).await;
    });
    let client = ().serve(client_io).await.expect("client initialises");
    sim.add_fault(FaultSpec {
        route: "/files/**".into(),
        latency_ms: Some(FILES_LATENCY_MS),
        ..Default::default()
    });
    (sim, engine, client)
}

async fn until_hits(sim: &SimHandle, glob: &str, n: u64) {
    for _ in 0..1000 {
        if sim.stats().matching(glob) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{glob}: fewer than {n} requests");
}

async fn through_the_slow_route(sim: &SimHandle) {
    let url = format!("{}/files/unrelated/probe.metadata", sim.base_url());
    let _ = reqwest::get(url).await.expect("the simulator answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_cancelled_over_mcp_sends_nothing_more_upstream() {
    let (sim, engine, client) = setup().await;
    let mut params = CallToolRequestParams::new("resolve_dependencies");
    if let serde_json::Value::Object(m) = json!({
        "requirements": ["sg-tree-00"],
        "python_version": "3.12",
        "platform": "linux"
    }) {
        params = params.with_arguments(m);
    }
    let handle = client
        .peer()
        .send_cancellable_request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("the call is sent");
    until_hits(&sim, "/files/**", 1).await;
    handle
        .cancel(Some("the user moved on".into()))
        .await
        .expect("the cancellation is sent");
    // The server drops the call's future on the notification; the router then aborts
    // the walk and its flights.
    let mut quiet = false;
    for _ in 0..500 {
        if engine.walks_running().await == Some(0) && engine.settle(Duration::from_millis(50)).await
        {
            quiet = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        quiet,
        "the cancelled resolution's walk or flights are still running"
    );
    let before = sim.stats().total;
    through_the_slow_route(&sim).await;
    through_the_slow_route(&sim).await;
    let after = sim.stats().total;
    assert_eq!(
        after - before,
        2,
        "only the test's own two requests; the cancelled walk sent {} more",
        after - before - 2
    );
    assert!(
        sim.stats().matching("/files/**") < 40 + 2,
        "the tree's 40 metadata files were not all fetched"
    );
    let _ = client.cancel().await;
    engine.shutdown().await;
}
