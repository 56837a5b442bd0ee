//! A question whose caller went away stops asking upstreams: dropping the engine's
//! future (what rmcp does on `notifications/cancelled`, or a disconnect) ends the
//! question's walk in the router and cancels its flights. Each test counts the
//! simulator's requests, and waits on counts and on a slow request of its own, never
//! on wall-clock bounds.

mod common;

use std::future::Future;
use std::time::Duration;

use common::*;
use sentinel_actors::resolver::ResolveRequest;
use sentinel_actors::{EngineHandle, ScanInput, Target};
use sentinel_sim::{FaultSpec, SimHandle};

/// Slow metadata files: a resolution of the tree spends most of its time on them.
const FILES_LATENCY_MS: u64 = 400;

fn slow_files() -> FaultSpec {
    FaultSpec {
        latency_ms: Some(FILES_LATENCY_MS),
        ..fault("/files/**")
    }
}

async fn slow_setup() -> (SimHandle, EngineHandle) {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.timeouts.attempt_ms = 10_000;
    cfg.timeouts.deadline_ms = 30_000;
    let engine = engine_with(cfg).await;
    sim.add_fault(slow_files());
    (sim, engine)
}

/// Waits until the simulator has seen at least `n` requests on `glob`.
async fn until_hits(sim: &SimHandle, glob: &str, n: u64) {
    for _ in 0..500 {
        if hits(sim, glob) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{glob}: {} of {n} requests", hits(sim, glob));
}

/// Runs `question` until the simulator has seen its first metadata-file request, then
/// drops it (the caller went away).
async fn drop_after_first_files<F: Future>(sim: &SimHandle, question: F) {
    tokio::pin!(question);
    tokio::select! {
        _ = &mut question => panic!("answered before its slow metadata files"),
        _ = until_hits(sim, "/files/**", 1) => {}
    }
}

/// One request of the test's own through the slow route: when it is back, every
/// request sent before it has had the fault's latency to finish, and whatever a walk
/// still alive would send next has had the time to go out.
async fn through_the_slow_route(sim: &SimHandle) {
    let url = format!("{}/files/unrelated/probe.metadata", sim.base_url());
    let _ = reqwest::get(url).await.expect("the simulator answers");
}

/// After the drop: the router has no flight left, and the count of the walk's
/// requests stays flat while the slow route answers two requests of ours, one after
/// the other (the walk's metadata files would have come back, and its next level
/// gone out, in that time).
async fn assert_quiet_after_drop(sim: &SimHandle, engine: &EngineHandle) {
    assert!(
        engine.settle(Duration::from_secs(5)).await,
        "the router still holds flights for a question nobody waits for"
    );
    assert_eq!(
        engine.walks_running().await,
        Some(0),
        "the router still tracks the walk of a question nobody waits for"
    );
    let before = sim.stats().total;
    through_the_slow_route(sim).await;
    through_the_slow_route(sim).await;
    let after = sim.stats().total;
    assert_eq!(
        after - before,
        2,
        "only the test's own two requests; the walk sent {} more after its caller left: {:?}",
        after - before - 2,
        sim.stats().routes
    );
    assert_eq!(engine.in_flight(), 0, "no call is still counted as active");
}

fn tree_request() -> ResolveRequest {
    let mut r = ResolveRequest::new(["sg-tree-00"]);
    r.target.python_version = Some("3.12".into());
    r.target.platform = Some("linux".into());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_resolution_of_a_40_package_tree_sends_nothing_more_upstream() {
    let (sim, engine) = slow_setup().await;
    let req = tree_request();
    drop_after_first_files(&sim, engine.resolve(&req)).await;
    let sent = sim.stats().total;
    assert_quiet_after_drop(&sim, &engine).await;
    assert!(
        hits(&sim, "/files/**") < 40 + 2,
        "the tree's 40 metadata files were not all fetched ({sent} requests at the drop)"
    );
    // The engine still answers the same question in full afterwards.
    sim.clear_faults();
    let r = engine.resolve(&req).await.expect("resolves");
    assert_eq!(r.packages.len(), 40);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_audit_of_a_project_sends_nothing_more_upstream() {
    let (sim, engine) = slow_setup().await;
    let input = ScanInput::Content {
        filename: "requirements.txt".into(),
        content: "sg-tree-00\n".into(),
    };
    let target = Target {
        python_version: Some("3.12".into()),
        platform: Some("linux".into()),
        ..Target::default()
    };
    drop_after_first_files(&sim, engine.audit_project(input, &target)).await;
    assert_quiet_after_drop(&sim, &engine).await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_crash_mid_resolution_ends_its_walk_and_the_caller_gets_an_answer_or_a_typed_error()
 {
    let (sim, engine) = slow_setup().await;
    let req = tree_request();
    let question = engine.resolve(&req);
    tokio::pin!(question);
    tokio::select! {
        _ = &mut question => panic!("answered before its slow metadata files"),
        _ = until_hits(&sim, "/files/**", 1) => {}
    }
    assert_eq!(
        engine.walks_running().await,
        Some(1),
        "the router tracks the walk"
    );
    engine.inject_actor_panic(sentinel_actors::ActorKind::Router);
    sim.clear_faults();
    // The crashed router's walk is aborted; the handle asks the new router once more.
    // A hang would be a bug: bounded by the engine's deadline and a margin of ours.
    let answer = tokio::time::timeout(Duration::from_secs(40), &mut question)
        .await
        .expect("the caller of a crashed router's walk is answered, never left hanging");
    match answer {
        Ok(r) => assert_eq!(r.packages.len(), 40, "asked again on the new router"),
        Err(e) => assert!(
            e.to_string().contains("router restarted"),
            "a typed error naming the restart, got {e}"
        ),
    }
    assert!(engine.settle(Duration::from_secs(5)).await);
    // The walk that answered tells its router it ended just after it answers.
    let mut running = engine.walks_running().await;
    for _ in 0..500 {
        if running == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        running = engine.walks_running().await;
    }
    assert_eq!(running, Some(0), "no walk left behind");
    engine.shutdown().await;
}
