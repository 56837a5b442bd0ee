//! Embedding the engine in another Rust service, run against the bundled simulator so
//! it needs no network: `cargo run -p sentinel-actors --example embed`.
//!
//! Against real PyPI, drop the simulator and use `EngineConfig::default()`.

use sentinel_actors::{Engine, EngineConfig};
use sentinel_sim::{FaultSpec, Sim, SimConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Sim::start(SimConfig::default()).await?;
    let mut cfg = EngineConfig::default().with_origin(&sim.base_url());
    // A short freshness for download figures, so the outage below finds them stale
    // within a second (by default a figure stays fresh until pypistats' next daily
    // update is due, 24 h at most).
    cfg.cache.downloads_ttl_ms = 500;
    let engine = Engine::start(cfg).await?;

    let info = engine.package_info("numpy", None).await?;
    println!(
        "{} {}: {} [{}]",
        info.value.name,
        info.value.version,
        info.value.summary.as_deref().unwrap_or(""),
        info.provenance.word()
    );

    let downloads = engine.recent_downloads("numpy").await?;
    println!(
        "last month: {:?} [{}] (simulated figures)",
        downloads.last_month.value,
        downloads.last_month.provenance.word()
    );

    // pypistats goes down: the engine still answers, and says how.
    sim.add_fault(FaultSpec {
        route: "/api/packages/**".into(),
        status: Some(502),
        ..Default::default()
    });
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let during = engine.recent_downloads("numpy").await?;
    println!(
        "during the outage: {:?} [{}]",
        during.last_month.value,
        during.last_month.provenance.word()
    );

    engine.shutdown().await;
    sim.shutdown().await;
    Ok(())
}
