//! Scenario: thundering herd.

use super::*;

pub(crate) async fn herd(sim: &SimHandle, name: String) {
    let t = Table::new("3. Thundering herd: 1,000 concurrent calls, one uncached package");
    let engine = start_engine(engine_config(&sim.base_url())).await;
    // 100 ms of upstream latency so every caller arrives while the fetch is in flight.
    let fault = sim.add_fault(FaultSpec {
        route: format!("/pypi/{name}/json"),
        latency_ms: Some(100),
        ..Default::default()
    });
    sim.reset_stats();
    let n = 1_000;
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let (e, b, name) = (engine.clone(), barrier.clone(), name.clone());
        tasks.push(tokio::spawn(async move {
            b.wait().await;
            let t = Instant::now();
            let ok = e.package_info(&name, None).await.is_ok();
            (t.elapsed(), ok)
        }));
    }
    let mut lat = Vec::with_capacity(n);
    let mut errors = 0;
    for task in tasks {
        let (d, ok) = task.await.expect("herd task");
        lat.push(d);
        errors += u64::from(!ok);
    }
    lat.sort_unstable();
    let run = Run {
        lat,
        errors,
        elapsed: start.elapsed(),
    };
    let upstream = sim.stats().matching(&format!("/pypi/{name}/**"));
    t.row("1,000 x package_info, 100 ms upstream", n, &run, upstream);
    let m = engine.metrics();
    t.note(&format!(
        "upstream requests for `{name}`: **{upstream}** (target: exactly 1); engine \
         coalesced callers: {}; fetch requests: {}",
        m.coalesced,
        m.upstreams[Upstream::PypiJson.index()].requests
    ));
    sim.remove_fault(fault);
    engine.shutdown().await;
}
