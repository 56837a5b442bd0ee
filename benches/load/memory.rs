//! Scenario: memory.

use super::*;

/// A simulator in a child process (this same binary), so its generated bodies do not
/// count in our RSS.
pub(crate) struct ChildSim {
    pub(crate) child: std::process::Child,
    pub(crate) base_url: String,
}

impl ChildSim {
    pub(crate) fn spawn(synthetic: usize) -> anyhow::Result<Self> {
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .env(CHILD_SIM_ENV, synthetic.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().expect("stdout")).read_line(&mut line)?;
        anyhow::ensure!(line.starts_with("http"), "child sim said {line:?}");
        Ok(ChildSim {
            child,
            base_url: line.trim().to_string(),
        })
    }
}

impl Drop for ChildSim {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // EOF: the child shuts down
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn child_sim_main(synthetic: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let sim = Sim::start(SimConfig {
            synthetic,
            ..Default::default()
        })
        .await
        .expect("sim starts");
        println!("{}", sim.base_url());
        let _ = std::io::stdout().flush();
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin()
                .read_line(&mut sink)
                .map(|n| n > 0)
                .unwrap_or(false)
            {}
        })
        .await;
        sim.shutdown().await;
    });
}

pub(crate) async fn memory(opts: &Opts) {
    println!();
    println!("### 6. Memory: RSS with the cache filled to its byte capacity");
    let capacity: u64 = opts.pick(16, 64) * 1024 * 1024;
    let synthetic = opts.pick(12_000, 40_000);
    let sim = match ChildSim::spawn(synthetic) {
        Ok(s) => s,
        Err(e) => {
            println!("could not start the child simulator: {e:#}");
            return;
        }
    };
    calibrate_weigher(&sim.base_url).await;
    let t = Table::new("6 (continued). Filling the cache past its byte capacity");
    let mut cfg = engine_config(&sim.base_url);
    cfg.cache.capacity_bytes = capacity;
    let engine = start_engine(cfg).await;
    let (rss0, heap0) = (rss_bytes(), heap_in_use());
    // Fill in rounds until the cache has evicted (it is at capacity) or names run out.
    let mut next = 0usize;
    let mut fill_lat = Vec::new();
    let mut fill_err = 0;
    let t0 = Instant::now();
    let mut upstream_calls = 0u64;
    while next < synthetic && t0.elapsed() < Duration::from_secs(90) {
        let n = 1_000.min(synthetic - next);
        let e = engine.clone();
        let base = next;
        let run = closed_loop(32, n, Duration::from_secs(30), move |i| {
            let e = e.clone();
            async move { e.package_info(&synth(base + i), None).await.is_ok() }
        })
        .await;
        next += n;
        upstream_calls += run.lat.len() as u64;
        fill_lat.extend(run.lat);
        fill_err += run.errors;
        let cs = engine.cache_stats();
        // Past capacity by a quarter (counted in inserted bytes): plenty of evictions.
        if cs.evictions > 0
            && cs.inserts as f64 * (cs.bytes as f64 / cs.entries.max(1) as f64)
                > capacity as f64 * 1.25
        {
            break;
        }
    }
    fill_lat.sort_unstable();
    let fill = Run {
        lat: fill_lat,
        errors: fill_err,
        elapsed: t0.elapsed(),
    };
    t.row(
        "fill: package_info of distinct packages",
        32,
        &fill,
        upstream_calls,
    );
    let full = engine.cache_stats();
    let (rss_full, heap_full) = (rss_bytes(), heap_in_use());
    let dropped = engine.invalidate(None).await.unwrap_or(0);
    // moka drops invalidated entries in batches of maintenance work.
    let mut empty = engine.cache_stats();
    let until = Instant::now() + Duration::from_secs(3);
    while empty.entries > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
        empty = engine.cache_stats();
    }
    let (rss_empty, heap_empty) = (rss_bytes(), heap_in_use());
    let rss_trimmed = trim_heap().then(rss_bytes);
    let avg = full.bytes as f64 / full.entries.max(1) as f64;
    let live_per_entry = heap_full.saturating_sub(heap_empty) as f64 / full.entries.max(1) as f64;
    println!();
    println!(
        "| point | cache entries | cache weighed MiB | evictions | heap in use MiB | RSS MiB |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| engine started | 0 | 0.0 | 0 | {:.1} | {:.1} |",
        mib(heap0),
        mib(rss0)
    );
    println!(
        "| cache full (capacity {:.0} MiB) | {} | {:.1} | {} | {:.1} | {:.1} |",
        mib(capacity),
        full.entries,
        mib(full.bytes),
        full.evictions,
        mib(heap_full),
        mib(rss_full)
    );
    println!(
        "| after invalidate(all) ({dropped} dropped) | {} | {:.1} | {} | {:.1} | {:.1} |",
        empty.entries,
        mib(empty.bytes),
        empty.evictions,
        mib(heap_empty),
        mib(rss_empty)
    );
    if let Some(r) = rss_trimmed {
        println!(
            "| after invalidate + malloc_trim(0) | {} | {:.1} | {} | {:.1} | {:.1} |",
            empty.entries,
            mib(empty.bytes),
            empty.evictions,
            mib(heap_in_use()),
            mib(r)
        );
    }
    let limit = capacity + 64 * 1024 * 1024;
    t.note(&format!(
        "RSS at capacity {:.1} MiB vs target capacity + 64 MiB = {:.0} MiB (**{}**). \
         Weighed {avg:.0} B per entry; heap actually held per cached entry {live_per_entry:.0} B \
         ({:.2}x the weight). RSS growth while filling {:.1} MiB for {:.1} MiB weighed. \
         Heap in use = glibc `mallinfo2` (uordblks + hblkhd). The simulator runs in a child \
         process and is not in these figures.",
        mib(rss_full),
        mib(limit),
        if rss_full <= limit { "PASS" } else { "SHORT" },
        live_per_entry / avg.max(1.0),
        mib(rss_full.saturating_sub(rss0)),
        mib(full.bytes),
    ));
    engine.shutdown().await;
    drop(sim);
}

/// Heap actually held by a parsed document vs its `approx_bytes` (the cache weight
/// without the entry's fixed overhead), for a small synthetic body and two large ones.
pub(crate) async fn calibrate_weigher(base_url: &str) {
    let mut bodies: Vec<(String, Query, Vec<u8>)> = Vec::new();
    for name in ["numpy", "django"] {
        let path = format!(
            "{}/sim/data/pypi-json/project/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        if let Ok(b) = std::fs::read(path) {
            bodies.push((
                name.into(),
                Query::Project(PackageName::parse(name).unwrap()),
                b,
            ));
        }
    }
    let name = synth(1);
    if let Ok(resp) = reqwest::get(format!("{base_url}/pypi/{name}/json")).await
        && let Ok(b) = resp.bytes().await
    {
        bodies.push((
            name.clone(),
            Query::Project(PackageName::parse(&name).unwrap()),
            b.to_vec(),
        ));
    }
    println!();
    println!("Weigher calibration (one parsed document, `Arc<Document>`):");
    println!();
    println!("| document | body KiB | approx_bytes | heap held | heap / approx |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, q, body) in bodies {
        let parse = || upstream::parse(&q, Some("application/json"), &body).expect("parses");
        let approx = parse().approx_bytes();
        let n = if body.len() > 100_000 { 20 } else { 2_000 };
        let mut docs: Vec<Arc<Document>> = Vec::with_capacity(n);
        let h0 = heap_in_use();
        for _ in 0..n {
            docs.push(Arc::new(parse()));
        }
        let held = heap_in_use().saturating_sub(h0) as f64 / n as f64;
        drop(docs);
        println!(
            "| {name} | {:.1} | {approx} | {held:.0} | {:.2}x |",
            body.len() as f64 / 1024.0,
            held / approx.max(1) as f64
        );
    }
}

// glibc's allocator statistics: bytes in use, and giving free pages back to the OS.
#[repr(C)]
#[derive(Default)]
pub(crate) struct Mallinfo2 {
    pub(crate) arena: usize,
    pub(crate) ordblks: usize,
    pub(crate) smblks: usize,
    pub(crate) hblks: usize,
    pub(crate) hblkhd: usize,
    pub(crate) usmblks: usize,
    pub(crate) fsmblks: usize,
    pub(crate) uordblks: usize,
    pub(crate) fordblks: usize,
    pub(crate) keepcost: usize,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    fn mallinfo2() -> Mallinfo2;
    fn malloc_trim(pad: usize) -> i32;
}

/// Heap bytes in use (all arenas), or 0 where glibc is not the allocator.
pub(crate) fn heap_in_use() -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: plain glibc call without arguments; returns a struct by value.
        let m = unsafe { mallinfo2() };
        (m.uordblks + m.hblkhd) as u64
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = Mallinfo2::default();
        0
    }
}

/// Returns free heap pages to the OS; whether that was possible here.
pub(crate) fn trim_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: glibc call with a plain integer argument.
        unsafe { malloc_trim(0) };
        true
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
