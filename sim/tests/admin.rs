//! The HTTP admin API under `/_sim/`.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn faults_can_be_added_listed_and_removed_over_http() {
    let sim = start().await;
    let c = client();
    let base = sim.base_url();
    let r = c
        .post(format!("{base}/_sim/faults"))
        .json(&json!({"route": "/pypi/**", "status": 503, "retry_after": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let r = c
        .post(format!("{base}/_sim/faults"))
        .json(&json!({"route": "/simple/**", "timeline": [{"secs": 5, "active": true}], "repeat": true, "hang": true}))
        .send()
        .await
        .unwrap();
    let id2 = r.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    assert_ne!(id, id2);

    let list = get_json(&c, &format!("{base}/_sim/faults")).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"].as_u64(), Some(id));
    assert_eq!(list[0]["spec"]["status"], 503);
    assert_eq!(list[1]["spec"]["timeline"][0]["secs"], 5);
    assert_eq!(sim.faults().len(), 2);

    let r = c.get(format!("{base}/pypi/bar/json")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "retry-after"), "2");

    let r = c
        .delete(format!("{base}/_sim/faults/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .delete(format!("{base}/_sim/faults/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(sim.faults().len(), 1);
    let r = c.get(format!("{base}/pypi/bar/json")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let r = c
        .delete(format!("{base}/_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(sim.faults().is_empty());
}

#[tokio::test]
async fn bad_fault_specs_are_rejected_with_a_clear_message() {
    let sim = start().await;
    let c = client();
    let url = format!("{}/_sim/faults", sim.base_url());
    let cases = [
        ("{not json", "invalid fault spec"),
        (
            r#"{"route": "/pypi/**", "colour": "red"}"#,
            "unknown field `colour`",
        ),
        (
            r#"{"route": "/pypi/**", "probability": 1.5}"#,
            "probability",
        ),
        (r#"{"route": ""}"#, "route must not be empty"),
        (r#"{"status": 502}"#, "route must not be empty"),
        (
            r#"{"route": "/pypi/**", "drift": "sideways"}"#,
            "drift must be one of",
        ),
        (r#"{"route": "/pypi/**", "status": "502"}"#, "invalid type"),
    ];
    for (body, expect) in cases {
        let r = c
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(expect), "{body}: {msg}");
    }
    assert!(sim.faults().is_empty());
}

#[tokio::test]
async fn stats_and_reset_over_http() {
    let sim = start().await;
    let c = client();
    let base = sim.base_url();
    c.get(format!("{base}/pypi/bar/json")).send().await.unwrap();
    c.get(format!("{base}/pypi/bar/json")).send().await.unwrap();
    c.get(format!("{base}/api/packages/bar/recent"))
        .send()
        .await
        .unwrap();
    let s = get_json(&c, &format!("{base}/_sim/stats")).await;
    assert_eq!(s["total"], 3);
    assert_eq!(s["routes"]["/pypi/bar/json"], 2);
    assert_eq!(s["routes"]["/api/packages/bar/recent"], 1);
    let r = c
        .post(format!("{base}/_sim/stats/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s = get_json(&c, &format!("{base}/_sim/stats")).await;
    assert_eq!(
        s,
        json!({"total": 0, "routes": {}, "max_concurrent_files": 0, "files_bytes": 0})
    );
}

#[tokio::test]
async fn scenarios_over_http() {
    let sim = start().await;
    let c = client();
    let base = sim.base_url();
    let r = c
        .post(format!("{base}/_sim/scenario/pypistats-outage"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!("{base}/api/packages/numpy/recent"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let r = c
        .post(format!("{base}/_sim/scenario/sideways"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("pypistats-outage"));
    let r = c
        .post(format!("{base}/_sim/scenario/healthy"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(sim.faults().is_empty());
    let r = c.get(format!("{base}/_sim/faults/1")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = c.get(format!("{base}/_sim/nothing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn admin_routes_are_never_faulted() {
    let sim = start().await;
    let c = client();
    let base = sim.base_url();
    sim.add_fault(sentinel_sim::FaultSpec {
        status: Some(503),
        ..sentinel_sim::FaultSpec::on("/**")
    });
    let r = c.get(format!("{base}/_sim/stats")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(format!("{base}/pypi/bar/json")).send().await.unwrap();
    assert_eq!(r.status(), 503);
}
