//! The OSV API (<https://google.github.io/osv.dev/api/>): `POST /v1/querybatch` and
//! `GET /v1/vulns/{id}`, serving the same advisories the per-release JSON lists
//! (`vulnerabilities`), whatever the index profile (OSV is not the index).
//!
//! OSV's export of every PyPI advisory, `GET /PyPI/all.zip` (as OSV's bucket serves
//! it): a zip of one `{id}.json` per record served here, the same bytes as
//! `/v1/vulns/{id}`, dated today (`Last-Modified`: OSV rebuilds its exports
//! continuously). The drift kinds `zip_bomb`, `zip_lies` and `zip_bad_entry` make it
//! hostile ([`hostile_export`]).
//!
//! Like the real database, where a `PYSEC-…` record and its `GHSA-…` twin both exist
//! and name each other as aliases, each advisory is served under its id and under its
//! alias (a twin record), and a query lists both: a client must merge them.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use http::StatusCode;
use serde_json::{Value, json};

use crate::data::graphs::GRAPHS;
use crate::data::{canonical_json, etag_of, normalise, plausible_name};
use crate::routes::{Req, Resp, Upstream};
use crate::server::Shared;

/// When the simulator's advisories were last changed (they are invented, and fixed).
const MODIFIED: &str = "2024-06-01T00:00:00Z";
/// Most queries in one batch (OSV's own limit is 1,000).
const MAX_QUERIES: usize = 1000;

fn error(status: StatusCode, message: &str) -> Resp {
    Resp::json(status, json!({"code": status.as_u16(), "message": message})).upstream(Upstream::Osv)
}

/// Every advisory record by id (twins included), built once.
static RECORDS: LazyLock<BTreeMap<String, Value>> = LazyLock::new(|| {
    // id -> (spec, package -> affected versions)
    let mut by_id: BTreeMap<&str, (crate::data::graphs::VulnSpec, BTreeMap<String, Vec<String>>)> =
        BTreeMap::new();
    for g in GRAPHS.values() {
        for r in &g.releases {
            for v in &r.vulns {
                by_id
                    .entry(v.id)
                    .or_insert_with(|| (*v, BTreeMap::new()))
                    .1
                    .entry(g.name.clone())
                    .or_default()
                    .push(r.version.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    for (id, (spec, packages)) in by_id {
        let affected: Vec<Value> = packages
            .iter()
            .map(|(name, versions)| {
                let mut events = vec![json!({"introduced": "0"})];
                events.extend(spec.fixed_in.iter().map(|f| json!({"fixed": f})));
                json!({
                    "package": {"ecosystem": "PyPI", "name": name, "purl": format!("pkg:pypi/{name}")},
                    "ranges": [{"type": "ECOSYSTEM", "events": events}],
                    "versions": versions,
                })
            })
            .collect();
        let record = |id: &str, alias: &str| {
            let mut r = json!({
                "affected": affected,
                "aliases": [alias],
                "details": format!("{} (invented for the simulator; not a real advisory)", spec.summary),
                "id": id,
                "modified": MODIFIED,
                "published": "2024-01-01T00:00:00Z",
                "references": [{"type": "ADVISORY", "url": format!("https://osv.sim.invalid/vulnerability/{id}")}],
                "schema_version": "1.6.0",
                "summary": spec.summary,
            });
            if let Some(w) = spec.withdrawn {
                r["withdrawn"] = Value::from(w);
            }
            r
        };
        out.insert(id.to_string(), record(id, spec.alias));
        out.insert(spec.alias.to_string(), record(spec.alias, id));
    }
    out
});

/// `POST /v1/querybatch`: for each `{package: {name, ecosystem: "PyPI"}, version}`, the
/// ids (and `modified`) of the advisories the release's JSON lists, with their twins.
pub(crate) fn querybatch(shared: &Shared, req: &Req<'_>) -> Resp {
    let Ok(body) = serde_json::from_slice::<Value>(req.body) else {
        return error(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    let Some(queries) = body.get("queries").and_then(Value::as_array) else {
        return error(StatusCode::BAD_REQUEST, "queries is required");
    };
    if queries.len() > MAX_QUERIES {
        return error(StatusCode::BAD_REQUEST, "Too many queries");
    }
    let mut results = Vec::with_capacity(queries.len());
    for q in queries {
        let name = q.pointer("/package/name").and_then(Value::as_str);
        let ecosystem = q.pointer("/package/ecosystem").and_then(Value::as_str);
        let version = q.get("version").and_then(Value::as_str);
        let (Some(name), Some("PyPI"), Some(version)) = (name, ecosystem, version) else {
            results.push(json!({}));
            continue;
        };
        let ids = advisory_ids(shared, name, version);
        results.push(if ids.is_empty() {
            json!({})
        } else {
            json!({"vulns": ids.iter().map(|id| json!({"id": id, "modified": MODIFIED})).collect::<Vec<_>>()})
        });
    }
    Resp::json(StatusCode::OK, json!({ "results": results })).upstream(Upstream::Osv)
}

/// The ids the release's JSON lists, each followed by its alias (the twin record).
fn advisory_ids(shared: &Shared, name: &str, version: &str) -> Vec<String> {
    if !plausible_name(name) {
        return Vec::new();
    }
    let Some(p) = shared.catalog.project(&normalise(name)) else {
        return Vec::new();
    };
    let Some(v) = p.find_version(version) else {
        return Vec::new();
    };
    let doc: Value = serde_json::from_slice(&p.release(v).body).unwrap_or(Value::Null);
    let mut ids = Vec::new();
    for adv in doc["vulnerabilities"].as_array().into_iter().flatten() {
        let Some(id) = adv["id"].as_str() else {
            continue;
        };
        for one in std::iter::once(id).chain(
            adv["aliases"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        ) {
            if RECORDS.contains_key(one) && !ids.iter().any(|i| i == one) {
                ids.push(one.to_string());
            }
        }
    }
    ids
}

/// The export's zip, built once from [`RECORDS`]: one deflated `{id}.json` per record,
/// in id order, with each record's canonical JSON (what `/v1/vulns/{id}` serves).
static EXPORT: LazyLock<bytes::Bytes> = LazyLock::new(|| export_zip(None));

fn export_zip(hostile: Option<&str>) -> bytes::Bytes {
    use crate::data::wheels::{DEFLATED, ZipWriter, bomb_deflate};
    let mut z = ZipWriter::default();
    for (id, record) in RECORDS.iter() {
        z.add(&format!("{id}.json"), &canonical_json(record.clone()), true);
    }
    match hostile {
        // An entry claiming 100 bytes whose data inflate to 1 GiB.
        Some("bomb") => z.add_raw("SIM-BOMB-1.json", DEFLATED, 0, &bomb_deflate(), 100),
        // One entry that is not JSON: skipped and counted, the rest kept.
        Some("bad_entry") => z.add("SIM-BAD-1.json", b"{\"id\": \"SIM-BAD-1\", ", true),
        _ => {}
    }
    let lies = hostile == Some("lies");
    bytes::Bytes::from(z.finish(|e, end| {
        // Every entry's data said to start past the end of the entries.
        if lies {
            e.offset = end as u32 + 1000;
        }
    }))
}

/// `GET /PyPI/all.zip`: every record, zipped, dated today.
pub(crate) fn export(shared: &Shared) -> Resp {
    let day = shared.calendar.today().days_since_epoch().max(0) as u64;
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(day * 86_400);
    Resp::new(StatusCode::OK, "application/zip", EXPORT.clone())
        .with_etag(&etag_of(&EXPORT))
        .with_last_modified(at)
}

/// The export told a lie (`drift` = `zip_bomb`, `zip_lies` or `zip_bad_entry` on
/// `/PyPI/all.zip`); `None` for another body or kind.
pub(crate) fn hostile_export(kind: &str, body: &[u8]) -> Option<bytes::Bytes> {
    if body != EXPORT.as_ref() {
        return None;
    }
    let k = kind.strip_prefix("zip_")?;
    matches!(k, "bomb" | "lies" | "bad_entry").then(|| export_zip(Some(k)))
}

/// `GET /v1/vulns/{id}`.
pub(crate) fn vuln(id: &str) -> Resp {
    match RECORDS.get(id) {
        Some(r) => {
            let resp = Resp::json(StatusCode::OK, r.clone());
            let etag = etag_of(&resp.body);
            resp.with_etag(&etag).upstream(Upstream::Osv)
        }
        None => error(StatusCode::NOT_FOUND, "Bug not found."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_holds_every_record_and_each_hostile_kind_differs() {
        let z = &EXPORT;
        assert_eq!(&z[..4], b"PK\x03\x04");
        let count = u16::from_le_bytes([z[z.len() - 12], z[z.len() - 11]]);
        assert_eq!(usize::from(count), RECORDS.len());
        for k in ["zip_bomb", "zip_lies", "zip_bad_entry"] {
            let h = hostile_export(k, z).unwrap();
            assert_ne!(h, **z, "{k}");
        }
        assert!(hostile_export("zip_bomb", b"{}").is_none());
        assert!(hostile_export("missing_field", z).is_none());
    }

    #[test]
    fn each_advisory_is_served_under_its_id_and_its_alias_naming_each_other() {
        let a = &RECORDS["SGSIM-2025-0003"];
        let b = &RECORDS["SIM-CVE-2025-0003"];
        assert_eq!(a["aliases"][0], "SIM-CVE-2025-0003");
        assert_eq!(b["aliases"][0], "SGSIM-2025-0003");
        assert_eq!(a["affected"][0]["package"]["name"], "sg-markup");
        assert_eq!(a["affected"][0]["ranges"][0]["events"][1]["fixed"], "3.0.0");
        assert_eq!(
            RECORDS["SGSIM-2023-0009"]["withdrawn"],
            "2024-01-15T00:00:00Z"
        );
    }
}
