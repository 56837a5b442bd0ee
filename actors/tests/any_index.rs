//! Resolution against indexes shaped like mirrors and private indexes, served by the
//! simulator's index profiles: PEP 503 HTML only, PEP 691 without metadata files,
//! neither with a JSON API, and a proxy that ignores `Range`. The metadata comes out
//! of the wheels (range reads, or the whole file), and hostile wheels are a clear
//! error for their node.

mod common;

use common::*;
use sentinel_actors::resolver::{ResolutionStatus, ResolveRequest};
use sentinel_sim::{IndexProfile, Sim, SimConfig};

async fn setup_profile(
    index_profile: IndexProfile,
) -> (sentinel_sim::SimHandle, sentinel_actors::EngineHandle) {
    let sim = Sim::start(SimConfig {
        index_profile,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let engine = engine_with(test_config(&sim)).await;
    (sim, engine)
}

fn request(reqs: &[&str]) -> ResolveRequest {
    let mut r = ResolveRequest::new(reqs.iter().copied());
    r.target.python_version = Some("3.12".into());
    r.target.platform = Some("linux".into());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_resolves_from_wheels_on_every_index_without_metadata_files() {
    // The PyPI profile's answer is the reference.
    let (_sim, engine) = setup_profile(IndexProfile::Pypi).await;
    let reference = engine.resolve(&request(&["sg-tree-00"])).await.unwrap();
    assert_eq!(
        reference.status,
        ResolutionStatus::Resolved,
        "{reference:#?}"
    );
    assert_eq!(reference.packages.len(), 40);
    let pins = |r: &sentinel_actors::resolver::Resolution| -> Vec<String> {
        r.packages
            .iter()
            .map(|p| format!("{}=={}", p.name, p.version))
            .collect()
    };
    for profile in [
        IndexProfile::SimpleHtml,
        IndexProfile::SimpleJson,
        IndexProfile::NoRange,
    ] {
        let (sim, engine) = setup_profile(profile).await;
        let r = engine.resolve(&request(&["sg-tree-00"])).await.unwrap();
        assert_eq!(r.status, ResolutionStatus::Resolved, "{profile}: {r:#?}");
        assert_eq!(
            pins(&r),
            pins(&reference),
            "{profile}: the same pins as on PyPI"
        );
        assert!(
            r.packages.iter().all(|p| p.metadata_from == "wheel"),
            "{profile}: {:?}",
            r.packages
                .iter()
                .map(|p| &p.metadata_from)
                .collect::<Vec<_>>()
        );
        assert_eq!(
            hits(&sim, "/files/*/*.metadata"),
            0,
            "{profile}: none exists"
        );
        // One request per wheel: its tail holds the directory and METADATA.
        assert_eq!(hits(&sim, "/files/**"), 40, "{profile}");
        let per_wheel = sim.stats().files_bytes / 40;
        if profile.honours_range() {
            assert!(
                per_wheel <= 16 * 1024,
                "{profile}: {per_wheel} bytes a wheel"
            );
        } else {
            assert!(
                per_wheel > 256 * 1024,
                "{profile}: whole wheels, {per_wheel} bytes each"
            );
        }
        println!("{profile}: {per_wheel} bytes read per wheel's METADATA");
        engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hostile_wheel_is_a_clear_error_for_its_own_node() {
    let (_sim, engine) = setup_profile(IndexProfile::SimpleJson).await;
    for (project, words) in [
        ("sg-wheel-liar", "directory lies"),
        ("sg-wheel-bomb", "over the"),
        ("sg-wheel-nometa", "no .dist-info/METADATA"),
        ("sg-wheel-twoinfo", "2 .dist-info directories"),
    ] {
        let r = engine.resolve(&request(&[project])).await.unwrap();
        assert_ne!(r.status, ResolutionStatus::Resolved, "{project}: {r:#?}");
        let text = format!("{r:?}");
        assert!(text.contains(words), "{project}: {words:?} in {text}");
    }
    // The files host answered every time: one bad file does not open its breaker.
    let h = engine.health().await;
    let files = h.upstream(sentinel_actors::Upstream::Files).unwrap();
    assert_eq!(files.health.breaker, sentinel_actors::BreakerState::Closed);
    assert_eq!(files.health.consecutive_failures, 0);
}

/// PyPI's shape with the per-release JSON answering 404 (as some private indexes do):
/// `deps` picks the release for the target from the project JSON, then reads its
/// requirements from its metadata file, or from a wheel when there is none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deps_of_a_release_without_its_json_come_from_its_metadata_file_or_its_wheel() {
    use sentinel_actors::views::deps::TargetEnv;
    let (sim, engine) = setup_profile(IndexProfile::Pypi).await;
    sim.add_fault(status_fault("/pypi/sg-http/*/json", 404));
    let env = TargetEnv::new(Some("3.12"), Some("linux"), &[]).unwrap();
    let d = engine
        .dependencies("sg-http", Some("1.1.1"), Some(&env))
        .await
        .unwrap();
    assert_eq!(d.value.version, "1.1.1");
    let names: Vec<&str> = d
        .value
        .dependencies
        .iter()
        .map(|x| x.name.as_str())
        .collect();
    assert!(names.contains(&"sg-idna"), "{names:?}");
    assert!(
        d.value
            .notes
            .iter()
            .any(|n| n.contains("its metadata file (PEP 658)")),
        "{:?}",
        d.value.notes
    );
    // No metadata file either: the wheel.
    sim.add_fault(status_fault("/files/*/*.metadata", 404));
    let d = engine
        .dependencies("sg-http", Some("1.1.0"), Some(&env))
        .await
        .unwrap();
    assert_eq!(d.value.version, "1.1.0");
    assert!(
        d.value
            .notes
            .iter()
            .any(|n| n.contains("the METADATA inside one of its wheels")),
        "{:?}",
        d.value.notes
    );
    engine.shutdown().await;
}

/// A mirror or private index without a JSON API (the profiles `simple-html` and
/// `simple-json`): every single-package question answers from the Simple API and the
/// newest release's core metadata, says so by its upstream (`pypi-simple`), and "not
/// found" still means the index does not have the project.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_versions_deps_docs_and_overview_answer_on_an_index_without_a_json_api() {
    use sentinel_actors::{QueryError, Upstream};
    for profile in [IndexProfile::SimpleHtml, IndexProfile::SimpleJson] {
        let (sim, engine) = setup_profile(profile).await;
        let info = engine.package_info("sg-web", None).await.unwrap();
        assert_eq!(info.upstream, Upstream::PypiSimple, "{profile:?}");
        assert_eq!(info.value.version, "1.1.0", "the newest final release");
        assert_eq!(info.value.license.as_deref(), Some("MIT"), "{profile:?}");
        assert_eq!(info.value.dependency_count, 6, "{profile:?}");
        assert!(info.value.summary.is_some(), "{profile:?}");
        assert!(
            info.value.project_urls.contains_key("Homepage"),
            "{:?}",
            info.value.project_urls
        );

        let old = engine.package_info("sg-web", Some("1.0.0")).await.unwrap();
        assert_eq!(old.value.version, "1.0.0");

        let versions = engine.versions("sg-web").await.unwrap();
        let listed: Vec<&str> = versions
            .value
            .versions
            .iter()
            .map(|v| v.version.as_str())
            .collect();
        assert_eq!(listed, ["1.0.0", "1.1.0", "2.0.0b1"], "{profile:?}");

        let deps = engine.dependencies("sg-web", None, None).await.unwrap();
        assert_eq!(deps.value.version, "1.1.0");
        assert_eq!(deps.value.dependencies.len(), 6, "{profile:?}");

        let docs = engine.package_docs("sg-web", None, 1_000).await.unwrap();
        assert!(
            docs.value.markdown.contains("Not a real project"),
            "the README is the METADATA's body: {:?}",
            docs.value.markdown
        );

        let overview = engine.overview(&["sg-web".to_string()]).await.unwrap();
        assert!(overview.failures.is_empty(), "{:?}", overview.failures);

        let missing = engine.package_info("sg-not-on-this-index", None).await;
        assert!(
            matches!(missing, Err(QueryError::NotFound { .. })),
            "{missing:?}"
        );
        // The newest release's metadata came from the index, not from a JSON API.
        assert!(hits(&sim, "/simple/sg-web/") >= 1);
        engine.shutdown().await;
    }
}
