//! Scenario: breaker open, stale answers.

use super::*;

pub(crate) async fn breaker(opts: &Opts, sim: &SimHandle, range: std::ops::Range<usize>) {
    let t = Table::new("4. pypistats 100 % 502, warm (stale) cache, breaker open: stale answers");
    let mut cfg = engine_config(&sim.base_url());
    // Short backoffs so the breaker opens within a second; the breaker itself is default.
    let ps = cfg.upstreams.get_mut(Upstream::Pypistats);
    ps.retry.base_ms = 5;
    ps.retry.cap_ms = 50;
    let open_ms = ps.breaker.open_base_ms;
    let engine = start_engine(cfg).await;
    let names: Arc<Vec<String>> = Arc::new(range.map(synth).collect());
    for n in names.iter() {
        engine
            .recent_downloads(n)
            .await
            .expect("warm recent_downloads");
    }
    // Past pypistats' next daily update (download stats stay fresh until then, 24 h at
    // most), well inside the 7-day stale retention.
    engine.age_cache(Duration::from_secs(25 * 3600));
    let fault = sim.add_fault(FaultSpec {
        route: "/api/packages/**".into(),
        status: Some(502),
        probability: Some(1.0),
        ..Default::default()
    });
    // Stale answers trigger background refreshes; they fail until the breaker opens.
    let open_deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 0;
    let opened_at = loop {
        let _ = engine.recent_downloads(&names[i % names.len()]).await;
        i += 1;
        if i % 5 == 0 {
            engine.settle(Duration::from_secs(2)).await;
            let (state, _) = breaker_state(&engine.health().await, Upstream::Pypistats);
            if state == "open" {
                break Some(Instant::now());
            }
        }
        if Instant::now() > open_deadline {
            break None;
        }
    };
    let Some(opened_at) = opened_at else {
        t.note("the pypistats breaker did not open within 20 s; scenario skipped");
        sim.remove_fault(fault);
        engine.shutdown().await;
        return;
    };
    let trigger_calls = i;
    sim.reset_stats();
    let before = fetch_stats(&engine, Upstream::Pypistats);
    // Stay inside the open period (default 10 s): both runs share a 6 s budget.
    let budget = Duration::from_millis(open_ms.saturating_sub(4_000).max(1_000));
    let mut total_calls = 0;
    for (conc, total) in [
        (1, opts.pick(5_000, 100_000)),
        (16, opts.pick(20_000, 300_000)),
    ] {
        let e = engine.clone();
        let n2 = names.clone();
        let run = closed_loop(conc, total, budget / 2, move |i| {
            let e = e.clone();
            let n = n2.clone();
            async move {
                matches!(
                    e.recent_downloads(&n[i % n.len()]).await,
                    Ok(d) if d.source == sentinel_actors::SourceLabel::Stale
                )
            }
        })
        .await;
        total_calls += run.lat.len();
        t.row(
            "stale recent_downloads, breaker open",
            conc,
            &run,
            sim.stats().matching("/api/packages/**"),
        );
    }
    let during = sim.stats().matching("/api/packages/**");
    let in_open = opened_at.elapsed();
    let after = fetch_stats(&engine, Upstream::Pypistats);
    let (state, times_opened) = breaker_state(&engine.health().await, Upstream::Pypistats);
    t.note(&format!(
        "breaker opened after {trigger_calls} client calls; measured {total_calls} calls over \
         {:.1} s of the {:.0} s open period; upstream requests during the open period: \
         **{during}** (engine fetch requests {} -> {}); breaker now `{state}`, opened {times_opened} time(s). \
         An error counts a call that was not answered `stale`.",
        in_open.as_secs_f64(),
        open_ms as f64 / 1000.0,
        before.requests,
        after.requests,
    ));
    sim.remove_fault(fault);
    engine.shutdown().await;
}
