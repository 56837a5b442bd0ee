//! The top-packages dataset: `/top-pypi-packages.min.json`, every known package with
//! its **simulated** 30-day download count, sorted descending. Like the real file (a
//! static file on GitHub Pages), it carries both `ETag` and `Last-Modified` (the
//! dataset's `last_update`).

use http::StatusCode;

use crate::routes::Resp;
use crate::server::Shared;

/// `GET /top-pypi-packages.min.json`.
pub(crate) fn top(shared: &Shared) -> Resp {
    let today = shared.calendar.today();
    let doc = shared.catalog.top(today);
    Resp::new(
        StatusCode::OK,
        "application/json; charset=utf-8",
        doc.body.clone(),
    )
    .with_header("cache-control", "max-age=600")
    .with_header("access-control-allow-origin", "*")
    .with_etag(doc.etag())
    .with_last_modified(crate::data::pypistats::top_last_update(today))
}
