//! Scenario: soak.

use super::*;

/// Least-squares slope of `(t, y)` in y-units per second.
pub(crate) fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in points {
        num += (x - mx) * (y - my);
        den += (x - mx) * (x - mx);
    }
    if den == 0.0 { 0.0 } else { num / den }
}

/// The fault timeline of the soak: each fault repeats on its own cycle, so the phases
/// overlap differently from one minute to the next.
pub(crate) fn soak_faults(cycle: u64) -> Vec<FaultSpec> {
    let tl = |off1: u64, on: u64| -> Option<Vec<sentinel_sim::Phase>> {
        Some(vec![
            sentinel_sim::Phase {
                secs: off1,
                active: false,
            },
            sentinel_sim::Phase {
                secs: on,
                active: true,
            },
            sentinel_sim::Phase {
                secs: cycle.saturating_sub(off1 + on).max(1),
                active: false,
            },
        ])
    };
    let c = |f: f64| ((cycle as f64) * f).round().max(1.0) as u64;
    vec![
        // pypistats 502 storm (the breaker opens, stale and estimates answer).
        FaultSpec {
            status: Some(502),
            timeline: tl(c(0.1), c(0.2)),
            repeat: true,
            ..FaultSpec::on("/api/packages/**")
        },
        // PyPI JSON hangs (answer budget, stale-if-slow, Simple fallback for versions).
        FaultSpec {
            hang: true,
            timeline: tl(c(0.35), c(0.1)),
            repeat: true,
            ..FaultSpec::on("/pypi/**")
        },
        // pepy resets connections.
        FaultSpec {
            reset: true,
            timeline: tl(c(0.2), c(0.3)),
            repeat: true,
            ..FaultSpec::on("/api/v2/projects/**")
        },
        // The Simple API sheds load with 503 + Retry-After.
        FaultSpec {
            status: Some(503),
            retry_after: Some(2),
            timeline: tl(c(0.5), c(0.15)),
            repeat: true,
            ..FaultSpec::on("/simple/**")
        },
        // A 50 % 502 storm on PyPI JSON.
        FaultSpec {
            status: Some(502),
            probability: Some(0.5),
            timeline: tl(c(0.7), c(0.15)),
            repeat: true,
            ..FaultSpec::on("/pypi/**")
        },
        // Truncated top-packages bodies.
        FaultSpec {
            truncate: true,
            timeline: tl(c(0.85), c(0.1)),
            repeat: true,
            ..FaultSpec::on("/top-pypi-packages.min.json")
        },
    ]
}

pub(crate) async fn soak(opts: &Opts) {
    let secs = opts.soak_secs.unwrap_or(opts.pick(20, 600)).max(4);
    let warmup = (secs / 5).max(2);
    let cycle = if secs >= 120 { 60 } else { (secs / 2).max(4) };
    println!();
    println!(
        "### 11. Soak: {secs} s of mixed MCP tools over streamable HTTP and engine calls under a \
         fault timeline (cycle {cycle} s), RSS and open fds sampled every second"
    );
    let n_names = opts.pick(60, 300);
    let sim = match ChildSim::spawn(n_names + 10) {
        Ok(s) => s,
        Err(e) => {
            println!("could not start the child simulator: {e:#}");
            return;
        }
    };
    // The default engine, with the download sources' limits lifted to 50/s (their real
    // per-minute quotas would keep the cache from ever holding the working set, and the
    // limiter is measured in the fault matrix); PyPI keeps its default 20/s.
    let mut cfg = EngineConfig::default().with_origin(&sim.base_url);
    for up in [Upstream::Pypistats, Upstream::Pepy] {
        cfg.upstreams.get_mut(up).rate_limit = Some(sentinel_actors::RateLimitConfig {
            per_second: 50,
            per_minute: None,
            burst: None,
        });
    }
    // As `pypi-sentinel serve` does: the process-wide Prometheus recorder, which the
    // engine and the MCP tools record into. Nobody scrapes `/metrics` in the soak.
    if !opts.soak_no_prometheus {
        let _ = pypi_sentinel::telemetry::metrics_handle();
    }
    // As `serve` does by default: freed pages go back to the OS every 10 s.
    if !opts.soak_no_trim {
        pypi_sentinel::memory::start_trimming(pypi_sentinel::memory::DEFAULT_TRIM_INTERVAL);
    }
    let engine = start_engine(cfg).await;
    let server = match bind_http(engine.clone(), HttpOptions::default()).await {
        Ok(s) => s,
        Err(e) => {
            println!("MCP server unavailable: {e:#}");
            engine.shutdown().await;
            return;
        }
    };
    let url = server.mcp_url();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async move {
        let _ = stop_rx.await;
    }));
    let names: Arc<Vec<String>> = Arc::new((0..n_names).map(synth).collect());
    // Prefill, before any fault: every document the workload asks for, once, so that the
    // cache holds the working set and growth after the warm-up is not the cache filling.
    let prefill_t = Instant::now();
    {
        let (e, nm) = (engine.clone(), names.clone());
        let kinds = 7;
        closed_loop(
            8,
            n_names * kinds,
            Duration::from_secs(opts.pick(2, 90)),
            move |i| {
                let (e, nm) = (e.clone(), nm.clone());
                async move {
                    let name = &nm[i / kinds];
                    let p = || PackageName::parse(name).expect("valid name");
                    match i % kinds {
                        0 => e.package_info(name, None).await.is_ok(),
                        1 => e.document(Query::Simple(p())).await.is_ok(),
                        2 => e.recent_downloads(name).await.is_ok(),
                        3 => e.download_trend(name, 30).await.is_ok(),
                        4 => e
                            .download_breakdown(name, sentinel_actors::StatsKind::PythonMinor, 30)
                            .await
                            .is_ok(),
                        5 => e
                            .download_breakdown(name, sentinel_actors::StatsKind::System, 30)
                            .await
                            .is_ok(),
                        _ => e.document(Query::Pepy(p())).await.is_ok(),
                    }
                }
            },
        )
        .await;
        let _ = engine.top_packages(50).await;
        // What our own limits deferred runs from the polite queues: let them drain.
        let until = Instant::now() + Duration::from_secs(opts.pick(1, 30));
        while Instant::now() < until && engine.metrics().upstreams.iter().any(|u| u.queue_len > 0) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let prefilled = engine.cache_stats();
    println!();
    println!(
        "Prefill (no fault yet): {} entries, {:.1} MiB weighed, in {:.1} s; RSS {:.1} MiB.",
        prefilled.entries,
        mib(prefilled.bytes),
        prefill_t.elapsed().as_secs_f64(),
        mib(rss_bytes())
    );
    let admin = reqwest::Client::new();
    let mut fault_lines = Vec::new();
    for spec in soak_faults(cycle) {
        let line = format!(
            "`{}` {}, timeline {}",
            spec.route,
            if spec.hang {
                "hang".to_string()
            } else if spec.reset {
                "reset".to_string()
            } else if spec.truncate {
                "truncated".to_string()
            } else {
                format!(
                    "{}{}",
                    spec.status.unwrap_or(0),
                    spec.probability
                        .map_or(String::new(), |p| format!(" at {:.0} %", p * 100.0))
                )
            },
            spec.timeline
                .as_ref()
                .map(|t| t
                    .iter()
                    .map(|p| format!("{}s {}", p.secs, if p.active { "on" } else { "off" }))
                    .collect::<Vec<_>>()
                    .join(" / "))
                .unwrap_or_default()
        );
        match admin
            .post(format!("{}/_sim/faults", sim.base_url))
            .json(&spec)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => fault_lines.push(line),
            Ok(r) => println!("fault refused by the simulator ({}): {line}", r.status()),
            Err(e) => println!("fault not sent ({e}): {line}"),
        }
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let (mcp_workers, engine_workers) = (6usize, 4usize);
    let per_session = opts.soak_session_calls;
    let mut mcp_tasks = Vec::new();
    let sessions_opened = Arc::new(AtomicU64::new(0));
    for w in 0..mcp_workers {
        let (client, url, names, stop, opened) = (
            client.clone(),
            url.clone(),
            names.clone(),
            stop.clone(),
            sessions_opened.clone(),
        );
        mcp_tasks.push(tokio::spawn(async move {
            let mut out = WorkerOut::default();
            let mut rng = Rng::new(1_000 + w as u64);
            let mut session: Option<McpSession> = None;
            let mut on_session = 0u32;
            let mut id = 1u64;
            while !stop.load(Ordering::Relaxed) {
                if session.is_none() {
                    match McpSession::open(client.clone(), url.clone()).await {
                        Ok(s) => {
                            opened.fetch_add(1, Ordering::Relaxed);
                            session = Some(s);
                            on_session = 0;
                        }
                        Err(_) => {
                            out.outcomes.add("mcp session refused");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                    }
                }
                let s = session.as_ref().expect("session");
                let (tool, args) = mcp_op(&mut rng, &names);
                id += 1;
                let (lat, kind) = bounded(s.call_tool_kind(id, tool, args)).await;
                out.record(lat, format!("mcp {kind}"));
                on_session += 1;
                // Sessions come and go, as clients do.
                if on_session == per_session
                    && let Some(s) = session.take()
                {
                    s.close().await;
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            if let Some(s) = session.take() {
                s.close().await;
            }
            out
        }));
    }
    let mut engine_tasks = Vec::new();
    for w in 0..engine_workers {
        let (e, names, stop) = (engine.clone(), names.clone(), stop.clone());
        engine_tasks.push(tokio::spawn(async move {
            let mut out = WorkerOut::default();
            let mut rng = Rng::new(7 + w as u64);
            while !stop.load(Ordering::Relaxed) {
                let op = rng.below(ENGINE_OPS.len());
                let (lat, kind) = bounded(engine_op(&e, op, &names, &mut rng)).await;
                out.record(lat, format!("engine {kind}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            out
        }));
    }
    // Sampling, and ageing the cache so that refreshes run under the faults.
    let started = Instant::now();
    // Not a divisor of the fault cycle, so that the refreshes after each ageing meet a
    // different phase of the timeline each time.
    let age_every = Duration::from_secs(if secs >= 120 { 23 } else { 3 });
    let mut next_age = started + age_every;
    let print_every = if secs >= 120 { 60 } else { 5 };
    let mut samples: Vec<(f64, u64, usize)> = Vec::new();
    let (rss_start, fds_start) = (rss_bytes(), open_fds());
    println!();
    println!(
        "Load: {mcp_workers} MCP clients (one session each, {}; a call every 15 ms after the \
         previous answer), {engine_workers} engine workers (a call every 10 ms), {n_names} \
         packages; the cache aged one day every {} s so that refreshes run under the faults; \
         the Prometheus recorder {}; freed memory {}.",
        if per_session == 0 {
            "kept for the whole run".to_string()
        } else {
            format!("closed with DELETE after {per_session} calls and replaced")
        },
        age_every.as_secs(),
        if opts.soak_no_prometheus {
            "not installed (`--soak-no-prometheus`)"
        } else {
            "installed as `serve` installs it, `/metrics` never scraped"
        },
        if opts.soak_no_trim {
            "left to glibc (`--soak-no-trim`)"
        } else {
            "returned to the OS every 10 s as `serve` does (`malloc_trim`)"
        }
    );
    println!();
    println!("Fault timeline (each repeats; phases start when the soak starts):");
    println!();
    for l in &fault_lines {
        println!("- {l}");
    }
    println!();
    println!(
        "| t | RSS MiB | heap in use MiB | open fds | cache entries | cache MiB | engine calls | MCP sessions opened | breaker transitions | restarts |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let (mut heap_warm, mut heap_end) = (0u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    for s in 1..=secs {
        tick.tick().await;
        if Instant::now() >= next_age {
            engine.age_cache(Duration::from_secs(24 * 3600));
            next_age += age_every;
        }
        let (rss, fds) = (rss_bytes(), open_fds());
        samples.push((started.elapsed().as_secs_f64(), rss, fds));
        if s % print_every == 0 || s == warmup || s == secs {
            let m = engine.metrics();
            let heap = heap_in_use();
            if s == warmup {
                heap_warm = heap;
            }
            heap_end = heap;
            println!(
                "| {s} s{} | {:.1} | {:.1} | {fds} | {} | {:.1} | {} | {} | {} | {} |",
                if s == warmup { " (end of warm-up)" } else { "" },
                mib(rss),
                mib(heap),
                m.cache.entries,
                mib(m.cache.bytes),
                m.calls,
                sessions_opened.load(Ordering::Relaxed),
                m.breaker_transitions,
                m.actor_restarts,
            );
            let _ = std::io::stdout().flush();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut mcp_out = WorkerOut::default();
    for t in mcp_tasks {
        mcp_out.merge(t.await.expect("mcp worker"));
    }
    let mut eng_out = WorkerOut::default();
    for t in engine_tasks {
        eng_out.merge(t.await.expect("engine worker"));
    }
    let elapsed = started.elapsed();
    // Memory the allocator holds but nothing uses, given back: what is left is in use.
    let rss_before_trim = rss_bytes();
    let rss_trimmed = trim_heap().then(rss_bytes);
    let m = engine.metrics();
    let ready = engine.readiness();
    let health = engine.health().await;
    let breakers = Upstream::ALL
        .iter()
        .map(|up| {
            let (state, opened) = breaker_state(&health, *up);
            format!("{up} `{state}` (opened {opened} times)")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
    engine.shutdown().await;
    drop(sim);

    // After the warm-up: the first and last 10 samples, and the trend.
    let after: Vec<&(f64, u64, usize)> = samples.iter().filter(|s| s.0 >= warmup as f64).collect();
    let k = 10.min(after.len() / 2).max(1);
    let avg_rss = |v: &[&(f64, u64, usize)]| {
        v.iter().map(|s| s.1 as f64).sum::<f64>() / v.len().max(1) as f64
    };
    let rss_warm = avg_rss(&after[..k.min(after.len())]);
    let rss_end = avg_rss(&after[after.len().saturating_sub(k)..]);
    let rss_max = after.iter().map(|s| s.1).max().unwrap_or(0);
    let growth = (rss_end - rss_warm) / rss_warm.max(1.0) * 100.0;
    let rss_slope = slope(
        &after
            .iter()
            .map(|s| (s.0, s.1 as f64 / (1024.0 * 1024.0)))
            .collect::<Vec<_>>(),
    ) * 60.0;
    let fds: Vec<usize> = after.iter().map(|s| s.2).collect();
    let (fd_min, fd_max) = (
        fds.iter().copied().min().unwrap_or(0),
        fds.iter().copied().max().unwrap_or(0),
    );
    let (fd_warm, fd_end) = (
        fds.first().copied().unwrap_or(0),
        fds.last().copied().unwrap_or(0),
    );
    let fd_slope = slope(&after.iter().map(|s| (s.0, s.2 as f64)).collect::<Vec<_>>()) * 60.0;
    // Sockets open and close with every call, so one sample is noisy (37-54 within a
    // minute): compare means of k samples at both ends, as for RSS. The trend only
    // means something over minutes.
    let avg_fd = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
    let fd_warm_mean = avg_fd(&fds[..k.min(fds.len())]);
    let fd_end_mean = avg_fd(&fds[fds.len().saturating_sub(k)..]);
    let fds_flat = fd_end_mean <= fd_warm_mean + 8.0 && (secs < 120 || fd_slope < 1.0);
    println!();
    println!("| calls | count | calls/s | p50 | p99 | max | past deadline or unanswered |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (label, out) in [("MCP tools/call", &mcp_out), ("engine", &eng_out)] {
        println!(
            "| {label} | {} | {:.0} | {} | {} | {} | {} |",
            out.lat.n,
            out.lat.n as f64 / elapsed.as_secs_f64(),
            fmt_d(out.lat.pct(0.5)),
            fmt_d(out.lat.pct(0.99)),
            fmt_d(out.slowest),
            out.past_deadline
        );
    }
    println!();
    println!("- MCP outcomes: {}", mcp_out.outcomes.show());
    println!("- engine outcomes: {}", eng_out.outcomes.show());
    println!(
        "- RSS: {:.1} MiB at start, {:.1} MiB at the end of the {warmup} s warm-up (mean of {k} \
         samples), {:.1} MiB at the end (mean of the last {k}), max {:.1} MiB after the warm-up; \
         growth after the warm-up **{growth:+.1} %** (target <= 5 %: **{}**); trend {rss_slope:+.2} MiB/min",
        mib(rss_start),
        rss_warm / (1024.0 * 1024.0),
        rss_end / (1024.0 * 1024.0),
        mib(rss_max),
        if growth <= 5.0 { "PASS" } else { "FAIL" },
    );
    println!(
        "- heap in use (glibc `mallinfo2`): {:.1} MiB at the end of the warm-up, {:.1} MiB at the end \
         ({:+.1} MiB): what the process really holds, without the pages the allocator keeps",
        mib(heap_warm),
        mib(heap_end),
        (heap_end as f64 - heap_warm as f64) / (1024.0 * 1024.0),
    );
    if let Some(t) = rss_trimmed {
        println!(
            "- RSS after the load stopped: {:.1} MiB; after `malloc_trim(0)` (free pages given \
             back to the OS): **{:.1} MiB**, {:+.1} % against the end of the warm-up",
            mib(rss_before_trim),
            mib(t),
            (t as f64 - rss_warm) / rss_warm.max(1.0) * 100.0
        );
    }
    println!(
        "- open fds: {fds_start} at start, {fd_warm} after the warm-up ({fd_warm_mean:.1} mean of \
         {k} samples), {fd_end} at the end ({fd_end_mean:.1} mean of the last {k}) (min {fd_min}, \
         max {fd_max} after the warm-up; trend {fd_slope:+.2}/min): **{}** (flat = a mean at most \
         8 more at the end than after the warm-up, and in runs of 2 min or more a trend under 1 \
         fd/min)",
        if fds_flat { "PASS" } else { "FAIL" }
    );
    println!(
        "- actor restarts: **{}** (target 0: **{}**); breaker transitions {}; MCP sessions opened {}; \
         engine {} at the end{}",
        m.actor_restarts,
        if m.actor_restarts == 0 {
            "PASS"
        } else {
            "FAIL"
        },
        m.breaker_transitions,
        sessions_opened.load(Ordering::Relaxed),
        if ready.ready { "ready" } else { "NOT ready" },
        ready.reason.map_or(String::new(), |r| format!(" ({r})")),
    );
    println!("- breakers at the end: {breakers}");
    println!(
        "- calls past the deadline (15 s + 50 ms) or never answered: **{}**",
        mcp_out.past_deadline + eng_out.past_deadline
    );
    let _ = std::io::stdout().flush();
}
