//! Download figures and the calendar: every figure carries the date of its data (the
//! newest day upstream, not the fetch), a lagging upstream is said to lag, estimates
//! are trusted by the age of their data, and a download document stays fresh until
//! the upstream's next daily update is due. The simulator and the engine's clock are
//! pinned to one day, so nothing here depends on the date the tests run on. Each test
//! is named after the failure it pins.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use sentinel_actors::{EngineHandle, Provenance, SourceLabel, StatsKind, UtcClock};
use sentinel_sim::{Sim, SimConfig, SimDay, SimHandle};

/// The pinned "today" of these tests.
const TODAY: &str = "2026-11-24";

fn day(s: &str) -> SimDay {
    s.parse().expect("a date")
}

/// `hour`:00 UTC on `d`.
fn at(d: SimDay, hour: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(d.days_since_epoch() as u64 * 86_400 + hour * 3600)
}

async fn pinned_sim(lag_days: u32) -> SimHandle {
    Sim::start(SimConfig {
        today: Some(day(TODAY)),
        pypistats_lag_days: lag_days,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// A simulator whose today is [`TODAY`] (pypistats `lag_days` behind) and an engine
/// whose clock reads [`TODAY`] at `hour`:00 UTC.
async fn setup(lag_days: u32, hour: u64) -> (SimHandle, EngineHandle) {
    let sim = pinned_sim(lag_days).await;
    let mut cfg = test_config(&sim);
    cfg.clock = UtcClock::pinned(at(day(TODAY), hour));
    let engine = engine_with(cfg).await;
    (sim, engine)
}

fn as_of<T>(d: &sentinel_actors::Datum<T>) -> Option<(&str, u32, bool)> {
    d.data_as_of
        .as_ref()
        .map(|a| (a.date.as_str(), a.age_days, a.lagging))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_figures_carry_the_date_of_their_data_not_of_the_fetch() {
    let (sim, engine) = setup(0, 9).await;
    let yesterday = Some(("2026-11-23", 1, false));

    let trend = engine.download_trend("numpy", 30).await.unwrap();
    assert_eq!(trend.provenance, Provenance::Live);
    assert_eq!(as_of(&trend), yesterday);
    let breakdown = engine
        .download_breakdown("numpy", StatsKind::System, 30)
        .await
        .unwrap();
    assert_eq!(as_of(&breakdown), yesterday);

    // pypistats' `recent` body has no date: its figures are dated by the overall
    // series held, whose days give exactly the same figures.
    let recent = engine.recent_downloads("numpy").await.unwrap();
    assert_eq!(recent.source, SourceLabel::Live);
    for d in [&recent.last_day, &recent.last_week, &recent.last_month] {
        assert_eq!(as_of(d), yesterday);
    }
    let overview = engine.overview(&["numpy".to_string()]).await.unwrap();
    let downloads = overview.items[0].downloads.as_ref().unwrap();
    assert_eq!(as_of(&downloads.last_month), yesterday);
    // Package metadata has no data date.
    assert!(overview.items[0].info.data_as_of.is_none());

    // A single question asks for the overall series too (both stay fresh until the
    // next daily update: one more request per package per day).
    let recent = engine.recent_downloads("pytest").await.unwrap();
    assert_eq!(as_of(&recent.last_week), yesterday);
    assert_eq!(hits(&sim, "/api/packages/pytest/overall"), 1);
    assert_eq!(hits(&sim, "/api/packages/pytest/recent"), 1);
    // A batch does not (it spares the rate limit): without a series held, the date of
    // `recent` is not guessed.
    let batch = engine.overview(&["coverage".to_string()]).await.unwrap();
    let figures = batch.items[0].downloads.as_ref().unwrap();
    assert!(figures.last_week.data_as_of.is_none(), "{figures:?}");
    assert_eq!(hits(&sim, "/api/packages/coverage/overall"), 0);

    // An estimate carries the date of its basis, and its basis says it.
    engine.download_trend("django", 30).await.unwrap();
    sim.add_fault(status_fault("/api/packages/*/recent", 502));
    let est = engine.recent_downloads("django").await.unwrap();
    assert_eq!(est.source, SourceLabel::Estimated, "{est:?}");
    assert_eq!(as_of(&est.last_week), yesterday);
    let Provenance::Estimated { basis, confidence } = &est.last_week.provenance else {
        panic!("{:?}", est.last_week.provenance)
    };
    assert!(
        basis.contains("data as of 2026-11-23 (1 day old)"),
        "{basis}"
    );
    assert_eq!(*confidence, sentinel_actors::Confidence::High);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypistats_lag_of_three_days_is_reported_and_one_day_is_not() {
    let (_sim, engine) = setup(0, 9).await;
    let on_time = engine.download_trend("numpy", 30).await.unwrap();
    assert_eq!(as_of(&on_time), Some(("2026-11-23", 1, false)));
    engine.shutdown().await;

    // The simulated pypistats is 2 days behind schedule: its newest day is 3 days old.
    let (_sim, engine) = setup(2, 9).await;
    let late = engine.download_trend("numpy", 30).await.unwrap();
    assert_eq!(as_of(&late), Some(("2026-11-21", 3, true)));
    let words = late
        .data_as_of
        .as_ref()
        .and_then(|a| a.lag_words("pypistats"))
        .expect("a lagging upstream is said to lag");
    assert!(words.contains("3 days old"), "{words}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimate_confidence_drops_with_the_age_of_the_data() {
    for (lag, newest, confidence) in [
        (0, "2026-11-23", sentinel_actors::Confidence::High),
        (1, "2026-11-22", sentinel_actors::Confidence::Medium),
        (4, "2026-11-19", sentinel_actors::Confidence::Low),
    ] {
        let (sim, engine) = setup(lag, 9).await;
        // Fetched a moment ago in every case: only the data's age differs.
        engine.download_trend("django", 30).await.unwrap();
        sim.add_fault(status_fault("/api/packages/*/recent", 502));
        sim.add_fault(status_fault("/api/v2/**", 502));
        let est = engine.recent_downloads("django").await.unwrap();
        let Provenance::Estimated {
            confidence: got, ..
        } = &est.last_week.provenance
        else {
            panic!("{:?}", est.last_week.provenance)
        };
        assert_eq!(*got, confidence, "lag {lag}");
        assert_eq!(
            est.last_week.data_as_of.as_ref().map(|a| a.date.as_str()),
            Some(newest)
        );
        engine.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_download_fetch_within_the_day_is_not_repeated_until_the_next_update_is_due() {
    // 09:00 UTC on 2026-11-24; pypistats' newest day is 2026-11-23, and 2026-11-24's
    // data is due 2026-11-25 at 02:00 (the default 2 h publishing delay).
    let (sim, engine) = setup(0, 9).await;
    let overall = "/api/packages/numpy/overall";
    let first = engine.download_trend("numpy", 30).await.unwrap();
    assert_eq!(first.provenance, Provenance::Live);
    assert_eq!(hits(&sim, overall), 1);

    // 16 h later (01:00 the next day): still fresh, nothing asked upstream. A fixed 6 h
    // TTL would have refetched the same data twice by now.
    for _ in 0..4 {
        tokio::time::advance(Duration::from_secs(4 * 3600)).await;
        let d = engine.download_trend("numpy", 30).await.unwrap();
        assert_eq!(d.provenance, Provenance::Cached);
    }
    assert_eq!(
        hits(&sim, overall),
        1,
        "no refetch before the update is due"
    );

    // 02:30: due. The stale copy answers while a refresh runs; pypistats has not
    // published (the simulator's today is still 2026-11-24): the same newest day.
    tokio::time::advance(Duration::from_secs(90 * 60)).await;
    let d = engine.download_trend("numpy", 30).await.unwrap();
    assert!(matches!(d.provenance, Provenance::Stale { .. }), "{d:?}");
    assert!(engine.settle(Duration::from_secs(5)).await);
    assert_eq!(hits(&sim, overall), 2);

    // It backs off: no new request within the retry interval (1 h).
    tokio::time::advance(Duration::from_secs(30 * 60)).await;
    let d = engine.download_trend("numpy", 30).await.unwrap();
    assert_eq!(d.provenance, Provenance::Cached, "{d:?}");
    assert_eq!(as_of(&d), Some(("2026-11-23", 2, false)));
    assert_eq!(hits(&sim, overall), 2, "backs off instead of hammering");

    // pypistats publishes; past the retry interval the next refresh brings the new day.
    sim.set_today(Some(day("2026-11-25")));
    tokio::time::advance(Duration::from_secs(31 * 60)).await;
    engine.download_trend("numpy", 30).await.unwrap();
    assert!(engine.settle(Duration::from_secs(5)).await);
    assert_eq!(hits(&sim, overall), 3);
    let d = engine.download_trend("numpy", 30).await.unwrap();
    assert_eq!(d.provenance, Provenance::Cached);
    assert_eq!(as_of(&d), Some(("2026-11-24", 1, false)));
    // Fresh again until 2026-11-26 02:00: 20 h later, still no request.
    tokio::time::advance(Duration::from_secs(20 * 3600)).await;
    engine.download_trend("numpy", 30).await.unwrap();
    assert_eq!(hits(&sim, overall), 3);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_loaded_from_disk_keeps_its_data_date() {
    // The machine's clock and the real date here: the store dates what it keeps by
    // the wall clock.
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let yesterday = sim.today().plus_days(-1).to_string();
    let expected = Some((yesterday.as_str(), 1, false));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let config = || {
        let mut cfg = test_config(&sim);
        cfg.store.path = Some(path.clone());
        cfg
    };
    let engine = engine_with(config()).await;
    let live = engine.download_trend("django", 30).await.unwrap();
    assert_eq!(as_of(&live), expected);
    engine.shutdown().await;

    sim.add_fault(status_fault("/**", 503));
    let engine = engine_with(config()).await;
    let kept = engine.download_trend("django", 30).await.unwrap();
    // Still as fresh as when it was fetched: answered from disk without asking.
    assert_eq!(kept.provenance, Provenance::Cached);
    assert_eq!(as_of(&kept), expected);
    let est = engine.recent_downloads("django").await.unwrap();
    assert_eq!(est.source, SourceLabel::Estimated, "{est:?}");
    assert_eq!(as_of(&est.last_week), expected);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driven_clock_moved_past_pypis_max_age_makes_the_cached_project_revalidate() {
    let sim = pinned_sim(0).await;
    let (clock, hand) = UtcClock::driven();
    let mut cfg = test_config(&sim);
    cfg.clock = clock;
    cfg.stale_while_revalidate = false;
    let engine = engine_with(cfg).await;
    let json = "/pypi/numpy/json";
    let info = |engine: EngineHandle| async move {
        engine.package_info("numpy", None).await.unwrap().provenance
    };
    assert_eq!(info(engine.clone()).await, Provenance::Live);

    // 10 minutes on the engine's clock: within PyPI's 15-minute max-age.
    hand.advance(Duration::from_secs(10 * 60));
    assert_eq!(info(engine.clone()).await, Provenance::Cached);
    assert_eq!(hits(&sim, json), 1);

    // 20 minutes: past it, so the copy is revalidated (a 304), not answered fresh.
    hand.advance(Duration::from_secs(10 * 60));
    assert_eq!(info(engine.clone()).await, Provenance::Revalidated);
    assert_eq!(hits(&sim, json), 2);

    // The copy confirmed after the move is fresh: the move ages it only once.
    assert_eq!(info(engine.clone()).await, Provenance::Cached);
    assert_eq!(hits(&sim, json), 2);
    engine.shutdown().await;
}
