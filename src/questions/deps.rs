//! `get_package_dependencies` / `pypi-sentinel deps NAME[==VERSION]`.

use schemars::JsonSchema;
use sentinel_actors::views::deps::{Dependencies, TargetEnv};
use sentinel_actors::{DEPS_TARGET, Datum, EngineHandle, QueryError, Target, TargetOnly};
use serde::Deserialize;
use std::fmt::Write as _;

use super::Ask;
use super::show;
use super::{Run, split_spec};
use crate::structured::DatumOut;
use crate::structured::text::freshness;
use crate::terminal::Failure;
use crate::terminal::output::{notes, source_cell, source_note, table};
use crate::terminal::target::{self, TargetArgs};

/// A release's dependencies, optionally evaluated for a target environment. When no
/// target field is given, markers are not evaluated and every dependency is listed with
/// its marker; with a `python_version` and no `version`, the release is the one pip
/// would pick on that Python.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(transform = TargetOnly(DEPS_TARGET))]
pub struct Deps {
    /// The PyPI project name, e.g. `black`.
    pub package: String,
    /// A release, e.g. `24.3.0`. Omit it for the latest release (or, with a
    /// `python_version`, for the release pip would pick on that Python).
    #[serde(default)]
    pub version: Option<String>,
    /// Where to evaluate the markers: python_version, platform, extras, markers.
    #[serde(flatten)]
    pub target: Target,
}

impl Ask for Deps {
    const TOOL: &'static str = "get_package_dependencies";
    const DESCRIPTION: &'static str = "The declared dependencies (Requires-Dist) of a PyPI package's latest release (or of `version`), parsed: name, version specifier, extras, environment marker, which extra pulls it in. Give python_version (e.g. 3.12), platform (linux, macos, windows), extras and/or markers to evaluate the markers: each dependency then says whether it `applies`, and the notes list what was assumed. With a python_version and no version, the answer is for the release pip would pick on that Python, and says so.";

    type Answer = Datum<Dependencies>;
    type Output<'a> = DatumOut<&'a Dependencies>;

    /// The release's dependencies, evaluated for the target when one was given.
    async fn ask(&self, engine: &EngineHandle) -> Result<Datum<Dependencies>, QueryError> {
        self.target.only(DEPS_TARGET)?;
        let env = (!self.target.is_empty())
            .then(|| TargetEnv::of(&self.target))
            .transpose()?;
        engine
            .dependencies(&self.package, self.version.as_deref(), env.as_ref())
            .await
    }

    fn output<'a>(&self, a: &'a Self::Answer) -> Self::Output<'a> {
        DatumOut::of(a)
    }

    fn text(&self, a: &Self::Answer) -> String {
        dependencies(a)
    }

    fn table(&self, a: &Self::Answer) -> String {
        deps(a)
    }
}

/// `get_package_dependencies`.
fn dependencies(d: &Datum<Dependencies>) -> String {
    let deps = &d.value;
    let mut s = format!(
        "{} {}: {} dependencies ({})",
        deps.package,
        deps.version,
        deps.dependencies.len(),
        freshness(d)
    );
    if let Some(env) = &deps.evaluated_for {
        let applies = deps
            .dependencies
            .iter()
            .filter(|x| x.applies == Some(true))
            .count();
        let _ = write!(
            s,
            "; {applies} apply to Python {} on {:?}{}",
            env.python_version,
            env.platform,
            if env.extras.is_empty() {
                String::new()
            } else {
                format!(" with extras [{}]", env.extras.join(", "))
            }
        );
    }
    for dep in deps.dependencies.iter().take(30) {
        let _ = write!(s, "\n- {}", dep.raw);
        match dep.applies {
            Some(true) => s.push_str("  [applies]"),
            Some(false) => s.push_str("  [does not apply]"),
            None => {}
        }
    }
    if deps.dependencies.len() > 30 {
        let _ = write!(s, "\n... and {} more", deps.dependencies.len() - 30);
    }
    if !deps.unparsed.is_empty() {
        let _ = write!(
            s,
            "\n{} requirement(s) could not be parsed",
            deps.unparsed.len()
        );
    }
    for n in &deps.notes {
        let _ = write!(s, "\nnote: {n}");
    }
    s
}

/// `deps`.
fn deps(d: &Datum<Dependencies>) -> String {
    let mut s = String::new();
    let mut rows = vec![vec![
        "dependency".into(),
        "specifier".into(),
        "when".into(),
        "applies".into(),
    ]];
    for dep in &d.value.dependencies {
        let when = dep.marker.clone().unwrap_or_else(|| "always".into());
        let applies = match dep.applies {
            Some(true) => "yes",
            Some(false) => "no",
            None if dep.required => "required",
            None => "optional",
        };
        let name = if dep.extras.is_empty() {
            dep.name.clone()
        } else {
            format!("{}[{}]", dep.name, dep.extras.join(","))
        };
        rows.push(vec![name, dep.specifier.clone(), when, applies.into()]);
    }
    ln!(
        s,
        "{} {} ({})",
        d.value.package,
        d.value.version,
        source_cell(d)
    );
    if let Some(env) = &d.value.evaluated_for {
        ln!(
            s,
            "evaluated for Python {} on {:?}, extras [{}]",
            env.python_version,
            env.platform,
            env.extras.join(", ")
        );
    }
    w!(s, "{}", table(&rows));
    for u in &d.value.unparsed {
        ln!(s, "  not PEP 508, kept verbatim: {u}");
    }
    s += &notes(
        d.value
            .notes
            .iter()
            .cloned()
            .map(Some)
            .chain(std::iter::once(source_note("metadata", d))),
    );
    s
}

/// Dependencies of a release, evaluated for a Python version, platform and extras.
#[derive(clap::Args, Debug)]
#[command(mut_args(|a| target::only(a, DEPS_TARGET)))]
pub(crate) struct DepsFlags {
    /// Package, optionally `==VERSION`.
    spec: String,
    /// Where to evaluate the markers (none given: they are listed, not evaluated).
    #[command(flatten)]
    target: TargetArgs,
}

impl Run for DepsFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        let (package, version) = split_spec(&self.spec)?;
        let q = Deps {
            package,
            version,
            target: self.target.target()?,
        };
        show(engine, q, json).await
    }
}
