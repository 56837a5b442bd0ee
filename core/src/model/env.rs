//! The environment a question is answered for: the Python version ([`PyVersion`]),
//! the platform and the marker values ([`TargetEnv`], from a [`Target`](super::Target)
//! whose values it checks). The model's, so that the views, the resolver and the wheel
//! tags all take it from below.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use pep508_rs::{ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder};
use serde::{Deserialize, Serialize};

use super::{InputError, Target};

/// A Python version: a feature release `X.Y`, or an exact `X.Y.Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PyVersion {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch, when an exact release was asked about (`3.9.0` is checked as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<u64>,
}

impl PyVersion {
    /// The feature release `X.Y`.
    pub fn feature(major: u64, minor: u64) -> Self {
        PyVersion {
            major,
            minor,
            patch: None,
        }
    }
}

impl fmt::Display for PyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(p) => write!(f, "{}.{}.{p}", self.major, self.minor),
            None => write!(f, "{}.{}", self.major, self.minor),
        }
    }
}

/// Parses `3.12` (a feature release) or `3.9.0` (an exact release). Only Python 2.x
/// and 3.x exist: an answer about Python 4 would be invented.
pub fn parse_python_version(raw: &str) -> Result<PyVersion, InputError> {
    let err = || InputError {
        param: "python_version",
        value: crate::model::clip_echo(raw),
        rule:
            "must be a Python version 2.x or 3.x: major.minor (3.12) or major.minor.patch (3.9.0)"
                .into(),
    };
    let mut parts = raw.trim().split('.');
    let major = parts
        .next()
        .and_then(|p| p.parse::<u64>().ok())
        .ok_or_else(err)?;
    let minor = parts
        .next()
        .and_then(|p| p.parse::<u64>().ok())
        .ok_or_else(err)?;
    let patch = match parts.next() {
        None => None,
        Some(p) => Some(p.parse::<u64>().map_err(|_| err())?),
    };
    if parts.next().is_some() || !(2..=3).contains(&major) || minor > 99 || patch > Some(999) {
        return Err(err());
    }
    Ok(PyVersion {
        major,
        minor,
        patch,
    })
}

/// Operating systems markers can be evaluated for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// `sys_platform == "linux"`, `platform_system == "Linux"`, `os_name == "posix"`.
    #[default]
    Linux,
    /// `sys_platform == "darwin"`, `platform_system == "Darwin"`.
    Macos,
    /// `sys_platform == "win32"`, `platform_system == "Windows"`, `os_name == "nt"`.
    Windows,
}

impl FromStr for Platform {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, InputError> {
        match s.to_ascii_lowercase().as_str() {
            "linux" => Ok(Platform::Linux),
            "macos" | "darwin" | "mac" | "osx" => Ok(Platform::Macos),
            "windows" | "win32" | "win" => Ok(Platform::Windows),
            _ => Err(InputError {
                param: "platform",
                value: s.into(),
                rule: "must be linux, macos or windows".into(),
            }),
        }
    }
}

/// The environment to evaluate markers for. Every marker variable has a value: the
/// ones the caller did not give are assumed per platform (a recent CPython on a recent
/// release of the OS) and listed in `assumed`, so the answer says what it assumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TargetEnv {
    /// Python `X.Y`.
    pub python_version: String,
    /// Python `X.Y.Z` (`X.Y.0` when only `X.Y` was given, listed in `assumed`).
    pub python_full_version: String,
    /// Operating system.
    pub platform: Platform,
    /// Extras asked for, normalised.
    pub extras: Vec<String>,
    /// Every other marker variable's value (`platform_machine`, `platform_release`, ...):
    /// the per-platform defaults, then the caller's overrides.
    pub markers: std::collections::BTreeMap<String, String>,
    /// The marker variables whose values were assumed, not given.
    pub assumed: Vec<String>,
    /// The wheel platform tag given as the platform (e.g. `manylinux_2_28_aarch64`,
    /// as pip's `--platform` takes): the platform and `platform_machine` come from it,
    /// and a download takes the wheels such a system installs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_tag: Option<String>,
}

/// The marker variables besides the Python versions, and their defaults per platform.
const MARKER_KEYS: [&str; 8] = [
    "implementation_name",
    "implementation_version",
    "os_name",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
];

fn platform_defaults(p: Platform, full: &str) -> [(&'static str, String); 9] {
    let (sys_platform, system, os, machine, release, version) = match p {
        Platform::Linux => (
            "linux",
            "Linux",
            "posix",
            "x86_64",
            "6.8.0",
            "#1 SMP PREEMPT_DYNAMIC",
        ),
        Platform::Macos => (
            "darwin",
            "Darwin",
            "posix",
            "arm64",
            "24.0.0",
            "Darwin Kernel Version 24.0.0",
        ),
        Platform::Windows => ("win32", "Windows", "nt", "AMD64", "10", "10.0.22631"),
    };
    [
        ("implementation_name", "cpython".into()),
        ("implementation_version", full.into()),
        ("os_name", os.into()),
        ("platform_machine", machine.into()),
        ("platform_python_implementation", "CPython".into()),
        ("platform_release", release.into()),
        ("platform_system", system.into()),
        ("platform_version", version.into()),
        ("sys_platform", sys_platform.into()),
    ]
}

impl TargetEnv {
    /// Validates a Python version (`3.12`), a platform and extra names.
    pub fn new(
        python: Option<&str>,
        platform: Option<&str>,
        extras: &[String],
    ) -> Result<Self, InputError> {
        let py = match python {
            Some(p) => parse_python_version(p)?,
            None => PyVersion::feature(3, 12),
        };
        let (platform, tag) = match platform.map(|p| (p, Platform::from_str(p))) {
            None => (Platform::default(), None),
            Some((_, Ok(p))) => (p, None),
            Some((given, Err(e))) => {
                let tag = crate::platform_tag::PlatformTag::parse(given).ok_or(InputError {
                    rule: format!("{}, or a wheel platform tag such as manylinux_2_28_x86_64, musllinux_1_2_aarch64, macosx_12_0_arm64 or win_amd64", e.rule),
                    ..e
                })?;
                let os = match tag {
                    crate::platform_tag::PlatformTag::Macos { .. } => Platform::Macos,
                    crate::platform_tag::PlatformTag::Windows { .. } => Platform::Windows,
                    _ => Platform::Linux,
                };
                (os, Some((given.trim().to_string(), tag.machine())))
            }
        };
        let extras = extras
            .iter()
            .map(|e| {
                ExtraName::from_str(e)
                    .map(|x| x.to_string())
                    .map_err(|err| InputError {
                        param: "extras",
                        value: e.clone(),
                        rule: format!("not a valid extra name: {err}"),
                    })
            })
            .collect::<Result<_, _>>()?;
        let feature = PyVersion::feature(py.major, py.minor);
        let full = format!("{}.{}.{}", py.major, py.minor, py.patch.unwrap_or(0));
        let mut assumed: Vec<String> = MARKER_KEYS.iter().map(|k| k.to_string()).collect();
        if py.patch.is_none() {
            assumed.push("python_full_version".into());
        }
        let mut markers: std::collections::BTreeMap<String, String> =
            platform_defaults(platform, &full)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
        if let Some((_, machine)) = &tag {
            markers.insert("platform_machine".into(), machine.clone());
            assumed.retain(|k| k != "platform_machine");
        }
        Ok(TargetEnv {
            python_version: feature.to_string(),
            markers,
            python_full_version: full,
            platform,
            extras,
            assumed,
            platform_tag: tag.map(|(t, _)| t),
        })
    }

    /// The marker environment of a question's target: its Python, platform and extras
    /// checked, then its marker values and machine (`platform_machine`) over the
    /// platform's defaults.
    pub fn of(target: &Target) -> Result<Self, InputError> {
        let env = TargetEnv::new(
            target.python_version.as_deref(),
            target.platform.as_deref(),
            target.extras.as_deref().unwrap_or_default(),
        )?;
        let env = match &target.markers {
            Some(m) => env.with_markers(m)?,
            None => env,
        };
        match &target.machine {
            None => Ok(env),
            Some(m)
                if target
                    .markers
                    .as_ref()
                    .is_some_and(|k| k.contains_key("platform_machine")) =>
            {
                Err(InputError {
                    param: "machine",
                    value: crate::model::clip_echo(m),
                    rule: "give machine or markers.platform_machine, not both".into(),
                })
            }
            Some(m) => env.with_markers(&BTreeMap::from([(
                "platform_machine".to_string(),
                m.clone(),
            )])),
        }
    }

    /// Sets marker variables the caller knows (e.g. `platform_machine = "aarch64"`);
    /// they are no longer listed as assumed.
    pub fn with_markers(
        mut self,
        overrides: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, InputError> {
        for (k, v) in overrides {
            if !MARKER_KEYS.contains(&k.as_str()) {
                return Err(InputError {
                    param: "markers",
                    value: crate::model::clip_echo(k),
                    rule: format!("must be one of {}", MARKER_KEYS.join(", ")),
                });
            }
            self.markers.insert(k.clone(), v.clone());
            self.assumed.retain(|a| a != k);
        }
        Ok(self)
    }

    /// The target as a PEP 508 marker environment (`None` when it cannot be built).
    pub fn marker_env(&self) -> Option<MarkerEnvironment> {
        let m = |k: &str| self.markers.get(k).map(String::as_str).unwrap_or("");
        MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: m("implementation_name"),
            implementation_version: m("implementation_version"),
            os_name: m("os_name"),
            platform_machine: m("platform_machine"),
            platform_python_implementation: m("platform_python_implementation"),
            platform_release: m("platform_release"),
            platform_system: m("platform_system"),
            platform_version: m("platform_version"),
            python_full_version: &self.python_full_version,
            python_version: &self.python_version,
            sys_platform: m("sys_platform"),
        })
        .ok()
    }
}
