//! pepy.tech API v2: `/api/v2/projects/{name}` (**simulated** numbers, consistent with
//! the generated pypistats series: see [`crate::data::pypistats::Series::pepy`]).

use http::StatusCode;
use serde_json::json;

use crate::data::normalise;
use crate::data::pypistats::Series;
use crate::routes::{Req, Resp};
use crate::server::Shared;

/// `GET /api/v2/projects/{name}`; requires `X-API-Key` when the simulator has one.
pub(crate) fn project(shared: &Shared, raw_name: &str, req: &Req<'_>) -> Resp {
    if let Some(key) = &shared.cfg.pepy_api_key {
        match req.header("x-api-key") {
            Some(k) if k == key => {}
            Some(_) => {
                return Resp::json(
                    StatusCode::UNAUTHORIZED,
                    json!({"message": "Invalid API key"}),
                );
            }
            None => {
                return Resp::json(
                    StatusCode::UNAUTHORIZED,
                    json!({"message": "Missing API key (send the X-API-Key header)"}),
                );
            }
        }
    }
    let name = normalise(raw_name);
    if !shared.catalog.contains(&name) {
        return Resp::json(
            StatusCode::NOT_FOUND,
            json!({"message": format!("Project not found: {raw_name}")}),
        );
    }
    let versions = shared.catalog.versions(&name);
    // pypistats' lag is pypistats' own: pepy's data stays on schedule.
    let series = Series::generate(&name, shared.catalog.seed(), shared.calendar.today(), 0);
    let (downloads, total) = series.pepy(&versions);
    Resp::json(
        StatusCode::OK,
        json!({
            "downloads": downloads,
            "id": name,
            "total_downloads": total,
            "versions": versions,
        }),
    )
}
