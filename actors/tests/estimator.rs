//! The EstimatorActor: a package's pypistats / pepy ratio, learned while both answer,
//! scales an estimate made from pepy when pypistats is down, and the basis says so;
//! with no ratio learned, the estimate is worded as it always was; a crashed
//! estimator is restarted and gets its calibration back from the series held.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use sentinel_actors::views::calibration::{Calibration, calibrate};
use sentinel_actors::{ActorKind, Confidence, Provenance, SourceLabel, Upstream};
use sentinel_sim::SimHandle;

/// The simulator's own series for `name` (pypistats without mirrors, pepy's daily
/// totals), fetched directly, and the calibration they give.
async fn sim_calibration(sim: &SimHandle, name: &str) -> (Calibration, Vec<(String, u64)>) {
    let (stats, pepy) = sim_series(sim, name).await;
    (calibrate(&stats, &pepy).unwrap(), pepy)
}

/// The simulator's own daily series for `name`: pypistats without mirrors, pepy's totals.
async fn sim_series(sim: &SimHandle, name: &str) -> (Vec<(String, u64)>, Vec<(String, u64)>) {
    let get = |path: String| async move {
        reqwest::get(format!("{}{path}", sim.base_url()))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let overall = get(format!("/api/packages/{name}/overall")).await;
    let stats: Vec<(String, u64)> = overall["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["category"] == "without_mirrors")
        .map(|r| {
            (
                r["date"].as_str().unwrap().to_owned(),
                r["downloads"].as_u64().unwrap(),
            )
        })
        .collect();
    let pepy = get(format!("/api/v2/projects/{name}")).await;
    let pepy: BTreeMap<String, u64> = pepy["downloads"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(day, per)| {
            let total = per
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum();
            (day.clone(), total)
        })
        .collect();
    (stats, pepy.into_iter().collect())
}

fn basis_of<T>(d: &sentinel_actors::Datum<T>) -> (&str, Confidence) {
    match &d.provenance {
        Provenance::Estimated { basis, confidence } => (basis.as_str(), *confidence),
        other => panic!("not an estimate: {other:?}"),
    }
}

/// An outage (pepy answers), then pypistats back (its `overall` series answers while
/// pepy's is held): the ratio is learned. pypistats' series is set three days behind
/// pepy's, so their ratio over the days both cover is not 1.
async fn outage_then_recovery(sim: &SimHandle, engine: &sentinel_actors::EngineHandle, name: &str) {
    sim.set_pypistats_lag_days(3);
    let down = sim.add_fault(status_fault("/api/packages/**", 502));
    let d = engine.recent_downloads(name).await.unwrap();
    let (basis, _) = basis_of(&d.last_week);
    assert!(!basis.contains('\u{d7}'), "nothing learned yet: {basis}");
    assert_eq!(engine.calibrations_held().await, Some(0));
    sim.remove_fault(down);
    let d = engine.recent_downloads(name).await.unwrap();
    assert_eq!(d.source, SourceLabel::Live);
    assert_eq!(engine.calibrations_held().await, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypistats_down_after_both_answered_gives_a_pepy_estimate_scaled_by_the_learned_ratio() {
    let (sim, engine) = setup().await;
    outage_then_recovery(&sim, &engine, "numpy").await;
    let (expected, pepy) = sim_calibration(&sim, "numpy").await;

    // pypistats down again, nothing about numpy held in memory: the estimate comes
    // from pepy alone, scaled by numpy's own ratio.
    sim.add_fault(status_fault("/api/packages/**", 502));
    engine.invalidate(Some("numpy")).await.unwrap();
    let d = engine.recent_downloads("numpy").await.unwrap();
    assert_eq!(d.source, SourceLabel::Estimated);
    assert_eq!(d.last_month.upstream, Upstream::Pepy);
    let (basis, confidence) = basis_of(&d.last_month);
    let words = format!(
        "pepy.tech daily downloads (counted by pepy, not pypistats) \u{d7} {:.2}, the ratio of pypistats (without mirrors) to pepy seen for numpy over 30 days",
        expected.ratio
    );
    assert!(basis.contains(&words), "{basis}\nwanted: {words}");
    let month: u64 = pepy[pepy.len() - 30..].iter().map(|(_, n)| n).sum();
    assert_eq!(d.last_month.value, Some(expected.scale(month)));
    assert_ne!(expected.scale(month), month, "the simulated ratio is not 1");
    assert_eq!(confidence, expected.fit());
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pepy_estimate_with_no_ratio_learned_is_unscaled_and_worded_as_before() {
    let (sim, engine) = setup().await;
    sim.add_fault(status_fault("/api/packages/**", 502));
    let d = engine.recent_downloads("pytest").await.unwrap();
    let (basis, confidence) = basis_of(&d.last_week);
    assert!(
        basis.starts_with("sum of the last 7 days (")
            && basis.contains(
                ") of pepy.tech daily downloads (counted by pepy, not pypistats), data as of "
            ),
        "{basis}"
    );
    assert!(
        !basis.contains('\u{d7}') && !basis.contains("ratio"),
        "{basis}"
    );
    assert_eq!(confidence, Confidence::Medium);
    assert_eq!(engine.calibrations_held().await, Some(0));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimator_crash_is_restarted_and_the_calibration_comes_back_from_the_store() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let mut cfg = test_config(&sim);
    cfg.store.path = Some(path.clone());
    let engine = engine_with(cfg).await;
    outage_then_recovery(&sim, &engine, "django").await;
    let (expected, _) = sim_calibration(&sim, "django").await;
    assert!(engine.flush_store(Duration::from_secs(5)).await);

    engine.inject_actor_panic(ActorKind::Estimator);
    let mut held = None;
    for _ in 0..400 {
        if engine.metrics().actor_restarts >= 1 {
            held = engine.calibrations_held().await;
            if held.is_some() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(held, Some(0), "restarted, with an empty memory");

    // pypistats down, memory emptied: the store's series teach the new estimator
    // again, and the estimate from pepy is scaled as before the crash.
    // The documents kept on disk past their retention (the `recent` figures no longer
    // answer stale); the daily series stay, as the store keeps them for years.
    let nine_days = 9 * 24 * 3600 * 1000_i64;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE documents SET fetched_at = fetched_at - ?1",
            [nine_days],
        )
        .unwrap();
    sim.add_fault(status_fault("/api/packages/**", 502));
    engine.invalidate(Some("django")).await.unwrap();
    let d = engine.recent_downloads("django").await.unwrap();
    let (basis, _) = basis_of(&d.last_week);
    assert_eq!(d.last_week.upstream, Upstream::Pepy);
    assert!(
        basis.contains(&format!(
            "kept on disk from an earlier run (counted by pepy, not pypistats) \u{d7} {:.2}, the ratio of pypistats (without mirrors) to pepy seen for django over 30 days",
            expected.ratio
        )),
        "{basis}"
    );
    assert_eq!(engine.calibrations_held().await, Some(1));
    engine.shutdown().await;
}

/// The series left the cache (here invalidated; in production evicted under the byte
/// budget) and there is no store: with pypistats and pepy both down, the estimate
/// still comes from the rolling sums the estimator remembers of the series it saw
/// filled, gives the series' own figures, and says so. Without that memory the call
/// would fail with "no daily series held".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_series_gone_and_no_store_the_estimate_comes_from_the_sums_the_estimator_remembers()
 {
    let (sim, engine) = setup().await;
    let (stats, _) = sim_series(&sim, "pytest").await;
    let name = sentinel_actors::PackageName::parse("pytest").unwrap();
    for q in [
        sentinel_actors::Query::Stats(name.clone(), sentinel_actors::StatsKind::Overall),
        sentinel_actors::Query::Pepy(name.clone()),
    ] {
        engine.document(q).await.unwrap();
    }
    engine.invalidate(Some("pytest")).await.unwrap();
    let asked_before = sim.stats().total;
    sim.add_fault(status_fault("/api/packages/**", 502));
    sim.add_fault(status_fault("/api/v2/projects/**", 502));

    let d = engine.recent_downloads("pytest").await.unwrap();
    assert_eq!(d.source, SourceLabel::Estimated);
    assert!(
        sim.stats().total > asked_before,
        "the bases were tried first"
    );
    let sum = |n: usize| stats[stats.len() - n..].iter().map(|(_, d)| d).sum::<u64>();
    assert_eq!(d.last_day.value, Some(sum(1)));
    assert_eq!(d.last_week.value, Some(sum(7)));
    assert_eq!(d.last_month.value, Some(sum(30)));
    assert_eq!(d.last_month.upstream, Upstream::Pypistats);
    let (basis, _) = basis_of(&d.last_week);
    assert!(
        basis.contains("the pypistats overall series (without mirrors) as the estimator remembers it (rolling sums"),
        "{basis}"
    );
    engine.shutdown().await;
}
