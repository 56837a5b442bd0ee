//! OSV's `POST /v1/querybatch` for one release, every page of ids joined: each page
//! after the first takes a rate-limit slot within the caller's answer budget, like a
//! retry; an answer that keeps naming a next page past [`MAX_OSV_PAGES`] is refused
//! (never followed forever). The batch answers ids only; each advisory is its own
//! document (`GET /v1/vulns/{id}`, the usual path).

use super::*;
use sentinel_core::model::limits::MAX_OSV_PAGES;
use sentinel_core::upstream::osv;

impl FetchContext {
    /// The advisory ids of the release `req.query` names.
    pub(super) async fn osv_batch(
        &self,
        url: &str,
        req: &FetchRequest,
    ) -> Result<FetchOutcome, FetchFailure> {
        let Query::OsvRelease(name, version) = &req.query else {
            return Err(fail(FailureKind::Other, "not an OSV release query".into()));
        };
        let mut joined = osv::OsvIds::default();
        let mut token: Option<String> = None;
        for page in 0..MAX_OSV_PAGES {
            if page > 0 {
                self.wait_for_a_slot(req).await?;
            }
            let body = osv::batch_request(name, version, token.as_deref());
            // No validators: a POST is not a conditional request.
            let rb = self
                .client
                .post(url)
                .header(ACCEPT, "application/json")
                .header(CONTENT_TYPE, "application/json")
                .body(body);
            let resp = self
                .credentials(rb, url)
                .send()
                .await
                .map_err(|e| transport_failure(&e))?;
            let status = resp.status();
            metrics::counter!("sentinel_upstream_requests_total",
                "upstream" => self.upstream.as_str(), "status" => status.as_u16().to_string())
            .increment(1);
            if status == reqwest::StatusCode::NOT_FOUND || status.is_redirection() {
                // The route itself is missing: not "no such package".
                return Err(fail(
                    FailureKind::Status(status.as_u16()),
                    format!(
                        "HTTP {} from {} to /v1/querybatch: is upstreams.osv.base_url an OSV API?",
                        status.as_u16(),
                        self.upstream
                    ),
                ));
            }
            let ids = match self.read(resp, req).await? {
                FetchOutcome::Fetched { doc, .. } => match doc.as_ref() {
                    Document::OsvIds(ids) => ids.clone(),
                    _ => return Err(fail(FailureKind::Body, "not a batch answer".into())),
                },
                _ => return Err(fail(FailureKind::Body, "not a batch answer".into())),
            };
            joined.join(ids).map_err(|e| {
                fail(
                    FailureKind::Body,
                    format!("unusable body from {}: {e}", self.upstream),
                )
            })?;
            match joined.next_page_token.take() {
                None => {
                    return Ok(FetchOutcome::Fetched {
                        doc: Arc::new(Document::OsvIds(joined)),
                        etag: None,
                        last_modified: None,
                        freshness: UpstreamFreshness::Unsaid,
                    });
                }
                Some(t) => token = Some(t),
            }
        }
        Err(fail(
            FailureKind::Body,
            format!(
                "unusable body from {}: it still named a next page after {MAX_OSV_PAGES} pages of advisory ids for {name} {version}",
                self.upstream
            ),
        ))
    }
}
