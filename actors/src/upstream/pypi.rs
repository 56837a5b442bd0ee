//! PyPI JSON API: `/pypi/{name}/json` and `/pypi/{name}/{version}/json`.
//!
//! Kept: the `info` fields the views use, `last_serial`, the files of the selected
//! release, and per version of `releases` the few file facts that decide upload date,
//! yanked state and file count. Dropped: the long description (often 100 KB+), digests,
//! URLs of files, vulnerabilities.

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
}

/// A parsed project or release body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectDoc {
    /// `info`.
    pub info: ProjectMeta,
    /// `last_serial`.
    pub last_serial: Option<u64>,
    /// Files of `info.version`.
    pub urls: Vec<FileInfo>,
    /// Every version and its files (project route only).
    pub releases: Option<BTreeMap<String, Vec<FileInfo>>>,
}

#[derive(Deserialize)]
struct Wire {
    info: ProjectMeta,
    #[serde(default)]
    last_serial: Option<u64>,
    #[serde(default)]
    urls: Option<Vec<FileInfo>>,
    #[serde(default)]
    releases: Option<BTreeMap<String, Vec<FileInfo>>>,
}

/// Bytes the allocator hands out for a block of `n` bytes (glibc: an 8-byte header,
/// 16-byte granules, 32 bytes at least); nothing for `n == 0` (no allocation).
fn heap_block(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n + 8).div_ceil(16).max(2) * 16
    }
}

/// Heap of the nodes of a `BTreeMap<K, V>` with `len` entries: one leaf of 11 slots at
/// least, and nodes about half full beyond that (keys arrive in order).
fn btree_nodes<K, V>(len: usize) -> usize {
    let leaf = heap_block(11 * (std::mem::size_of::<K>() + std::mem::size_of::<V>()) + 16);
    match len {
        0 => 0,
        1..=11 => leaf,
        n => leaf * n.div_ceil(6) * 13 / 12, // + internal nodes, about 1 per 12 leaves
    }
}

/// Parses a project or release body.
pub fn parse(body: &[u8]) -> Result<ProjectDoc, serde_json::Error> {
    let w: Wire = serde_json::from_slice(body)?;
    Ok(ProjectDoc {
        info: w.info,
        last_serial: w.last_serial,
        urls: w.urls.unwrap_or_default(),
        releases: w.releases,
    })
}

impl ProjectDoc {
    /// Approximate heap size: what the allocator actually hands out for this document,
    /// counting struct sizes, allocation granularity and half-full B-tree nodes (the
    /// load harness checks it against glibc's own count: within ~10 %).
    pub fn approx_bytes(&self) -> usize {
        use std::mem::size_of;
        let s = |x: &String| heap_block(x.capacity());
        let os = |x: &Option<String>| x.as_ref().map_or(0, s);
        let strings = |v: &Vec<String>| {
            heap_block(v.capacity() * size_of::<String>()) + v.iter().map(s).sum::<usize>()
        };
        let files = |v: &Vec<FileInfo>| {
            heap_block(v.capacity() * size_of::<FileInfo>())
                + v.iter()
                    .map(|f| s(&f.filename) + s(&f.packagetype) + os(&f.upload_time_iso_8601))
                    .sum::<usize>()
        };
        let m = &self.info;
        let info = s(&m.name)
            + s(&m.version)
            + os(&m.summary)
            + os(&m.license)
            + os(&m.license_expression)
            + os(&m.requires_python)
            + os(&m.home_page)
            + os(&m.author)
            + os(&m.yanked_reason)
            + strings(&m.classifiers)
            + m.requires_dist.as_ref().map_or(0, strings)
            + m.provides_extra.as_ref().map_or(0, strings)
            + m.project_urls.as_ref().map_or(0, |u| {
                btree_nodes::<String, String>(u.len())
                    + u.iter().map(|(k, v)| s(k) + s(v)).sum::<usize>()
            });
        let releases = self.releases.as_ref().map_or(0, |r| {
            btree_nodes::<String, Vec<FileInfo>>(r.len())
                + r.iter().map(|(v, fs)| s(v) + files(fs)).sum::<usize>()
        });
        // The `Arc<Document>` block holding this document inline.
        heap_block(16 + size_of::<super::Document>()) + info + files(&self.urls) + releases
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
