//! PyPI JSON API: `/pypi/{name}/json` and `/pypi/{name}/{version}/json`.
//!
//! Kept: the `info` fields the views use, `last_serial`, the files of the selected
//! release, and per version of `releases` the few file facts that decide upload date,
//! yanked state and file count, the known vulnerabilities of the release described, and
//! the long description with its content type (the package docs are a view over it; the
//! cache weighs entries by their body size, so a 100 KB README is counted). Dropped:
//! digests, URLs of files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The metadata of one release (`info`), as kept.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ProjectMeta {
    /// Display name (not normalised, e.g. `Django`).
    pub name: String,
    /// The release this `info` describes.
    pub version: String,
    /// One-line summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// The `License` field (free text, often empty).
    #[serde(default)]
    pub license: Option<String>,
    /// PEP 639 licence expression (added 2024-11).
    #[serde(default)]
    pub license_expression: Option<String>,
    /// `Requires-Python` specifier.
    #[serde(default)]
    pub requires_python: Option<String>,
    /// Label -> URL; `null` upstream when none.
    #[serde(default)]
    pub project_urls: Option<BTreeMap<String, String>>,
    /// Legacy home page.
    #[serde(default)]
    pub home_page: Option<String>,
    /// Trove classifiers.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub classifiers: Vec<String>,
    /// PEP 508 requirement strings; `null` upstream (never `[]`) when none.
    #[serde(default)]
    pub requires_dist: Option<Vec<String>>,
    /// Extras the release provides.
    #[serde(default)]
    pub provides_extra: Option<Vec<String>>,
    /// Author.
    #[serde(default)]
    pub author: Option<String>,
    /// Whether this release is yanked.
    #[serde(default)]
    pub yanked: bool,
    /// The long description (README), as published.
    #[serde(default)]
    pub description: Option<String>,
    /// `text/markdown`, `text/x-rst` or `text/plain` (with parameters), or none.
    #[serde(default)]
    pub description_content_type: Option<String>,
    /// Why, when given.
    #[serde(default)]
    pub yanked_reason: Option<String>,
}

/// Reads `null` as an empty list (tolerance for fields the real API never nulls).
fn null_as_empty<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// One distribution file, as kept.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FileInfo {
    /// File name.
    pub filename: String,
    /// `sdist`, `bdist_wheel`, ...
    #[serde(default)]
    pub packagetype: String,
    /// Upload time, ISO 8601 with `Z`.
    #[serde(default)]
    pub upload_time_iso_8601: Option<String>,
    /// Release-level yanked flag repeated on each file.
    #[serde(default)]
    pub yanked: bool,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// The file's `Requires-Python` (what pip checks before it picks a release).
    #[serde(default)]
    pub requires_python: Option<String>,
    /// Where the file is and its digest: kept for the files of `urls` only (what a
    /// download needs), not for every file of `releases` (that would double the size
    /// of big projects' documents in the cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Box<FileLink>>,
}

/// Where a distribution file is, and what its bytes must hash to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct FileLink {
    /// The file's URL as listed: absolute (`https://files.pythonhosted.org/...`) or
    /// relative to the index.
    pub url: String,
    /// `digests.sha256`, lowercase hex; `None` when the listing gives none.
    pub sha256: Option<String>,
}

/// A file of `urls` as sent: the kept fields plus its `url` and `digests`.
#[derive(Deserialize)]
struct WireFile {
    #[serde(flatten)]
    file: FileInfo,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    digests: Option<WireDigests>,
}

#[derive(Deserialize)]
struct WireDigests {
    #[serde(default)]
    sha256: Option<String>,
}

impl WireFile {
    fn into_file(self) -> FileInfo {
        let WireFile {
            mut file,
            url,
            digests,
        } = self;
        if let Some(url) = url.filter(|u| !u.is_empty()) {
            file.link = Some(Box::new(FileLink {
                url,
                sha256: digests
                    .and_then(|d| d.sha256)
                    .map(|h| h.to_ascii_lowercase()),
            }));
        }
        file
    }
}

/// A parsed project or release body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectDoc {
    /// `info`.
    pub info: ProjectMeta,
    /// `last_serial`.
    pub last_serial: Option<u64>,
    /// Files of `info.version`.
    pub urls: Vec<FileInfo>,
    /// Every version and its files (project route only).
    pub releases: Option<BTreeMap<String, Vec<FileInfo>>>,
    /// Known vulnerabilities of `info.version` (absent from 2021 bodies: empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vulnerabilities: Vec<Vulnerability>,
}

/// One known vulnerability of a release, as PyPI lists it (from OSV).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vulnerability {
    /// The advisory id (e.g. `GHSA-…`, `PYSEC-…`).
    pub id: String,
    /// Other ids of the same advisory (CVE ids...).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub aliases: Vec<String>,
    /// One-line summary, when given.
    #[serde(default)]
    pub summary: Option<String>,
    /// Link to the advisory.
    #[serde(default)]
    pub link: Option<String>,
    /// Where it comes from (`osv`).
    #[serde(default)]
    pub source: Option<String>,
    /// Versions that fix it.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub fixed_in: Vec<String>,
    /// When the advisory was withdrawn (RFC 3339), if it was.
    #[serde(default)]
    pub withdrawn: Option<String>,
    /// The date of the data it was read from (`YYYY-MM-DD`), when that is not now:
    /// OSV's export, synced earlier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_date: Option<String>,
}

#[derive(Deserialize)]
struct Wire {
    info: ProjectMeta,
    #[serde(default)]
    last_serial: Option<u64>,
    #[serde(default)]
    urls: Option<Vec<WireFile>>,
    #[serde(default)]
    releases: Option<BTreeMap<String, Vec<FileInfo>>>,
    #[serde(default, deserialize_with = "lenient_vulnerabilities")]
    vulnerabilities: Vec<Vulnerability>,
}

/// The vulnerabilities list, keeping the entries that have the documented shape: one
/// odd entry must not cost the whole body (the list is an addition of 2021-10).
fn lenient_vulnerabilities<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<Vulnerability>, D::Error> {
    let raw = Option::<Vec<serde_json::Value>>::deserialize(d).unwrap_or_default();
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect())
}

/// Parses a project or release body.
pub fn parse(body: &[u8]) -> Result<ProjectDoc, serde_json::Error> {
    let mut w: Wire = serde_json::from_slice(body)?;
    // Vectors grow by doubling while parsed: give the slack back before caching.
    let m = &mut w.info;
    m.classifiers.shrink_to_fit();
    for v in [&mut m.requires_dist, &mut m.provides_extra]
        .into_iter()
        .flatten()
    {
        v.shrink_to_fit();
    }
    let urls: Vec<FileInfo> = w
        .urls
        .unwrap_or_default()
        .into_iter()
        .map(WireFile::into_file)
        .collect();
    for files in w.releases.iter_mut().flat_map(|r| r.values_mut()) {
        files.shrink_to_fit();
    }
    Ok(ProjectDoc {
        info: w.info,
        last_serial: w.last_serial,
        urls,
        releases: w.releases,
        vulnerabilities: {
            let mut v = w.vulnerabilities;
            v.shrink_to_fit();
            v
        },
    })
}

impl ProjectDoc {
    /// Approximate heap size: what the allocator actually hands out for this document,
    /// counting struct sizes, allocation granularity and half-full B-tree nodes (the
    /// load harness checks it against glibc's own count: within ~10 %).
    pub fn approx_bytes(&self) -> usize {
        use super::heap::{btree_nodes, opt_string, string, strings, vec};
        let files = |v: &Vec<FileInfo>| {
            vec(v)
                + v.iter()
                    .map(|f| {
                        string(&f.filename)
                            + string(&f.packagetype)
                            + opt_string(&f.upload_time_iso_8601)
                            + f.link.as_ref().map_or(0, |l| {
                                super::heap::boxed::<FileLink>()
                                    + string(&l.url)
                                    + opt_string(&l.sha256)
                            })
                    })
                    .sum::<usize>()
        };
        let m = &self.info;
        let info = string(&m.name)
            + string(&m.version)
            + opt_string(&m.summary)
            + opt_string(&m.license)
            + opt_string(&m.license_expression)
            + opt_string(&m.requires_python)
            + opt_string(&m.home_page)
            + opt_string(&m.author)
            + opt_string(&m.yanked_reason)
            + opt_string(&m.description)
            + opt_string(&m.description_content_type)
            + strings(&m.classifiers)
            + m.requires_dist.as_ref().map_or(0, strings)
            + m.provides_extra.as_ref().map_or(0, strings)
            + m.project_urls.as_ref().map_or(0, |u| {
                btree_nodes::<String, String>(u.len())
                    + u.iter().map(|(k, v)| string(k) + string(v)).sum::<usize>()
            });
        let releases = self.releases.as_ref().map_or(0, |r| {
            btree_nodes::<String, Vec<FileInfo>>(r.len())
                + r.iter().map(|(v, fs)| string(v) + files(fs)).sum::<usize>()
        });
        let vulns = vec(&self.vulnerabilities)
            + self
                .vulnerabilities
                .iter()
                .map(|v| {
                    string(&v.id)
                        + strings(&v.aliases)
                        + opt_string(&v.summary)
                        + opt_string(&v.link)
                        + opt_string(&v.source)
                        + strings(&v.fixed_in)
                        + opt_string(&v.withdrawn)
                })
                .sum::<usize>();
        super::heap::arc_document() + info + files(&self.urls) + releases + vulns
    }

    /// Earliest upload time among `files`, if any.
    pub fn first_upload(files: &[FileInfo]) -> Option<String> {
        files
            .iter()
            .filter_map(|f| f.upload_time_iso_8601.clone())
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_project_keeps_every_release() {
        let doc = parse(include_bytes!(
            "../../../sim/data/pypi-json/project/numpy.json"
        ))
        .unwrap();
        assert_eq!(doc.info.name, "numpy");
        let releases = doc.releases.as_ref().unwrap();
        assert!(releases.len() > 100, "{} releases", releases.len());
        assert!(releases.contains_key(&doc.info.version));
        assert!(doc.last_serial.is_some());
    }

    #[test]
    fn release_route_has_no_releases_and_null_requires_dist_is_none() {
        let doc = parse(include_bytes!(
            "../../../sim/data/pypi-json/release/microsoft-0.0.1.json"
        ))
        .unwrap();
        assert_eq!(doc.info.version, "0.0.1");
        assert!(doc.urls.is_empty());
        assert_eq!(doc.info.requires_dist, None);
    }

    #[test]
    fn unknown_fields_are_tolerated_and_missing_info_is_refused() {
        let ok = br#"{"info":{"name":"x","version":"1","new_field":[1]},"brand_new":true}"#;
        assert_eq!(parse(ok).unwrap().info.name, "x");
        assert!(parse(br#"{"releases":{}}"#).is_err());
        assert!(parse(br#"{"info": {"#).is_err());
    }
}
