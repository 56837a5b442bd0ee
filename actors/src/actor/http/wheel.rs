//! A release's `METADATA` read out of a wheel by the files upstream's fetch layer, for
//! an index that serves no metadata file (PEP 658) and no per-release JSON: the last
//! [`TAIL_BYTES`] of the wheel (`Range: bytes=-N`), then the central directory and the
//! entry if the tail does not hold them already (for most wheels it does: the
//! `.dist-info` files and the directory are written last). A server that ignores
//! `Range` answers the whole file: it is streamed through and only its last
//! [`KEPT_WINDOW`] bytes are kept, which must hold the directory and the entry.
//!
//! Each extra request takes a slot of the upstream's rate limit within the caller's
//! answer budget, like a retry; all of them run on the attempt's connection permit.
//! A wheel whose zip lies is [`FailureKind::Content`]: the host answered, the file is
//! bad (not retried, not a breaker failure).

use super::*;
use sentinel_core::policy::Reservation;
use sentinel_core::upstream::wheel::{
    self, Directory, MAX_TAIL_BYTES, MetadataEntry, TAIL_BYTES, WheelError, find_directory,
    find_metadata,
};

/// The end of a wheel kept in memory while one served whole streams through.
const KEPT_WINDOW: usize = 16 * 1024 * 1024;
/// The most of a wheel served whole that is streamed through (then: refused).
const MAX_STREAMED_BYTES: u64 = 512 * 1024 * 1024;

/// Part of a wheel: bytes `start..start + bytes.len()` of a file `total` long.
struct Held {
    start: u64,
    bytes: Vec<u8>,
    total: u64,
}

impl Held {
    fn slice(&self, r: std::ops::Range<u64>) -> Option<&[u8]> {
        let a = r.start.checked_sub(self.start)? as usize;
        let b = r.end.checked_sub(self.start)? as usize;
        self.bytes.get(a..b)
    }
}

enum Got {
    Part(Held),
    NotFound,
}

fn bad_wheel(e: WheelError) -> FetchFailure {
    fail(
        FailureKind::Content,
        format!("the wheel cannot be read: {e}"),
    )
}

impl FetchContext {
    /// The `METADATA` of the wheel at `url`, parsed as the query's document.
    pub(super) async fn wheel_metadata(
        &self,
        url: &str,
        req: &FetchRequest,
    ) -> Result<FetchOutcome, FetchFailure> {
        let tail = match self
            .get_part(url, req, &format!("bytes=-{TAIL_BYTES}"), false)
            .await?
        {
            Got::Part(h) => h,
            Got::NotFound => return Ok(FetchOutcome::NotFound),
        };
        let total = tail.total;
        let last = |h: &Held| -> Vec<u8> {
            h.bytes[h.bytes.len().saturating_sub(MAX_TAIL_BYTES as usize)..].to_vec()
        };
        let (tail, dir): (Held, Directory) = match find_directory(&last(&tail), total) {
            Ok(d) => (tail, d),
            // A zip comment longer than the first tail: the longest tail it can need.
            Err(WheelError::NotZip)
                if tail.start > 0 && (tail.bytes.len() as u64) < MAX_TAIL_BYTES =>
            {
                let longer = self
                    .read_range(url, req, total.saturating_sub(MAX_TAIL_BYTES)..total)
                    .await?;
                let d = find_directory(&last(&longer), total).map_err(bad_wheel)?;
                (longer, d)
            }
            Err(e) => return Err(bad_wheel(e)),
        };
        let more;
        let dir_bytes = match tail.slice(dir.bytes()) {
            Some(b) => b,
            None => {
                more = self.read_range(url, req, dir.bytes()).await?;
                more.slice(dir.bytes())
                    .ok_or_else(|| bad_wheel(WheelError::Lies("a short directory".into())))?
            }
        };
        let entry: MetadataEntry = find_metadata(dir_bytes, &dir, total).map_err(bad_wheel)?;
        let span = entry.bytes(total);
        let again;
        let entry_bytes = match tail.slice(span.clone()) {
            Some(b) => b,
            None => {
                again = self.read_range(url, req, span.clone()).await?;
                again
                    .slice(span)
                    .ok_or_else(|| bad_wheel(WheelError::Lies("a short entry".into())))?
            }
        };
        let metadata = wheel::read_metadata(entry_bytes, &entry).map_err(bad_wheel)?;
        let query = req.query.clone();
        let parsed = tokio::task::spawn_blocking(move || upstream::parse(&query, None, &metadata))
            .await
            .map_err(|e| fail(FailureKind::Other, format!("parser task failed: {e}")))?;
        match parsed {
            Ok(doc) => Ok(FetchOutcome::Fetched {
                doc: Arc::new(doc),
                etag: None,
                last_modified: None,
                // Named by its sha256 when the index gives one: immutable regardless.
                freshness: UpstreamFreshness::Unsaid,
            }),
            Err(e) => Err(fail(
                FailureKind::Content,
                format!(
                    "the wheel's METADATA is unusable: {}",
                    excerpt(&e.to_string())
                ),
            )),
        }
    }

    /// Bytes `r` of the wheel, in one more request.
    async fn read_range(
        &self,
        url: &str,
        req: &FetchRequest,
        r: std::ops::Range<u64>,
    ) -> Result<Held, FetchFailure> {
        let range = format!("bytes={}-{}", r.start, r.end.saturating_sub(1));
        match self.get_part(url, req, &range, true).await? {
            Got::Part(h) => Ok(h),
            Got::NotFound => Err(fail(
                FailureKind::Status(404),
                "the wheel was gone between two range requests".into(),
            )),
        }
    }

    /// One GET with `Range`. A `206` is the part asked for; a `200` (the server ignored
    /// `Range`) is the whole file streamed through, its end kept.
    async fn get_part(
        &self,
        url: &str,
        req: &FetchRequest,
        range: &str,
        extra: bool,
    ) -> Result<Got, FetchFailure> {
        if extra {
            self.wait_for_a_slot(req).await?;
        }
        let resp = self.send_ranged(url, req, Some(range)).await?;
        let status = resp.status().as_u16();
        metrics::counter!("sentinel_upstream_requests_total",
            "upstream" => self.upstream.as_str(), "status" => status.to_string())
        .increment(1);
        match status {
            206 => self.read_part(resp).await.map(Got::Part),
            200 => self.read_whole(resp).await.map(Got::Part),
            404 => Ok(Got::NotFound),
            code => Err(FetchFailure {
                kind: FailureKind::Status(code),
                detail: format!("HTTP {code} from {} to a range request", self.upstream),
                retry_after: resp
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()))
                    .map(|d| d.min(self.retry_after_clamp)),
                attempts: 0,
                waited: Duration::ZERO,
                ours: false,
                typed: None,
            }),
        }
    }

    /// A rate-limit slot within the caller's answer budget, waited for (a wheel's next
    /// range, OSV's next page).
    pub(super) async fn wait_for_a_slot(&self, req: &FetchRequest) -> Result<(), FetchFailure> {
        let slot = self
            .lock_limiter()
            .reserve(Instant::now().into_std(), req.wait_until.into_std());
        match slot {
            Reservation::At(at) => {
                tokio::time::sleep_until(Instant::from_std(at)).await;
                Ok(())
            }
            Reservation::NotBefore(_) => Err(FetchFailure {
                ours: true,
                ..fail(
                    FailureKind::Other,
                    format!(
                        "no rate-limit slot for the next request to {} within the answer budget",
                        self.upstream
                    ),
                )
            }),
        }
    }

    /// A `206` body: `Content-Range: bytes A-B/TOTAL`, at most what was asked for.
    async fn read_part(&self, resp: reqwest::Response) -> Result<Held, FetchFailure> {
        let content_range = resp
            .headers()
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_content_range);
        let Some((start, end, total)) = content_range else {
            return Err(fail(
                FailureKind::Body,
                "a 206 without a readable Content-Range".into(),
            ));
        };
        let want = end + 1 - start;
        let cap = wheel::MAX_DIRECTORY_BYTES + wheel::MAX_METADATA_BYTES + MAX_TAIL_BYTES;
        if want > cap {
            return Err(bad_wheel(WheelError::TooLarge {
                what: "a range of the wheel",
                cap,
            }));
        }
        let mut bytes = Vec::with_capacity(want as usize);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| transport_failure(&e))?;
            if bytes.len() as u64 + chunk.len() as u64 > want {
                return Err(fail(
                    FailureKind::Body,
                    "a range longer than it said".into(),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        if (bytes.len() as u64) < want {
            return Err(fail(FailureKind::Body, "a range cut short".into()));
        }
        Ok(Held {
            start,
            bytes,
            total,
        })
    }

    /// A `200` body (the server ignored `Range`): streamed through, its last
    /// [`KEPT_WINDOW`] bytes kept.
    async fn read_whole(&self, resp: reqwest::Response) -> Result<Held, FetchFailure> {
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_STREAMED_BYTES)
        {
            return Err(bad_wheel(WheelError::TooLarge {
                what: "a wheel served whole",
                cap: MAX_STREAMED_BYTES,
            }));
        }
        let mut kept: Vec<u8> = Vec::new();
        let mut total = 0u64;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| transport_failure(&e))?;
            total += chunk.len() as u64;
            if total > MAX_STREAMED_BYTES {
                return Err(bad_wheel(WheelError::TooLarge {
                    what: "a wheel served whole",
                    cap: MAX_STREAMED_BYTES,
                }));
            }
            kept.extend_from_slice(&chunk);
            if kept.len() > 2 * KEPT_WINDOW {
                kept.drain(..kept.len() - KEPT_WINDOW);
            }
        }
        Ok(Held {
            start: total - kept.len() as u64,
            bytes: kept,
            total,
        })
    }
}

/// `bytes A-B/TOTAL` as (A, B, TOTAL), B < TOTAL.
fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b, total) = (a.parse().ok()?, b.parse().ok()?, total.parse().ok()?);
    (a <= b && b < total).then_some((a, b, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_are_read_and_impossible_ones_refused() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0, 9, 100)));
        assert_eq!(parse_content_range("bytes 90-99/100"), Some((90, 99, 100)));
        assert_eq!(parse_content_range("bytes 90-100/100"), None);
        assert_eq!(parse_content_range("bytes 9-0/100"), None);
        assert_eq!(parse_content_range("bytes */100"), None);
        assert_eq!(parse_content_range("items 0-9/100"), None);
    }
}
