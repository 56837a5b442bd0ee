//! One module per upstream: what to ask for (`Accept`), and how to read the answer.
//!
//! Parsers keep only the fields the views need (a project body can be megabytes, most
//! of it the long description), tolerate added fields and the nulls the real APIs send
//! (`shared/fixtures/SCHEMA.md`), and refuse a body whose content type or shape is not
//! the upstream's: a refused body is never cached.

pub mod pepy;
pub mod pypi;
pub mod pypistats;
pub mod simple;
pub mod top;

pub use pepy::PepyDoc;
pub use pypi::{FileInfo, ProjectDoc, ProjectMeta};
pub use pypistats::{RecentDoc, SeriesDoc, SeriesPoint};
pub use simple::{SimpleDoc, SimpleFile};
pub use top::{TopDoc, TopRow};

use crate::model::Query;

/// A parsed upstream document: the unit the cache stores.
#[derive(Debug, Clone, PartialEq)]
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
}

impl Document {
    /// Approximate heap size, for the cache's byte weigher.
    pub fn approx_bytes(&self) -> usize {
        match self {
            Document::Project(p) | Document::Release(p) => p.approx_bytes(),
            Document::Simple(s) => s.approx_bytes(),
            Document::Recent(_) => 64,
            Document::Series(s) => s.approx_bytes(),
            Document::Pepy(p) => p.approx_bytes(),
            Document::Top(t) => t.approx_bytes(),
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
}

/// The `Accept` header to send for a query.
pub fn accept_header(q: &Query) -> &'static str {
    match q {
        Query::Simple(_) => simple::ACCEPT,
        _ => "application/json",
    }
}

/// Parses a 200 body of the upstream that serves `q`.
pub fn parse(q: &Query, content_type: Option<&str>, body: &[u8]) -> Result<Document, ParseError> {
    match q {
        Query::Project(_) => {
            check_content_type(content_type, &["application/json"], "application/json")?;
            Ok(Document::Project(pypi::parse(body)?))
        }
        Query::Release(..) => {
            check_content_type(content_type, &["application/json"], "application/json")?;
            Ok(Document::Release(pypi::parse(body)?))
        }
        Query::Simple(_) => {
            check_content_type(content_type, &[simple::ACCEPT], simple::ACCEPT)?;
            Ok(Document::Simple(simple::parse(body)?))
        }
        Query::Stats(_, kind) => {
            check_content_type(content_type, &["application/json"], "application/json")?;
            pypistats::parse(*kind, body)
        }
        Query::Pepy(_) => {
            check_content_type(content_type, &["application/json"], "application/json")?;
            Ok(Document::Pepy(pepy::parse(body)?))
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
    fn simple_queries_ask_for_pep691_json() {
        let n = PackageName::parse("numpy").unwrap();
        assert_eq!(
            accept_header(&Query::Simple(n.clone())),
            "application/vnd.pypi.simple.v1+json"
        );
        assert_eq!(accept_header(&Query::Project(n)), "application/json");
    }
}
