//! The query commands: start an engine, run the command (`crate::questions`: each
//! builds its question from its flags and calls [`show`]), stop. [`show`] is the one
//! path by which a question's answer is printed.

use std::io::IsTerminal;
use std::time::Instant;

use sentinel_actors::{Engine, EngineConfig, EngineHandle};

use super::output;
use super::{Exit, Failure};
use crate::questions::{Ask, Command};

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

/// Asks `q` and prints its answer, one path for every question: the answer as JSON
/// with `--json`, else its table (both cleaned of escape sequences); then its exit.
pub(crate) async fn show<Q: Ask>(engine: &EngineHandle, q: Q, json: bool) -> Result<(), Failure> {
    let a = if Q::DOWNLOADS {
        super::progress::while_downloading(engine, json, q.ask(engine)).await?
    } else {
        super::progress::while_waiting(engine, Q::DOING, json, q.ask(engine)).await?
    };
    let text = if json {
        let s =
            serde_json::to_string_pretty(&a).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s + "\n"
    } else {
        q.table(&a)
    };
    output::emit(&output::clean(&text, true));
    q.exit(&a)
}
