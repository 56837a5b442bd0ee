//! Dependencies of a release: `requires_dist` parsed with `pep508_rs`, and evaluated
//! for a target environment when one is given.

use std::str::FromStr;

use pep508_rs::{ExtraName, Requirement};
use serde::{Deserialize, Serialize};

use crate::upstream::ProjectDoc;

pub use crate::model::env::{Platform, TargetEnv};

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
