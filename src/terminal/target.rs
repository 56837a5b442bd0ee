//! The target flags, one set for every command that has a target: each command keeps
//! visible the fields its question takes ([`only`]) and the question refuses the rest
//! (`Target::only`).

use std::collections::BTreeMap;

use clap::{Arg, Args};
use sentinel_actors::{Target, TargetField};

use super::{Exit, Failure};

/// Where the packages would be installed.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct TargetArgs {
    /// Target Python, e.g. 3.12 (default 3.12).
    #[arg(long, value_name = "X.Y")]
    python: Option<String>,
    /// Target platform: linux, macos or windows (default linux), or a wheel platform
    /// tag as pip's --platform takes (manylinux_2_28_aarch64, musllinux_1_2_x86_64,
    /// macosx_12_0_x86_64, win_amd64); 32-bit Windows is `windows --machine x86`.
    #[arg(long)]
    platform: Option<String>,
    /// Target machine, e.g. aarch64 (default per platform: x86_64, arm64, AMD64).
    #[arg(long)]
    machine: Option<String>,
    /// A marker value you know, instead of the platform's assumed default, e.g.
    /// `--marker platform_machine=aarch64` (repeatable).
    #[arg(long = "marker", value_name = "KEY=VALUE")]
    markers: Vec<String>,
    /// An extra of the package to include (repeatable).
    #[arg(long = "extra", value_name = "EXTRA")]
    extras: Vec<String>,
    /// Consider pre-releases.
    #[arg(long)]
    pre: bool,
}

/// The clap id of a target field's flag.
fn id(f: TargetField) -> &'static str {
    match f {
        TargetField::Python => "python",
        TargetField::Platform => "platform",
        TargetField::Machine => "machine",
        TargetField::Markers => "markers",
        TargetField::Extras => "extras",
        TargetField::Prereleases => "pre",
    }
}

/// Hides the target flags a command's question does not take (`mut_args`).
pub(crate) fn only(a: Arg, takes: &[TargetField]) -> Arg {
    let hidden = TargetField::ALL
        .into_iter()
        .any(|f| !takes.contains(&f) && a.get_id() == id(f));
    a.hide(hidden)
}

/// [`only`], each target flag also requiring `flag` (e.g. `--with-deps`).
pub(crate) fn only_with(a: Arg, takes: &[TargetField], flag: &'static str) -> Arg {
    let target = TargetField::ALL.into_iter().any(|f| a.get_id() == id(f));
    let a = only(a, takes);
    if target { a.requires(flag) } else { a }
}

impl TargetArgs {
    /// The target the flags give.
    pub(crate) fn target(self) -> Result<Target, Failure> {
        let markers = marker_overrides(&self.markers)?;
        Ok(Target {
            python_version: self.python,
            platform: self.platform,
            machine: self.machine,
            markers: (!markers.is_empty()).then_some(markers),
            extras: (!self.extras.is_empty()).then_some(self.extras),
            prereleases: self.pre.then_some(true),
        })
    }
}

/// `--marker KEY=VALUE` flags as the map the target takes.
fn marker_overrides(markers: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut overrides = BTreeMap::new();
    for m in markers {
        let Some((k, v)) = m.split_once('=') else {
            return Err(Failure::new(
                Exit::BadInput,
                format!("invalid marker {m:?}: write KEY=VALUE, e.g. platform_machine=aarch64"),
            ));
        };
        overrides.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(overrides)
}
