//! PyPI JSON API: `/pypi/{name}/json` and `/pypi/{name}/{version}/json` (a trailing `/`
//! is served too, like current PyPI).
//!
//! Recorded fixture bodies are served byte-exact; releases without a fixture are
//! generated from the project body (see [`ProjectData::release`]). A name that is not
//! the PEP 503 normalised form gets a `301` to the normalised URL; unknown projects and
//! versions get the recorded 2021 HTML 404 page.

use http::StatusCode;

use crate::data::fixtures::{FIXTURES, NOT_FOUND_HTML, ProjectData};
use crate::data::{Doc, normalise, plausible_name};
use crate::routes::{Resp, Upstream};
use crate::server::Shared;

/// The small HTML body PyPI's CDN sent with a 301 (recorded 2026-02).
const MOVED_HTML: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/pypi-json/errors/301-trailing-slash-cdn-2026-02.html"
));

/// CORS headers PyPI adds to every JSON API answer.
fn cors(resp: Resp) -> Resp {
    resp.with_header("access-control-allow-origin", "*")
        .with_header("access-control-allow-methods", "GET")
        .with_header(
            "access-control-allow-headers",
            "Content-Type, If-Match, If-Modified-Since, If-None-Match, If-Unmodified-Since",
        )
        .with_header("access-control-max-age", "86400")
        .with_header("access-control-expose-headers", "X-PyPI-Last-Serial")
}

/// 404 with the recorded HTML page.
pub(crate) fn not_found() -> Resp {
    cors(Resp::new(
        StatusCode::NOT_FOUND,
        "text/html; charset=UTF-8",
        NOT_FOUND_HTML,
    ))
    .upstream(Upstream::PypiJson)
}

/// 301 to `location` with the small recorded HTML body.
pub(crate) fn moved(location: &str) -> Resp {
    cors(Resp::new(
        StatusCode::MOVED_PERMANENTLY,
        "text/html",
        MOVED_HTML,
    ))
    .with_header("location", location)
    .with_header("cache-control", "max-age=900, public")
}

fn ok(doc: &Doc) -> Resp {
    let mut r = cors(Resp::new(
        StatusCode::OK,
        "application/json",
        doc.body.clone(),
    ))
    .with_header("cache-control", "max-age=900, public")
    .with_header("vary", "Accept-Encoding")
    .with_etag(doc.etag());
    if let Some(s) = doc.serial {
        r = r.with_header("x-pypi-last-serial", &s.to_string());
    }
    r
}

/// Resolves the name segment: `Ok(project)` when it is exactly the normalised name of
/// a known project, `Err(resp)` with a 301 or 404 otherwise. `redirect` builds the
/// redirect target from the normalised name.
pub(crate) fn resolve(
    shared: &Shared,
    name: &str,
    redirect: impl FnOnce(&str) -> Resp,
    not_found: fn() -> Resp,
) -> Result<std::sync::Arc<ProjectData>, Box<Resp>> {
    if !plausible_name(name) {
        return Err(Box::new(not_found()));
    }
    let norm = normalise(name);
    match shared.catalog.project(&norm) {
        None => Err(Box::new(not_found())),
        Some(_) if norm != name => Err(Box::new(redirect(&norm))),
        Some(p) => Ok(p),
    }
}

/// `GET /pypi/{name}/json`.
pub(crate) fn project(shared: &Shared, name: &str) -> Resp {
    match resolve(
        shared,
        name,
        |n| moved(&format!("/pypi/{n}/json")),
        not_found,
    ) {
        Ok(p) => ok(&p.json),
        Err(r) => *r,
    }
}

/// `GET /pypi/{name}/{version}/json`.
pub(crate) fn release(shared: &Shared, name: &str, version: &str) -> Resp {
    if plausible_name(name) {
        let norm = normalise(name);
        // Release-only fixtures (no project fixture), e.g. shippinglabel 0.12.0.
        if let Some(doc) = FIXTURES.releases.get(&(norm.clone(), version.to_owned())) {
            if norm != name {
                return moved(&format!("/pypi/{norm}/{version}/json"));
            }
            return ok(doc);
        }
    }
    let p = match resolve(
        shared,
        name,
        |n| moved(&format!("/pypi/{n}/{version}/json")),
        not_found,
    ) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match p.find_version(version) {
        Some(v) => ok(&p.release(v)),
        None => not_found(),
    }
}
