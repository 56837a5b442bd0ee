//! One fetch per document across the fleet (issue 23, FLEET.md 5.5): the document lease
//! renewed by its holder, fenced fills, failed fetches told to the fleet, and herds
//! spread over replicas. Engines (replicas) in one process sharing a real
//! `redis-server` and the simulator; every assertion counts upstream requests.
//!
//! Needs Debian's `redis-server` on PATH (CI installs it).

mod common;

use std::time::Duration;

use common::redis::RedisServer;
use common::replicas::*;
use common::*;
use futures::future::join_all;
use sentinel_actors::{
    EngineConfig, EngineHandle, FleetReport, QueryError, RateLimitConfig, Upstream,
};
use sentinel_sim::{FaultSpec, SimHandle};

fn lease_replica(sim: &SimHandle, redis: &str, id: &str) -> EngineConfig {
    let mut cfg = replica_config(sim, Some(redis), id);
    // Room for a slow upstream and a lease to expire while callers wait.
    cfg.timeouts.attempt_ms = 8_000;
    cfg.timeouts.answer_budget_ms = 9_000;
    cfg.timeouts.deadline_ms = 12_000;
    cfg
}

async fn replicas(sim: &SimHandle, redis: &RedisServer, n: usize) -> Vec<EngineHandle> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(engine_with(lease_replica(sim, &redis.url(), &format!("r{i}"))).await);
    }
    subscribed(&out).await;
    out
}

/// Waits until every replica listens to the events channel.
async fn subscribed(engines: &[EngineHandle]) {
    until(
        || engines.iter().all(|e| fleet(e).events_subscriptions >= 1),
        "every replica subscribed to the events channel",
    )
    .await;
}

/// The document leases in Redis now (key and value).
fn leases(redis: &RedisServer) -> Vec<(String, String)> {
    redis
        .cli(&["--scan", "--pattern", "*:doc:*:lease"])
        .lines()
        .filter(|k| !k.is_empty())
        .map(|k| (k.to_string(), redis.cli(&["GET", k]).trim().to_string()))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

fn delay(route: &str, ms: u64) -> FaultSpec {
    FaultSpec {
        route: route.into(),
        latency_ms: Some(ms),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_renews_its_lease_through_a_fetch_longer_than_the_lease() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, &redis, 2).await;
    let (a, b) = (&engines[0], &engines[1]);
    let name = sim.package_names().into_iter().next().unwrap();
    let route = format!("/pypi/{name}/json");
    // 4.5 s upstream: longer than the 3 s lease. Without renewal it would expire under
    // the holder and the waiter would take it over and ask too.
    sim.add_fault(delay(&route, 4_500));
    let holder = a.package_info(&name, None);
    let waiter = async {
        until(|| !leases(&redis).is_empty(), "a's lease").await;
        b.package_info(&name, None).await
    };
    let (ra, rb) = futures::join!(holder, waiter);
    assert_eq!(ra.unwrap().provenance.word(), "live");
    let rb = rb.unwrap();
    assert_eq!(rb.provenance.word(), "cached", "{:?}", rb.provenance);
    assert_eq!(hits(&sim, &route), 1, "one fetch for the fleet");
    let (fa, fb) = (fleet(a), fleet(b));
    assert_eq!(
        (fa.leases.granted, fa.leases.lost),
        (1, 0),
        "a kept its lease: {fa:?}"
    );
    assert_eq!(
        (fb.leases.granted, fb.leases.takeovers),
        (0, 0),
        "b never took it over: {fb:?}"
    );
    assert!(fb.lease_waits > 0, "{fb:?}");
    // Released by the fill.
    assert!(leases(&redis).is_empty(), "{:?}", leases(&redis));
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_lost_its_lease_cannot_overwrite_the_newer_copy() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, &redis, 2).await;
    let (a, b) = (&engines[0], &engines[1]);
    let name = sim.package_names().into_iter().next().unwrap();
    let route = format!("/pypi/{name}/json");
    // Only a's request is slow.
    sim.add_fault(FaultSpec {
        times: Some(1),
        ..delay(&route, 2_500)
    });
    let holder = a.package_info(&name, None);
    let rest = async {
        until(|| !leases(&redis).is_empty(), "a's lease").await;
        let (key, a_token) = leases(&redis).remove(0);
        assert!(a_token.starts_with("r0:"), "{a_token}");
        let a_at: i64 = a_token.rsplit(':').next().unwrap().parse().unwrap();
        // a "pauses" past its lease: it expires (deleted here), b takes it over.
        redis.cli(&["DEL", &key]);
        let rb = b.package_info(&name, None).await.unwrap();
        assert_eq!(rb.provenance.word(), "live", "{:?}", rb.provenance);
        until(|| fleet(b).l2_writes == 1, "b's fill").await;
        a_at
    };
    let (ra, a_at) = futures::join!(holder, rest);
    assert_eq!(ra.unwrap().provenance.word(), "live");
    until(|| fleet(a).leases.fenced == 1, "a's late fill fenced off").await;
    let fa = fleet(a);
    assert_eq!(fa.l2_writes, 0, "{fa:?}");
    assert_eq!(
        fa.leases.lost, 1,
        "a's renewal found the lease gone: {fa:?}"
    );
    assert_eq!(hits(&sim, &route), 2);
    // The stored copy is b's: stamped with b's grant time, later than a's.
    let doc = redis
        .cli(&["--scan", "--pattern", "*:doc:*"])
        .lines()
        .find(|k| !k.ends_with(":lease"))
        .unwrap()
        .to_string();
    let at: i64 = redis.cli(&["HGET", &doc, "at"]).trim().parse().unwrap();
    let ft: i64 = redis.cli(&["HGET", &doc, "ft"]).trim().parse().unwrap();
    assert!(
        at > a_at,
        "b's copy ({at}) is newer than a's lease ({a_at})"
    );
    // Its age counts from the fetch, which came after the grant.
    assert!(ft >= at, "{ft} {at}");
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fetch_is_told_to_the_fleet_which_does_not_repeat_it() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let mut engines = Vec::new();
    for i in 0..3 {
        let mut cfg = lease_replica(&sim, &redis.url(), &format!("r{i}"));
        cfg.upstreams.get_mut(Upstream::PypiJson).retry.max_retries = 0;
        cfg.cache.failure_ttl_ms = 30_000;
        // Waiters would only poll long after the failure: the `failed` event wakes them.
        cfg.fleet.lease_poll_ms = 5_000;
        engines.push(engine_with(cfg).await);
    }
    subscribed(&engines).await;
    let name = sim.package_names().into_iter().next().unwrap();
    let name = name.as_str();
    let route = format!("/pypi/{name}/json");
    sim.add_fault(FaultSpec {
        status: Some(503),
        ..delay(&route, 600)
    });
    let holder = engines[0].package_info(name, None);
    let waiters = async {
        until(|| !leases(&redis).is_empty(), "r0's lease").await;
        join_all(
            engines[1..]
                .iter()
                .flat_map(|e| (0..5).map(move |_| e.package_info(name, None))),
        )
        .await
    };
    let (ra, rest) = futures::join!(holder, waiters);
    assert!(matches!(ra, Err(QueryError::Unavailable { .. })), "{ra:?}");
    for r in &rest {
        let e = r
            .as_ref()
            .expect_err("no copy anywhere: the holder's failure");
        let shown = e.to_string();
        assert!(shown.contains("503"), "{shown}");
        assert!(shown.contains("remembered"), "{shown}");
    }
    assert_eq!(hits(&sim, &route), 1, "one failed request for the fleet");
    assert_eq!(fleet(&engines[0]).leases.failures_shared, 1);
    for e in &engines[1..] {
        let f = fleet(e);
        assert_eq!(f.leases.failures_heard, 1, "{f:?}");
        assert_eq!(f.fill_wakeups, 1, "woken by the failed event: {f:?}");
        assert_eq!(f.leases.granted, 0, "{f:?}");
    }
    // The marker holds: a replica asked later does not ask either.
    let again = engines[2].package_info(name, None).await;
    assert!(again.is_err());
    assert_eq!(hits(&sim, &route), 1);
    let held = leases(&redis);
    assert!(
        held.len() == 1 && held[0].1.starts_with("failed ") && held[0].1.contains("status 503"),
        "{held:?}"
    );
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_rate_limit_is_never_told_as_the_upstreams_failure() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let mut engines = Vec::new();
    for i in 0..2 {
        let mut cfg = lease_replica(&sim, &redis.url(), &format!("r{i}"));
        cfg.cache.failure_ttl_ms = 30_000;
        engines.push(engine_with(cfg).await);
    }
    subscribed(&engines).await;
    let names: Vec<String> = sim.package_names().into_iter().take(2).collect();
    // r0 runs out of its own pypi rate limit: its second document is deferred by us.
    let mut cfg = lease_replica(&sim, &redis.url(), "tight");
    cfg.upstreams.get_mut(Upstream::PypiJson).rate_limit = Some(RateLimitConfig {
        per_second: 1,
        per_minute: Some(1),
        burst: None,
    });
    cfg.timeouts.answer_budget_ms = 2_000;
    cfg.timeouts.wait_for_own_limits = false;
    let tight = engine_with(cfg).await;
    tight.package_info(&names[0], None).await.unwrap();
    let deferred = tight.package_info(&names[1], None).await;
    assert!(
        matches!(&deferred, Err(e) if e.to_string().contains("rate limit")),
        "{deferred:?}"
    );
    let f = fleet(&tight);
    assert_eq!(f.leases.failures_shared, 0, "{f:?}");
    // Its lease was released, not turned into a failure: another replica fetches.
    until(
        || leases(&redis).iter().all(|(_, v)| !v.starts_with("failed")),
        "no failure marker",
    )
    .await;
    // (`live`, or `cached` if the polite queue's later fetch filled it first.)
    let r = engines[0].package_info(&names[1], None).await.unwrap();
    assert!(
        matches!(r.provenance.word(), "live" | "cached"),
        "{:?}",
        r.provenance
    );
    assert_eq!(fleet(&engines[0]).leases.failures_heard, 0);
    tight.shutdown().await;
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_herd_over_three_replicas_costs_one_upstream_request_per_document() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, &redis, 3).await;
    let names: Vec<String> = sim.package_names().into_iter().take(4).collect();
    for n in &names {
        sim.add_fault(delay(&format!("/pypi/{n}/json"), 300));
    }
    // 4 documents × 3 replicas × 25 concurrent calls, all released at once.
    let calls = names.iter().flat_map(|n| {
        engines.iter().flat_map(move |e| {
            (0..25).map(move |_| async move {
                let t = std::time::Instant::now();
                (e.package_info(n, None).await, t.elapsed())
            })
        })
    });
    let (results, mut took): (Vec<_>, Vec<_>) = join_all(calls).await.into_iter().unzip();
    took.sort();
    assert_eq!(results.len(), 300);
    for r in &results {
        let r = r.as_ref().expect("answered");
        assert!(
            matches!(r.provenance.word(), "live" | "cached"),
            "{:?}",
            r.provenance
        );
    }
    for n in &names {
        assert_eq!(
            hits(&sim, &format!("/pypi/{n}/json")),
            1,
            "one request for {n} across the fleet"
        );
    }
    let reports: Vec<FleetReport> = engines.iter().map(fleet).collect();
    let granted: u64 = reports.iter().map(|r| r.leases.granted).sum();
    assert_eq!(granted, 4, "one lease per document: {reports:?}");
    eprintln!(
        "herd: 300 calls, 4 upstream requests (upstream 300 ms); answered in p50 {:?}, p99 \
         {:?}, max {:?}; lease waits per replica {:?}, fill wake-ups {:?}",
        took[150],
        took[296],
        took[299],
        reports.iter().map(|r| r.lease_waits).collect::<Vec<_>>(),
        reports.iter().map(|r| r.fill_wakeups).collect::<Vec<_>>()
    );
    for e in engines {
        e.shutdown().await;
    }
}

/// Steady load on one hot document over 3 replicas for `run`; returns every answer's
/// provenance word.
async fn steady_load(engines: &[EngineHandle], name: &str, run: Duration) -> Vec<String> {
    let end = tokio::time::Instant::now() + run;
    let per_replica = engines.iter().map(|e| async move {
        let mut words = Vec::new();
        while tokio::time::Instant::now() < end {
            let r = e.package_info(name, None).await.expect("answered");
            words.push(r.provenance.word().to_string());
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        words
    });
    join_all(per_replica).await.concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_document_is_refreshed_ahead_once_for_the_fleet_and_never_served_stale() {
    let redis = RedisServer::start();
    let sim = sim().await;
    const TTL_MS: u64 = 3_000;
    const LEAD_MS: u64 = 600;
    let mut engines = Vec::new();
    for i in 0..3 {
        let mut cfg = lease_replica(&sim, &redis.url(), &format!("r{i}"));
        cfg.cache.project_json_ttl_ms = TTL_MS;
        cfg.cache.refresh_ahead_hits = 1;
        cfg.cache.refresh_ahead_ms = LEAD_MS;
        engines.push(engine_with(cfg).await);
    }
    subscribed(&engines).await;
    let name = sim.package_names().into_iter().next().unwrap();
    let route = format!("/pypi/{name}/json");
    // The upstream says the same TTL (else its `Last-Modified` heuristic would make a
    // fetched copy fresh far longer than the fleet's, which carries no Cache-Control).
    sim.add_fault(FaultSpec {
        route: route.clone(),
        cache_control: Some(format!("max-age={}", TTL_MS / 1000)),
        ..Default::default()
    });
    // Warm: r0 fetches, the others take the fleet's copy.
    for e in &engines {
        e.package_info(&name, None).await.unwrap();
    }
    assert_eq!(hits(&sim, &route), 1);
    let started = std::time::Instant::now();
    let words = steady_load(&engines, &name, Duration::from_millis(4 * TTL_MS)).await;
    let elapsed = started.elapsed();
    let sent = hits(&sim, &route);
    let stale = words.iter().filter(|w| w.as_str() == "stale").count();
    let reports: Vec<FleetReport> = engines.iter().map(fleet).collect();
    eprintln!(
        "refresh-ahead: {} answers in {elapsed:?} over 3 replicas, {stale} stale, {sent} upstream \
         requests (TTL {TTL_MS} ms, lead {LEAD_MS} ms); leases granted {:?}, reloads {:?}",
        words.len(),
        reports.iter().map(|r| r.leases.granted).collect::<Vec<_>>(),
        reports.iter().map(|r| r.leases.reloads).collect::<Vec<_>>(),
    );
    assert_eq!(stale, 0, "a hot key is never served stale: {words:?}");
    // A refresh at most every TTL - lead - one tick (250 ms), for the whole fleet; the
    // three replicas each refreshing alone would send three times that.
    let period = Duration::from_millis(TTL_MS - LEAD_MS - 250);
    let most = 1 + (elapsed.as_millis() / period.as_millis()) as u64 + 1;
    assert!(
        (2..=most).contains(&sent),
        "{sent} upstream requests in {elapsed:?}: at most {most} for the fleet"
    );
    // Every replica answered fresh copies it did not fetch: reloaded from another's fill.
    let reloads: u64 = reports.iter().map(|r| r.leases.reloads).sum();
    assert!(reloads > 0, "{reports:?}");
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_due_to_refresh_the_same_document_at_once_fetch_it_once() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let mut engines = Vec::new();
    for i in 0..3 {
        let mut cfg = lease_replica(&sim, &redis.url(), &format!("r{i}"));
        // Due for a refresh as soon as it is read (fresh 10 s, refreshed 9.5 s early).
        cfg.cache.project_json_ttl_ms = 10_000;
        cfg.cache.refresh_ahead_hits = 1;
        cfg.cache.refresh_ahead_ms = 9_500;
        engines.push(engine_with(cfg).await);
    }
    subscribed(&engines).await;
    let name = sim.package_names().into_iter().next().unwrap();
    let route = format!("/pypi/{name}/json");
    sim.add_fault(FaultSpec {
        route: route.clone(),
        cache_control: Some("max-age=10".into()),
        ..Default::default()
    });
    for e in &engines {
        e.package_info(&name, None).await.unwrap();
        e.package_info(&name, None).await.unwrap();
    }
    assert_eq!(hits(&sim, &route), 1);
    // The refreshes overlap: each would take 300 ms upstream.
    sim.clear_faults();
    sim.add_fault(FaultSpec {
        route: route.clone(),
        cache_control: Some("max-age=10".into()),
        ..delay(&route, 300)
    });
    let asked = join_all(engines.iter().map(|e| e.refresh_ahead_now())).await;
    // Every replica with the copy due asked (its own tick may have asked just before).
    assert!(asked.iter().all(|a| a.is_some()), "{asked:?}");
    until(|| hits(&sim, &route) >= 2, "the refresh").await;
    until(
        || {
            leases(&redis).is_empty()
                && engines
                    .iter()
                    .map(fleet)
                    .map(|f| f.leases.reloads)
                    .sum::<u64>()
                    >= 2
        },
        "the refresh filled and reloaded on the other replicas",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hits(&sim, &route), 2, "one refresh for the fleet");
    let reports: Vec<FleetReport> = engines.iter().map(fleet).collect();
    let granted: u64 = reports.iter().map(|r| r.leases.granted).sum();
    assert_eq!(
        granted, 2,
        "the warm-up's lease and the refresh's: {reports:?}"
    );
    for e in engines {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_does_not_exist_is_one_upstream_request_for_the_fleet() {
    let redis = RedisServer::start();
    let sim = sim().await;
    let engines = replicas(&sim, &redis, 3).await;
    let name = "no-such-package-anywhere";
    let r = engines[0].package_info(name, None).await;
    assert!(matches!(r, Err(QueryError::NotFound { .. })), "{r:?}");
    let asked = hits(&sim, "/**");
    assert!(asked >= 1);
    // The other replicas are told "not found" by the fleet, without asking.
    for e in &engines[1..] {
        let r = e.package_info(name, None).await;
        assert!(matches!(r, Err(QueryError::NotFound { .. })), "{r:?}");
    }
    assert_eq!(
        hits(&sim, "/**"),
        asked,
        "the 404 is remembered for the fleet"
    );
    assert_eq!(hits(&sim, &format!("/pypi/{name}/json")), 1);
    let heard: Vec<u64> = engines
        .iter()
        .map(|e| fleet(e).leases.failures_heard)
        .collect();
    assert!(heard[0] == 0 && heard[1] >= 1 && heard[2] >= 1, "{heard:?}");
    for e in engines {
        e.shutdown().await;
    }
}
