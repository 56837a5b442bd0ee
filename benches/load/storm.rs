//! Scenario: 5xx storm.

use super::*;

pub(crate) async fn storm(opts: &Opts, sim: &SimHandle, range: std::ops::Range<usize>) {
    let t = Table::new(
        "5a. 50 % 502 storm on PyPI JSON, distinct uncached packages, default retry policy and budget",
    );
    let per_case = opts.pick(300, 2_500).min(range.len() / 2);
    let mut notes = Vec::new();
    for (k, breaker_on) in [false, true].into_iter().enumerate() {
        let mut cfg = engine_config(&sim.base_url());
        if !breaker_on {
            // Breaker effectively off: only the retry policy and budget act.
            let b = &mut cfg.upstreams.get_mut(Upstream::PypiJson).breaker;
            b.consecutive_failures = 1_000_000;
            b.min_calls = 1_000_000;
        }
        let engine = start_engine(cfg).await;
        let fault = sim.add_fault(FaultSpec {
            route: "/pypi/**".into(),
            status: Some(502),
            probability: Some(0.5),
            ..Default::default()
        });
        sim.reset_stats();
        let start = range.start + k * per_case;
        let e = engine.clone();
        let run = closed_loop(
            32,
            per_case,
            Duration::from_secs(opts.pick(12, 40)),
            move |i| {
                let e = e.clone();
                async move { e.package_info(&synth(start + i), None).await.is_ok() }
            },
        )
        .await;
        let hits = sim.stats().matching("/pypi/**");
        let case = if breaker_on {
            "50 % 502, default breaker"
        } else {
            "50 % 502, breaker off (budget only)"
        };
        t.row(case, 32, &run, hits);
        let fs = fetch_stats(&engine, Upstream::PypiJson);
        let (state, opened) = breaker_state(&engine.health().await, Upstream::PypiJson);
        notes.push(format!(
            "- {case}: amplification = {hits} / {} = **{:.3}** (target <= 1.2); {} requests, \
             {} attempts, {} retries, {} refused by the budget, {} failed; breaker `{state}`, \
             opened {opened} time(s); {:.1} s",
            run.lat.len(),
            hits as f64 / run.lat.len().max(1) as f64,
            fs.requests,
            fs.attempts,
            fs.retries,
            fs.budget_refusals,
            fs.failures,
            run.elapsed.as_secs_f64(),
        ));
        sim.remove_fault(fault);
        engine.shutdown().await;
    }
    t.note(&notes.join("\n"));
}
