//! The query commands: start an engine, build the question the command names (the
//! same types the MCP tools take, `crate::questions`), ask it, print the answer
//! (`print.rs`), stop.

use std::io::IsTerminal;
use std::time::Instant;

use sentinel_actors::{Engine, EngineConfig, EngineHandle};

use super::print;
use super::{Exit, Failure, Query};
use crate::questions::{self, split_spec};

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

async fn ask(engine: &EngineHandle, q: Query, json: bool) -> Result<(), Failure> {
    match q {
        Query::Info { spec } => {
            let (package, version) = split_spec(&spec)?;
            let d = questions::Info { package, version }.ask(engine).await?;
            print::info(&d, json);
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
            print::versions(&q.ask(engine).await?, json);
        }
        Query::Deps { spec, target } => {
            let (package, version) = split_spec(&spec)?;
            let q = questions::Deps {
                package,
                version,
                target: target.target()?,
            };
            print::deps(&q.ask(engine).await?, json);
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
                return print::docs_with_context(&q.ask(engine).await?, json);
            }
            let q = questions::Docs {
                package,
                version,
                max_tokens,
            };
            print::docs(&q.ask(engine).await?, json);
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
                    print::python_check(&q.ask(engine).await?, json);
                }
                None => {
                    let q = questions::Pythons { package, version };
                    print::pythons(&q.ask(engine).await?, json);
                }
            }
        }
        Query::Downloads { name, period } => {
            let q = questions::Downloads {
                package: name,
                period,
            };
            return print::downloads(&q.ask(engine).await?, period, json);
        }
        Query::Breakdown { name, by, days } => {
            let q = questions::Breakdown {
                package: name,
                by,
                days: Some(days),
            };
            print::breakdown(&q.ask(engine).await?, json);
        }
        Query::Trends { name, days } => {
            let q = questions::Trend {
                package: name,
                days: Some(days),
            };
            print::trend(&q.ask(engine).await?, json);
        }
        Query::Top { limit } => {
            let q = questions::Top { limit: Some(limit) };
            print::top(&q.ask(engine).await?, json);
        }
        Query::Overview { names } => {
            if std::io::stderr().is_terminal() && !json {
                eprintln!("querying {} packages...", names.len());
            }
            let q = questions::Overview { packages: names };
            return print::overview(&q.ask(engine).await?, q.packages.len(), json);
        }
        Query::Health => {
            let h = crate::secret::redact_health(engine.health().await);
            print::health(&h, json);
        }
    }
    Ok(())
}
