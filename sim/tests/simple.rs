//! Simple API: content negotiation, recorded and generated pages, redirects, 404.

mod common;

use common::*;
use serde_json::Value;

const NUMPY_JSON: &[u8] = include_bytes!("../data/pypi-simple/json/numpy.json");
const NUMPY_HTML: &[u8] = include_bytes!("../data/pypi-simple/html/numpy.html");
const PEP691: &str = "application/vnd.pypi.simple.v1+json";

#[tokio::test]
async fn accept_header_selects_json_or_html() {
    let sim = start().await;
    let c = client();
    let url = format!("{}/simple/numpy/", sim.base_url());
    let r = c.get(&url).header("Accept", PEP691).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), PEP691);
    assert_eq!(header(&r, "vary"), "Accept, Accept-Encoding");
    assert_eq!(header(&r, "cache-control"), "max-age=600, public");
    assert_eq!(header(&r, "x-pypi-last-serial"), "18816205");
    let json_etag = header(&r, "etag").to_owned();
    assert_eq!(&r.bytes().await.unwrap()[..], NUMPY_JSON);

    let r = c
        .get(&url)
        .header(
            "Accept",
            "application/vnd.pypi.simple.v1+json, text/html;q=0.01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-type"), PEP691);

    for accept in [None, Some("text/html"), Some("*/*")] {
        let mut rb = c.get(&url);
        if let Some(a) = accept {
            rb = rb.header("Accept", a);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), "text/html", "{accept:?}");
        assert_ne!(header(&r, "etag"), json_etag);
        assert_eq!(&r.bytes().await.unwrap()[..], NUMPY_HTML);
    }
}

#[tokio::test]
async fn pages_are_generated_for_projects_without_a_simple_fixture() {
    let sim = start().await;
    let c = client();
    let url = format!("{}/simple/django/", sim.base_url());
    let r = c.get(&url).header("Accept", PEP691).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let serial = header(&r, "x-pypi-last-serial").to_owned();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "django");
    assert_eq!(v["meta"]["api-version"], "1.1");
    assert_eq!(v["meta"]["_last-serial"].to_string(), serial);
    let versions: Vec<&str> = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let pos = |s: &str| versions.iter().position(|x| *x == s).unwrap();
    assert!(pos("1.2") < pos("1.10"), "ascending version order");
    let files = v["files"].as_array().unwrap();
    assert!(files.len() > 100);
    for f in files {
        assert!(f["hashes"]["sha256"].as_str().unwrap().len() == 64);
        assert!(f["url"].as_str().unwrap().starts_with("https://"));
    }
    let html = c.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Links for django"));
    assert!(
        html.trim_end()
            .ends_with(&format!("<!--SERIAL {serial}-->"))
    );
}

#[tokio::test]
async fn redirects_and_not_found() {
    let sim = start().await;
    let c = no_redirect();
    for (path, location) in [
        ("/simple/NumPy/", "/simple/numpy/"),
        ("/simple/numpy", "/simple/numpy/"),
        ("/simple/Xo.Gd/", "/simple/xo-gd/"),
    ] {
        let r = c
            .get(format!("{}{path}", sim.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 301, "{path}");
        assert_eq!(header(&r, "location"), location, "{path}");
    }
    let r = c
        .get(format!("{}/simple/no-such-project/", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(header(&r, "content-type").starts_with("text/plain"));
    assert_eq!(r.text().await.unwrap(), "404 Not Found");
}

#[tokio::test]
async fn simple_etag_revalidation() {
    let sim = start().await;
    let c = client();
    let url = format!("{}/simple/pytz/", sim.base_url());
    let r = c.get(&url).header("Accept", PEP691).send().await.unwrap();
    let etag = header(&r, "etag").to_owned();
    let r = c
        .get(&url)
        .header("Accept", PEP691)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
}
