//! `check_package_python_compatibility` and `get_package_compatible_python_versions` /
//! `pypi-sentinel python NAME[==VERSION] [--check X.Y]`.

use schemars::JsonSchema;
use sentinel_actors::views::python::{CompatBasis, PythonCompat, SupportedPythons};
use sentinel_actors::{Datum, EngineHandle, QueryError};
use serde::Deserialize;

use super::Ask;
use super::show;
use super::{Run, split_spec};
use crate::structured::DatumOut;
use crate::structured::text::freshness;
use crate::terminal::Failure;
use crate::terminal::output::source_cell;

/// Whether a release supports a Python version.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PythonCheck {
    /// The PyPI project name, e.g. `numpy`.
    pub package: String,
    /// A release, e.g. `1.26.4`. Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
    /// The Python version to check: `major.minor` (e.g. `3.13`, answered as "some
    /// 3.13.x") or `major.minor.patch` (checked as given). 2.x or 3.x.
    pub python_version: String,
}

impl Ask for PythonCheck {
    const TOOL: &'static str = "check_package_python_compatibility";
    const DESCRIPTION: &'static str = "Whether a PyPI package's latest release (or `version`) supports a given Python version (e.g. 3.13, or 3.9.0 checked as given), decided from Requires-Python. Without Requires-Python the answer is null (not declared; classifiers are reported as listed or not, never as a no). `compatible` is true, false or null; `detail` explains.";

    type Answer = Datum<PythonCompat>;
    type Output<'a> = DatumOut<&'a PythonCompat>;

    /// The verdict, with its basis.
    async fn ask(&self, engine: &EngineHandle) -> Result<Datum<PythonCompat>, QueryError> {
        engine
            .python_compatibility(&self.package, self.version.as_deref(), &self.python_version)
            .await
    }

    fn output<'a>(&self, a: &'a Self::Answer) -> Self::Output<'a> {
        DatumOut::of(a)
    }

    fn text(&self, a: &Self::Answer) -> String {
        python_compat(a)
    }

    fn table(&self, a: &Self::Answer) -> String {
        python_check(a)
    }
}

/// The Python versions a release supports.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Pythons {
    /// The PyPI project name, e.g. `requests`.
    pub package: String,
    /// A release, e.g. `2.31.0`. Omit it for the latest release.
    #[serde(default)]
    pub version: Option<String>,
}

impl Ask for Pythons {
    const TOOL: &'static str = "get_package_compatible_python_versions";
    const DESCRIPTION: &'static str = "The Python versions (2.7, 3.0 ... 3.15) a PyPI package's latest release (or `version`) supports, from Requires-Python when declared, else from classifiers; both lists are returned.";

    type Answer = Datum<SupportedPythons>;
    type Output<'a> = DatumOut<&'a SupportedPythons>;

    /// The supported versions, from Requires-Python, else classifiers.
    async fn ask(&self, engine: &EngineHandle) -> Result<Datum<SupportedPythons>, QueryError> {
        engine
            .supported_pythons(&self.package, self.version.as_deref())
            .await
    }

    fn output<'a>(&self, a: &'a Self::Answer) -> Self::Output<'a> {
        DatumOut::of(a)
    }

    fn text(&self, a: &Self::Answer) -> String {
        supported_pythons(a)
    }

    fn table(&self, a: &Self::Answer) -> String {
        pythons(a)
    }
}

/// `check_package_python_compatibility`.
fn python_compat(d: &Datum<PythonCompat>) -> String {
    let c = &d.value;
    let verdict = match (c.compatible, c.only_some_patches) {
        (Some(true), true) => "supports some patch releases of",
        (Some(true), false) => "supports",
        (Some(false), _) => "does not support",
        (None, _) => "does not declare whether it supports",
    };
    format!(
        "{} {} {verdict} Python {} ({})\n{}",
        c.package,
        c.version,
        c.python_version,
        freshness(d),
        c.detail
    )
}

/// `get_package_compatible_python_versions`.
fn supported_pythons(d: &Datum<SupportedPythons>) -> String {
    let p = &d.value;
    let list = if p.supported.is_empty() {
        "no Python versions declared".to_string()
    } else {
        format!("Python {}", p.supported.join(", "))
    };
    let basis = match p.basis {
        CompatBasis::RequiresPython => format!(
            "from Requires-Python {:?}",
            p.requires_python.as_deref().unwrap_or_default()
        ),
        CompatBasis::Classifiers => {
            "listed in classifiers; no Requires-Python, so pip installs it on any Python".into()
        }
        CompatBasis::None => "neither Requires-Python nor classifiers".into(),
    };
    format!(
        "{} {}: {list} ({basis}; {})",
        p.package,
        p.version,
        freshness(d)
    )
}

/// `python --check X.Y`.
fn python_check(d: &Datum<PythonCompat>) -> String {
    let mut s = String::new();
    let verdict = match (d.value.compatible, d.value.only_some_patches) {
        (Some(true), true) => "yes, some patch releases",
        (Some(true), false) => "yes",
        (Some(false), _) => "no",
        (None, _) => "unknown (not declared)",
    };
    ln!(
        s,
        "{} {} supports Python {}: {verdict}",
        d.value.package,
        d.value.version,
        d.value.python_version
    );
    ln!(s, "  {} ({})", d.value.detail, source_cell(d));
    s
}

/// `python` without `--check`.
fn pythons(d: &Datum<SupportedPythons>) -> String {
    let mut s = String::new();
    ln!(
        s,
        "{} {}: Python {} (from {}; {})",
        d.value.package,
        d.value.version,
        if d.value.supported.is_empty() {
            "unknown".into()
        } else {
            d.value.supported.join(", ")
        },
        d.value.basis,
        source_cell(d)
    );
    s
}

/// Whether a release supports a Python version, and which ones it supports.
#[derive(clap::Args, Debug)]
pub(crate) struct PythonFlags {
    /// Package, optionally `==VERSION`.
    spec: String,
    /// Python version to check, e.g. 3.12; without it, list the supported versions.
    #[arg(long, value_name = "X.Y")]
    check: Option<String>,
}

impl Run for PythonFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        let (package, version) = split_spec(&self.spec)?;
        match self.check {
            Some(python_version) => {
                let q = PythonCheck {
                    package,
                    version,
                    python_version,
                };
                show(engine, q, json).await
            }
            None => show(engine, Pythons { package, version }, json).await,
        }
    }
}
