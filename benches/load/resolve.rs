//! Scenario: resolve, next to `uv pip compile`.

use super::*;

/// `uv pip compile` of `req` against the simulator; `None` when uv is not installed
/// (`pip install uv`) or fails.
pub(crate) fn uv_compile(
    base: &str,
    req: &str,
    cache: &std::path::Path,
    no_cache: bool,
) -> Option<Duration> {
    use std::io::Write;
    let uv = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("uv"))
            .find(|f| f.is_file())
    })?;
    let mut cmd = std::process::Command::new(uv);
    cmd.args(["pip", "compile", "-", "--index-url"])
        .arg(format!("{base}/simple"))
        .args([
            "--python-version",
            "3.12",
            "--python-platform",
            "x86_64-unknown-linux-gnu",
        ])
        .args(["--no-header", "--no-annotate", "--quiet", "--cache-dir"])
        .arg(cache)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if no_cache {
        cmd.arg("--no-cache");
    }
    let started = Instant::now();
    let mut child = cmd.spawn().ok()?;
    child
        .stdin
        .take()?
        .write_all(format!("{req}\n").as_bytes())
        .ok()?;
    let ok = child.wait().ok()?.success();
    ok.then(|| started.elapsed())
}

/// Resolving the 40-package synthetic tree (`sg-tree-00`) with 5 ms added to every
/// upstream answer: cold (a new engine, nothing cached) and warm (the same engine
/// again: metadata cached), next to `uv pip compile` on the same simulator (cold:
/// `--no-cache`; warm: its cache filled by a previous run; each run a process start).
pub(crate) async fn resolve(opts: &Opts) {
    use sentinel_actors::resolver::{ResolutionStatus, ResolveRequest};
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let base = sim.base_url();
    sim.add_fault(FaultSpec {
        latency_ms: Some(5),
        ..FaultSpec::on("/**")
    });
    let runs = opts.pick(2, 10);
    let mut req = ResolveRequest::new(["sg-tree-00"]);
    req.target.python_version = Some("3.12".into());
    req.vulnerabilities = false;
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let e = start_engine(engine_config(&base)).await;
        let t = Instant::now();
        let r = e.resolve(&req).await.expect("resolves");
        cold.push(t.elapsed());
        assert_eq!(r.status, ResolutionStatus::Resolved);
        assert_eq!(r.packages.len(), 40);
        let t = Instant::now();
        let r = e.resolve(&req).await.expect("resolves");
        warm.push(t.elapsed());
        assert_eq!(r.packages.len(), 40);
        e.shutdown().await;
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (c, w) = (median(&mut cold), median(&mut warm));
    println!();
    println!("## resolve: 40-package tree, 5 ms added latency ({runs} runs, medians)");
    println!("pypi-sentinel cold {} warm {}", fmt_d(c), fmt_d(w));
    let cache = std::env::temp_dir().join(format!("sentinel-bench-uv-{}", std::process::id()));
    let base2 = base.clone();
    let quick = opts.quick;
    let uv = tokio::task::spawn_blocking(move || {
        if quick {
            return None; // CI's smoke run starts no outside process
        }
        let mut uc = Vec::new();
        let mut uw = Vec::new();
        for _ in 0..runs {
            uc.push(uv_compile(&base2, "sg-tree-00", &cache, true)?);
        }
        uv_compile(&base2, "sg-tree-00", &cache, false)?;
        for _ in 0..runs {
            uw.push(uv_compile(&base2, "sg-tree-00", &cache, false)?);
        }
        let _ = std::fs::remove_dir_all(&cache);
        Some((uc, uw))
    })
    .await
    .ok()
    .flatten();
    match uv {
        Some((mut uc, mut uw)) => {
            let (uc, uw) = (median(&mut uc), median(&mut uw));
            println!(
                "uv pip compile cold {} warm {}; ratio ours/uv cold {:.3}, warm {:.3}",
                fmt_d(uc),
                fmt_d(uw),
                c.as_secs_f64() / uc.as_secs_f64(),
                w.as_secs_f64() / uw.as_secs_f64()
            );
        }
        None => println!(
            "uv pip compile: not measured (skipped with --quick; else uv is not on PATH or failed)"
        ),
    }
    sim.shutdown().await;
}
