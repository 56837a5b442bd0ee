//! The upstream routes (one origin serves them all) and the admin API.
//!
//! Route handlers are synchronous functions from a parsed request ([`Req`]) to a
//! buffered response ([`Resp`]); the server applies faults around them and turns the
//! result into a streamed HTTP response.

pub(crate) mod admin;
pub mod extra;
pub(crate) mod files;
pub(crate) mod osv;
pub(crate) mod pepy;
pub(crate) mod pypi;
pub(crate) mod pypistats;
pub(crate) mod simple;
pub(crate) mod top;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::data::canonical_json;
use crate::server::Shared;

/// Which upstream a path belongs to (decides error bodies and drift keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Upstream {
    /// `/pypi/...`
    PypiJson,
    /// `/simple/...`
    Simple,
    /// `/api/packages/...`
    Pypistats,
    /// `/api/v2/projects/...`
    Pepy,
    /// `/top-pypi-packages.min.json`
    Top,
    /// `/files/...`: distribution files and their metadata files (PEP 658).
    Files,
    /// `/v1/...`: the OSV API.
    Osv,
    /// `/extra/...`: the private index beside PyPI (dependency confusion).
    Extra,
    /// Anything else.
    Other,
}

impl Upstream {
    pub(crate) fn of(path: &str) -> Upstream {
        let mut segs = path.trim_start_matches('/').split('/');
        match (segs.next(), segs.next()) {
            (Some("pypi"), _) => Upstream::PypiJson,
            (Some("simple"), _) => Upstream::Simple,
            (Some("api"), Some("packages")) => Upstream::Pypistats,
            (Some("api"), Some("v2")) => Upstream::Pepy,
            (Some("top-pypi-packages.min.json"), None) => Upstream::Top,
            (Some("files"), _) => Upstream::Files,
            (Some("v1"), _) => Upstream::Osv,
            (Some("extra"), _) => Upstream::Extra,
            _ => Upstream::Other,
        }
    }
}

/// The parts of a request the route handlers look at.
#[derive(Debug)]
pub(crate) struct Req<'a> {
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    /// The request body (a `POST`'s; empty otherwise).
    pub(crate) body: &'a [u8],
}

impl Req<'_> {
    /// The first value of query parameter `key` (percent-decoded).
    pub(crate) fn param(&self, key: &str) -> Option<String> {
        let q = self.query?;
        q.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == key).then(|| percent_decode(v))
        })
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => match b.get(i + 1..i + 3) {
                Some(h) if h.iter().all(u8::is_ascii_hexdigit) => {
                    let hex = std::str::from_utf8(h).unwrap_or("0");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A buffered response produced by a route handler.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// When set (and the status is 200): sent as `ETag`, and `If-None-Match` equal to
    /// it turns the answer into a `304`.
    pub(crate) etag: Option<String>,
    /// When set (and the status is 200): sent as `Last-Modified` (an HTTP date), and an
    /// `If-Modified-Since` not before it (with no `If-None-Match`) turns the answer into
    /// a `304`.
    pub(crate) last_modified: Option<std::time::SystemTime>,
    pub(crate) upstream: Upstream,
}

impl Resp {
    pub(crate) fn new(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Resp {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            headers.insert(CONTENT_TYPE, v);
        }
        Resp {
            status,
            headers,
            body: body.into(),
            etag: None,
            last_modified: None,
            upstream: Upstream::Other,
        }
    }

    /// Canonical JSON (compact, sorted keys, trailing newline), `application/json`.
    pub(crate) fn json(status: StatusCode, v: Value) -> Resp {
        Resp::new(status, "application/json", canonical_json(v))
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: &str) -> Resp {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(HeaderName::from_static(name), v);
        }
        self
    }

    pub(crate) fn with_last_modified(mut self, at: std::time::SystemTime) -> Resp {
        self.last_modified = Some(at);
        self
    }

    pub(crate) fn with_etag(mut self, etag: &str) -> Resp {
        self.etag = Some(etag.to_owned());
        self
    }

    pub(crate) fn upstream(mut self, u: Upstream) -> Resp {
        self.upstream = u;
        self
    }

    /// Plain `404 Not Found` (unknown route).
    pub(crate) fn not_found() -> Resp {
        Resp::new(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "404 Not Found",
        )
    }
}

/// Dispatches an upstream request to its route handler.
pub(crate) fn dispatch(shared: &Shared, req: &Req<'_>) -> Resp {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let upstream = Upstream::of(req.path);
    let resp = match segs.as_slice() {
        // An index without the JSON API (a mirror serving the Simple API only).
        ["pypi", ..] if !shared.cfg.index_profile.has_json_api() => Resp::not_found(),
        ["pypi", name, "json"] | ["pypi", name, "json", ""] => pypi::project(shared, name),
        ["pypi", name, version, "json"] | ["pypi", name, version, "json", ""] => {
            pypi::release(shared, name, version)
        }
        ["simple", name, ""] => simple::page(shared, name, req),
        ["simple", name] => simple::add_slash(shared, name),
        ["api", "packages", name, endpoint] => pypistats::endpoint(shared, name, endpoint, req),
        ["api", "v2", "projects", name] => pepy::project(shared, name, req),
        ["top-pypi-packages.min.json"] => top::top(shared),
        ["files", name, filename] => files::file(shared, name, filename, req),
        ["v1", "querybatch"] => osv::querybatch(shared, req),
        ["v1", "vulns", id] => osv::vuln(id),
        ["PyPI", "all.zip"] => osv::export(shared),
        ["extra", "simple", name, ""] => extra::page(name, req),
        _ => Resp::not_found(),
    };
    offhost(shared, resp).upstream(upstream)
}

/// `sg-offhost-meta`'s listings name [`OFFHOST_ORIGIN`]; a simulator configured with
/// `offhost_origin` names that origin instead (a listener of the test's own).
fn offhost(shared: &Shared, mut resp: Resp) -> Resp {
    use crate::data::graphs::OFFHOST_ORIGIN;
    let Some(origin) = shared.cfg.offhost_origin.as_deref() else {
        return resp;
    };
    let needle = OFFHOST_ORIGIN.as_bytes();
    if resp.body.windows(needle.len()).any(|w| w == needle) {
        let text = String::from_utf8_lossy(&resp.body).replace(OFFHOST_ORIGIN, origin);
        resp.body = Bytes::from(text);
        resp.etag = resp.etag.map(|_| crate::data::etag_of(&resp.body));
    }
    resp
}

/// The short error body an upstream would send with `status` (used by status faults).
pub(crate) fn error_body(upstream: Upstream, status: StatusCode) -> Resp {
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("Error");
    match upstream {
        Upstream::Pypistats => match code {
            429 => Resp::new(
                status,
                "text/html; charset=utf-8",
                pypistats::RATE_LIMIT_BODY,
            ),
            503 => Resp::new(
                status,
                "text/html; charset=utf-8",
                "503 TEMPORARILY DISABLED",
            ),
            _ => Resp::new(status, "text/html; charset=utf-8", code.to_string()),
        },
        Upstream::Pepy => Resp::new(
            status,
            "application/json",
            serde_json::json!({ "message": reason }).to_string(),
        ),
        Upstream::PypiJson if code == 404 => pypi::not_found(),
        Upstream::Osv => Resp::new(
            status,
            "application/json",
            serde_json::json!({ "code": code, "message": reason }).to_string(),
        ),
        _ => Resp::new(
            status,
            "text/plain; charset=utf-8",
            format!("{code} {reason}\n"),
        ),
    }
    .upstream(upstream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_of_path() {
        assert_eq!(Upstream::of("/pypi/numpy/json"), Upstream::PypiJson);
        assert_eq!(Upstream::of("/simple/numpy/"), Upstream::Simple);
        assert_eq!(
            Upstream::of("/api/packages/numpy/recent"),
            Upstream::Pypistats
        );
        assert_eq!(Upstream::of("/api/v2/projects/numpy"), Upstream::Pepy);
        assert_eq!(Upstream::of("/top-pypi-packages.min.json"), Upstream::Top);
        assert_eq!(Upstream::of("/v1/querybatch"), Upstream::Osv);
        assert_eq!(Upstream::of("/nope"), Upstream::Other);
    }

    #[test]
    fn decode() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%4G"), "%4G");
    }
}
