//! One module per upstream: what to ask for (`Accept`), and how to read the answer.
//!
//! Parsers keep only the fields the views need (a project body can be megabytes, most
//! of it the long description), tolerate added fields and the nulls the real APIs send
//! (`shared/fixtures/SCHEMA.md`), and refuse a body whose content type or shape is not
//! the upstream's: a refused body is never cached.

pub mod heap;
pub mod hosts;
pub mod metadata;
pub mod osv;
pub mod osv_export;
pub mod pepy;
pub mod pypi;
pub mod pypistats;
pub mod sdist;
pub mod simple;
pub mod simple_html;
pub mod top;
pub mod wheel;
mod zip;

pub use metadata::ReleaseMetadata;
pub use osv::{OsvAdvisory, OsvIds};
pub use pepy::PepyDoc;
pub use pypi::{FileInfo, FileLink, ProjectDoc, ProjectMeta, Vulnerability};
pub use pypistats::{Day, RecentDoc, SeriesDoc, SeriesPoint};
pub use simple::{CoreMetadata, SimpleDoc, SimpleFile, Yanked};
pub use top::{TopDoc, TopRow};

use serde::{Deserialize, Serialize};

use crate::model::{PackageName, PackageVersion, Query, clip_echo};

/// A parsed upstream document: the unit the cache stores (and the store keeps, as the
/// serde form of these kept types).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Document {
    /// `/pypi/{name}/json`.
    Project(ProjectDoc),
    /// `/pypi/{name}/{version}/json`.
    Release(ProjectDoc),
    /// `/simple/{name}/` (PEP 691 JSON).
    Simple(SimpleDoc),
    /// pypistats `recent`.
    Recent(RecentDoc),
    /// pypistats `overall`, `python_major`, `python_minor`, `system`.
    Series(SeriesDoc),
    /// pepy.tech project.
    Pepy(PepyDoc),
    /// The top-packages dataset.
    Top(TopDoc),
    /// A release's core metadata file (PEP 658).
    Metadata(ReleaseMetadata),
    /// The ids of OSV's advisories about a release.
    OsvIds(OsvIds),
    /// One OSV advisory.
    OsvAdvisory(OsvAdvisory),
}

impl Document {
    /// Approximate heap size, for the cache's byte weigher.
    pub fn approx_bytes(&self) -> usize {
        match self {
            Document::Project(p) | Document::Release(p) => p.approx_bytes(),
            Document::Simple(s) => s.approx_bytes(),
            Document::Recent(_) => heap::arc_document(),
            Document::Series(s) => s.approx_bytes(),
            Document::Pepy(p) => p.approx_bytes(),
            Document::Top(t) => t.approx_bytes(),
            Document::Metadata(m) => m.approx_bytes(),
            Document::OsvIds(i) => 64 + i.ids.iter().map(|s| s.len() + 24).sum::<usize>(),
            Document::OsvAdvisory(a) => a.approx_bytes(),
        }
    }
}

impl Document {
    /// The newest day in the document's data (days since 1970-01-01): daily series and
    /// pepy's per-day counts have dates; pypistats' `recent` totals and PyPI's documents
    /// do not.
    pub fn data_date(&self) -> Option<i64> {
        match self {
            Document::Series(s) => s.newest_day(),
            Document::Pepy(p) => p.newest_day(),
            _ => None,
        }
    }
}

/// Why a body was refused.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The `Content-Type` is not what this upstream sends.
    #[error("content type {got:?} where {expected} was expected")]
    ContentType {
        /// What the upstream sends.
        expected: &'static str,
        /// What came.
        got: String,
    },
    /// Not JSON, or JSON of another shape (a required field missing or null).
    #[error("malformed or unexpected JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Well-formed, but it cannot answer the question: another project's body, a
    /// project without its release list, figures that cannot be true.
    #[error("{0}")]
    Invalid(String),
}

/// The body must be about the package asked for (a CDN node or a mirror can serve
/// another project's body under this URL).
fn check_identity(asked: &PackageName, said: Option<&str>) -> Result<(), ParseError> {
    let Some(said) = said else { return Ok(()) };
    match PackageName::parse(said) {
        Ok(n) if &n == asked => Ok(()),
        _ => Err(ParseError::Invalid(format!(
            "the body is about {:?}, not {:?}",
            clip_echo(said),
            asked.as_str()
        ))),
    }
}

/// The absolute URL of a file a Simple page lists (absolute, or relative to the page
/// `{base}/simple/{name}/`), its fragment (`#sha256=...`) kept. `None` when it is not
/// an http(s) URL.
pub fn file_url(base: &str, name: &PackageName, file_url: &str) -> Option<String> {
    let page = url::Url::parse(&format!("{}/simple/{name}/", base.trim_end_matches('/'))).ok()?;
    let url = page.join(file_url).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

/// The URL of a core metadata file: the Simple page's file URL (absolute, or relative
/// to the page `{base}/simple/{name}/`) plus `.metadata` (PEP 658). `None` when it is
/// not an http(s) URL.
pub fn metadata_url(base: &str, name: &PackageName, file_url: &str) -> Option<String> {
    let page = url::Url::parse(&format!("{}/simple/{name}/", base.trim_end_matches('/'))).ok()?;
    let mut url = page.join(file_url).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_fragment(None);
    let path = format!("{}.metadata", url.path());
    url.set_path(&path);
    Some(url.to_string())
}

/// The `Accept` header to send for a query.
pub fn accept_header(q: &Query) -> &'static str {
    match q {
        Query::Simple(_) | Query::ExtraSimple(_) => simple::ACCEPT_ANY,
        _ => "application/json",
    }
}

/// Parses a 200 body of the upstream that serves `q`.
pub fn parse(q: &Query, content_type: Option<&str>, body: &[u8]) -> Result<Document, ParseError> {
    match q {
        Query::Project(name) => {
            check_content_type(content_type, &["application/json"], "application/json")?;
            let doc = pypi::parse(body)?;
            check_identity(name, Some(&doc.info.name))?;
            if doc.releases.is_none() {
                // `releases: null` would read as "no versions": it cannot answer.
                return Err(ParseError::Invalid(
                    "a project body without its releases".into(),
                ));
            }
            Ok(Document::Project(doc))
        }
        Query::Release(name, version) => {
            check_content_type(content_type, &["application/json"], "application/json")?;
            let doc = pypi::parse(body)?;
            check_identity(name, Some(&doc.info.name))?;
            let same = PackageVersion::parse(&doc.info.version)
                .map(|v| &v == version)
                .unwrap_or(doc.info.version == version.as_str());
            if !same {
                return Err(ParseError::Invalid(format!(
                    "the body is about version {:?}, not {}",
                    clip_echo(&doc.info.version),
                    version.as_str()
                )));
            }
            Ok(Document::Release(doc))
        }
        Query::Simple(name) | Query::ExtraSimple(name) => {
            // PEP 691 JSON, or PEP 503 HTML from a mirror that has no JSON form.
            let html = ["text/html", simple::HTML_V1];
            let media = content_type.map(|c| c.split(';').next().unwrap_or("").trim());
            if media.is_some_and(|m| html.iter().any(|h| m.eq_ignore_ascii_case(h))) {
                let doc = simple_html::parse(name.as_str(), body)
                    .map_err(|e| ParseError::Invalid(e.to_string()))?;
                return Ok(Document::Simple(doc));
            }
            check_content_type(content_type, &[simple::ACCEPT], simple::ACCEPT)?;
            let doc = simple::parse(body)?;
            check_identity(name, Some(&doc.name))?;
            Ok(Document::Simple(doc))
        }
        Query::Stats(name, kind) => {
            check_content_type(content_type, &["application/json"], "application/json")?;
            let (doc, package) = pypistats::parse(*kind, body)?;
            check_identity(name, package.as_deref())?;
            Ok(doc)
        }
        Query::Pepy(name) => {
            check_content_type(content_type, &["application/json"], "application/json")?;
            let doc = pepy::parse(body)?;
            check_identity(name, Some(&doc.id))?;
            Ok(Document::Pepy(doc))
        }
        Query::CoreMetadata(name, version, _)
        | Query::WheelMetadata(name, version, _)
        | Query::SdistMetadata(name, version, _) => {
            // Served as whatever the file host says (often `application/octet-stream`):
            // the content decides, and it must be about the release asked for.
            let _ = content_type;
            let pkg_info;
            let body = match q {
                // The whole sdist: its `PKG-INFO` (bounded; a bomb is an error here).
                Query::SdistMetadata(_, _, url) => {
                    let path = url.split(['#', '?']).next().unwrap_or_default();
                    let filename = path.rsplit('/').next().unwrap_or(path);
                    pkg_info = sdist::pkg_info(filename, body)
                        .map_err(|e| ParseError::Invalid(e.to_string()))?;
                    &pkg_info[..]
                }
                _ => body,
            };
            let doc = metadata::parse(body)?;
            check_identity(name, Some(&doc.name))?;
            let same = PackageVersion::parse(&doc.version)
                .map(|v| &v == version)
                .unwrap_or(false);
            if !same {
                return Err(ParseError::Invalid(format!(
                    "the metadata file is about version {:?}, not {}",
                    clip_echo(&doc.version),
                    version.as_str()
                )));
            }
            Ok(Document::Metadata(doc))
        }
        Query::OsvRelease(..) => {
            check_content_type(content_type, &["application/json"], "application/json")?;
            Ok(Document::OsvIds(osv::parse_batch(body)?))
        }
        Query::OsvAdvisory(id) => {
            check_content_type(content_type, &["application/json"], "application/json")?;
            Ok(Document::OsvAdvisory(osv::parse_vuln(id, body)?))
        }
        Query::TopPackages => {
            // Static hosts serve the dataset as JSON or as plain text (raw file views).
            check_content_type(
                content_type,
                &["application/json", "text/plain"],
                "application/json",
            )?;
            Ok(Document::Top(top::parse(body)?))
        }
    }
}

/// Accepts a missing header (some mirrors omit it) or one of the `allowed` media types,
/// ignoring parameters such as `charset`.
fn check_content_type(
    got: Option<&str>,
    allowed: &[&str],
    expected: &'static str,
) -> Result<(), ParseError> {
    let Some(got) = got else { return Ok(()) };
    let media = got.split(';').next().unwrap_or("").trim();
    if allowed.iter().any(|a| media.eq_ignore_ascii_case(a)) {
        Ok(())
    } else {
        Err(ParseError::ContentType {
            expected,
            got: got.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PackageName;

    #[test]
    fn content_type_parameters_are_ignored_and_html_is_refused() {
        assert!(
            check_content_type(
                Some("application/json; charset=utf-8"),
                &["application/json"],
                "application/json"
            )
            .is_ok()
        );
        assert!(check_content_type(None, &["application/json"], "application/json").is_ok());
        let err = check_content_type(
            Some("text/html; charset=utf-8"),
            &["application/json"],
            "application/json",
        );
        assert!(matches!(err, Err(ParseError::ContentType { .. })));
    }

    #[test]
    fn another_projects_body_is_refused() {
        let q = Query::Project(PackageName::parse("otherpkg").unwrap());
        let body = br#"{"info":{"name":"requests","version":"9.9.9"},"releases":{}}"#;
        let err = parse(&q, Some("application/json"), body).unwrap_err();
        assert!(err.to_string().contains("not \"otherpkg\""), "{err}");
        let q = Query::Project(PackageName::parse("Requests").unwrap());
        assert!(parse(&q, None, body).is_ok());
    }

    #[test]
    fn null_releases_cannot_answer_a_project_question() {
        let q = Query::Project(PackageName::parse("x").unwrap());
        let body = br#"{"info":{"name":"x","version":"1"},"releases":null}"#;
        assert!(matches!(parse(&q, None, body), Err(ParseError::Invalid(_))));
    }

    #[test]
    fn simple_queries_ask_for_pep691_json_first_and_take_html_from_a_mirror() {
        let n = PackageName::parse("numpy").unwrap();
        let accept = accept_header(&Query::Simple(n.clone()));
        assert!(
            accept.starts_with("application/vnd.pypi.simple.v1+json,"),
            "{accept}"
        );
        assert!(accept.contains("text/html;q=0.01"), "{accept}");
        assert_eq!(
            accept_header(&Query::Project(n.clone())),
            "application/json"
        );
        let page = br#"<html><body><a href="/f/numpy-2.0.0-py3-none-any.whl">x</a></body></html>"#;
        let q = Query::Simple(n);
        match parse(&q, Some("text/html; charset=utf-8"), page) {
            Ok(Document::Simple(doc)) => assert_eq!(doc.versions, ["2.0.0"]),
            other => panic!("{other:?}"),
        }
        // A login page is not a project without files.
        let portal = b"<html><body><form>Sign in</form></body></html>";
        assert!(matches!(
            parse(&q, Some("text/html"), portal),
            Err(ParseError::Invalid(_))
        ));
    }
}
