//! Dependencies of a release: `requires_dist` parsed with `pep508_rs`, and evaluated
//! for a target environment when one is given.

use std::collections::BTreeMap;
use std::str::FromStr;

use pep508_rs::{ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, Requirement};
use serde::{Deserialize, Serialize};

use crate::model::{InputError, Target};
use crate::upstream::ProjectDoc;

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
            Some(p) => super::python::parse_python_version(p)?,
            None => super::python::PyVersion::feature(3, 12),
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
        let feature = super::python::PyVersion::feature(py.major, py.minor);
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

/// One declared requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Dependencies {
    /// Display name.
    pub package: String,
    /// The release.
    pub version: String,
    /// Every parsed requirement.
    pub dependencies: Vec<Dependency>,
    /// Requirements that are not valid PEP 508, kept verbatim (nothing is dropped); one
    /// too long or nested too deep to parse is quoted short, and a note says why.
    pub unparsed: Vec<String>,
    /// The environment the `applies` flags were computed for.
    pub evaluated_for: Option<TargetEnv>,
    /// Extras the release declares.
    pub provides_extra: Vec<String>,
    /// What the answer assumed or chose, and what the caller asked that does not
    /// exist (an unknown extra), in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Dependencies {
    /// Parses `requires_dist` of a release; evaluates markers for `env` when given.
    pub fn from_project(p: &ProjectDoc, env: Option<&TargetEnv>) -> Self {
        // PyPI's JSON leaves `provides_extra` null for many releases; the extras are
        // then the ones the requirements' markers name (`extra == 'd'`).
        let provides_extra = match p.info.provides_extra.clone().filter(|e| !e.is_empty()) {
            Some(e) => e,
            None => extras_named_by(p.info.requires_dist.iter().flatten()),
        };
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
        let mut notes = Vec::new();
        for raw in p.info.requires_dist.iter().flatten() {
            let Some(req) = parse_requirement(raw) else {
                match refused_requirement(raw) {
                    // Too deep or too long to parse: said, and quoted short.
                    Some((quote, why)) => {
                        notes.push(format!(
                            "{} {}: a requirement was not read ({why}): {quote}",
                            p.info.name, p.info.version
                        ));
                        unparsed.push(quote);
                    }
                    None => unparsed.push(raw.clone()),
                }
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
        if let Some(e) = env {
            let unknown: Vec<&String> = e
                .extras
                .iter()
                .filter(|x| !declared.iter().any(|d| d.as_ref() == x.as_str()))
                .collect();
            for x in unknown {
                notes.push(format!(
                    "unknown extra {x:?}: {} declares {}",
                    p.info.name,
                    if provides_extra.is_empty() {
                        "no extras".to_string()
                    } else {
                        provides_extra.join(", ")
                    }
                ));
            }
            if !e.assumed.is_empty() {
                notes.push(format!(
                    "markers evaluated for CPython {} on {:?}, assuming {} (override them to be exact)",
                    e.python_full_version,
                    e.platform,
                    e.assumed
                        .iter()
                        .map(|k| match e.markers.get(k) {
                            Some(v) => format!("{k}={v}"),
                            None => format!("{k}={}", e.python_full_version),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Dependencies {
            notes,
            package: p.info.name.clone(),
            version: p.info.version.clone(),
            dependencies,
            unparsed,
            evaluated_for: env.cloned(),
            provides_extra,
        }
    }
}

/// The extras that `extra == "..."` markers name, normalised, in order of appearance.
fn extras_named_by<'a>(requirements: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // A requirement too long or deep to parse names no extras (and is not scanned).
    for raw in requirements.filter(|r| crate::model::untrusted::check_requirement(r).is_ok()) {
        let Some((_, marker)) = raw.split_once(';') else {
            continue;
        };
        let mut rest = marker;
        while let Some(i) = rest.find("extra") {
            let after = rest[i + 5..].trim_start();
            rest = &rest[i + 5..];
            let Some(after) = after.strip_prefix("==") else {
                continue;
            };
            let after = after.trim_start();
            let Some(quote) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            if let Some(end) = after[1..].find(quote)
                && let Ok(name) = ExtraName::from_str(&after[1..1 + end])
            {
                let name = name.to_string();
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
    }
    out
}

/// When the guard in front of the parser refuses `raw` (too deep, too long): a short
/// quote of it and why, for a note naming the dropped requirement.
pub fn refused_requirement(raw: &str) -> Option<(String, String)> {
    let why = crate::model::untrusted::check_requirement(raw).err()?;
    Some((crate::model::untrusted::excerpt(raw), why))
}

/// Parses one `Requires-Dist` string from an upstream. pep508_rs 0.9 panics on some
/// names its own tokenizer accepts (e.g. `O.`, found by the property tests), so the
/// leading name is checked first, and a panic is still caught: upstream text never
/// takes a caller down. A requirement too long or nested too deep for the recursive
/// parser is refused first ([`crate::model::untrusted::check_requirement`]): a stack
/// overflow would abort the process.
pub fn parse_requirement(raw: &str) -> Option<Requirement<pep508_rs::VerbatimUrl>> {
    crate::model::untrusted::check_requirement(raw).ok()?;
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
    fn macos_markers_on_platform_release_are_evaluated_not_all_false() {
        use crate::upstream::pypi;
        let body = serde_json::json!({"info": {"name": "pyobjc", "version": "11.0",
            "requires_dist": ["pyobjc-framework-Metal==11.0; platform_release >= \"15.0\""]}});
        let p = pypi::parse(body.to_string().as_bytes()).unwrap();
        let env = super::TargetEnv::new(Some("3.12"), Some("macos"), &[]).unwrap();
        let d = super::Dependencies::from_project(&p, Some(&env));
        assert_eq!(d.dependencies[0].applies, Some(true));
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("platform_release=24.0.0")),
            "{:?}",
            d.notes
        );
        // The caller can say what it has.
        let mut m = std::collections::BTreeMap::new();
        m.insert("platform_release".to_string(), "14.0.0".to_string());
        let old = env.with_markers(&m).unwrap();
        let d = super::Dependencies::from_project(&p, Some(&old));
        assert_eq!(d.dependencies[0].applies, Some(false));
        assert!(!old.assumed.contains(&"platform_release".to_string()));
    }

    #[test]
    fn extras_named_only_by_markers_are_known_when_provides_extra_is_null() {
        use crate::upstream::pypi;
        let body = serde_json::json!({"info": {"name": "black", "version": "23.7.0",
            "provides_extra": null,
            "requires_dist": ["click>=8.0.0", "aiohttp>=3.7.4; extra == 'd'", "colorama>=0.4.3; extra == \"colorama\""]}});
        let p = pypi::parse(body.to_string().as_bytes()).unwrap();
        let env = super::TargetEnv::new(Some("3.12"), Some("linux"), &["d".into()]).unwrap();
        let d = super::Dependencies::from_project(&p, Some(&env));
        assert_eq!(
            d.provides_extra,
            vec!["d".to_string(), "colorama".to_string()]
        );
        assert!(
            !d.notes.iter().any(|n| n.contains("unknown extra")),
            "{:?}",
            d.notes
        );
        let aiohttp = d.dependencies.iter().find(|x| x.name == "aiohttp").unwrap();
        assert_eq!(aiohttp.for_extras, vec!["d".to_string()]);
    }

    #[test]
    fn an_unknown_extra_is_warned_about_listing_the_declared_ones() {
        use crate::upstream::pypi;
        let body = serde_json::json!({"info": {"name": "requests", "version": "2.32.0",
            "provides_extra": ["socks", "use-chardet-on-py3"], "requires_dist": ["idna"]}});
        let p = pypi::parse(body.to_string().as_bytes()).unwrap();
        let env = super::TargetEnv::new(None, None, &["nosuch".into()]).unwrap();
        let d = super::Dependencies::from_project(&p, Some(&env));
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("unknown extra \"nosuch\"")
                    && n.contains("socks, use-chardet-on-py3")),
            "{:?}",
            d.notes
        );
    }

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
