//! `scan_dependencies` and `check_package` on the handle: validate and read the input
//! here (files only under `scan.allowed_dirs`, parsed on the CPU pool), then one
//! question (`crate::question::scan`), whose walk the router runs.

use std::path::PathBuf;

use super::EngineHandle;
use crate::question::scan::{Check, CheckDownloads, ScanProject};
use sentinel_core::model::{InputError, PackageName, QueryError};
use sentinel_core::project::{self, FileKind, Limits, ParsedProject, paths::AllowedRoots};
use sentinel_core::views::check::PackageCheck;
use sentinel_core::views::scan::ScanReport;

pub use sentinel_core::model::limits::MAX_SCAN_PACKAGES;

/// What to scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanInput {
    /// A file, or a directory whose project files are all read; relative paths are
    /// resolved against the first allowed directory. Read only under
    /// `scan.allowed_dirs`.
    Path(PathBuf),
    /// A file's content, with its file name (which says its kind).
    Content {
        /// The file name: `pyproject.toml`, `requirements-dev.txt`, `uv.lock`, ...
        filename: String,
        /// The text.
        content: String,
    },
}

/// Longest file name given with content.
const MAX_FILENAME_BYTES: usize = 255;

fn input_error(param: &'static str, value: &str, rule: impl Into<String>) -> QueryError {
    InputError {
        param,
        value: sentinel_core::model::clip_echo(&sentinel_core::model::untrusted::redact_urls(
            value,
        )),
        rule: rule.into(),
    }
    .into()
}

impl EngineHandle {
    /// The dependencies a project declares, each checked against PyPI: exists, the
    /// newest release that satisfies it, whether a pin is yanked, missing or outdated.
    /// Bad lines are reported with their file and line; URLs and paths are reported,
    /// not fetched; packages PyPI could not be asked about are typed failures.
    pub async fn scan_dependencies(&self, input: ScanInput) -> Result<ScanReport, QueryError> {
        let parsed = self.read_project(input).await?;
        let _guard = self.enter()?;
        self.ask_by(ScanProject(parsed), self.deadline()).await
    }

    /// Reads and parses a project's files (only under `scan.allowed_dirs`) or a file's
    /// content; a refused path or a bad file name is an input error. The parsing runs
    /// on the bounded CPU pool, within the question's deadline, and stops when the
    /// deadline passes or the caller goes away: a large hostile file never holds the
    /// runtime's threads.
    pub(super) async fn read_project(&self, input: ScanInput) -> Result<ParsedProject, QueryError> {
        let limits = Limits::default();
        let deadline_ms = self.shared().cfg.timeouts.deadline_ms;
        let deadline = self.deadline();
        let ran = match input {
            ScanInput::Content { filename, content } => {
                let kind = FileKind::from_filename(&filename).ok_or_else(|| {
                    input_error(
                        "filename",
                        &filename,
                        format!("must name a file a scan reads: {}", FileKind::KNOWN),
                    )
                })?;
                // The name is echoed with every entry of the answer: bounded.
                if filename.len() > MAX_FILENAME_BYTES {
                    return Err(input_error(
                        "filename",
                        &filename,
                        format!("must be at most {MAX_FILENAME_BYTES} bytes"),
                    ));
                }
                if content.len() as u64 > limits.max_file_bytes {
                    return Err(input_error(
                        "content",
                        &format!("{} bytes", content.len()),
                        format!("must be at most {} bytes", limits.max_file_bytes),
                    ));
                }
                let name = filename
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or(&filename)
                    .to_string();
                crate::cpu::pool()
                    .run(deadline, move |cancel| {
                        Ok(project::parse_content(
                            &name, kind, &content, &limits, None, cancel,
                        ))
                    })
                    .await
            }
            ScanInput::Path(path) => {
                let dirs = self.shared().cfg.scan.allowed_dirs.clone();
                let shown = path.display().to_string();
                crate::cpu::pool()
                    .run(deadline, move |cancel| {
                        let roots = AllowedRoots::new(&dirs);
                        project::paths::scan_path(&roots, &path, &limits, cancel)
                            .map_err(|r| input_error("path", &shown, r.rule))
                    })
                    .await
            }
        };
        ran.map_err(|e| e.into_query_error(deadline_ms, "the scan's file reader failed"))?
    }

    /// The supply-chain check before suggesting `pip install <package>`: does it exist,
    /// its first release and number of releases, its downloads, whether its name is
    /// within a small edit distance of a popular package's (and which), yanked
    /// releases; a verdict worded with that evidence. Facts that could not be had are
    /// typed failures; the rest still answers.
    pub async fn check_package(&self, package: &str) -> Result<PackageCheck, QueryError> {
        let name = PackageName::parse(package)?;
        let _guard = self.enter()?;
        let check = Check {
            name,
            downloads: CheckDownloads::Always,
        };
        self.ask_by(check, self.deadline()).await
    }
}
