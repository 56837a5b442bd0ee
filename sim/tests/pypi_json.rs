//! PyPI JSON API routes: recorded bytes, generated releases, redirects, 404s, caching
//! headers.

mod common;

use common::*;
use serde_json::Value;

const NUMPY: &[u8] = include_bytes!("../data/pypi-json/project/numpy.json");
const NUMPY_1_20_3: &[u8] = include_bytes!("../data/pypi-json/release/numpy-1.20.3.json");
const OCTOCHEESE_2026: &[u8] = include_bytes!("../data/pypi-json/project/octocheese-2026-02.json");
const NOT_FOUND: &[u8] =
    include_bytes!("../data/pypi-json/errors/404-project-fizzbuzz-2021-01.html");

#[tokio::test]
async fn project_route_serves_the_fixture_bytes_with_pypi_headers() {
    let sim = start().await;
    let r = client()
        .get(format!("{}/pypi/numpy/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "application/json");
    assert_eq!(header(&r, "cache-control"), "max-age=900, public");
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    assert_eq!(header(&r, "vary"), "Accept-Encoding");
    let etag = header(&r, "etag").to_owned();
    assert_eq!(etag.len(), 24, "quoted 22-char ETag: {etag}");
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    let serial: u64 = header(&r, "x-pypi-last-serial").parse().unwrap();
    let body = r.bytes().await.unwrap();
    assert_eq!(&body[..], NUMPY, "byte-exact fixture");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["last_serial"].as_u64(), Some(serial));
}

#[tokio::test]
async fn every_fixture_project_is_served_with_a_matching_serial_header() {
    let sim = start().await;
    let c = client();
    let names = sim.package_names();
    assert!(names.len() >= 15, "{names:?}");
    for name in names {
        let r = c
            .get(format!("{}/pypi/{name}/json", sim.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        let serial: u64 = header(&r, "x-pypi-last-serial").parse().unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["last_serial"].as_u64(), Some(serial), "{name}");
        let display = v["info"]["name"].as_str().unwrap().to_lowercase();
        assert_eq!(display.replace(['_', '.'], "-"), name);
    }
}

#[tokio::test]
async fn octocheese_is_the_2026_recording() {
    let sim = start().await;
    let body = client()
        .get(format!("{}/pypi/octocheese/json", sim.base_url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&body[..], OCTOCHEESE_2026);
}

#[tokio::test]
async fn release_route_serves_the_release_fixture() {
    let sim = start().await;
    let r = client()
        .get(format!("{}/pypi/numpy/1.20.3/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-pypi-last-serial"), "10940704");
    assert_eq!(&r.bytes().await.unwrap()[..], NUMPY_1_20_3);
    // A release-only fixture (no project fixture).
    let v = get_json(
        &client(),
        &format!("{}/pypi/shippinglabel/0.12.0/json", sim.base_url()),
    )
    .await;
    assert_eq!(v["info"]["version"], "0.12.0");
}

#[tokio::test]
async fn release_without_fixture_is_generated_from_the_project() {
    let sim = start().await;
    let r = client()
        .get(format!("{}/pypi/django/1.10/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let serial: u64 = header(&r, "x-pypi-last-serial").parse().unwrap();
    let body = r.bytes().await.unwrap();
    assert!(
        body.ends_with(b"\n"),
        "current serialisation ends with a newline"
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["info"]["version"], "1.10");
    assert_eq!(v["info"]["name"], "Django");
    assert!(
        v.get("releases").is_none(),
        "no releases key on release routes"
    );
    assert_eq!(v["last_serial"].as_u64(), Some(serial));
    let files = v["urls"].as_array().unwrap();
    assert!(!files.is_empty());
    assert!(
        files
            .iter()
            .all(|f| f["filename"].as_str().unwrap().contains("1.10"))
    );
    // Keys are sorted at the top level.
    let text = std::str::from_utf8(&body).unwrap();
    assert!(text.find("\"info\"").unwrap() < text.find("\"last_serial\"").unwrap());
    assert!(text.find("\"last_serial\"").unwrap() < text.find("\"urls\"").unwrap());
}

#[tokio::test]
async fn non_normalised_names_redirect_to_the_normalised_url() {
    let sim = start().await;
    let c = no_redirect();
    let r = c
        .get(format!("{}/pypi/NumPy/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(header(&r, "location"), "/pypi/numpy/json");
    assert!(r.text().await.unwrap().contains("301 Moved Permanently"));
    let r = c
        .get(format!("{}/pypi/Django/1.10/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(header(&r, "location"), "/pypi/django/1.10/json");
    let r = c
        .get(format!("{}/pypi/PyYAML/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "location"), "/pypi/pyyaml/json");
    // A following client ends on the fixture.
    let r = client()
        .get(format!("{}/pypi/xo_gd/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.url().path().ends_with("/pypi/xo-gd/json"));
}

#[tokio::test]
async fn unknown_project_or_version_is_the_recorded_404_page() {
    let sim = start().await;
    let c = no_redirect();
    for path in [
        "/pypi/fizzbuzz/json",
        "/pypi/FizzBuzz/json",
        "/pypi/numpy/0.0.0.0.1/json",
        "/pypi/a%20b/json",
    ] {
        let r = c
            .get(format!("{}{path}", sim.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(header(&r, "content-type"), "text/html; charset=UTF-8");
        assert_eq!(&r.bytes().await.unwrap()[..], NOT_FOUND, "{path}");
    }
    let r = c
        .get(format!("{}/nothing/here", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn etag_revalidation_answers_304() {
    let sim = start().await;
    let c = client();
    let url = format!("{}/pypi/bar/json", sim.base_url());
    let r = c.get(&url).send().await.unwrap();
    let etag = header(&r, "etag").to_owned();
    let r2 = c.get(&url).send().await.unwrap();
    assert_eq!(header(&r2, "etag"), etag, "deterministic ETag");
    let r = c
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(header(&r, "etag"), etag);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = c
        .get(&url)
        .header("If-None-Match", "\"somethingelse000000000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Different bodies, different ETags.
    let other = c
        .get(format!("{}/pypi/apeye/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_ne!(header(&other, "etag"), etag);
}

#[tokio::test]
async fn trailing_slash_and_head_are_served() {
    let sim = start().await;
    let c = no_redirect();
    let r = c
        .get(format!("{}/pypi/bar/json/", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .head(format!("{}/pypi/bar/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = c
        .post(format!("{}/pypi/bar/json", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}
