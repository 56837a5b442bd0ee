//! What every replica of a fleet sees of the others (issue 23, FLEET.md 5.8 and 5.12):
//! each replica's breakers ("pypistats: open on 2 of 3 replicas") and the fleet's
//! upstream requests per minute, on three engines (replicas) sharing one real
//! `redis-server` and one simulator. The simulator is the referee: it counts every
//! request it receives. Waits poll a condition (bounded); assertions count, never time.

mod common;

use common::redis::RedisServer;
use common::replicas::*;
use common::*;
use sentinel_actors::{EngineConfig, EngineHandle, Upstream};
use sentinel_sim::SimHandle;

const ROUTE: &str = "/api/packages/**";

/// A replica whose pypistats breaker opens on its first failure (no retries), for
/// a minute: it stays open while the test looks.
fn config(sim: &SimHandle, redis: &str, id: &str) -> EngineConfig {
    let mut cfg = replica_config(sim, Some(redis), id);
    let u = cfg.upstreams.get_mut(Upstream::Pypistats);
    u.retry.max_retries = 0;
    u.breaker.consecutive_failures = 1;
    u.breaker.consecutive_rule = sentinel_actors::policy::ConsecutiveRule::Fixed;
    u.breaker.open_base_ms = 60_000;
    u.breaker.open_max_ms = 60_000;
    cfg
}

async fn replicas(sim: &SimHandle, redis: &RedisServer) -> Vec<EngineHandle> {
    let mut out = Vec::new();
    for i in 0..3 {
        out.push(engine_with(config(sim, &redis.url(), &format!("r{i}"))).await);
    }
    out
}

/// (open, half-open, closed) replicas of pypistats as `e` last read them.
fn pypistats(e: &EngineHandle) -> Option<(u32, u32, u32)> {
    fleet(e)
        .breakers
        .iter()
        .find(|b| b.upstream == "pypistats")
        .map(|b| (b.open, b.half_open, b.closed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_says_on_how_many_replicas_a_breaker_is_open() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, &redis).await;
    let names: Vec<String> = sim.package_names().into_iter().take(2).collect();
    // Every replica reports its closed breakers.
    until(
        || engines.iter().all(|e| pypistats(e) == Some((0, 0, 3))),
        "three closed pypistats breakers seen by every replica",
    )
    .await;
    // pypistats fails; replicas 0 and 1 each meet one failure: their breakers open,
    // replica 2's stays closed (breakers stay per replica).
    let _down = sim.add_fault(status_fault(ROUTE, 503));
    for (e, n) in engines.iter().zip(&names) {
        let _ = e.download_trend(n, 30).await;
    }
    assert_eq!(hits(&sim, ROUTE), 2);
    // Each replica, replica 2 included, says so (each writes at its transitions and
    // every 5 s, and reads back what all wrote).
    until(
        || engines.iter().all(|e| pypistats(e) == Some((2, 0, 1))),
        "pypistats open on 2 of 3 replicas, seen by every replica",
    )
    .await;
    let r2 = fleet(&engines[2]);
    assert!(
        r2.summary()
            .contains("breakers across the fleet: pypistats: open on 2 of 3 replicas"),
        "{}",
        r2.summary()
    );
    // The health report carries it (what `health`, `/healthz` and `get_metrics` show).
    let h = engines[2].health().await;
    let f = h.fleet.expect("fleet section");
    let b = f
        .breakers
        .iter()
        .find(|b| b.upstream == "pypistats")
        .unwrap();
    assert_eq!((b.open, b.replicas()), (2, 3));
    // `fleet status` reads the same from Redis, replica by replica.
    let cfg = config(&sim, &redis.url(), "status");
    let s = sentinel_actors::fleet_status(&cfg).await.expect("status");
    let b = s
        .breakers
        .iter()
        .find(|b| b.upstream == Upstream::Pypistats)
        .unwrap_or_else(|| panic!("{s:?}"));
    assert_eq!(b.replicas.get("r0").map(String::as_str), Some("open"));
    assert_eq!(b.replicas.get("r1").map(String::as_str), Some("open"));
    assert_eq!(b.replicas.get("r2").map(String::as_str), Some("closed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleets_upstream_requests_per_minute_equal_what_the_upstream_received() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, &redis).await;
    let names: Vec<String> = sim.package_names().into_iter().take(12).collect();
    // Different documents on each replica, package pages and downloads: several
    // upstreams.
    for (i, n) in names.iter().enumerate() {
        let e = &engines[i % 3];
        e.package_info(n, None).await.expect("package info");
        if i % 2 == 0 {
            e.download_trend(n, 30).await.expect("downloads");
        }
    }
    let sent = sim.stats().total;
    assert!(sent >= 12, "{sent}");
    let fleet_total = |e: &EngineHandle| {
        fleet(e)
            .upstream_requests
            .iter()
            .map(|r| r.last_10_minutes)
            .sum::<u64>()
    };
    // Counted where each attempt is sent, written within a second: every replica shows
    // the fleet's total, equal to the simulator's.
    until(
        || engines.iter().all(|e| fleet_total(e) == sent),
        "every replica showing the fleet's requests",
    )
    .await;
    // Per upstream too: pypistats' requests are the download pages the sim received.
    let stats: u64 = fleet(&engines[0])
        .upstream_requests
        .iter()
        .filter(|r| r.upstream == "pypistats")
        .map(|r| r.last_10_minutes)
        .sum();
    assert_eq!(stats, hits(&sim, ROUTE));
    let text = fleet(&engines[1]).summary();
    assert!(text.contains("fleet upstream requests: "), "{text}");
    // `fleet status` lists the 10 minutes; they add up to the same total.
    let s = sentinel_actors::fleet_status(&config(&sim, &redis.url(), "status"))
        .await
        .expect("status");
    let by_minute: u64 = s
        .upstream_requests
        .iter()
        .map(|r| {
            assert_eq!(r.minutes.len(), 10);
            r.minutes.iter().sum::<u64>()
        })
        .sum();
    assert_eq!(by_minute, sent, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_a_replica_answers_alone_and_its_health_says_so() {
    let mut redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, &redis).await;
    let names: Vec<String> = sim.package_names().into_iter().take(6).collect();
    engines[0].package_info(&names[0], None).await.unwrap();
    until(
        || !fleet(&engines[0]).upstream_requests.is_empty(),
        "the first requests counted",
    )
    .await;
    redis.kill();
    // Every call still answered, live from the upstream.
    for n in &names[1..] {
        engines[0]
            .package_info(n, None)
            .await
            .expect("answered without Redis");
    }
    until(
        || fleet(&engines[0]).mode == "degraded",
        "the gate opened (health says the replica runs alone)",
    )
    .await;
    let f = fleet(&engines[0]);
    assert!(f.last_error.is_some(), "{f:?}");
    assert!(
        f.summary().starts_with("fleet: degraded"),
        "{}",
        f.summary()
    );
}
