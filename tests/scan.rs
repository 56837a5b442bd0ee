//! `scan_dependencies` and `check_package` against the simulator: real-world-shaped
//! project files in `tests/fixtures/scan/` (Poetry, PEP 621 with PEP 735 groups,
//! nested requirements with includes, a cycle, uv.lock, poetry.lock, pylock.toml,
//! setup.cfg), paths refused outside the allowed directories, and the supply-chain
//! check (exists, not found, a typo of a popular name, a young package, an outage).

use std::path::{Path, PathBuf};

use pypi_sentinel::engine::views::check::CheckVerdict;
use pypi_sentinel::engine::views::scan::{DependencyVerdict, ScanReport};
use pypi_sentinel::engine::{
    Engine, EngineConfig, EngineHandle, ErrorCode, QueryError, ScanInput, SourceLabel,
};
use pypi_sentinel::sim::{FaultSpec, Sim, SimConfig, SimHandle};

mod common;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scan")
}

fn config(sim: &SimHandle, roots: Vec<PathBuf>) -> EngineConfig {
    let mut cfg = common::sim_config(sim, roots);
    cfg.timeouts.deadline_ms = 3_000;
    cfg.timeouts.attempt_ms = 1_000;
    cfg
}

async fn start(roots: Vec<PathBuf>) -> (SimHandle, EngineHandle) {
    let sim = Sim::start(SimConfig::default()).await.expect("simulator");
    let engine = Engine::start(config(&sim, roots)).await.expect("engine");
    (sim, engine)
}

async fn scan(engine: &EngineHandle, rel: &str) -> ScanReport {
    engine
        .scan_dependencies(ScanInput::Path(fixtures().join(rel)))
        .await
        .unwrap_or_else(|e| panic!("scan {rel}: {e}"))
}

fn verdict(r: &ScanReport, name: &str) -> DependencyVerdict {
    r.dependencies
        .iter()
        .find(|d| d.declared.name == name)
        .unwrap_or_else(|| panic!("{name} not in {:?}", names(r)))
        .check
        .verdict
}

fn names(r: &ScanReport) -> Vec<&str> {
    r.dependencies
        .iter()
        .map(|d| d.declared.name.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poetry_project_is_translated_and_checked() {
    let (_sim, engine) = start(vec![fixtures()]).await;
    let r = scan(&engine, "poetry-app/pyproject.toml").await;
    assert_eq!(verdict(&r, "django"), DependencyVerdict::Ok);
    let django = r
        .dependencies
        .iter()
        .find(|d| d.declared.name == "django")
        .unwrap();
    assert_eq!(django.declared.specifier, ">=3.1,<3.2");
    assert!(django.declared.notes[0].contains("translated to PEP 440"));
    assert_eq!(django.check.newest_satisfying.as_deref(), Some("3.1.5"));
    assert_eq!(django.declared.line, 10);
    assert_eq!(verdict(&r, "black"), DependencyVerdict::Outdated);
    assert_eq!(verdict(&r, "docutils"), DependencyVerdict::Ok);
    assert_eq!(verdict(&r, "nosuch-pkg-xyz"), DependencyVerdict::NotFound);
    assert_eq!(verdict(&r, "internal-lib"), DependencyVerdict::NotChecked);
    let scipy = r
        .dependencies
        .iter()
        .find(|d| d.declared.name == "scipy")
        .unwrap();
    assert_eq!(
        scipy.declared.marker.as_deref(),
        Some("python_version >= '3.9'")
    );
    assert!(!names(&r).contains(&"python"));
    let groups: Vec<&str> = r
        .dependencies
        .iter()
        .map(|d| d.declared.group.as_str())
        .collect();
    assert!(groups.contains(&"poetry:dev") && groups.contains(&"poetry:docs"));
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!(r.source, SourceLabel::Live);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pep621_with_pep735_groups_markers_urls_and_bad_lines() {
    let (_sim, engine) = start(vec![fixtures()]).await;
    let r = scan(&engine, "pep735/pyproject.toml").await;
    assert_eq!(
        verdict(&r, "black"),
        DependencyVerdict::Yanked,
        "black==21.11b0 is yanked"
    );
    assert_eq!(verdict(&r, "pytz"), DependencyVerdict::NoMatch);
    assert_eq!(
        verdict(&r, "numpy"),
        DependencyVerdict::NotChecked,
        "a URL is not fetched"
    );
    assert_eq!(verdict(&r, "pymysql"), DependencyVerdict::Ok);
    let pyyaml = r
        .dependencies
        .iter()
        .find(|d| d.declared.name == "pyyaml")
        .unwrap();
    assert!(pyyaml.declared.marker.is_some());
    let bad: Vec<(usize, &str)> = r
        .problems
        .iter()
        .map(|p| (p.line, p.text.as_str()))
        .collect();
    assert_eq!(bad, [(14, "scipy>=>1")], "{:?}", r.problems);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("group `dev` includes group `test`")),
        "{:?}",
        r.notes
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_requirements_with_includes_options_and_references() {
    let (_sim, engine) = start(vec![fixtures()]).await;
    let r = scan(&engine, "reqs/requirements.txt").await;
    let files: Vec<&str> = r.files.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "requirements.txt",
            "requirements/base.txt",
            "common.txt",
            "constraints.txt"
        ]
    );
    assert_eq!(verdict(&r, "django"), DependencyVerdict::Outdated);
    let django = r
        .dependencies
        .iter()
        .find(|d| d.declared.name == "django")
        .unwrap();
    assert_eq!((django.declared.line, django.declared.hashes), (6, 1));
    let numpy = r
        .dependencies
        .iter()
        .find(|d| d.declared.name == "numpy")
        .unwrap();
    assert_eq!(
        (numpy.declared.group.as_str(), numpy.declared.file.as_str()),
        ("constraints", "constraints.txt")
    );
    assert_eq!(numpy.check.verdict, DependencyVerdict::Outdated);
    assert!(
        r.dependencies
            .iter()
            .any(|d| d.declared.name == "coverage" && d.declared.file == "common.txt")
    );
    assert_eq!(r.options.len(), 1);
    assert_eq!(
        (r.options[0].option.as_str(), r.options[0].line),
        ("--index-url", 2)
    );
    let refs: Vec<(&str, usize)> = r
        .references
        .iter()
        .map(|x| (x.kind.as_str(), x.line))
        .collect();
    assert_eq!(refs, [("path", 9), ("url", 10)]);
    assert_eq!(verdict(&r, "example-tool"), DependencyVerdict::NotChecked);
    let bad: Vec<(&str, usize)> = r
        .problems
        .iter()
        .map(|p| (p.file.as_str(), p.line))
        .collect();
    assert_eq!(bad, [("requirements.txt", 11)], "{:?}", r.problems);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_include_cycle_is_reported_not_followed_forever() {
    let (_sim, engine) = start(vec![fixtures()]).await;
    let r = scan(&engine, "cycle/requirements.txt").await;
    assert_eq!(names(&r), ["black", "pytest"]);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(r.problems[0].reason.contains("include cycle"));
    assert_eq!(
        (r.problems[0].file.as_str(), r.problems[0].line),
        ("more.txt", 1)
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockfiles_and_setup_cfg() {
    let (_sim, engine) = start(vec![fixtures()]).await;
    let r = scan(&engine, "locks/uv.lock").await;
    assert_eq!(
        names(&r),
        ["django", "pytz"],
        "the project itself is skipped"
    );
    assert_eq!(verdict(&r, "django"), DependencyVerdict::Ok);
    let r = scan(&engine, "locks/poetry.lock").await;
    assert_eq!(verdict(&r, "black"), DependencyVerdict::Yanked);
    assert_eq!(verdict(&r, "numpy"), DependencyVerdict::Outdated);
    let r = scan(&engine, "locks/pylock.toml").await;
    assert_eq!(verdict(&r, "pyyaml"), DependencyVerdict::Ok);
    assert_eq!(verdict(&r, "local-plugin"), DependencyVerdict::NotChecked);
    assert_eq!(verdict(&r, "pymysql"), DependencyVerdict::Outdated);
    let r = scan(&engine, "locks/setup.cfg").await;
    assert_eq!(
        verdict(&r, "importlib-metadata"),
        DependencyVerdict::NotFound
    );
    assert_eq!(verdict(&r, "docutils"), DependencyVerdict::Outdated);
    assert_eq!(r.problems.len(), 1);
    assert_eq!(r.problems[0].line, 11);
    // A directory: every project file in it.
    let r = scan(&engine, "locks").await;
    assert_eq!(r.files.len(), 4, "{:?}", r.files);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_outside_the_allowed_directories_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("requirements.txt"), "numpy\n").unwrap();
    std::fs::write(
        root.path().join("requirements.txt"),
        "-r ../x/requirements.txt\ndjango\n",
    )
    .unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
    let (sim, engine) = start(vec![root.path().to_path_buf()]).await;
    let refused = |r: Result<ScanReport, QueryError>| match r {
        Err(QueryError::InvalidInput(e)) => {
            assert_eq!(e.param, "path");
            e.rule
        }
        other => panic!("not refused: {other:?}"),
    };
    let rule = refused(
        engine
            .scan_dependencies(ScanInput::Path(outside.path().join("requirements.txt")))
            .await,
    );
    assert!(rule.contains("outside"), "{rule}");
    let rule = refused(
        engine
            .scan_dependencies(ScanInput::Path(root.path().join("sub/../requirements.txt")))
            .await,
    );
    assert!(rule.contains(".."), "{rule}");
    #[cfg(unix)]
    {
        let rule = refused(
            engine
                .scan_dependencies(ScanInput::Path(PathBuf::from("link/requirements.txt")))
                .await,
        );
        assert!(rule.contains("outside"), "{rule}");
    }
    let rule = refused(
        engine
            .scan_dependencies(ScanInput::Path(PathBuf::from("/etc/passwd")))
            .await,
    );
    assert!(rule.contains("outside"), "{rule}");
    // Inside the root: read, and an include that leads out is a problem, not a read.
    let r = engine
        .scan_dependencies(ScanInput::Path(PathBuf::from("requirements.txt")))
        .await
        .unwrap();
    assert_eq!(names(&r), ["django"]);
    assert!(
        r.problems[0].reason.contains("include not followed"),
        "{:?}",
        r.problems
    );
    engine.shutdown().await;
    // No directory allowed (the MCP default): every path is refused, content works.
    let engine = Engine::start(config(&sim, vec![])).await.unwrap();
    let rule = refused(
        engine
            .scan_dependencies(ScanInput::Path(root.path().join("requirements.txt")))
            .await,
    );
    assert!(rule.contains("no directory is allowed"), "{rule}");
    let r = engine
        .scan_dependencies(ScanInput::Content {
            filename: "requirements.txt".into(),
            content: "django==3.1.5\n-r other.txt\n".into(),
        })
        .await
        .unwrap();
    assert_eq!(verdict(&r, "django"), DependencyVerdict::Ok);
    assert!(r.problems[0].reason.contains("inline"));
    match engine
        .scan_dependencies(ScanInput::Content {
            filename: "notes.md".into(),
            content: String::new(),
        })
        .await
    {
        Err(QueryError::InvalidInput(e)) => assert_eq!(e.param, "filename"),
        other => panic!("{other:?}"),
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pypi_outage_gives_typed_failures_per_package() {
    let (sim, engine) = start(vec![fixtures()]).await;
    sim.add_fault(FaultSpec {
        route: "/pypi/**".into(),
        status: Some(503),
        ..Default::default()
    });
    sim.add_fault(FaultSpec {
        route: "/simple/**".into(),
        status: Some(503),
        ..Default::default()
    });
    let r = scan(&engine, "locks/uv.lock").await;
    assert_eq!(verdict(&r, "django"), DependencyVerdict::Unavailable);
    assert_eq!(r.failures.len(), 2, "{:?}", r.failures);
    assert_eq!(r.failures[0].code, ErrorCode::Unavailable);
    assert_eq!(r.source, SourceLabel::Unavailable);
    engine.shutdown().await;
}

// ---- check_package ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_package_exists_not_found_typo_and_young() {
    let (_sim, engine) = start(vec![]).await;
    let c = engine.check_package("numpy").await.unwrap();
    assert_eq!(c.verdict, CheckVerdict::Ok, "{}", c.summary);
    assert_eq!(c.exists, Some(true));
    assert!(c.summary.contains("rank"), "{}", c.summary);
    assert!(c.releases.as_ref().unwrap().value.releases > 100);
    // Not on PyPI, and one letter from a popular name.
    let c = engine.check_package("numpi").await.unwrap();
    assert_eq!(c.verdict, CheckVerdict::NotFound);
    assert!(c.summary.starts_with("not on PyPI"), "{}", c.summary);
    assert!(
        c.summary.contains("one letter away from `numpy`"),
        "{}",
        c.summary
    );
    let c = engine
        .check_package("definitely-not-a-package-xyz")
        .await
        .unwrap();
    assert_eq!(c.verdict, CheckVerdict::NotFound);
    assert!(c.popularity.as_ref().unwrap().value.resembles.is_none());
    // The simulator's synthetic typo-squat: three days old, a handful of downloads.
    let c = engine.check_package("numpyy").await.unwrap();
    assert_eq!(c.verdict, CheckVerdict::Suspicious, "{}", c.summary);
    assert!(c.summary.contains("3 days old"), "{}", c.summary);
    assert!(c.summary.contains("1 release"), "{}", c.summary);
    assert!(c.summary.contains("downloads last month"), "{}", c.summary);
    assert!(c.summary.contains("`numpy`"), "{}", c.summary);
    let r = c
        .popularity
        .as_ref()
        .unwrap()
        .value
        .resembles
        .clone()
        .unwrap();
    assert_eq!((r.name.as_str(), r.distance), ("numpy", 1));
    assert!(c.downloads_30d.unwrap().value.unwrap() < 1_000);
    match engine.check_package("not a name!").await {
        Err(QueryError::InvalidInput(e)) => assert_eq!(e.param, "package"),
        other => panic!("{other:?}"),
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_package_answers_in_part_when_pypistats_and_the_dataset_are_down() {
    let (sim, engine) = start(vec![]).await;
    sim.add_fault(FaultSpec {
        route: "/api/packages/**".into(),
        status: Some(502),
        ..Default::default()
    });
    sim.add_fault(FaultSpec {
        route: "/top-pypi-packages.min.json".into(),
        status: Some(503),
        ..Default::default()
    });
    let c = engine.check_package("numpyy").await.unwrap();
    assert_eq!(c.exists, Some(true));
    let items: Vec<&str> = c.failures.iter().map(|f| f.item.as_str()).collect();
    assert_eq!(items, ["numpyy/popularity"]);
    // pypistats is down: the downloads are estimated from pepy.tech's series, and say so.
    let d = c.downloads_30d.as_ref().expect("an estimate");
    assert!(
        matches!(
            d.provenance,
            pypi_sentinel::engine::Provenance::Estimated { .. }
        ),
        "{:?}",
        d.provenance
    );
    assert!(c.summary.contains("3 days old"), "{}", c.summary);
    // The live dataset is down: the names are compared with the snapshot bundled in
    // the binary (the real ranking of 2026-04-01), which says so.
    let p = c
        .popularity
        .as_ref()
        .expect("popularity from the bundled snapshot");
    let resembles = p.value.resembles.as_ref().expect("numpyy resembles numpy");
    assert_eq!(resembles.name, "numpy");
    assert!(
        p.value.rule.contains("the snapshot of 2026-04-01"),
        "{}",
        p.value.rule
    );
    match &p.provenance {
        pypi_sentinel::engine::Provenance::Stale { reason } => {
            assert!(
                reason.contains("bundled in this build, dated 2026-04-01"),
                "{reason}"
            );
            assert!(reason.contains("could not be reached"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        c.summary.contains("one letter away from `numpy`"),
        "{}",
        c.summary
    );
    assert!(
        c.summary
            .contains("popular names from the snapshot of 2026-04-01 bundled in this build"),
        "{}",
        c.summary
    );
    assert_eq!(
        c.verdict,
        CheckVerdict::Suspicious,
        "young, and a name one letter from numpy's"
    );
    assert_eq!(c.source, SourceLabel::Mixed);
    engine.shutdown().await;
}

// ---- CLI ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_scan_and_check_with_their_exit_codes() {
    let sim = Sim::start(SimConfig::default()).await.expect("simulator");
    let dir = fixtures();
    let run = |dir: PathBuf, args: Vec<&'static str>| async {
        Ok::<_, std::convert::Infallible>(common::run_in(sim.base_url(), dir, args).await)
    };
    // The current directory is allowed by default: a relative path in it is read.
    let o = run(dir.join("reqs"), vec!["scan", "requirements.txt"])
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("requirements.txt:6") && out.contains("outdated"),
        "{out}"
    );
    assert!(out.contains("problem requirements.txt:11"), "{out}");
    let o = run(dir.join("reqs"), vec!["--json", "scan", "."])
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["outdated"], 2, "{v}");
    // Outside the current directory: refused, exit 2.
    let o = run(dir.join("reqs"), vec!["scan", "../locks/uv.lock"])
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains(".."));
    let o = run(dir.clone(), vec!["check", "numpi"]).await.unwrap();
    assert_eq!(o.status.code(), Some(3), "not on PyPI");
    assert!(String::from_utf8_lossy(&o.stdout).contains("one letter away from `numpy`"));
    let o = run(dir.clone(), vec!["check", "numpyy"]).await.unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("numpyy: suspicious"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_scan_waits_for_our_own_rate_limit_and_no_wait_answers_deferred() {
    // Two requests a second on each PyPI API and a half-second answer budget: eight
    // packages cannot all be asked within the budget. The CLI waits for our own limit
    // (up to the deadline) and checks every one; `--no-wait` answers at the budget,
    // the rest labelled deferred, with the partial exit.
    let sim = Sim::start(SimConfig::default()).await.expect("simulator");
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = sim.package_names().into_iter().take(8).collect();
    std::fs::write(dir.path().join("requirements.txt"), names.join("\n") + "\n").unwrap();
    let config = dir.path().join("sentinel.toml");
    std::fs::write(
        &config,
        "[timeouts]\nanswer_budget_ms = 500\ndeadline_ms = 12000\n\
         [upstreams.pypi_simple]\nrate_limit = { per_second = 2 }\n\
         [upstreams.pypi_json]\nrate_limit = { per_second = 2 }\n",
    )
    .unwrap();
    let config: &'static str = Box::leak(config.display().to_string().into_boxed_str());
    let scan = |extra: &'static [&'static str]| {
        let mut args = vec!["--json", "--config", config];
        args.extend_from_slice(extra);
        args.extend(["scan", "requirements.txt"]);
        common::run_in(sim.base_url(), dir.path().to_path_buf(), args)
    };
    let deferred = |v: &serde_json::Value| {
        v["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d.to_string().contains("deferred"))
            .count()
    };

    let waited = scan(&[]).await;
    let v: serde_json::Value = serde_json::from_slice(&waited.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&waited.stderr)));
    assert_eq!(v["dependencies"].as_array().unwrap().len(), 8, "{v}");
    assert_eq!(deferred(&v), 0, "{v}");
    assert_eq!(waited.status.code(), Some(0), "{v}");

    let hurried = scan(&["--no-wait"]).await;
    let v: serde_json::Value = serde_json::from_slice(&hurried.stdout).unwrap();
    assert!(deferred(&v) > 0, "{v}");
    assert_eq!(hurried.status.code(), Some(6), "partial: {v}");
}
