//! Every fault kind as a plain reqwest client sees it, plus probability, `times`,
//! timelines, ordering and stats.

mod common;

use std::time::Duration;

use common::*;
use sentinel_sim::{FaultSpec, Phase, Scenario, SimConfig};
use serde_json::Value;

const BAR: &[u8] = include_bytes!("../data/pypi-json/project/bar.json");

fn spec(route: &str) -> FaultSpec {
    FaultSpec::on(route)
}

#[tokio::test]
async fn status_fault_502_only_on_matching_routes() {
    let sim = start().await;
    sim.add_fault(FaultSpec {
        status: Some(502),
        ..spec("/api/packages/*/recent")
    });
    let c = client();
    let base = sim.base_url();
    let r = c
        .get(format!("{base}/api/packages/numpy/recent"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.text().await.unwrap(), "502", "pypistats-style body");
    let r = c
        .get(format!("{base}/api/packages/numpy/overall"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!("{base}/pypi/numpy/json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn status_429_with_retry_after() {
    let sim = start().await;
    sim.add_fault(FaultSpec {
        status: Some(429),
        retry_after: Some(7),
        ..spec("/pypi/**")
    });
    let r = client()
        .get(format!("{}/pypi/bar/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), "7");
}

#[tokio::test]
async fn redirect_loop_points_at_itself() {
    let sim = start().await;
    sim.add_fault(FaultSpec {
        redirect_loop: true,
        ..spec("/pypi/**")
    });
    let r = no_redirect()
        .get(format!("{}/pypi/bar/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(header(&r, "location"), "/pypi/bar/json");
    // A following client gives up with a redirect error.
    let err = client()
        .get(format!("{}/pypi/bar/json", sim.base_url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_redirect(), "{err:?}");
    assert!(sim.stats().matching("/pypi/bar/json") > 2);
}

#[tokio::test]
async fn redirect_to_the_display_name_bounces_back_to_the_normalised_name() {
    let sim = start().await;
    sim.add_fault(FaultSpec {
        redirect_to: Some("/pypi/Bar/json".into()),
        ..spec("/pypi/bar/json")
    });
    let r = no_redirect()
        .get(format!("{}/pypi/bar/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(header(&r, "location"), "/pypi/Bar/json");
    // The display name is not normalised: the simulator redirects it back.
    let r = no_redirect()
        .get(format!("{}/pypi/Bar/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(header(&r, "location"), "/pypi/bar/json");
    assert!(
        FaultSpec {
            redirect_to: Some("no-slash".into()),
            ..spec("/pypi/**")
        }
        .validate()
        .is_err()
    );
}

#[tokio::test]
async fn latency_delays_then_answers_normally() {
    let sim = start().await;
    sim.add_fault(FaultSpec {
        latency_ms: Some(150),
        ..spec("/pypi/**")
    });
    let started = std::time::Instant::now();
    let r = client()
        .get(format!("{}/pypi/bar/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(&r.bytes().await.unwrap()[..], BAR);
}

#[tokio::test(start_paused = true)]
async fn latency_uses_the_tokio_clock() {
    let sim = start().await;
    sim.add_fault(FaultSpec {
        latency_ms: Some(60_000),
        ..spec("/pypi/**")
    });
    let started = tokio::time::Instant::now();
    let r = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
        .get(format!("{}/pypi/bar/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(60),
        "a minute of paused time"
    );
}

#[tokio::test]
async fn hang_is_observed_as_a_client_timeout() {
    let sim = start().await;
    sim.add_fault(FaultSpec {
        hang: true,
        ..spec("/simple/**")
    });
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = c
        .get(format!("{}/simple/numpy/", sim.base_url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Shutdown releases hung requests and returns.
    tokio::time::timeout(Duration::from_secs(5), sim.shutdown())
        .await
        .expect("shutdown does not wait for hung requests forever");
}

#[tokio::test]
async fn reset_drops_the_connection_without_a_response() {
    let sim = start().await;
    sim.add_fault(FaultSpec {
        reset: true,
        ..spec("/pypi/**")
    });
    let err = client()
        .get(format!("{}/pypi/bar/json", sim.base_url()))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");
    assert!(err.is_request(), "no response at all: {err:?}");
    assert!(err.status().is_none());
    // The server keeps serving other routes.
    let r = client()
        .get(format!("{}/simple/numpy/", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn truncate_sends_the_real_length_then_half_the_body() {
    let sim = start().await;
    sim.add_fault(FaultSpec {
        truncate: true,
        ..spec("/pypi/**")
    });
    let r = client()
        .get(format!("{}/pypi/bar/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.content_length(), Some(BAR.len() as u64));
    let err = r.bytes().await.unwrap_err();
    assert!(err.is_body() || err.is_decode(), "{err:?}");
}

#[tokio::test]
async fn oversize_streams_exactly_the_announced_length() {
    let sim = start().await;
    let n = 3 * 1024 * 1024 + 17;
    sim.add_fault(FaultSpec {
        oversize_bytes: Some(n),
        ..spec("/pypi/**")
    });
    let r = client()
        .get(format!("{}/pypi/bar/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "application/json");
    assert_eq!(r.content_length(), Some(n));
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len() as u64, n);
    assert!(body.starts_with(b"{\"info\":{"));
}

#[tokio::test]
async fn malformed_json_is_not_json() {
    let sim = start().await;
    sim.add_fault(FaultSpec {
        malformed_json: true,
        ..spec("/api/packages/**")
    });
    let r = client()
        .get(format!("{}/api/packages/numpy/overall", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "application/json");
    let body = r.bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    assert!(body.ends_with(b"{\"info\": {"));
}

/// (drift kind, fault route, request path, check of the drifted body).
type DriftCase = (&'static str, &'static str, &'static str, fn(&Value) -> bool);

#[tokio::test]
async fn drift_variants() {
    let sim = start().await;
    let c = client();
    let base = sim.base_url();
    let cases: &[DriftCase] = &[
        ("missing_field", "/pypi/**", "/pypi/bar/json", |v| {
            v.get("info").is_none() && v.get("releases").is_some()
        }),
        ("null_array", "/pypi/**", "/pypi/bar/json", |v| {
            v["releases"].is_null() && v["info"].is_object()
        }),
        ("unknown_field", "/pypi/**", "/pypi/bar/json", |v| {
            v["sim_unknown_field"] == 1 && v["info"]["name"] == "bar"
        }),
        (
            "missing_field",
            "/api/**",
            "/api/packages/bar/overall",
            |v| v.get("data").is_none() && v["package"] == "bar",
        ),
        ("null_array", "/api/**", "/api/packages/bar/overall", |v| {
            v["data"].is_null()
        }),
        ("missing_field", "/simple/**", "/simple/numpy/", |v| {
            v.get("files").is_none() && v.get("versions").is_none()
        }),
        ("null_array", "/simple/**", "/simple/numpy/", |v| {
            v["files"].is_null()
        }),
        ("missing_field", "/api/v2/**", "/api/v2/projects/bar", |v| {
            v.get("total_downloads").is_none()
        }),
        (
            "missing_field",
            "/top-pypi-packages.min.json",
            "/top-pypi-packages.min.json",
            |v| v.get("rows").is_none() && v.get("last_update").is_some(),
        ),
        (
            "null_array",
            "/top-pypi-packages.min.json",
            "/top-pypi-packages.min.json",
            |v| v["rows"].is_null(),
        ),
    ];
    for (kind, route, path, check) in cases {
        sim.clear_faults();
        sim.add_fault(FaultSpec {
            drift: Some((*kind).into()),
            ..spec(route)
        });
        let r = c
            .get(format!("{base}{path}"))
            .header("Accept", "application/vnd.pypi.simple.v1+json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{kind} {path}");
        let v: Value = r.json().await.unwrap();
        assert!(check(&v), "{kind} {path}: {v}");
    }
}

#[tokio::test]
async fn content_type_override() {
    let sim = start().await;
    sim.add_fault(FaultSpec {
        content_type: Some("text/html; charset=utf-8".into()),
        ..spec("/pypi/**")
    });
    let r = client()
        .get(format!("{}/pypi/bar/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert_eq!(&r.bytes().await.unwrap()[..], BAR, "body untouched");
}

#[tokio::test]
async fn probability_zero_never_and_one_always() {
    let sim = start().await;
    let c = client();
    let url = format!("{}/pypi/bar/json", sim.base_url());
    let id = sim.add_fault(FaultSpec {
        status: Some(503),
        probability: Some(0.0),
        ..spec("/pypi/**")
    });
    for _ in 0..20 {
        assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
    }
    assert!(sim.remove_fault(id));
    sim.add_fault(FaultSpec {
        status: Some(503),
        probability: Some(1.0),
        ..spec("/pypi/**")
    });
    for _ in 0..20 {
        assert_eq!(c.get(&url).send().await.unwrap().status(), 503);
    }
}

#[tokio::test]
async fn probability_half_applies_to_some() {
    let sim = start().await;
    let c = client();
    let url = format!("{}/pypi/bar/json", sim.base_url());
    sim.add_fault(FaultSpec {
        status: Some(503),
        probability: Some(0.5),
        ..spec("/pypi/**")
    });
    let mut faulted = 0;
    for _ in 0..100 {
        if c.get(&url).send().await.unwrap().status() == 503 {
            faulted += 1;
        }
    }
    assert!((20..=80).contains(&faulted), "{faulted}");
}

#[tokio::test]
async fn times_applies_to_exactly_n_requests() {
    let sim = start().await;
    let c = client();
    let url = format!("{}/pypi/bar/json", sim.base_url());
    sim.add_fault(FaultSpec {
        status: Some(502),
        times: Some(2),
        ..spec("/pypi/**")
    });
    // A non-matching request does not use it up.
    let r = c
        .get(format!("{}/simple/numpy/", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(c.get(&url).send().await.unwrap().status().as_u16());
        }
        v
    };
    assert_eq!(statuses, [502, 502, 200, 200, 200]);
}

#[tokio::test]
async fn first_active_matching_fault_wins() {
    let sim = start().await;
    let c = client();
    sim.add_fault(FaultSpec {
        status: Some(500),
        ..spec("/pypi/bar/**")
    });
    sim.add_fault(FaultSpec {
        status: Some(503),
        ..spec("/pypi/**")
    });
    let base = sim.base_url();
    let r = c.get(format!("{base}/pypi/bar/json")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    let r = c
        .get(format!("{base}/pypi/apeye/json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let faults = sim.faults();
    assert_eq!(faults.len(), 2);
    assert_eq!(faults[0].1.status, Some(500));
    sim.clear_faults();
    assert!(sim.faults().is_empty());
    let r = c.get(format!("{base}/pypi/bar/json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn timeline_end_to_end_with_a_paused_clock() {
    let sim = start().await;
    sim.add_fault(FaultSpec {
        status: Some(502),
        timeline: Some(vec![
            Phase {
                secs: 10,
                active: false,
            },
            Phase {
                secs: 30,
                active: true,
            },
        ]),
        ..spec("/pypi/**")
    });
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = format!("{}/pypi/bar/json", sim.base_url());
    assert_eq!(
        c.get(&url).send().await.unwrap().status(),
        200,
        "healthy 10 s"
    );
    tokio::time::advance(Duration::from_secs(15)).await;
    assert_eq!(c.get(&url).send().await.unwrap().status(), 502, "outage");
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(
        c.get(&url).send().await.unwrap().status(),
        200,
        "healthy again"
    );
}

#[tokio::test]
async fn stats_count_upstream_requests_not_admin_ones() {
    let sim = start().await;
    let c = client();
    let base = sim.base_url();
    sim.add_fault(FaultSpec {
        status: Some(502),
        ..spec("/api/packages/**")
    });
    for _ in 0..3 {
        c.get(format!("{base}/api/packages/numpy/recent"))
            .send()
            .await
            .unwrap();
    }
    c.get(format!("{base}/pypi/bar/json")).send().await.unwrap();
    c.get(format!("{base}/no/such/route")).send().await.unwrap();
    c.get(format!("{base}/_sim/stats")).send().await.unwrap();
    c.get(format!("{base}/_sim/faults")).send().await.unwrap();
    let s = sim.stats();
    assert_eq!(s.total, 5);
    assert_eq!(s.routes["/api/packages/numpy/recent"], 3);
    assert_eq!(s.matching("/api/packages/**"), 3);
    assert_eq!(s.matching("/pypi/*/json"), 1);
    assert!(!s.routes.keys().any(|k| k.starts_with("/_sim")));
    sim.reset_stats();
    assert_eq!(sim.stats().total, 0);
    assert!(sim.stats().routes.is_empty());
}

#[tokio::test]
async fn scenarios_install_their_faults() {
    let sim = start_with(SimConfig::default()).await;
    let c = client();
    let base = sim.base_url();
    sim.apply_scenario(Scenario::PypistatsOutage);
    let r = c
        .get(format!("{base}/api/packages/numpy/recent"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(
        c.get(format!("{base}/pypi/bar/json"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    sim.apply_scenario(Scenario::RedirectLoop);
    let r = no_redirect()
        .get(format!("{base}/pypi/bar/json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(header(&r, "location"), "/pypi/bar/json");
    assert_eq!(
        c.get(format!("{base}/api/packages/numpy/recent"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "a scenario replaces the previous one"
    );

    sim.apply_scenario(Scenario::RateLimited);
    let mut limited = 0;
    for _ in 0..40 {
        let r = c
            .get(format!("{base}/api/packages/numpy/recent"))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            assert_eq!(header(&r, "retry-after"), "1");
            limited += 1;
        }
    }
    assert!((5..=35).contains(&limited), "{limited}");

    sim.apply_scenario(Scenario::Flaky);
    let mut failed = 0;
    for _ in 0..60 {
        if c.get(format!("{base}/simple/numpy/"))
            .send()
            .await
            .unwrap()
            .status()
            == 503
        {
            failed += 1;
        }
    }
    assert!((3..=40).contains(&failed), "{failed}");

    sim.apply_scenario(Scenario::Healthy);
    assert!(sim.faults().is_empty());
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn distribution_files_hash_to_their_listed_digests_and_corrupt_bytes_keeps_the_length() {
    let sim = start().await;
    let c = client();
    let base = sim.base_url();
    let release = get_json(&c, &format!("{base}/pypi/sg-native/1.0.0/json")).await;
    let urls = release["urls"].as_array().unwrap();
    assert_eq!(urls.len(), 8, "seven wheels and an sdist");
    let simple: Value = c
        .get(format!("{base}/simple/sg-native/"))
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for f in urls {
        let url = f["url"].as_str().unwrap();
        assert!(url.starts_with("/files/sg-native/"), "{url}");
        let body = c
            .get(format!("{base}{url}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        // Wheels are real zip files; the sdist is invented bytes that say so.
        if url.ends_with(".whl") {
            assert!(body.starts_with(b"PK\x03\x04"), "{url}: a zip file");
        } else {
            assert!(body.starts_with(b"sentinel-sim invented file"), "{url}");
        }
        assert_eq!(body.len() as u64, f["size"].as_u64().unwrap());
        assert_eq!(sha256_hex(&body), f["digests"]["sha256"]);
        let listed = simple["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["filename"] == f["filename"])
            .unwrap();
        assert_eq!(listed["hashes"]["sha256"], f["digests"]["sha256"]);
        assert_eq!(listed["url"], f["url"]);
    }
    let url = format!("{base}{}", urls[0]["url"].as_str().unwrap());
    let good = c.get(&url).send().await.unwrap().bytes().await.unwrap();
    sim.add_fault(FaultSpec {
        corrupt_bytes: true,
        ..spec("/files/**")
    });
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.content_length(), Some(good.len() as u64));
    let bad = r.bytes().await.unwrap();
    assert_eq!(bad.len(), good.len());
    assert_ne!(bad, good);
    assert_ne!(sha256_hex(&bad), sha256_hex(&good));
}
