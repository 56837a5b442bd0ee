//! Python compatibility of a release, from `Requires-Python` (authoritative for
//! installers) and the `Programming Language :: Python :: X.Y` classifiers.

use std::fmt;
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use serde::{Deserialize, Serialize};

pub use crate::model::env::{PyVersion, parse_python_version};
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

/// Patch releases considered for a feature release (CPython has never gone past .18).
const PATCHES: std::ops::RangeInclusive<u64> = 0..=30;

fn contains(spec: &VersionSpecifiers, major: u64, minor: u64, patch: u64) -> bool {
    Version::from_str(&format!("{major}.{minor}.{patch}")).is_ok_and(|v| spec.contains(&v))
}

/// The patch releases of `py`'s feature release that the specifiers admit (only the
/// asked one for an exact version).
fn admitted_patches(spec: &VersionSpecifiers, py: PyVersion) -> Vec<u64> {
    match py.patch {
        Some(p) => vec![p]
            .into_iter()
            .filter(|p| contains(spec, py.major, py.minor, *p))
            .collect(),
        None => PATCHES
            .filter(|p| contains(spec, py.major, py.minor, *p))
            .collect(),
    }
}

/// Whether any patch release of `py` satisfies the specifiers (so `>=3.8.1` admits 3.8).
pub fn admits(spec: &VersionSpecifiers, py: PyVersion) -> bool {
    !admitted_patches(spec, py).is_empty()
}

/// "3.9.2 and later", "3.9.0 to 3.9.4", or a list, for the admitted patches of X.Y.
fn describe_patches(py: PyVersion, patches: &[u64]) -> String {
    let v = |p: u64| format!("{}.{}.{p}", py.major, py.minor);
    let contiguous = patches.windows(2).all(|w| w[1] == w[0] + 1);
    match (patches.first(), patches.last()) {
        (Some(&a), Some(&b)) if contiguous && b == *PATCHES.end() => format!("{} and later", v(a)),
        (Some(&a), Some(&b)) if contiguous && a == 0 => format!("up to {}", v(b)),
        (Some(&a), Some(&b)) if contiguous => format!("{} to {}", v(a), v(b)),
        _ => patches.iter().map(|p| v(*p)).collect::<Vec<_>>().join(", "),
    }
}

/// What a compatibility answer rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompatBasis {
    /// `Requires-Python`: what pip enforces.
    RequiresPython,
    /// Only the `Programming Language :: Python :: X.Y` classifiers: a listing, not a
    /// rule (pip ignores them).
    Classifiers,
    /// Neither.
    None,
}

impl fmt::Display for CompatBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompatBasis::RequiresPython => "requires_python",
            CompatBasis::Classifiers => "classifiers",
            CompatBasis::None => "none",
        })
    }
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PythonCompat {
    /// Display name.
    pub package: String,
    /// The release.
    pub version: String,
    /// The Python asked about.
    pub python_version: String,
    /// `Some(true/false)` when `Requires-Python` decides; `None` when the release does
    /// not declare it (pip installs it on any Python; classifiers only list).
    pub compatible: Option<bool>,
    /// Asked about `X.Y` and only some `X.Y.z` are admitted (see `detail`).
    pub only_some_patches: bool,
    /// Whether the classifiers list this Python (evidence, never a verdict).
    pub listed_in_classifiers: Option<bool>,
    /// What the answer rests on.
    pub basis: CompatBasis,
    /// The release's `Requires-Python`.
    pub requires_python: Option<String>,
    /// The explanation in words.
    pub detail: String,
}

impl PythonCompat {
    /// Decides from `Requires-Python`. Without it the answer is unknown (pip installs
    /// the release on any Python), with the classifiers reported as a listing.
    pub fn check(p: &ProjectDoc, py: &PyVersion) -> Self {
        let (raw, spec) = requires_python(p);
        let classified = classifier_pythons(&p.info.classifiers);
        let feature = PyVersion::feature(py.major, py.minor);
        let listed = (!classified.is_empty()).then(|| classified.contains(&feature));
        let mut only_some = false;
        let (compatible, basis, detail) = match (&spec, &raw) {
            (Some(spec), Some(r)) => {
                let admitted = admitted_patches(spec, *py);
                let detail = match py.patch {
                    Some(_) if admitted.is_empty() => {
                        format!("Requires-Python {r:?} excludes Python {py}")
                    }
                    Some(_) => format!("Requires-Python {r:?} admits Python {py}"),
                    None if admitted.is_empty() => {
                        format!("Requires-Python {r:?} excludes every Python {py}.x")
                    }
                    None if admitted.len() == PATCHES.count() => {
                        format!("Requires-Python {r:?} admits Python {py}")
                    }
                    None => {
                        only_some = true;
                        format!(
                            "Requires-Python {r:?} admits only some Python {py}.x: {}",
                            describe_patches(*py, &admitted)
                        )
                    }
                };
                (
                    Some(!admitted.is_empty()),
                    CompatBasis::RequiresPython,
                    detail,
                )
            }
            _ if !classified.is_empty() => {
                let list: Vec<String> = classified.iter().map(ToString::to_string).collect();
                let verdict = if listed == Some(true) {
                    "list"
                } else {
                    "do not list"
                };
                (
                    None,
                    CompatBasis::Classifiers,
                    format!(
                        "no Requires-Python, so pip installs it on any Python; the classifiers {verdict} Python {feature} (they list {}): inferred from classifiers, not declared",
                        list.join(", ")
                    ),
                )
            }
            _ => (
                None,
                CompatBasis::None,
                "the release declares neither Requires-Python nor Python version classifiers; pip installs it on any Python"
                    .into(),
            ),
        };
        PythonCompat {
            package: p.info.name.clone(),
            version: p.info.version.clone(),
            python_version: py.to_string(),
            compatible,
            only_some_patches: only_some,
            listed_in_classifiers: listed,
            basis,
            requires_python: raw,
            detail,
        }
    }
}

/// The release pip would pick on a target Python when none is asked for: the newest
/// that is neither a pre-release nor yanked and whose `Requires-Python` admits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseChoice {
    /// The release chosen.
    pub version: String,
    /// Why, in words, e.g. "black 23.7.0: the newest release that supports Python
    /// 3.7; the latest (26.10.1) requires >=3.10".
    pub note: String,
}

/// Whether a release (its `info.requires_python`) admits `py`; `None` when it does not
/// say.
pub fn release_admits(p: &ProjectDoc, py: &PyVersion) -> Option<bool> {
    let (_, spec) = requires_python(p);
    spec.map(|s| admits(&s, *py))
}

/// When the latest release excludes `py`, the release pip would pick instead (from the
/// per-file `requires_python` of every release in the project body); `None` when the
/// latest admits it (or says nothing). `Err` with the words when no release admits it.
pub fn choose_release(p: &ProjectDoc, py: &PyVersion) -> Result<Option<ReleaseChoice>, String> {
    let latest = &p.info.version;
    let (latest_rp, latest_spec) = requires_python(p);
    let Some(latest_spec) = latest_spec else {
        return Ok(None);
    };
    if admits(&latest_spec, *py) {
        return Ok(None);
    }
    let latest_rp = latest_rp.unwrap_or_default();
    let mut candidates: Vec<(Version, &String, &Vec<crate::upstream::FileInfo>)> = p
        .releases
        .iter()
        .flatten()
        .filter_map(|(v, files)| Version::from_str(v).ok().map(|parsed| (parsed, v, files)))
        .filter(|(parsed, _, files)| {
            !parsed.any_prerelease() && !files.is_empty() && !files.iter().all(|f| f.yanked)
        })
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0));
    for (_, v, files) in candidates {
        // A release admits `py` when one of its (not yanked) files does, or when its
        // files do not say (pip then installs it).
        let admitted = files.iter().filter(|f| !f.yanked).any(|f| {
            match f
                .requires_python
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
            {
                None => true,
                Some(r) => VersionSpecifiers::from_str(r).is_ok_and(|s| admits(&s, *py)),
            }
        });
        if admitted {
            return Ok(Some(ReleaseChoice {
                version: v.clone(),
                note: format!(
                    "{} {v}: the newest release that supports Python {py}; the latest ({latest}) requires {latest_rp}",
                    p.info.name
                ),
            }));
        }
    }
    Err(format!(
        "no release of {} supports Python {py}; the latest ({latest}) requires {latest_rp}",
        p.info.name
    ))
}

/// The Python versions a release supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// What the answer rests on.
    pub basis: CompatBasis,
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
                    .map(|&(major, minor)| PyVersion::feature(major, minor))
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
            (from_requires_python.clone(), CompatBasis::RequiresPython)
        } else if !from_classifiers.is_empty() {
            (from_classifiers.clone(), CompatBasis::Classifiers)
        } else {
            (Vec::new(), CompatBasis::None)
        };
        SupportedPythons {
            package: p.info.name.clone(),
            version: p.info.version.clone(),
            requires_python: raw,
            from_requires_python,
            from_classifiers,
            supported,
            basis,
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
        assert_eq!(
            PythonCompat::check(&d, &py("2.7")).basis,
            CompatBasis::RequiresPython
        );
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
        // Classifiers list; they never decide: pip installs it anywhere.
        let listed = PythonCompat::check(&d, &py("3.11"));
        assert_eq!(listed.compatible, None);
        assert_eq!(listed.listed_in_classifiers, Some(true));
        let unlisted = PythonCompat::check(&d, &py("3.9"));
        assert_eq!(unlisted.compatible, None, "never `no` from classifiers");
        assert_eq!(unlisted.listed_in_classifiers, Some(false));
        assert!(unlisted.detail.contains("inferred from classifiers"));
        assert_eq!(
            SupportedPythons::from_project(&d).basis,
            CompatBasis::Classifiers
        );
        assert_eq!(
            PythonCompat::check(&doc("", &[]), &py("3.9")).compatible,
            None
        );
    }

    #[test]
    fn bad_python_versions_are_rejected() {
        for bad in ["3", "three", "3.x", "3.12.1.1", "12.0", "", "4.0", "1.5"] {
            assert!(parse_python_version(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_python_version("3.12.4").unwrap().to_string(),
            "3.12.4"
        );
    }

    #[test]
    fn check_3_9_0_keeps_the_patch_cryptography_excludes_it() {
        // cryptography's real Requires-Python.
        let d = doc("!=3.9.0,!=3.9.1,>=3.9", &[]);
        let py = |s| parse_python_version(s).unwrap();
        let exact = PythonCompat::check(&d, &py("3.9.0"));
        assert_eq!(exact.compatible, Some(false), "{}", exact.detail);
        assert_eq!(PythonCompat::check(&d, &py("3.9.2")).compatible, Some(true));
        let some = PythonCompat::check(&d, &py("3.9"));
        assert_eq!(some.compatible, Some(true));
        assert!(some.only_some_patches);
        assert!(some.detail.contains("3.9.2 and later"), "{}", some.detail);
        assert!(!PythonCompat::check(&d, &py("3.10")).only_some_patches);
    }

    #[test]
    fn deps_on_an_old_python_choose_the_release_pip_would() {
        let body = serde_json::json!({
            "info": {"name": "black", "version": "26.10.1", "requires_python": ">=3.10"},
            "releases": {
                "23.7.0": [{"filename": "black-23.7.0.tar.gz", "requires_python": ">=3.8"}],
                "24.8.0": [{"filename": "black-24.8.0.tar.gz", "requires_python": ">=3.8"}],
                "25.1.0": [{"filename": "black-25.1.0.tar.gz", "requires_python": ">=3.9"}],
                "25.2.0b1": [{"filename": "black-25.2.0b1.tar.gz", "requires_python": ">=3.8"}],
                "25.3.0": [{"filename": "black-25.3.0.tar.gz", "requires_python": ">=3.8", "yanked": true}],
                "26.10.1": [{"filename": "black-26.10.1.tar.gz", "requires_python": ">=3.10"}],
            }
        });
        let p = pypi::parse(body.to_string().as_bytes()).unwrap();
        let py = |s| parse_python_version(s).unwrap();
        let c = choose_release(&p, &py("3.8")).unwrap().unwrap();
        assert_eq!(
            c.version, "24.8.0",
            "not the pre-release, not the yanked one"
        );
        assert!(
            c.note.contains("the latest (26.10.1) requires >=3.10"),
            "{}",
            c.note
        );
        assert_eq!(choose_release(&p, &py("3.12")).unwrap(), None);
        assert!(
            choose_release(&p, &py("3.7"))
                .unwrap_err()
                .contains("no release")
        );
    }

    #[test]
    fn pytz_without_requires_python_is_unknown_for_3_15_never_no() {
        let d = doc(
            "",
            &[
                "Programming Language :: Python :: 3.13",
                "Programming Language :: Python :: 3.14",
            ],
        );
        let c = PythonCompat::check(&d, &parse_python_version("3.15").unwrap());
        assert_eq!(c.compatible, None);
        assert_eq!(c.basis, CompatBasis::Classifiers);
        assert!(
            c.detail.contains("pip installs it on any Python"),
            "{}",
            c.detail
        );
    }
}
