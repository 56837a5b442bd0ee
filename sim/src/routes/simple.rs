//! PyPI Simple API: `/simple/{name}/`, PEP 691 JSON or PEP 503 HTML by `Accept`.
//!
//! Recorded pages are served byte-exact; projects with a JSON API fixture but no Simple
//! fixture (and synthetic projects) get pages generated from their project body.

use http::StatusCode;

use crate::data::Doc;
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
    let accept = req.header("accept").unwrap_or_default();
    if accept.contains(JSON_TYPE) {
        ok(&p.simple_json(), JSON_TYPE)
    } else if accept.contains(HTML_V1_TYPE) {
        ok(&p.simple_html(), HTML_V1_TYPE)
    } else {
        ok(&p.simple_html(), "text/html")
    }
}

/// `GET /simple/{name}` (no trailing slash): 301 to the normalised page.
pub(crate) fn add_slash(shared: &Shared, name: &str) -> Resp {
    match resolve(shared, name, |n| moved(&format!("/simple/{n}/")), not_found) {
        Ok(p) => moved(&format!("/simple/{}/", p.name)),
        Err(r) => *r,
    }
}

/// `GET /files/{name}/{filename}`: a synthetic graph project's distribution file
/// (invented bytes, with the digest its listings give), or the metadata file
/// (`{wheel}.metadata`, PEP 658) of one of its wheels.
pub(crate) fn file(shared: &Shared, name: &str, filename: &str) -> Resp {
    let Some(p) = shared.catalog.project(name) else {
        return not_found();
    };
    let Some(g) = p.graph.as_ref() else {
        return not_found();
    };
    let immutable = |body: Vec<u8>| {
        let etag = crate::data::etag_of(&body);
        Resp::new(StatusCode::OK, "application/octet-stream", body)
            .with_header("cache-control", "max-age=365000000, immutable, public")
            .with_etag(&etag)
    };
    if let Some(wheel) = filename.strip_suffix(".metadata") {
        return match g.file_served_as(wheel) {
            Some((r, f)) if f.packagetype == "bdist_wheel" => immutable(g.metadata(r).into_bytes()),
            _ => not_found(),
        };
    }
    match g.file_served_as(filename) {
        Some((_, f)) => immutable(g.file_bytes(&f)),
        None => not_found(),
    }
}
