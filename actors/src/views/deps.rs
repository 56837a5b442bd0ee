//! Dependencies of a release: `requires_dist` parsed with `pep508_rs`, and evaluated
//! for a target environment when one is given.

use std::str::FromStr;

use pep508_rs::{ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, Requirement};
use serde::{Deserialize, Serialize};

use crate::model::InputError;
use crate::upstream::ProjectDoc;

/// Operating systems markers can be evaluated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
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

/// The environment to evaluate markers for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetEnv {
    /// Python `X.Y`.
    pub python_version: String,
    /// Operating system (CPython on x86_64 is assumed for the other markers).
    pub platform: Platform,
    /// Extras asked for, normalised.
    pub extras: Vec<String>,
}

impl TargetEnv {
    /// Validates a Python version (`3.12`), a platform and extra names.
    pub fn new(
        python: Option<&str>,
        platform: Option<&str>,
        extras: &[String],
    ) -> Result<Self, InputError> {
        let py = match python {
            Some(p) => super::python::parse_python_version(p)?,
            None => super::python::PyVersion {
                major: 3,
                minor: 12,
            },
        };
        let platform = platform
            .map(Platform::from_str)
            .transpose()?
            .unwrap_or_default();
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
        Ok(TargetEnv {
            python_version: py.to_string(),
            platform,
            extras,
        })
    }

    fn marker_env(&self) -> Option<MarkerEnvironment> {
        let (sys_platform, platform_system, os_name) = match self.platform {
            Platform::Linux => ("linux", "Linux", "posix"),
            Platform::Macos => ("darwin", "Darwin", "posix"),
            Platform::Windows => ("win32", "Windows", "nt"),
        };
        let full = format!("{}.0", self.python_version);
        MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &full,
            os_name,
            platform_machine: if self.platform == Platform::Windows {
                "AMD64"
            } else {
                "x86_64"
            },
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system,
            platform_version: "",
            python_full_version: &full,
            python_version: &self.python_version,
            sys_platform,
        })
        .ok()
    }
}

/// One declared requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    /// Normalised name.
    pub name: String,
    /// Version specifier (or URL), empty when unconstrained.
    pub specifier: String,
    /// Extras of the dependency asked for (`requests[socks]` -> `socks`).
    pub extras: Vec<String>,
    /// Environment marker, when any.
    pub marker: Option<String>,
    /// Only installed with one of these extras of the package itself.
    pub for_extras: Vec<String>,
    /// Whether it is needed without any extra.
    pub required: bool,
    /// Whether it applies to the target environment (when one was given).
    pub applies: Option<bool>,
    /// The requirement as published.
    pub raw: String,
}

/// Dependencies of one release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dependencies {
    /// Display name.
    pub package: String,
    /// The release.
    pub version: String,
    /// Every parsed requirement.
    pub dependencies: Vec<Dependency>,
    /// Requirements that are not valid PEP 508, kept verbatim (nothing is dropped).
    pub unparsed: Vec<String>,
    /// The environment the `applies` flags were computed for.
    pub evaluated_for: Option<TargetEnv>,
    /// Extras the release declares.
    pub provides_extra: Vec<String>,
}

impl Dependencies {
    /// Parses `requires_dist` of a release; evaluates markers for `env` when given.
    pub fn from_project(p: &ProjectDoc, env: Option<&TargetEnv>) -> Self {
        let provides_extra = p.info.provides_extra.clone().unwrap_or_default();
        let declared: Vec<ExtraName> = provides_extra
            .iter()
            .filter_map(|e| ExtraName::from_str(e).ok())
            .collect();
        let marker_env = env.and_then(TargetEnv::marker_env);
        let wanted: Vec<ExtraName> = env
            .map(|e| {
                e.extras
                    .iter()
                    .filter_map(|x| ExtraName::from_str(x).ok())
                    .collect()
            })
            .unwrap_or_default();
        let mut dependencies = Vec::new();
        let mut unparsed = Vec::new();
        for raw in p.info.requires_dist.iter().flatten() {
            let Some(req) = parse_requirement(raw) else {
                unparsed.push(raw.clone());
                continue;
            };
            let required = req.marker.evaluate_extras(&[]);
            let for_extras = if required {
                Vec::new()
            } else {
                declared
                    .iter()
                    .filter(|x| req.marker.evaluate_extras(std::slice::from_ref(*x)))
                    .map(ToString::to_string)
                    .collect()
            };
            dependencies.push(Dependency {
                name: req.name.to_string(),
                specifier: req
                    .version_or_url
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                extras: req.extras.iter().map(ToString::to_string).collect(),
                marker: req.marker.try_to_string(),
                for_extras,
                required,
                applies: marker_env
                    .as_ref()
                    .map(|m| req.evaluate_markers(m, &wanted)),
                raw: raw.clone(),
            });
        }
        Dependencies {
            package: p.info.name.clone(),
            version: p.info.version.clone(),
            dependencies,
            unparsed,
            evaluated_for: env.cloned(),
            provides_extra,
        }
    }
}

/// Parses one `Requires-Dist` string from an upstream. pep508_rs 0.9 panics on some
/// names its own tokenizer accepts (e.g. `O.`, found by the property tests), so the
/// leading name is checked first, and a panic is still caught: upstream text never
/// takes a caller down.
fn parse_requirement(raw: &str) -> Option<Requirement<pep508_rs::VerbatimUrl>> {
    let name: String = raw
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    pep508_rs::PackageName::new(name).ok()?;
    std::panic::catch_unwind(|| Requirement::<pep508_rs::VerbatimUrl>::from_str(raw))
        .ok()?
        .ok()
}

#[cfg(test)]
mod tests {
    use super::parse_requirement;

    #[test]
    fn a_requirement_that_panics_pep508_is_reported_unparsed_not_a_crash() {
        assert!(parse_requirement("O.").is_none());
        assert!(parse_requirement("O. >= 1").is_none());
        assert!(parse_requirement("requests[socks]>=2; python_version >= '3.8'").is_some());
    }

    use super::*;
    use crate::upstream::pypi;

    fn doc() -> ProjectDoc {
        pypi::parse(
            br#"{"info":{"name":"demo","version":"1.0","provides_extra":["socks"],"requires_dist":[
            "idna>=2.5,<4",
            "PySocks!=1.5.7,>=1.5.6; extra == \"socks\"",
            "colorama; sys_platform == \"win32\"",
            "tomli>=1.1; python_version < \"3.11\"",
            "not a requirement !!"]}}"#,
        )
        .unwrap()
    }

    #[test]
    fn parses_requirements_and_keeps_the_unparsable() {
        let d = Dependencies::from_project(&doc(), None);
        assert_eq!(d.dependencies.len(), 4);
        assert_eq!(d.unparsed, vec!["not a requirement !!".to_string()]);
        let socks = d.dependencies.iter().find(|x| x.name == "pysocks").unwrap();
        assert!(!socks.required);
        assert_eq!(socks.for_extras, vec!["socks".to_string()]);
        assert!(d.dependencies.iter().all(|x| x.applies.is_none()));
    }

    #[test]
    fn evaluates_markers_for_python_platform_and_extras() {
        let env = TargetEnv::new(Some("3.12"), Some("linux"), &[]).unwrap();
        let d = Dependencies::from_project(&doc(), Some(&env));
        let applies = |n: &str| d.dependencies.iter().find(|x| x.name == n).unwrap().applies;
        assert_eq!(applies("idna"), Some(true));
        assert_eq!(applies("pysocks"), Some(false));
        assert_eq!(applies("colorama"), Some(false));
        assert_eq!(applies("tomli"), Some(false));

        let env = TargetEnv::new(Some("3.10"), Some("windows"), &["socks".into()]).unwrap();
        let d = Dependencies::from_project(&doc(), Some(&env));
        let applies = |n: &str| d.dependencies.iter().find(|x| x.name == n).unwrap().applies;
        assert_eq!(applies("pysocks"), Some(true));
        assert_eq!(applies("colorama"), Some(true));
        assert_eq!(applies("tomli"), Some(true));
    }

    #[test]
    fn bad_target_input_names_the_parameter() {
        assert_eq!(
            TargetEnv::new(Some("three"), None, &[]).unwrap_err().param,
            "python_version"
        );
        assert_eq!(
            TargetEnv::new(None, Some("beos"), &[]).unwrap_err().param,
            "platform"
        );
        assert_eq!(
            TargetEnv::new(None, None, &["bad extra!".into()])
                .unwrap_err()
                .param,
            "extras"
        );
    }
}
