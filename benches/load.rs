//! Load harness: drives the engine (and the MCP streamable HTTP server) against the
//! simulator on 127.0.0.1 and prints one table per scenario: throughput, p50/p99/p99.9
//! latency, upstream requests per client request, errors and RSS.
//!
//! ```text
//! cargo bench --bench load                 # full run, bounded (about 17 min, 10 of them the soak)
//! cargo bench --bench load -- --quick      # smoke run for CI (< 60 s, 20 s of it the soak)
//! cargo bench --bench load -- --only hot,herd
//! cargo bench --bench load -- --only soak --soak-secs 600
//! ```
//!
//! Scenarios: `hot`, `mcp`, `cold`, `herd`, `breaker`, `storm`, `outage`, `memory`,
//! `series`, `faults`, `overview`, `abandoned`, `resolve`, `chaos`, `soak` (`series` and `chaos` are
//! left out of `--quick` unless named with `--only`; `soak` runs 600 s, 20 s with
//! `--quick`, or `--soak-secs N`; `--soak-session-calls N`, `--soak-no-prometheus` and
//! `--soak-no-trim`
//! vary it).
//! Every loop is bounded in count and in time; nothing touches the internet. Ratios are
//! measured in one run (docs/ARCHITECTURE.md section 7); absolute figures drift on shared machines.

use std::future::Future;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pypi_sentinel::mcp::{HttpOptions, bind_http};
use sentinel_actors::upstream::{self, Document};
use sentinel_actors::{Engine, EngineConfig, EngineHandle, PackageName, Query, Upstream};
use sentinel_sim::{FaultSpec, Sim, SimConfig, SimHandle};

#[path = "support/mcp_http.rs"]
mod mcp_http;
use mcp_http::McpSession;

const CHILD_SIM_ENV: &str = "SENTINEL_LOAD_SIM_CHILD";

// ---- options ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Opts {
    quick: bool,
    only: Option<Vec<String>>,
    /// Length of the soak (`--soak-secs N`); default 600 s, 20 s with `--quick`.
    soak_secs: Option<u64>,
    /// Calls per MCP session in the soak before the client closes it and opens another
    /// (`--soak-session-calls N`, default 150; 0 = keep each session for the whole run).
    soak_session_calls: u32,
    /// Leave out the Prometheus recorder in the soak (`--soak-no-prometheus`); by default
    /// it is installed as `pypi-sentinel serve` installs it, and never scraped.
    soak_no_prometheus: bool,
    /// Leave out `serve`'s periodic `malloc_trim` in the soak (`--soak-no-trim`), to see
    /// glibc's retention.
    soak_no_trim: bool,
}

impl Opts {
    fn from_args() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick");
        let only = args
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1))
            .map(|s| s.split(',').map(str::to_string).collect());
        let soak_secs = args
            .iter()
            .position(|a| a == "--soak-secs")
            .and_then(|i| args.get(i + 1))
            .map(|s| s.parse().expect("--soak-secs takes a number of seconds"));
        let soak_session_calls = args
            .iter()
            .position(|a| a == "--soak-session-calls")
            .and_then(|i| args.get(i + 1))
            .map_or(150, |s| {
                s.parse()
                    .expect("--soak-session-calls takes a number of calls")
            });
        let soak_no_prometheus = args.iter().any(|a| a == "--soak-no-prometheus");
        let soak_no_trim = args.iter().any(|a| a == "--soak-no-trim");
        Opts {
            quick,
            only,
            soak_secs,
            soak_session_calls,
            soak_no_prometheus,
            soak_no_trim,
        }
    }

    fn wants(&self, scenario: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == scenario))
    }

    /// `quick` or `full` figure.
    fn pick<T>(&self, quick: T, full: T) -> T {
        if self.quick { quick } else { full }
    }
}

// ---- measurement -------------------------------------------------------------------------

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// The outcome of one closed-loop run.
struct Run {
    lat: Vec<Duration>,
    errors: u64,
    elapsed: Duration,
}

impl Run {
    fn pct(&self, p: f64) -> Duration {
        if self.lat.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((p * self.lat.len() as f64).ceil() as usize).clamp(1, self.lat.len()) - 1;
        self.lat[idx]
    }

    fn throughput(&self) -> f64 {
        self.lat.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `f(i)` for `i` in `0..total` on `conc` concurrent tasks, each task one call at a
/// time (closed loop), stopping early at `max_time`. `f` returns whether the call succeeded.
async fn closed_loop<F, Fut>(conc: usize, total: usize, max_time: Duration, f: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let stop_at = start + max_time;
    let mut tasks = Vec::with_capacity(conc);
    for _ in 0..conc {
        let (f, next, errors) = (f.clone(), next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(total / conc + 1);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() >= stop_at {
                    break;
                }
                let t = Instant::now();
                let ok = f(i).await;
                lat.push(t.elapsed());
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut lat = Vec::with_capacity(total);
    for t in tasks {
        lat.extend(t.await.expect("load task"));
    }
    let elapsed = start.elapsed();
    lat.sort_unstable();
    Run {
        lat,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
    }
}

fn fmt_d(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

struct Table {
    title: String,
}

impl Table {
    fn new(title: &str) -> Self {
        println!();
        println!("### {title}");
        println!();
        println!(
            "| case | conc | calls | calls/s | p50 | p99 | p99.9 | upstream req | upstream/call | errors | RSS MiB |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        let _ = std::io::stdout().flush();
        Table {
            title: title.into(),
        }
    }

    fn row(&self, case: &str, conc: usize, run: &Run, upstream: u64) {
        let n = run.lat.len();
        println!(
            "| {case} | {conc} | {n} | {:.0} | {} | {} | {} | {upstream} | {:.3} | {} | {:.0} |",
            run.throughput(),
            fmt_d(run.pct(0.50)),
            fmt_d(run.pct(0.99)),
            fmt_d(run.pct(0.999)),
            upstream as f64 / n.max(1) as f64,
            run.errors,
            mib(rss_bytes()),
        );
        let _ = std::io::stdout().flush();
    }

    fn note(&self, text: &str) {
        let _ = &self.title;
        println!();
        println!("{text}");
        let _ = std::io::stdout().flush();
    }
}

// ---- setup ---------------------------------------------------------------------------------

fn synth(i: usize) -> String {
    format!("synth-{i:04}")
}

/// An engine on the simulator with client-side rate limits off (they would measure the
/// limiter, not the engine) and enough concurrency towards the simulator.
fn engine_config(base_url: &str) -> EngineConfig {
    let mut cfg = EngineConfig::default().with_origin(base_url);
    for up in Upstream::ALL {
        let u = cfg.upstreams.get_mut(up);
        u.rate_limit = None;
        u.max_in_flight = 32;
    }
    cfg
}

async fn start_engine(cfg: EngineConfig) -> EngineHandle {
    Engine::start(cfg).await.expect("engine starts")
}

fn breaker_state(h: &sentinel_actors::HealthReport, up: Upstream) -> (String, u64) {
    h.upstream(up)
        .map(|u| (u.health.breaker.to_string(), u.health.times_opened))
        .unwrap_or_default()
}

fn fetch_stats(e: &EngineHandle, up: Upstream) -> sentinel_actors::FetchStats {
    e.metrics().upstreams[up.index()].clone()
}

// ---- scenario 1: hot cache ------------------------------------------------------------------

async fn hot(opts: &Opts, sim: &SimHandle, names_hot: usize) {
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

// ---- MCP over streamable HTTP -------------------------------------------------------------

/// The same MCP service as `bind_http` (rmcp `StreamableHttpService`, local sessions,
/// default config), mounted at `/mcp` with accepted sockets set to `TCP_NODELAY`. Only
/// the Host/Origin/token guard layer is left out (a few header comparisons).
async fn serve_mcp_nodelay(
    engine: EngineHandle,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    use axum::serve::ListenerExt as _;
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    let token = config.cancellation_token.clone();
    let service = StreamableHttpService::new(
        move || Ok(pypi_sentinel::mcp::SentinelMcp::new(engine.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.await;
                token.cancel();
            })
            .await;
    });
    Ok((format!("http://{addr}/mcp"), task))
}

async fn mcp_load(
    t: &Table,
    sim: &SimHandle,
    label: &str,
    url: &str,
    levels: &[(usize, usize, Duration)],
    names: &Arc<Vec<String>>,
) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    for &(conc, total, max_time) in levels {
        let mut sessions = Vec::new();
        for _ in 0..conc {
            match McpSession::open(client.clone(), url.to_string()).await {
                Ok(s) => sessions.push(Arc::new(s)),
                Err(e) => {
                    t.note(&format!("{label}: MCP session failed: {e:#}"));
                    return;
                }
            }
        }
        // Warm the connections and the server's session workers.
        for s in &sessions {
            s.call_tool(
                1,
                "get_package_info",
                serde_json::json!({"package": names[0]}),
            )
            .await;
        }
        let sessions = Arc::new(sessions);
        let rr = Arc::new(AtomicUsize::new(0));
        let names2 = names.clone();
        sim.reset_stats();
        let run = closed_loop(conc, total, max_time, move |i| {
            // One session per task in effect: the loop hands them out round robin.
            let s = sessions[rr.fetch_add(1, Ordering::Relaxed) % sessions.len()].clone();
            let name = names2[i % names2.len()].clone();
            async move {
                s.call_tool(
                    i as u64 + 10,
                    "get_package_info",
                    serde_json::json!({ "package": name }),
                )
                .await
            }
        })
        .await;
        t.row(label, conc, &run, sim.stats().total);
    }
}

async fn mcp(opts: &Opts, sim: &SimHandle) {
    let t = Table::new("MCP `tools/call get_package_info` over streamable HTTP, cached");
    let engine = start_engine(engine_config(&sim.base_url())).await;
    let names: Arc<Vec<String>> = Arc::new((0..64).map(synth).collect());
    for n in names.iter() {
        engine.package_info(n, None).await.expect("warm");
    }
    let levels = [
        (
            1,
            opts.pick(2_000, 20_000),
            Duration::from_secs(opts.pick(2, 5)),
        ),
        (
            64,
            opts.pick(10_000, 100_000),
            Duration::from_secs(opts.pick(2, 10)),
        ),
    ];
    // As shipped: `pypi_sentinel::mcp::bind_http`.
    match bind_http(engine.clone(), HttpOptions::default()).await {
        Ok(server) => {
            let url = server.mcp_url();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let serving = tokio::spawn(server.run(async move {
                let _ = stop_rx.await;
            }));
            mcp_load(&t, sim, "bind_http (as shipped)", &url, &levels, &names).await;
            let _ = stop_tx.send(());
            let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
        }
        Err(e) => t.note(&format!("MCP server unavailable: {e:#}")),
    }
    // The same service with TCP_NODELAY on accepted sockets.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    match serve_mcp_nodelay(engine.clone(), stop_rx).await {
        Ok((url, serving)) => {
            mcp_load(&t, sim, "same service + TCP_NODELAY", &url, &levels, &names).await;
            let _ = stop_tx.send(());
            let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
        }
        Err(e) => t.note(&format!("TCP_NODELAY variant unavailable: {e:#}")),
    }
    t.note(
        "Client, server, engine and simulator share the same 2 cores: the client's own \
         HTTP and JSON work is inside these figures. Each task uses its own MCP session.",
    );
    engine.shutdown().await;
}

// ---- scenario 2: cold -----------------------------------------------------------------------

async fn cold(opts: &Opts, sim: &SimHandle, range: std::ops::Range<usize>) {
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

// ---- scenario 3: thundering herd ------------------------------------------------------------

async fn herd(sim: &SimHandle, name: String) {
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

// ---- scenario 4: breaker open, stale answers ------------------------------------------------

async fn breaker(opts: &Opts, sim: &SimHandle, range: std::ops::Range<usize>) {
    let t = Table::new("4. pypistats 100 % 502, warm (stale) cache, breaker open: stale answers");
    let mut cfg = engine_config(&sim.base_url());
    // Short backoffs so the breaker opens within a second; the breaker itself is default.
    let ps = cfg.upstreams.get_mut(Upstream::Pypistats);
    ps.retry.base_ms = 5;
    ps.retry.cap_ms = 50;
    let open_ms = ps.breaker.open_base_ms;
    let engine = start_engine(cfg).await;
    let names: Arc<Vec<String>> = Arc::new(range.map(synth).collect());
    for n in names.iter() {
        engine
            .recent_downloads(n)
            .await
            .expect("warm recent_downloads");
    }
    // Past pypistats' next daily update (download stats stay fresh until then, 24 h at
    // most), well inside the 7-day stale retention.
    engine.age_cache(Duration::from_secs(25 * 3600));
    let fault = sim.add_fault(FaultSpec {
        route: "/api/packages/**".into(),
        status: Some(502),
        probability: Some(1.0),
        ..Default::default()
    });
    // Stale answers trigger background refreshes; they fail until the breaker opens.
    let open_deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 0;
    let opened_at = loop {
        let _ = engine.recent_downloads(&names[i % names.len()]).await;
        i += 1;
        if i % 5 == 0 {
            engine.settle(Duration::from_secs(2)).await;
            let (state, _) = breaker_state(&engine.health().await, Upstream::Pypistats);
            if state == "open" {
                break Some(Instant::now());
            }
        }
        if Instant::now() > open_deadline {
            break None;
        }
    };
    let Some(opened_at) = opened_at else {
        t.note("the pypistats breaker did not open within 20 s; scenario skipped");
        sim.remove_fault(fault);
        engine.shutdown().await;
        return;
    };
    let trigger_calls = i;
    sim.reset_stats();
    let before = fetch_stats(&engine, Upstream::Pypistats);
    // Stay inside the open period (default 10 s): both runs share a 6 s budget.
    let budget = Duration::from_millis(open_ms.saturating_sub(4_000).max(1_000));
    let mut total_calls = 0;
    for (conc, total) in [
        (1, opts.pick(5_000, 100_000)),
        (16, opts.pick(20_000, 300_000)),
    ] {
        let e = engine.clone();
        let n2 = names.clone();
        let run = closed_loop(conc, total, budget / 2, move |i| {
            let e = e.clone();
            let n = n2.clone();
            async move {
                matches!(
                    e.recent_downloads(&n[i % n.len()]).await,
                    Ok(d) if d.source == sentinel_actors::SourceLabel::Stale
                )
            }
        })
        .await;
        total_calls += run.lat.len();
        t.row(
            "stale recent_downloads, breaker open",
            conc,
            &run,
            sim.stats().matching("/api/packages/**"),
        );
    }
    let during = sim.stats().matching("/api/packages/**");
    let in_open = opened_at.elapsed();
    let after = fetch_stats(&engine, Upstream::Pypistats);
    let (state, times_opened) = breaker_state(&engine.health().await, Upstream::Pypistats);
    t.note(&format!(
        "breaker opened after {trigger_calls} client calls; measured {total_calls} calls over \
         {:.1} s of the {:.0} s open period; upstream requests during the open period: \
         **{during}** (engine fetch requests {} -> {}); breaker now `{state}`, opened {times_opened} time(s). \
         An error counts a call that was not answered `stale`.",
        in_open.as_secs_f64(),
        open_ms as f64 / 1000.0,
        before.requests,
        after.requests,
    ));
    sim.remove_fault(fault);
    engine.shutdown().await;
}

// ---- scenario 5: 5xx storm and outage amplification ------------------------------------------

async fn storm(opts: &Opts, sim: &SimHandle, range: std::ops::Range<usize>) {
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

async fn outage(opts: &Opts, sim: &SimHandle, range: std::ops::Range<usize>) {
    let t = Table::new(
        "5b. 100 % outage (502) of PyPI JSON: amplification before and after the breaker opens",
    );
    let engine = start_engine(engine_config(&sim.base_url())).await;
    let fault = sim.add_fault(FaultSpec {
        route: "/pypi/**".into(),
        status: Some(502),
        probability: Some(1.0),
        ..Default::default()
    });
    let names: Vec<String> = range.map(synth).collect();
    let mut idx = 0;
    // Before: one call at a time (the worst case for a per-second retry-budget floor)
    // until the breaker opens.
    sim.reset_stats();
    let t0 = Instant::now();
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut open = false;
    while idx < 200 && t0.elapsed() < Duration::from_secs(60) {
        let s = Instant::now();
        let ok = engine.package_info(&names[idx], None).await.is_ok();
        lat.push(s.elapsed());
        errors += u64::from(!ok);
        idx += 1;
        if engine.metrics().breaker_transitions > 0 {
            open = true;
            break;
        }
    }
    lat.sort_unstable();
    let before = Run {
        lat,
        errors,
        elapsed: t0.elapsed(),
    };
    let hits_before = sim.stats().matching("/pypi/**");
    t.row(
        "before open (conc 1, until the breaker opens)",
        1,
        &before,
        hits_before,
    );
    // Also the same phase at concurrency 8 on a fresh engine (burstier arrivals).
    let fs_before = fetch_stats(&engine, Upstream::PypiJson);
    // After: inside the open period.
    sim.reset_stats();
    let start = idx;
    let names = Arc::new(names);
    let n2 = names.clone();
    let e = engine.clone();
    let avail = names.len() - start;
    let after = closed_loop(
        8,
        opts.pick(2_000, 20_000).min(avail),
        Duration::from_secs(5),
        move |i| {
            let e = e.clone();
            let n = n2.clone();
            async move { e.package_info(&n[start + i], None).await.is_ok() }
        },
    )
    .await;
    let hits_after = sim.stats().matching("/pypi/**");
    t.row(
        "after open (conc 8, inside the open period)",
        8,
        &after,
        hits_after,
    );
    let (state, _) = breaker_state(&engine.health().await, Upstream::PypiJson);
    t.note(&format!(
        "breaker opened: {open} after {} calls; before: {hits_before} upstream requests / {} calls = \
         **{:.3}** (engine: {} attempts, {} retries, {} refused by budget); after: {hits_after} / {} = \
         **{:.4}**; breaker now `{state}`. Errors are expected: nothing is cached, so every call fails.",
        before.lat.len(),
        before.lat.len(),
        hits_before as f64 / before.lat.len().max(1) as f64,
        fs_before.attempts,
        fs_before.retries,
        fs_before.budget_refusals,
        after.lat.len(),
        hits_after as f64 / after.lat.len().max(1) as f64,
    ));
    sim.remove_fault(fault);
    engine.shutdown().await;
}

// ---- scenario 6: memory ---------------------------------------------------------------------

/// A simulator in a child process (this same binary), so its generated bodies do not
/// count in our RSS.
struct ChildSim {
    child: std::process::Child,
    base_url: String,
}

impl ChildSim {
    fn spawn(synthetic: usize) -> anyhow::Result<Self> {
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

fn child_sim_main(synthetic: usize) {
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

async fn memory(opts: &Opts) {
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
async fn calibrate_weigher(base_url: &str) {
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
struct Mallinfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    fn mallinfo2() -> Mallinfo2;
    fn malloc_trim(pad: usize) -> i32;
}

/// Heap bytes in use (all arenas), or 0 where glibc is not the allocator.
fn heap_in_use() -> u64 {
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
fn trim_heap() -> bool {
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

// ---- scenario 7: fault-latency matrix -------------------------------------------------------

/// The question asked of each upstream in the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Json,
    Simple,
    Stats,
    Pepy,
    Top,
}

impl Target {
    const ALL: [Target; 5] = [
        Target::Json,
        Target::Simple,
        Target::Stats,
        Target::Pepy,
        Target::Top,
    ];

    fn label(self) -> &'static str {
        match self {
            Target::Json => "pypi-json (package_info)",
            Target::Simple => "pypi-simple (versions, JSON 502)",
            Target::Stats => "pypistats (recent_downloads)",
            Target::Pepy => "pepy (document Pepy)",
            Target::Top => "top-packages (top_packages 100)",
        }
    }

    fn upstream(self) -> Upstream {
        match self {
            Target::Json => Upstream::PypiJson,
            Target::Simple => Upstream::PypiSimple,
            Target::Stats => Upstream::Pypistats,
            Target::Pepy => Upstream::Pepy,
            Target::Top => Upstream::TopPackages,
        }
    }

    fn route(self) -> &'static str {
        match self {
            Target::Json => "/pypi/**",
            Target::Simple => "/simple/**",
            Target::Stats => "/api/packages/**",
            Target::Pepy => "/api/v2/projects/**",
            Target::Top => "/top-pypi-packages.min.json",
        }
    }
}

/// One fault of the matrix (`Limiter` is our own rate limit at 1/s, not a simulator fault;
/// `StatsAndPepy` is 502 on pypistats and pepy together).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    S502,
    S503RetryAfter,
    S429HugeRetryAfter,
    Hang,
    Reset,
    Truncate,
    RedirectLoop,
    Limiter,
    StatsAndPepy,
}

impl Fault {
    const MATRIX: [Fault; 8] = [
        Fault::S502,
        Fault::S503RetryAfter,
        Fault::S429HugeRetryAfter,
        Fault::Hang,
        Fault::Reset,
        Fault::Truncate,
        Fault::RedirectLoop,
        Fault::Limiter,
    ];

    fn label(self) -> &'static str {
        match self {
            Fault::S502 => "502",
            Fault::S503RetryAfter => "503 RA 2",
            Fault::S429HugeRetryAfter => "429 RA 1e12",
            Fault::Hang => "hang",
            Fault::Reset => "reset",
            Fault::Truncate => "truncated",
            Fault::RedirectLoop => "redirect loop",
            Fault::Limiter => "limiter 1/s, burst",
            Fault::StatsAndPepy => "502 pypistats + pepy",
        }
    }

    fn specs(self, route: &str) -> Vec<FaultSpec> {
        let on = |f: FaultSpec| FaultSpec {
            route: route.into(),
            ..f
        };
        match self {
            Fault::S502 => vec![on(FaultSpec {
                status: Some(502),
                ..Default::default()
            })],
            Fault::S503RetryAfter => vec![on(FaultSpec {
                status: Some(503),
                retry_after: Some(2),
                ..Default::default()
            })],
            Fault::S429HugeRetryAfter => vec![on(FaultSpec {
                status: Some(429),
                retry_after: Some(1_000_000_000_000),
                ..Default::default()
            })],
            Fault::Hang => vec![on(FaultSpec {
                hang: true,
                ..Default::default()
            })],
            Fault::Reset => vec![on(FaultSpec {
                reset: true,
                ..Default::default()
            })],
            Fault::Truncate => vec![on(FaultSpec {
                truncate: true,
                ..Default::default()
            })],
            Fault::RedirectLoop => vec![on(FaultSpec {
                redirect_loop: true,
                ..Default::default()
            })],
            Fault::Limiter => Vec::new(),
            Fault::StatsAndPepy => vec![
                FaultSpec {
                    status: Some(502),
                    ..FaultSpec::on("/api/packages/**")
                },
                FaultSpec {
                    status: Some(502),
                    ..FaultSpec::on("/api/v2/projects/**")
                },
            ],
        }
    }
}

/// What one call came back with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Live,
    Cached,
    Stale,
    Estimated,
    Mixed,
    Deferred,
    /// Unavailable; `true` when refused by an open breaker.
    Unavailable(bool),
    Deadline,
    Other,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Live => "live",
            Outcome::Cached => "cached",
            Outcome::Stale => "stale",
            Outcome::Estimated => "estimated",
            Outcome::Mixed => "mixed",
            Outcome::Deferred => "deferred",
            Outcome::Unavailable(false) => "unavailable",
            Outcome::Unavailable(true) => "unavail(breaker)",
            Outcome::Deadline => "deadline",
            Outcome::Other => "other-error",
        }
    }

    fn of_label(l: sentinel_actors::SourceLabel) -> Self {
        use sentinel_actors::SourceLabel as L;
        match l {
            L::Live => Outcome::Live,
            L::Cached => Outcome::Cached,
            L::Stale => Outcome::Stale,
            L::Estimated => Outcome::Estimated,
            L::Mixed => Outcome::Mixed,
            L::Unavailable => Outcome::Unavailable(false),
        }
    }

    fn of_error(e: &sentinel_actors::QueryError) -> Self {
        match e.code() {
            "deferred" => Outcome::Deferred,
            "unavailable" => Outcome::Unavailable(matches!(
                e.cause(),
                Some(sentinel_actors::UnavailableCause::BreakerOpen { .. })
            )),
            "deadline_exceeded" => Outcome::Deadline,
            _ => Outcome::Other,
        }
    }
}

async fn ask_target(e: &EngineHandle, target: Target, name: &str) -> Outcome {
    match target {
        Target::Json => match e.package_info(name, None).await {
            Ok(d) => Outcome::of_label(d.provenance.label()),
            Err(err) => Outcome::of_error(&err),
        },
        Target::Simple => match e.versions(name).await {
            Ok(d) => Outcome::of_label(d.provenance.label()),
            Err(err) => Outcome::of_error(&err),
        },
        Target::Stats => match e.recent_downloads(name).await {
            Ok(r) => Outcome::of_label(r.source),
            Err(err) => Outcome::of_error(&err),
        },
        Target::Pepy => {
            let q = Query::Pepy(PackageName::parse(name).expect("valid name"));
            match e.document(q).await {
                Ok(a) => Outcome::of_label(a.provenance.label()),
                Err(err) => Outcome::of_error(&err),
            }
        }
        Target::Top => match e.top_packages(100).await {
            Ok(d) => Outcome::of_label(d.provenance.label()),
            Err(err) => Outcome::of_error(&err),
        },
    }
}

/// One measured call of a cell.
struct Call {
    lat: Duration,
    outcome: Outcome,
    after_open: bool,
}

impl Call {
    /// Started with its upstream's breaker open, and answered without a fetch from a
    /// second source (an estimate from pepy or a live answer needs one).
    fn fail_fast(&self) -> bool {
        self.after_open && !matches!(self.outcome, Outcome::Estimated | Outcome::Live)
    }
}

struct Cell {
    target: Target,
    fault: Fault,
    warm: bool,
    calls: Vec<Call>,
    upstream_requests: u64,
    transitions: u64,
    warm_note: Option<String>,
}

fn pct_of(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

const BUDGET: Duration = Duration::from_millis(2_000);
const DEADLINE: Duration = Duration::from_millis(15_000);
const SLACK: Duration = Duration::from_millis(50);
const FAST: Duration = Duration::from_millis(5);

impl Cell {
    fn sorted(&self, keep: impl Fn(&Call) -> bool) -> Vec<Duration> {
        let mut v: Vec<Duration> = self
            .calls
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.lat)
            .collect();
        v.sort_unstable();
        v
    }

    fn outcomes(&self) -> String {
        let mut counts: std::collections::BTreeMap<Outcome, usize> = Default::default();
        for c in &self.calls {
            *counts.entry(c.outcome).or_default() += 1;
        }
        counts
            .iter()
            .map(|(o, n)| format!("{} {n}", o.word()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// PASS/FAIL per applicable target, in words.
    fn verdicts(&self) -> Vec<(&'static str, bool)> {
        let all = self.sorted(|_| true);
        let mut v = vec![("max<=deadline", pct_of(&all, 1.0) <= DEADLINE + SLACK)];
        if self.warm {
            v.push(("p99<=budget+50ms", pct_of(&all, 0.99) <= BUDGET + SLACK));
        }
        let open = self.sorted(Call::fail_fast);
        if !open.is_empty() {
            v.push(("open p99<5ms", pct_of(&open, 0.99) < FAST));
        }
        if self.fault == Fault::Limiter {
            v.push(("limiter p99<5ms", pct_of(&all, 0.99) < FAST));
        }
        v
    }

    fn row(&self) -> String {
        let all = self.sorted(|_| true);
        let open = self.sorted(Call::fail_fast);
        let deferred = self.sorted(|c| c.outcome == Outcome::Deferred);
        let open_col = if open.is_empty() {
            "-".to_string()
        } else {
            format!("{} ({})", fmt_d(pct_of(&open, 0.99)), open.len())
        };
        let deferred_col = if deferred.is_empty() {
            "-".to_string()
        } else {
            format!("{} ({})", fmt_d(pct_of(&deferred, 0.99)), deferred.len())
        };
        let verdicts = self
            .verdicts()
            .iter()
            .map(|(t, ok)| format!("{t} {}", if *ok { "PASS" } else { "**FAIL**" }))
            .collect::<Vec<_>>()
            .join("; ");
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} | {} |",
            self.target.label(),
            self.fault.label(),
            if self.warm { "warm" } else { "cold" },
            self.calls.len(),
            fmt_d(pct_of(&all, 0.5)),
            fmt_d(pct_of(&all, 0.99)),
            fmt_d(pct_of(&all, 1.0)),
            open_col,
            deferred_col,
            self.outcomes(),
            self.upstream_requests as f64 / self.calls.len().max(1) as f64,
            self.transitions,
            verdicts,
        )
    }
}

/// Answers `name` once outside the measurement, asking again after a deferral, so its
/// copy is in the cache (bounded).
async fn warm_one(e: &EngineHandle, target: Target, name: &str, until: Instant) -> bool {
    loop {
        match ask_target(e, target, name).await {
            Outcome::Live | Outcome::Cached => return true,
            _ if Instant::now() >= until => return false,
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// One cell: its own simulator and engine (so no breaker or cache state leaks between
/// cells), `n` calls at concurrency 4 (the limiter cells: all `n` at once).
async fn fault_cell(target: Target, fault: Fault, warm: bool, n: usize) -> Cell {
    const WARM_KEYS: usize = 5;
    let sim = Sim::start(SimConfig {
        synthetic: n + WARM_KEYS + 5,
        ..Default::default()
    })
    .await
    .expect("sim starts");
    let mut cfg = EngineConfig::default().with_origin(&sim.base_url());
    for up in Upstream::ALL {
        cfg.upstreams.get_mut(up).rate_limit = None;
    }
    if fault == Fault::Limiter {
        cfg.upstreams.get_mut(target.upstream()).rate_limit =
            Some(sentinel_actors::RateLimitConfig {
                per_second: 1,
                per_minute: None,
            });
    }
    let engine = start_engine(cfg).await;
    // The Simple row asks `versions` with the JSON API failing, warm and cold.
    if target == Target::Simple {
        sim.add_fault(FaultSpec {
            status: Some(502),
            ..FaultSpec::on("/pypi/**")
        });
    }
    let names: Vec<String> = if warm {
        (0..WARM_KEYS).map(synth).collect()
    } else {
        (WARM_KEYS..WARM_KEYS + n).map(synth).collect()
    };
    let mut warm_note = None;
    if warm {
        let until = Instant::now() + Duration::from_secs(15);
        let mut ok = 0;
        let keys = if target == Target::Top { 1 } else { WARM_KEYS };
        for name in names.iter().take(keys) {
            ok += usize::from(warm_one(&engine, target, name, until).await);
        }
        if ok < keys {
            warm_note = Some(format!("only {ok}/{keys} keys warmed"));
        }
        // Past every fresh TTL (24 h at most), well inside the 7-day stale retention.
        engine.age_cache(Duration::from_secs(2 * 24 * 3600));
    }
    let route = target.route();
    for spec in fault.specs(route) {
        sim.add_fault(spec);
    }
    sim.reset_stats();
    let t0 = engine.metrics().breaker_transitions;
    let conc = if fault == Fault::Limiter { n } else { 4 };
    let next = Arc::new(AtomicUsize::new(0));
    let stop_at = Instant::now() + Duration::from_secs(30);
    let names = Arc::new(names);
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (e, next, names) = (engine.clone(), next.clone(), names.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() >= stop_at {
                    break;
                }
                let name = &names[i % names.len()];
                // Whether this upstream's own breaker is open as the call starts.
                let after_open = e.metrics().breaker_transitions > t0
                    && breaker_state(&e.health().await, target.upstream()).0 == "open";
                let s = Instant::now();
                let outcome = ask_target(&e, target, name).await;
                out.push(Call {
                    lat: s.elapsed(),
                    outcome,
                    after_open,
                });
            }
            out
        }));
    }
    let mut calls = Vec::new();
    for t in tasks {
        calls.extend(t.await.expect("cell task"));
    }
    let upstream_requests = sim.stats().total;
    let transitions = engine.metrics().breaker_transitions - t0;
    engine.shutdown().await;
    sim.shutdown().await;
    Cell {
        target,
        fault,
        warm,
        calls,
        upstream_requests,
        transitions,
        warm_note,
    }
}

async fn faults(opts: &Opts) {
    println!();
    println!(
        "### 7. Fault-latency matrix (answer budget 2 s, deadline 15 s; targets: warm p99 <= 2.05 s, \
         breaker open or limiter saturated p99 < 5 ms, no call past the deadline)"
    );
    println!();
    println!(
        "| upstream (question) | fault | cache | calls | p50 | p99 | max | p99 with its breaker open (n) | p99 of deferred (n) | outcomes | upstream req/call | breaker transitions | targets |"
    );
    println!(
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |"
    );
    let _ = std::io::stdout().flush();
    let n = opts.pick(8, 20);
    let mut rows: Vec<(Fault, Vec<Target>)> = if opts.quick {
        vec![(Fault::S502, vec![Target::Json, Target::Stats])]
    } else {
        Fault::MATRIX
            .iter()
            .map(|f| (*f, Target::ALL.to_vec()))
            .collect()
    };
    rows.push((Fault::StatsAndPepy, vec![Target::Stats]));
    let started = Instant::now();
    let (mut pass, mut fail) = (0, 0);
    let mut notes = Vec::new();
    for (fault, targets) in rows {
        let row_start = Instant::now();
        // The cells of one fault run at once, each on its own simulator and engine: most
        // of their time is spent waiting (hangs, Retry-After), not computing.
        let mut tasks = Vec::new();
        for &target in &targets {
            for warm in [false, true] {
                tasks.push(tokio::spawn(fault_cell(target, fault, warm, n)));
            }
        }
        for t in tasks {
            let cell = t.await.expect("cell");
            println!("{}", cell.row());
            for (_, ok) in cell.verdicts() {
                if ok {
                    pass += 1;
                } else {
                    fail += 1;
                }
            }
            if let Some(w) = &cell.warm_note {
                notes.push(format!(
                    "- {} / {} / warm: {w}",
                    cell.target.label(),
                    cell.fault.label()
                ));
            }
        }
        let _ = std::io::stdout().flush();
        notes.push(format!(
            "- row `{}`: {:.1} s",
            fault.label(),
            row_start.elapsed().as_secs_f64()
        ));
    }
    println!();
    println!(
        "targets: {pass} PASS, {fail} FAIL; matrix wall time {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!();
    println!("{}", notes.join("\n"));
    let _ = std::io::stdout().flush();
}

// ---- scenario 8: overview of 100 packages, default limits ---------------------------------------

async fn overview(opts: &Opts) {
    println!();
    println!("### 8. Overview of a batch against a healthy simulator, default rate limits");
    let n = opts.pick(10, 100);
    let sim = Sim::start(SimConfig {
        synthetic: n + 10,
        // The simulator enforces pypistats.org's 5/s and 30/min and answers 429 past it.
        pypistats_rate_limit: true,
        ..Default::default()
    })
    .await
    .expect("sim starts");
    let engine = start_engine(EngineConfig::default().with_origin(&sim.base_url())).await;
    let names: Vec<String> = (0..n).map(synth).collect();
    let summarize = |r: &sentinel_actors::PartialResult<sentinel_actors::PackageOverview>| {
        let mut by: std::collections::BTreeMap<String, usize> = Default::default();
        for it in &r.items {
            let k = match &it.downloads {
                Some(d) => format!("downloads {}", Outcome::of_label(d.source).word()),
                None => "downloads none".into(),
            };
            *by.entry(k).or_default() += 1;
            *by.entry(format!("info {}", it.info.provenance.word()))
                .or_default() += 1;
        }
        let mut max_ra = 0;
        for f in &r.failures {
            *by.entry(format!("failure {}", f.code)).or_default() += 1;
            max_ra = max_ra.max(f.retry_after_secs.unwrap_or(0));
        }
        let with_ra = r
            .failures
            .iter()
            .filter(|f| f.code == "deferred" && f.retry_after_secs.is_some())
            .count();
        (by, max_ra, with_ra)
    };
    println!();
    println!(
        "| ask | packages | answer time | items | failures | by kind | deferred with retry_after | largest retry_after | breaker transitions | pypistats req (sim) | pypi-json req (sim) | unavailable |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let t0 = Instant::now();
    let first = engine.overview(&names).await;
    let d1 = t0.elapsed();
    let Ok(first) = first else {
        println!("overview failed: {first:?}");
        engine.shutdown().await;
        sim.shutdown().await;
        return;
    };
    let (by, max_ra, with_ra) = summarize(&first);
    let unavailable = |r: &sentinel_actors::PartialResult<sentinel_actors::PackageOverview>| {
        r.failures
            .iter()
            .filter(|f| f.code == "unavailable")
            .count()
    };
    let row = |label: &str,
               d: Duration,
               r: &sentinel_actors::PartialResult<sentinel_actors::PackageOverview>,
               by: &std::collections::BTreeMap<String, usize>,
               with_ra: usize,
               max_ra: u64| {
        println!(
            "| {label} | {n} | {} | {} | {} | {} | {with_ra} | {max_ra} s | {} | {} | {} | {} |",
            fmt_d(d),
            r.items.len(),
            r.failures.len(),
            by.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            engine.metrics().breaker_transitions,
            sim.stats().matching("/api/packages/**"),
            sim.stats().matching("/pypi/**"),
            unavailable(r),
        );
        let _ = std::io::stdout().flush();
    };
    row("first", d1, &first, &by, with_ra, max_ra);
    let stats_first = fetch_stats(&engine, Upstream::Pypistats);
    let first_failures = first.failures.len();
    if first_failures > 0 {
        let wait = Duration::from_secs(max_ra + 1).min(Duration::from_secs(opts.pick(0, 90)));
        let waited = Instant::now();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let waited = waited.elapsed();
        let t1 = Instant::now();
        let second = engine.overview(&names).await;
        let d2 = t1.elapsed();
        if let Ok(second) = second {
            let (by2, max_ra2, with_ra2) = summarize(&second);
            row(
                &format!("again after {:.0} s", waited.as_secs_f64()),
                d2,
                &second,
                &by2,
                with_ra2,
                max_ra2,
            );
        }
    }
    let s = fetch_stats(&engine, Upstream::Pypistats);
    println!();
    println!(
        "pypistats fetch counters after the first ask: {} requests, {} deferred, {} queued, queue length {}; \
         at the end: {} requests, {} deferred, {} queued, queue length {}, {} failures. The simulator \
         enforces 5/s and 30/min on pypistats (429 past it): any 429 would show as a failure or an \
         unavailable item. {}",
        stats_first.requests,
        stats_first.deferred,
        stats_first.queued,
        stats_first.queue_len,
        s.requests,
        s.deferred,
        s.queued,
        s.queue_len,
        s.failures,
        if opts.quick {
            "Quick mode: no wait before the second ask."
        } else {
            "The wait before the second ask is the largest retry_after, capped at 90 s."
        }
    );
    engine.shutdown().await;
    sim.shutdown().await;
}

// ---- scenario 9: abandoned calls under a hang --------------------------------------------------

async fn abandoned(opts: &Opts) {
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

// ---- scenario 10: 50,000 packages' series ---------------------------------------------------

async fn series(opts: &Opts) {
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

// ---- shared by soak and chaos: a mixed workload ------------------------------------------------

/// A small deterministic generator (xorshift64*), so runs repeat without a new dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Counts by key, printed as `key n, key n`.
#[derive(Default)]
struct Tally(std::collections::BTreeMap<String, u64>);

impl Tally {
    fn add(&mut self, k: impl Into<String>) {
        *self.0.entry(k.into()).or_default() += 1;
    }

    fn merge(&mut self, o: Tally) {
        for (k, v) in o.0 {
            *self.0.entry(k).or_default() += v;
        }
    }

    fn total(&self) -> u64 {
        self.0.values().sum()
    }

    fn show(&self) -> String {
        if self.0.is_empty() {
            return "-".into();
        }
        self.0
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every engine call the mixed workload makes (each upstream is reached by one of them).
const ENGINE_OPS: [&str; 9] = [
    "package_info",
    "versions",
    "recent_downloads",
    "download_trend",
    "download_breakdown",
    "dependencies",
    "top_packages",
    "overview(5)",
    "document(pepy)",
];

/// One engine call of kind `op`; `answer <label>` or `error <code>`.
async fn engine_op(e: &EngineHandle, op: usize, names: &[String], rng: &mut Rng) -> String {
    use sentinel_actors::StatsKind;
    let name = &names[rng.below(names.len())];
    let answer =
        |l: sentinel_actors::SourceLabel| format!("answer {}", Outcome::of_label(l).word());
    let error = |err: &sentinel_actors::QueryError| {
        use sentinel_actors::UnavailableCause as C;
        match (err.code(), err.cause()) {
            ("unavailable", Some(C::BreakerOpen { .. })) => {
                "error unavailable (breaker open)".to_string()
            }
            ("unavailable", Some(C::Restarting)) => "error unavailable (restarting)".to_string(),
            ("unavailable", Some(C::Cancelled)) => "error unavailable (cancelled)".to_string(),
            ("internal", _) => format!("error internal ({})", err.reason()),
            (code, _) => format!("error {code}"),
        }
    };
    match op % ENGINE_OPS.len() {
        0 => e
            .package_info(name, None)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.label())),
        1 => e
            .versions(name)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.label())),
        2 => e
            .recent_downloads(name)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.source)),
        3 => e
            .download_trend(name, 30)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.label())),
        4 => e
            .download_breakdown(name, StatsKind::PythonMinor, 30)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.label())),
        5 => e
            .dependencies(name, None, None)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.label())),
        6 => e
            .top_packages(50)
            .await
            .map_or_else(|x| error(&x), |d| answer(d.label())),
        7 => {
            let batch: Vec<String> = (0..5)
                .map(|_| names[rng.below(names.len())].clone())
                .collect();
            e.overview(&batch)
                .await
                .map_or_else(|x| error(&x), |r| answer(r.source))
        }
        _ => {
            let q = Query::Pepy(PackageName::parse(name).expect("valid name"));
            e.document(q)
                .await
                .map_or_else(|x| error(&x), |a| answer(a.provenance.label()))
        }
    }
}

/// The MCP tools of the soak, with their arguments.
fn mcp_op(rng: &mut Rng, names: &[String]) -> (&'static str, serde_json::Value) {
    let name = names[rng.below(names.len())].clone();
    match rng.below(11) {
        0 => ("get_package_info", serde_json::json!({ "package": name })),
        1 => (
            "get_package_versions",
            serde_json::json!({ "package": name }),
        ),
        2 => (
            "get_download_statistics",
            serde_json::json!({ "package": name }),
        ),
        3 => (
            "get_download_trends",
            serde_json::json!({ "package": name, "days": 30 }),
        ),
        4 => (
            "get_download_breakdown",
            serde_json::json!({ "package": name, "by": "system" }),
        ),
        5 => (
            "get_package_dependencies",
            serde_json::json!({ "package": name }),
        ),
        6 => (
            "check_package_python_compatibility",
            serde_json::json!({ "package": name, "python_version": "3.12" }),
        ),
        7 => (
            "get_top_downloaded_packages",
            serde_json::json!({ "limit": 20 }),
        ),
        8 => {
            let batch: Vec<String> = (0..5)
                .map(|_| names[rng.below(names.len())].clone())
                .collect();
            (
                "get_packages_overview",
                serde_json::json!({ "packages": batch }),
            )
        }
        9 => ("health_check", serde_json::json!({})),
        _ => ("get_cache_stats", serde_json::json!({})),
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Latencies in a fixed-size log histogram (100 buckets per decade, 1 ns to 1,000 s:
/// values within 2.3 %), so that a long soak does not grow the harness's own memory,
/// which is in the RSS it measures.
struct LogHist {
    counts: Vec<u64>,
    n: u64,
}

impl Default for LogHist {
    fn default() -> Self {
        LogHist {
            counts: vec![0; 1_201],
            n: 0,
        }
    }
}

impl LogHist {
    fn bucket(d: Duration) -> usize {
        let ns = d.as_nanos().max(1) as f64;
        ((ns.log10() * 100.0) as usize).min(1_200)
    }

    fn add(&mut self, d: Duration) {
        self.counts[Self::bucket(d)] += 1;
        self.n += 1;
    }

    fn merge(&mut self, o: &LogHist) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.n += o.n;
    }

    /// Nearest-rank percentile, as the upper edge of its bucket.
    fn pct(&self, p: f64) -> Duration {
        let rank = ((p * self.n as f64).ceil() as u64).clamp(1, self.n.max(1));
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_nanos(10f64.powf((i + 1) as f64 / 100.0) as u64);
            }
        }
        Duration::ZERO
    }
}

/// What the workers of the soak and chaos runs bring back.
#[derive(Default)]
struct WorkerOut {
    lat: LogHist,
    outcomes: Tally,
    /// Calls that took longer than the deadline (+50 ms), or never answered.
    past_deadline: u64,
    slowest: Duration,
}

impl WorkerOut {
    fn record(&mut self, lat: Duration, outcome: String) {
        if lat > DEADLINE + SLACK {
            self.past_deadline += 1;
        }
        self.slowest = self.slowest.max(lat);
        self.lat.add(lat);
        self.outcomes.add(outcome);
    }

    fn merge(&mut self, o: WorkerOut) {
        self.lat.merge(&o.lat);
        self.outcomes.merge(o.outcomes);
        self.past_deadline += o.past_deadline;
        self.slowest = self.slowest.max(o.slowest);
    }
}

/// Bounds one call: past the deadline plus 5 s the harness stops waiting and counts it
/// as never answered.
async fn bounded<F: Future<Output = String>>(f: F) -> (Duration, String) {
    let s = Instant::now();
    match tokio::time::timeout(DEADLINE + Duration::from_secs(5), f).await {
        Ok(o) => (s.elapsed(), o),
        Err(_) => (s.elapsed(), "no answer (harness gave up)".into()),
    }
}

// ---- scenario 11: soak ---------------------------------------------------------------------------

/// Least-squares slope of `(t, y)` in y-units per second.
fn slope(points: &[(f64, f64)]) -> f64 {
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
fn soak_faults(cycle: u64) -> Vec<FaultSpec> {
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

async fn soak(opts: &Opts) {
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

// ---- scenario 12: chaos ------------------------------------------------------------------------

/// Every actor the chaos run panics, with the proxy for the messages it handles.
fn chaos_kinds() -> Vec<sentinel_actors::ActorKind> {
    use sentinel_actors::ActorKind;
    let mut v = vec![ActorKind::Router, ActorKind::Health];
    v.extend(Upstream::ALL.iter().map(|u| ActorKind::Fetch(*u)));
    v
}

/// Messages an actor has handled, estimated from counters (a lower bound): the router
/// gets at least one message per cache lookup that is not a fresh hit (stale or miss);
/// a FetchActor one per fetch request of its upstream; the HealthActor one outcome
/// event per fetch request.
fn chaos_messages(e: &EngineHandle, kind: sentinel_actors::ActorKind) -> u64 {
    use sentinel_actors::ActorKind;
    let m = e.metrics();
    match kind {
        ActorKind::Router => m.cache.stale_hits + m.cache.misses,
        ActorKind::Health => m.upstreams.iter().map(|u| u.requests).sum(),
        ActorKind::Fetch(up) => m.upstreams[up.index()].requests,
    }
}

async fn chaos(opts: &Opts) {
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

// ---- main -----------------------------------------------------------------------------------

// ---- resolve -------------------------------------------------------------------------

/// `uv pip compile` of `req` against the simulator; `None` when uv is not installed
/// (`pip install uv`) or fails.
fn uv_compile(base: &str, req: &str, cache: &std::path::Path, no_cache: bool) -> Option<Duration> {
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
async fn resolve(opts: &Opts) {
    use sentinel_actors::views::resolve::{ResolutionStatus, ResolveRequest};
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let base = sim.base_url();
    sim.add_fault(FaultSpec {
        latency_ms: Some(5),
        ..FaultSpec::on("/**")
    });
    let runs = opts.pick(2, 10);
    let mut req = ResolveRequest::new(["sg-tree-00"]);
    req.python = Some("3.12".into());
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

fn main() {
    if let Ok(n) = std::env::var(CHILD_SIM_ENV) {
        child_sim_main(n.parse().expect("synthetic count"));
        return;
    }
    let opts = Opts::from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    rt.block_on(async {
        println!(
            "# pypi-sentinel load harness ({} mode)",
            if opts.quick { "quick" } else { "full" }
        );
        let mut lap = Instant::now();
        let mut lap_note = |name: &str| {
            eprintln!(
                "load harness: {name} took {:.1} s",
                lap.elapsed().as_secs_f64()
            );
            lap = Instant::now();
        };
        // Memory first, while this process holds nothing else.
        if opts.wants("memory") {
            memory(&opts).await;
            lap_note("memory");
        }
        if opts.wants("series") && !opts.quick {
            series(&opts).await;
            lap_note("series");
        }
        // Disjoint ranges of synthetic names per scenario, so nothing is cached by accident.
        let hot_n = opts.pick(1_000, 5_000);
        let cold_n = opts.pick(1_500, 8_000);
        let breaker_n = 200;
        let storm_n = opts.pick(600, 5_000);
        let outage_n = opts.pick(2_500, 20_500);
        let mut at = 0;
        let mut range = |n: usize| {
            let r = at..at + n;
            at += n;
            r
        };
        let hot_r = range(hot_n);
        let cold_r = range(cold_n);
        let herd_r = range(1);
        let breaker_r = range(breaker_n);
        let storm_r = range(storm_n);
        let outage_r = range(outage_n);
        let synthetic = at;
        let sim = Sim::start(SimConfig {
            synthetic,
            ..Default::default()
        })
        .await
        .expect("sim starts");
        println!(
            "simulator at {} with {synthetic} synthetic packages; RSS at start {:.1} MiB",
            sim.base_url(),
            mib(rss_bytes())
        );
        if opts.wants("hot") {
            hot(&opts, &sim, hot_r.len()).await;
            lap_note("hot");
        }
        if opts.wants("mcp") {
            mcp(&opts, &sim).await;
            lap_note("mcp");
        }
        if opts.wants("cold") {
            cold(&opts, &sim, cold_r).await;
            lap_note("cold");
        }
        if opts.wants("herd") {
            herd(&sim, synth(herd_r.start)).await;
            lap_note("herd");
        }
        if opts.wants("breaker") {
            breaker(&opts, &sim, breaker_r).await;
            lap_note("breaker");
        }
        if opts.wants("storm") {
            storm(&opts, &sim, storm_r).await;
            lap_note("storm");
        }
        if opts.wants("outage") {
            outage(&opts, &sim, outage_r).await;
            lap_note("outage");
        }
        if opts.wants("faults") {
            faults(&opts).await;
            lap_note("faults");
        }
        if opts.wants("overview") {
            overview(&opts).await;
            lap_note("overview");
        }
        if opts.wants("abandoned") {
            abandoned(&opts).await;
            lap_note("abandoned");
        }
        if opts.wants("resolve") {
            resolve(&opts).await;
            lap_note("resolve");
        }
        sim.shutdown().await;
        // Chaos is left out of `--quick` unless named (`--quick --only chaos`): CI's run
        // must stay well under a minute, and the soak already takes 20 s of it.
        if opts.wants("chaos") && (!opts.quick || opts.only.is_some()) {
            chaos(&opts).await;
            lap_note("chaos");
        }
        if opts.wants("soak") {
            soak(&opts).await;
            lap_note("soak");
        }
    });
    println!();
    println!("total time {:.1} s", started.elapsed().as_secs_f64());
}
