//! Shared breaker probes (issue 23 item 5, FLEET.md 5.8): three engines (replicas) on
//! one real `redis-server` and one simulator whose pypistats fails. Breakers stay per
//! replica; once they are due, the fleet sends one half-open probe per open period,
//! not one per replica, and every replica takes its outcome.
//!
//! Waits poll a condition (the breakers' open periods are real time, because the probe
//! lease's `PX` is Redis' clock); the assertions count requests, never time.

mod common;

use common::redis::RedisServer;
use common::replicas::*;
use common::*;
use futures::future::join_all;
use sentinel_actors::{BreakerState, EngineConfig, EngineHandle, FleetReport, Upstream};
use sentinel_sim::SimHandle;

const ROUTE: &str = "/api/packages/**";

/// A replica whose pypistats breaker opens on one failure (no retries) for 1.5 s
/// (doubling), with one half-open probe.
fn config(sim: &SimHandle, redis: &str, id: &str, share: bool) -> EngineConfig {
    let mut cfg = replica_config(sim, Some(redis), id);
    let u = cfg.upstreams.get_mut(Upstream::Pypistats);
    u.retry.max_retries = 0;
    u.breaker.consecutive_failures = 1;
    u.breaker.consecutive_rule = sentinel_actors::policy::ConsecutiveRule::Fixed;
    u.breaker.open_base_ms = 1_500;
    u.breaker.open_max_ms = 60_000;
    u.breaker.half_open_probes = 1;
    cfg.fleet.share_probes = share;
    cfg
}

async fn replicas(sim: &SimHandle, redis: &RedisServer, share: bool) -> Vec<EngineHandle> {
    let mut out = Vec::new();
    for i in 0..3 {
        out.push(engine_with(config(sim, &redis.url(), &format!("r{i}"), share)).await);
    }
    out
}

/// (state, seconds until a probe may go) of each replica's pypistats breaker.
async fn breakers(engines: &[EngineHandle]) -> Vec<(BreakerState, f64)> {
    let mut out = Vec::new();
    for e in engines {
        let h = e.health().await;
        let b = &h.upstream(Upstream::Pypistats).unwrap().health;
        out.push((b.breaker, b.open_for_secs.unwrap_or(0.0)));
    }
    out
}

/// Polls (bounded: 20 s) until `f` holds for the breakers.
async fn until_breakers(
    engines: &[EngineHandle],
    f: impl Fn(&[(BreakerState, f64)]) -> bool,
    what: &str,
) {
    for _ in 0..2_000 {
        if f(&breakers(engines).await) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!(
        "timed out waiting for {what}: {:?}",
        breakers(engines).await
    );
}

/// Every replica asks for a different package's downloads at once (different
/// documents, so the L2 document lease plays no part).
async fn ask_all(engines: &[EngineHandle], names: &mut impl Iterator<Item = String>) -> usize {
    let calls = engines.iter().map(|e| {
        let n = names.next().unwrap();
        async move { e.download_trend(&n, 30).await.is_ok() }
    });
    join_all(calls).await.into_iter().filter(|ok| *ok).count()
}

/// All three breakers open, each with its open period over (due for a probe).
fn all_due(b: &[(BreakerState, f64)]) -> bool {
    b.iter()
        .all(|(s, left)| *s == BreakerState::Open && *left == 0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_send_one_probe_per_open_period_and_all_close_on_its_success() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, &redis, true).await;
    let mut names = sim.package_names().into_iter().cycle();
    let down = sim.add_fault(status_fault(ROUTE, 503));
    // Each replica meets one failure: its own breaker opens (breakers stay per replica).
    assert_eq!(ask_all(&engines, &mut names).await, 0);
    assert_eq!(hits(&sim, ROUTE), 3);
    until_breakers(&engines, all_due, "three open breakers due for a probe").await;

    // One open period: three replicas due, one probe reaches pypistats.
    assert_eq!(ask_all(&engines, &mut names).await, 0);
    assert_eq!(hits(&sim, ROUTE), 4, "one probe for the fleet, not three");
    let reports: Vec<FleetReport> = engines.iter().map(fleet).collect();
    assert_eq!(
        reports.iter().map(|r| r.probes_deferred).sum::<u64>(),
        2,
        "{reports:?}"
    );
    // The two others take the failed probe's outcome: they stay open, for the doubled
    // period, and do not probe on their own meanwhile.
    until(
        || {
            engines
                .iter()
                .map(|e| fleet(e).probes_received)
                .sum::<u64>()
                == 2
        },
        "the failed probe's outcome on the two other replicas",
    )
    .await;
    let b = breakers(&engines).await;
    assert!(b.iter().all(|(s, _)| *s == BreakerState::Open), "{b:?}");
    assert_eq!(ask_all(&engines, &mut names).await, 0);
    assert_eq!(hits(&sim, ROUTE), 4, "open breakers send nothing");

    // The upstream recovers. Next period: one probe, it succeeds, all three close.
    sim.remove_fault(down);
    until_breakers(&engines, all_due, "the breakers due again").await;
    assert_eq!(ask_all(&engines, &mut names).await, 1, "the prober answers");
    assert_eq!(hits(&sim, ROUTE), 5, "one probe again");
    until_breakers(
        &engines,
        |b| b.iter().all(|(s, _)| *s == BreakerState::Closed),
        "all three breakers closed by the one probe",
    )
    .await;
    // Closed everywhere: every replica's next call goes and is answered.
    assert_eq!(ask_all(&engines, &mut names).await, 3);
    assert_eq!(hits(&sim, ROUTE), 8);
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_without_shared_probes_each_replica_probes_for_itself() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, &redis, false).await;
    let mut names = sim.package_names().into_iter().cycle();
    sim.add_fault(status_fault(ROUTE, 503));
    assert_eq!(ask_all(&engines, &mut names).await, 0);
    until_breakers(&engines, all_due, "three open breakers due for a probe").await;
    let before = hits(&sim, ROUTE);
    assert_eq!(ask_all(&engines, &mut names).await, 0);
    assert_eq!(
        hits(&sim, ROUTE) - before,
        3,
        "three probes without sharing"
    );
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_each_replica_probes_as_one_replica_does() {
    let mut redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, &redis, true).await;
    let mut names = sim.package_names().into_iter().cycle();
    sim.add_fault(status_fault(ROUTE, 503));
    assert_eq!(ask_all(&engines, &mut names).await, 0);
    redis.kill();
    until_breakers(&engines, all_due, "three open breakers due for a probe").await;
    let before = hits(&sim, ROUTE);
    assert_eq!(ask_all(&engines, &mut names).await, 0);
    assert_eq!(
        hits(&sim, ROUTE) - before,
        3,
        "no lease known: each replica probes"
    );
    assert!(engines.iter().all(|e| fleet(e).probes_deferred == 0));
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_outcome_for_another_origin_or_upstream_is_ignored() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, &redis, true).await;
    let mut names = sim.package_names().into_iter().cycle();
    sim.add_fault(status_fault(ROUTE, 503));
    assert_eq!(ask_all(&engines, &mut names).await, 0);
    until_breakers(&engines, all_due, "three open breakers due for a probe").await;
    // One replica probes (and fails): its entry in the stream names our origin.
    assert_eq!(ask_all(&engines, &mut names).await, 0);
    until(
        || {
            engines
                .iter()
                .map(|e| fleet(e).probes_received)
                .sum::<u64>()
                == 2
        },
        "the failed probe's outcome",
    )
    .await;
    let stream = "pypi-sentinel:v1:invalidations";
    let entries = redis.cli(&["XRANGE", stream, "-", "+"]);
    let lines: Vec<&str> = entries.lines().collect();
    let origin = lines
        .iter()
        .position(|l| *l == "o")
        .map(|i| lines[i + 1].to_string())
        .unwrap_or_else(|| panic!("no probe entry: {entries}"));
    // Forged successes: another origin (a private index's pypistats, say), an unknown
    // upstream, a malformed outcome. None may close a breaker.
    for (up, o, ok) in [
        ("pypistats", "0123456789abcdef", "1"),
        ("no-such-upstream", origin.as_str(), "1"),
        ("pypistats", origin.as_str(), "yes"),
    ] {
        redis.cli(&[
            "XADD",
            stream,
            "*",
            "probe",
            up,
            "o",
            o,
            "ok",
            ok,
            "by",
            "elsewhere",
        ]);
    }
    // A genuine success last. The stream is read in order, so once it is applied the
    // forged entries were read too; had any been taken, outcomes received would have
    // gone past 2 + 3 (never equal to 5) and the wait below would time out.
    redis.cli(&[
        "XADD",
        stream,
        "*",
        "probe",
        "pypistats",
        "o",
        &origin,
        "ok",
        "1",
        "by",
        "elsewhere",
    ]);
    until(
        || {
            engines
                .iter()
                .map(|e| fleet(e).probes_received)
                .sum::<u64>()
                == 5
        },
        "the genuine outcome on all three",
    )
    .await;
    let b = breakers(&engines).await;
    assert!(b.iter().all(|(s, _)| *s == BreakerState::Closed), "{b:?}");
    for e in engines {
        e.shutdown().await;
    }
}
