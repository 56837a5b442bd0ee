//! The upstream documents the engine fetches and caches, one `Query` per document.
//!
//! Answers to callers (package info, versions, dependencies, ...) are views computed
//! from these documents, so one cached project body serves many questions.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::name::{PackageName, PackageVersion};
use super::source::Upstream;

/// The pypistats endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatsKind {
    /// `recent`: last day / week / month totals.
    Recent,
    /// `overall`: the daily series (with and without mirrors), 180 days.
    Overall,
    /// `python_major`: daily series by Python major version.
    PythonMajor,
    /// `python_minor`: daily series by Python minor version.
    PythonMinor,
    /// `system`: daily series by operating system.
    System,
}

impl StatsKind {
    /// The endpoint's path segment.
    pub fn endpoint(self) -> &'static str {
        match self {
            StatsKind::Recent => "recent",
            StatsKind::Overall => "overall",
            StatsKind::PythonMajor => "python_major",
            StatsKind::PythonMinor => "python_minor",
            StatsKind::System => "system",
        }
    }
}

/// One upstream document: the unit of fetching, caching and coalescing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Query {
    /// `/pypi/{name}/json`.
    Project(PackageName),
    /// `/pypi/{name}/{version}/json`.
    Release(PackageName, PackageVersion),
    /// `/simple/{name}/` as PEP 691 JSON.
    Simple(PackageName),
    /// `/api/packages/{name}/{endpoint}` on pypistats.
    Stats(PackageName, StatsKind),
    /// `/api/v2/projects/{name}` on pepy.
    Pepy(PackageName),
    /// The top-packages dataset.
    TopPackages,
    /// A release's core metadata file (PEP 658 / 714): `{file url}.metadata`, where the
    /// file URL is the one the Simple API page gives (absolute, or relative to the page).
    /// Served by the Simple API's upstream; it never changes once published.
    CoreMetadata(PackageName, PackageVersion, MetadataFile),
    /// A release's `METADATA` read out of one of its wheels (HTTP range requests, or
    /// the whole file from a server that ignores `Range`), for an index that serves
    /// no metadata file: the wheel's absolute URL. Served by the files upstream; it
    /// never changes once published.
    WheelMetadata(PackageName, PackageVersion, std::sync::Arc<str>),
    /// A release's `PKG-INFO` read out of its sdist (`.tar.gz` or `.zip`, downloaded
    /// whole under the files upstream's body cap), for a release with no wheel: the
    /// sdist's absolute URL. Served by the files upstream; it never changes once
    /// published. Whether its requirements can be used is the walk's to decide.
    SdistMetadata(PackageName, PackageVersion, std::sync::Arc<str>),
    /// The ids of OSV's advisories about a PyPI release: `POST /v1/querybatch` with
    /// the name and version, every page of ids followed (within bounds).
    OsvRelease(PackageName, PackageVersion),
    /// One OSV advisory, `GET /v1/vulns/{id}`; the id is checked
    /// (`upstream::osv::check_id`) before a query is built from it.
    OsvAdvisory(std::sync::Arc<str>),
    /// `{extra index}/{name}/`: the project's page on the private index configured
    /// beside PyPI (PEP 691 JSON or PEP 503 HTML), for the dependency-confusion check.
    ExtraSimple(PackageName),
}

/// A core metadata file as the index lists it: the file's URL (absolute, or relative
/// to the Simple page; a `#sha256=` fragment names the file) and the sha256 the index
/// gives for the metadata file itself (PEP 658 / 714 `core-metadata: {"sha256": ...}`,
/// `data-core-metadata="sha256=..."`), which the fetch checks the bytes against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MetadataFile {
    /// The file's URL as the page gives it, keyed by its sha256 when known.
    pub url: std::sync::Arc<str>,
    /// The metadata file's sha256 (64 lowercase hex digits) when the index gives one.
    pub sha256: Option<std::sync::Arc<str>>,
}

impl MetadataFile {
    /// A metadata file named by the file's URL, with no hash to check.
    pub fn unhashed(url: impl Into<std::sync::Arc<str>>) -> Self {
        MetadataFile {
            url: url.into(),
            sha256: None,
        }
    }
}

impl From<&str> for MetadataFile {
    fn from(url: &str) -> Self {
        MetadataFile::unhashed(url)
    }
}

impl From<String> for MetadataFile {
    fn from(url: String) -> Self {
        MetadataFile::unhashed(url)
    }
}

/// Query kinds, for per-kind policies (fresh TTL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKind {
    /// Project or release JSON.
    ProjectJson,
    /// Simple API page.
    Simple,
    /// Download statistics (pypistats or pepy).
    Downloads,
    /// Top packages dataset.
    TopPackages,
    /// Release metadata (core metadata files): immutable once published.
    Metadata,
}

impl Query {
    /// The upstream that serves this document.
    pub fn upstream(&self) -> Upstream {
        match self {
            Query::Project(_) | Query::Release(..) => Upstream::PypiJson,
            Query::Simple(_) | Query::CoreMetadata(..) => Upstream::PypiSimple,
            Query::WheelMetadata(..) | Query::SdistMetadata(..) => Upstream::Files,
            Query::Stats(..) => Upstream::Pypistats,
            Query::Pepy(_) => Upstream::Pepy,
            Query::TopPackages => Upstream::TopPackages,
            Query::OsvRelease(..) | Query::OsvAdvisory(_) => Upstream::Osv,
            Query::ExtraSimple(_) => Upstream::ExtraIndex,
        }
    }

    /// The policy kind.
    pub fn kind(&self) -> QueryKind {
        match self {
            // Advisories replace the per-release JSON's list: the same freshness.
            Query::Project(_) | Query::Release(..) => QueryKind::ProjectJson,
            Query::OsvRelease(..) | Query::OsvAdvisory(_) => QueryKind::ProjectJson,
            Query::Simple(_) | Query::ExtraSimple(_) => QueryKind::Simple,
            Query::Stats(..) | Query::Pepy(_) => QueryKind::Downloads,
            Query::TopPackages => QueryKind::TopPackages,
            Query::CoreMetadata(..) | Query::WheelMetadata(..) | Query::SdistMetadata(..) => {
                QueryKind::Metadata
            }
        }
    }

    /// Whether the document can never change: what is read from a published file
    /// that the key names by its sha256 (a `#sha256=HEX` fragment on its URL, from the
    /// index's listing). Another file under the same name would have another key.
    pub fn is_immutable(&self) -> bool {
        match self {
            Query::CoreMetadata(_, _, MetadataFile { url, .. })
            | Query::WheelMetadata(_, _, url)
            | Query::SdistMetadata(_, _, url) => url
                .rsplit_once('#')
                .and_then(|(_, f)| f.strip_prefix("sha256="))
                .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())),
            _ => false,
        }
    }

    /// The package this document is about, if any.
    pub fn package(&self) -> Option<&PackageName> {
        match self {
            Query::Project(n) | Query::Release(n, _) | Query::Simple(n) | Query::Pepy(n) => Some(n),
            Query::Stats(n, _)
            | Query::CoreMetadata(n, ..)
            | Query::WheelMetadata(n, ..)
            | Query::SdistMetadata(n, ..) => Some(n),
            Query::OsvRelease(n, _) | Query::ExtraSimple(n) => Some(n),
            Query::TopPackages | Query::OsvAdvisory(_) => None,
        }
    }

    /// The path and query string under the upstream's base URL. Built only from
    /// validated parts, so it always has the upstream's shape; except a core metadata
    /// file's, which is the file URL of the Simple page (see `upstream::metadata_url`).
    pub fn path(&self) -> String {
        match self {
            Query::Project(n) => format!("/pypi/{n}/json"),
            Query::Release(n, v) => format!("/pypi/{n}/{v}/json"),
            Query::Simple(n) => format!("/simple/{n}/"),
            Query::Stats(n, k) => format!("/api/packages/{n}/{}", k.endpoint()),
            Query::Pepy(n) => format!("/api/v2/projects/{n}"),
            Query::TopPackages => String::new(),
            Query::CoreMetadata(_, _, f) => format!("{}.metadata", f.url),
            Query::WheelMetadata(_, _, url) => format!("{url} (METADATA)"),
            Query::SdistMetadata(_, _, url) => format!("{url} (PKG-INFO)"),
            // One batch route for every release: the key names the release asked for.
            Query::OsvRelease(n, v) => format!("/v1/querybatch/PyPI/{n}/{v}"),
            Query::OsvAdvisory(id) => format!("/v1/vulns/{id}"),
            // The extra index's URL names its Simple root, as pip's does.
            Query::ExtraSimple(n) => format!("/{n}/"),
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::TopPackages => f.write_str("top-packages"),
            q => write!(f, "{}{}", q.upstream(), q.path()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_have_the_upstream_shape() {
        let n = PackageName::parse("PyYAML").unwrap();
        let v = PackageVersion::parse("6.0").unwrap();
        assert_eq!(Query::Project(n.clone()).path(), "/pypi/pyyaml/json");
        assert_eq!(Query::Release(n.clone(), v).path(), "/pypi/pyyaml/6.0/json");
        assert_eq!(Query::Simple(n.clone()).path(), "/simple/pyyaml/");
        assert_eq!(
            Query::Stats(n.clone(), StatsKind::PythonMinor).path(),
            "/api/packages/pyyaml/python_minor"
        );
        assert_eq!(Query::Pepy(n).path(), "/api/v2/projects/pyyaml");
    }

    #[test]
    fn only_metadata_keyed_by_a_files_sha256_is_immutable() {
        let n = PackageName::parse("x").unwrap();
        let v = PackageVersion::parse("1").unwrap();
        let hex = "0f".repeat(32);
        let keyed = format!("/f/x-1-py3-none-any.whl#sha256={hex}");
        let q = |u: &str| Query::CoreMetadata(n.clone(), v.clone(), MetadataFile::unhashed(u));
        assert!(q(&keyed).is_immutable());
        assert!(Query::WheelMetadata(n.clone(), v.clone(), keyed.as_str().into()).is_immutable());
        assert!(!q("/f/x-1-py3-none-any.whl").is_immutable());
        assert!(!q("/f/x-1-py3-none-any.whl#sha256=00").is_immutable());
        assert!(!Query::Simple(n).is_immutable());
    }
}
