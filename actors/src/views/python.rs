//! Python compatibility of a release, from `Requires-Python` (authoritative for
//! installers) and the `Programming Language :: Python :: X.Y` classifiers.

use std::fmt;
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use serde::{Deserialize, Serialize};

use crate::model::InputError;
use crate::upstream::ProjectDoc;

/// CPython feature releases that have shipped (2.7, 3.0 to 3.15 as of 2026-11), the
/// candidates for "which Pythons does this support".
pub const KNOWN_PYTHONS: &[(u64, u64)] = &[
    (2, 7),
    (3, 0),
    (3, 1),
    (3, 2),
    (3, 3),
    (3, 4),
    (3, 5),
    (3, 6),
    (3, 7),
    (3, 8),
    (3, 9),
    (3, 10),
    (3, 11),
    (3, 12),
    (3, 13),
    (3, 14),
    (3, 15),
];

/// A Python feature version, `X.Y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PyVersion {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
}

impl fmt::Display for PyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Parses `3.12` (a patch part, `3.12.1`, is accepted and ignored).
pub fn parse_python_version(raw: &str) -> Result<PyVersion, InputError> {
    let err = || InputError {
        param: "python_version",
        value: raw.into(),
        rule: "must look like 3.12 (major.minor, digits only)".into(),
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
    if let Some(patch) = parts.next()
        && patch.parse::<u64>().is_err()
    {
        return Err(err());
    }
    if parts.next().is_some() || !(2..=4).contains(&major) || minor > 99 {
        return Err(err());
    }
    Ok(PyVersion { major, minor })
}

/// Whether any patch release of `py` satisfies the specifiers (so `>=3.8.1` admits 3.8).
fn admits(spec: &VersionSpecifiers, py: PyVersion) -> bool {
    (0..=30).any(|patch| {
        Version::from_str(&format!("{}.{}.{patch}", py.major, py.minor))
            .is_ok_and(|v| spec.contains(&v))
    })
}

fn classifier_pythons(classifiers: &[String]) -> Vec<PyVersion> {
    let mut out: Vec<PyVersion> = classifiers
        .iter()
        .filter_map(|c| c.strip_prefix("Programming Language :: Python :: "))
        .filter_map(|v| parse_python_version(v).ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn requires_python(p: &ProjectDoc) -> (Option<String>, Option<VersionSpecifiers>) {
    let raw = p
        .info
        .requires_python
        .as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let spec = raw
        .as_deref()
        .and_then(|r| VersionSpecifiers::from_str(r).ok());
    (raw, spec)
}

/// Does a release support Python X.Y?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PythonCompat {
    /// Display name.
    pub package: String,
    /// The release.
    pub version: String,
    /// The Python asked about.
    pub python_version: String,
    /// `Some(true/false)` when the metadata decides, `None` when it says nothing.
    pub compatible: Option<bool>,
    /// `requires_python`, `classifiers` or `none`.
    pub basis: String,
    /// The release's `Requires-Python`.
    pub requires_python: Option<String>,
    /// The explanation in words.
    pub detail: String,
}

impl PythonCompat {
    /// Decides from `Requires-Python`, else from classifiers.
    pub fn check(p: &ProjectDoc, py: &PyVersion) -> Self {
        let (raw, spec) = requires_python(p);
        let classified = classifier_pythons(&p.info.classifiers);
        let (compatible, basis, detail) = match (&spec, &raw) {
            (Some(spec), Some(r)) => {
                let ok = admits(spec, *py);
                let verdict = if ok { "admits" } else { "excludes" };
                (
                    Some(ok),
                    "requires_python",
                    format!("Requires-Python {r:?} {verdict} Python {py}"),
                )
            }
            _ if !classified.is_empty() => {
                let ok = classified.contains(py);
                let listed: Vec<String> = classified.iter().map(ToString::to_string).collect();
                let detail = format!(
                    "no usable Requires-Python; classifiers list Python {}",
                    listed.join(", ")
                );
                (Some(ok), "classifiers", detail)
            }
            _ => (
                None,
                "none",
                "the release declares neither Requires-Python nor Python version classifiers"
                    .into(),
            ),
        };
        PythonCompat {
            package: p.info.name.clone(),
            version: p.info.version.clone(),
            python_version: py.to_string(),
            compatible,
            basis: basis.into(),
            requires_python: raw,
            detail,
        }
    }
}

/// The Python versions a release supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupportedPythons {
    /// Display name.
    pub package: String,
    /// The release.
    pub version: String,
    /// `Requires-Python`.
    pub requires_python: Option<String>,
    /// Known CPython feature releases admitted by `Requires-Python` (when usable).
    pub from_requires_python: Vec<String>,
    /// Versions named by classifiers.
    pub from_classifiers: Vec<String>,
    /// The answer: `from_requires_python` when usable, else `from_classifiers`.
    pub supported: Vec<String>,
    /// `requires_python`, `classifiers` or `none`.
    pub basis: String,
}

impl SupportedPythons {
    /// From a release's metadata.
    pub fn from_project(p: &ProjectDoc) -> Self {
        let (raw, spec) = requires_python(p);
        let from_requires_python: Vec<String> = spec
            .as_ref()
            .map(|s| {
                KNOWN_PYTHONS
                    .iter()
                    .map(|&(major, minor)| PyVersion { major, minor })
                    .filter(|py| admits(s, *py))
                    .map(|py| py.to_string())
                    .collect()
            })
            .unwrap_or_default();
        let from_classifiers: Vec<String> = classifier_pythons(&p.info.classifiers)
            .iter()
            .map(ToString::to_string)
            .collect();
        let (supported, basis) = if spec.is_some() {
            (from_requires_python.clone(), "requires_python")
        } else if !from_classifiers.is_empty() {
            (from_classifiers.clone(), "classifiers")
        } else {
            (Vec::new(), "none")
        };
        SupportedPythons {
            package: p.info.name.clone(),
            version: p.info.version.clone(),
            requires_python: raw,
            from_requires_python,
            from_classifiers,
            supported,
            basis: basis.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::pypi;

    fn doc(requires: &str, classifiers: &[&str]) -> ProjectDoc {
        let body = serde_json::json!({"info": {"name": "x", "version": "1", "requires_python": requires, "classifiers": classifiers}});
        pypi::parse(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn requires_python_decides_with_patch_bounds() {
        let d = doc(">=3.8.1,<3.13", &["Programming Language :: Python :: 2.7"]);
        let py = |s| parse_python_version(s).unwrap();
        assert_eq!(PythonCompat::check(&d, &py("3.8")).compatible, Some(true));
        assert_eq!(PythonCompat::check(&d, &py("3.13")).compatible, Some(false));
        assert_eq!(PythonCompat::check(&d, &py("2.7")).basis, "requires_python");
        let s = SupportedPythons::from_project(&d);
        assert_eq!(s.supported.first().map(String::as_str), Some("3.8"));
        assert_eq!(s.supported.last().map(String::as_str), Some("3.12"));
        assert_eq!(s.from_classifiers, vec!["2.7".to_string()]);
    }

    #[test]
    fn classifiers_decide_when_requires_python_is_empty() {
        let d = doc(
            "",
            &[
                "Programming Language :: Python :: 3.11",
                "Programming Language :: Python :: 3 :: Only",
            ],
        );
        let py = |s| parse_python_version(s).unwrap();
        assert_eq!(PythonCompat::check(&d, &py("3.11")).compatible, Some(true));
        assert_eq!(PythonCompat::check(&d, &py("3.9")).compatible, Some(false));
        assert_eq!(SupportedPythons::from_project(&d).basis, "classifiers");
        assert_eq!(
            PythonCompat::check(&doc("", &[]), &py("3.9")).compatible,
            None
        );
    }

    #[test]
    fn bad_python_versions_are_rejected() {
        for bad in ["3", "three", "3.x", "3.12.1.1", "12.0", ""] {
            assert!(parse_python_version(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_python_version("3.12.4").unwrap().to_string(), "3.12");
    }
}
