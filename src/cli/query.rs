//! The query commands: start an engine, run the command (`crate::questions`: each
//! builds its question from its flags and prints its answer with `questions::show`),
//! stop.

use std::io::IsTerminal;
use std::time::Instant;

use sentinel_actors::{Engine, EngineConfig};

use super::{Exit, Failure};
use crate::questions::Command;

/// Runs a query command against a fresh engine.
pub(super) async fn run(mut cfg: EngineConfig, mut q: Command, json: bool) -> Result<(), Failure> {
    q.configure(&mut cfg)?;
    let engine = Engine::start(cfg)
        .await
        .map_err(|e| Failure::new(Exit::Config, e.to_string()))?;
    let started = Instant::now();
    let result = q.run(&engine, json).await;
    if !json && std::io::stderr().is_terminal() {
        eprintln!("({} ms)", started.elapsed().as_millis());
    }
    engine.shutdown().await;
    result
}
