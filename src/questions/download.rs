//! `download_package` / `pypi-sentinel download NAME [--version V]`: a release's file
//! for a target, verified against the index's sha256 and written under
//! `download.allowed_dirs`; at the CLI, when the configuration sets none, the current
//! directory is allowed (an MCP server allows none by default).
//!
//! Exit codes: 0 written and verified, 2 bad input or a destination not allowed,
//! 3 no such package or release, or no file fits the target, 4 the index unavailable,
//! 9 the file was refused or failed verification (corrupt on both attempts, cut
//! short, oversize, a host not allowed, an unsafe file name, no sha256 listed, the
//! file host failing); nothing is written then.

use std::path::PathBuf;

use schemars::JsonSchema;
use sentinel_actors::views::deps::TargetEnv;
use sentinel_actors::views::package_download::AttemptOutcome;
use sentinel_actors::views::package_download::{DownloadRequest, PackageDownload, WantedKind};
use sentinel_actors::{
    Datum, EngineConfig, EngineHandle, FILE_TARGET, QueryError, Target, TargetOnly,
};
use serde::Deserialize;
use std::fmt::Write as _;

use super::show;
use super::{Ask, Hints, Run};
use crate::structured::DatumOut;
use crate::structured::text::freshness;
use crate::terminal::Failure;
use crate::terminal::output::source_cell;
use crate::terminal::target::{self, TargetArgs};

/// A release's file for a target, downloaded and verified against the index's sha256.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
// Other arguments are refused (`mcp::params`: serde's `deny_unknown_fields` does not
// work beside `flatten`).
#[schemars(transform = TargetOnly(FILE_TARGET), extend("additionalProperties" = false))]
pub struct Download {
    /// The PyPI project name, e.g. `requests`.
    pub package: String,
    /// A release, e.g. `2.32.3`. Omit it for the release pip would pick on the target
    /// Python.
    #[serde(default)]
    pub version: Option<String>,
    /// Where the file would be installed: python_version, platform, machine.
    #[serde(flatten)]
    pub target: Target,
    /// `wheel`, `sdist`, or `any` (default: the best wheel for the target, else the
    /// sdist).
    #[serde(default)]
    pub kind: Option<String>,
    /// Directory to write into, under the directories the configuration allows
    /// (`download.allowed_dirs`); relative to the first of them. Default: the first of
    /// them.
    #[serde(default)]
    pub dest: Option<String>,
}

impl Download {
    /// The engine's request: the target and kind validated.
    pub fn request(&self) -> Result<DownloadRequest, QueryError> {
        self.target.only(FILE_TARGET)?;
        let env = TargetEnv::of(&self.target)?;
        let kind = match &self.kind {
            Some(k) => k.parse::<WantedKind>()?,
            None => WantedKind::Any,
        };
        if let Some(d) = &self.dest
            && (d.trim().is_empty() || d.contains('\0'))
        {
            return Err(sentinel_actors::InputError {
                param: "dest",
                value: sentinel_actors::clip_echo(d),
                rule: "must be a non-empty directory path".into(),
            }
            .into());
        }
        Ok(DownloadRequest {
            package: self.package.clone(),
            version: self.version.clone(),
            env,
            kind,
            dest: self.dest.as_ref().map(PathBuf::from),
        })
    }
}

impl Ask for Download {
    const TOOL: &'static str = "download_package";
    const DESCRIPTION: &'static str = "Download a PyPI package's file for a target into a directory the server's configuration allows (download.allowed_dirs; none by default, and the tool then says which key to set): the best wheel for python_version (default 3.12), platform (linux, macos, windows, or a wheel platform tag such as manylinux_2_28_aarch64, musllinux_1_2_x86_64, macosx_12_0_x86_64, win_amd64) and machine by PEP 425 tags, else the sdist (kind: wheel, sdist or any). The file is streamed with a size cap, checked against the sha256 the index lists, and renamed into place only when it matches; a corrupted or cut body is retried once on a new connection and reported with both digests. Hosts other than the index's and download.allowed_hosts are refused, as are file names that are not one plain file name. Answers the file chosen (kind, tags, why), its path, the digests and each attempt.";
    const HINTS: Hints = Hints::WRITES_FILE;
    const DOWNLOADS: bool = true;
    type Answer = Datum<PackageDownload>;
    type Output<'a> = DatumOut<&'a PackageDownload>;

    /// Downloads the file, verified, into the allowed directory.
    async fn ask(&self, engine: &EngineHandle) -> Result<Datum<PackageDownload>, QueryError> {
        engine.download_package(&self.request()?).await
    }

    fn output<'a>(&self, a: &'a Self::Answer) -> Self::Output<'a> {
        DatumOut::of(a)
    }

    fn text(&self, d: &Self::Answer) -> String {
        download_text(d)
    }

    fn table(&self, d: &Self::Answer) -> String {
        download_table(d)
    }
}

/// The short text of a download: what was written where, how it was verified, why
/// this file, and where the file list came from.
fn download_text(d: &Datum<PackageDownload>) -> String {
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

/// The CLI's lines of a download: the file, why it was chosen, its digest, each
/// attempt and where the file list came from.
fn download_table(d: &Datum<PackageDownload>) -> String {
    let mut out = String::new();
    let r = &d.value;
    ln!(out, "{} {} -> {}", r.package, r.version, r.path);
    ln!(
        out,
        "file:     {} ({}, {} bytes){}",
        r.file.filename,
        r.file.kind.as_str(),
        r.bytes,
        r.file
            .matched_tag
            .as_deref()
            .map(|t| format!(", tag {t}"))
            .unwrap_or_default()
    );
    ln!(out, "why:      {}", r.file.why);
    ln!(out, "sha256:   {} (verified)", r.sha256);
    for a in &r.attempts {
        ln!(
            out,
            "attempt {}: {}, {} bytes{}",
            a.attempt,
            a.outcome,
            a.bytes,
            a.sha256
                .as_deref()
                .filter(|_| a.outcome == AttemptOutcome::Corrupt)
                .map(|h| format!(", got sha256 {h}"))
                .unwrap_or_default()
        );
    }
    ln!(out, "list:     {} ({})", source_cell(d), r.listing);
    for n in &r.notes {
        ln!(out, "note:     {n}");
    }
    out
}

/// Download a release's file for a target (the best wheel by its tags, else the
/// sdist), verified against the index's sha256, into an allowed directory.
#[derive(clap::Args, Debug)]
#[command(mut_args(|a| target::only(a, FILE_TARGET)))]
pub(crate) struct DownloadFlags {
    /// The package.
    package: String,
    /// The release (default: the one pip would pick on the target Python).
    #[arg(long)]
    version: Option<String>,
    #[command(flatten)]
    target: TargetArgs,
    /// wheel, sdist or any (the best wheel, else the sdist).
    #[arg(long, default_value = "any")]
    kind: String,
    /// Directory to write into (default: the first allowed directory; the current
    /// directory when the configuration allows none).
    #[arg(long, value_name = "DIR")]
    dest: Option<PathBuf>,
}

impl Run for DownloadFlags {
    /// With no `download.allowed_dirs` configured, a person at the CLI may write
    /// under the current directory.
    fn configure(&mut self, cfg: &mut EngineConfig) -> Result<(), Failure> {
        crate::terminal::allow_current_dir(&mut cfg.download.allowed_dirs)
    }

    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        // A relative --dest is the user's, relative to the current directory.
        let dest = self
            .dest
            .as_ref()
            .map(|d| std::path::absolute(d).unwrap_or(d.clone()));
        let q = Download {
            package: self.package,
            version: self.version,
            target: self.target.target()?,
            kind: Some(self.kind),
            dest: dest.map(|d| d.display().to_string()),
        };
        show(engine, q, json).await
    }
}
