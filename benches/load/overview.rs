//! Scenario: overview of 100 packages, default limits.

use super::*;

pub(crate) async fn overview(opts: &Opts) {
    println!();
    println!("### 8. Overview of a batch against a healthy simulator, default rate limits");
    let n = opts.pick(10, 100);
    let sim = Sim::start(SimConfig {
        synthetic: n + 10,
        // The simulator enforces pypistats.org's 5/s and 30/min and answers 429 past it.
        pypistats_rate_limit: true,
        ..Default::default()
    })
    .await
    .expect("sim starts");
    let engine = start_engine(EngineConfig::default().with_origin(&sim.base_url())).await;
    let names: Vec<String> = (0..n).map(synth).collect();
    let summarize = |r: &sentinel_actors::PartialResult<sentinel_actors::PackageOverview>| {
        let mut by: std::collections::BTreeMap<String, usize> = Default::default();
        for it in &r.items {
            let k = match &it.downloads {
                Some(d) => format!("downloads {}", Outcome::of_label(d.source).word()),
                None => "downloads none".into(),
            };
            *by.entry(k).or_default() += 1;
            *by.entry(format!("info {}", it.info.provenance.word()))
                .or_default() += 1;
        }
        let mut max_ra = 0;
        for f in &r.failures {
            *by.entry(format!("failure {}", f.code)).or_default() += 1;
            max_ra = max_ra.max(f.retry_after_secs.unwrap_or(0));
        }
        let with_ra = r
            .failures
            .iter()
            .filter(|f| {
                f.code == sentinel_actors::ErrorCode::Deferred && f.retry_after_secs.is_some()
            })
            .count();
        (by, max_ra, with_ra)
    };
    println!();
    println!(
        "| ask | packages | answer time | items | failures | by kind | deferred with retry_after | largest retry_after | breaker transitions | pypistats req (sim) | pypi-json req (sim) | unavailable |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let t0 = Instant::now();
    let first = engine.overview(&names).await;
    let d1 = t0.elapsed();
    let Ok(first) = first else {
        println!("overview failed: {first:?}");
        engine.shutdown().await;
        sim.shutdown().await;
        return;
    };
    let (by, max_ra, with_ra) = summarize(&first);
    let unavailable = |r: &sentinel_actors::PartialResult<sentinel_actors::PackageOverview>| {
        r.failures
            .iter()
            .filter(|f| f.code == sentinel_actors::ErrorCode::Unavailable)
            .count()
    };
    let row = |label: &str,
               d: Duration,
               r: &sentinel_actors::PartialResult<sentinel_actors::PackageOverview>,
               by: &std::collections::BTreeMap<String, usize>,
               with_ra: usize,
               max_ra: u64| {
        println!(
            "| {label} | {n} | {} | {} | {} | {} | {with_ra} | {max_ra} s | {} | {} | {} | {} |",
            fmt_d(d),
            r.items.len(),
            r.failures.len(),
            by.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            engine.metrics().breaker_transitions,
            sim.stats().matching("/api/packages/**"),
            sim.stats().matching("/pypi/**"),
            unavailable(r),
        );
        let _ = std::io::stdout().flush();
    };
    row("first", d1, &first, &by, with_ra, max_ra);
    let stats_first = fetch_stats(&engine, Upstream::Pypistats);
    let first_failures = first.failures.len();
    if first_failures > 0 {
        let wait = Duration::from_secs(max_ra + 1).min(Duration::from_secs(opts.pick(0, 90)));
        let waited = Instant::now();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let waited = waited.elapsed();
        let t1 = Instant::now();
        let second = engine.overview(&names).await;
        let d2 = t1.elapsed();
        if let Ok(second) = second {
            let (by2, max_ra2, with_ra2) = summarize(&second);
            row(
                &format!("again after {:.0} s", waited.as_secs_f64()),
                d2,
                &second,
                &by2,
                with_ra2,
                max_ra2,
            );
        }
    }
    let s = fetch_stats(&engine, Upstream::Pypistats);
    println!();
    println!(
        "pypistats fetch counters after the first ask: {} requests, {} deferred, {} queued, queue length {}; \
         at the end: {} requests, {} deferred, {} queued, queue length {}, {} failures. The simulator \
         enforces 5/s and 30/min on pypistats (429 past it): any 429 would show as a failure or an \
         unavailable item. {}",
        stats_first.requests,
        stats_first.deferred,
        stats_first.queued,
        stats_first.queue_len,
        s.requests,
        s.deferred,
        s.queued,
        s.queue_len,
        s.failures,
        if opts.quick {
            "Quick mode: no wait before the second ask."
        } else {
            "The wait before the second ask is the largest retry_after, capped at 90 s."
        }
    );
    engine.shutdown().await;
    sim.shutdown().await;
}
