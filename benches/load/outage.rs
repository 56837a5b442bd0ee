//! Scenario: outage amplification.

use super::*;

pub(crate) async fn outage(opts: &Opts, sim: &SimHandle, range: std::ops::Range<usize>) {
    let t = Table::new(
        "5b. 100 % outage (502) of PyPI JSON: amplification before and after the breaker opens",
    );
    let engine = start_engine(engine_config(&sim.base_url())).await;
    let fault = sim.add_fault(FaultSpec {
        route: "/pypi/**".into(),
        status: Some(502),
        probability: Some(1.0),
        ..Default::default()
    });
    let names: Vec<String> = range.map(synth).collect();
    let mut idx = 0;
    // Before: one call at a time (the worst case for a per-second retry-budget floor)
    // until the breaker opens.
    sim.reset_stats();
    let t0 = Instant::now();
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut open = false;
    while idx < 200 && t0.elapsed() < Duration::from_secs(60) {
        let s = Instant::now();
        let ok = engine.package_info(&names[idx], None).await.is_ok();
        lat.push(s.elapsed());
        errors += u64::from(!ok);
        idx += 1;
        if engine.metrics().breaker_transitions > 0 {
            open = true;
            break;
        }
    }
    lat.sort_unstable();
    let before = Run {
        lat,
        errors,
        elapsed: t0.elapsed(),
    };
    let hits_before = sim.stats().matching("/pypi/**");
    t.row(
        "before open (conc 1, until the breaker opens)",
        1,
        &before,
        hits_before,
    );
    // Also the same phase at concurrency 8 on a fresh engine (burstier arrivals).
    let fs_before = fetch_stats(&engine, Upstream::PypiJson);
    // After: inside the open period.
    sim.reset_stats();
    let start = idx;
    let names = Arc::new(names);
    let n2 = names.clone();
    let e = engine.clone();
    let avail = names.len() - start;
    let after = closed_loop(
        8,
        opts.pick(2_000, 20_000).min(avail),
        Duration::from_secs(5),
        move |i| {
            let e = e.clone();
            let n = n2.clone();
            async move { e.package_info(&n[start + i], None).await.is_ok() }
        },
    )
    .await;
    let hits_after = sim.stats().matching("/pypi/**");
    t.row(
        "after open (conc 8, inside the open period)",
        8,
        &after,
        hits_after,
    );
    let (state, _) = breaker_state(&engine.health().await, Upstream::PypiJson);
    t.note(&format!(
        "breaker opened: {open} after {} calls; before: {hits_before} upstream requests / {} calls = \
         **{:.3}** (engine: {} attempts, {} retries, {} refused by budget); after: {hits_after} / {} = \
         **{:.4}**; breaker now `{state}`. Errors are expected: nothing is cached, so every call fails.",
        before.lat.len(),
        before.lat.len(),
        hits_before as f64 / before.lat.len().max(1) as f64,
        fs_before.attempts,
        fs_before.retries,
        fs_before.budget_refusals,
        after.lat.len(),
        hits_after as f64 / after.lat.len().max(1) as f64,
    ));
    sim.remove_fault(fault);
    engine.shutdown().await;
}
