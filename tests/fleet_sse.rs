//! Resumable SSE across replicas (issue 23 item 6): rmcp's `EventStore` on a real
//! `redis-server`. A client whose SSE stream is cut on one replica reconnects with
//! `Last-Event-ID` to another and receives the events after that id, as sent.

mod fleet_http;
#[path = "../actors/tests/common/redis.rs"]
#[allow(dead_code)]
mod redis;

use std::time::Duration;

use fleet_http::{config, http, open_session, post};
use futures::StreamExt;
use pypi_sentinel::engine::{Engine, EngineConfig, EngineHandle};
use pypi_sentinel::mcp::{self, HttpOptions};
use pypi_sentinel::sim::{Sim, SimConfig};
use redis::RedisServer;
use serde_json::{Value, json};

async fn replica(cfg: EngineConfig) -> (EngineHandle, std::net::SocketAddr) {
    let engine = Engine::start(cfg).await.expect("engine starts");
    let server = mcp::bind_http(engine.clone(), HttpOptions::default())
        .await
        .expect("binds");
    let addr = server.local_addr();
    tokio::spawn(server.run(std::future::pending::<()>()));
    (engine, addr)
}

/// One SSE event: its id and its data (JSON), when it has them.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    id: Option<String>,
    data: Option<Value>,
}

fn events(body: &str) -> Vec<Event> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            Event {
                id: field("id:"),
                data: field("data:").and_then(|d| serde_json::from_str(&d).ok()),
            }
        })
        .filter(|e| e.id.is_some() || e.data.is_some())
        .collect()
}

fn tool_call(id: u64, package: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "get_package_info", "arguments": {"package": package}}})
}

/// `GET /mcp` with `Last-Event-ID` on `addr`: the events replayed.
async fn resume(addr: std::net::SocketAddr, session: &str, last: &str) -> (u16, Vec<Event>) {
    let r = http()
        .get(format!("http://{addr}/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .header("mcp-session-id", session)
        .header("last-event-id", last)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, events(&r.text().await.unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_sse_stream_resumes_on_another_replica_with_the_events_after_last_event_id() {
    let redis = RedisServer::start();
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let names: Vec<String> = sim.package_names().into_iter().take(2).collect();
    let (_a, a) = replica(config(&sim, Some(&redis.url()), "a")).await;
    let (b_engine, b) = replica(config(&sim, Some(&redis.url()), "b")).await;
    let session = open_session(a).await;

    // 1. A whole stream read on replica a: a priming event then the answer, each with
    // an id from the fleet's store (`<tag>.<redis id>`, one tag per stream).
    let body = post(a, Some(&session), tool_call(7, &names[0]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sent = events(&body);
    assert_eq!(sent.len(), 2, "{body}");
    assert!(sent[0].data.is_none(), "priming first: {body}");
    let answer = &sent[1];
    assert_eq!(answer.data.as_ref().unwrap()["id"], json!(7), "{body}");
    let (first, second) = (sent[0].id.clone().unwrap(), answer.id.clone().unwrap());
    assert_eq!(
        first.split_once('.').unwrap().0,
        second.split_once('.').unwrap().0
    );
    // Resumed on replica b after the priming event: exactly the answer, same id, same
    // bytes (b never ran the call: it came from Redis).
    let (status, replayed) = resume(b, &session, &first).await;
    assert_eq!(status, 200);
    assert_eq!(replayed, vec![answer.clone()]);
    // After the last event: nothing more.
    assert_eq!(resume(b, &session, &second).await, (200, vec![]));

    // 2. A stream cut after its priming event (the client reads one event and drops the
    // connection): the answer, computed on a, is received from b.
    let r = post(a, Some(&session), tool_call(8, &names[1]))
        .send()
        .await
        .unwrap();
    let mut chunks = r.bytes_stream();
    let mut seen = String::new();
    let last = loop {
        let chunk = chunks.next().await.expect("stream open").unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(id) = events(&seen).into_iter().find_map(|e| e.id) {
            break id;
        }
    };
    drop(chunks);
    // The answer is stored when a finishes the call: poll (bounded) for it.
    let mut got = Vec::new();
    for _ in 0..200 {
        let (status, replayed) = resume(b, &session, &last).await;
        assert_eq!(status, 200);
        if !replayed.is_empty() {
            got = replayed;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got.len(), 1, "{got:?}");
    let reply = got[0].data.as_ref().unwrap();
    assert_eq!(reply["id"], json!(8), "{reply}");
    assert!(reply["result"]["content"].is_array(), "{reply}");
    assert_ne!(reply["result"]["isError"], json!(true), "{reply}");
    assert!(b_engine.metrics().fleet.unwrap().sse_replays >= 3);

    // 3. Ids a client may send that are not the fleet's: an empty stream (rmcp's answer
    // to a failed resume), never an error page, a panic, or another stream's events.
    let tag = first.split_once('.').unwrap().0;
    for bad in [
        "0".to_string(),
        "local-0".into(),
        format!("{tag}.1-0"),              // not in the stream
        format!("{tag}x.1-0"),             // malformed tag
        format!("{}.1-0", "f".repeat(32)), // no such stream
    ] {
        assert_eq!(resume(b, &session, &bad).await, (200, vec![]), "{bad}");
    }
    // Planted garbage in the stream: the replay is refused (an error to rmcp: empty).
    let key = redis.cli(&["--scan", "--pattern", &format!("*:mcp:sse:{tag}")]);
    assert_eq!(key.lines().count(), 1, "{key}");
    let planted = redis.cli(&["XADD", &key, "*", "d", "{not json"]);
    assert!(planted.contains('-'), "{planted}");
    assert_eq!(resume(b, &session, &second).await, (200, vec![]));
    // Each stream's key has a TTL.
    let ttl: i64 = redis.cli(&["PTTL", &key]).parse().unwrap();
    assert!(ttl > 0, "{ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_a_replica_still_answers_over_sse_and_says_so() {
    let mut redis = RedisServer::start();
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let name = sim.package_names().into_iter().next().unwrap();
    let (engine, a) = replica(config(&sim, Some(&redis.url()), "a")).await;
    let session = open_session(a).await;
    redis.kill();
    // Every call still answered; its events kept in this replica's memory, so a resume
    // here still works (as on one replica without the fleet).
    for i in 0..5 {
        let body = post(a, Some(&session), tool_call(10 + i, &name))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let sent = events(&body);
        let answer = sent
            .iter()
            .find(|e| e.data.is_some())
            .unwrap_or_else(|| panic!("no answer: {body}"));
        assert_eq!(answer.data.as_ref().unwrap()["id"], json!(10 + i), "{body}");
        assert!(
            answer.id.as_deref().unwrap().starts_with("local-"),
            "{body}"
        );
        assert_eq!(
            resume(a, &session, answer.id.as_deref().unwrap()).await,
            (200, vec![])
        );
    }
    let fleet = engine.metrics().fleet.unwrap();
    assert_eq!(fleet.mode, "degraded", "{fleet:?}");
    assert!(fleet.last_error.is_some(), "{fleet:?}");
}

/// A 2026-07-28 (stateless) `tools/call` on `addr`: no session, the protocol in the
/// headers and in `_meta`.
fn stateless_call(addr: std::net::SocketAddr, id: u64, package: &str) -> reqwest::RequestBuilder {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
    "name": "get_package_info", "arguments": {"package": package},
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "fleet-sse-test", "version": "1.0"},
        "io.modelcontextprotocol/clientCapabilities": {}
    }}});
    http()
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "get_package_info")
        .body(body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_request_stream_resumes_on_another_replica_without_a_session() {
    let redis = RedisServer::start();
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let name = sim.package_names().into_iter().next().unwrap();
    let (_a, a) = replica(config(&sim, Some(&redis.url()), "a")).await;
    let (_b, b) = replica(config(&sim, Some(&redis.url()), "b")).await;
    let r = stateless_call(a, 21, &name).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("mcp-session-id").is_none());
    let body = r.text().await.unwrap();
    let sent = events(&body);
    let answer = sent
        .iter()
        .find(|e| e.data.as_ref().is_some_and(|d| d["id"] == json!(21)))
        .unwrap_or_else(|| panic!("no answer: {body}"))
        .clone();
    let first = sent[0]
        .id
        .clone()
        .unwrap_or_else(|| panic!("no id: {body}"));
    assert_ne!(Some(&first), answer.id.as_ref());
    // Resumed on b with no session at all: the answer, as sent.
    let r = http()
        .get(format!("http://{b}/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("last-event-id", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(events(&r.text().await.unwrap()), vec![answer]);
}
