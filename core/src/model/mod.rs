//! Domain types shared by every part of the engine: validated names and versions,
//! the queries the engine answers, provenance, and errors.
//!
//! Nothing here does I/O. Input validation lives here so that no string from a
//! caller reaches an upstream URL without having been checked first.

mod code;
pub mod date;
mod download_error;
pub mod env;
mod error;
pub mod limits;
mod name;
mod partial;
mod provenance;
mod query;
mod source;
mod target;
pub mod untrusted;

pub use code::ErrorCode;
pub use download_error::DownloadError;
pub use error::{HashMismatch, InputError, QueryError, Remembered, UnavailableCause};

/// Most characters of a value (a caller's or an upstream's) echoed back in an error or
/// a log line.
pub const ECHO_MAX_CHARS: usize = 200;

/// `value` cut to [`ECHO_MAX_CHARS`] characters, with the count of what was cut:
/// `aaaa… (3999800 more characters)`. A 4 MB name must not make an 8 MB reply. The one
/// cut used by the engine, MCP and the CLI; URLs in it are redacted first
/// ([`untrusted::redact_urls`]), so a credential in a requirement a client sent is not
/// echoed back in the error, nor written to the log line that records it.
pub fn clip_echo(value: &str) -> String {
    let value = &untrusted::redact_urls(value);
    match value.char_indices().nth(ECHO_MAX_CHARS) {
        None => value.to_string(),
        Some((cut, _)) => {
            let more = value[cut..].chars().count();
            format!("{}… ({more} more characters)", &value[..cut])
        }
    }
}
pub use date::{DAY_SECS, civil_from_days, day_start, day_string, days_from_civil, epoch_day};
pub use date::{DataAsOf, LAGGING_AFTER_DAYS};
pub use name::{PackageName, PackageVersion};
pub use partial::{ItemFailure, PartialResult};
pub use provenance::ago_words;
pub use provenance::{Confidence, Datum, Provenance, SourceLabel, StaleReason};
pub use query::{MetadataFile, Query, QueryKind, StatsKind};
pub use source::Upstream;
pub use target::{DEPS_TARGET, FILE_TARGET, RESOLVE_TARGET, Target, TargetField, TargetOnly};

#[cfg(test)]
mod tests {
    #[test]
    fn a_credential_in_an_echoed_value_is_redacted_before_the_cut() {
        let long = format!("pkg @ https://u:s3cr3t@h.invalid/{}", "x".repeat(500));
        let shown = super::clip_echo(&long);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.starts_with("pkg @ https://***@h.invalid/"), "{shown}");
        assert!(shown.ends_with("more characters)"), "{shown}");
    }
}
