//! Load harness: drives the engine (and the MCP streamable HTTP server) against the
//! simulator on 127.0.0.1 and prints one table per scenario: throughput, p50/p99/p99.9
//! latency, upstream requests per client request, errors and RSS.
//!
//! ```text
//! cargo bench --bench load                 # full run, bounded (< 3 min)
//! cargo bench --bench load -- --quick      # smoke run for CI (< 30 s)
//! cargo bench --bench load -- --only hot,herd
//! ```
//!
//! Scenarios: `hot`, `mcp`, `cold`, `herd`, `breaker`, `storm`, `outage`, `memory`.
//! Every loop is bounded in count and in time; nothing touches the internet. Ratios are
//! measured in one run (DESIGN.md section 8); absolute figures drift on shared machines.

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

const CHILD_SIM_ENV: &str = "SENTINEL_LOAD_SIM_CHILD";

// ---- options ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Opts {
    quick: bool,
    only: Option<Vec<String>>,
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
        Opts { quick, only }
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
        .map(|u| (u.health.breaker.clone(), u.health.times_opened))
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

struct McpSession {
    client: reqwest::Client,
    url: String,
    session: Option<String>,
    protocol: String,
}

fn sse_json(body: &str) -> Option<serde_json::Value> {
    // A JSON body, or the `data:` lines of an SSE stream.
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body.trim()) {
        return Some(v);
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
        .find(|v| v.get("result").is_some() || v.get("error").is_some())
}

impl McpSession {
    async fn open(client: reqwest::Client, url: String) -> anyhow::Result<Self> {
        let init = serde_json::json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "sentinel-load", "version": "0"}
            }
        });
        let resp = client
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init.to_string())
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "initialize: {}", resp.status());
        let session = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.text().await?;
        let v = sse_json(&body).ok_or_else(|| anyhow::anyhow!("initialize body: {body}"))?;
        let protocol = v["result"]["protocolVersion"]
            .as_str()
            .unwrap_or("2025-03-26")
            .to_string();
        let mut s = McpSession {
            client,
            url,
            session,
            protocol,
        };
        let note = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let resp = s.post(note.to_string()).await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "initialized notification: {}",
            resp.status()
        );
        let _ = resp.bytes().await;
        s.protocol = s.protocol.clone();
        Ok(s)
    }

    async fn post(&self, body: String) -> reqwest::Result<reqwest::Response> {
        let mut rb = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", &self.protocol);
        if let Some(id) = &self.session {
            rb = rb.header("mcp-session-id", id);
        }
        rb.body(body).send().await
    }

    async fn call_tool(&self, id: u64, tool: &str, args: serde_json::Value) -> bool {
        let req = serde_json::json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": args}
        });
        let Ok(resp) = self.post(req.to_string()).await else {
            return false;
        };
        if !resp.status().is_success() {
            return false;
        }
        let Ok(body) = resp.text().await else {
            return false;
        };
        sse_json(&body).is_some_and(|v| {
            v.get("result").is_some() && v["result"]["isError"].as_bool() != Some(true)
        })
    }
}

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
            Duration::from_secs(opts.pick(3, 5)),
        ),
        (
            64,
            opts.pick(10_000, 100_000),
            Duration::from_secs(opts.pick(3, 10)),
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
    // Past the 6 h fresh TTL of download stats, well inside the 7-day stale retention.
    engine.age_cache(Duration::from_secs(7 * 3600));
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

// ---- main -----------------------------------------------------------------------------------

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
        // Memory first, while this process holds nothing else.
        if opts.wants("memory") {
            memory(&opts).await;
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
        }
        if opts.wants("mcp") {
            mcp(&opts, &sim).await;
        }
        if opts.wants("cold") {
            cold(&opts, &sim, cold_r).await;
        }
        if opts.wants("herd") {
            herd(&sim, synth(herd_r.start)).await;
        }
        if opts.wants("breaker") {
            breaker(&opts, &sim, breaker_r).await;
        }
        if opts.wants("storm") {
            storm(&opts, &sim, storm_r).await;
        }
        if opts.wants("outage") {
            outage(&opts, &sim, outage_r).await;
        }
        sim.shutdown().await;
    });
    println!();
    println!("total time {:.1} s", started.elapsed().as_secs_f64());
}
