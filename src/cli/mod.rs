//! The command line. In progress.

use std::process::ExitCode;

/// Parses the command line and runs the command.
pub fn run() -> ExitCode {
    ExitCode::SUCCESS
}
