//! Runs the simulator on a fixed or free port until Ctrl-C.
//!
//! ```text
//! cargo run -p sentinel-sim --example serve -- [SCENARIO] [ADDR] [SYNTHETIC]
//! cargo run -p sentinel-sim --example serve -- pypistats-outage 127.0.0.1:8080 100
//! ```
//!
//! The first line on stdout is `listening on http://IP:PORT`.

use sentinel_sim::{Scenario, SimConfig, serve_until_ctrl_c};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let scenario: Scenario = match args.next() {
        Some(s) => s.parse()?,
        None => Scenario::Healthy,
    };
    let mut cfg = SimConfig::default();
    if let Some(addr) = args.next() {
        cfg.addr = addr.parse()?;
    }
    if let Some(n) = args.next() {
        cfg.synthetic = n.parse()?;
    }
    serve_until_ctrl_c(cfg, scenario).await?;
    Ok(())
}
