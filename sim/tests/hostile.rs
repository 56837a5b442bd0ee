//! The hostile projects the hardening tests read: what they serve, and that a test can
//! move `sg-offhost-meta`'s foreign origin onto a listener of its own.

mod common;

use common::*;
use sentinel_sim::SimConfig;
use serde_json::Value;

#[tokio::test]
async fn offhost_files_are_listed_on_the_configured_foreign_origin() {
    let foreign = "http://127.0.0.2:9";
    let sim = start_with(SimConfig {
        offhost_origin: Some(foreign.into()),
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let base = sim.base_url();
    let page: Value = c
        .get(format!("{base}/simple/sg-offhost-meta/"))
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = page["files"][0]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{foreign}/files/sg-offhost-meta/")),
        "{url}"
    );
    assert!(page["files"][0]["core-metadata"]["sha256"].is_string());
    let json: Value = get_json(&c, &format!("{base}/pypi/sg-offhost-meta/json")).await;
    let url = json["urls"][0]["url"].as_str().unwrap();
    assert!(url.starts_with(foreign), "{url}");
}

#[tokio::test]
async fn the_hostile_documents_are_served_whole() {
    let sim = start().await;
    let c = client();
    let base = sim.base_url();
    let deep: Value = get_json(&c, &format!("{base}/pypi/sg-deep-marker/json")).await;
    let reqs = deep["info"]["requires_dist"].as_array().unwrap();
    assert!(
        reqs.iter()
            .any(|r| r.as_str().unwrap().contains(&"(".repeat(10_000)))
    );
    let huge: Value = get_json(&c, &format!("{base}/pypi/sg-huge-readme/json")).await;
    assert!(huge["info"]["description"].as_str().unwrap().len() > 20_000_000);
    let hub: Value = get_json(&c, &format!("{base}/pypi/sg-readme-hub/json")).await;
    assert_eq!(hub["info"]["requires_dist"].as_array().unwrap().len(), 30);
}
