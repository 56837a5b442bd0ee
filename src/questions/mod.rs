//! The questions a user can ask, one type per kind and one file per question, shared
//! by the two front ends: the MCP tools deserialise a question from their arguments
//! (its doc comments are the schema an assistant reads), the CLI builds the same
//! question from its flags, and both call [`ask`](Info::ask) on it. The rules (limits,
//! Python versions, names) are checked once, by the engine's own types; the front ends
//! only word the answers (`mcp::render` for MCP text, `cli::print` for tables).
//!
//! The MCP tool names come from the `#[tool]` functions ([`crate::mcp::tool_names`]); each question says which tool
//! and command it serves.

mod deps;
mod docs;
mod download;
mod downloads;
mod info;
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
pub use overview::Overview;
pub use python::{PythonCheck, Pythons};
pub use top::Top;
pub use versions::{Versions, VersionsAnswer};
pub use why::Why;

use sentinel_actors::{InputError, QueryError};

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
