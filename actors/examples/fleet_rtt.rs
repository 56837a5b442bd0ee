//! What the fleet adds to a miss: a `redis-server` on a free loopback port, the
//! simulator (no added latency) and three engines. Prints p50/p90/p99 of
//! `package_info` for never-seen packages with the fleet off (one round trip to the
//! simulator), on (one get-or-lease round trip to Redis, then the simulator), and an
//! L2 hit (another replica's copy: Redis only, no upstream).
//!
//! `cargo run --release -p sentinel-actors --example fleet_rtt` (needs `redis-server`).

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sentinel_actors::{Engine, EngineConfig, EngineHandle, Upstream};
use sentinel_sim::{Sim, SimConfig};

const N: usize = 300;

fn config(origin: &str, redis: Option<&str>) -> EngineConfig {
    let mut cfg = sentinel_actors::testing::sim_config(origin);
    for up in Upstream::ALL {
        cfg.upstreams.get_mut(up).max_in_flight = 64;
    }
    cfg.fleet.redis_url = redis.map(str::to_string);
    cfg
}

async fn timed(engine: &EngineHandle, names: &[String]) -> Vec<Duration> {
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let t = Instant::now();
        engine.package_info(n, None).await.expect("answered");
        out.push(t.elapsed());
    }
    out.sort();
    out
}

fn show(label: &str, d: &[Duration]) {
    let p = |q: f64| d[((d.len() as f64 * q) as usize).min(d.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "{label:<44} p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms",
        p(0.5),
        p(0.9),
        p(0.99)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (Debian package redis-server)");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = format!("redis://127.0.0.1:{port}");
    let sim = Sim::start(SimConfig {
        synthetic: 3 * N,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let names = sim.package_names();
    let (a, b, c) = (&names[..N], &names[N..2 * N], &names[2 * N..3 * N]);
    let off = Engine::start(config(&sim.base_url(), None)).await.unwrap();
    let on = Engine::start(config(&sim.base_url(), Some(&url)))
        .await
        .unwrap();
    let reader = Engine::start(config(&sim.base_url(), Some(&url)))
        .await
        .unwrap();
    // Warm both paths (connections, scripts loaded) on a few packages first.
    timed(&off, &c[..20]).await;
    timed(&on, &c[20..40]).await;
    let off_t = timed(&off, a).await;
    let on_t = timed(&on, b).await;
    // Let the background L2 writes land, then another replica reads them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let l2_t = timed(&reader, b).await;
    println!("{N} calls each, sequential, simulator on loopback, no added latency:");
    show("cold miss, fleet off (upstream)", &off_t);
    show("cold miss, fleet on (get-or-lease + upstream)", &on_t);
    show("L2 hit on another replica (Redis only)", &l2_t);
    let f = reader.metrics().fleet.unwrap();
    println!(
        "reader: l2 hits {} misses {} rejected {}; last RTT {} us",
        f.l2_hits, f.l2_misses, f.l2_rejected, f.last_rtt_us
    );
    for e in [off, on, reader] {
        e.shutdown().await;
    }
    let _ = redis.kill();
    let _ = redis.wait();
}
