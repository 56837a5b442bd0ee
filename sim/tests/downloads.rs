//! Simulated download statistics: pypistats.org, pepy.tech and the top-packages list,
//! plus synthetic packages.

mod common;

use std::collections::BTreeMap;

use common::*;
use sentinel_sim::{RATE_LIMIT_BODY, SYNTHETIC_SUMMARY, SimConfig};
use serde_json::Value;

fn series(v: &Value, category: &str) -> Vec<(String, u64)> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["category"] == category)
        .map(|r| {
            (
                r["date"].as_str().unwrap().to_owned(),
                r["downloads"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn recent_is_consistent_with_overall() {
    let sim = start().await;
    let c = client();
    let base = sim.base_url();
    let r = c
        .get(format!("{base}/api/packages/numpy/recent"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "application/json");
    let text = r.text().await.unwrap();
    assert!(text.ends_with('\n'));
    assert!(
        text.starts_with("{\"data\":{\"last_day\":"),
        "sorted, compact: {text}"
    );
    let recent: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(recent["package"], "numpy");
    assert_eq!(recent["type"], "recent_downloads");

    let overall = get_json(&c, &format!("{base}/api/packages/numpy/overall")).await;
    assert_eq!(overall["type"], "overall_downloads");
    let without = series(&overall, "without_mirrors");
    let with = series(&overall, "with_mirrors");
    assert_eq!(without.len(), 180);
    assert_eq!(with.len(), 180);
    assert_eq!(
        without.last().unwrap().0,
        sim.today().plus_days(-1).to_string(),
        "ends the day before the simulator's today"
    );
    assert_eq!(
        without.first().unwrap().0,
        sim.today().plus_days(-180).to_string()
    );
    for (w, wo) in with.iter().zip(&without) {
        assert_eq!(w.0, wo.0);
        assert!(w.1 >= wo.1, "with_mirrors >= without_mirrors on {}", w.0);
    }
    // Ordered by category then date.
    let cats: Vec<&str> = overall["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["category"].as_str().unwrap())
        .collect();
    assert!(cats[..180].iter().all(|c| *c == "with_mirrors"));
    assert!(without.windows(2).all(|p| p[0].0 < p[1].0));

    let sum = |n: usize| without.iter().rev().take(n).map(|x| x.1).sum::<u64>();
    assert_eq!(recent["data"]["last_day"].as_u64().unwrap(), sum(1));
    assert_eq!(recent["data"]["last_week"].as_u64().unwrap(), sum(7));
    assert_eq!(recent["data"]["last_month"].as_u64().unwrap(), sum(30));

    let only = get_json(
        &c,
        &format!("{base}/api/packages/numpy/overall?mirrors=false"),
    )
    .await;
    assert_eq!(series(&only, "without_mirrors"), without);
    assert!(series(&only, "with_mirrors").is_empty());
    let only = get_json(
        &c,
        &format!("{base}/api/packages/numpy/overall?mirrors=true"),
    )
    .await;
    assert_eq!(series(&only, "with_mirrors"), with);
    assert_eq!(only["data"].as_array().unwrap().len(), 180);
}

#[tokio::test]
async fn period_filter_and_invalid_period() {
    let sim = start().await;
    let c = client();
    let base = sim.base_url();
    let all = get_json(&c, &format!("{base}/api/packages/pytest/recent")).await;
    for (p, key) in [
        ("day", "last_day"),
        ("week", "last_week"),
        ("month", "last_month"),
    ] {
        let v = get_json(&c, &format!("{base}/api/packages/pytest/recent?period={p}")).await;
        let data = v["data"].as_object().unwrap();
        assert_eq!(data.len(), 1, "{p}");
        assert_eq!(data[key], all["data"][key]);
    }
    let r = c
        .get(format!("{base}/api/packages/pytest/recent?period=year"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "404");
}

#[tokio::test]
async fn unknown_packages() {
    let sim = start().await;
    let c = client();
    let base = sim.base_url();
    for ep in ["recent", "overall"] {
        let r = c
            .get(format!("{base}/api/packages/no-such-pkg/{ep}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{ep}");
        assert!(header(&r, "content-type").starts_with("text/html"));
        assert_eq!(r.text().await.unwrap(), "404");
    }
    for ep in ["python_major", "python_minor", "system"] {
        let v = get_json(&c, &format!("{base}/api/packages/no-such-pkg/{ep}")).await;
        assert_eq!(v["data"], serde_json::json!([]), "{ep}");
        assert_eq!(v["type"], format!("{ep}_downloads"));
        assert_eq!(v["package"], "no-such-pkg");
    }
    // The server does not lower-case: `NumPy` is unknown; `.`/`_` become `-`.
    let r = c
        .get(format!("{base}/api/packages/NumPy/recent"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v = get_json(&c, &format!("{base}/api/packages/xo_gd/recent")).await;
    assert_eq!(v["package"], "xo-gd");
}

#[tokio::test]
async fn breakdowns_split_the_series_and_filter_like_str_title() {
    let sim = start().await;
    let c = client();
    let base = sim.base_url();
    let overall = get_json(
        &c,
        &format!("{base}/api/packages/django/overall?mirrors=false"),
    )
    .await;
    let total: BTreeMap<String, u64> = series(&overall, "without_mirrors").into_iter().collect();
    for (ep, cats) in [
        ("python_major", vec!["2", "3", "null"]),
        (
            "python_minor",
            vec!["2.7", "3.10", "3.11", "3.12", "3.13", "3.8", "3.9", "null"],
        ),
        (
            "system",
            vec!["Darwin", "Linux", "Windows", "null", "other"],
        ),
    ] {
        let v = get_json(&c, &format!("{base}/api/packages/django/{ep}")).await;
        let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
        let mut seen = Vec::new();
        for r in v["data"].as_array().unwrap() {
            let cat = r["category"].as_str().unwrap().to_owned();
            if seen.last() != Some(&cat) {
                seen.push(cat);
            }
            *per_day
                .entry(r["date"].as_str().unwrap().to_owned())
                .or_default() += r["downloads"].as_u64().unwrap();
        }
        assert_eq!(seen, cats, "{ep}: ordered by category");
        assert_eq!(per_day, total, "{ep}: categories sum to the daily total");
    }
    let v = get_json(&c, &format!("{base}/api/packages/django/system?os=linux")).await;
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 180);
    assert!(data.iter().all(|r| r["category"] == "Linux"));
    let v = get_json(&c, &format!("{base}/api/packages/django/system?os=other")).await;
    assert_eq!(
        v["data"],
        serde_json::json!([]),
        "str.title() makes `Other`"
    );
    let v = get_json(
        &c,
        &format!("{base}/api/packages/django/python_minor?version=3.10"),
    )
    .await;
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["category"] == "3.10")
    );
    assert_eq!(v["data"].as_array().unwrap().len(), 180);
    let v = get_json(
        &c,
        &format!("{base}/api/packages/django/python_major?version=null"),
    )
    .await;
    assert_eq!(v["data"], serde_json::json!([]));
}

#[tokio::test]
async fn numbers_are_deterministic_per_seed() {
    let a = start().await;
    let b = start().await;
    let other = start_with(SimConfig {
        seed: 7,
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let fetch = |base: String| {
        let c = c.clone();
        async move {
            let r = c
                .get(format!("{base}/api/packages/black/overall"))
                .send()
                .await
                .unwrap();
            r.bytes().await.unwrap()
        }
    };
    let x = fetch(a.base_url()).await;
    let y = fetch(b.base_url()).await;
    let z = fetch(other.base_url()).await;
    assert_eq!(x, y, "same seed, same bytes");
    assert_ne!(x, z, "another seed, other numbers");
    let t1 = fetch_top(&c, &a.base_url()).await;
    let t2 = fetch_top(&c, &b.base_url()).await;
    assert_eq!(t1, t2);
}

async fn fetch_top(c: &reqwest::Client, base: &str) -> Value {
    get_json(c, &format!("{base}/top-pypi-packages.min.json")).await
}

#[tokio::test]
async fn rate_limit_answers_429_on_the_sixth_request_within_a_second() {
    let sim = start_with(SimConfig {
        pypistats_rate_limit: true,
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let url = format!("{}/api/packages/numpy/recent", sim.base_url());
    let started = std::time::Instant::now();
    for i in 0..5 {
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i}");
    }
    let r = c.get(&url).send().await.unwrap();
    assert!(started.elapsed().as_millis() < 1000, "test ran slowly");
    assert_eq!(r.status(), 429);
    assert!(header(&r, "content-type").starts_with("text/html"));
    assert_eq!(r.text().await.unwrap(), RATE_LIMIT_BODY);
    assert_eq!(
        RATE_LIMIT_BODY,
        "<a href=\"/api/#etiquette\">429 RATE LIMIT EXCEEDED</a>"
    );
    // Other upstreams are not limited.
    let r = c
        .get(format!("{}/pypi/bar/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Off by default.
    let free = start().await;
    let url = format!("{}/api/packages/numpy/recent", free.base_url());
    for _ in 0..10 {
        assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn pepy_without_and_with_api_key() {
    let sim = start().await;
    let c = client();
    let base = sim.base_url();
    let v = get_json(&c, &format!("{base}/api/v2/projects/Django")).await;
    assert_eq!(v["id"], "django");
    let versions: Vec<&str> = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(versions.contains(&"1.10"));
    let downloads = v["downloads"].as_object().unwrap();
    assert_eq!(downloads.len(), 90);
    assert_eq!(
        downloads.keys().next_back().unwrap(),
        &sim.today().plus_days(-1).to_string()
    );
    let mut sum = 0;
    for per in downloads.values() {
        for (ver, n) in per.as_object().unwrap() {
            assert!(versions.contains(&ver.as_str()));
            sum += n.as_u64().unwrap();
        }
    }
    assert!(v["total_downloads"].as_u64().unwrap() >= sum);
    // Daily totals agree with pypistats' without_mirrors series.
    let overall = get_json(
        &c,
        &format!("{base}/api/packages/django/overall?mirrors=false"),
    )
    .await;
    let last = series(&overall, "without_mirrors").pop().unwrap();
    let day: u64 = downloads[&last.0]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(day, last.1);

    let r = c
        .get(format!("{base}/api/v2/projects/requestz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "Project not found: requestz");

    let keyed = start_with(SimConfig {
        pepy_api_key: Some("sekret".into()),
        ..SimConfig::default()
    })
    .await;
    let url = format!("{}/api/v2/projects/numpy", keyed.base_url());
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().await.unwrap()["message"].is_string());
    let r = c
        .get(&url)
        .header("X-API-Key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(&url)
        .header("X-API-Key", "sekret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], "numpy");
}

#[tokio::test]
async fn top_packages_sorted_descending_and_complete() {
    let sim = start_with(SimConfig {
        synthetic: 5,
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let v = fetch_top(&c, &sim.base_url()).await;
    assert_eq!(v["last_update"], format!("{} 00:00:00", sim.today()));
    let rows = v["rows"].as_array().unwrap();
    let counts: Vec<u64> = rows
        .iter()
        .map(|r| r["download_count"].as_u64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    let mut names: Vec<String> = rows
        .iter()
        .map(|r| r["project"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    // Every package but the synthetic typo-squats, which are not popular.
    let mut expected = sim.package_names();
    expected.retain(|n| n != "numpyy");
    assert_eq!(names, expected);
    // download_count is the 30-day total of the pypistats series.
    let first = &rows[0];
    let recent = get_json(
        &c,
        &format!(
            "{}/api/packages/{}/recent?period=month",
            sim.base_url(),
            first["project"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(recent["data"]["last_month"], first["download_count"]);
}

#[tokio::test]
async fn synthetic_packages_are_served_everywhere() {
    let sim = start_with(SimConfig {
        synthetic: 3,
        ..SimConfig::default()
    })
    .await;
    let names = sim.package_names();
    assert!(names.contains(&"synth-0000".to_owned()));
    assert!(names.contains(&"synth-0002".to_owned()));
    assert!(!names.contains(&"synth-0003".to_owned()));
    let c = client();
    let base = sim.base_url();
    let v = get_json(&c, &format!("{base}/pypi/synth-0001/json")).await;
    assert_eq!(v["info"]["summary"], SYNTHETIC_SUMMARY);
    assert_eq!(v["info"]["name"], "synth-0001");
    let info = v["info"].as_object().unwrap();
    for key in [
        "author",
        "author_email",
        "bugtrack_url",
        "classifiers",
        "description",
        "description_content_type",
        "docs_url",
        "download_url",
        "downloads",
        "dynamic",
        "home_page",
        "keywords",
        "license",
        "license_expression",
        "license_files",
        "maintainer",
        "maintainer_email",
        "name",
        "package_url",
        "platform",
        "project_url",
        "project_urls",
        "provides_extra",
        "release_url",
        "requires_dist",
        "requires_python",
        "summary",
        "version",
        "yanked",
        "yanked_reason",
    ] {
        assert!(info.contains_key(key), "info.{key}");
    }
    let latest = v["info"]["version"].as_str().unwrap();
    assert!(v["releases"][latest].as_array().unwrap().len() == 2);
    let rel = get_json(&c, &format!("{base}/pypi/synth-0001/{latest}/json")).await;
    assert_eq!(rel["info"]["version"], latest);
    let simple = c
        .get(format!("{base}/simple/synth-0001/"))
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(simple["name"], "synth-0001");
    let recent = get_json(&c, &format!("{base}/api/packages/synth-0001/recent")).await;
    assert!(recent["data"]["last_month"].as_u64().unwrap() > 0);
    let pepy = get_json(&c, &format!("{base}/api/v2/projects/synth-0001")).await;
    assert_eq!(pepy["id"], "synth-0001");
    // Deterministic across simulators with the same seed.
    let again = start_with(SimConfig {
        synthetic: 3,
        ..SimConfig::default()
    })
    .await;
    let w = get_json(&c, &format!("{}/pypi/synth-0001/json", again.base_url())).await;
    assert_eq!(v, w);
    let r = c
        .get(format!("{base}/pypi/synth-0003/json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn top_list_carries_last_modified_and_answers_304_to_if_modified_since() {
    let sim = start().await;
    // The list's last_update is the simulated today: pinned, so the dates below hold.
    sim.set_today(Some("2026-11-24".parse().unwrap()));
    let c = client();
    let url = format!("{}/top-pypi-packages.min.json", sim.base_url());
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let lm = header(&r, "last-modified").to_owned();
    assert_eq!(
        lm, "Tue, 24 Nov 2026 00:00:00 GMT",
        "the list's last_update"
    );
    let etag = header(&r, "etag").to_owned();
    let ask = |ims: &str, inm: Option<&str>| {
        let mut rb = c.get(&url).header("If-Modified-Since", ims);
        if let Some(e) = inm {
            rb = rb.header("If-None-Match", e);
        }
        rb.send()
    };
    // The same date, or a later one: not modified.
    assert_eq!(ask(&lm, None).await.unwrap().status(), 304);
    assert_eq!(
        ask("Wed, 25 Nov 2026 10:00:00 GMT", None)
            .await
            .unwrap()
            .status(),
        304
    );
    // An earlier date, or one that is not a date: the body.
    assert_eq!(
        ask("Mon, 23 Nov 2026 00:00:00 GMT", None)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(ask("yesterday", None).await.unwrap().status(), 200);
    // If-None-Match decides when both are sent (RFC 9110 section 13.1.3).
    assert_eq!(
        ask(&lm, Some("\"other0000000000000000\""))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(ask(&lm, Some(&etag)).await.unwrap().status(), 304);
}

#[tokio::test]
async fn no_etag_fault_strips_the_etag_and_keeps_last_modified() {
    let sim = start().await;
    sim.add_fault(sentinel_sim::FaultSpec {
        no_etag: true,
        ..sentinel_sim::FaultSpec::on("/top-pypi-packages.min.json")
    });
    let c = client();
    let url = format!("{}/top-pypi-packages.min.json", sim.base_url());
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("etag").is_none());
    let lm = header(&r, "last-modified").to_owned();
    let r = c
        .get(&url)
        .header("If-Modified-Since", &lm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
}

#[tokio::test]
async fn sim_dates_relative_to_today_unless_pinned_and_lag_moves_pypistats_back() {
    let c = client();
    let newest = |v: &Value| series(v, "without_mirrors").last().unwrap().0.clone();
    // Default: the real UTC date.
    let sim = start().await;
    let base = sim.base_url();
    assert_eq!(sim.today(), sentinel_sim::SimDay::today_utc());
    let v = get_json(&c, &format!("{base}/api/packages/numpy/overall")).await;
    assert_eq!(newest(&v), sim.today().plus_days(-1).to_string());

    // Pinned at start, then moved at runtime (handle and admin API).
    let pinned: sentinel_sim::SimDay = "2026-11-24".parse().unwrap();
    let sim = start_with(SimConfig {
        today: Some(pinned),
        pypistats_lag_days: 3,
        ..SimConfig::default()
    })
    .await;
    let base = sim.base_url();
    let v = get_json(&c, &format!("{base}/api/packages/numpy/overall")).await;
    assert_eq!(newest(&v), "2026-11-20", "3 days behind yesterday");
    let pepy = get_json(&c, &format!("{base}/api/v2/projects/numpy")).await;
    assert_eq!(
        pepy["downloads"]
            .as_object()
            .unwrap()
            .keys()
            .next_back()
            .unwrap(),
        "2026-11-23",
        "pepy keeps its schedule"
    );
    sim.set_pypistats_lag_days(0);
    sim.set_today(Some(pinned.plus_days(1)));
    let v = get_json(&c, &format!("{base}/api/packages/numpy/overall")).await;
    assert_eq!(newest(&v), "2026-11-24");
    let r = c
        .put(format!("{base}/_sim/calendar"))
        .body(r#"{"today":"2026-12-01","pypistats_lag_days":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cal: Value = r.json().await.unwrap();
    assert_eq!(cal["today"], "2026-12-01");
    assert_eq!(cal["pinned"], true);
    let v = get_json(&c, &format!("{base}/api/packages/numpy/overall")).await;
    assert_eq!(newest(&v), "2026-11-29");
    let bad = c
        .put(format!("{base}/_sim/calendar"))
        .body(r#"{"today":"tomorrow"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("YYYY-MM-DD"));
}
