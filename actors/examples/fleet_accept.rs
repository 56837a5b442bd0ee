//! FLEET.md section 6's acceptance runs that need minutes, not a test: a real
//! `redis-server` on a free loopback port, one simulator, in-process replicas with the
//! shipped defaults (production retries, budgets and Redis deadline), each figure
//! beside the same run without Redis (the control).
//!
//! ```sh
//! cargo run --release -p sentinel-actors --example fleet_accept -- quota [SECS]   # A1
//! cargo run --release -p sentinel-actors --example fleet_accept -- restart        # A4
//! cargo run --release -p sentinel-actors --example fleet_accept -- redis-kill     # A5
//! cargo run --release -p sentinel-actors --example fleet_accept -- redis-stop     # A6
//! cargo run --release -p sentinel-actors --example fleet_accept -- hot            # A9
//! ```
//!
//! The simulator limits pypistats per client IP (5/s and 30/min, a moving window) and
//! every replica is 127.0.0.1, so it is the referee: one request too many is a 429.
//! Every run stops by itself.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use sentinel_actors::{Engine, EngineConfig, EngineHandle, QueryError, Upstream};
use sentinel_sim::{FaultSpec, Sim, SimConfig, SimHandle};

struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server)");
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Redis { child, port }
    }
    fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Redis::start_on(port)
    }
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) it: connections stay open, nothing
    /// answers meanwhile.
    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} redis-server");
    }
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The shipped defaults at the simulator: pypistats' real 5/s and 30/min windows,
/// production retries and budgets, the Redis deadline of 25 ms; no store.
fn config(sim: &SimHandle, redis: Option<&str>, id: &str) -> EngineConfig {
    let mut cfg = EngineConfig::default().with_origin(&sim.base_url());
    cfg.store.path = None;
    cfg.fleet.redis_url = redis.map(str::to_string);
    cfg.fleet.replica_id = id.to_string();
    cfg
}

async fn replicas(sim: &SimHandle, redis: Option<&str>, n: usize) -> Vec<EngineHandle> {
    let mut out = Vec::new();
    for i in 0..n {
        let cfg = config(sim, redis, &format!("r{i}"));
        out.push(Engine::start(cfg).await.expect("engine starts"));
    }
    out
}

fn pct(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// What a load's calls came to.
#[derive(Default)]
struct Tally {
    lat: Vec<Duration>,
    words: std::collections::BTreeMap<String, u64>,
    failed: Vec<String>,
}

impl Tally {
    fn add(&mut self, took: Duration, r: Result<&'static str, &QueryError>) {
        self.lat.push(took);
        let word = match r {
            Ok(w) => w.to_string(),
            Err(e) => {
                let code = e.code().as_str().to_string();
                if code != "deferred" {
                    self.failed.push(e.to_string());
                }
                code
            }
        };
        *self.words.entry(word).or_default() += 1;
    }
    fn merge(&mut self, o: Tally) {
        self.lat.extend(o.lat);
        for (k, v) in o.words {
            *self.words.entry(k).or_default() += v;
        }
        self.failed.extend(o.failed);
    }
    fn show(&mut self, label: &str, budget_ms: u64) {
        self.lat.sort();
        let over = self
            .lat
            .iter()
            .filter(|d| d.as_millis() as u64 > budget_ms + 50)
            .count();
        println!(
            "{label}: {} calls, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, over budget+50ms {over}, failed {}, answers {:?}",
            self.lat.len(),
            pct(&self.lat, 0.5),
            pct(&self.lat, 0.99),
            pct(&self.lat, 1.0),
            self.failed.len(),
            self.words
        );
        for f in self.failed.iter().take(3) {
            println!("  failed: {f}");
        }
    }
}

/// The simulator limiting pypistats per client IP (the quota's referee), 3,000
/// packages.
async fn referee_sim() -> SimHandle {
    Sim::start(SimConfig {
        pypistats_rate_limit: true,
        synthetic: 3000,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// pypistats requests that met a 429 (retried or failed), over all replicas.
fn pypistats_trouble(engines: &[EngineHandle]) -> u64 {
    engines
        .iter()
        .flat_map(|e| e.metrics().upstreams)
        .filter(|u| u.upstream == Upstream::Pypistats)
        .map(|u| u.retries + u.failures)
        .sum()
}

/// A1: 3 replicas × 16 clients asking download trends of never-seen packages, each
/// client one call per second, for `secs`; the simulator's arrivals sampled every
/// 100 ms for the busiest 1 s and 60 s.
async fn quota(secs: u64, fleet: bool) {
    let redis = Redis::start();
    let sim = referee_sim().await;
    let url = redis.url();
    let engines = replicas(&sim, fleet.then_some(url.as_str()), 3).await;
    let names = Arc::new(sim.package_names());
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for e in &engines {
        for _ in 0..16 {
            let (e, names, next, stop) = (e.clone(), names.clone(), next.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut t = Tally::default();
                while !stop.load(Relaxed) {
                    let n = &names[next.fetch_add(1, Relaxed) % names.len()];
                    let started = Instant::now();
                    let r = e.download_trend(n, 30).await;
                    t.add(started.elapsed(), r.as_ref().map(|d| d.provenance.word()));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                t
            }));
        }
    }
    // Arrivals every 100 ms.
    let mut samples = vec![0u64];
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        samples.push(sim.stats().matching("/api/packages/**"));
    }
    stop.store(true, Relaxed);
    let mut all = Tally::default();
    for t in tasks {
        all.merge(t.await.unwrap());
    }
    let busiest = |w: usize| {
        samples
            .windows(w + 1)
            .map(|s| s[w] - s[0])
            .max()
            .unwrap_or(*samples.last().unwrap())
    };
    let sent = *samples.last().unwrap();
    let label = if fleet { "fleet on " } else { "control  " };
    println!(
        "{label} A1 {secs} s: pypistats requests {sent} ({:.1}/min), busiest ~1 s {} (11 samples), busiest 60 s {}, 429s met {}",
        sent as f64 * 60.0 / secs as f64,
        busiest(10),
        busiest(600.min(samples.len() - 1)),
        pypistats_trouble(&engines)
    );
    all.show(&format!("{label} A1 calls"), 2_000);
    for e in engines {
        e.shutdown().await;
    }
}

/// A4: replica r0 warms 500 documents; then every upstream answers 502 and a new
/// replica starts: how it answers those 500.
async fn restart() {
    let redis = Redis::start();
    let sim = Sim::start(SimConfig {
        synthetic: 500,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = redis.url();
    let warm = &replicas(&sim, Some(&url), 1).await[0];
    let names = sim.package_names();
    for n in &names {
        warm.package_info(n, None).await.unwrap();
    }
    while warm.metrics().fleet.unwrap().l2_writes < names.len() as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.add_fault(FaultSpec {
        route: "/**".into(),
        status: Some(502),
        ..Default::default()
    });
    let before = sim.stats().total;
    let started = Instant::now();
    let fresh = Engine::start(config(&sim, Some(&url), "new"))
        .await
        .unwrap();
    let ready = started.elapsed();
    let mut t = Tally::default();
    let mut first = None;
    for n in &names {
        let s = Instant::now();
        let r = fresh.package_info(n, None).await;
        first.get_or_insert(started.elapsed() - ready);
        t.add(s.elapsed(), r.as_ref().map(|d| d.provenance.word()));
    }
    println!(
        "A4 warm restart: ready in {:.1} ms, first answer {:.2} ms after ready, upstream requests by the new replica {}",
        ready.as_secs_f64() * 1e3,
        first.unwrap().as_secs_f64() * 1e3,
        sim.stats().total - before
    );
    t.show("A4 calls", 2_000);
    fresh.shutdown().await;
}

/// A5: 60 s of mixed load (80 % a hot set, 20 % never-seen packages, a tenth of
/// those download trends) over 3 replicas; with the fleet on, Redis is killed at
/// 20 s and restarted empty at 40 s. A6 (`freeze`): frozen (`SIGSTOP`) at 20 s and
/// thawed at 40 s instead.
async fn redis_kill(fleet: bool, freeze: bool) {
    let mut redis = Redis::start();
    let port = redis.port;
    let sim = referee_sim().await;
    let url = redis.url();
    let engines = replicas(&sim, fleet.then_some(url.as_str()), 3).await;
    let names = Arc::new(sim.package_names());
    let hot: Vec<String> = names[..50].to_vec();
    for (i, n) in hot.iter().enumerate() {
        engines[i % 3].package_info(n, None).await.unwrap();
    }
    let hot = Arc::new(hot);
    let next = Arc::new(AtomicUsize::new(50));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for e in &engines {
        for c in 0..8u64 {
            let (e, names, hot, next, stop) = (
                e.clone(),
                names.clone(),
                hot.clone(),
                next.clone(),
                stop.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut t = Tally::default();
                let mut i = c;
                while !stop.load(Relaxed) {
                    i += 1;
                    let started = Instant::now();
                    let r = if i % 5 != 0 {
                        let n = &hot[(i * 7 % 50) as usize];
                        e.package_info(n, None).await.map(|d| d.provenance.word())
                    } else {
                        let n = &names[next.fetch_add(1, Relaxed) % names.len()];
                        if i % 50 == 0 {
                            e.download_trend(n, 30).await.map(|d| d.provenance.word())
                        } else {
                            e.package_info(n, None).await.map(|d| d.provenance.word())
                        }
                    };
                    t.add(started.elapsed(), r.as_ref().copied());
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                t
            }));
        }
    }
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let mut gate_closed_after = None;
    if fleet {
        if freeze {
            redis.signal("-STOP");
        } else {
            redis.kill();
        }
        tokio::time::sleep(Duration::from_secs(20)).await;
        if freeze {
            redis.signal("-CONT");
        } else {
            redis = Redis::start_on(port);
        }
        let back = Instant::now();
        while back.elapsed() < Duration::from_secs(20) {
            if engines
                .iter()
                .all(|e| e.metrics().fleet.unwrap().gate == "closed")
            {
                gate_closed_after = Some(back.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let rest = Duration::from_secs(60).saturating_sub(t0.elapsed());
    tokio::time::sleep(rest).await;
    stop.store(true, Relaxed);
    let mut all = Tally::default();
    for t in tasks {
        all.merge(t.await.unwrap());
    }
    let label = if fleet { "fleet on " } else { "control  " };
    let a = if freeze { "A6" } else { "A5" };
    all.show(&format!("{label} {a} 60 s mixed"), 2_000);
    println!(
        "{label} {a}: pypistats 429s met {}, upstream breaker transitions {}, upstream requests {}, gate closed on all 3 replicas {:?} after Redis returned",
        pypistats_trouble(&engines),
        engines
            .iter()
            .map(|e| e.metrics().breaker_transitions)
            .sum::<u64>(),
        sim.stats().total,
        gate_closed_after
    );
    if fleet {
        for e in &engines {
            let f = e.metrics().fleet.unwrap();
            println!(
                "  {}: mode {}, L2 hits {} misses {}, ops ok {} timeout {} error {} skipped {}, fair-share grants {}",
                f.replica_id,
                f.mode,
                f.l2_hits,
                f.l2_misses,
                f.ops_ok,
                f.ops_timeout,
                f.ops_error,
                f.ops_skipped,
                f.quota_local_share
            );
        }
    }
    drop(redis);
    for e in engines {
        e.shutdown().await;
    }
}

/// A9: a fresh hit in memory with the fleet on and off, alternating rounds.
async fn hot() {
    let redis = Redis::start();
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let url = redis.url();
    let off = Engine::start(config(&sim, None, "off")).await.unwrap();
    let on = Engine::start(config(&sim, Some(&url), "on")).await.unwrap();
    let name = sim.package_names().into_iter().next().unwrap();
    off.package_info(&name, None).await.unwrap();
    on.package_info(&name, None).await.unwrap();
    const N: usize = 100_000;
    let mut ratios = Vec::new();
    for round in 0..9 {
        // Alternate which goes first, so a drift in the machine's load hits both.
        let order = if round % 2 == 0 {
            [&off, &on]
        } else {
            [&on, &off]
        };
        let mut per = [0.0f64; 2];
        for e in order {
            let s = Instant::now();
            for _ in 0..N {
                std::hint::black_box(e.package_info(&name, None).await.unwrap());
            }
            let ns = s.elapsed().as_secs_f64() * 1e9 / N as f64;
            per[usize::from(std::ptr::eq(e, &on))] = ns;
        }
        println!(
            "A9 round {round}: fresh hit package_info off {:.0} ns, on {:.0} ns, on/off {:.3}",
            per[0],
            per[1],
            per[1] / per[0]
        );
        ratios.push(per[1] / per[0]);
    }
    ratios.sort_by(f64::total_cmp);
    println!("A9 median on/off over 9 rounds: {:.3}", ratios[4]);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("quota") => {
            let secs = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(300);
            quota(secs, true).await;
            quota(secs, false).await;
        }
        Some("restart") => restart().await,
        Some("redis-kill") => {
            redis_kill(true, false).await;
            redis_kill(false, false).await;
        }
        Some("redis-stop") => {
            redis_kill(true, true).await;
            redis_kill(false, true).await;
        }
        Some("hot") => hot().await,
        _ => {
            eprintln!("usage: fleet_accept quota [SECS] | restart | redis-kill | redis-stop | hot");
            std::process::exit(2);
        }
    }
}
