//! Scenario: abandoned calls under a hang.

use super::*;

pub(crate) async fn abandoned(opts: &Opts) {
    println!();
    println!("### 9. 30 abandoned calls under a `hang` on /pypi/**, then unrelated calls");
    let sim = Sim::start(SimConfig {
        synthetic: 100,
        ..Default::default()
    })
    .await
    .expect("sim starts");
    let engine = start_engine(EngineConfig::default().with_origin(&sim.base_url())).await;
    let stale_name = synth(90);
    engine
        .package_info(&stale_name, None)
        .await
        .expect("warm the stale package");
    engine.age_cache(Duration::from_secs(3600));
    let hang = sim.add_fault(FaultSpec {
        hang: true,
        ..FaultSpec::on("/pypi/**")
    });
    sim.reset_stats();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let e = engine.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::timeout(Duration::from_millis(100), e.package_info(&synth(i), None))
                .await
                .is_err()
        }));
    }
    let mut dropped = 0;
    for t in tasks {
        dropped += usize::from(t.await.unwrap_or(false));
    }
    let abandon_time = t0.elapsed();
    let hung_requests = sim.stats().matching("/pypi/**");
    let s = Instant::now();
    let stale = engine.package_info(&stale_name, None).await;
    let stale_lat = s.elapsed();
    let stale_word = match &stale {
        Ok(d) => d.provenance.word().to_string(),
        Err(e) => format!("error {}", e.code()),
    };
    // With the fault lifted, a cold call needs a free pypi-json slot: 16 abandoned
    // fetches still holding theirs would make it wait for their 10 s attempt timeout.
    sim.remove_fault(hang);
    let s = Instant::now();
    let cold = engine.package_info(&synth(95), None).await;
    let cold_lat = s.elapsed();
    let cold_word = match &cold {
        Ok(d) => d.provenance.word().to_string(),
        Err(e) => format!("error {}", e.code()),
    };
    let fs = fetch_stats(&engine, Upstream::PypiJson);
    let (state, opened) = breaker_state(&engine.health().await, Upstream::PypiJson);
    println!();
    println!("| step | time | outcome |");
    println!("| --- | ---: | --- |");
    println!(
        "| 30 calls, each dropped after 100 ms ({dropped} dropped) | {} | {hung_requests} requests reached the hang |",
        fmt_d(abandon_time)
    );
    println!(
        "| unrelated call, stale copy (`{stale_name}`) | {} | {stale_word} ({}) |",
        fmt_d(stale_lat),
        if stale_lat <= BUDGET {
            "within budget: PASS"
        } else {
            "over budget: **FAIL**"
        }
    );
    println!(
        "| unrelated cold call after the fault is lifted | {} | {cold_word} |",
        fmt_d(cold_lat)
    );
    println!();
    println!(
        "pypi-json fetch counters: {} requests, {} attempts, {} failures, **{} cancelled**; breaker \
         `{state}`, opened {opened} time(s); breaker transitions {}.",
        fs.requests,
        fs.attempts,
        fs.failures,
        fs.cancelled,
        engine.metrics().breaker_transitions
    );
    if !opts.quick {
        // Past the 10 s attempt timeout: a fetch that was not really cancelled would fail
        // now and count against the breaker.
        tokio::time::sleep(Duration::from_secs(11)).await;
        let fs = fetch_stats(&engine, Upstream::PypiJson);
        let (state, opened) = breaker_state(&engine.health().await, Upstream::PypiJson);
        println!(
            "11 s later (past the 10 s attempt timeout): {} failures, {} cancelled; breaker `{state}`, \
             opened {opened} time(s); breaker transitions {} ({}).",
            fs.failures,
            fs.cancelled,
            engine.metrics().breaker_transitions,
            if opened == 0 {
                "no breaker opened: PASS"
            } else {
                "a breaker opened: **FAIL**"
            }
        );
    }
    let _ = std::io::stdout().flush();
    engine.shutdown().await;
    sim.shutdown().await;
}
