//! Scenario: chaos.

use super::*;

/// Every actor the chaos run panics, with the proxy for the messages it handles.
pub(crate) fn chaos_kinds() -> Vec<sentinel_actors::ActorKind> {
    use sentinel_actors::ActorKind;
    let mut v = vec![ActorKind::Router, ActorKind::Health];
    v.extend(Upstream::ALL.iter().map(|u| ActorKind::Fetch(*u)));
    v.push(ActorKind::Cache);
    v
}

/// Messages an actor has handled, estimated from counters (a lower bound): the router
/// gets at least one message per cache lookup that is not a fresh hit (stale or miss);
/// a FetchActor one per fetch request of its upstream; the HealthActor one outcome
/// event per fetch request; the CacheActor one per insert into the cache; the
/// estimator is not in the chaos run (it is asked only
/// when an estimate is made).
pub(crate) fn chaos_messages(e: &EngineHandle, kind: sentinel_actors::ActorKind) -> u64 {
    use sentinel_actors::ActorKind;
    let m = e.metrics();
    match kind {
        ActorKind::Router => m.cache.stale_hits + m.cache.misses,
        ActorKind::Health => m.upstreams.iter().map(|u| u.requests).sum(),
        ActorKind::Fetch(up) => m.upstreams[up.index()].requests,
        // Asked once per estimate served (at least).
        ActorKind::Estimator => m.estimates_served,
        // One fill (or refresh-failure note) per insert into the cache, at least.
        ActorKind::Cache => m.cache.inserts,
    }
}

pub(crate) async fn chaos(opts: &Opts) {
    let total = opts.pick(1_000, 30_000);
    let max_time = Duration::from_secs(opts.pick(4, 90));
    let conc = 16;
    let n_names = opts.pick(400, 3_000);
    println!();
    println!(
        "### 12. Chaos: a panic in each actor at about 1 % of its messages, {total} mixed engine \
         calls at concurrency {conc} (at most {} s)",
        max_time.as_secs()
    );
    let sim = Sim::start(SimConfig {
        synthetic: n_names + 10,
        ..Default::default()
    })
    .await
    .expect("sim starts");
    // A light 502 rate on PyPI JSON sends some `versions` to the Simple API, so every
    // FetchActor has traffic.
    sim.add_fault(FaultSpec {
        status: Some(502),
        probability: Some(0.1),
        ..FaultSpec::on("/pypi/**")
    });
    let mut cfg = engine_config(&sim.base_url());
    // Restarts at this rate must not stop the engine on purpose.
    cfg.supervision.max_restarts = 1_000_000;
    cfg.supervision.window_ms = 1_000;
    let engine = start_engine(cfg).await;
    let names: Arc<Vec<String>> = Arc::new((0..n_names).map(synth).collect());
    // The test hook's panics are expected: keep their messages off stderr.
    let default_hook = Arc::new(std::panic::take_hook());
    {
        let default_hook = default_hook.clone();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.starts_with("test hook:") {
                default_hook(info);
            }
        }));
    }
    let started_calls = Arc::new(AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The injector: for each actor, one panic per 100 of its messages; and at least one
    // in every actor by the middle of the run.
    let injector = {
        let (e, calls, done) = (engine.clone(), started_calls.clone(), done.clone());
        tokio::spawn(async move {
            let kinds = chaos_kinds();
            let mut injected = vec![0u64; kinds.len()];
            let mut forced = false;
            while !done.load(Ordering::Relaxed) {
                let c = calls.load(Ordering::Relaxed);
                for (i, k) in kinds.iter().enumerate() {
                    let msgs = chaos_messages(&e, *k);
                    if msgs / 100 > injected[i] {
                        e.inject_actor_panic(*k);
                        injected[i] += 1;
                    }
                }
                if !forced && c >= total as u64 / 2 {
                    forced = true;
                    for (i, k) in kinds.iter().enumerate() {
                        if injected[i] == 0 {
                            e.inject_actor_panic(*k);
                            injected[i] += 1;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            kinds
                .iter()
                .zip(injected)
                .map(|(k, n)| (k.to_string(), n, chaos_messages(&e, *k)))
                .collect::<Vec<_>>()
        })
    };
    // The ager: stale entries send calls through the router and the fetch actors.
    let ager = {
        let (e, done) = (engine.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(250)).await;
                e.age_cache(Duration::from_secs(24 * 3600));
            }
        })
    };
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let stop_at = t0 + max_time;
    let mut tasks = Vec::new();
    for w in 0..conc {
        let (e, names, next, calls) = (
            engine.clone(),
            names.clone(),
            next.clone(),
            started_calls.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut out = WorkerOut::default();
            let mut by_op: Vec<Tally> = (0..ENGINE_OPS.len()).map(|_| Tally::default()).collect();
            let mut rng = Rng::new(99 + w as u64);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() >= stop_at {
                    break;
                }
                calls.fetch_add(1, Ordering::Relaxed);
                let op = rng.below(ENGINE_OPS.len());
                let (lat, kind) = bounded(engine_op(&e, op, &names, &mut rng)).await;
                by_op[op].add(kind.clone());
                out.record(lat, kind);
            }
            (out, by_op)
        }));
    }
    let mut out = WorkerOut::default();
    let mut by_op: Vec<Tally> = (0..ENGINE_OPS.len()).map(|_| Tally::default()).collect();
    for t in tasks {
        let (o, b) = t.await.expect("chaos worker");
        out.merge(o);
        for (acc, x) in by_op.iter_mut().zip(b) {
            acc.merge(x);
        }
    }
    let elapsed = t0.elapsed();
    done.store(true, Ordering::Relaxed);
    let injected = injector.await.expect("injector");
    let _ = ager.await;
    // Let the last restarts land before reading the counter.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let m = engine.metrics();
    let ready = engine.readiness();
    let mut answers = Tally::default();
    let mut errors = Tally::default();
    for (k, v) in &out.outcomes.0 {
        if let Some(a) = k.strip_prefix("answer ") {
            answers.0.insert(a.to_string(), *v);
        } else if let Some(e) = k.strip_prefix("error ") {
            errors.0.insert(e.to_string(), *v);
        } else {
            errors.0.insert(k.clone(), *v);
        }
    }
    let panics: u64 = injected.iter().map(|(_, n, _)| n).sum();
    println!();
    println!(
        "| calls | calls/s | p50 | p99 | max | answers | errors | past deadline | panics injected | restarts |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {} | {:.0} | {} | {} | {} | {} | {} | **{}** | {panics} | {} |",
        out.lat.n,
        out.lat.n as f64 / elapsed.as_secs_f64(),
        fmt_d(out.lat.pct(0.5)),
        fmt_d(out.lat.pct(0.99)),
        fmt_d(out.slowest),
        answers.total(),
        errors.total(),
        out.past_deadline,
        m.actor_restarts,
    );
    println!();
    println!("- answers by kind: {}", answers.show());
    println!("- errors by code: {}", errors.show());
    println!(
        "- panics injected per actor (messages handled, estimated): {}",
        injected
            .iter()
            .map(|(k, n, msgs)| format!(
                "{k} {n} ({msgs}, {:.2} %)",
                *n as f64 * 100.0 / (*msgs).max(1) as f64
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    println!("- per call kind:");
    for (op, t) in ENGINE_OPS.iter().zip(&by_op) {
        println!("  - {op}: {}", t.show());
    }
    println!(
        "- restarts {} for {panics} panics; engine {} at the end{}; every call answered or \
         errored within its deadline: **{}**",
        m.actor_restarts,
        if ready.ready { "ready" } else { "NOT ready" },
        ready.reason.map_or(String::new(), |r| format!(" ({r})")),
        if out.past_deadline == 0 {
            "PASS"
        } else {
            "FAIL"
        }
    );
    let _ = std::io::stdout().flush();
    // Restore the default panic hook (the one taken above, still shared by the closure).
    let _ = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| default_hook(info)));
    engine.shutdown().await;
    sim.shutdown().await;
}
