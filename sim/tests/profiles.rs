//! Index profiles: PyPI, a PEP 503 HTML mirror, a PEP 691 index without metadata, and
//! a proxy that ignores `Range`; and the wheels a client can read `METADATA` from.

mod common;

use common::*;
use sentinel_sim::{IndexProfile, SimConfig};
use serde_json::Value;

const PEP691: &str = "application/vnd.pypi.simple.v1+json";

async fn with_profile(index_profile: IndexProfile) -> sentinel_sim::SimHandle {
    start_with(SimConfig {
        index_profile,
        ..SimConfig::default()
    })
    .await
}

/// `/simple/{project}/`, asked for as PEP 691 JSON.
async fn ask_json(c: &reqwest::Client, base: &str, project: &str) -> reqwest::Response {
    c.get(format!("{base}/simple/{project}/"))
        .header("accept", PEP691)
        .send()
        .await
        .unwrap()
}

async fn status(c: &reqwest::Client, url: &str) -> u16 {
    c.get(url).send().await.unwrap().status().as_u16()
}

/// The wheel URL of `sg-tree-00 1.0.0` from the PEP 691 page (or the HTML one).
async fn tree_wheel(c: &reqwest::Client, base: &str) -> String {
    let html = c
        .get(format!("{base}/simple/sg-tree-00/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html
        .find("/files/sg-tree-00/sg_tree_00-1.0.0-")
        .expect("a wheel link");
    let end = start + html[start..].find(['#', '"']).unwrap();
    format!("{base}{}", &html[start..end])
}

#[tokio::test]
async fn a_pypi_profile_serves_everything_and_the_wheel_holds_the_metadata_file() {
    let sim = with_profile(IndexProfile::Pypi).await;
    let (c, base) = (client(), sim.base_url());
    assert_eq!(
        status(&c, &format!("{base}/pypi/sg-tree-00/json")).await,
        200
    );
    let page: Value = ask_json(&c, &base, "sg-tree-00")
        .await
        .json()
        .await
        .unwrap();
    let f = &page["files"][0];
    assert!(f["core-metadata"]["sha256"].is_string(), "{f}");
    let wheel_url = tree_wheel(&c, &base).await;
    let metadata = c
        .get(format!("{wheel_url}.metadata"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(metadata.starts_with(b"Metadata-Version: 2.4\nName: sg-tree-00\n"));
    // The wheel is a zip holding the same bytes as its METADATA.
    let wheel = c
        .get(&wheel_url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(wheel.starts_with(b"PK\x03\x04"));
    let needle = b"sg_tree_00-1.0.0.dist-info/METADATA";
    assert!(wheel.windows(needle.len()).any(|w| w == needle));
    assert!(wheel.len() > 256 * 1024, "larger than a range read's tail");
}

#[tokio::test]
async fn a_simple_html_mirror_has_no_json_api_no_metadata_files_and_answers_html_only() {
    let sim = with_profile(IndexProfile::SimpleHtml).await;
    let (c, base) = (client(), sim.base_url());
    assert_eq!(
        status(&c, &format!("{base}/pypi/sg-tree-00/json")).await,
        404
    );
    assert_eq!(
        status(&c, &format!("{base}/pypi/sg-tree-00/1.0.0/json")).await,
        404
    );
    assert_eq!(status(&c, &format!("{base}/pypi/numpy/json")).await, 404);
    // Asked for PEP 691 JSON, it answers plain HTML.
    let r = ask_json(&c, &base, "numpy").await;
    assert_eq!(header(&r, "content-type"), "text/html");
    let html = r.text().await.unwrap();
    assert!(html.contains("<a href="), "a PEP 503 page");
    assert!(
        !html.contains("data-core-metadata"),
        "no metadata advertised"
    );
    assert!(!html.contains("data-dist-info-metadata"));
    let wheel_url = tree_wheel(&c, &base).await;
    assert_eq!(status(&c, &format!("{wheel_url}.metadata")).await, 404);
    assert_eq!(status(&c, &wheel_url).await, 200);
}

#[tokio::test]
async fn a_simple_json_index_answers_pep_691_without_metadata() {
    let sim = with_profile(IndexProfile::SimpleJson).await;
    let (c, base) = (client(), sim.base_url());
    assert_eq!(
        status(&c, &format!("{base}/pypi/sg-tree-00/json")).await,
        404
    );
    for project in ["sg-tree-00", "numpy"] {
        let r = ask_json(&c, &base, project).await;
        assert_eq!(header(&r, "content-type"), PEP691);
        let page: Value = r.json().await.unwrap();
        let files = page["files"].as_array().unwrap();
        assert!(!files.is_empty());
        for f in files {
            for k in [
                "core-metadata",
                "dist-info-metadata",
                "data-dist-info-metadata",
            ] {
                assert!(f.get(k).is_none(), "{project}: {k} in {f}");
            }
            assert!(
                f["hashes"]["sha256"].is_string(),
                "the file's own hash stays"
            );
        }
    }
}

#[tokio::test]
async fn files_honour_a_range_except_behind_a_proxy_that_ignores_it() {
    for profile in [IndexProfile::SimpleJson, IndexProfile::NoRange] {
        let sim = with_profile(profile).await;
        let (c, base) = (client(), sim.base_url());
        let wheel_url = tree_wheel(&c, &base).await;
        let whole = c
            .get(&wheel_url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let len = whole.len();
        let r = c
            .get(&wheel_url)
            .header("range", "bytes=-8192")
            .send()
            .await
            .unwrap();
        if profile.honours_range() {
            assert_eq!(r.status(), 206, "{profile}");
            assert_eq!(header(&r, "accept-ranges"), "bytes");
            assert_eq!(
                header(&r, "content-range"),
                format!("bytes {}-{}/{len}", len - 8192, len - 1)
            );
            let tail = r.bytes().await.unwrap();
            assert_eq!(&tail[..], &whole[len - 8192..]);
            // The end of central directory record is the last 22 bytes.
            assert_eq!(&tail[tail.len() - 22..tail.len() - 18], b"PK\x05\x06");
            let r = c
                .get(&wheel_url)
                .header("range", format!("bytes={len}-"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 416);
            assert_eq!(header(&r, "content-range"), format!("bytes */{len}"));
        } else {
            assert_eq!(r.status(), 200, "{profile}: Range ignored");
            assert!(r.headers().get("content-range").is_none());
            assert_eq!(r.bytes().await.unwrap().len(), len);
        }
    }
}

#[tokio::test]
async fn hostile_wheels_advertise_no_metadata_file_and_are_served_whole_or_in_parts() {
    let sim = with_profile(IndexProfile::Pypi).await;
    let (c, base) = (client(), sim.base_url());
    for project in [
        "sg-wheel-liar",
        "sg-wheel-bomb",
        "sg-wheel-nometa",
        "sg-wheel-twoinfo",
    ] {
        let page: Value = ask_json(&c, &base, project).await.json().await.unwrap();
        let f = &page["files"][0];
        assert!(f.get("core-metadata").is_none(), "{project}: {f}");
        let url = format!("{base}{}", f["url"].as_str().unwrap());
        assert_eq!(
            status(&c, &format!("{url}.metadata")).await,
            404,
            "{project}"
        );
        let body = c.get(&url).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(body.len() as u64, f["size"].as_u64().unwrap(), "{project}");
        assert!(body.starts_with(b"PK\x03\x04"), "{project}");
        // Its per-release JSON is honest (the lie is only inside the wheel).
        let release = get_json(&c, &format!("{base}/pypi/{project}/1.0.0/json")).await;
        assert_eq!(release["info"]["requires_dist"][0], "sg-certs");
    }
}
