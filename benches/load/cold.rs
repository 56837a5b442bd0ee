//! Scenario: cold misses.

use super::*;

pub(crate) async fn cold(opts: &Opts, sim: &SimHandle, range: std::ops::Range<usize>) {
    let t =
        Table::new("2. Cold: distinct uncached packages, engine vs raw reqwest on the same routes");
    let base = sim.base_url();
    let raw = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    // Prime the simulator's generated bodies so both sides see the same server work.
    {
        let (raw, base) = (raw.clone(), base.clone());
        let start = range.start;
        closed_loop(16, range.len(), Duration::from_secs(60), move |i| {
            let (raw, base) = (raw.clone(), base.clone());
            async move {
                raw.get(format!("{base}/pypi/{}/json", synth(start + i)))
                    .send()
                    .await
                    .is_ok()
            }
        })
        .await;
    }
    let engine = start_engine(engine_config(&base)).await;
    let mut cursor = range.start;
    let mut take = |n: usize| {
        let r = cursor..(cursor + n).min(range.end);
        cursor = r.end;
        r
    };
    let mut summary = Vec::new();
    let variants = [
        (
            None,
            [(1, opts.pick(300, 1_500)), (16, opts.pick(600, 4_000))],
        ),
        (
            Some(5u64),
            [(1, opts.pick(100, 300)), (16, opts.pick(300, 1_500))],
        ),
    ];
    for (latency, levels) in variants {
        let fault = latency.map(|ms| {
            sim.add_fault(FaultSpec {
                route: "/pypi/**".into(),
                latency_ms: Some(ms),
                ..Default::default()
            })
        });
        let tag = latency.map_or(String::new(), |ms| format!(", upstream +{ms} ms"));
        for (conc, per_side) in levels {
            // Raw first and engine second, in two alternating halves, to even out drift.
            let mut runs: [Vec<Run>; 3] = [Vec::new(), Vec::new(), Vec::new()];
            let mut up_engine = 0;
            let mut up_raw = [0u64; 2];
            for _half in 0..2 {
                let names = take(per_side / 2);
                for (k, parse) in [false, true].into_iter().enumerate() {
                    let (raw, base) = (raw.clone(), base.clone());
                    let start = names.start;
                    sim.reset_stats();
                    let run = closed_loop(conc, names.len(), Duration::from_secs(30), move |i| {
                        let (raw, base) = (raw.clone(), base.clone());
                        async move {
                            let name = synth(start + i);
                            let q = Query::Project(PackageName::parse(&name).unwrap());
                            let Ok(resp) = raw
                                .get(format!("{base}/pypi/{name}/json"))
                                .header("accept", upstream::accept_header(&q))
                                .send()
                                .await
                            else {
                                return false;
                            };
                            let ct = resp
                                .headers()
                                .get("content-type")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string);
                            let Ok(body) = resp.bytes().await else {
                                return false;
                            };
                            if parse {
                                matches!(
                                    upstream::parse(&q, ct.as_deref(), &body),
                                    Ok(Document::Project(_))
                                )
                            } else {
                                !body.is_empty()
                            }
                        }
                    })
                    .await;
                    up_raw[k] += sim.stats().total;
                    runs[k].push(run);
                }
                let e = engine.clone();
                let start = names.start;
                sim.reset_stats();
                let run = closed_loop(conc, names.len(), Duration::from_secs(30), move |i| {
                    let e = e.clone();
                    async move { e.package_info(&synth(start + i), None).await.is_ok() }
                })
                .await;
                up_engine += sim.stats().total;
                runs[2].push(run);
            }
            let merge = |v: &mut Vec<Run>| {
                let mut lat = Vec::new();
                let mut errors = 0;
                let mut elapsed = Duration::ZERO;
                for r in v.drain(..) {
                    lat.extend(r.lat);
                    errors += r.errors;
                    elapsed += r.elapsed;
                }
                lat.sort_unstable();
                Run {
                    lat,
                    errors,
                    elapsed,
                }
            };
            let raw_bytes = merge(&mut runs[0]);
            let raw_parse = merge(&mut runs[1]);
            let eng = merge(&mut runs[2]);
            t.row(
                &format!("raw reqwest GET + body{tag}"),
                conc,
                &raw_bytes,
                up_raw[0],
            );
            t.row(
                &format!("raw reqwest GET + body + parse{tag}"),
                conc,
                &raw_parse,
                up_raw[1],
            );
            t.row(
                &format!("engine package_info (cold){tag}"),
                conc,
                &eng,
                up_engine,
            );
            summary.push(format!(
                "conc {conc}{tag}: engine/raw(GET+body+parse) p50 {:.3}x, throughput {:.3}x; \
             engine/raw(GET+body) p50 {:.3}x, throughput {:.3}x",
                eng.pct(0.5).as_secs_f64() / raw_parse.pct(0.5).as_secs_f64(),
                raw_parse.throughput() / eng.throughput(),
                eng.pct(0.5).as_secs_f64() / raw_bytes.pct(0.5).as_secs_f64(),
                raw_bytes.throughput() / eng.throughput(),
            ));
        }
        if let Some(id) = fault {
            sim.remove_fault(id);
        }
    }
    t.note(&format!(
        "Ratios (>1 = engine slower; throughput ratio = raw calls/s / engine calls/s):\n\n{}",
        summary
            .iter()
            .map(|s| format!("- {s}"))
            .collect::<Vec<_>>()
            .join("\n")
    ));
    engine.shutdown().await;
}
