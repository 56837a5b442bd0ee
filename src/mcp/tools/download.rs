//! The download tool: `download_package` (a release's file for a target, verified
//! against the index's sha256, written under `download.allowed_dirs`). A third
//! `#[tool_router]` block on [`SentinelMcp`], combined with the others where the
//! router is built.

use std::fmt::Write as _;
use std::sync::Arc;

use rmcp::model::{CallToolResult, JsonObject};
use rmcp::{ErrorData as McpError, tool, tool_router};

use super::{SentinelMcp, datum_answer};
use crate::engine::Datum;
use crate::engine::views::package_download::{AttemptOutcome, PackageDownload};
use crate::mcp::output::{DatumOut, schema};
use crate::mcp::params::Parameters;
use crate::mcp::render::freshness;
use crate::questions;

fn download_schema() -> Arc<JsonObject> {
    schema::<DatumOut<PackageDownload>>()
}

/// The short text of a download: what was written where, how it was verified, why
/// this file, and where the file list came from.
pub(crate) fn download_text(d: &Datum<PackageDownload>) -> String {
    let r = &d.value;
    let mut s = format!(
        "{} {}: wrote {} ({:?}, {} bytes) to {}; sha256 {} verified",
        r.package, r.version, r.file.filename, r.file.kind, r.bytes, r.path, r.sha256
    );
    for a in r
        .attempts
        .iter()
        .filter(|a| a.outcome != AttemptOutcome::Verified)
    {
        let _ = write!(
            s,
            "; attempt {} was {}{} and was discarded",
            a.attempt,
            a.outcome,
            a.sha256
                .as_deref()
                .map(|h| format!(" (got sha256 {h}, expected {})", r.sha256_expected))
                .unwrap_or_default()
        );
    }
    let _ = write!(
        s,
        ".\nWhy this file: {} ({} other file(s) listed).\nFile list: {}.",
        r.file.why,
        r.other_candidates,
        freshness(d)
    );
    for n in &r.notes {
        let _ = write!(s, "\nnote: {n}");
    }
    s
}

#[tool_router(router = download_router, vis = "pub(super)")]
impl SentinelMcp {
    /// Verified download of a release's file.
    #[tool(
        description = "Download a PyPI package's file for a target into a directory the server's configuration allows (download.allowed_dirs; none by default, and the tool then says which key to set): the best wheel for python_version (default 3.12), platform (linux, macos, windows, or a wheel platform tag such as manylinux_2_28_aarch64, musllinux_1_2_x86_64, macosx_12_0_x86_64, win_amd64) and machine by PEP 425 tags, else the sdist (kind: wheel, sdist or any). The file is streamed with a size cap, checked against the sha256 the index lists, and renamed into place only when it matches; a corrupted or cut body is retried once on a new connection and reported with both digests. Hosts other than the index's and download.allowed_hosts are refused, as are file names that are not one plain file name. Answers the file chosen (kind, tags, why), its path, the digests and each attempt.",
        output_schema = download_schema(),
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn download_package(
        &self,
        Parameters(q): Parameters<questions::Download>,
    ) -> Result<CallToolResult, McpError> {
        datum_answer(q.ask(&self.engine).await, download_text)
    }
}
