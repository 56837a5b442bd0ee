//! Validated package names (PEP 508, normalised per PEP 503) and versions (PEP 440).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::InputError;

/// Longest name we accept. PyPI has no hard limit, but no real project comes close;
/// the cap keeps absurd input out of cache keys and URLs.
const MAX_NAME_LEN: usize = 200;
/// Longest version string we accept, for the same reason.
const MAX_VERSION_LEN: usize = 100;

/// A Python package name, validated as a PEP 508 name and held in its PEP 503
/// normalised form (lower-case, runs of `-_.` collapsed to `-`).
///
/// Because only `[a-z0-9-]` survives normalisation, a `PackageName` can be put in an
/// upstream URL path as is: it cannot change the host or the path's shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageName(String);

impl PackageName {
    /// Validates and normalises `raw`.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let trimmed = raw.trim();
        let invalid = |rule: &str| InputError {
            param: "package",
            value: super::clip_echo(raw),
            rule: rule.to_string(),
        };
        if trimmed.is_empty() {
            return Err(invalid("a package name must not be empty"));
        }
        if trimmed.len() > MAX_NAME_LEN {
            return Err(invalid(&format!(
                "a package name must be at most {MAX_NAME_LEN} characters"
            )));
        }
        let name = pep508_rs::PackageName::new(trimmed.to_string()).map_err(|_| {
            invalid(
                "a package name (PEP 508) may contain only ASCII letters, digits, '.', '_' and '-', \
                 and must start and end with a letter or digit",
            )
        })?;
        Ok(Self(name.to_string()))
    }

    /// The normalised name, e.g. `pyyaml` for `PyYAML`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PackageName {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for PackageName {
    type Error = InputError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PackageName> for String {
    fn from(n: PackageName) -> String {
        n.0
    }
}

impl AsRef<str> for PackageName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A release version to look up: PEP 440, or a legacy version string PyPI still lists
/// (pytz `2004d`, MySQL-python `1.2.1_p2`). Keeps the string the caller gave (PyPI
/// matches release URLs after canonicalisation, so the given form is fine to send) and
/// the parsed version when there is one. Two PEP 440 versions are equal when PEP 440
/// says so (`1.0` = `1.0.0`); a legacy one only equals the same string.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageVersion {
    text: String,
    parsed: Option<pep440_rs::Version>,
}

impl PackageVersion {
    /// Validates `raw` as a version to look up: PEP 440, or a legacy string that starts
    /// with a digit (so words like `latest` are refused here, not sent upstream).
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let trimmed = raw.trim();
        let invalid = |rule: String| InputError {
            param: "version",
            value: super::clip_echo(raw),
            rule,
        };
        if trimmed.is_empty() {
            return Err(invalid("a version must not be empty".into()));
        }
        if trimmed.len() > MAX_VERSION_LEN {
            return Err(invalid(format!(
                "a version must be at most {MAX_VERSION_LEN} characters"
            )));
        }
        // Only characters PEP 440 allows may go into a URL path segment.
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '!'))
        {
            return Err(invalid(
                "a version (PEP 440) may contain only ASCII letters, digits and . - _ + !".into(),
            ));
        }
        let parsed = match pep440_rs::Version::from_str(trimmed) {
            Ok(v) => Some(v),
            // Legacy versions predate PEP 440 but are still listed (and served) by
            // PyPI; they all start with a digit.
            Err(_)
                if trimmed.starts_with(|c: char| c.is_ascii_digit()) && !trimmed.contains('!') =>
            {
                None
            }
            Err(e) => {
                return Err(invalid(format!(
                    "not a valid PEP 440 version ({e}), nor a legacy version (which starts with a digit and has no '!', e.g. 2004d)"
                )));
            }
        };
        Ok(Self {
            text: trimmed.to_string(),
            parsed,
        })
    }

    /// The version as given (validated).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed PEP 440 version; `None` for a legacy version.
    pub fn parsed(&self) -> Option<&pep440_rs::Version> {
        self.parsed.as_ref()
    }

    /// Whether this is a legacy (not PEP 440) version string.
    pub fn is_legacy(&self) -> bool {
        self.parsed.is_none()
    }
}

impl PartialEq for PackageVersion {
    fn eq(&self, other: &Self) -> bool {
        match (&self.parsed, &other.parsed) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.text == other.text,
            _ => false,
        }
    }
}
impl Eq for PackageVersion {}

impl std::hash::Hash for PackageVersion {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match &self.parsed {
            Some(v) => v.hash(state),
            None => self.text.hash(state),
        }
    }
}

impl fmt::Display for PackageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for PackageVersion {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for PackageVersion {
    type Error = InputError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PackageVersion> for String {
    fn from(v: PackageVersion) -> String {
        v.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        assert_eq!(PackageName::parse("PyYAML").unwrap().as_str(), "pyyaml");
        assert_eq!(
            PackageName::parse("Foo__Bar.baz").unwrap().as_str(),
            "foo-bar-baz"
        );
        assert_eq!(PackageName::parse("  numpy ").unwrap().as_str(), "numpy");
    }

    #[test]
    fn bad_names_are_rejected_with_the_rule() {
        for bad in [
            "",
            "-leading",
            "trailing-",
            "has space",
            "../etc/passwd",
            "a/b",
            "a?b",
            "é",
            "name#frag",
        ] {
            let err = PackageName::parse(bad).unwrap_err();
            assert_eq!(err.param, "package", "{bad}");
            assert!(!err.rule.is_empty());
        }
        assert!(PackageName::parse(&"a".repeat(201)).is_err());
    }

    #[test]
    fn versions_are_pep440() {
        let v = PackageVersion::parse("1.20.3").unwrap();
        assert_eq!(v.as_str(), "1.20.3");
        assert_eq!(v, PackageVersion::parse("1.20.3.0").unwrap());
        assert!(PackageVersion::parse("2.0rc1").is_ok());
        for bad in [
            "",
            "latest",
            "1.0/../x",
            "1 .0",
            "not a version",
            "rc1",
            "_1",
        ] {
            let err = PackageVersion::parse(bad).unwrap_err();
            assert_eq!(err.param, "version", "{bad}");
        }
    }
}

#[cfg(test)]
mod legacy_tests {
    use super::*;

    #[test]
    fn a_legacy_version_pypi_lists_can_be_looked_up() {
        for legacy in ["2004d", "1.2.1_p2", "0.1dev-r1234"] {
            let v = PackageVersion::parse(legacy).unwrap_or_else(|e| panic!("{legacy}: {e}"));
            assert!(v.is_legacy(), "{legacy}");
            assert_eq!(v.as_str(), legacy);
        }
        // Legacy versions equal only themselves, never a PEP 440 version.
        let a = PackageVersion::parse("2004d").unwrap();
        assert_eq!(a, PackageVersion::parse("2004d").unwrap());
        assert_ne!(a, PackageVersion::parse("2004b").unwrap());
        assert!(!PackageVersion::parse("2004").unwrap().is_legacy());
        assert_ne!(a, PackageVersion::parse("2004").unwrap());
        let e = PackageVersion::parse("latest").unwrap_err();
        assert!(e.rule.contains("legacy"), "{}", e.rule);
    }
}

#[cfg(test)]
mod echo_tests {
    use super::*;

    #[test]
    fn a_huge_invalid_name_or_version_is_echoed_cut() {
        let huge = "a!".repeat(2_000_000);
        let e = PackageName::parse(&huge).unwrap_err();
        assert!(e.to_string().len() < 600, "{} bytes", e.to_string().len());
        assert!(e.value.contains("more characters"));
        let e = PackageVersion::parse(&huge).unwrap_err();
        assert!(e.to_string().len() < 600, "{} bytes", e.to_string().len());
    }
}
