//! Redis misbehaving under a fleet (issue 23, FLEET.md acceptance A6 and A7) with a
//! real `redis-server`: flushed mid-run, and frozen (`SIGSTOP`) mid-run. The
//! simulator limits pypistats per client IP (5/s, 30/min) and every replica is
//! 127.0.0.1, so it is the referee: a quota broken is a 429.
//!
//! Needs Debian's `redis-server` on PATH (CI installs it).

mod common;

use std::process::Command;

use common::redis::RedisServer;
use common::replicas::*;
use common::*;
use futures::future::join_all;
use sentinel_actors::{EngineHandle, FleetReport};
use sentinel_sim::{Sim, SimConfig, SimHandle};

async fn replicas(sim: &SimHandle, redis: &str, n: usize) -> Vec<EngineHandle> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            engine_with(with_strict_pypistats(replica_config(
                sim,
                Some(redis),
                &format!("r{i}"),
            )))
            .await,
        );
    }
    out
}

/// Every replica asks the next `per` never-seen packages' trends at once; none may
/// fail (a deferred answer is an answer: our own quota held the call back).
async fn round(engines: &[EngineHandle], names: &mut impl Iterator<Item = String>, per: usize) {
    let mut calls = Vec::new();
    for e in engines {
        for n in names.by_ref().take(per) {
            calls.push(async move { e.download_trend(&n, 30).await });
        }
    }
    let failed: Vec<String> = join_all(calls)
        .await
        .into_iter()
        .filter_map(|r| r.err())
        .filter(|e| e.code().as_str() != "deferred")
        .map(|e| e.to_string())
        .collect();
    assert!(failed.is_empty(), "calls failed: {failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_redis_is_noticed_and_the_quota_holds_through_learning() {
    let redis = RedisServer::start();
    let sim = limited_sim().await;
    let engines = replicas(&sim, &redis.url(), 2).await;
    until(
        || engines.iter().all(|e| fleet(e).replicas_seen == 2),
        "both replicas in the registry",
    )
    .await;
    let mut names = sim.package_names().into_iter();
    // Spend the minute's quota through Redis: 30 requests in well under a minute.
    let mut rounds = 0;
    while hits(&sim, "/api/packages/**") < 30 {
        round(&engines, &mut names, 3).await;
        rounds += 1;
        assert!(rounds < 60, "the fleet stalled");
    }
    assert_eq!(pypistats_trouble(&engines), 0, "a 429 before the flush");
    // Redis forgets everything: the quota log that says the minute is spent is gone.
    assert_eq!(redis.cli(&["FLUSHALL"]), "OK");
    // Each replica notices with its next heartbeat (every 5 s).
    until(
        || engines.iter().all(|e| fleet(e).mode == "learning"),
        "both replicas learning after the flush",
    )
    .await;
    let sent = hits(&sim, "/api/packages/**");
    // Ask on: a fleet that trusted the empty log would send a fresh 30 into the
    // simulator's still-full minute and meet 429s. On the fair share (15 a minute
    // each, their own grants counted) it sends nothing more until the window moves.
    for _ in 0..3 {
        round(&engines, &mut names, 3).await;
    }
    assert_eq!(pypistats_trouble(&engines), 0, "a 429 was met");
    let reports: Vec<FleetReport> = engines.iter().map(fleet).collect();
    assert!(
        reports.iter().all(|r| r.quota_local_share > 0),
        "the quota was taken on the fair share while learning: {reports:?}"
    );
    assert!(
        hits(&sim, "/api/packages/**") <= 30 + (sent - 30).min(2),
        "requests past the spent minute: {} then {}",
        sent,
        hits(&sim, "/api/packages/**")
    );
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_costs_a_few_deadlines_then_the_gate_skips_it() {
    let redis = RedisServer::start();
    let pid = redis.pid();
    let sim = Sim::start(SimConfig {
        synthetic: 40,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let engines = replicas(&sim, &redis.url(), 2).await;
    let names: Vec<String> = sim.package_names().into_iter().take(40).collect();
    engines[0].package_info(&names[0], None).await.unwrap();
    until(|| fleet(&engines[0]).l2_writes >= 1, "the first L2 write").await;
    // Frozen, as a stalled host or a long fork would: connections stay open and
    // nothing answers.
    let signal = |sig: &str| {
        assert!(
            Command::new("kill")
                .args([sig, &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    signal("-STOP");
    let before: Vec<FleetReport> = engines.iter().map(fleet).collect();
    for (i, n) in names[1..31].iter().enumerate() {
        let e = &engines[i % 2];
        let info = e.package_info(n, None).await;
        assert!(info.is_ok(), "answered with Redis frozen: {info:?}");
    }
    signal("-CONT");
    for (e, b) in engines.iter().zip(&before) {
        let f = fleet(e);
        let late = f.ops_timeout - b.ops_timeout;
        // The gate opens after 3 late calls in a row; then one probe per open period
        // (0.5 s, doubling to 1 s). 15 misses each, yet only those few waited for
        // Redis' deadline (3 each when measured; 10 leaves room for a slow machine's
        // probes, and is still fewer than the misses).
        assert!(
            (1..=10).contains(&late),
            "calls that waited for the frozen Redis: {late} ({f:?})"
        );
        assert!(f.ops_skipped > b.ops_skipped, "{f:?}");
    }
    // Every document was fetched once, by the replica asked: nothing was lost.
    assert_eq!(hits(&sim, "/pypi/*/json"), 31);
    // Redis back: the gate closes again on its next probe.
    until(
        || engines.iter().all(|e| fleet(e).gate == "closed"),
        "the gate closing after Redis returned",
    )
    .await;
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uneven_spending_before_redis_dies_does_not_add_up_to_more_than_the_quota() {
    let mut redis = RedisServer::start();
    let sim = limited_sim().await;
    let engines = replicas(&sim, &redis.url(), 3).await;
    until(
        || engines.iter().all(|e| fleet(e).replicas_seen == 3),
        "all three in the registry",
    )
    .await;
    let mut names = sim.package_names().into_iter();
    // r0 asks four times as often as r1 and r2: it is granted most of the minute.
    let mut rounds = 0;
    while hits(&sim, "/api/packages/**") < 24 {
        let mut calls = Vec::new();
        for (i, e) in engines.iter().enumerate() {
            for n in names.by_ref().take(if i == 0 { 4 } else { 1 }) {
                calls.push(async move { e.download_trend(&n, 30).await });
            }
        }
        join_all(calls).await;
        rounds += 1;
        assert!(rounds < 60, "the fleet stalled");
    }
    let granted: Vec<u64> = engines.iter().map(|e| fleet(e).quota_granted).collect();
    assert!(
        granted[0] > granted[1] + granted[2],
        "uneven spending: {granted:?}"
    );
    redis.kill();
    // Each replica on its share (10 a minute): r1 and r2, below theirs, must count
    // their part of what the fleet spent, or the simulator's minute overflows.
    for _ in 0..4 {
        round(&engines, &mut names, 4).await;
    }
    assert_eq!(
        pypistats_trouble(&engines),
        0,
        "a 429: the shares added up to more than the quota ({} sent, grants {granted:?})",
        hits(&sim, "/api/packages/**")
    );
    assert!(hits(&sim, "/api/packages/**") <= 30);
    for e in engines {
        e.shutdown().await;
    }
}
