//! `download`: a release's file for a target, verified against the index's sha256 and
//! written under `download.allowed_dirs`; when the configuration sets none, the current
//! directory is allowed (an MCP server allows none by default).
//!
//! Exit codes: 0 written and verified, 2 bad input or a destination not allowed,
//! 3 no such package or release, or no file fits the target, 4 the index unavailable,
//! 9 the file was refused or failed verification (corrupt on both attempts, cut
//! short, oversize, a host not allowed, an unsafe file name, no sha256 listed, the
//! file host failing); nothing is written then.

use std::path::PathBuf;

use clap::Args;
use sentinel_actors::views::package_download::AttemptOutcome;
use sentinel_actors::{Engine, EngineConfig};

use super::output::{self, source_cell};
use super::{Exit, Failure};
use crate::questions;

/// Arguments of `download`.
#[derive(Args, Debug)]
#[command(mut_args(|a| super::target::only(a, sentinel_actors::FILE_TARGET)))]
pub(super) struct DownloadArgs {
    /// The package.
    package: String,
    /// The release (default: the one pip would pick on the target Python).
    #[arg(long)]
    version: Option<String>,
    #[command(flatten)]
    target: super::target::TargetArgs,
    /// wheel, sdist or any (the best wheel, else the sdist).
    #[arg(long, default_value = "any")]
    kind: String,
    /// Directory to write into (default: the first allowed directory; the current
    /// directory when the configuration allows none).
    #[arg(long, value_name = "DIR")]
    dest: Option<PathBuf>,
}

macro_rules! outln {
    ($($t:tt)*) => { output::emit(&(output::clean(&format!($($t)*), true) + "\n")) };
}

pub(super) async fn download(
    mut cfg: EngineConfig,
    args: DownloadArgs,
    json: bool,
) -> Result<(), Failure> {
    if cfg.download.allowed_dirs.is_empty() {
        let cwd = std::env::current_dir().map_err(|e| {
            Failure::new(
                Exit::Config,
                format!("cannot read the current directory: {e}"),
            )
        })?;
        cfg.download.allowed_dirs = vec![cwd];
    }
    // A relative --dest is the user's, relative to the current directory.
    let dest = args
        .dest
        .as_ref()
        .map(|d| std::path::absolute(d).unwrap_or(d.clone()));
    let q = questions::Download {
        package: args.package,
        version: args.version,
        target: args.target.target()?,
        kind: Some(args.kind),
        dest: dest.map(|d| d.display().to_string()),
    };
    let engine = Engine::start(cfg)
        .await
        .map_err(|e| Failure::new(Exit::Config, e.to_string()))?;
    let r = super::progress::while_downloading(&engine, json, q.ask(&engine)).await;
    engine.shutdown().await;
    let d = r?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&d).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
        );
        return Ok(());
    }
    let r = &d.value;
    outln!("{} {} -> {}", r.package, r.version, r.path);
    outln!(
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
    outln!("why:      {}", r.file.why);
    outln!("sha256:   {} (verified)", r.sha256);
    for a in &r.attempts {
        outln!(
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
    outln!("list:     {} ({})", source_cell(&d), r.listing);
    for n in &r.notes {
        outln!("note:     {n}");
    }
    Ok(())
}
