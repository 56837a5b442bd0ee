//! Domain types shared by every part of the engine: validated names and versions,
//! the queries the engine answers, provenance, and errors.
//!
//! Nothing here does I/O. Input validation lives here so that no string from a
//! caller reaches an upstream URL without having been checked first.

mod error;
mod name;
mod provenance;
mod query;

pub use error::{InputError, QueryError, UnavailableCause};

/// A caller's value echoed in an error: cut to 200 characters, with the full count.
pub(crate) fn clip_echo(s: &str) -> String {
    crate::upstream::clip(s)
}
pub use name::{PackageName, PackageVersion};
pub use provenance::{Confidence, Datum, Provenance, SourceLabel};
pub use query::{Query, QueryKind, StatsKind, Upstream};
