//! The questions a user can ask, one type per kind and one file per question, shared
//! by the two front ends. Each question's file is the one home of everything about it
//! but the engine's walk: its arguments (the doc comments are the MCP input schema),
//! the tool's description, its CLI command and flags, its MCP text and CLI table, and
//! its exit.
//!
//! This file is the registry: [`each`] lists the questions served as MCP tools (the
//! tool list is built from it, `mcp::tools`), and [`commands!`] the CLI commands that
//! ask them. A new question is its file plus one line in each list (docs/ARCHITECTURE.md,
//! section 9).

/// `write!` into a `String` (a CLI table built as text, printed once).
macro_rules! w {
    ($s:expr, $($t:tt)*) => {{ let _ = std::fmt::Write::write_fmt(&mut $s, format_args!($($t)*)); }};
}
/// `writeln!` into a `String`.
macro_rules! ln {
    ($s:expr, $($t:tt)*) => {{ w!($s, $($t)*); $s.push('\n'); }};
}

mod audit;
mod deps;
mod docs;
mod download;
mod downloads;
mod info;
mod ops;
mod overview;
mod python;
mod resolve;
mod scan;
mod top;
mod versions;
mod vulns_sync;
mod why;

pub use audit::Audit;
pub(crate) use audit::audit_text;
pub use deps::Deps;
pub use docs::{Docs, DocsContext};
pub use download::Download;
pub use downloads::{Breakdown, BreakdownBy, Downloads, Period, Trend};
pub use info::Info;
pub use ops::{Cache, Health, Metrics, Ready, Refresh};
pub use overview::Overview;
pub use python::{PythonCheck, Pythons};
pub use resolve::{Resolve, Vulns};
pub use scan::{Check, Project, Scan};
pub use top::Top;
pub use versions::{Versions, VersionsAnswer};
pub use why::Why;

use std::future::Future;

use schemars::JsonSchema;
use sentinel_actors::{EngineConfig, EngineHandle, InputError, QueryError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A question as both front ends serve it, through one generic path each: the MCP tool
/// (`SentinelMcp::serve`: the structured content and, beside it, the text; the tool's
/// output schema is derived from [`Output`](Ask::Output)) and the CLI command
/// ([`show`]: the table, or the answer as JSON with `--json`, then the exit).
/// Its file is the one home of its words.
pub(crate) trait Ask: DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// The MCP tool that asks it.
    const TOOL: &'static str;
    /// The tool's description, as an assistant reads it in `tools/list`.
    const DESCRIPTION: &'static str;
    /// What calling the tool does, for the client's hints.
    const HINTS: Hints = Hints::LOOKUP;
    /// What the CLI's spinner says it is doing while it waits (`resolving`...).
    const DOING: &'static str = Self::TOOL;
    /// A download: the CLI shows its bytes as they come, not only its requests.
    const DOWNLOADS: bool = false;
    /// What the engine answers; the CLI's `--json` prints it as it is.
    type Answer: Serialize + Send + Sync + 'static;
    /// The MCP structured content of an answer.
    type Output<'a>: Serialize + JsonSchema;

    /// Asks the engine.
    fn ask(
        &self,
        engine: &EngineHandle,
    ) -> impl Future<Output = Result<Self::Answer, QueryError>> + Send;

    /// The structured content of an answer (MCP).
    fn output<'a>(&self, a: &'a Self::Answer) -> Self::Output<'a>;

    /// The short text beside it (MCP): the answer in a few lines, and how fresh it is.
    fn text(&self, a: &Self::Answer) -> String;

    /// What the CLI prints: a table or a few lines (by default the MCP text).
    fn table(&self, a: &Self::Answer) -> String {
        self.text(a)
    }

    /// The CLI's exit once the answer is printed (partial, no solution...); by default
    /// success.
    fn exit(&self, _a: &Self::Answer) -> Result<(), crate::terminal::Failure> {
        Ok(())
    }
}

/// What a tool call does, as MCP's tool annotations say it to the client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hints {
    /// It changes nothing.
    pub(crate) read_only: bool,
    /// It reaches outside the server (the upstreams).
    pub(crate) open_world: bool,
    /// For a tool that changes something: calling it twice is the same as once.
    pub(crate) idempotent: Option<bool>,
}

impl Hints {
    /// A question to the upstreams (or the copies of their answers).
    pub(crate) const LOOKUP: Hints = Hints {
        read_only: true,
        open_world: true,
        idempotent: None,
    };
    /// A question about the server itself.
    pub(crate) const OWN_STATE: Hints = Hints {
        read_only: true,
        open_world: false,
        idempotent: None,
    };
    /// Writes a file where the configuration allows (the same file again: idempotent).
    pub(crate) const WRITES_FILE: Hints = Hints {
        read_only: false,
        open_world: true,
        idempotent: Some(true),
    };
    /// Drops the server's own copies (never anything else).
    pub(crate) const OWN_STATE_RESET: Hints = Hints {
        read_only: false,
        open_world: false,
        idempotent: Some(true),
    };
}

/// What [`each`] shows every question to: the MCP server builds its tool list with one.
pub(crate) trait Visit {
    /// Question `Q`, served as tool `Q::TOOL`.
    fn question<Q: Ask>(&mut self);
}

/// Every question served as an MCP tool, in the order `tools/list` gives them. A new
/// question adds its line here.
pub(crate) fn each(v: &mut impl Visit) {
    v.question::<Info>();
    v.question::<Versions>();
    v.question::<Deps>();
    v.question::<Docs>();
    v.question::<DocsContext>();
    v.question::<PythonCheck>();
    v.question::<Pythons>();
    v.question::<Downloads>();
    v.question::<Trend>();
    v.question::<Breakdown>();
    v.question::<Top>();
    v.question::<Overview>();
    v.question::<Resolve>();
    v.question::<Why>();
    v.question::<Vulns>();
    v.question::<Scan>();
    v.question::<Check>();
    v.question::<Audit>();
    v.question::<Download>();
    v.question::<Health>();
    v.question::<Ready>();
    v.question::<Metrics>();
    v.question::<Cache>();
    v.question::<Refresh>();
}

/// A CLI command that asks a question: its flags are the command's arguments (clap),
/// and `run` builds the question from them, asks it and prints the answer
/// (usually [`show`], the one printing path).
pub(crate) trait Run: clap::Args {
    /// Adjusts the engine's configuration before it starts (a project path the
    /// command may read); by default nothing.
    fn configure(&mut self, _cfg: &mut EngineConfig) -> Result<(), crate::terminal::Failure> {
        Ok(())
    }

    /// Runs the command on `engine`; `json` prints the answer as JSON.
    fn run(
        self,
        engine: &EngineHandle,
        json: bool,
    ) -> impl Future<Output = Result<(), crate::terminal::Failure>> + Send;
}

/// The query commands: each is the flags of a command (in its question's file, with
/// its [`Run`]; the flags' doc comment is the command's help), in `--help`'s order.
/// A new question adds its line here.
macro_rules! commands {
    ($($name:ident($flags:ty),)*) => {
        /// The query commands (info, versions, deps, docs, python, downloads,
        /// breakdown, trends, top, overview, resolve, why, vulns, health, scan, check, audit, download).
        #[derive(clap::Subcommand, Debug)]
        pub(crate) enum Command {
            $($name($flags),)*
        }

        impl Command {
            /// Adjusts the engine's configuration before it starts.
            pub(crate) fn configure(
                &mut self,
                cfg: &mut EngineConfig,
            ) -> Result<(), crate::terminal::Failure> {
                match self {
                    $(Command::$name(flags) => flags.configure(cfg),)*
                }
            }

            /// Runs the command on `engine`.
            pub(crate) async fn run(
                self,
                engine: &EngineHandle,
                json: bool,
            ) -> Result<(), crate::terminal::Failure> {
                match self {
                    $(Command::$name(flags) => flags.run(engine, json).await,)*
                }
            }
        }
    };
}

commands! {
    Info(info::InfoFlags),
    Versions(versions::VersionsFlags),
    Deps(deps::DepsFlags),
    Docs(docs::DocsFlags),
    Python(python::PythonFlags),
    Downloads(downloads::DownloadsFlags),
    Breakdown(downloads::BreakdownFlags),
    Trends(downloads::TrendsFlags),
    Top(top::TopFlags),
    Overview(overview::OverviewFlags),
    Resolve(resolve::ResolveFlags),
    Why(why::WhyFlags),
    Vulns(resolve::VulnsFlags),
    Health(ops::HealthFlags),
    Scan(scan::ScanFlags),
    Check(scan::CheckFlags),
    Audit(audit::AuditFlags),
    Download(download::DownloadFlags),
}

/// Asks `q` and prints its answer, one path for every question: the answer as JSON
/// with `--json`, else its table (both cleaned of escape sequences); then its exit.
pub(crate) async fn show<Q: Ask>(
    engine: &EngineHandle,
    q: Q,
    json: bool,
) -> Result<(), crate::terminal::Failure> {
    let a = if Q::DOWNLOADS {
        crate::terminal::progress::while_downloading(engine, json, q.ask(engine)).await?
    } else {
        crate::terminal::progress::while_waiting(engine, Q::DOING, json, q.ask(engine)).await?
    };
    let text = if json {
        let s =
            serde_json::to_string_pretty(&a).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s + "\n"
    } else {
        q.table(&a)
    };
    crate::terminal::output::emit(&crate::terminal::output::clean(&text, true));
    q.exit(&a)
}

/// Splits the CLI's `NAME==VERSION` into a package and an optional version.
pub fn split_spec(spec: &str) -> Result<(String, Option<String>), QueryError> {
    match spec.split_once("==") {
        None => Ok((spec.to_string(), None)),
        Some((n, v)) if !n.is_empty() && !v.is_empty() => Ok((n.to_string(), Some(v.to_string()))),
        Some(_) => Err(InputError {
            param: "package",
            value: sentinel_actors::clip_echo(spec),
            rule: "write NAME or NAME==VERSION".into(),
        }
        .into()),
    }
}
