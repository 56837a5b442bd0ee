//! Shared by the product's fleet tests (`fleet_replicas.rs`, `fleet_sse.rs`,
//! `fleet_kill.rs`): a replica's configuration, and MCP over streamable HTTP by hand
//! (a POST with the headers a client sends, opening a session).

#![allow(dead_code)]

use std::fmt::Display;
use std::time::Duration;

use pypi_sentinel::engine::EngineConfig;
use pypi_sentinel::sim::SimHandle;
use serde_json::{Value, json};

/// A replica named `id` sharing `redis` (none: one replica alone).
pub fn config(sim: &SimHandle, redis: Option<&str>, id: &str) -> EngineConfig {
    let mut cfg = sentinel_actors::testing::sim_config(&sim.base_url());
    cfg.fleet.redis_url = redis.map(str::to_string);
    cfg.fleet.replica_id = id.to_string();
    // A first call on a shared 2-core machine (connect, script load) may take longer
    // than the production deadline.
    cfg.fleet.op_timeout_ms = 200;
    cfg
}

/// A client with a 20 s timeout: no test waits longer on one request.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A JSON-RPC POST to `addr`'s `/mcp`, in `session` when given (protocol 2025-06-18).
pub fn post(addr: impl Display, session: Option<&str>, body: Value) -> reqwest::RequestBuilder {
    let mut r = http()
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(body.to_string());
    if let Some(s) = session {
        r = r.header("mcp-session-id", s);
    }
    r
}

/// `initialize` and `notifications/initialized` on `addr`: the session id.
pub async fn open_session(addr: impl Display + Copy) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "fleet-test", "version": "1.0"}}});
    let r = post(addr, None, init).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let _ = r.text().await;
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(
        post(addr, Some(&id), note).send().await.unwrap().status(),
        202
    );
    id
}
