//! A second, private index on the same origin, for the dependency-confusion case
//! (pip's `--extra-index-url {origin}/extra/simple`): `/extra/simple/{name}/`, PEP 691
//! JSON or PEP 503 HTML by `Accept`.
//!
//! **Synthetic**, not real projects: a company's names that exist only here
//! ([`PRIVATE_ONLY`]), and names that also exist on the simulator's public index with
//! lower or higher versions ([`SHARED`]). Files are listed, not served.

use http::StatusCode;
use serde_json::{Value, json};

use crate::data::{canonical_json, normalise};
use crate::routes::{Req, Resp, Upstream};

/// The private index's projects: (name, versions, oldest first).
pub const PROJECTS: &[(&str, &[&str])] = &[
    // Only here: pip installs them from the private index.
    ("acme-billing", &["1.0.0", "1.4.2"]),
    ("acme-auth", &["0.9.0", "2.1.0"]),
    // Also public, where the public versions are higher (the simulator's `black`
    // goes to 23.7.0): pip installs PyPI's. Dependency confusion.
    ("black", &["0.1.0", "0.2.0"]),
    // Also public, where the private version is higher (`pytz` goes to 2023.3):
    // pip installs the private one, until someone uploads a higher one to PyPI.
    ("pytz", &["9999.1"]),
];

/// Names only on the private index.
pub const PRIVATE_ONLY: &[&str] = &["acme-billing", "acme-auth"];

/// Names on both indexes.
pub const SHARED: &[&str] = &["black", "pytz"];

const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";

fn versions_of(name: &str) -> Option<(&'static str, &'static [&'static str])> {
    let n = normalise(name);
    PROJECTS.iter().copied().find(|(p, _)| *p == n)
}

fn files(name: &str, versions: &[&str]) -> Vec<(String, String)> {
    let stem = name.replace('-', "_");
    versions
        .iter()
        .map(|v| {
            let f = format!("{stem}-{v}-py3-none-any.whl");
            (v.to_string(), f)
        })
        .collect()
}

/// `GET /extra/simple/{name}/`.
pub(crate) fn page(name: &str, req: &Req<'_>) -> Resp {
    let Some((name, versions)) = versions_of(name) else {
        return Resp::new(StatusCode::NOT_FOUND, "text/plain", "404 Not Found")
            .upstream(Upstream::Extra);
    };
    let accept = req.header("accept").unwrap_or_default();
    let files = files(name, versions);
    if accept.contains(JSON_TYPE) {
        let entries: Vec<Value> = files
            .iter()
            .map(|(_, f)| {
                json!({
                    "filename": f,
                    "url": format!("../../files/{name}/{f}"),
                    "hashes": {},
                    "requires-python": ">=3.8",
                })
            })
            .collect();
        let body = canonical_json(json!({
            "meta": {"api-version": "1.1"},
            "name": name,
            "versions": versions,
            "files": entries,
        }));
        Resp::new(StatusCode::OK, JSON_TYPE, body)
    } else {
        let mut html = String::from("<!DOCTYPE html>\n<html><body>\n");
        for (_, f) in &files {
            html.push_str(&format!(
                "<a href=\"../../files/{name}/{f}\">{f}</a><br/>\n"
            ));
        }
        html.push_str("</body></html>\n");
        Resp::new(StatusCode::OK, "text/html", html)
    }
    .with_header("cache-control", "max-age=600")
    .upstream(Upstream::Extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_only_and_shared_names_are_listed() {
        for n in PRIVATE_ONLY.iter().chain(SHARED) {
            assert!(versions_of(n).is_some(), "{n}");
        }
        assert!(versions_of("requests").is_none());
    }
}
