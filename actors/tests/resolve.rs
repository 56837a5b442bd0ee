//! Dependency resolution and vulnerabilities against the simulator's synthetic
//! dependency graphs (`sg-…`, invented projects): markers, extras, cycles,
//! pre-releases, yanked releases, an unsatisfiable conflict, an outage over held
//! metadata, a node that cannot be fetched, and the metadata-file fallback.

mod common;

use std::time::Duration;

use common::*;
use sentinel_actors::resolver::{Resolution, ResolutionStatus, ResolveRequest};
use sentinel_actors::{QueryError, SourceLabel};

fn request(reqs: &[&str], python: &str, platform: &str) -> ResolveRequest {
    let mut r = ResolveRequest::new(reqs.iter().copied());
    r.target.python_version = Some(python.into());
    r.target.platform = Some(platform.into());
    r
}

fn version<'a>(r: &'a Resolution, name: &str) -> Option<&'a str> {
    r.package(name).map(|p| p.version.as_str())
}

fn names(r: &Resolution) -> Vec<String> {
    r.packages
        .iter()
        .map(|p| format!("{}=={}", p.name, p.version))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_graph_resolves_markers_extras_cycles_and_chains() {
    let (sim, engine) = setup().await;
    let r = engine
        .resolve(&request(&["sg-web[speed]>=1"], "3.12", "linux"))
        .await
        .unwrap();
    assert_eq!(r.status, ResolutionStatus::Resolved, "{r:#?}");
    assert_eq!(
        names(&r),
        [
            "sg-certs==2024.2.2",
            "sg-http==1.1.1",
            "sg-idna==3.7",
            "sg-markup==3.0.0",
            "sg-speedups==1.0.0",
            "sg-template==2.1.0",
            "sg-web==1.1.0",
        ],
        "no sg-tomli on 3.12, no sg-colour on linux, no pre-release, no yanked 1.2.0"
    );
    let web = r.package("sg-web").unwrap();
    assert_eq!(web.extras, ["speed"]);
    assert_eq!(web.metadata_from, "core-metadata");
    assert_eq!(
        r.package("sg-markup").unwrap().required_by,
        [
            "sg-web[speed]>=1 (requested)",
            "sg-web 1.1.0 requires sg-template>=2",
            "sg-template 2.1.0 requires sg-markup>=2.0",
        ]
    );
    assert_eq!(
        r.package("sg-speedups").unwrap().required_by[1],
        "sg-web[speed] 1.1.0 requires sg-speedups>=1.0 ; extra == 'speed'"
    );
    assert_eq!(r.source, SourceLabel::Live);
    assert!(
        sim.stats().matching("/files/**") >= 7,
        "metadata files were read"
    );
    assert_eq!(
        hits(&sim, "/pypi/sg-web/1.1.0/json"),
        1,
        "vulnerabilities read once"
    );
    // A plain cycle.
    let r = engine
        .resolve(&request(&["sg-cli"], "3.12", "linux"))
        .await
        .unwrap();
    assert_eq!(
        names(&r),
        ["sg-cli==1.0.0", "sg-markup==3.0.0", "sg-plugin==1.0.0"]
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_python_on_windows_takes_markers_and_older_releases_with_their_vulnerabilities() {
    let (_sim, engine) = setup().await;
    let r = engine
        .resolve(&request(&["sg-web"], "3.9", "windows"))
        .await
        .unwrap();
    assert_eq!(r.status, ResolutionStatus::Resolved, "{r:#?}");
    assert_eq!(version(&r, "sg-http"), Some("1.1.0"), "1.1.1 needs 3.10");
    assert_eq!(version(&r, "sg-colour"), Some("0.4.6"));
    assert_eq!(version(&r, "sg-tomli"), Some("2.0.1"));
    assert_eq!(
        r.package("sg-tomli").unwrap().markers,
        ["python_full_version < '3.11'"]
    );
    assert_eq!(
        r.package("sg-colour").unwrap().markers,
        ["sys_platform == 'win32'"]
    );
    let http = r
        .package("sg-http")
        .unwrap()
        .vulnerabilities
        .as_ref()
        .unwrap();
    assert_eq!(http.active, 1);
    assert_eq!(http.vulnerabilities[0].id, "SGSIM-2024-0001");
    let fix = http.fix.as_ref().unwrap();
    assert_eq!((fix.version.as_str(), fix.published), ("1.1.1", Some(true)));
    assert!(
        r.notes.iter().any(|n| n.contains("sg-http 1.1.0 (1)")),
        "{:?}",
        r.notes
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_releases_only_when_asked_or_pinned() {
    let (_sim, engine) = setup().await;
    let mut req = request(&["sg-web"], "3.12", "linux");
    req.target.prereleases = Some(true);
    let r = engine.resolve(&req).await.unwrap();
    assert_eq!(version(&r, "sg-web"), Some("2.0.0b1"));
    assert_eq!(version(&r, "sg-template"), Some("3.0.0a1"));
    assert_eq!(version(&r, "sg-async"), Some("1.0.0"));
    let r = engine
        .resolve(&request(&["sg-beta"], "3.12", "linux"))
        .await
        .unwrap();
    assert_eq!(r.status, ResolutionStatus::NoSolution);
    assert!(
        r.notes.iter().any(|n| n.contains("allow pre-releases")),
        "{:?}",
        r.notes
    );
    let r = engine
        .resolve(&request(&["sg-beta==0.9.0b1"], "3.12", "linux"))
        .await
        .unwrap();
    assert_eq!(version(&r, "sg-beta"), Some("0.9.0b1"), "pinned exactly");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yanked_only_when_pinned_exactly() {
    let (_sim, engine) = setup().await;
    let r = engine
        .resolve(&request(&["sg-http==1.2.0"], "3.12", "linux"))
        .await
        .unwrap();
    assert_eq!(r.status, ResolutionStatus::Resolved);
    let http = r.package("sg-http").unwrap();
    assert!(http.yanked);
    assert!(r.notes.iter().any(|n| n.contains("yanked")));
    let r = engine
        .resolve(&request(&["sg-http>=1.2"], "3.12", "linux"))
        .await
        .unwrap();
    assert_eq!(r.status, ResolutionStatus::NoSolution);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("yanked releases not considered"))
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsatisfiable_conflict_is_explained_in_words() {
    let (_sim, engine) = setup().await;
    let r = engine
        .resolve(&request(&["sg-conflict"], "3.12", "linux"))
        .await
        .unwrap();
    assert_eq!(r.status, ResolutionStatus::NoSolution);
    assert!(r.packages.is_empty());
    let words = r.conflict.unwrap();
    for name in ["sg-left", "sg-right", "sg-shared"] {
        assert!(words.contains(name), "{words}");
    }
    assert!(
        words.contains("forbidden") || words.contains("failed"),
        "{words}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypi_outage_after_a_warm_run_resolves_from_held_metadata_and_says_so() {
    let (sim, engine) = setup().await;
    let warm = engine
        .resolve(&request(&["sg-web[cli]"], "3.12", "linux"))
        .await
        .unwrap();
    assert_eq!(warm.status, ResolutionStatus::Resolved);
    for route in ["/simple/**", "/files/**", "/pypi/**"] {
        sim.add_fault(status_fault(route, 503));
    }
    // Past the Simple pages' fresh TTL (metadata stays fresh: it never changes).
    engine.age_cache(Duration::from_secs(11 * 60));
    let r = engine
        .resolve(&request(&["sg-web[cli]"], "3.12", "linux"))
        .await
        .unwrap();
    assert_eq!(r.status, ResolutionStatus::Resolved, "{r:#?}");
    assert_eq!(names(&r), names(&warm));
    assert!(
        matches!(r.source, SourceLabel::Stale | SourceLabel::Mixed),
        "{:?}",
        r.source
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("served from metadata the engine already held")),
        "{:?}",
        r.notes
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_cannot_be_fetched_gives_a_partial_answer_naming_it() {
    let (sim, engine) = setup().await;
    sim.add_fault(status_fault("/simple/sg-idna", 503));
    let r = engine
        .resolve(&request(&["sg-web"], "3.12", "linux"))
        .await
        .unwrap();
    assert_eq!(r.status, ResolutionStatus::Partial, "{r:#?}");
    assert_eq!(r.missing.len(), 1);
    assert_eq!(r.missing[0].package, "sg-idna");
    assert_eq!(
        r.missing[0].required_by,
        ["sg-http 1.1.1 requires sg-idna>=2,<4"]
    );
    assert!(
        r.missing[0].reason.contains("503"),
        "{}",
        r.missing[0].reason
    );
    assert_eq!(
        version(&r, "sg-http"),
        Some("1.1.1"),
        "the rest is resolved"
    );
    assert!(r.package("sg-idna").is_none());
    assert!(r.notes.iter().any(|n| n.starts_with("partial: sg-idna")));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_metadata_file_falls_back_to_the_release_json() {
    let (sim, engine) = setup().await;
    sim.add_fault(status_fault("/files/**", 404));
    let r = engine
        .resolve(&request(&["sg-cli"], "3.12", "linux"))
        .await
        .unwrap();
    assert_eq!(r.status, ResolutionStatus::Resolved, "{r:#?}");
    assert!(r.packages.iter().all(|p| p.metadata_from == "release-json"));
    assert!(
        r.notes.iter().any(|n| n.contains("per-release JSON")),
        "{:?}",
        r.notes
    );
    // The release JSON served as metadata is reused for vulnerabilities.
    assert_eq!(hits(&sim, "/pypi/sg-cli/1.0.0/json"), 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_resolutions_share_their_fetches() {
    let (sim, engine) = setup().await;
    let req = request(&["sg-tree-00"], "3.12", "linux");
    let (a, b) = tokio::join!(engine.resolve(&req), engine.resolve(&req));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.packages.len(), 40);
    assert_eq!(names(&a), names(&b));
    assert_eq!(
        version(&a, "sg-tree-00"),
        Some("2.0.0"),
        "requested without a bound"
    );
    assert!(
        a.packages
            .iter()
            .all(|p| p.name == "sg-tree-00" || p.version == "1.1.0"),
        "the parents' <2 holds the rest at 1.1.0"
    );
    assert_eq!(
        hits(&sim, "/files/**"),
        40,
        "each metadata file fetched once"
    );
    assert_eq!(hits(&sim, "/simple/**"), 40);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_and_bad_input() {
    let (sim, engine) = setup().await;
    let mut req = request(&["sg-tree-00"], "3.12", "linux");
    req.max_packages = Some(5);
    let r = engine.resolve(&req).await.unwrap();
    assert_eq!(r.status, ResolutionStatus::Incomplete, "{r:#?}");
    assert!(r.notes.iter().any(|n| n.contains("bound of 5 packages")));
    sim.reset_stats();
    for (bad, param) in [
        (request(&["sg web !!"], "3.12", "linux"), "requirements"),
        (
            request(&["x @ https://example.invalid/x.whl"], "3.12", "linux"),
            "requirements",
        ),
        (request(&["sg-web"], "5.1", "linux"), "python_version"),
        (request(&["sg-web"], "3.12", "beos"), "platform"),
    ] {
        match engine.resolve(&bad).await {
            Err(QueryError::InvalidInput(e)) => assert_eq!(e.param, param),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sim.stats().total, 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vulnerabilities_of_a_release_with_the_smallest_fix() {
    let (_sim, engine) = setup().await;
    let v = engine
        .vulnerabilities("sg-markup", Some("2.1.5"))
        .await
        .unwrap();
    assert_eq!(v.value.active, 1);
    let fix = v.value.fix.as_ref().unwrap();
    assert_eq!(fix.version, "2.1.6");
    assert_eq!(fix.published, Some(false));
    assert_eq!(fix.upgrade_to.as_deref(), Some("3.0.0"));
    let v = engine
        .vulnerabilities("sg-idna", Some("2.10"))
        .await
        .unwrap();
    assert_eq!(v.value.active, 0, "withdrawn");
    assert!(v.value.vulnerabilities[0].withdrawn.is_some());
    assert!(v.value.fix.is_none());
    let latest = engine.vulnerabilities("sg-http", None).await.unwrap();
    assert_eq!(latest.value.version, "1.1.1");
    assert_eq!(latest.value.active, 0);
    assert!(matches!(
        engine.vulnerabilities("sg-http", Some("9.9")).await,
        Err(QueryError::NotFound { .. })
    ));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_during_an_outage_the_store_still_resolves() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&sim);
    cfg.store.path = Some(dir.path().join("store.sqlite3"));
    let engine = engine_with(cfg.clone()).await;
    let first = engine
        .resolve(&request(&["sg-cli"], "3.12", "linux"))
        .await
        .unwrap();
    assert!(engine.flush_store(Duration::from_secs(5)).await);
    engine.shutdown().await;
    // An hour later: the pages are past their freshness (a fresh copy from disk would
    // be answered as cached without asking; `store_cache.rs`).
    let path = cfg.store.path.clone().unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE documents SET fetched_at = fetched_at - 3600000", [])
        .unwrap();
    for route in ["/simple/**", "/files/**", "/pypi/**"] {
        sim.add_fault(status_fault(route, 503));
    }
    let engine = engine_with(cfg).await;
    let r = engine
        .resolve(&request(&["sg-cli"], "3.12", "linux"))
        .await
        .unwrap();
    assert_eq!(r.status, ResolutionStatus::Resolved, "{r:#?}");
    assert_eq!(names(&r), names(&first));
    // The pages stale from disk; the metadata files, named by their sha256, cached.
    assert_eq!(r.source, SourceLabel::Mixed);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("kept on disk by an earlier run")),
        "{:?}",
        r.notes
    );
    engine.shutdown().await;
}
