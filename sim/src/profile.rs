//! Index profiles: the kinds of package index users really sit behind, served from the
//! same catalog. PyPI itself is one of them; company mirrors and private indexes
//! (Artifactory, Nexus, devpi, bandersnatch, CodeArtifact) often serve only the Simple
//! API, without PEP 658 metadata files, without the JSON API, and some proxies ignore
//! HTTP `Range`.

use std::fmt;
use std::str::FromStr;

/// What kind of index the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndexProfile {
    /// PyPI as it is: the JSON API (project and per-release), the Simple API in PEP 691
    /// JSON and PEP 503 HTML, PEP 658 metadata files advertised and served, `Range`
    /// honoured on files.
    #[default]
    Pypi,
    /// A PEP 503 mirror: the Simple API in HTML only (whatever the `Accept`), no JSON
    /// API, no metadata files (none advertised, `*.metadata` answers 404). Files honour
    /// `Range`.
    SimpleHtml,
    /// A PEP 691 index without metadata: the Simple API in JSON and HTML, no JSON API,
    /// no metadata files. Files honour `Range`.
    SimpleJson,
    /// As [`IndexProfile::SimpleJson`], behind a proxy that ignores `Range`: every file
    /// request is answered whole, `200`.
    NoRange,
}

impl IndexProfile {
    /// Every profile, in the order the help lists them.
    pub const ALL: [IndexProfile; 4] = [
        IndexProfile::Pypi,
        IndexProfile::SimpleHtml,
        IndexProfile::SimpleJson,
        IndexProfile::NoRange,
    ];

    /// The profile's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            IndexProfile::Pypi => "pypi",
            IndexProfile::SimpleHtml => "simple-html",
            IndexProfile::SimpleJson => "simple-json",
            IndexProfile::NoRange => "no-range",
        }
    }

    /// Whether `/pypi/{name}/json` and `/pypi/{name}/{version}/json` exist.
    pub fn has_json_api(self) -> bool {
        self == IndexProfile::Pypi
    }

    /// Whether the Simple API answers PEP 691 JSON to a client that asks for it.
    pub fn has_simple_json(self) -> bool {
        self != IndexProfile::SimpleHtml
    }

    /// Whether wheels' PEP 658 metadata files are advertised and served.
    pub fn has_metadata_files(self) -> bool {
        self == IndexProfile::Pypi
    }

    /// Whether file requests with `Range` get `206` with that part.
    pub fn honours_range(self) -> bool {
        self != IndexProfile::NoRange
    }
}

impl fmt::Display for IndexProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An index profile name that is not one of [`IndexProfile::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown index profile {0:?}: use one of pypi, simple-html, simple-json, no-range")]
pub struct UnknownProfile(pub String);

impl FromStr for IndexProfile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IndexProfile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownProfile(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_parses_back_from_its_name() {
        for p in IndexProfile::ALL {
            assert_eq!(p.name().parse::<IndexProfile>(), Ok(p));
        }
        let e = "artifactory".parse::<IndexProfile>().unwrap_err();
        assert!(e.to_string().contains("simple-html"), "{e}");
    }
}
