//! pypistats.org API: `/api/packages/{name}/{recent|overall|python_major|python_minor|system}`.
//!
//! All numbers are **simulated** (see [`crate::data::pypistats`]). Request handling
//! follows the real server: the name has `.` and `_` replaced by `-` (no lower-casing),
//! `recent`/`overall` for an unknown package answer `404` with body `404`, breakdowns
//! answer `200` with `"data": []`, filters use Python `str.title()` semantics.

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::{Value, json};

use crate::data::pypistats::{Series, py_title};
use crate::routes::{Req, Resp};
use crate::server::Shared;

/// Body of pypistats.org's `429` answer.
pub const RATE_LIMIT_BODY: &str = "<a href=\"/api/#etiquette\">429 RATE LIMIT EXCEEDED</a>";

fn flask_404() -> Resp {
    Resp::new(StatusCode::NOT_FOUND, "text/html; charset=utf-8", "404")
}

/// The `429` answer of the simulated rate limiter.
pub(crate) fn rate_limited() -> Resp {
    Resp::new(
        StatusCode::TOO_MANY_REQUESTS,
        "text/html; charset=utf-8",
        RATE_LIMIT_BODY,
    )
}

fn rows(series: &BTreeMap<String, Vec<u64>>, s: &Series, filter: Option<&str>) -> Vec<Value> {
    series
        .iter()
        .filter(|(cat, _)| filter.is_none_or(|f| f == cat.as_str()))
        .flat_map(|(cat, values)| {
            values
                .iter()
                .enumerate()
                .map(move |(i, v)| json!({"category": cat, "date": s.date(i), "downloads": v}))
        })
        .collect()
}

/// `GET /api/packages/{name}/{endpoint}`.
pub(crate) fn endpoint(shared: &Shared, raw_name: &str, endpoint: &str, req: &Req<'_>) -> Resp {
    let name = raw_name.replace(['.', '_'], "-");
    let known = shared.catalog.contains(&name);
    let series = known.then(|| {
        Series::generate(
            &name,
            shared.catalog.seed(),
            shared.calendar.today(),
            shared.calendar.pypistats_lag_days(),
        )
    });
    let body = |kind: &str, data: Value| {
        Resp::json(
            StatusCode::OK,
            json!({"data": data, "package": name, "type": kind}),
        )
    };
    match endpoint {
        "recent" => {
            let Some(s) = series else { return flask_404() };
            let all = [
                ("day", "last_day", s.last_day()),
                ("week", "last_week", s.last_week()),
                ("month", "last_month", s.last_month()),
            ];
            let period = req.param("period");
            let mut data = serde_json::Map::new();
            for (p, key, v) in all {
                if period.as_deref().is_none_or(|x| x == p) {
                    data.insert(key.into(), json!(v));
                }
            }
            if data.is_empty() {
                return flask_404();
            }
            body("recent_downloads", Value::Object(data))
        }
        "overall" => {
            let Some(s) = series else { return flask_404() };
            let mut map = BTreeMap::new();
            map.insert("with_mirrors".to_owned(), s.with.clone());
            map.insert("without_mirrors".to_owned(), s.without.clone());
            let filter = match req.param("mirrors").as_deref() {
                Some("true") => Some("with_mirrors"),
                Some("false") => Some("without_mirrors"),
                _ => None,
            };
            body("overall_downloads", Value::Array(rows(&map, &s, filter)))
        }
        "python_major" | "python_minor" | "system" => {
            let param = if endpoint == "system" {
                "os"
            } else {
                "version"
            };
            let filter = req.param(param).map(|v| py_title(&v));
            let kind = format!("{endpoint}_downloads");
            let data = match &series {
                None => Vec::new(),
                Some(s) => {
                    let cats = match endpoint {
                        "python_major" => s.python_major(),
                        "python_minor" => s.python_minor(),
                        _ => s.system(),
                    };
                    rows(&cats, s, filter.as_deref())
                }
            };
            body(&kind, Value::Array(data))
        }
        _ => flask_404(),
    }
}
