//! The questions a user can ask, one type per kind and one file per question, shared
//! by the two front ends: the MCP tools deserialise a question from their arguments
//! (its doc comments are the schema an assistant reads), the CLI builds the same
//! question from its flags, and both call [`ask`](Info::ask) on it. The rules (limits,
//! Python versions, names) are checked once, by the engine's own types; the front ends
//! only word the answers (`mcp::render` for MCP text, `cli::print` for tables).
//!
//! The MCP tool names come from the `#[tool]` functions ([`crate::mcp::tool_names`]); each question says which tool
//! and command it serves.

/// `write!` into a `String` (a CLI table built as text, printed once).
macro_rules! w {
    ($s:expr, $($t:tt)*) => {{ let _ = std::fmt::Write::write_fmt(&mut $s, format_args!($($t)*)); }};
}
/// `writeln!` into a `String`.
macro_rules! ln {
    ($s:expr, $($t:tt)*) => {{ w!($s, $($t)*); $s.push('\n'); }};
}

mod deps;
mod docs;
mod download;
mod downloads;
mod info;
mod ops;
mod overview;
mod python;
mod top;
mod versions;
mod why;

pub use deps::Deps;
pub use docs::{Docs, DocsContext};
pub use download::Download;
pub use downloads::{Breakdown, BreakdownBy, Downloads, Period, Trend};
pub use info::Info;
pub use ops::{Cache, Health, Metrics, Ready, Refresh};
pub use overview::Overview;
pub use python::{PythonCheck, Pythons};
pub use top::Top;
pub use versions::{Versions, VersionsAnswer};
pub use why::Why;

use std::future::Future;

use schemars::JsonSchema;
use sentinel_actors::{EngineHandle, InputError, QueryError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A question as both front ends serve it, through one generic path each: the MCP tool
/// (`SentinelMcp::serve`: the structured content and, beside it, the text; the tool's
/// output schema is derived from [`Output`](Ask::Output)) and the CLI command
/// (`cli::query::show`: the table, or the answer as JSON with `--json`, then the exit).
/// Its file is the one home of its words.
pub(crate) trait Ask: DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// The MCP tool that asks it (`mcp::tool_names` lists the tools from the `#[tool]`
    /// functions; a test checks each question's name is one of them).
    #[allow(
        dead_code,
        reason = "read by the test that checks it against the tool list"
    )]
    const TOOL: &'static str;
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
    fn exit(&self, _a: &Self::Answer) -> Result<(), crate::cli::Failure> {
        Ok(())
    }
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
