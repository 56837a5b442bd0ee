//! `explain` (why a package is in a resolved tree) against the simulator's synthetic
//! graphs: a package reached two ways, one nothing requires, one a marker excludes for
//! the target, a node that could not be fetched, and a lattice whose chains are capped
//! and counted.

mod common;

use common::*;
use sentinel_actors::resolver::{ResolutionStatus, ResolveRequest};
use sentinel_actors::{ChainStep, MAX_CHAINS, Presence, Provenance, SourceLabel};

fn request(reqs: &[&str], python: &str, platform: &str) -> ResolveRequest {
    let mut r = ResolveRequest::new(reqs.iter().copied());
    r.target.python_version = Some(python.into());
    r.target.platform = Some(platform.into());
    r
}

/// Asks why `package` is in the tree of `request`: the question, checked when built,
/// through the engine's one entry point.
async fn explain(
    engine: &sentinel_actors::EngineHandle,
    request: &ResolveRequest,
    package: &str,
) -> Result<sentinel_actors::Explanation, sentinel_actors::QueryError> {
    engine
        .ask(sentinel_actors::Explain::new(request, package)?)
        .await
}

/// A chain as `from version -> to version` steps.
fn hops(chain: &[ChainStep]) -> Vec<String> {
    chain
        .iter()
        .map(|s| match (&s.from, &s.from_version) {
            (Some(f), Some(v)) => format!("{f} {v} -> {} {}", s.to, s.to_version),
            _ => format!("requested -> {} {}", s.to, s.to_version),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_reached_by_two_paths_has_both_chains_with_versions_and_markers() {
    let (_sim, engine) = setup().await;
    let x = explain(
        &engine,
        &request(&["sg-web[speed,cli]>=1"], "3.12", "linux"),
        "SG_Markup",
    )
    .await
    .unwrap();
    assert_eq!(x.presence, Presence::InTree, "{x:#?}");
    assert_eq!(x.package, "sg-markup");
    assert_eq!(x.version.as_deref(), Some("3.0.0"));
    assert_eq!((x.total_chains, x.chains_left_out), (2, 0));
    assert!(!x.total_is_lower_bound, "the two cycles add no chain");
    let chains: Vec<Vec<String>> = x.chains.iter().map(|c| hops(c)).collect();
    assert_eq!(
        chains,
        [
            vec![
                "requested -> sg-web 1.1.0",
                "sg-web 1.1.0 -> sg-template 2.1.0",
                "sg-template 2.1.0 -> sg-markup 3.0.0",
            ],
            vec![
                "requested -> sg-web 1.1.0",
                "sg-web 1.1.0 -> sg-cli 1.0.0",
                "sg-cli 1.0.0 -> sg-markup 3.0.0",
            ],
        ]
    );
    let via_cli = &x.chains[1][1];
    assert_eq!(
        via_cli.requirement,
        "sg-web[cli] 1.1.0 requires sg-cli>=1 ; extra == 'cli'"
    );
    assert_eq!(via_cli.marker.as_deref(), Some("extra == 'cli'"));
    assert_eq!(
        x.chains[0][0].requirement,
        "sg-web[speed,cli]>=1 (requested)"
    );
    assert_eq!(
        x.chains[0][0].provenance, None,
        "a requested step was read nowhere"
    );
    assert_eq!(x.chains[0][1].provenance, Some(Provenance::Live));
    assert_eq!(x.source, SourceLabel::Live);
    assert!(x.summary.contains("by 2 chains"), "{}", x.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_nothing_requires_is_not_in_the_tree_and_says_so() {
    let (_sim, engine) = setup().await;
    let x = explain(
        &engine,
        &request(&["sg-web>=1"], "3.12", "linux"),
        "sg-shared",
    )
    .await
    .unwrap();
    assert_eq!(x.presence, Presence::NotInTree, "{x:#?}");
    assert!(x.chains.is_empty() && x.excluded.is_empty());
    assert_eq!(x.total_chains, 0);
    assert!(
        x.summary.contains("nothing in the resolution"),
        "{}",
        x.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_a_marker_excludes_for_the_target_names_the_requirement_and_marker() {
    let (_sim, engine) = setup().await;
    let x = explain(
        &engine,
        &request(&["sg-web>=1"], "3.12", "linux"),
        "sg-tomli",
    )
    .await
    .unwrap();
    assert_eq!(x.presence, Presence::ExcludedByMarkers, "{x:#?}");
    assert_eq!(x.excluded.len(), 1);
    assert_eq!(
        x.excluded[0].requirement,
        "sg-web 1.1.0 requires sg-tomli>=2 ; python_full_version < '3.11'"
    );
    assert_eq!(x.excluded[0].marker, "python_full_version < '3.11'");
    assert!(x.summary.contains("exclude CPython 3.12"), "{}", x.summary);
    // The same package on 3.10 is in the tree, by that very edge.
    let x = explain(
        &engine,
        &request(&["sg-web>=1"], "3.10", "linux"),
        "sg-tomli",
    )
    .await
    .unwrap();
    assert_eq!(x.presence, Presence::InTree, "{x:#?}");
    assert_eq!(
        x.chains[0][1].marker.as_deref(),
        Some("python_full_version < '3.11'")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_cannot_be_fetched_makes_an_honest_partial_answer() {
    let (sim, engine) = setup().await;
    sim.add_fault(status_fault("/simple/sg-template", 503));
    let req = request(&["sg-web[cli]>=1"], "3.12", "linux");
    let x = explain(&engine, &req, "sg-markup").await.unwrap();
    assert_eq!(x.resolution, ResolutionStatus::Partial, "{x:#?}");
    assert_eq!(x.presence, Presence::InTree);
    assert_eq!(x.total_chains, 1, "only the chain through sg-cli is known");
    assert!(
        x.summary.contains("sg-template could not be fetched"),
        "{}",
        x.summary
    );
    let x = explain(&engine, &req, "sg-template").await.unwrap();
    assert_eq!(x.presence, Presence::CouldNotBeFetched, "{x:#?}");
    let x = explain(&engine, &req, "sg-shared").await.unwrap();
    assert_eq!(
        x.presence,
        Presence::Unknown,
        "what could not be fetched may require it: {x:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lattice_of_a_thousand_chains_lists_fifty_and_counts_the_rest() {
    let (_sim, engine) = setup().await;
    let x = explain(
        &engine,
        &request(&["sg-lattice"], "3.12", "linux"),
        "sg-lattice-bottom",
    )
    .await
    .unwrap();
    assert_eq!(x.presence, Presence::InTree, "{x:#?}");
    assert_eq!(x.total_chains, 1024);
    assert_eq!(x.chains.len(), MAX_CHAINS);
    assert_eq!(x.chains_left_out, 1024 - MAX_CHAINS as u64);
    assert!(x.chains.iter().all(|c| c.len() == 12));
    assert!(
        x.summary.contains("50 listed, 974 left out"),
        "{}",
        x.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_package_name_is_an_input_error_naming_it() {
    let (_sim, engine) = setup().await;
    let e = explain(
        &engine,
        &request(&["sg-web"], "3.12", "linux"),
        "not a name!",
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("package"), "{e}");
}
