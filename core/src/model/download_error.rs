//! Why `download_package` wrote nothing: typed, each with its words and a suggestion,
//! carried by [`QueryError::Download`](super::QueryError::Download).

use serde::Serialize;

use super::code::ErrorCode;

/// Why a download was refused or failed. Nothing was written in any case (a temporary
/// file, if one was started, is gone).
#[derive(Clone, Debug, Serialize, PartialEq, Eq, thiserror::Error)]
#[serde(tag = "failure", rename_all = "snake_case")]
pub enum DownloadError {
    /// The destination is not under a directory the configuration allows.
    #[error("cannot write to {dest}: {rule}")]
    DirNotAllowed {
        /// The destination as given (or the default), cut.
        dest: String,
        /// The rule it breaks.
        rule: String,
    },
    /// The listing names the chosen file with a name that is not one plain file name.
    #[error("the listed file name {filename} is refused: {rule}")]
    UnsafeFileName {
        /// The name, escaped (`{:?}`) and cut.
        filename: String,
        /// The rule it breaks.
        rule: String,
    },
    /// The file's URL is on a host downloads may not come from.
    #[error("the file's URL {url} is on host {host}, which downloads may not come from (allowed: {})", allowed.join(", "))]
    HostNotAllowed {
        /// The URL (cut).
        url: String,
        /// Its host.
        host: String,
        /// The hosts allowed.
        allowed: Vec<String>,
    },
    /// No listed file fits the target and the kind asked for.
    #[error("no file of {package} {version} fits: {why}")]
    NoFileForTarget {
        /// The package.
        package: String,
        /// The release.
        version: String,
        /// What was looked for and what is listed.
        why: String,
    },
    /// The listing gives no sha256 (or no URL) for the file: it cannot be verified.
    #[error(
        "the listing gives no {missing} for {filename}; an unverifiable file is not downloaded"
    )]
    Unverifiable {
        /// The file.
        filename: String,
        /// `sha256` or `url`.
        missing: String,
    },
    /// Every attempt's bytes hashed to something else than the listed sha256.
    #[error("{filename} arrived corrupted on every attempt ({attempts}): expected sha256 {expected}, got {}", got.join(" then "))]
    Corrupt {
        /// The file.
        filename: String,
        /// The listed sha256.
        expected: String,
        /// What each attempt's bytes hashed to, in order.
        got: Vec<String>,
        /// Attempts made.
        attempts: u32,
    },
    /// The body ended before the announced or listed size.
    #[error(
        "{filename} was cut short: {received} of {expected_bytes} bytes ({attempts} attempt(s))"
    )]
    Truncated {
        /// The file.
        filename: String,
        /// Bytes received on the last attempt.
        received: u64,
        /// Bytes announced (`Content-Length`) or listed.
        expected_bytes: u64,
        /// Attempts made.
        attempts: u32,
    },
    /// The file is (or is announced, or grew) larger than allowed.
    #[error("{filename} is larger than allowed: {what}")]
    Oversize {
        /// The file.
        filename: String,
        /// Which size broke which bound, in words.
        what: String,
        /// The bound, in bytes.
        limit_bytes: u64,
    },
    /// The file host did not send the file (an HTTP status, a connection failure, a
    /// timeout).
    #[error("{filename} could not be fetched: {detail} ({attempts} attempt(s))")]
    Transfer {
        /// The file.
        filename: String,
        /// What happened.
        detail: String,
        /// The HTTP status, when one came.
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// Attempts made.
        attempts: u32,
    },
    /// The file could not be written (disk full, permissions).
    #[error("{path} could not be written: {detail}")]
    Write {
        /// Where.
        path: String,
        /// What the file system said.
        detail: String,
    },
}

impl DownloadError {
    /// A short machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            DownloadError::DirNotAllowed { .. } => ErrorCode::DirNotAllowed,
            DownloadError::UnsafeFileName { .. } => ErrorCode::UnsafeFileName,
            DownloadError::HostNotAllowed { .. } => ErrorCode::HostNotAllowed,
            DownloadError::NoFileForTarget { .. } => ErrorCode::NoFileForTarget,
            DownloadError::Unverifiable { .. } => ErrorCode::Unverifiable,
            DownloadError::Corrupt { .. } => ErrorCode::Corrupt,
            DownloadError::Truncated { .. } => ErrorCode::Truncated,
            DownloadError::Oversize { .. } => ErrorCode::Oversize,
            DownloadError::Transfer { .. } => ErrorCode::TransferFailed,
            DownloadError::Write { .. } => ErrorCode::WriteFailed,
        }
    }

    /// What the caller can do about it.
    pub fn suggestion(&self) -> String {
        match self {
            DownloadError::DirNotAllowed { .. } => "set download.allowed_dirs in the configuration (environment: PYPI_SENTINEL_DOWNLOAD__ALLOWED_DIRS), or give a destination under one of them".into(),
            DownloadError::UnsafeFileName { .. } => "the index lists a file name that is not a plain file name: do not trust this index or mirror".into(),
            DownloadError::HostNotAllowed { .. } => "if you trust that host, add it to download.allowed_hosts; otherwise do not trust this index or mirror".into(),
            DownloadError::NoFileForTarget { .. } => "ask for another Python version, platform or machine, another release, or kind any (the sdist)".into(),
            DownloadError::Unverifiable { .. } => "use an index that lists sha256 digests (PyPI does); if the listing came from an older cache, invalidate the package's cache and retry".into(),
            DownloadError::Corrupt { .. } => "the file host or a proxy between is serving corrupted bytes; retry later or from another network or mirror, and do not install what arrived".into(),
            DownloadError::Truncated { .. } | DownloadError::Transfer { .. } => "retry later; the file host or the network failed".into(),
            DownloadError::Oversize { .. } => "raise download.max_bytes if the file is expected to be this large".into(),
            DownloadError::Write { .. } => "check the free space and permissions of the download directory".into(),
        }
    }
}
