//! Scenario: 50,000 packages' series.

use super::*;

pub(crate) async fn series(opts: &Opts) {
    println!();
    println!("### 10. Series: `download_trend` of distinct packages (pypistats `overall`)");
    let target_n = opts.pick(2_000, 50_000);
    let sim = match ChildSim::spawn(target_n) {
        Ok(s) => s,
        Err(e) => {
            println!("could not start the child simulator: {e:#}");
            return;
        }
    };
    let cfg = engine_config(&sim.base_url);
    let capacity = cfg.cache.capacity_bytes;
    let engine = start_engine(cfg).await;
    let rss0 = rss_bytes();
    let e = engine.clone();
    let max_time = Duration::from_secs(opts.pick(10, 120));
    let run = closed_loop(32, target_n, max_time, move |i| {
        let e = e.clone();
        async move { e.download_trend(&synth(i), 30).await.is_ok() }
    })
    .await;
    let done = run.lat.len();
    let cs = engine.cache_stats();
    let rss1 = rss_bytes();
    let t = Table::new("10 (continued). Fetching distinct `overall` series");
    t.row("download_trend, distinct packages", 32, &run, done as u64);
    let limit = capacity + 64 * 1024 * 1024;
    let growth = rss1.saturating_sub(rss0) as f64;
    let per_pkg = growth / done.max(1) as f64;
    let mut note = format!(
        "{done} of {target_n} series in {:.1} s ({} errors); cache {} entries, {:.1} MiB weighed of \
         {:.0} MiB, {} evictions. RSS {:.1} MiB at start, **{:.1} MiB after** vs target capacity + \
         64 MiB = {:.0} MiB: **{}**.",
        run.elapsed.as_secs_f64(),
        run.errors,
        cs.entries,
        mib(cs.bytes),
        mib(capacity),
        cs.evictions,
        mib(rss0),
        mib(rss1),
        mib(limit),
        if rss1 <= limit { "PASS" } else { "FAIL" }
    );
    if done < target_n {
        note.push_str(&format!(
            " EXTRAPOLATED (not measured): at {per_pkg:.0} B of RSS per series, {target_n} series \
             would reach about {:.0} MiB before the cache's byte capacity bounds it.",
            mib(rss0 + (per_pkg * target_n as f64) as u64)
        ));
    }
    t.note(&note);
    engine.shutdown().await;
    drop(sim);
}
