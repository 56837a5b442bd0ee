//! Resolution against indexes shaped like mirrors and private indexes, served by the
//! simulator's index profiles: PEP 503 HTML only, PEP 691 without metadata files,
//! neither with a JSON API, and a proxy that ignores `Range`. The metadata comes out
//! of the wheels (range reads, or the whole file), and hostile wheels are a clear
//! error for their node.

mod common;

use common::*;
use sentinel_actors::views::resolve::{ResolutionStatus, ResolveRequest};
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
    r.python = Some("3.12".into());
    r.platform = Some("linux".into());
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
    let pins = |r: &sentinel_actors::views::resolve::Resolution| -> Vec<String> {
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
            hits(&sim, "/files/**.metadata"),
            0,
            "{profile}: none exists"
        );
        // One request per wheel: its tail holds the directory and METADATA.
        assert_eq!(hits(&sim, "/files/**"), 40, "{profile}");
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
