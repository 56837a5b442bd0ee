//! OSV's export synced into the store (`vulns sync`, `vulnerabilities.source =
//! "offline"`), against the simulator's `/PyPI/all.zip` (the records it serves at
//! `/v1/vulns/{id}`, zipped): audits, resolutions and `vulns` answer from the store
//! with no request per release while PyPI and OSV are down, each advisory dated with
//! the export's date; a hostile or interrupted sync leaves the previous set in use.

mod common;

use std::path::Path;

use common::*;
use sentinel_actors::audit::AuditVerdict;
use sentinel_actors::views::vulns::AdvisorySource;
use sentinel_actors::{
    EngineConfig, EngineHandle, OsvSyncError, Provenance, ScanInput, Target, Upstream, VulnSource,
};
use sentinel_sim::{FaultSpec, SIMULATED_TODAY, Sim, SimConfig, SimDay, SimHandle};

/// Records the simulator serves: four advisories, each under its id and its alias.
const RECORDS: u64 = 8;

async fn sim_pinned() -> SimHandle {
    let (y, m, d) = (2026, 11, 24);
    assert_eq!(SIMULATED_TODAY, "2026-11-24");
    Sim::start(SimConfig {
        today: SimDay::ymd(y, m, d),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn offline_config(sim: &SimHandle, store: &Path) -> EngineConfig {
    let mut cfg = test_config(sim);
    cfg.store.path = Some(store.join("store.sqlite3"));
    cfg.vulnerabilities.source = VulnSource::Offline;
    cfg
}

async fn offline_engine(sim: &SimHandle, store: &Path) -> EngineHandle {
    engine_with(offline_config(sim, store)).await
}

fn target() -> Target {
    Target {
        python_version: Some("3.12".into()),
        platform: Some("linux".into()),
        ..Target::default()
    }
}

/// PyPI (JSON, Simple, files) and OSV's API all failing.
fn everything_down(sim: &SimHandle) {
    for route in ["/pypi/**", "/simple/**", "/files/**", "/v1/**"] {
        sim.add_fault(status_fault(route, 503));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_after_a_sync_reports_the_advisories_while_pypi_and_osv_are_down() {
    let sim = sim_pinned().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = offline_engine(&sim, dir.path()).await;
    let report = engine.sync_osv_export().await.expect("the sync completes");
    assert_eq!(report.set.advisories, RECORDS, "{report:?}");
    assert_eq!(report.set.skipped, 0);
    assert_eq!(report.set.data_date.as_deref(), Some(SIMULATED_TODAY));
    assert_eq!(report.set.packages, 3, "sg-http, sg-idna, sg-markup");
    assert_eq!(hits(&sim, "/PyPI/all.zip"), 1);
    assert_eq!(hits(&sim, "/v1/**"), 0, "a sync asks nothing of OSV's API");

    everything_down(&sim);
    sim.reset_stats();
    let audit = engine
        .audit_project(
            ScanInput::Content {
                filename: "requirements.txt".into(),
                content: "sg-markup==2.1.5\nsg-idna==3.6\nsg-http==1.1.1\n".into(),
            },
            &target(),
        )
        .await
        .expect("the audit answers");
    assert_eq!(audit.verdict, AuditVerdict::Findings, "{audit:?}");
    let markup = audit
        .vulnerable
        .iter()
        .find(|v| v.package == "sg-markup")
        .unwrap_or_else(|| panic!("{:?}", audit.vulnerable));
    // The id and its twin (both records are in the export) are one advisory.
    assert_eq!(markup.advisories.len(), 1, "{:?}", markup.advisories);
    let a = &markup.advisories[0];
    assert_eq!(a.id, "SGSIM-2025-0003");
    assert!(a.aliases.contains(&"SIM-CVE-2025-0003".to_string()));
    assert_eq!(a.sources, [AdvisorySource::OsvExport]);
    assert_eq!(a.data_date.as_deref(), Some(SIMULATED_TODAY));
    assert_eq!(a.smallest_fix.as_deref(), Some("2.1.6"));
    assert!(audit.vulnerable.iter().any(|v| v.package == "sg-idna"));
    // 1.1.1 is the fix: not vulnerable.
    assert!(!audit.vulnerable.iter().any(|v| v.package == "sg-http"));
    // No request per release, none to OSV: everything came from the store.
    assert_eq!(hits(&sim, "/pypi/*/*/json"), 0);
    assert_eq!(hits(&sim, "/v1/**"), 0);
    assert_eq!(hits(&sim, "/PyPI/**"), 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_and_vulns_answer_from_the_export_dated_and_without_per_release_requests() {
    let sim = sim_pinned().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = offline_engine(&sim, dir.path()).await;
    engine.sync_osv_export().await.expect("the sync completes");
    // PyPI's JSON API and OSV's API down; the Simple API and metadata files answer.
    sim.add_fault(status_fault("/pypi/**", 503));
    sim.add_fault(status_fault("/v1/**", 503));
    sim.reset_stats();

    let mut request = sentinel_actors::resolver::ResolveRequest::new(["sg-http==1.1.0"]);
    request.target = target();
    request.vulnerabilities = true;
    let r = engine.resolve(&request).await.expect("resolved");
    let http = r
        .packages
        .iter()
        .find(|p| p.name == "sg-http")
        .unwrap_or_else(|| panic!("{r:?}"));
    let v = http
        .vulnerabilities
        .as_ref()
        .expect("vulnerabilities attached");
    assert_eq!(v.sources, [AdvisorySource::OsvExport]);
    assert_eq!(v.active, 1, "{v:?}");
    assert_eq!(v.vulnerabilities[0].id, "SGSIM-2024-0001");
    let idna = r.packages.iter().find(|p| p.name == "sg-idna").unwrap();
    assert!(idna.vulnerabilities.is_some(), "{idna:?}");

    let d = engine
        .vulnerabilities("sg-markup", Some("2.1.5"))
        .await
        .expect("answered offline");
    assert_eq!(d.upstream, Upstream::Osv);
    assert_eq!(d.provenance, Provenance::Cached);
    assert_eq!(
        d.data_as_of.as_ref().map(|a| a.date.as_str()),
        Some(SIMULATED_TODAY)
    );
    assert_eq!(d.value.active, 1);
    assert!(
        d.value
            .notes
            .iter()
            .any(|n| n.contains("OSV's export of 2026-11-24")),
        "{:?}",
        d.value.notes
    );
    // A withdrawn advisory is listed, marked, and not in force.
    let w = engine
        .vulnerabilities("sg-idna", Some("2.10"))
        .await
        .expect("answered offline");
    assert!(
        w.value
            .vulnerabilities
            .iter()
            .any(|a| a.id == "SGSIM-2023-0009" && a.withdrawn.is_some()),
        "{:?}",
        w.value
    );
    // A release the Simple page does not list is not found, not "no advisory".
    let missing = engine.vulnerabilities("sg-http", Some("9.9")).await;
    assert!(
        matches!(missing, Err(sentinel_actors::QueryError::NotFound { .. })),
        "{missing:?}"
    );
    assert_eq!(hits(&sim, "/pypi/*/*/json"), 0);
    assert_eq!(hits(&sim, "/pypi/**"), 0);
    assert_eq!(hits(&sim, "/v1/**"), 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_before_any_sync_says_so_and_asks_online() {
    let sim = sim_pinned().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = offline_engine(&sim, dir.path()).await;
    assert!(engine.osv_export_set().await.is_none());
    let d = engine
        .vulnerabilities("sg-markup", Some("2.1.5"))
        .await
        .expect("answered online");
    assert_eq!(d.value.sources, [AdvisorySource::Pypi]);
    assert!(
        d.value
            .notes
            .iter()
            .any(|n| n.contains("never synced") && n.contains("pypi-sentinel vulns sync")),
        "{:?}",
        d.value.notes
    );
    assert!(hits(&sim, "/pypi/sg-markup/2.1.5/json") >= 1);
    engine.shutdown().await;
}

/// The set in use: when it was synced and how many advisories it has.
async fn set_of(engine: &EngineHandle) -> (u64, u64) {
    let s = engine.osv_export_set().await.expect("a set is held");
    (s.synced_at_unix, s.advisories)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_export_is_refused_by_name_and_the_previous_set_stays() {
    let sim = sim_pinned().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = offline_engine(&sim, dir.path()).await;
    let first = engine.sync_osv_export().await.expect("the first sync");
    let before = set_of(&engine).await;
    for (kind, words) in [("zip_bomb", "zip bomb"), ("zip_lies", "directory lies")] {
        let id = sim.add_fault(FaultSpec {
            drift: Some(kind.into()),
            ..fault("/PyPI/all.zip")
        });
        let e = engine.sync_osv_export().await.expect_err(kind);
        assert!(
            matches!(&e, OsvSyncError::Refused { detail, .. } if detail.contains(words)),
            "{kind}: {e}"
        );
        assert!(e.suggestion().contains("previous set"), "{kind}");
        assert_eq!(
            set_of(&engine).await,
            before,
            "{kind}: the set in use changed"
        );
        sim.remove_fault(id);
    }
    // Flipped bits (a corrupting node): damaged, refused.
    let id = sim.add_fault(FaultSpec {
        corrupt_bytes: true,
        ..fault("/PyPI/all.zip")
    });
    let e = engine.sync_osv_export().await.expect_err("corrupt");
    assert!(matches!(e, OsvSyncError::Refused { .. }), "{e}");
    assert_eq!(set_of(&engine).await, before);
    sim.remove_fault(id);
    // Not a zip at all (a captive portal's page).
    let id = sim.add_fault(status_fault("/PyPI/all.zip", 404));
    let e = engine.sync_osv_export().await.expect_err("404");
    assert!(
        matches!(&e, OsvSyncError::Download { detail, .. } if detail.contains("404")),
        "{e}"
    );
    sim.remove_fault(id);
    // One entry that is not JSON: skipped, counted, named; the rest replace the set.
    let id = sim.add_fault(FaultSpec {
        drift: Some("zip_bad_entry".into()),
        ..fault("/PyPI/all.zip")
    });
    let r = engine.sync_osv_export().await.expect("synced without it");
    assert_eq!(r.set.advisories, first.set.advisories);
    assert_eq!(r.set.skipped, 1);
    assert!(r.skipped_examples[0].contains("SIM-BAD-1.json"), "{r:?}");
    assert!(r.replaced.is_some());
    sim.remove_fault(id);
    // The set still answers.
    everything_down(&sim);
    let d = engine
        .vulnerabilities("sg-http", Some("1.0.0"))
        .await
        .unwrap();
    assert_eq!(d.value.sources, [AdvisorySource::OsvExport]);
    assert_eq!(d.value.active, 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_or_killed_sync_leaves_the_previous_set_in_use() {
    let sim = sim_pinned().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = offline_engine(&sim, dir.path()).await;
    engine.sync_osv_export().await.expect("the first sync");
    let before = set_of(&engine).await;
    // The connection drops half-way through the body.
    let id = sim.add_fault(FaultSpec {
        truncate: true,
        ..fault("/PyPI/all.zip")
    });
    let e = engine.sync_osv_export().await.expect_err("cut short");
    assert!(
        matches!(&e, OsvSyncError::Download { detail, .. } if detail.contains("cut short")),
        "{e}"
    );
    assert_eq!(set_of(&engine).await, before);
    sim.remove_fault(id);
    // No temporary file is left beside the store.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("osv-export"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // A sync killed while writing (its staging set never dropped, as when the process
    // dies): the rows it wrote are not used.
    let cfg = offline_config(&sim, dir.path());
    let other = sentinel_actors::store::Store::open(&cfg);
    let mut staging = other
        .stage_osv(
            "http://killed.invalid/all.zip",
            std::time::Duration::from_secs(600),
        )
        .unwrap();
    let body = br#"{"id":"KILLED-1","summary":"written by a sync that died","affected":[{"package":{"ecosystem":"PyPI","name":"sg-markup"},"versions":["2.1.5"]}]}"#;
    let (advisory, packages) =
        sentinel_actors::upstream::osv::parse_record("KILLED-1", body).unwrap();
    staging
        .add(sentinel_actors::upstream::osv_export::ExportAdvisory {
            advisory,
            packages,
            bytes: body.len() as u64,
        })
        .unwrap();
    staging.flush().unwrap();
    std::mem::forget(staging);
    let d = engine
        .vulnerabilities("sg-markup", Some("2.1.5"))
        .await
        .unwrap();
    assert!(
        d.value.vulnerabilities.iter().all(|a| a.id != "KILLED-1"),
        "{:?}",
        d.value.vulnerabilities
    );
    assert_eq!(set_of(&engine).await, before);
    engine.shutdown().await;
}
