//! `download_package` on indexes without a JSON API (the simulator's `simple-html` and
//! `simple-json` profiles): the release's files come from the Simple page (PEP 503
//! anchors with their `#sha256=` fragment, or PEP 691 `files` with their `hashes`),
//! the same file is picked as on PyPI, and the bytes are checked against the page's
//! digest.

mod common;

use common::{engine_with, fault, test_config};
use sentinel_actors::views::deps::TargetEnv;
use sentinel_actors::views::package_download::{DownloadRequest, PackageDownload, WantedKind};
use sentinel_actors::{DownloadError, EngineHandle, ErrorCode, QueryError};
use sentinel_sim::{FaultSpec, IndexProfile, Sim, SimConfig, SimHandle};

/// (package, version, python, platform, kind): plain and native wheels, an abi3 wheel
/// on a newer Python, the sdist where no wheel fits, the sdist asked for, the newest
/// release (no version given).
const CASES: &[(&str, Option<&str>, &str, &str, WantedKind)] = &[
    ("sg-web", Some("1.0.0"), "3.12", "linux", WantedKind::Any),
    ("sg-native", None, "3.12", "linux", WantedKind::Any),
    ("sg-native", Some("1.0.0"), "3.12", "macos", WantedKind::Any),
    (
        "sg-native",
        Some("1.0.0"),
        "3.12",
        "windows",
        WantedKind::Any,
    ),
    ("sg-native", Some("1.1.0"), "3.13", "linux", WantedKind::Any),
    (
        "sg-native",
        Some("1.0.0"),
        "3.11",
        "windows",
        WantedKind::Any,
    ),
    (
        "sg-native",
        Some("1.0.0"),
        "3.12",
        "linux",
        WantedKind::Sdist,
    ),
];

async fn setup(index_profile: IndexProfile) -> (SimHandle, EngineHandle, tempfile::TempDir) {
    let sim = Sim::start(SimConfig {
        index_profile,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&sim);
    cfg.download.allowed_dirs = vec![dir.path().to_path_buf()];
    let engine = engine_with(cfg).await;
    (sim, engine, dir)
}

fn request(
    (package, version, python, platform, kind): (&str, Option<&str>, &str, &str, WantedKind),
    dest: &std::path::Path,
) -> DownloadRequest {
    DownloadRequest {
        package: package.into(),
        version: version.map(Into::into),
        env: TargetEnv::new(Some(python), Some(platform), &[]).unwrap(),
        kind,
        dest: Some(dest.to_path_buf()),
    }
}

/// Each case downloaded into a directory of its own under `root`.
async fn download_all(engine: &EngineHandle, root: &std::path::Path) -> Vec<PackageDownload> {
    let mut out = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let dest = root.join(i.to_string());
        std::fs::create_dir(&dest).unwrap();
        let d = engine
            .download_package(&request(*case, &dest))
            .await
            .unwrap_or_else(|e| panic!("{case:?}: {e}"));
        out.push(d.value);
    }
    out
}

fn sha256_of(path: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_without_a_json_api_downloads_the_file_pypi_would_give() {
    let (_sim, engine, dir) = setup(IndexProfile::Pypi).await;
    let reference = download_all(&engine, dir.path()).await;
    engine.shutdown().await;
    for profile in [IndexProfile::SimpleHtml, IndexProfile::SimpleJson] {
        let (sim, engine, dir) = setup(profile).await;
        let got = download_all(&engine, dir.path()).await;
        for ((case, r), g) in CASES.iter().zip(&reference).zip(&got) {
            assert_eq!(
                (&g.version, &g.file.filename, g.file.kind),
                (&r.version, &r.file.filename, r.file.kind),
                "{profile} {case:?}: the file PyPI's listing gives"
            );
            assert_eq!(g.file.matched_tag, r.file.matched_tag, "{profile} {case:?}");
            // The digest is the page's (fragment or `hashes`), and the bytes match it.
            assert_eq!(g.sha256_expected, r.sha256_expected, "{profile} {case:?}");
            assert!(g.verified);
            assert_eq!(sha256_of(&g.path), g.sha256_expected);
            assert_eq!(g.bytes, r.bytes, "{profile} {case:?}");
            // PEP 691 gives each file's size; a PEP 503 page does not.
            let size = if profile == IndexProfile::SimpleJson {
                r.file.size
            } else {
                0
            };
            assert_eq!(g.file.size, size, "{profile} {case:?}");
            assert!(g.listing.contains("pypi-simple"), "{}", g.listing);
        }
        drop(sim);
        engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_do_not_match_the_pages_digest_are_refused() {
    for profile in [IndexProfile::SimpleHtml, IndexProfile::SimpleJson] {
        let (sim, engine, dir) = setup(profile).await;
        let case = ("sg-web", Some("1.0.0"), "3.12", "linux", WantedKind::Any);
        let first = dir.path().join("first");
        std::fs::create_dir(&first).unwrap();
        // The release's metadata (read out of the wheel) and the page are held now.
        let good = engine
            .download_package(&request(case, &first))
            .await
            .unwrap()
            .value;
        sim.add_fault(FaultSpec {
            corrupt_bytes: true,
            ..fault("/files/**")
        });
        let second = dir.path().join("second");
        std::fs::create_dir(&second).unwrap();
        let e: QueryError = engine
            .download_package(&request(case, &second))
            .await
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::Corrupt, "{profile}: {e}");
        let words = e.to_string();
        let QueryError::Download(d) = e else {
            panic!("{profile}: {words}")
        };
        let DownloadError::Corrupt { expected, got, .. } = *d else {
            panic!("{profile}: {words}")
        };
        assert_eq!(expected, good.sha256_expected, "{profile}");
        assert!(got.iter().all(|g| *g != expected), "{profile}: {got:?}");
        assert!(words.contains(&expected), "{profile}: {words}");
        assert_eq!(std::fs::read_dir(&second).unwrap().count(), 0, "{profile}");
        engine.shutdown().await;
    }
}

/// The byte counter a progress bar reads: zero before any download, then the file's
/// bytes against its size (listed by a PEP 691 page; announced by the host where a
/// PEP 503 page lists none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transfer_counter_reaches_the_files_size() {
    for profile in [IndexProfile::SimpleJson, IndexProfile::SimpleHtml] {
        let (_sim, engine, dir) = setup(profile).await;
        assert_eq!(
            engine.download_progress(),
            sentinel_actors::TransferProgress::default()
        );
        let case = ("sg-native", Some("1.1.0"), "3.12", "linux", WantedKind::Any);
        let d = engine
            .download_package(&request(case, dir.path()))
            .await
            .unwrap()
            .value;
        let p = engine.download_progress();
        assert_eq!(p.received, d.bytes, "{profile}");
        assert_eq!(p.total, Some(d.bytes), "{profile}");
        engine.shutdown().await;
    }
}
