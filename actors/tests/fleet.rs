//! The fleet (issue 23): several engines (replicas) in one process sharing one real
//! `redis-server` and one simulator. The simulator limits pypistats per client IP (5/s
//! and 30/min, like pypistats.org) and every replica is 127.0.0.1, so it is an
//! independent referee: a replica that sent one request too many meets a 429.
//!
//! Needs Debian's `redis-server` on PATH (CI installs it); without it these tests fail
//! saying so.

mod common;

use std::net::TcpListener;

use common::redis::RedisServer;
use common::replicas::*;
use common::*;
use futures::future::join_all;
use sentinel_actors::{EngineConfig, EngineHandle, FleetReport, Upstream};
use sentinel_sim::SimHandle;

/// A replica with pypistats' real limits, sharing `redis`. A 429 would be retried:
/// any retry or failure below means the quota was broken.
fn strict_replica(sim: &SimHandle, redis: Option<&str>, id: &str) -> EngineConfig {
    with_strict_pypistats(replica_config(sim, redis, id))
}

async fn replicas(sim: &SimHandle, redis: Option<&str>, n: usize) -> Vec<EngineHandle> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(engine_with(strict_replica(sim, redis, &format!("r{i}"))).await);
    }
    out
}

/// One round: every replica asks the next `per` never-seen packages at once.
async fn round(engines: &[EngineHandle], names: &mut impl Iterator<Item = String>, per: usize) {
    let calls = engines.iter().flat_map(|e| {
        names
            .by_ref()
            .take(per)
            .collect::<Vec<_>>()
            .into_iter()
            .map(move |n| async move {
                let _ = e.download_trend(&n, 30).await;
            })
    });
    join_all(calls.collect::<Vec<_>>()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_pypistats_quota_and_never_meet_a_429() {
    let redis = RedisServer::start();
    let sim = limited_sim().await;
    let engines = replicas(&sim, Some(&redis.url()), 3).await;
    let mut names = sim.package_names().into_iter();
    // Rounds of 3 × 4 never-seen packages until the fleet has spent a whole minute's
    // quota (30), then one more round: the simulator (5/s and 30/min per IP, all three
    // replicas on 127.0.0.1) must never have refused one.
    let mut rounds = 0;
    while hits(&sim, "/api/packages/**") < 30 {
        round(&engines, &mut names, 4).await;
        rounds += 1;
        assert!(
            rounds < 60,
            "the fleet stalled at {} requests",
            hits(&sim, "/api/packages/**")
        );
    }
    round(&engines, &mut names, 4).await;
    let sent = hits(&sim, "/api/packages/**");
    let stats: Vec<_> = engines
        .iter()
        .flat_map(|e| e.metrics().upstreams)
        .filter(|u| u.upstream == Upstream::Pypistats)
        .collect();
    assert_eq!(
        pypistats_trouble(&engines),
        0,
        "a 429 was met: the fleet broke the quota: {stats:?} {:?}",
        engines.iter().map(fleet).collect::<Vec<_>>()
    );
    let reports: Vec<FleetReport> = engines.iter().map(fleet).collect();
    let granted: u64 = reports.iter().map(|r| r.quota_granted).sum();
    let deferred: u64 = reports.iter().map(|r| r.quota_deferred).sum();
    assert_eq!(
        granted, sent,
        "every request sent had a fleet grant: {reports:?}"
    );
    assert!(deferred > 0, "the quota held callers back: {reports:?}");
    assert!(
        reports
            .iter()
            .all(|r| r.quota_local_share == 0 && r.mode == "shared"),
        "{reports:?}"
    );
    // Every replica took part.
    assert!(reports.iter().all(|r| r.quota_granted > 0), "{reports:?}");
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_three_replicas_without_redis_meet_429s() {
    let sim = limited_sim().await;
    let engines = replicas(&sim, None, 3).await;
    let mut names = sim.package_names().into_iter();
    // One round: each replica alone sends its own 5 in the first second, 15 in all.
    round(&engines, &mut names, 5).await;
    assert!(
        pypistats_trouble(&engines) > 0,
        "three islands should have met pypistats' per-IP limit"
    );
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_starts_ready_with_redis_down_and_answers() {
    // A port nobody listens on, and a password that must never be shown.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sim = sim().await;
    let url = format!("redis://:hunter2-secret@127.0.0.1:{port}");
    let mut cfg = strict_replica(&sim, Some(&url), "alone");
    // Alone in the fleet: its fair share is the whole quota.
    cfg.fleet.max_replicas = 1;
    assert!(
        !format!("{cfg:?}").contains("hunter2"),
        "Debug shows the password"
    );
    let engine = engine_with(cfg).await;
    let health = engine.health().await;
    assert!(health.ready, "readiness never depends on Redis: {health:?}");
    let names: Vec<String> = sim.package_names().into_iter().take(6).collect();
    for n in &names {
        engine
            .download_trend(n, 30)
            .await
            .expect("answered without Redis");
    }
    let f = fleet(&engine);
    // The first failures opened the gate; later calls skipped Redis without waiting.
    assert_eq!(f.mode, "degraded", "{f:?}");
    assert!(f.ops_skipped > 0 && f.ops_ok == 0, "{f:?}");
    assert_eq!(f.quota_local_share, 6, "{f:?}");
    assert_eq!(hits(&sim, "/api/packages/**"), 6);
    let shown = serde_json::to_string(&engine.health().await).unwrap();
    assert!(
        !shown.contains("hunter2"),
        "health shows the password: {shown}"
    );
    assert!(shown.contains("127.0.0.1"), "{shown}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_midway_each_replica_keeps_answering_on_its_fair_share() {
    let mut redis = RedisServer::start();
    let sim = limited_sim().await;
    let engines = replicas(&sim, Some(&redis.url()), 3).await;
    // The registry knows all three (each writes its heartbeat at start).
    let mut seen = 0;
    // (A replica reads the registry with its heartbeat, every 5 s.)
    for _ in 0..800 {
        seen = engines
            .iter()
            .map(|e| fleet(e).replicas_seen)
            .min()
            .unwrap_or(0);
        if seen == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(seen, 3);
    let mut names = sim.package_names().into_iter();
    round(&engines, &mut names, 2).await;
    redis.kill();
    // With Redis gone each replica runs alone on a third of the quota (1/s, 10/min):
    // answers keep coming and the simulator still never refuses.
    for _ in 0..3 {
        round(&engines, &mut names, 3).await;
    }
    assert_eq!(pypistats_trouble(&engines), 0, "a 429 was met");
    for e in &engines {
        let f = fleet(e);
        assert_eq!(f.mode, "degraded", "{f:?}");
        assert!(f.quota_local_share > 0, "{f:?}");
        // The gate opened after a few failed calls: the rest did not wait on Redis.
        assert!(
            f.ops_timeout + f.ops_error > 0 && f.ops_skipped > 0,
            "{f:?}"
        );
        assert!(e.health().await.ready);
    }
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_send_one_upstream_request_for_a_herd_spread_over_both() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, Some(&redis.url()), 2).await;
    let name = &sim.package_names().into_iter().next().unwrap();
    // Delay the upstream so the herd on both replicas is there while it is fetched.
    sim.add_fault(sentinel_sim::FaultSpec {
        route: format!("/pypi/{name}/json"),
        latency_ms: Some(300),
        ..Default::default()
    });
    let calls = engines
        .iter()
        .flat_map(|e| (0..20).map(move |_| e.package_info(name, None)));
    let results = join_all(calls).await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(
        hits(&sim, &format!("/pypi/{name}/json")),
        1,
        "one fetch for the fleet"
    );
    let waits: u64 = engines.iter().map(|e| fleet(e).lease_waits).sum();
    assert!(waits > 0, "the other replica waited on the lease");
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_answers_from_the_fleets_copy_and_a_planted_garbage_value_is_a_miss() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, Some(&redis.url()), 2).await;
    let (a, b) = (&engines[0], &engines[1]);
    let names: Vec<String> = sim.package_names().into_iter().take(2).collect();
    // Replica a fetches; replica b answers from L2 without asking the upstream.
    a.package_info(&names[0], None).await.unwrap();
    until(|| fleet(a).l2_writes >= 1, "a's L2 write").await;
    let info = b.package_info(&names[0], None).await.unwrap();
    assert_eq!(info.provenance.word(), "cached", "{:?}", info.provenance);
    assert_eq!(hits(&sim, &format!("/pypi/{}/json", names[0])), 1);
    assert_eq!(fleet(b).l2_hits, 1);
    // A value planted in Redis (not written by a replica) is refused: b fetches.
    a.package_info(&names[1], None).await.unwrap();
    until(|| fleet(a).l2_writes >= 2, "a's second L2 write").await;
    let keys = redis.cli(&["--scan", "--pattern", "*:doc:*"]);
    let keys: Vec<&str> = keys.lines().filter(|k| !k.ends_with(":lease")).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    // Our codec's version and no signature, then a declared size and bytes that are
    // not LZ4.
    let garbage = b"\x01\x00\xff\xff\x00\x00garbage that is not lz4";
    for k in keys {
        redis.cli_bytes(&["HSET", k, "b"], garbage);
    }
    let info = b.package_info(&names[1], None).await.unwrap();
    assert_eq!(info.provenance.word(), "live", "{:?}", info.provenance);
    assert_eq!(hits(&sim, &format!("/pypi/{}/json", names[1])), 2);
    assert_eq!(fleet(b).l2_rejected, 1);
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_cache_on_one_replica_marks_the_copies_on_the_others_stale() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, Some(&redis.url()), 2).await;
    let (a, b) = (&engines[0], &engines[1]);
    let name = sim.package_names().into_iter().next().unwrap();
    let route = format!("/pypi/{name}/json");
    a.package_info(&name, None).await.unwrap();
    until(|| fleet(a).l2_writes >= 1, "a's L2 write").await;
    // b holds its own copy (from L2) in memory.
    assert_eq!(
        b.package_info(&name, None).await.unwrap().provenance.word(),
        "cached"
    );
    let again = b.package_info(&name, None).await.unwrap();
    assert_eq!(again.provenance.word(), "cached");
    assert_eq!(hits(&sim, &route), 1);
    // b has read the stream once (heartbeat, stream start, L2 read).
    until(|| fleet(b).ops_ok >= 3, "b's first reads").await;
    a.invalidate(Some(&name)).await.unwrap();
    until(
        || fleet(b).invalidations_applied >= 1,
        "b applying a's invalidation",
    )
    .await;
    // b's memory no longer has it and the fleet's copy is marked stale: b asks.
    let fresh = b.package_info(&name, None).await.unwrap();
    // Asked with the kept ETag: the simulator may confirm it (304).
    assert!(
        matches!(fresh.provenance.word(), "live" | "revalidated"),
        "{:?}",
        fresh.provenance
    );
    assert_eq!(hits(&sim, &route), 2);
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_waiter_is_woken_by_the_fill_before_its_backstop_poll() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let mut engines = Vec::new();
    for i in 0..2 {
        let mut cfg = replica_config(&sim, Some(&redis.url()), &format!("r{i}"));
        // The waiter's first poll comes long after the holder's fetch ends: only the
        // `filled` event can end its wait before then.
        cfg.fleet.lease_poll_ms = 1_500;
        engines.push(engine_with(cfg).await);
    }
    until(
        || engines.iter().all(|e| fleet(e).events_subscriptions >= 1),
        "both replicas subscribed to the events channel",
    )
    .await;
    let (a, b) = (&engines[0], &engines[1]);
    let name = sim.package_names().into_iter().next().unwrap();
    let route = format!("/pypi/{name}/json");
    sim.add_fault(sentinel_sim::FaultSpec {
        route: route.clone(),
        latency_ms: Some(300),
        ..Default::default()
    });
    let holder = a.package_info(&name, None);
    let waiter = async {
        // b asks once a holds the document's lease.
        until(
            || {
                redis
                    .cli(&["--scan", "--pattern", "*:doc:*:lease"])
                    .contains("lease")
            },
            "a's lease",
        )
        .await;
        b.package_info(&name, None).await
    };
    let (ra, rb) = futures::join!(holder, waiter);
    ra.unwrap();
    let rb = rb.unwrap();
    assert_eq!(rb.provenance.word(), "cached", "{:?}", rb.provenance);
    assert_eq!(hits(&sim, &route), 1, "one fetch for the fleet");
    let f = fleet(b);
    assert_eq!(f.lease_waits, 1, "{f:?}");
    assert_eq!(f.fill_wakeups, 1, "woken by the fill, not the poll: {f:?}");
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleets_copy_keeps_the_upstreams_cache_control_and_no_store_stays_out() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, Some(&redis.url()), 3).await;
    let (a, b, c) = (&engines[0], &engines[1], &engines[2]);
    let names: Vec<String> = sim.package_names().into_iter().take(2).collect();
    let short = format!("/pypi/{}/json", names[0]);
    sim.add_fault(sentinel_sim::FaultSpec {
        route: short.clone(),
        cache_control: Some("max-age=3".into()),
        ..Default::default()
    });
    let fetched = std::time::Instant::now();
    assert_eq!(
        a.package_info(&names[0], None)
            .await
            .unwrap()
            .provenance
            .word(),
        "live"
    );
    until(|| fleet(a).l2_writes >= 1, "a's L2 write").await;
    // Within the upstream's 3 s: the fleet's copy is fresh for b.
    assert_eq!(
        b.package_info(&names[0], None)
            .await
            .unwrap()
            .provenance
            .word(),
        "cached"
    );
    assert_eq!(hits(&sim, &short), 1);
    // Past them (the kind's own TTL is 15 minutes): c must not take the copy as fresh.
    tokio::time::sleep(std::time::Duration::from_millis(3_300).saturating_sub(fetched.elapsed()))
        .await;
    let again = c.package_info(&names[0], None).await.unwrap();
    assert!(
        matches!(again.provenance.word(), "live" | "revalidated"),
        "a copy past its upstream's max-age answered as {:?}",
        again.provenance
    );
    assert_eq!(hits(&sim, &short), 2);
    // And it fetched under the document's lease: Redis judged the copy by its
    // upstream's max-age too, so the fleet still fetches it once.
    assert_eq!(fleet(c).leases.granted, 1, "{:?}", fleet(c));

    // `no-store`: never written to Redis; each replica asks for itself.
    let secret = format!("/pypi/{}/json", names[1]);
    sim.add_fault(sentinel_sim::FaultSpec {
        route: secret.clone(),
        cache_control: Some("no-store".into()),
        ..Default::default()
    });
    let writes = fleet(a).l2_writes;
    a.package_info(&names[1], None).await.unwrap();
    b.package_info(&names[1], None).await.unwrap();
    assert_eq!(hits(&sim, &secret), 2, "the no-store answer was shared");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        fleet(a).l2_writes,
        writes,
        "a no-store document written to Redis"
    );
    for e in engines {
        e.shutdown().await;
    }
}
