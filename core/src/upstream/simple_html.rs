//! PEP 503 HTML project pages (`/simple/{name}/` of a mirror or private index that
//! does not speak PEP 691 JSON), read into the same [`SimpleDoc`] as a JSON page.
//!
//! Each `<a>` is a file: its name is the last path segment of `href` (which must
//! match a distribution file name), `data-requires-python`, `data-yanked` and PEP
//! 658 / 714's `data-core-metadata` (or the older `data-dist-info-metadata`) as on
//! PyPI's own HTML pages. A `<base href>` before the first link makes relative links
//! absolute. Attribute values are HTML-unescaped. The parser (`tl`) does not recurse,
//! and a page with more links than [`MAX_FILES`] is cut there and says so.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::simple::{CoreMetadata, SimpleDoc, SimpleFile, Yanked};

/// The most files one page may list (PyPI's largest projects list ~30,000).
pub const MAX_FILES: usize = 100_000;

/// Why an HTML page is not a project page.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HtmlPageError {
    /// Not UTF-8, or not HTML `tl` can read.
    #[error("not a readable HTML page: {0}")]
    Unreadable(String),
    /// HTML without any distribution file link and without PEP 629's version meta: a
    /// login page or a captive portal, not a project page.
    #[error("an HTML page with no distribution file links (a login page or a portal?)")]
    NoLinks,
    /// More than [`MAX_FILES`] links.
    #[error("a page with more than {MAX_FILES} file links")]
    TooManyFiles,
}

/// Reads a PEP 503 page about `name` (normalised).
pub fn parse(name: &str, body: &[u8]) -> Result<SimpleDoc, HtmlPageError> {
    let text = std::str::from_utf8(body).map_err(|e| HtmlPageError::Unreadable(e.to_string()))?;
    let dom = tl::parse(text, tl::ParserOptions::default())
        .map_err(|e| HtmlPageError::Unreadable(e.to_string()))?;
    let tags: Vec<&tl::HTMLTag<'_>> = dom.nodes().iter().filter_map(tl::Node::as_tag).collect();
    let base = tags
        .iter()
        .take_while(|t| t.name().as_bytes() != b"a")
        .find(|t| t.name().as_bytes() == b"base")
        .and_then(|t| attr(t, "href"))
        .and_then(|h| url::Url::parse(&h).ok());
    let has_api_version = tags.iter().any(|t| {
        t.name().as_bytes() == b"meta"
            && attr(t, "name").as_deref() == Some("pypi:repository-version")
    });
    let mut files = Vec::new();
    for t in tags.iter().filter(|t| t.name().as_bytes() == b"a") {
        let Some(file) = anchor(t, base.as_ref()) else {
            continue;
        };
        if files.len() == MAX_FILES {
            return Err(HtmlPageError::TooManyFiles);
        }
        files.push(file);
    }
    if files.is_empty() && !has_api_version {
        return Err(HtmlPageError::NoLinks);
    }
    files.sort_by(|a: &SimpleFile, b| a.filename.cmp(&b.filename));
    let mut versions: Vec<(pep440_rs::Version, String)> = files
        .iter()
        .filter_map(SimpleFile::version)
        .filter_map(|v| {
            pep440_rs::Version::from_str(v)
                .ok()
                .map(|p| (p, v.to_string()))
        })
        .collect();
    versions.sort();
    versions.dedup_by(|a, b| a.0 == b.0);
    Ok(SimpleDoc {
        name: name.to_string(),
        versions: versions.into_iter().map(|(_, v)| v).collect(),
        files,
    })
}

/// An attribute's value, HTML-unescaped; `None` when absent or without a value.
fn attr(t: &tl::HTMLTag<'_>, name: &str) -> Option<String> {
    let raw = t.attributes().get(name).flatten()?;
    let s = std::str::from_utf8(raw.as_bytes()).ok()?;
    Some(html_escape::decode_html_entities(s).into_owned())
}

/// A file link, or `None` for a link that is not a distribution file.
fn anchor(t: &tl::HTMLTag<'_>, base: Option<&url::Url>) -> Option<SimpleFile> {
    let href = attr(t, "href").filter(|h| !h.is_empty())?;
    let without_fragment = href.split('#').next().unwrap_or(&href);
    let last = without_fragment
        .split('?')
        .next()
        .unwrap_or(without_fragment)
        .rsplit('/')
        .next()?;
    let filename = percent_decode(last);
    let file = SimpleFile {
        filename,
        url: Some(match base {
            Some(b) => b.join(&href).map_or(href.clone(), |u| u.to_string()),
            None => href.clone(),
        }),
        requires_python: attr(t, "data-requires-python").filter(|s| !s.trim().is_empty()),
        yanked: match t.attributes().get("data-yanked") {
            None => Yanked::Absent,
            Some(_) => match attr(t, "data-yanked") {
                Some(reason) if !reason.is_empty() => Yanked::Reason(reason),
                _ => Yanked::Flag(true),
            },
        },
        core_metadata: metadata_attr(attr(t, "data-core-metadata")),
        dist_info_metadata: metadata_attr(attr(t, "data-dist-info-metadata")),
        ..SimpleFile::default()
    };
    // Links that are not distribution files (navigation, a home link) are skipped.
    file.version().is_some().then_some(file)
}

/// `true`, `false`, or `sha256=HEX` (PEP 658 / 714).
fn metadata_attr(value: Option<String>) -> CoreMetadata {
    match value.as_deref() {
        None => CoreMetadata::Absent,
        Some("true") => CoreMetadata::Flag(true),
        Some("false") => CoreMetadata::Flag(false),
        Some(v) => match v.split_once('=') {
            Some((algo, hex)) if !hex.is_empty() => {
                CoreMetadata::Hashes(BTreeMap::from([(algo.to_string(), hex.to_string())]))
            }
            // Present but unreadable: a metadata file exists, its hash is unknown.
            _ => CoreMetadata::Flag(true),
        },
    }
}

/// `%XX` sequences decoded (a file name in a URL path); anything malformed is kept.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = bytes.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(h).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!DOCTYPE html>
<html><head><meta name="pypi:repository-version" content="1.1"><title>Links for demo</title></head>
<body><h1>Links for demo</h1>
<a href="/files/demo/demo-1.0.0.tar.gz#sha256=aa" data-requires-python="&gt;=3.8">demo-1.0.0.tar.gz</a><br />
<a href="../../files/demo/demo-1.0.0-py3-none-any.whl#sha256=bb" data-requires-python="&gt;=3.8" data-core-metadata="sha256=cc">demo-1.0.0-py3-none-any.whl</a><br />
<a href="https://files.example/demo-2.0.0%2Blocal-py3-none-any.whl" data-yanked="broken &amp; bad" data-dist-info-metadata="true">x</a><br />
<a href="demo-1.5.0-py3-none-any.whl" data-yanked>demo-1.5.0-py3-none-any.whl</a>
<a href="/">home</a>
</body></html>
<!--SERIAL 7-->"#;

    #[test]
    fn a_pep_503_page_reads_like_the_json_one() {
        let doc = parse("demo", PAGE.as_bytes()).unwrap();
        assert_eq!(doc.name, "demo");
        let names: Vec<&str> = doc.files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(
            names,
            [
                "demo-1.0.0-py3-none-any.whl",
                "demo-1.0.0.tar.gz",
                "demo-1.5.0-py3-none-any.whl",
                "demo-2.0.0+local-py3-none-any.whl",
            ],
            "the home link is not a file; %2B is decoded"
        );
        assert_eq!(doc.versions, ["1.0.0", "1.5.0", "2.0.0+local"]);
        let wheel = &doc.files[0];
        assert_eq!(wheel.requires_python.as_deref(), Some(">=3.8"), "unescaped");
        assert!(wheel.has_metadata());
        assert_eq!(
            wheel.url.as_deref(),
            Some("../../files/demo/demo-1.0.0-py3-none-any.whl#sha256=bb")
        );
        assert!(!doc.files[1].has_metadata());
        assert_eq!(doc.files[2].yanked, Yanked::Flag(true));
        assert_eq!(doc.files[3].yanked, Yanked::Reason("broken & bad".into()));
        assert!(
            doc.files[3].has_metadata(),
            "the older attribute counts too"
        );
    }

    #[test]
    fn a_base_tag_makes_links_absolute() {
        let page = r#"<html><head><base href="https://mirror.example/pkgs/"></head>
<body><a href="demo/demo-1.0.0-py3-none-any.whl">w</a></body></html>"#;
        let doc = parse("demo", page.as_bytes()).unwrap();
        assert_eq!(
            doc.files[0].url.as_deref(),
            Some("https://mirror.example/pkgs/demo/demo-1.0.0-py3-none-any.whl")
        );
    }

    #[test]
    fn a_login_page_is_not_a_project_without_files() {
        let portal = "<html><body><h1>Sign in</h1><a href=\"/login\">Sign in</a></body></html>";
        assert_eq!(
            parse("demo", portal.as_bytes()),
            Err(HtmlPageError::NoLinks)
        );
        let empty = r#"<html><head><meta name="pypi:repository-version" content="1.0"></head><body></body></html>"#;
        assert!(parse("demo", empty.as_bytes()).unwrap().files.is_empty());
        assert!(matches!(
            parse("demo", b"\xff\xfe<html>"),
            Err(HtmlPageError::Unreadable(_))
        ));
    }

    #[test]
    fn a_page_nested_ten_thousand_deep_is_read_without_recursing() {
        let mut page = "<div>".repeat(10_000);
        page.push_str(r#"<a href="demo-1.0.0-py3-none-any.whl">w</a>"#);
        page.push_str(&"</div>".repeat(10_000));
        let doc = parse("demo", page.as_bytes()).unwrap();
        assert_eq!(doc.files.len(), 1);
    }
}
