//! The metadata chain's checks: a PEP 658 / 714 metadata file is used only when its
//! bytes match the sha256 the index gives for it; otherwise the node says so and its
//! metadata comes from the next source (the wheel's own `METADATA`).

mod common;

use common::*;
use sentinel_actors::resolver::{ResolutionStatus, ResolveRequest};
use sentinel_sim::{FaultSpec, IndexProfile, Sim, SimConfig};

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

fn tampered_metadata() -> FaultSpec {
    FaultSpec {
        drift: Some("metadata_mismatch".into()),
        ..fault("/files/*/*.metadata")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_file_that_does_not_match_its_hash_is_refused_and_the_wheel_read() {
    // The control: the files as the index lists them match, and are used.
    let (sim, engine) = setup_profile(IndexProfile::Pypi).await;
    sim.add_fault(status_fault("/pypi/*/*/json", 404));
    let r = engine.resolve(&request(&["sg-http==1.1.1"])).await.unwrap();
    assert_eq!(r.status, ResolutionStatus::Resolved, "{r:#?}");
    assert!(r.package("sg-idna").is_some(), "{r:#?}");
    assert!(
        r.packages
            .iter()
            .all(|p| p.metadata_from == "core-metadata"),
        "{r:#?}"
    );
    engine.shutdown().await;

    // A mirror serving metadata files whose `Requires-Dist` were dropped: their bytes
    // no longer match the hash on the Simple page.
    let (sim, engine) = setup_profile(IndexProfile::Pypi).await;
    sim.add_fault(status_fault("/pypi/*/*/json", 404));
    sim.add_fault(tampered_metadata());
    let r = engine.resolve(&request(&["sg-http==1.1.1"])).await.unwrap();
    assert_eq!(r.status, ResolutionStatus::Resolved, "{r:#?}");
    assert!(
        hits(&sim, "/files/*/*.metadata") > 0,
        "the files were asked"
    );
    // The true requirements, from the wheel: the tampered file was not used.
    assert!(r.package("sg-idna").is_some(), "{r:#?}");
    let http = r.package("sg-http").unwrap();
    assert_eq!(http.metadata_from, "wheel", "{r:#?}");
    assert!(
        r.packages
            .iter()
            .all(|p| p.metadata_from != "core-metadata"),
        "{r:#?}"
    );
    let note = r
        .notes
        .iter()
        .find(|n| n.contains("metadata for sg_http-1.1.1-"))
        .unwrap_or_else(|| panic!("the node says why: {:?}", r.notes));
    assert!(
        note.contains("does not match the sha256 the index gives: expected "),
        "{note}"
    );

    // `deps` of the same release: from the wheel too, and the refused bytes were not
    // kept (no answer is built from them).
    use sentinel_actors::views::deps::TargetEnv;
    let env = TargetEnv::new(Some("3.12"), Some("linux"), &[]).unwrap();
    let d = engine
        .dependencies("sg-http", Some("1.1.1"), Some(&env))
        .await
        .unwrap();
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
            .any(|n| n.contains("the METADATA inside one of its wheels")),
        "{:?}",
        d.value.notes
    );
    // The files host answered: a bad file does not open its breaker.
    let h = engine.health().await;
    let simple = h.upstream(sentinel_actors::Upstream::PypiSimple).unwrap();
    assert_eq!(simple.health.breaker, sentinel_actors::BreakerState::Closed);
    engine.shutdown().await;
}

/// Releases with only an sdist, on an index without a JSON API: its `PKG-INFO` is used
/// when it is static (metadata 2.2+, `Requires-Dist` not `Dynamic`); otherwise the node
/// says its requirements cannot be known without building it; a gzip bomb is a bounded,
/// clear error for its own node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdist_only_release_answers_from_its_static_pkg_info_and_says_when_it_cannot() {
    use sentinel_actors::views::deps::TargetEnv;
    use sentinel_actors::{QueryError, UnavailableCause};
    let (sim, engine) = setup_profile(IndexProfile::SimpleJson).await;
    let r = engine
        .resolve(&request(&["sg-sdist-static"]))
        .await
        .unwrap();
    assert_eq!(r.status, ResolutionStatus::Resolved, "{r:#?}");
    let node = r.package("sg-sdist-static").unwrap();
    assert_eq!(node.metadata_from, "sdist PKG-INFO", "{r:#?}");
    assert!(r.package("sg-certs").is_some(), "its Requires-Dist: {r:#?}");
    assert_eq!(hits(&sim, "/files/sg-sdist-static/*.tar.gz"), 1);

    let env = TargetEnv::new(Some("3.12"), Some("linux"), &[]).unwrap();
    let d = engine
        .dependencies("sg-sdist-static", Some("1.0.0"), Some(&env))
        .await
        .unwrap();
    let names: Vec<&str> = d
        .value
        .dependencies
        .iter()
        .map(|x| x.name.as_str())
        .collect();
    assert_eq!(names, ["sg-certs"]);

    for (project, words) in [
        ("sg-sdist-dynamic", "lists Requires-Dist as Dynamic"),
        ("sg-sdist-old", "Metadata-Version 2.1, before 2.2"),
    ] {
        let r = engine.resolve(&request(&[project])).await.unwrap();
        assert_ne!(r.status, ResolutionStatus::Resolved, "{project}: {r:#?}");
        let text = format!("{r:?}");
        assert!(
            text.contains(words) && text.contains("cannot be known without building it"),
            "{project}: {text}"
        );
        let e = engine
            .dependencies(project, Some("1.0.0"), Some(&env))
            .await
            .unwrap_err();
        assert!(
            matches!(
                &e,
                QueryError::Unavailable {
                    cause: UnavailableCause::NeedsBuild { detail },
                    ..
                } if detail.contains(words)
            ),
            "{project}: {e:?}"
        );
    }

    // The bomb: the inflating stops at the cap, and only this node fails.
    let r = engine
        .resolve(&request(&["sg-sdist-bomb", "sg-sdist-static"]))
        .await
        .unwrap();
    assert_ne!(r.status, ResolutionStatus::Resolved, "{r:#?}");
    let text = format!("{r:?}");
    assert!(
        text.contains("over the") && text.contains("sg-sdist-bomb"),
        "{text}"
    );
    let h = engine.health().await;
    let files = h.upstream(sentinel_actors::Upstream::Files).unwrap();
    assert_eq!(files.health.breaker, sentinel_actors::BreakerState::Closed);
    assert_eq!(files.health.consecutive_failures, 0);
    engine.shutdown().await;
}
