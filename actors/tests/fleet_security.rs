//! The fleet's security (issue 23, FLEET.md 5.11 and acceptance A8) against a real
//! `redis-server`: TLS with a private CA (Debian's build has TLS), a password, a
//! wrong password, and an ACL user limited to the namespace. The replica must work
//! with the right credentials, start and answer alone with wrong ones, say why in
//! `health`, and never show a password.
//!
//! Needs Debian's `redis-server` and the `openssl` command (`.ci/run` installs both).

mod common;

use std::net::TcpListener;

use common::redis::{RedisServer, TestCa};
use common::replicas::*;
use common::*;
use sentinel_actors::EngineHandle;
use sentinel_sim::SimHandle;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Replica `a` fetches a document, replica `b` answers it from the fleet's copy:
/// Redis carried it both ways.
async fn shares_a_document(sim: &SimHandle, a: &EngineHandle, b: &EngineHandle, name: &str) {
    let first = a.package_info(name, None).await.unwrap();
    assert_eq!(first.provenance.word(), "live");
    until(|| fleet(a).l2_writes >= 1, "a's L2 write").await;
    let second = b.package_info(name, None).await.unwrap();
    assert_eq!(
        second.provenance.word(),
        "cached",
        "b answers from the fleet's copy: {:?} / {:?}",
        second.provenance,
        fleet(b)
    );
    assert_eq!(hits(sim, &format!("/pypi/{name}/json")), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca_works_and_without_the_ca_the_replica_runs_alone() {
    let ca = TestCa::generate();
    let tls_port = free_port();
    let cert = ca.path("server.crt");
    let key = ca.path("server.key");
    let ca_crt = ca.path("ca.crt");
    let _redis = RedisServer::start_with(
        free_port(),
        &[
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-key-file",
            key.to_str().unwrap(),
            "--tls-ca-cert-file",
            ca_crt.to_str().unwrap(),
            "--tls-auth-clients",
            "no",
        ],
    );
    let sim = sim().await;
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let tls = |id: &str| {
        let mut c = replica_config(&sim, Some(&url), id);
        c.fleet.tls_ca_file = Some(ca_crt.clone());
        c
    };
    let a = engine_with(tls("a")).await;
    let b = engine_with(tls("b")).await;
    let names: Vec<String> = sim.package_names().into_iter().take(2).collect();
    shares_a_document(&sim, &a, &b, &names[0]).await;
    for e in [&a, &b] {
        let f = fleet(e);
        assert_eq!(f.mode, "shared", "{f:?}");
        assert_eq!((f.ops_error, f.ops_timeout), (0, 0), "{f:?}");
    }

    // The same URL without the private CA: the public roots do not trust it, so the
    // handshake fails; the replica answers alone and says why.
    let alone = engine_with(replica_config(&sim, Some(&url), "no-ca")).await;
    for _ in 0..4 {
        alone.package_info(&names[1], None).await.unwrap();
    }
    let f = fleet(&alone);
    assert_eq!(f.ops_ok, 0, "{f:?}");
    assert_eq!(f.mode, "degraded", "the gate opened: {f:?}");
    let why = f.last_error.clone().unwrap_or_default().to_lowercase();
    assert!(
        why.contains("certificate") || why.contains("issuer") || why.contains("tls"),
        "health names the TLS failure: {f:?}"
    );
    for e in [a, b, alone] {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_leaves_the_replica_alone_and_health_says_why_without_it() {
    let redis = RedisServer::start_with(free_port(), &["--requirepass", "right-pass-7f3a"]);
    let sim = sim().await;
    let wrong = format!("redis://:wrong-pass-91c2@127.0.0.1:{}", redis.port);
    let right = format!("redis://:right-pass-7f3a@127.0.0.1:{}", redis.port);

    let mut cfg = replica_config(&sim, Some(&wrong), "wrong");
    cfg.fleet.max_replicas = 1;
    let config_shown = format!("{cfg:?}");
    let alone = engine_with(cfg).await;
    assert!(
        alone.health().await.ready,
        "readiness never depends on Redis"
    );
    let names: Vec<String> = sim.package_names().into_iter().take(3).collect();
    for n in &names[..2] {
        alone.package_info(n, None).await.expect("answered alone");
    }
    let f = fleet(&alone);
    assert_eq!(f.ops_ok, 0, "{f:?}");
    let why = f.last_error.clone().unwrap_or_default();
    assert!(
        why.contains("WRONGPASS") || why.to_lowercase().contains("auth"),
        "health says the credentials were refused: {f:?}"
    );
    let shown = serde_json::to_string(&alone.health().await).unwrap()
        + &serde_json::to_string(&alone.metrics()).unwrap()
        + &config_shown;
    for secret in ["wrong-pass-91c2", "right-pass-7f3a"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }

    let a = engine_with(replica_config(&sim, Some(&right), "a")).await;
    let b = engine_with(replica_config(&sim, Some(&right), "b")).await;
    shares_a_document(&sim, &a, &b, &names[2]).await;
    assert_eq!(fleet(&a).ops_error, 0, "{:?}", fleet(&a));
    for e in [alone, a, b] {
        e.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_limited_to_the_namespace_is_all_a_replica_needs() {
    let redis = RedisServer::start();
    // The README's suggested ACL: keys and channels of the namespace only, no
    // dangerous command (FLUSHALL, KEYS, CONFIG, ...).
    let ok = redis.cli(&[
        "ACL",
        "SETUSER",
        "sentinel",
        "on",
        ">acl-pass-5d1e",
        "~pypi-sentinel:*",
        "&pypi-sentinel:*",
        "+@read",
        "+@write",
        "+@scripting",
        "+@pubsub",
        "+@stream",
        "+ping",
        "+time",
        "-@dangerous",
    ]);
    assert_eq!(ok, "OK");
    let sim = sim().await;
    let url = format!("redis://sentinel:acl-pass-5d1e@127.0.0.1:{}", redis.port);
    // pypistats with its real strict windows, so the fleet quota script runs.
    let strict = |id: &str| with_strict_pypistats(replica_config(&sim, Some(&url), id));
    let a = engine_with(strict("a")).await;
    let b = engine_with(strict("b")).await;
    let names: Vec<String> = sim.package_names().into_iter().take(3).collect();
    // Documents (get-or-lease, fill, pub/sub), a strict quota, an invalidation.
    shares_a_document(&sim, &a, &b, &names[0]).await;
    a.download_trend(&names[1], 30).await.unwrap();
    b.download_trend(&names[2], 30).await.unwrap();
    a.invalidate(Some(&names[0])).await.unwrap();
    assert!(fleet(&a).quota_granted >= 1, "{:?}", fleet(&a));
    // Every call the replicas made was allowed: none failed, none was refused.
    for e in [&a, &b] {
        let f = fleet(e);
        assert_eq!(f.mode, "shared", "{f:?}");
        assert_eq!(f.ops_error, 0, "a command or key outside the ACL: {f:?}");
        assert!(f.ops_ok > 3, "{f:?}");
    }
    // The namespace holds what they wrote; nothing landed outside it.
    let all = redis.cli(&["--scan"]);
    assert!(all.lines().count() > 0, "nothing written");
    assert!(
        all.lines().all(|k| k.starts_with("pypi-sentinel:")),
        "keys outside the namespace: {all}"
    );
    for e in [a, b] {
        e.shutdown().await;
    }
}
