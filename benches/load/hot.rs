//! Scenario: hot cache.

use super::*;

pub(crate) async fn hot(opts: &Opts, sim: &SimHandle, names_hot: usize) {
    let t = Table::new("1. Hot cache: `package_info` over many distinct cached packages");
    let engine = start_engine(engine_config(&sim.base_url())).await;
    let names: Arc<Vec<String>> = Arc::new((0..names_hot).map(synth).collect());
    // Warm every name once.
    let e = engine.clone();
    let n2 = names.clone();
    let warm = closed_loop(32, names.len(), Duration::from_secs(60), move |i| {
        let e = e.clone();
        let n = n2.clone();
        async move { e.package_info(&n[i], None).await.is_ok() }
    })
    .await;
    assert_eq!(warm.errors, 0, "warming the cache failed");
    let total = opts.pick(20_000, 300_000);
    for conc in [1, 16, 256] {
        sim.reset_stats();
        let e = engine.clone();
        let n2 = names.clone();
        let run = closed_loop(conc, total, Duration::from_secs(10), move |i| {
            let e = e.clone();
            let n = n2.clone();
            async move {
                // A stride through the names so consecutive calls hit different entries.
                let name = &n[(i.wrapping_mul(7919)) % n.len()];
                e.package_info(name, None).await.is_ok()
            }
        })
        .await;
        t.row(
            &format!("hot package_info ({} names)", names.len()),
            conc,
            &run,
            sim.stats().total,
        );
    }
    let cs = engine.cache_stats();
    t.note(&format!(
        "cache: {} entries, {:.1} MiB weighed, hit ratio {:.4}",
        cs.entries,
        mib(cs.bytes),
        cs.hit_ratio
    ));
    engine.shutdown().await;
}
