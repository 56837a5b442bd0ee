//! `download_package` against the simulator: the file picked for a target, verified
//! against the listed sha256, written only under `download.allowed_dirs`; corrupted,
//! truncated and oversize bodies, hostile file names, hosts and directories refused,
//! with nothing (not even a temporary file) left behind.

mod common;

use std::path::{Path, PathBuf};

use common::{engine_with, fault, hits, sim, test_config};
use sentinel_actors::views::deps::TargetEnv;
use sentinel_actors::views::package_download::{
    AttemptOutcome, DistKind, DownloadRequest, WantedKind,
};
use sentinel_actors::{
    BreakerState, DownloadError, EngineConfig, EngineHandle, ErrorCode, QueryError,
    UnavailableCause, Upstream,
};
use sentinel_sim::{FaultSpec, SimHandle};

fn request(package: &str, version: Option<&str>, python: &str, platform: &str) -> DownloadRequest {
    DownloadRequest {
        package: package.into(),
        version: version.map(Into::into),
        env: TargetEnv::new(Some(python), Some(platform), &[]).unwrap(),
        kind: WantedKind::Any,
        dest: None,
    }
}

/// A simulator, an engine allowed to write into a fresh directory, and that directory.
async fn setup_in(
    adjust: impl FnOnce(&mut EngineConfig),
) -> (SimHandle, EngineHandle, tempfile::TempDir) {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&sim);
    cfg.download.allowed_dirs = vec![dir.path().to_path_buf()];
    adjust(&mut cfg);
    let engine = engine_with(cfg).await;
    (sim, engine, dir)
}

/// Every entry under `dir`, recursively (temporary files included).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(entries(&p));
        }
        out.push(p);
    }
    out.sort();
    out
}

fn sha256_of(path: &Path) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn download_error(e: QueryError) -> DownloadError {
    match e {
        QueryError::Download(d) => *d,
        other => panic!("expected a download error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_best_wheel_for_the_target_is_written_verified() {
    let (sim, engine, dir) = setup_in(|_| {}).await;
    let d = engine
        .download_package(&request("sg-native", None, "3.12", "linux"))
        .await
        .unwrap();
    let r = &d.value;
    assert_eq!(r.version, "1.1.0");
    assert_eq!(
        r.file.filename,
        "sg_native-1.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    );
    assert_eq!(r.file.kind, DistKind::Wheel);
    assert_eq!(
        r.file.matched_tag.as_deref(),
        Some("cp312-cp312-manylinux_2_17_x86_64")
    );
    assert_eq!(r.other_candidates, 7);
    assert!(r.verified);
    assert_eq!(r.attempts.len(), 1);
    let path = dir.path().canonicalize().unwrap().join(&r.file.filename);
    assert_eq!(r.path, path.display().to_string());
    assert_eq!(r.relative_path, r.file.filename);
    // What is on disk is what the index lists, and nothing else is there.
    assert_eq!(sha256_of(&path), r.sha256_expected);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), r.file.size);
    assert_eq!(entries(dir.path()), vec![path]);
    assert!(r.listing.contains("sha256 never changes"), "{}", r.listing);
    assert_eq!(hits(&sim, "/files/**"), 1);
}

#[tokio::test]
async fn tags_choose_per_platform_python_and_kind() {
    let (_sim, engine, _dir) = setup_in(|_| {}).await;
    let chosen = |python: &'static str, platform: &'static str, kind: WantedKind| {
        let engine = engine.clone();
        async move {
            let mut req = request("sg-native", Some("1.0.0"), python, platform);
            req.kind = kind;
            engine.download_package(&req).await.map(|d| d.value.file)
        }
    };
    let mac = chosen("3.12", "macos", WantedKind::Any).await.unwrap();
    assert!(
        mac.filename.ends_with("macosx_11_0_arm64.whl"),
        "{}",
        mac.filename
    );
    let win = chosen("3.12", "windows", WantedKind::Any).await.unwrap();
    assert!(win.filename.ends_with("cp312-cp312-win_amd64.whl"));
    // 3.13 on Linux: no cp313 wheel, but the cp38 abi3 wheel installs there.
    let abi3 = chosen("3.13", "linux", WantedKind::Any).await.unwrap();
    assert_eq!(
        abi3.matched_tag.as_deref(),
        Some("cp38-abi3-manylinux_2_17_x86_64")
    );
    // 3.11 on Windows: no wheel fits; the sdist, saying why.
    let sdist = chosen("3.11", "windows", WantedKind::Any).await.unwrap();
    assert_eq!(sdist.kind, DistKind::Sdist);
    assert!(
        sdist.why.contains("none of the 7 wheel(s)"),
        "{}",
        sdist.why
    );
    let asked = chosen("3.12", "linux", WantedKind::Sdist).await.unwrap();
    assert_eq!(asked.filename, "sg_native-1.0.0.tar.gz");
    let e = chosen("3.11", "windows", WantedKind::Wheel)
        .await
        .unwrap_err();
    assert!(matches!(
        download_error(e),
        DownloadError::NoFileForTarget { .. }
    ));
}

#[tokio::test]
async fn a_corrupt_first_body_is_discarded_and_retried_on_a_new_connection() {
    let (sim, engine, dir) = setup_in(|_| {}).await;
    sim.add_fault(FaultSpec {
        corrupt_bytes: true,
        times: Some(1),
        ..fault("/files/**")
    });
    let d = engine
        .download_package(&request("sg-web", Some("1.0.0"), "3.12", "linux"))
        .await
        .unwrap();
    let r = &d.value;
    assert_eq!(r.attempts.len(), 2);
    assert_eq!(r.attempts[0].outcome, AttemptOutcome::Corrupt);
    let first = r.attempts[0].sha256.as_deref().unwrap();
    assert_ne!(
        first, r.sha256_expected,
        "the first attempt's digest is reported"
    );
    assert_eq!(r.attempts[0].bytes, r.file.size, "same length, other bytes");
    assert_eq!(r.attempts[1].outcome, AttemptOutcome::Verified);
    // The first on the pooled client; the retry never on the connection that served
    // the bad bytes.
    assert!(!r.attempts[0].new_connection);
    assert!(r.attempts[1].new_connection);
    let path = PathBuf::from(&r.path);
    assert_eq!(sha256_of(&path), r.sha256_expected);
    assert_eq!(entries(dir.path()), vec![path]);
    assert_eq!(hits(&sim, "/files/**"), 2);
}

#[tokio::test]
async fn a_file_corrupt_every_time_is_reported_with_both_digests_and_nothing_is_left() {
    let (sim, engine, dir) = setup_in(|_| {}).await;
    sim.add_fault(FaultSpec {
        corrupt_bytes: true,
        ..fault("/files/**")
    });
    let e = engine
        .download_package(&request("sg-web", Some("1.0.0"), "3.12", "linux"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Corrupt);
    assert!(e.suggestion().contains("corrupted"), "{}", e.suggestion());
    let words = e.to_string();
    let DownloadError::Corrupt {
        expected,
        got,
        attempts,
        ..
    } = download_error(e)
    else {
        panic!("not corrupt: {words}");
    };
    assert_eq!(attempts, 2);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|g| *g != expected && g.len() == 64));
    assert!(
        words.contains(&expected) && words.contains(&got[0]),
        "{words}"
    );
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
    assert_eq!(hits(&sim, "/files/**"), 2);
}

#[tokio::test]
async fn a_truncated_body_is_retried_then_reported_and_nothing_is_left() {
    let (sim, engine, dir) = setup_in(|_| {}).await;
    sim.add_fault(FaultSpec {
        truncate: true,
        ..fault("/files/**")
    });
    let e = engine
        .download_package(&request("sg-web", Some("1.0.0"), "3.12", "linux"))
        .await
        .unwrap_err();
    let d = download_error(e);
    let DownloadError::Truncated {
        received,
        expected_bytes,
        attempts,
        ..
    } = d
    else {
        panic!("not truncated: {d:?}");
    };
    assert_eq!(attempts, 2);
    assert!(received < expected_bytes);
    assert!(entries(dir.path()).is_empty());
    assert_eq!(hits(&sim, "/files/**"), 2);
}

#[tokio::test]
async fn oversize_is_refused_by_the_listed_size_and_by_the_announced_length() {
    // The listed size is over the cap: nothing is fetched.
    let (sim, engine, dir) = setup_in(|c| c.download.max_bytes = 1024).await;
    let e = download_error(
        engine
            .download_package(&request("sg-web", Some("1.0.0"), "3.12", "linux"))
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(&e, DownloadError::Oversize { what, limit_bytes: 1024, .. } if what.contains("listed")),
        "{e:?}"
    );
    assert_eq!(hits(&sim, "/files/**"), 0);
    assert!(entries(dir.path()).is_empty());

    // The host announces (and streams) far more than listed: refused on the header.
    let (sim, engine, dir) = setup_in(|_| {}).await;
    sim.add_fault(FaultSpec {
        oversize_bytes: Some(50 * 1024 * 1024),
        ..fault("/files/**")
    });
    let e = download_error(
        engine
            .download_package(&request("sg-web", Some("1.0.0"), "3.12", "linux"))
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(&e, DownloadError::Oversize { what, .. } if what.contains("announced")),
        "{e:?}"
    );
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn hostile_file_names_are_refused_and_nothing_is_written_anywhere() {
    // The allowed directory is nested three deep in a directory of the test's own, so
    // `../../x` would land inside it, where the test can see it.
    let sim = sim().await;
    let own = tempfile::tempdir().unwrap();
    let allowed = own.path().join("a/b/c");
    std::fs::create_dir_all(&allowed).unwrap();
    let mut cfg = test_config(&sim);
    cfg.download.allowed_dirs = vec![allowed.clone()];
    let engine = engine_with(cfg).await;
    let before = entries(own.path());
    for i in 1..=8 {
        let version = format!("1.0.{i}");
        let e = engine
            .download_package(&request("sg-hostile", Some(&version), "3.12", "linux"))
            .await
            .unwrap_err();
        let d = download_error(e);
        assert!(
            matches!(d, DownloadError::UnsafeFileName { .. }),
            "{version}: {d:?}"
        );
        assert!(d.suggestion().contains("do not trust"), "{d:?}");
    }
    assert_eq!(hits(&sim, "/files/**"), 0, "nothing was fetched");
    assert_eq!(
        entries(own.path()),
        before,
        "nothing appeared in or around the directory"
    );
    assert!(!Path::new("/etc/sg_hostile-1.0.3-py3-none-any.whl").exists());
}

#[tokio::test]
async fn directories_outside_the_allowed_ones_are_refused_before_any_request() {
    let sim = sim().await;
    let engine = engine_with(test_config(&sim)).await;
    let e = download_error(
        engine
            .download_package(&request("sg-web", None, "3.12", "linux"))
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(&e, DownloadError::DirNotAllowed { rule, .. } if rule.contains("download.allowed_dirs")),
        "{e:?}"
    );
    assert!(e.suggestion().contains("download.allowed_dirs"));

    let (sim2, engine, dir) = setup_in(|_| {}).await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker"), "not a directory").unwrap();
    for dest in [
        outside.path().to_path_buf(),
        PathBuf::from("../"),
        PathBuf::from("sub/../.."),
        PathBuf::from("marker"),
        PathBuf::from("no-such-dir"),
    ] {
        let mut req = request("sg-web", None, "3.12", "linux");
        req.dest = Some(dest.clone());
        let e = download_error(engine.download_package(&req).await.unwrap_err());
        assert!(
            matches!(e, DownloadError::DirNotAllowed { .. }),
            "{dest:?}: {e:?}"
        );
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let mut req = request("sg-web", None, "3.12", "linux");
        req.dest = Some("link".into());
        let e = download_error(engine.download_package(&req).await.unwrap_err());
        assert!(matches!(e, DownloadError::DirNotAllowed { .. }), "{e:?}");
    }
    assert_eq!(hits(&sim, "/**") + hits(&sim2, "/**"), 0);
    assert!(entries(outside.path()).is_empty());

    // A subdirectory of an allowed one is fine.
    std::fs::create_dir(dir.path().join("wheels")).unwrap();
    let mut req = request("sg-web", None, "3.12", "linux");
    req.dest = Some("wheels".into());
    let r = engine.download_package(&req).await.unwrap().value;
    assert_eq!(r.relative_path, "wheels/sg_web-1.1.0-py3-none-any.whl");
}

#[tokio::test]
async fn files_on_hosts_not_allowed_are_refused_before_any_request() {
    // Recorded PyPI projects list their files on files.pythonhosted.org: with that host
    // not allowed, the listing cannot make the engine fetch there (nor anywhere).
    let (sim, engine, dir) = setup_in(|c| c.download.allowed_hosts.clear()).await;
    let e = download_error(
        engine
            .download_package(&request("black", None, "3.12", "linux"))
            .await
            .unwrap_err(),
    );
    let DownloadError::HostNotAllowed { host, allowed, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(host, "files.pythonhosted.org");
    assert!(
        !allowed.iter().any(|a| a == "files.pythonhosted.org"),
        "{allowed:?}"
    );
    assert_eq!(hits(&sim, "/files/**"), 0);
    assert!(entries(dir.path()).is_empty());
}

#[tokio::test]
async fn a_stale_listing_during_an_outage_still_downloads_and_says_so() {
    let (sim, engine, _dir) = setup_in(|_| {}).await;
    let req = request("sg-web", Some("1.0.0"), "3.12", "linux");
    engine.download_package(&req).await.unwrap();
    engine.age_cache(common::HOURS * 2);
    sim.add_fault(common::status_fault("/pypi/**", 503));
    let d = engine.download_package(&req).await.unwrap();
    assert_eq!(d.provenance.word(), "stale");
    assert!(d.value.verified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_downloads_at_once_from_a_slow_files_host_never_exceed_its_concurrency_cap() {
    let (sim, engine, _dir) = setup_in(|c| {
        c.upstreams.files.max_in_flight = 4;
        // Twenty slow transfers four at a time: no deadline cuts one short.
        c.timeouts.attempt_ms = 30_000;
        c.timeouts.deadline_ms = 60_000;
    })
    .await;
    sim.add_fault(FaultSpec {
        latency_ms: Some(300),
        ..fault("/files/**")
    });
    let req = request("sg-native", None, "3.12", "linux");
    let all = futures::future::join_all((0..20).map(|_| engine.download_package(&req))).await;
    for d in &all {
        let d = d.as_ref().unwrap();
        assert!(d.value.verified);
    }
    assert_eq!(hits(&sim, "/files/**"), 20);
    let most = sim.stats().max_concurrent_files;
    // Never past the cap; and the transfers did overlap, so the cap is what held them.
    assert!(most <= 4, "{most} transfers at once, the cap is 4");
    assert!(most > 1, "the downloads ran one at a time: {most}");
    let h = engine.health().await;
    let files = h.upstream(Upstream::Files).unwrap();
    assert_eq!(files.requests.requests, 20);
    assert_eq!(files.requests.attempts, 20);
}

#[tokio::test]
async fn a_files_host_answering_503_opens_its_breaker_and_later_downloads_fail_fast_saying_so() {
    let (sim, engine, _dir) = setup_in(|_| {}).await;
    sim.add_fault(common::status_fault("/files/**", 503));
    let req = request("sg-web", Some("1.0.0"), "3.12", "linux");
    let mut failed = 0;
    let open = loop {
        let e = engine.download_package(&req).await.unwrap_err();
        if let QueryError::Unavailable {
            upstream, cause, ..
        } = &e
        {
            assert_eq!(*upstream, Upstream::Files);
            assert!(
                matches!(cause, UnavailableCause::BreakerOpen { .. }),
                "{cause:?}"
            );
            break e;
        }
        // Until it opens, each download names the host's answer.
        let DownloadError::Transfer { status, .. } = download_error(e) else {
            panic!("expected the host's 503")
        };
        assert_eq!(status, Some(503));
        failed += 1;
        assert!(failed <= 10, "the breaker never opened");
    };
    let text = open.to_string();
    assert!(text.contains("circuit breaker is open"), "{text}");
    assert!(open.suggestion().contains("retry after"), "{open:?}");
    // Open: a download fails before any request reaches the files host.
    let before = hits(&sim, "/files/**");
    let e = engine.download_package(&req).await.unwrap_err();
    assert!(matches!(e, QueryError::Unavailable { .. }), "{e:?}");
    assert_eq!(hits(&sim, "/files/**"), before);
    // The health report says so; the index's breakers did not hear the file host.
    let h = engine.health().await;
    assert_eq!(
        h.upstream(Upstream::Files).unwrap().health.breaker,
        BreakerState::Open
    );
    assert_eq!(
        h.upstream(Upstream::PypiJson).unwrap().health.breaker,
        BreakerState::Closed
    );
}

#[tokio::test]
async fn a_corrupt_file_never_opens_the_files_breaker() {
    let (sim, engine, _dir) = setup_in(|_| {}).await;
    sim.add_fault(FaultSpec {
        corrupt_bytes: true,
        ..fault("/files/**")
    });
    let req = request("sg-web", Some("1.0.0"), "3.12", "linux");
    for _ in 0..8 {
        let e = engine.download_package(&req).await.unwrap_err();
        assert!(
            matches!(download_error(e), DownloadError::Corrupt { .. }),
            "a digest mismatch is reported as such, never as an open breaker"
        );
    }
    let h = engine.health().await;
    let files = h.upstream(Upstream::Files).unwrap();
    assert_eq!(files.health.breaker, BreakerState::Closed);
    assert_eq!(files.health.consecutive_failures, 0);
}
