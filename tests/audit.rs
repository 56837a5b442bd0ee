//! `audit_project` against the simulator: the projects in `tests/fixtures/audit/` use
//! the simulator's synthetic packages (invented data, `sim/src/data/graphs.rs`), whose
//! advisories, yanked releases and Requires-Python are known, so each finding below is
//! one the audit must make, with its chain and fix; and the ones it must not make
//! (a clean project is `clean`; an outage is `incomplete`, never `clean`).

use std::path::{Path, PathBuf};

use pypi_sentinel::engine::audit::{AuditReport, AuditVerdict, TreeMode};
use pypi_sentinel::engine::views::check::CheckVerdict;
use pypi_sentinel::engine::views::scan::DependencyVerdict;
use pypi_sentinel::engine::{
    Engine, EngineConfig, EngineHandle, QueryError, ScanInput, SourceLabel, Target,
};
use pypi_sentinel::sim::{FaultSpec, Sim, SimConfig, SimHandle};

mod common;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit")
}

async fn start() -> (SimHandle, EngineHandle) {
    let sim = Sim::start(SimConfig::default()).await.expect("simulator");
    let mut cfg = common::sim_config(&sim, vec![fixtures()]);
    // Generous: a shared machine under a parallel test run is slow, and nothing here
    // waits on a timeout (the outages answer 503 at once).
    cfg.timeouts.deadline_ms = 10_000;
    cfg.timeouts.attempt_ms = 5_000;
    let engine = Engine::start(cfg).await.expect("engine");
    (sim, engine)
}

fn python(v: &str) -> Target {
    Target {
        python_version: Some(v.into()),
        ..Target::default()
    }
}

async fn audit(engine: &EngineHandle, rel: &str, target: &Target) -> AuditReport {
    engine
        .audit_project(ScanInput::Path(fixtures().join(rel)), target)
        .await
        .unwrap_or_else(|e| panic!("audit {rel}: {e}"))
}

async fn audit_text(engine: &EngineHandle, filename: &str, text: &str, py: &str) -> AuditReport {
    let input = ScanInput::Content {
        filename: filename.into(),
        content: text.into(),
    };
    engine
        .audit_project(input, &python(py))
        .await
        .unwrap_or_else(|e| panic!("audit {text:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_names_each_vulnerable_release_with_its_chain_and_smallest_fix() {
    let (_sim, engine) = start().await;
    // On Python 3.8 (sg-markup 3.0.0 needs 3.9), sg-markup 2.1.5 comes in through
    // sg-web -> sg-template: a transitive finding, with the chain that brings it and
    // the fix (2.1.6 was never published: the upgrade is to 3.0.0).
    let r = audit(&engine, "webapp", &python("3.8")).await;
    assert_eq!(r.verdict, AuditVerdict::Findings, "{}", r.summary);
    assert_eq!(r.tree.mode, TreeMode::Resolved);
    let markup = r
        .vulnerable
        .iter()
        .find(|v| v.package == "sg-markup")
        .unwrap_or_else(|| panic!("sg-markup not found vulnerable: {:?}", r.vulnerable));
    assert_eq!(markup.version, "2.1.5");
    assert!(!markup.direct);
    assert!(
        markup
            .required_by
            .first()
            .is_some_and(|c| c.starts_with("sg-web"))
            && markup.required_by.iter().any(|c| c.contains("sg-template")),
        "{:?}",
        markup.required_by
    );
    assert_eq!(markup.advisories[0].id, "SGSIM-2025-0003");
    let fix = markup.fix.as_ref().expect("a fix");
    assert_eq!(fix.version, "2.1.6");
    assert_eq!(fix.upgrade_to.as_deref(), Some("3.0.0"));
    // The directly pinned sg-idna==3.6 (extra `idn`) is vulnerable, fixed in 3.7; its
    // withdrawn advisory does not count.
    let idna = r
        .vulnerable
        .iter()
        .find(|v| v.package == "sg-idna")
        .unwrap();
    assert!(idna.direct);
    assert_eq!(idna.advisories.len(), 1);
    assert_eq!(idna.fix.as_ref().unwrap().version, "3.7");
    // The yanked dev pin fails; the outdated one is reported and does not.
    let pin = |name: &str| r.pins.iter().find(|p| p.package == name).cloned();
    let http = pin("sg-http").expect("the yanked pin");
    assert_eq!(
        (http.verdict, http.fails),
        (DependencyVerdict::Yanked, true)
    );
    assert_eq!(http.at, "pyproject.toml:17");
    let idna_pin = pin("sg-idna").expect("the outdated pin");
    assert_eq!(
        (idna_pin.verdict, idna_pin.fails),
        (DependencyVerdict::Outdated, false)
    );
    // The typo-squat among the direct dependencies fails the audit, with evidence.
    let squat = r.packages.iter().find(|p| p.package == "numpyy").unwrap();
    assert_eq!(squat.verdict, CheckVerdict::Suspicious);
    assert!(
        squat.fails
            && squat.summary.contains("`numpy`")
            && squat.summary.contains("downloads last month"),
        "{}",
        squat.summary
    );
    assert!(r.unchecked.is_empty(), "{:?}", r.unchecked);
    assert!(r.summary.starts_with("findings: "), "{}", r.summary);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_python_decides_what_is_installed_and_so_what_is_vulnerable() {
    let (_sim, engine) = start().await;
    // On 3.9, sg-http 1.1.1 (the fixed release) needs Python >= 3.10 and 1.2.0 is
    // yanked: 1.1.0 is installed, and it is vulnerable. On 3.12, 1.1.1 is.
    let old = audit_text(&engine, "requirements.txt", "sg-http>=1.0\n", "3.9").await;
    assert_eq!(old.verdict, AuditVerdict::Findings, "{}", old.summary);
    let http = &old.vulnerable[0];
    assert_eq!(
        (http.package.as_str(), http.version.as_str()),
        ("sg-http", "1.1.0")
    );
    assert!(http.direct);
    assert_eq!(http.fix.as_ref().unwrap().version, "1.1.1");
    let new = audit_text(&engine, "requirements.txt", "sg-http>=1.0\n", "3.12").await;
    assert_eq!(new.verdict, AuditVerdict::Clean, "{}", new.summary);
    assert!(new.vulnerable.is_empty());
    assert!(new.tree.packages >= 3 && new.tree.checked == new.tree.packages);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lockfile_is_audited_as_locked_for_the_target() {
    let (_sim, engine) = start().await;
    let r = audit(&engine, "locked", &python("3.12")).await;
    assert_eq!(r.tree.mode, TreeMode::Locked);
    assert_eq!(r.verdict, AuditVerdict::Findings, "{}", r.summary);
    // sg-http's pin applies only below Python 3.8: left out, and said so.
    assert_eq!((r.tree.packages, r.tree.checked), (2, 2));
    assert!(
        r.tree.notes.iter().any(|n| n.contains("sg-http 1.0.0")),
        "{:?}",
        r.tree.notes
    );
    let idna = &r.vulnerable[0];
    assert_eq!(
        (idna.package.as_str(), idna.version.as_str()),
        ("sg-idna", "3.6")
    );
    assert_eq!(idna.required_by, ["pinned at pylock.toml:12"]);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_project_is_clean_and_stays_clean_from_held_copies_in_an_outage() {
    let (sim, engine) = start().await;
    let r = audit(&engine, "clean", &python("3.12")).await;
    assert_eq!(
        r.verdict,
        AuditVerdict::Clean,
        "{}: {:?}",
        r.summary,
        r.unchecked
    );
    assert!(r.vulnerable.is_empty() && r.pins.is_empty() && r.packages.is_empty());
    assert_eq!(r.source, SourceLabel::Live);
    // Established packages that resemble no popular name: their downloads cannot
    // change a verdict, so pypistats' rate limit is not spent on them.
    assert_eq!(sim.stats().matching("/api/packages/**"), 0);
    // Every upstream fails now, past every fresh TTL (a day): what was fetched
    // answers, labelled as such, and the audit is still clean.
    sim.add_fault(FaultSpec {
        status: Some(503),
        ..FaultSpec::on("/**")
    });
    engine.age_cache(std::time::Duration::from_secs(86_400));
    let again = audit(&engine, "clean", &python("3.12")).await;
    assert_eq!(
        again.verdict,
        AuditVerdict::Clean,
        "{}: {:?}",
        again.summary,
        again.unchecked
    );
    assert!(
        matches!(again.source, SourceLabel::Stale | SourceLabel::Mixed),
        "{:?}",
        again.source
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_with_nothing_held_makes_an_audit_incomplete_never_clean() {
    let (sim, engine) = start().await;
    sim.add_fault(FaultSpec {
        status: Some(503),
        ..FaultSpec::on("/**")
    });
    let r = audit(&engine, "clean", &python("3.12")).await;
    assert_eq!(r.verdict, AuditVerdict::Incomplete, "{}", r.summary);
    assert!(!r.unchecked.is_empty());
    assert!(r.summary.contains("not checked"), "{}", r.summary);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_requirements_fail_the_audit_with_the_conflict_in_words() {
    let (_sim, engine) = start().await;
    let r = audit_text(&engine, "requirements.txt", "sg-conflict\n", "3.12").await;
    assert_eq!(r.verdict, AuditVerdict::Findings, "{}", r.summary);
    let conflict = r.tree.conflict.as_deref().expect("the conflict");
    assert!(conflict.contains("sg-shared"), "{conflict}");
    assert!(r.summary.contains("no solution"), "{}", r.summary);
    // A project the index does not know is said to be missing, not a bare conflict.
    let r = audit_text(&engine, "requirements.txt", "no-such-pkg-xyz\n", "3.12").await;
    assert_eq!(r.verdict, AuditVerdict::Findings, "{}", r.summary);
    let conflict = r.tree.conflict.as_deref().expect("no solution");
    assert!(
        conflict.starts_with("no-such-pkg-xyz is not on the index"),
        "{conflict}"
    );
    assert_eq!(r.pins[0].verdict, DependencyVerdict::NotFound);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_targets_and_paths_are_the_callers_errors_named_before_any_fetch() {
    let (sim, engine) = start().await;
    let bad = |e: QueryError| match e {
        QueryError::InvalidInput(ie) => ie.param,
        other => panic!("not an input error: {other}"),
    };
    let e = engine
        .audit_project(ScanInput::Path(fixtures().join("clean")), &python("banana"))
        .await
        .unwrap_err();
    assert_eq!(bad(e), "python_version");
    let e = engine
        .audit_project(ScanInput::Path(PathBuf::from("/etc")), &python("3.12"))
        .await
        .unwrap_err();
    assert_eq!(bad(e), "path");
    assert_eq!(sim.stats().total, 0, "nothing was fetched");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_audit_gates_with_its_exit_codes() {
    let sim = Sim::start(SimConfig::default()).await.expect("simulator");
    let run = |dir: &str, args: Vec<&'static str>| {
        common::run_in(sim.base_url(), fixtures().join(dir), args)
    };
    let o = run("webapp", vec!["audit", "--python", "3.8"]).await;
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(8),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.starts_with("findings: "), "{out}");
    assert!(
        out.contains("via: sg-web[speed]>=1.0 (requested) -> sg-web 1.1.0 requires sg-template>=2"),
        "{out}"
    );
    assert!(out.contains("pyproject.toml:17 sg-http ==1.2.0"), "{out}");
    let o = run("clean", vec!["--json", "audit"]).await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "clean", "{v}");
    // A fresh process in an outage holds nothing: incomplete, exit 6, never 0.
    sim.add_fault(FaultSpec {
        status: Some(503),
        ..FaultSpec::on("/**")
    });
    let o = run("clean", vec!["audit"]).await;
    assert_eq!(
        o.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("incomplete: "));
    let o = run("clean", vec!["audit", "--marker", "nonsense"]).await;
    assert_eq!(o.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_lock_is_audited_whole_within_our_own_rate_limit() {
    // The default limits (PyPI 20/s): 40 pins need more requests than the answer
    // budget holds, so some are deferred; the audit asks again when they are due.
    let sim = Sim::start(SimConfig::default()).await.expect("simulator");
    let mut cfg = EngineConfig::default().with_origin(&sim.base_url());
    cfg.store.enabled = false;
    let engine = Engine::start(cfg).await.expect("engine");
    let mut lock = String::from("lock-version = \"1.0\"\ncreated-by = \"test\"\n");
    for i in 0..40 {
        lock.push_str(&format!(
            "\n[[packages]]\nname = \"sg-tree-{i:02}\"\nversion = \"1.0.0\"\nindex = \"https://pypi.org/simple\"\n"
        ));
    }
    let input = ScanInput::Content {
        filename: "pylock.toml".into(),
        content: lock,
    };
    let r = engine.audit_project(input, &python("3.12")).await.unwrap();
    assert_eq!(
        r.verdict,
        AuditVerdict::Clean,
        "{}: {:?}",
        r.summary,
        r.unchecked
    );
    assert_eq!((r.tree.packages, r.tree.checked), (40, 40));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extras_meant_as_alternatives_are_audited_each_and_are_not_a_conflict() {
    let (_sim, engine) = start().await;
    // sg-left needs sg-shared<2 and sg-right sg-shared>=2: the two extras cannot be
    // installed together, as a `cpu` and a `gpu` extra cannot; each installs with the
    // main requirements, so the audit resolves them one by one and is clean.
    let alternatives = "[project]\nname = \"app\"\nversion = \"1\"\ndependencies = [\"sg-certs\"]\n\n[project.optional-dependencies]\nleft = [\"sg-left\"]\nright = [\"sg-right\"]\n";
    let r = audit_text(&engine, "pyproject.toml", alternatives, "3.12").await;
    assert_eq!(
        r.verdict,
        AuditVerdict::Clean,
        "{}: {:?}",
        r.summary,
        r.tree
    );
    assert!(r.tree.conflict.is_none());
    let names: Vec<&str> = r
        .tree
        .notes
        .iter()
        .map(String::as_str)
        .filter(|n| n.contains("no solution together"))
        .collect();
    assert_eq!(names.len(), 1, "{:?}", r.tree.notes);
    // Both sides were audited: sg-shared appears in two versions, one per extra.
    assert!(r.tree.packages >= 4, "{:?}", r.tree);
    // A dependency group that conflicts with the main requirements is a finding.
    let broken = "[project]\nname = \"app\"\nversion = \"1\"\ndependencies = [\"sg-left\"]\n\n[dependency-groups]\ndev = [\"sg-right\"]\n";
    let r = audit_text(&engine, "pyproject.toml", broken, "3.12").await;
    assert_eq!(r.verdict, AuditVerdict::Findings, "{}", r.summary);
    let conflict = r.tree.conflict.as_deref().expect("a conflict");
    assert!(conflict.starts_with("group:dev: "), "{conflict}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_index_is_waited_for_by_further_passes() {
    let sim = Sim::start(SimConfig::default()).await.expect("simulator");
    let mut cfg = common::sim_config(&sim, vec![fixtures()]);
    // Every answer takes 400 ms: a pass (1.5 s) cannot fetch the whole tree level by
    // level, but the flights go on, and the next pass answers from them.
    cfg.timeouts.deadline_ms = 1_500;
    cfg.timeouts.answer_budget_ms = 300;
    cfg.timeouts.attempt_ms = 1_200;
    let engine = Engine::start(cfg).await.expect("engine");
    sim.add_fault(FaultSpec {
        latency_ms: Some(400),
        ..FaultSpec::on("/**")
    });
    let r = audit_text(&engine, "requirements.txt", "sg-http>=1.0\n", "3.12").await;
    assert_eq!(
        r.verdict,
        AuditVerdict::Clean,
        "{}: {:?}",
        r.summary,
        r.unchecked
    );
    assert_eq!(r.tree.checked, r.tree.packages);
    engine.shutdown().await;
}

/// A misspelt line makes the requirements unresolvable: the exact pins are still
/// audited one by one (their vulnerabilities are known without a tree): findings,
/// never `clean`, and it says what it could not do (the tree, the misspelt pin).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolvable_project_still_audits_its_exact_pins() {
    let (_sim, engine) = start().await;
    let text = "sg-http==1.1.0\nsg-idna==3.6\nsg-htpp==1.0.0\n";
    let r = audit_text(&engine, "requirements.txt", text, "3.12").await;
    assert_eq!(r.tree.mode, TreeMode::Pins, "{}", r.summary);
    assert_eq!(r.verdict, AuditVerdict::Findings, "{}", r.summary);
    assert!(r.summary.contains("2 not checked"), "{}", r.summary);
    let vulnerable: Vec<String> = r
        .vulnerable
        .iter()
        .map(|v| format!("{} {}", v.package, v.version))
        .collect();
    assert_eq!(
        vulnerable,
        ["sg-http 1.1.0", "sg-idna 3.6"],
        "{}",
        r.summary
    );
    assert!(
        r.tree.notes[0].contains("the 3 exact pin(s) (==) were audited alone"),
        "{:?}",
        r.tree.notes
    );
    assert!(
        r.unchecked.iter().any(|u| u.item == "resolution"),
        "{:?}",
        r.unchecked
    );
    assert!(
        r.unchecked.iter().any(|u| u.item == "sg-htpp 1.0.0"),
        "the misspelt pin is named: {:?}",
        r.unchecked
    );
    // Without a vulnerable pin, the misspelt pin itself is the finding (a pin that is
    // not a release), and the clean one is still checked.
    let text = "sg-certs==2024.2.2\nsg-htpp==1.0.0\n";
    let r = audit_text(&engine, "requirements.txt", text, "3.12").await;
    assert_eq!(r.tree.mode, TreeMode::Pins, "{}", r.summary);
    assert_eq!(r.tree.checked, 1, "{}", r.summary);
    assert!(r.vulnerable.is_empty(), "{}", r.summary);
    assert_eq!(r.verdict, AuditVerdict::Findings, "{}", r.summary);
    assert!(
        r.summary.contains("1 yanked, missing or unsatisfiable pin"),
        "{}",
        r.summary
    );
    engine.shutdown().await;
}
