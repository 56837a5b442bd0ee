//! Shared helpers for the simulator's integration tests.

#![allow(dead_code)]

use std::time::Duration;

use sentinel_sim::{Sim, SimConfig, SimHandle};

pub async fn start() -> SimHandle {
    Sim::start(SimConfig::default())
        .await
        .expect("simulator starts")
}

pub async fn start_with(cfg: SimConfig) -> SimHandle {
    Sim::start(cfg).await.expect("simulator starts")
}

/// A plain client (follows redirects like any reqwest default client).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A client that does not follow redirects.
pub fn no_redirect() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("header {name} present"))
        .to_str()
        .unwrap()
}

pub async fn get_json(c: &reqwest::Client, url: &str) -> serde_json::Value {
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.unwrap()
}
