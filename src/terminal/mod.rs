//! What a question needs to speak at a terminal, below the questions and the CLI that
//! runs them: exit codes ([`Exit`], the one definition the help's table comes from),
//! a command's [`Failure`], tables and cleaned output (`output.rs`), the spinner and
//! the download bar (`progress.rs`), and the target flags (`target.rs`).

mod exit;
pub(crate) mod output;
pub(crate) mod progress;
pub(crate) mod target;

pub use exit::Exit;

use sentinel_actors::{DownloadError, QueryError};

/// A failure of a command, with its exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: Exit,
    pub(crate) message: String,
    /// Already reported on stdout (a partial batch printed its answer).
    pub(crate) reported: bool,
}

impl Failure {
    pub(crate) fn new(code: Exit, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            reported: false,
        }
    }

    /// A partial answer that was already printed: only the exit code remains.
    pub(crate) fn partial(message: impl Into<String>) -> Self {
        Failure::after_answer(Exit::Partial, message)
    }

    /// An answer that was already printed, exiting with `code`.
    pub(crate) fn after_answer(code: Exit, message: impl Into<String>) -> Self {
        Failure {
            reported: true,
            ..Failure::new(code, message)
        }
    }
}

/// With no directories configured (`scan.allowed_dirs`, `download.allowed_dirs`), a
/// person at the CLI may read or write under the current directory: it becomes the
/// one allowed. The MCP server never does this (an empty list refuses every path).
pub(crate) fn allow_current_dir(dirs: &mut Vec<std::path::PathBuf>) -> Result<(), Failure> {
    if dirs.is_empty() {
        let cwd = std::env::current_dir().map_err(|e| {
            Failure::new(
                Exit::Config,
                format!("cannot read the current directory: {e}"),
            )
        })?;
        *dirs = vec![cwd];
    }
    Ok(())
}

impl From<QueryError> for Failure {
    fn from(e: QueryError) -> Self {
        let code = match &e {
            QueryError::InvalidInput(_) => Exit::BadInput,
            QueryError::NotFound { .. } => Exit::NotFound,
            QueryError::Unavailable { .. }
            | QueryError::DeadlineExceeded { .. }
            | QueryError::NotReady { .. } => Exit::Unavailable,
            QueryError::Internal(_) => Exit::Internal,
            QueryError::Download(d) => match **d {
                DownloadError::DirNotAllowed { .. } => Exit::BadInput,
                DownloadError::NoFileForTarget { .. } => Exit::NotFound,
                _ => Exit::Download,
            },
        };
        // A download's failure carries its suggestion (which key to set, what to distrust).
        let message = match &e {
            QueryError::Download(d) => format!("{d}\nhint: {}", d.suggestion()),
            _ => e.to_string(),
        };
        Failure::new(code, message)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::new(Exit::Internal, format!("{e:#}"))
    }
}
