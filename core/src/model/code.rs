//! The machine-readable codes of errors and failed items: one enum, matched, never
//! compared as text. The wire strings (`not_found`, `deferred`, ...) are its serde names.

use serde::{Deserialize, Serialize};

/// What kind of failure an error or a failed item is. Serialised as its snake_case
/// name, the same string [`ErrorCode::as_str`] and `Display` give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The input was invalid; nothing was sent upstream.
    InvalidInput,
    /// The upstream says the package (or version) does not exist.
    NotFound,
    /// Our own rate limit deferred the request: nothing failed, ask again later.
    Deferred,
    /// No live, cached, stale or estimated answer could be given.
    Unavailable,
    /// The request deadline passed before an answer was ready.
    DeadlineExceeded,
    /// The engine is starting, shutting down or stopped.
    NotReady,
    /// A bug or an internal failure.
    Internal,
    /// A download's destination is not under an allowed directory.
    DirNotAllowed,
    /// A listed file name is not one plain file name.
    UnsafeFileName,
    /// A file's URL is on a host downloads may not come from.
    HostNotAllowed,
    /// No listed file fits the target.
    NoFileForTarget,
    /// The listing gives no sha256 (or URL) to verify the file with.
    Unverifiable,
    /// Every attempt's bytes hashed to something else than the listed sha256.
    Corrupt,
    /// The body ended before the announced or listed size.
    Truncated,
    /// The file is larger than allowed.
    Oversize,
    /// The file host did not send the file.
    TransferFailed,
    /// The file could not be written.
    WriteFailed,
    /// An audit's resolution stopped at a bound before an answer.
    Incomplete,
    /// Project files (or lines of them) could not be read.
    Unreadable,
    /// Declared packages past a bound were not checked.
    OverBound,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::InvalidInput,
        ErrorCode::NotFound,
        ErrorCode::Deferred,
        ErrorCode::Unavailable,
        ErrorCode::DeadlineExceeded,
        ErrorCode::NotReady,
        ErrorCode::Internal,
        ErrorCode::DirNotAllowed,
        ErrorCode::UnsafeFileName,
        ErrorCode::HostNotAllowed,
        ErrorCode::NoFileForTarget,
        ErrorCode::Unverifiable,
        ErrorCode::Corrupt,
        ErrorCode::Truncated,
        ErrorCode::Oversize,
        ErrorCode::TransferFailed,
        ErrorCode::WriteFailed,
        ErrorCode::Incomplete,
        ErrorCode::Unreadable,
        ErrorCode::OverBound,
    ];

    /// The code as written in output (its serde name).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Deferred => "deferred",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::DeadlineExceeded => "deadline_exceeded",
            ErrorCode::NotReady => "not_ready",
            ErrorCode::Internal => "internal",
            ErrorCode::DirNotAllowed => "dir_not_allowed",
            ErrorCode::UnsafeFileName => "unsafe_file_name",
            ErrorCode::HostNotAllowed => "host_not_allowed",
            ErrorCode::NoFileForTarget => "no_file_for_target",
            ErrorCode::Unverifiable => "unverifiable",
            ErrorCode::Corrupt => "corrupt",
            ErrorCode::Truncated => "truncated",
            ErrorCode::Oversize => "oversize",
            ErrorCode::TransferFailed => "transfer_failed",
            ErrorCode::WriteFailed => "write_failed",
            ErrorCode::Incomplete => "incomplete",
            ErrorCode::Unreadable => "unreadable",
            ErrorCode::OverBound => "over_bound",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire strings clients match on: changing one breaks them.
    #[test]
    fn every_error_code_keeps_its_wire_string() {
        let table = [
            (ErrorCode::InvalidInput, "invalid_input"),
            (ErrorCode::NotFound, "not_found"),
            (ErrorCode::Deferred, "deferred"),
            (ErrorCode::Unavailable, "unavailable"),
            (ErrorCode::DeadlineExceeded, "deadline_exceeded"),
            (ErrorCode::NotReady, "not_ready"),
            (ErrorCode::Internal, "internal"),
            (ErrorCode::DirNotAllowed, "dir_not_allowed"),
            (ErrorCode::UnsafeFileName, "unsafe_file_name"),
            (ErrorCode::HostNotAllowed, "host_not_allowed"),
            (ErrorCode::NoFileForTarget, "no_file_for_target"),
            (ErrorCode::Unverifiable, "unverifiable"),
            (ErrorCode::Corrupt, "corrupt"),
            (ErrorCode::Truncated, "truncated"),
            (ErrorCode::Oversize, "oversize"),
            (ErrorCode::TransferFailed, "transfer_failed"),
            (ErrorCode::WriteFailed, "write_failed"),
            (ErrorCode::Incomplete, "incomplete"),
            (ErrorCode::Unreadable, "unreadable"),
            (ErrorCode::OverBound, "over_bound"),
        ];
        assert_eq!(table.len(), ErrorCode::ALL.len());
        for (i, (code, wire)) in table.into_iter().enumerate() {
            assert_eq!(ErrorCode::ALL[i], code);
            assert_eq!(code.as_str(), wire);
            assert_eq!(code.to_string(), wire);
            assert_eq!(serde_json::to_value(code).unwrap(), wire);
            assert_eq!(
                serde_json::from_value::<ErrorCode>(wire.into()).unwrap(),
                code
            );
        }
    }
}
