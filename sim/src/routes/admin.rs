//! The admin API under `/_sim/` (not counted in the stats, never faulted):
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /_sim/faults` (JSON [`FaultSpec`]) | `200 {"id": N}`, `400 {"error": "..."}` |
//! | `GET /_sim/faults` | `[{"id": N, "spec": {...}}, ...]` |
//! | `DELETE /_sim/faults` | clears every fault |
//! | `DELETE /_sim/faults/{id}` | `200`, or `404` if there is no such fault |
//! | `GET /_sim/stats` | `{"total": N, "routes": {"/path": n}}` |
//! | `POST /_sim/stats/reset` | zeroes the counters |
//! | `POST /_sim/scenario/{name}` | replaces the faults with a [`Scenario`](crate::Scenario) |
//! | `GET /_sim/calendar` | `{"today": "YYYY-MM-DD", "pinned": bool, "pypistats_lag_days": N}` |
//! | `PUT /_sim/calendar` (`{"today": "YYYY-MM-DD" or null, "pypistats_lag_days": N}`, both optional) | the new calendar, or `400` |

use http::{Method, StatusCode};
use serde_json::json;

use crate::date::SimDay;
use crate::fault::FaultSpec;
use crate::routes::Resp;
use crate::scenario::Scenario;
use crate::server::Shared;

fn error(status: StatusCode, msg: impl Into<String>) -> Resp {
    Resp::json(status, json!({"error": msg.into()}))
}

fn ok() -> Resp {
    Resp::json(StatusCode::OK, json!({"ok": true}))
}

fn calendar(shared: &Shared) -> Resp {
    let c = &shared.calendar;
    Resp::json(
        StatusCode::OK,
        json!({
            "today": c.today().to_string(),
            "pinned": c.pinned().is_some(),
            "pypistats_lag_days": c.pypistats_lag_days(),
        }),
    )
}

/// Handles one admin request (`path` starts with `/_sim`).
pub(crate) fn handle(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> Resp {
    let segs: Vec<&str> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    match (method.as_str(), segs.as_slice()) {
        ("POST", ["_sim", "faults"]) => {
            let spec: FaultSpec = match serde_json::from_slice(body) {
                Ok(s) => s,
                Err(e) => {
                    return error(StatusCode::BAD_REQUEST, format!("invalid fault spec: {e}"));
                }
            };
            if let Err(e) = spec.validate() {
                return error(StatusCode::BAD_REQUEST, format!("invalid fault spec: {e}"));
            }
            let id = shared.faults.add(spec);
            Resp::json(StatusCode::OK, json!({"id": id}))
        }
        ("GET", ["_sim", "faults"]) => {
            let list: Vec<_> = shared
                .faults
                .list()
                .into_iter()
                .map(|(id, spec)| json!({"id": id, "spec": spec}))
                .collect();
            Resp::json(StatusCode::OK, json!(list))
        }
        ("DELETE", ["_sim", "faults"]) => {
            shared.faults.clear();
            ok()
        }
        ("DELETE", ["_sim", "faults", id]) => match id.parse::<u64>() {
            Ok(id) if shared.faults.remove(id) => ok(),
            Ok(id) => error(StatusCode::NOT_FOUND, format!("no fault with id {id}")),
            Err(_) => error(
                StatusCode::BAD_REQUEST,
                format!("fault id must be a number, got {id:?}"),
            ),
        },
        ("GET", ["_sim", "stats"]) => Resp::json(StatusCode::OK, json!(shared.stats.snapshot())),
        ("POST", ["_sim", "stats", "reset"]) => {
            shared.stats.reset();
            ok()
        }
        ("GET", ["_sim", "calendar"]) => calendar(shared),
        ("PUT", ["_sim", "calendar"]) => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Change {
                #[serde(default)]
                today: Option<Option<String>>,
                #[serde(default)]
                pypistats_lag_days: Option<u32>,
            }
            let change: Change = match serde_json::from_slice(body) {
                Ok(c) => c,
                Err(e) => {
                    return error(StatusCode::BAD_REQUEST, format!("invalid calendar: {e}"));
                }
            };
            let today = match change.today {
                None => None,
                Some(None) => Some(None),
                Some(Some(s)) => match s.parse::<SimDay>() {
                    Ok(d) => Some(Some(d)),
                    Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
                },
            };
            if let Some(t) = today {
                shared.calendar.pin(t);
            }
            if let Some(n) = change.pypistats_lag_days {
                shared.calendar.set_pypistats_lag_days(n);
            }
            calendar(shared)
        }
        ("POST", ["_sim", "scenario", name]) => match name.parse::<Scenario>() {
            Ok(s) => {
                shared.faults.replace(s.faults());
                Resp::json(StatusCode::OK, json!({"scenario": s.name()}))
            }
            Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
        },
        (
            _,
            ["_sim", "faults"]
            | ["_sim", "faults", _]
            | ["_sim", "stats"]
            | ["_sim", "stats", "reset"]
            | ["_sim", "calendar"]
            | ["_sim", "scenario", _],
        ) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} not allowed on {path}"),
        ),
        _ => error(StatusCode::NOT_FOUND, format!("no admin route {path}")),
    }
}
