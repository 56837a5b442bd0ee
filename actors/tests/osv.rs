//! Vulnerabilities from OSV, against the simulator's OSV API (`/v1/querybatch`,
//! `/v1/vulns/{id}`), which serves the advisories its per-release JSON lists, each
//! under its id and its alias (as OSV serves a `PYSEC-…` record and its `GHSA-…`
//! twin): OSV used when the index has no per-release JSON, `osv` and `both` as
//! configured, failures and hostile answers as "not checked", never "clean".

mod common;

use common::*;
use sentinel_actors::audit::AuditVerdict;
use sentinel_actors::views::vulns::AdvisorySource;
use sentinel_actors::{EngineHandle, QueryError, ScanInput, Target, Upstream, VulnSource};
use sentinel_sim::{FaultSpec, IndexProfile, Sim, SimConfig, SimHandle};

async fn setup_with(profile: IndexProfile, source: VulnSource) -> (SimHandle, EngineHandle) {
    let sim = Sim::start(SimConfig {
        index_profile: profile,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let mut cfg = test_config(&sim);
    cfg.vulnerabilities.source = source;
    let engine = engine_with(cfg).await;
    (sim, engine)
}

fn pins(content: &str) -> ScanInput {
    ScanInput::Content {
        filename: "requirements.txt".into(),
        content: content.into(),
    }
}

fn target() -> Target {
    Target {
        python_version: Some("3.12".into()),
        platform: Some("linux".into()),
        ..Target::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_on_an_index_without_per_release_json_reports_the_advisories_through_osv() {
    for profile in [IndexProfile::SimpleJson, IndexProfile::SimpleHtml] {
        let (sim, engine) = setup_with(profile, VulnSource::Pypi).await;
        let report = engine
            .audit_project(pins("sg-markup==2.1.5\nsg-idna==3.6\n"), &target())
            .await
            .expect("audit answers");
        assert_eq!(
            report.verdict,
            AuditVerdict::Findings,
            "{profile}: {report:?}"
        );
        assert!(
            report.unchecked.is_empty(),
            "{profile}: {:?}",
            report.unchecked
        );
        let markup = report
            .vulnerable
            .iter()
            .find(|v| v.package == "sg-markup")
            .unwrap_or_else(|| panic!("{profile}: {:?}", report.vulnerable));
        // The id and its twin are one advisory, said to come from OSV.
        assert_eq!(markup.advisories.len(), 1, "{:?}", markup.advisories);
        let a = &markup.advisories[0];
        assert_eq!(a.id, "SGSIM-2025-0003");
        assert!(a.aliases.contains(&"SIM-CVE-2025-0003".to_string()));
        assert_eq!(a.sources, [AdvisorySource::Osv]);
        assert_eq!(a.smallest_fix.as_deref(), Some("2.1.6"));
        let fix = markup.fix.as_ref().expect("a fix");
        assert_eq!(fix.upgrade_to.as_deref(), Some("3.0.0"));
        assert!(report.vulnerable.iter().any(|v| v.package == "sg-idna"));
        assert!(hits(&sim, "/v1/querybatch") >= 2, "{profile}");
        assert!(
            hits(&sim, "/pypi/**") > 0,
            "{profile}: the JSON was asked first"
        );
        engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vulnerabilities_of_a_release_without_json_say_they_are_osvs() {
    let (_sim, engine) = setup_with(IndexProfile::SimpleJson, VulnSource::Pypi).await;
    let v = engine
        .vulnerabilities("sg-http", Some("1.1.0"))
        .await
        .expect("answered by OSV");
    assert_eq!(v.upstream, Upstream::Osv);
    assert_eq!(v.value.sources, [AdvisorySource::Osv]);
    assert_eq!(v.value.active, 1);
    assert!(
        v.value
            .notes
            .iter()
            .any(|n| n.contains("no per-release JSON"))
    );
    // A release the index does not list is still "not found", not "no advisory".
    let missing = engine.vulnerabilities("sg-http", Some("9.9")).await;
    assert!(
        matches!(missing, Err(QueryError::NotFound { .. })),
        "{missing:?}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sources_merge_an_id_and_its_alias_into_one_advisory() {
    let (sim, engine) = setup_with(IndexProfile::Pypi, VulnSource::Both).await;
    let v = engine
        .vulnerabilities("sg-markup", Some("2.1.5"))
        .await
        .expect("answered");
    assert_eq!(v.value.sources, [AdvisorySource::Pypi, AdvisorySource::Osv]);
    assert_eq!(
        v.value.vulnerabilities.len(),
        1,
        "{:?}",
        v.value.vulnerabilities
    );
    let a = &v.value.vulnerabilities[0];
    assert_eq!(a.id, "SGSIM-2025-0003");
    assert_eq!(a.sources, [AdvisorySource::Pypi, AdvisorySource::Osv]);
    assert_eq!(a.fixed_in.len(), 2, "{:?}", a.fixed_in);
    assert_eq!(hits(&sim, "/v1/querybatch"), 1);
    // Both twins were read once each.
    assert_eq!(hits(&sim, "/v1/vulns/*"), 2);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osv_alone_gives_the_same_advisories_as_the_per_release_json() {
    let (_sim, pypi) = setup_with(IndexProfile::Pypi, VulnSource::Pypi).await;
    let (_sim2, osv) = setup_with(IndexProfile::Pypi, VulnSource::Osv).await;
    for (name, version) in [
        ("sg-markup", "2.1.5"),
        ("sg-idna", "2.10"),
        ("sg-idna", "3.6"),
        ("sg-http", "1.0.0"),
        ("sg-http", "1.1.1"),
    ] {
        let a = pypi
            .vulnerabilities(name, Some(version))
            .await
            .unwrap()
            .value;
        let b = osv
            .vulnerabilities(name, Some(version))
            .await
            .unwrap()
            .value;
        let ids = |v: &sentinel_actors::views::vulns::PackageVulnerabilities| {
            v.vulnerabilities
                .iter()
                .map(|a| (a.id.clone(), a.withdrawn.is_some(), a.smallest_fix.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b), "{name} {version}");
        assert_eq!(a.active, b.active, "{name} {version}");
        assert_eq!(b.sources, [AdvisorySource::Osv]);
    }
    pypi.shutdown().await;
    osv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osv_failing_leaves_those_releases_not_checked_never_clean() {
    let (sim, engine) = setup_with(IndexProfile::SimpleJson, VulnSource::Pypi).await;
    sim.add_fault(status_fault("/v1/**", 502));
    let report = engine
        .audit_project(pins("sg-certs==2024.2.2\n"), &target())
        .await
        .expect("audit answers");
    // (The scan's own check of the pin, which needs the JSON API, is not this test's.)
    assert_ne!(report.verdict, AuditVerdict::Clean, "{report:?}");
    assert!(report.vulnerable.is_empty());
    assert_eq!(report.tree.checked, 0, "{report:?}");
    let u = report
        .unchecked
        .iter()
        .find(|u| u.item.contains("sg-certs 2024.2.2"))
        .unwrap_or_else(|| panic!("{:?}", report.unchecked));
    assert!(u.reason.contains("osv"), "{}", u.reason);
    assert!(!u.suggestion.is_empty());
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_both_a_failing_osv_is_named_beside_pypis_advisories() {
    let (sim, engine) = setup_with(IndexProfile::Pypi, VulnSource::Both).await;
    sim.add_fault(status_fault("/v1/**", 502));
    let v = engine
        .vulnerabilities("sg-markup", Some("2.1.5"))
        .await
        .expect("PyPI's list answers");
    assert_eq!(v.value.sources, [AdvisorySource::Pypi]);
    assert_eq!(v.value.active, 1);
    assert!(
        v.value
            .notes
            .iter()
            .any(|n| n.contains("osv could not be asked")),
        "{:?}",
        v.value.notes
    );
    engine.shutdown().await;
}

async fn hostile(fault: FaultSpec) -> (SimHandle, String) {
    let (sim, engine) = setup_with(IndexProfile::SimpleJson, VulnSource::Pypi).await;
    sim.add_fault(fault);
    let err = engine
        .vulnerabilities("sg-markup", Some("2.1.5"))
        .await
        .expect_err("a hostile OSV answer is not a list of advisories");
    assert!(
        matches!(
            err,
            QueryError::Unavailable {
                upstream: Upstream::Osv,
                ..
            }
        ),
        "{err:?}"
    );
    engine.shutdown().await;
    (sim, err.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_osv_answer_is_refused_at_the_cap() {
    let (_sim, words) = hostile(FaultSpec {
        oversize_bytes: Some(64 * 1024 * 1024),
        ..fault("/v1/querybatch")
    })
    .await;
    assert!(words.contains("byte cap"), "{words}");
    let (_sim, words) = hostile(FaultSpec {
        oversize_bytes: Some(8 * 1024 * 1024),
        ..fault("/v1/vulns/*")
    })
    .await;
    assert!(words.contains("4194304 byte cap"), "{words}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osv_answers_of_the_wrong_types_are_refused_by_name() {
    for route in ["/v1/querybatch", "/v1/vulns/*"] {
        let (_sim, words) = hostile(FaultSpec {
            drift: Some("wrong_types".into()),
            ..fault(route)
        })
        .await;
        assert!(words.contains("unusable body from osv"), "{route}: {words}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_next_page_token_is_followed_a_bounded_number_of_times() {
    let (sim, words) = hostile(FaultSpec {
        drift: Some("endless_next_page".into()),
        ..fault("/v1/querybatch")
    })
    .await;
    assert!(words.contains("next page after 10 pages"), "{words}");
    assert_eq!(hits(&sim, "/v1/querybatch"), 10);
    assert_eq!(hits(&sim, "/v1/vulns/*"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_both_an_index_without_per_release_json_gives_osvs_list_saying_why() {
    let (_sim, engine) = setup_with(IndexProfile::SimpleHtml, VulnSource::Both).await;
    let v = engine
        .vulnerabilities("sg-idna", Some("3.6"))
        .await
        .expect("OSV answers");
    assert_eq!(v.value.sources, [AdvisorySource::Osv]);
    assert_eq!(v.value.active, 1);
    assert!(
        v.value
            .notes
            .iter()
            .any(|n| n.contains("no per-release JSON")),
        "{:?}",
        v.value.notes
    );
    engine.shutdown().await;
}
