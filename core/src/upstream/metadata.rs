//! Core metadata files (PEP 658 / 714): `{file url}.metadata`, the `METADATA` file of a
//! wheel served on its own, as pip and uv read it to resolve without downloading
//! wheels. The format is RFC 822-style headers (core metadata 1.0 to 2.4). What a
//! resolver needs (name, version, `Requires-Dist`, `Requires-Python`, `Provides-Extra`)
//! and, for an index without a JSON API, what `info` and `docs` show (summary, licence,
//! URLs, author, classifiers, the long description in the body) are kept.

use serde::{Deserialize, Serialize};

use super::ParseError;

/// The metadata of one release, as a resolver needs it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReleaseMetadata {
    /// `Name` (as published, not normalised).
    pub name: String,
    /// `Version`.
    pub version: String,
    /// `Requires-Dist` lines (PEP 508), in order.
    #[serde(default)]
    pub requires_dist: Vec<String>,
    /// `Requires-Python`.
    #[serde(default)]
    pub requires_python: Option<String>,
    /// `Provides-Extra` lines.
    #[serde(default)]
    pub provides_extra: Vec<String>,
    /// `Summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// `License`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// `License-Expression` (PEP 639).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_expression: Option<String>,
    /// `Home-page` (legacy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_page: Option<String>,
    /// `Project-URL` lines as (label, URL).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub project_urls: Vec<(String, String)>,
    /// `Author`, else `Author-email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// `Classifier` lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classifiers: Vec<String>,
    /// The long description: the body (2.1+) or the `Description` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `Description-Content-Type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_content_type: Option<String>,
    /// `Metadata-Version` (an sdist's `PKG-INFO` is trusted from 2.2 on, PEP 643).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_version: Option<String>,
    /// `Dynamic` lines (PEP 643): fields a build may change, lowercased.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dynamic: Vec<String>,
}

/// Most header lines read (real files have tens; the description, in the body, is not
/// counted: its size is capped by the fetch layer).
const MAX_HEADER_LINES: usize = 10_000;

/// Parses a core metadata file: one pass over the lines, at most
/// [`MAX_HEADER_LINES`] header lines (the body is capped by the fetch layer), nothing
/// recursive; a requirement's own parse is guarded where it happens.
pub fn parse(body: &[u8]) -> Result<ReleaseMetadata, ParseError> {
    let text = String::from_utf8_lossy(body);
    let mut name = None;
    let mut version = None;
    let mut requires_dist = Vec::new();
    let mut requires_python = None;
    let mut provides_extra = Vec::new();
    let mut metadata_version = None;
    let mut dynamic = Vec::new();
    let mut m = About::default();
    let mut current: Option<(String, String)> = None;
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut body_at = text.len();
    let mut offset = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.trim_end_matches(['\n', '\r']);
        offset += raw.len();
        if i > MAX_HEADER_LINES {
            return Err(ParseError::Invalid(
                "metadata file: too many header lines".into(),
            ));
        }
        if line.trim().is_empty() {
            body_at = offset; // headers end; the body (description) follows
            break;
        }
        if line.starts_with([' ', '\t']) {
            // A continuation of the previous header (folded line).
            if let Some((_, v)) = current.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some(done) = current.take() {
            fields.push(done);
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(ParseError::Invalid(format!(
                "metadata file: line {} is not a header: {:?}",
                i + 1,
                crate::model::untrusted::excerpt(line)
            )));
        };
        current = Some((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    if let Some(done) = current.take() {
        fields.push(done);
    }
    for (k, v) in fields {
        match k.as_str() {
            "name" => name = Some(v),
            "metadata-version" => metadata_version = Some(v),
            "dynamic" => dynamic.push(v.to_ascii_lowercase()),
            "version" => version = Some(v),
            "requires-dist" => requires_dist.push(v),
            "requires-python" if !v.is_empty() => requires_python = Some(v),
            "provides-extra" => provides_extra.push(v),
            "summary" if !v.is_empty() => m.summary = Some(v),
            "license" if !v.is_empty() => m.license = Some(v),
            "license-expression" if !v.is_empty() => m.license_expression = Some(v),
            "home-page" if !v.is_empty() && v != "UNKNOWN" => m.home_page = Some(v),
            "project-url" => {
                if let Some((label, url)) = v.split_once(',') {
                    m.project_urls
                        .push((label.trim().to_string(), url.trim().to_string()));
                }
            }
            "author" if !v.is_empty() => m.author = Some(v),
            "author-email" if !v.is_empty() => m.author_email = Some(v),
            "classifier" => m.classifiers.push(v),
            "description" if !v.is_empty() => m.description = Some(v),
            "description-content-type" if !v.is_empty() => m.description_content_type = Some(v),
            _ => {}
        }
    }
    let body = text[body_at..].trim_end();
    if !body.is_empty() {
        m.description = Some(body.to_string());
    }
    let (Some(name), Some(version)) = (name, version) else {
        return Err(ParseError::Invalid(
            "metadata file without Name or Version".into(),
        ));
    };
    Ok(ReleaseMetadata {
        name,
        version,
        requires_dist,
        requires_python,
        provides_extra,
        summary: m.summary,
        license: m.license,
        license_expression: m.license_expression,
        home_page: m.home_page,
        project_urls: m.project_urls,
        author: m.author.or(m.author_email),
        classifiers: m.classifiers,
        description: m.description,
        description_content_type: m.description_content_type,
        metadata_version,
        dynamic,
    })
}

/// The descriptive fields, gathered while the headers are read.
#[derive(Default)]
struct About {
    summary: Option<String>,
    license: Option<String>,
    license_expression: Option<String>,
    home_page: Option<String>,
    project_urls: Vec<(String, String)>,
    author: Option<String>,
    author_email: Option<String>,
    classifiers: Vec<String>,
    description: Option<String>,
    description_content_type: Option<String>,
}

impl ReleaseMetadata {
    /// Heap size of what is kept.
    pub fn approx_bytes(&self) -> usize {
        use super::heap::{opt_string, string, strings};
        super::heap::arc_document()
            + string(&self.name)
            + string(&self.version)
            + strings(&self.requires_dist)
            + opt_string(&self.requires_python)
            + strings(&self.provides_extra)
            + opt_string(&self.summary)
            + opt_string(&self.license)
            + opt_string(&self.license_expression)
            + opt_string(&self.home_page)
            + self
                .project_urls
                .iter()
                .map(|(a, b)| string(a) + string(b))
                .sum::<usize>()
            + opt_string(&self.author)
            + strings(&self.classifiers)
            + opt_string(&self.description)
            + opt_string(&self.description_content_type)
            + opt_string(&self.metadata_version)
            + strings(&self.dynamic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_info_and_docs_show_and_the_body_as_the_description() {
        let body = b"Metadata-Version: 2.4\r\nName: sg-web\r\nVersion: 1.1.0\r\nSummary: A web kit\r\nLicense-Expression: MIT\r\nAuthor-email: Ann <ann@example.org>\r\nProject-URL: Source, https://example.org/src\r\nClassifier: Programming Language :: Python :: 3\r\nDescription-Content-Type: text/markdown\r\n\r\n# sg-web\r\n\r\nRequires-Dist: not-a-header\r\n";
        let m = parse(body).unwrap();
        assert_eq!(m.summary.as_deref(), Some("A web kit"));
        assert_eq!(m.license_expression.as_deref(), Some("MIT"));
        assert_eq!(m.author.as_deref(), Some("Ann <ann@example.org>"));
        assert_eq!(
            m.project_urls,
            [("Source".to_string(), "https://example.org/src".to_string())]
        );
        assert_eq!(m.classifiers, ["Programming Language :: Python :: 3"]);
        assert_eq!(m.description_content_type.as_deref(), Some("text/markdown"));
        assert_eq!(
            m.description.as_deref(),
            Some("# sg-web\r\n\r\nRequires-Dist: not-a-header")
        );
        assert!(m.requires_dist.is_empty(), "the body holds no headers");
        // Metadata 1.x: the description is a header.
        let old =
            parse(b"Metadata-Version: 1.1\nName: a\nVersion: 1\nDescription: short\n").unwrap();
        assert_eq!(old.description.as_deref(), Some("short"));
    }

    #[test]
    fn reads_requirements_and_skips_the_body() {
        let body = b"Metadata-Version: 2.1\nName: Sg-Web\nVersion: 1.1.0\nRequires-Python: >=3.8\nProvides-Extra: speed\nRequires-Dist: sg-http>=1.1\nRequires-Dist: sg-speedups>=1.0;\n  extra == \"speed\"\n\nRequires-Dist: not-a-header\n";
        let m = parse(body).unwrap();
        assert_eq!(m.name, "Sg-Web");
        assert_eq!(m.version, "1.1.0");
        assert_eq!(m.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(m.provides_extra, ["speed"]);
        assert_eq!(
            m.requires_dist,
            ["sg-http>=1.1", "sg-speedups>=1.0; extra == \"speed\""]
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse(b"<html>oops</html>\n").is_err());
        assert!(parse(b"Metadata-Version: 2.1\nSummary: x\n").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn a_page_that_is_not_metadata_is_quoted_short_without_controls() {
        let body = format!("<html>\x1b]0;{}\n", "x".repeat(100_000));
        let e = parse(body.as_bytes()).unwrap_err().to_string();
        assert!(e.len() < 300 && !e.contains('\x1b'), "{e}");
    }
}
