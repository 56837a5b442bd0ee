//! Dependency confusion: a private index configured beside PyPI (pip's
//! `--extra-index-url`), here the simulator's `/extra/simple/`, whose names are either
//! only there or also on the simulator's public index with lower or higher versions.
//! `check`, `scan` and `audit` flag every name on both and say which release pip
//! would install; a failing extra index is "not checked", never "clean".

mod common;

use common::*;
use sentinel_actors::audit::AuditVerdict;
use sentinel_actors::views::check::CheckVerdict;
use sentinel_actors::views::confusion::{ConfusionRisk, ConfusionStatus, PipIndex};
use sentinel_actors::{EngineHandle, ScanInput, Target, Upstream};
use sentinel_sim::SimHandle;
use sentinel_sim::extra_index::{PRIVATE_ONLY, PROJECTS};

async fn setup_extra() -> (SimHandle, EngineHandle) {
    let sim = sim().await;
    let mut cfg = test_config(&sim);
    cfg.upstreams.extra_index.base_url = format!("{}/extra/simple", sim.base_url());
    let engine = engine_with(cfg).await;
    (sim, engine)
}

fn private_versions(name: &str) -> Vec<String> {
    PROJECTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.iter().map(|s| s.to_string()).collect())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_on_both_with_a_higher_public_version_is_flagged_and_pip_installs_the_public_one() {
    let (sim, engine) = setup_extra().await;
    let c = engine.check_package("black").await.expect("check answers");
    let n = c.confusion.expect("an extra index is configured");
    assert_eq!(n.status, ConfusionStatus::OnBoth, "{n:?}");
    let f = n.finding.expect("a finding");
    assert_eq!(f.risk, ConfusionRisk::PublicWins, "{}", f.words);
    assert!(f.fails);
    let pip = f.pip_installs.clone().expect("pip's choice");
    assert_eq!(pip.index, PipIndex::Pypi);
    // pip's choice is PyPI's newest final release, which is higher than any private one.
    assert_eq!(Some(pip.version.clone()), f.public.value.latest);
    assert_eq!(f.extra.value.versions, private_versions("black"));
    assert_eq!(f.extra.upstream, Upstream::ExtraIndex);
    assert!(f.public.value.first_upload.is_some(), "{f:?}");
    assert_eq!(c.verdict, CheckVerdict::Suspicious, "{}", c.summary);
    assert!(c.summary.contains("pip would install"), "{}", c.summary);
    assert_eq!(hits(&sim, "/extra/simple/black/"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_higher_private_version_is_still_flagged_and_pip_installs_the_private_one() {
    let (_sim, engine) = setup_extra().await;
    let c = engine.check_package("pytz").await.expect("check answers");
    let f = c.confusion.and_then(|n| n.finding).expect("on both");
    assert_eq!(f.risk, ConfusionRisk::ExtraWins, "{}", f.words);
    let pip = f.pip_installs.expect("pip's choice");
    assert_eq!(pip.index, PipIndex::ExtraIndex);
    assert_eq!(Some(pip.version), f.extra.value.latest);
    assert!(!f.fails);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_only_name_is_not_flagged_and_not_called_missing() {
    let (_sim, engine) = setup_extra().await;
    for name in PRIVATE_ONLY {
        let c = engine.check_package(name).await.expect("check answers");
        let n = c.confusion.expect("checked");
        assert_eq!(n.status, ConfusionStatus::ExtraOnly, "{name}: {n:?}");
        assert!(n.finding.is_none());
        assert_eq!(c.exists, Some(false));
        assert_ne!(c.verdict, CheckVerdict::NotFound, "{}", c.summary);
    }
    // A public name the private index does not have: nothing to confuse.
    let c = engine.check_package("django").await.expect("check answers");
    assert_eq!(c.confusion.unwrap().status, ConfusionStatus::NotOnExtra);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extra_index_that_is_down_means_not_checked_never_clean() {
    let (sim, engine) = setup_extra().await;
    sim.add_fault(status_fault("/extra/**", 503));
    let c = engine.check_package("black").await.expect("check answers");
    let n = c.confusion.expect("configured");
    assert_eq!(n.status, ConfusionStatus::NotChecked, "{n:?}");
    assert!(n.reason.unwrap().contains("not checked"));
    assert!(c.failures.iter().any(|f| f.item == "black/confusion"));

    let report = engine
        .audit_project(
            ScanInput::Content {
                filename: "requirements.txt".into(),
                content: "django==3.1.4\n".into(),
            },
            &Target {
                python_version: Some("3.12".into()),
                ..Target::default()
            },
        )
        .await
        .expect("audit answers");
    let conf = report.confusion.as_ref().expect("configured");
    assert_eq!(conf.not_checked.len(), 1, "{conf:?}");
    assert_ne!(report.verdict, AuditVerdict::Clean, "{}", report.summary);
    assert!(
        report
            .unchecked
            .iter()
            .any(|u| u.item == "django/confusion"),
        "{:?}",
        report.unchecked
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_lists_every_name_on_both_and_the_private_only_ones_apart() {
    let (_sim, engine) = setup_extra().await;
    let report = engine
        .scan_dependencies(ScanInput::Content {
            filename: "requirements.txt".into(),
            content: "black\npytz\nacme-billing==1.4.2\ndjango\n".into(),
        })
        .await
        .expect("scan answers");
    let conf = report.confusion.expect("configured");
    let mut both: Vec<&str> = conf.on_both.iter().map(|f| f.package.as_str()).collect();
    both.sort();
    assert_eq!(both, ["black", "pytz"], "{}", conf.summary);
    assert_eq!(conf.extra_only, ["acme-billing"]);
    assert!(conf.not_checked.is_empty());
    assert_eq!(conf.checked, 4);
    // The private-only pin is not "not on PyPI".
    assert_eq!(report.summary.not_found, 0, "{:?}", report.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_extra_index_nothing_is_asked_and_nothing_is_said() {
    let (sim, engine) = setup().await;
    let c = engine.check_package("black").await.expect("check answers");
    assert!(c.confusion.is_none());
    assert_eq!(hits(&sim, "/extra/**"), 0);
}
