//! The query commands: start an engine, build the question the command names (the
//! same types the MCP tools take, `crate::questions`), ask it, print the answer
//! (`print.rs`), stop.

use std::io::IsTerminal;
use std::time::Instant;

use sentinel_actors::{Engine, EngineConfig, EngineHandle};

use super::output;
use super::{Exit, Failure, Query};
use crate::questions::{self, Ask, split_spec};

/// Runs a query command against a fresh engine.
pub(super) async fn run(cfg: EngineConfig, q: Query, json: bool) -> Result<(), Failure> {
    let engine = Engine::start(cfg)
        .await
        .map_err(|e| Failure::new(Exit::Config, e.to_string()))?;
    let started = Instant::now();
    let result = ask(&engine, q, json).await;
    if !json && std::io::stderr().is_terminal() {
        eprintln!("({} ms)", started.elapsed().as_millis());
    }
    engine.shutdown().await;
    result
}

/// Asks `q` and prints its answer, one path for every question: the answer as JSON
/// with `--json`, else its table (both cleaned of escape sequences); then its exit.
pub(super) async fn show<Q: Ask>(engine: &EngineHandle, q: Q, json: bool) -> Result<(), Failure> {
    let a = super::progress::while_waiting(engine, Q::TOOL, json, q.ask(engine)).await?;
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

/// [`show`] on an engine of its own, for a command outside the query group.
pub(super) async fn once<Q: Ask>(cfg: EngineConfig, q: Q, json: bool) -> Result<(), Failure> {
    let engine = Engine::start(cfg)
        .await
        .map_err(|e| Failure::new(Exit::Config, e.to_string()))?;
    let r = show(&engine, q, json).await;
    engine.shutdown().await;
    r
}

async fn ask(engine: &EngineHandle, q: Query, json: bool) -> Result<(), Failure> {
    match q {
        Query::Info { spec } => {
            let (package, version) = split_spec(&spec)?;
            show(engine, questions::Info { package, version }, json).await?;
        }
        Query::Versions {
            name,
            stable,
            no_prereleases,
            no_yanked,
            limit,
        } => {
            let q = questions::Versions {
                package: name,
                include_prereleases: Some(!(stable || no_prereleases)),
                include_yanked: Some(!(stable || no_yanked)),
                limit,
            };
            show(engine, q, json).await?;
        }
        Query::Deps { spec, target } => {
            let (package, version) = split_spec(&spec)?;
            let q = questions::Deps {
                package,
                version,
                target: target.target()?,
            };
            show(engine, q, json).await?;
        }
        Query::Docs {
            spec,
            max_tokens,
            with_deps,
            target,
        } => {
            let (package, version) = split_spec(&spec)?;
            if with_deps {
                let q = questions::DocsContext {
                    package,
                    version,
                    target: target.target()?,
                    max_tokens,
                };
                return show(engine, q, json).await;
            }
            let q = questions::Docs {
                package,
                version,
                max_tokens,
            };
            show(engine, q, json).await?;
        }
        Query::Python { spec, check } => {
            let (package, version) = split_spec(&spec)?;
            match check {
                Some(python_version) => {
                    let q = questions::PythonCheck {
                        package,
                        version,
                        python_version,
                    };
                    show(engine, q, json).await?;
                }
                None => {
                    let q = questions::Pythons { package, version };
                    show(engine, q, json).await?;
                }
            }
        }
        Query::Downloads { name, period } => {
            let q = questions::Downloads {
                package: name,
                period,
            };
            show(engine, q, json).await?;
        }
        Query::Breakdown { name, by, days } => {
            let q = questions::Breakdown {
                package: name,
                by,
                days: Some(days),
            };
            show(engine, q, json).await?;
        }
        Query::Trends { name, days } => {
            let q = questions::Trend {
                package: name,
                days: Some(days),
            };
            show(engine, q, json).await?;
        }
        Query::Top { limit } => {
            let q = questions::Top { limit: Some(limit) };
            show(engine, q, json).await?;
        }
        Query::Overview { names } => {
            if std::io::stderr().is_terminal() && !json {
                eprintln!("querying {} packages...", names.len());
            }
            let q = questions::Overview { packages: names };
            show(engine, q, json).await?;
        }
        Query::Health => show(engine, questions::Health {}, json).await?,
    }
    Ok(())
}
