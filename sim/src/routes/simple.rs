//! PyPI Simple API: `/simple/{name}/`, PEP 691 JSON or PEP 503 HTML by `Accept`.
//!
//! Recorded pages are served byte-exact; projects with a JSON API fixture but no Simple
//! fixture (and synthetic projects) get pages generated from their project body.

use http::StatusCode;

use crate::data::{Doc, canonical_json};
use crate::routes::pypi::resolve;
use crate::routes::{Req, Resp};
use crate::server::Shared;

/// The PEP 691 JSON media type.
pub(crate) const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";
const HTML_V1_TYPE: &str = "application/vnd.pypi.simple.v1+html";

fn not_found() -> Resp {
    Resp::new(StatusCode::NOT_FOUND, "text/plain", "404 Not Found")
}

fn moved(location: &str) -> Resp {
    Resp::new(StatusCode::MOVED_PERMANENTLY, "text/html", "")
        .with_header("location", location)
        .with_header("vary", "Accept, Accept-Encoding")
}

fn ok(doc: &Doc, content_type: &str) -> Resp {
    let mut r = Resp::new(StatusCode::OK, content_type, doc.body.clone())
        .with_header("cache-control", "max-age=600, public")
        .with_header("vary", "Accept, Accept-Encoding")
        .with_header("access-control-allow-origin", "*")
        .with_etag(doc.etag());
    if let Some(s) = doc.serial {
        r = r.with_header("x-pypi-last-serial", &s.to_string());
    }
    r
}

/// `GET /simple/{name}/`.
pub(crate) fn page(shared: &Shared, name: &str, req: &Req<'_>) -> Resp {
    let p = match resolve(shared, name, |n| moved(&format!("/simple/{n}/")), not_found) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let profile = shared.cfg.index_profile;
    let accept = req.header("accept").unwrap_or_default();
    let metadata = profile.has_metadata_files();
    if profile.has_simple_json() && accept.contains(JSON_TYPE) {
        let doc = p.simple_json();
        if metadata {
            ok(&doc, JSON_TYPE)
        } else {
            ok(&json_without_metadata(&doc), JSON_TYPE)
        }
    } else {
        // A plain PEP 503 mirror answers `text/html` whatever was asked.
        let ty = if profile.has_simple_json() && accept.contains(HTML_V1_TYPE) {
            HTML_V1_TYPE
        } else {
            "text/html"
        };
        let doc = p.simple_html();
        if metadata {
            ok(&doc, ty)
        } else {
            ok(&html_without_metadata(&doc), ty)
        }
    }
}

/// The PEP 658 / 714 keys a PEP 691 file entry may carry.
const METADATA_KEYS: [&str; 3] = [
    "core-metadata",
    "dist-info-metadata",
    "data-dist-info-metadata",
];

/// A PEP 691 page with no file advertising a metadata file.
fn json_without_metadata(doc: &Doc) -> Doc {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&doc.body) else {
        return Doc::new(doc.body.clone(), doc.serial);
    };
    if let Some(files) = v.get_mut("files").and_then(serde_json::Value::as_array_mut) {
        for f in files
            .iter_mut()
            .filter_map(serde_json::Value::as_object_mut)
        {
            for k in METADATA_KEYS {
                f.remove(k);
            }
        }
    }
    Doc::new(canonical_json(v), doc.serial)
}

/// A PEP 503 page with no anchor advertising a metadata file.
fn html_without_metadata(doc: &Doc) -> Doc {
    let mut html = String::from_utf8_lossy(&doc.body).into_owned();
    for attr in [" data-core-metadata=\"", " data-dist-info-metadata=\""] {
        while let Some(start) = html.find(attr) {
            let value = start + attr.len();
            let end = html[value..]
                .find('"')
                .map_or(html.len(), |e| value + e + 1);
            html.replace_range(start..end, "");
        }
    }
    Doc::new(html.into(), doc.serial)
}

/// `GET /simple/{name}` (no trailing slash): 301 to the normalised page.
pub(crate) fn add_slash(shared: &Shared, name: &str) -> Resp {
    match resolve(shared, name, |n| moved(&format!("/simple/{n}/")), not_found) {
        Ok(p) => moved(&format!("/simple/{}/", p.name)),
        Err(r) => *r,
    }
}
