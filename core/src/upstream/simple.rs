//! PyPI Simple API, PEP 691 JSON: `/simple/{name}/` (PEP 503 HTML pages are read
//! into the same [`SimpleDoc`] by [`super::simple_html`]). The fallback for version
//! lists when the JSON API fails, and the index of candidates for resolution.

use serde::{Deserialize, Serialize};

/// The PEP 691 JSON media type.
pub const ACCEPT: &str = "application/vnd.pypi.simple.v1+json";
/// PEP 691's name for a PEP 503 HTML page.
pub const HTML_V1: &str = "application/vnd.pypi.simple.v1+html";
/// What is asked for: JSON first, HTML from an index that has nothing else (read by
/// [`super::simple_html`]), in the order pip and uv ask.
pub const ACCEPT_ANY: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// One file of a project page, as kept.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct SimpleFile {
    /// File name; the version is read from it.
    pub filename: String,
    /// Upload time (api 1.1+).
    #[serde(default, rename = "upload-time")]
    pub upload_time: Option<String>,
    /// `false`, `true`, or a reason (PEP 691); anything else refuses the page.
    /// Left out when absent, so the kept form round-trips through the store.
    #[serde(default, skip_serializing_if = "Yanked::is_absent")]
    pub yanked: Yanked,
    /// Size in bytes (api 1.1+).
    #[serde(default)]
    pub size: Option<u64>,
    /// The file's URL, absolute or relative to the page (kept for metadata files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The file's `Requires-Python`.
    #[serde(
        default,
        rename = "requires-python",
        skip_serializing_if = "Option::is_none"
    )]
    pub requires_python: Option<String>,
    /// PEP 714 `core-metadata`: whether `{url}.metadata` exists.
    #[serde(
        default,
        rename = "core-metadata",
        skip_serializing_if = "CoreMetadata::is_absent"
    )]
    pub core_metadata: CoreMetadata,
    /// PEP 658's older name for the same (`data-dist-info-metadata`), still sent.
    #[serde(
        default,
        rename = "data-dist-info-metadata",
        skip_serializing_if = "CoreMetadata::is_absent"
    )]
    pub dist_info_metadata: CoreMetadata,
    /// The file's hashes (PEP 691 `hashes`); only its sha256 is kept.
    #[serde(default, skip_serializing_if = "FileHashes::is_empty")]
    pub hashes: FileHashes,
}

/// A file's hashes as a PEP 691 page gives them; only `sha256` is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHashes {
    /// Lowercase hex, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl FileHashes {
    /// No hash kept.
    pub fn is_empty(&self) -> bool {
        self.sha256.is_none()
    }
}

/// The sha256 a file URL names in its `#sha256=HEX` fragment (PEP 503), if a well-formed one.
pub fn url_sha256(url: &str) -> Option<&str> {
    let (_, frag) = url.rsplit_once('#')?;
    let hex = frag.strip_prefix("sha256=")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// `core-metadata` of a file: `false`, `true`, or its hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CoreMetadata {
    /// `false` or `true`.
    Flag(bool),
    /// Present, with hashes (`{"sha256": hex}`).
    Hashes(std::collections::BTreeMap<String, String>),
    /// Not given.
    #[default]
    #[serde(skip)]
    Absent,
}

impl CoreMetadata {
    /// Not given upstream.
    pub fn is_absent(&self) -> bool {
        matches!(self, CoreMetadata::Absent)
    }

    /// Whether a metadata file is served.
    pub fn available(&self) -> bool {
        matches!(self, CoreMetadata::Flag(true) | CoreMetadata::Hashes(_))
    }
}

/// A file's yanked state, kept compact (PEP 691 allows only a boolean or a reason).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Yanked {
    /// `false` or `true`.
    Flag(bool),
    /// Yanked, with the reason given.
    Reason(String),
    /// Not given.
    #[default]
    #[serde(skip)]
    Absent,
}

impl Yanked {
    /// Not given upstream.
    pub fn is_absent(&self) -> bool {
        matches!(self, Yanked::Absent)
    }
}

impl SimpleFile {
    /// Whether a core metadata file (`{url}.metadata`) is served for this file.
    pub fn has_metadata(&self) -> bool {
        self.core_metadata.available() || self.dist_info_metadata.available()
    }

    /// The file's URL as the page gives it, naming the file's sha256 in a
    /// `#sha256=HEX` fragment when the page gives one (a PEP 503 link carries it; a
    /// PEP 691 file, in `hashes`): the key of what is read from the file, which is
    /// then immutable.
    pub fn keyed_url(&self) -> Option<String> {
        let url = self.url.as_deref()?;
        if url.contains('#') {
            return Some(url.to_string());
        }
        Some(match self.hashes.sha256.as_deref() {
            Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                format!("{url}#sha256={}", h.to_ascii_lowercase())
            }
            _ => url.to_string(),
        })
    }

    /// The sha256 the index gives for the file's metadata file (`core-metadata`, else
    /// the older `dist-info-metadata`), when well formed (64 hex digits, lowercased).
    /// A malformed or other-algorithm hash cannot be checked and is ignored.
    pub fn metadata_sha256(&self) -> Option<String> {
        [&self.core_metadata, &self.dist_info_metadata]
            .into_iter()
            .find_map(|m| match m {
                CoreMetadata::Hashes(h) => h
                    .get("sha256")
                    .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .map(|h| h.to_ascii_lowercase()),
                _ => None,
            })
    }

    /// The file's metadata file as a query names it (its keyed URL and the hash to
    /// check), when the index advertises one.
    pub fn metadata_file(&self) -> Option<crate::model::MetadataFile> {
        if !self.has_metadata() {
            return None;
        }
        Some(crate::model::MetadataFile {
            url: self.keyed_url()?.into(),
            sha256: self.metadata_sha256().map(Into::into),
        })
    }

    /// Whether the file is a wheel.
    pub fn is_wheel(&self) -> bool {
        self.filename.ends_with(".whl")
    }

    /// Whether the file is yanked.
    pub fn is_yanked(&self) -> bool {
        matches!(&self.yanked, Yanked::Flag(true) | Yanked::Reason(_))
    }

    /// The version a distribution file belongs to, read from its name (wheel, egg,
    /// sdist archives); `None` for names it cannot read.
    pub fn version(&self) -> Option<&str> {
        let f = self.filename.as_str();
        if let Some(stem) = f.strip_suffix(".whl").or_else(|| f.strip_suffix(".egg")) {
            return stem.split('-').nth(1);
        }
        let stem = [".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip", ".tar"]
            .iter()
            .find_map(|ext| f.strip_suffix(ext))?;
        stem.rsplit_once('-').map(|(_, v)| v)
    }
}

/// A parsed project page.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SimpleDoc {
    /// Normalised name.
    pub name: String,
    /// Every version with files, ascending (api 1.1+; empty on 1.0 pages).
    #[serde(default)]
    pub versions: Vec<String>,
    /// Files, sorted by (version, filename).
    pub files: Vec<SimpleFile>,
}

/// Parses a PEP 691 project page.
pub fn parse(body: &[u8]) -> Result<SimpleDoc, serde_json::Error> {
    let mut doc: SimpleDoc = serde_json::from_slice(body)?;
    doc.versions.shrink_to_fit();
    doc.files.shrink_to_fit();
    Ok(doc)
}

impl SimpleDoc {
    /// Heap size of what is kept.
    pub fn approx_bytes(&self) -> usize {
        use super::heap::{opt_string, string, strings, vec};
        super::heap::arc_document()
            + string(&self.name)
            + strings(&self.versions)
            + vec(&self.files)
            + self
                .files
                .iter()
                .map(|f| {
                    string(&f.filename)
                        + opt_string(&f.hashes.sha256)
                        + opt_string(&f.upload_time)
                        + opt_string(&f.url)
                        + opt_string(&f.requires_python)
                        + [&f.core_metadata, &f.dist_info_metadata]
                            .iter()
                            .map(|m| match m {
                                CoreMetadata::Hashes(h) => {
                                    super::heap::btree_nodes::<String, String>(h.len())
                                        + h.iter()
                                            .map(|(k, v)| string(k) + string(v))
                                            .sum::<usize>()
                                }
                                _ => 0,
                            })
                            .sum::<usize>()
                        + match &f.yanked {
                            Yanked::Reason(r) => string(r),
                            _ => 0,
                        }
                })
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_page_reads_versions_and_yanked_reasons() {
        let doc = parse(include_bytes!(
            "../../../sim/data/pypi-simple/json/black.json"
        ))
        .unwrap();
        assert_eq!(doc.name, "black");
        assert!(doc.versions.contains(&"21.11b0".to_string()));
        let yanked: Vec<_> = doc.files.iter().filter(|f| f.is_yanked()).collect();
        assert!(yanked.iter().any(|f| f.version() == Some("21.11b0")));
    }

    #[test]
    fn a_file_key_names_its_sha256_from_the_link_or_the_hashes() {
        let hex = "ab".repeat(32);
        let page = format!(
            r#"{{"name":"x","files":[
              {{"filename":"x-1-py3-none-any.whl","url":"/f/x-1-py3-none-any.whl","hashes":{{"sha256":"{hex}","md5":"00"}}}},
              {{"filename":"x-2-py3-none-any.whl","url":"/f/x-2-py3-none-any.whl#sha256={hex}"}},
              {{"filename":"x-3-py3-none-any.whl","url":"/f/x-3-py3-none-any.whl","hashes":{{"sha256":"short"}}}}]}}"#
        );
        let doc = parse(page.as_bytes()).unwrap();
        let keys: Vec<_> = doc.files.iter().map(|f| f.keyed_url().unwrap()).collect();
        assert_eq!(keys[0], format!("/f/x-1-py3-none-any.whl#sha256={hex}"));
        assert_eq!(keys[1], format!("/f/x-2-py3-none-any.whl#sha256={hex}"));
        assert_eq!(keys[2], "/f/x-3-py3-none-any.whl");
        assert_eq!(url_sha256(&keys[0]), Some(hex.as_str()));
        assert_eq!(url_sha256(&keys[2]), None);
        assert_eq!(url_sha256("/f/x.whl#sha256=zz"), None);
        // Kept and read back with its hash.
        let back: SimpleDoc = serde_json::from_slice(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn versions_are_read_from_file_names() {
        let f = |n: &str| SimpleFile {
            filename: n.into(),
            upload_time: None,
            yanked: Yanked::Flag(false),
            size: None,
            url: None,
            requires_python: None,
            core_metadata: CoreMetadata::Absent,
            dist_info_metadata: CoreMetadata::Absent,
            hashes: FileHashes::default(),
        };
        assert_eq!(
            f("black-21.11b0-py3-none-any.whl").version(),
            Some("21.11b0")
        );
        assert_eq!(f("numpy-1.20.3.tar.gz").version(), Some("1.20.3"));
        assert_eq!(f("pytz-2004b.zip").version(), Some("2004b"));
        assert_eq!(f("setup.exe").version(), None);
    }

    #[test]
    fn a_yanked_field_that_is_not_a_flag_or_a_reason_refuses_the_page() {
        let huge = format!(
            r#"{{"name":"x","files":[{{"filename":"x-1.tar.gz","yanked":[{}]}}]}}"#,
            vec!["1"; 1000].join(",")
        );
        assert!(parse(huge.as_bytes()).is_err());
        let ok = parse(br#"{"name":"x","files":[{"filename":"x-1.tar.gz","yanked":"bad build"}]}"#)
            .unwrap();
        assert!(ok.files[0].is_yanked());
    }

    #[test]
    fn missing_files_is_refused() {
        assert!(parse(br#"{"name":"x","versions":[]}"#).is_err());
        assert!(parse(br#"{"name":"x","files":null}"#).is_err());
    }
}
