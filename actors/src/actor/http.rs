//! One upstream request with the good-citizen rules: rate limit, concurrency permit,
//! per-attempt timeout, bounded redirects, body cap, content-type check, retries with
//! jittered backoff inside the retry budget, never past the deadline. Runs in a task
//! spawned by the FetchActor, never inside a handler.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{ACCEPT, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION, RETRY_AFTER};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::config::{AuthConfig, EngineConfig, RateLimitConfig, UpstreamConfig};
use crate::model::{Query, Upstream};
use crate::policy::{FailureKind, RetryBudget, RetryDecision, parse_retry_after};
use crate::upstream::{self, Document};

/// What one fetch produced.
#[derive(Debug, Clone)]
pub(crate) enum FetchOutcome {
    /// A new body, parsed.
    Fetched {
        doc: Arc<Document>,
        etag: Option<String>,
    },
    /// 304 to our `If-None-Match`.
    NotModified,
    /// The upstream says the package or version does not exist.
    NotFound,
    /// It failed, after the retries the policy and the budget allowed.
    Failed(FetchFailure),
}

/// Why a fetch failed.
#[derive(Debug, Clone)]
pub(crate) struct FetchFailure {
    pub(crate) kind: FailureKind,
    pub(crate) detail: String,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) attempts: u32,
}

/// A request to the FetchActor.
#[derive(Debug, Clone)]
pub(crate) struct FetchRequest {
    pub(crate) query: Query,
    pub(crate) etag: Option<String>,
    pub(crate) deadline: Instant,
}

/// Everything a fetch task needs, shared between the FetchActor and its tasks.
pub(crate) struct FetchContext {
    pub(crate) upstream: Upstream,
    pub(crate) client: reqwest::Client,
    cfg: UpstreamConfig,
    attempt_timeout: Duration,
    max_body_bytes: u64,
    per_second: Option<DefaultDirectRateLimiter>,
    per_minute: Option<DefaultDirectRateLimiter>,
    in_flight: Semaphore,
    pub(crate) budget: Mutex<RetryBudget>,
    pub(crate) counters: FetchCounters,
}

/// Counters of one upstream's requests.
#[derive(Default, Debug)]
pub(crate) struct FetchCounters {
    pub(crate) requests: std::sync::atomic::AtomicU64,
    pub(crate) attempts: std::sync::atomic::AtomicU64,
    pub(crate) retries: std::sync::atomic::AtomicU64,
    pub(crate) budget_refusals: std::sync::atomic::AtomicU64,
    pub(crate) failures: std::sync::atomic::AtomicU64,
}

/// A quota that never lets more than `n` requests into any sliding `window`, the way a
/// strict server counts (pypistats' Flask-Limiter uses a moving window). GCRA admits
/// `burst - 1 + window / period` requests in a window, so the period is
/// `window / (n - burst + 1)`, stretched 2 % for network jitter. (Governor's own
/// `per_second(n)` allows a burst of `n` on top of the rate: up to `2n - 1` per second.)
pub(crate) fn strict_quota(n: u32, window: Duration, burst: u32) -> Quota {
    let n = n.max(1);
    let burst = burst.clamp(1, n);
    let period = window.mul_f64(1.02) / (n - burst + 1);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

impl FetchContext {
    pub(crate) fn new(upstream: Upstream, engine: &EngineConfig) -> Result<Self, reqwest::Error> {
        let cfg = engine.upstreams.get(upstream).clone();
        let client = reqwest::Client::builder()
            .user_agent(engine.user_agent.clone())
            .connect_timeout(Duration::from_millis(engine.timeouts.connect_ms))
            // We follow at most one redirect ourselves, same host only.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let (per_second, per_minute) = match &cfg.rate_limit {
            Some(RateLimitConfig {
                per_second,
                per_minute,
            }) => (
                // Evenly spaced within the second; the minute quota lets a second's
                // worth through at once, then spaces the rest.
                Some(RateLimiter::direct(strict_quota(
                    *per_second,
                    Duration::from_secs(1),
                    1,
                ))),
                per_minute.map(|m| {
                    RateLimiter::direct(strict_quota(
                        m,
                        Duration::from_secs(60),
                        (*per_second).min(m),
                    ))
                }),
            ),
            None => (None, None),
        };
        Ok(FetchContext {
            upstream,
            client,
            attempt_timeout: Duration::from_millis(engine.timeouts.attempt_ms),
            max_body_bytes: engine.max_body_bytes,
            per_second,
            per_minute,
            in_flight: Semaphore::new(cfg.max_in_flight as usize),
            budget: Mutex::new(RetryBudget::new(cfg.retry_budget.clone())),
            counters: FetchCounters::default(),
            cfg,
        })
    }

    fn url(&self, q: &Query) -> String {
        let base = self.cfg.base_url.trim_end_matches('/');
        format!("{base}{}", q.path())
    }

    /// Waits for both rate limits, or fails when the wait would pass the deadline.
    async fn rate_limit(&self, deadline: Instant) -> Result<(), FetchFailure> {
        for limiter in [&self.per_second, &self.per_minute].into_iter().flatten() {
            loop {
                match limiter.check() {
                    Ok(()) => break,
                    Err(not_until) => {
                        let wait = not_until.wait_time_from(governor::clock::Clock::now(
                            &governor::clock::DefaultClock::default(),
                        ));
                        if Instant::now() + wait >= deadline {
                            return Err(FetchFailure {
                                kind: FailureKind::Timeout,
                                detail: format!(
                                    "our own rate limit for {} needs a {} ms wait, past the deadline",
                                    self.upstream,
                                    wait.as_millis()
                                ),
                                retry_after: Some(wait),
                                attempts: 0,
                            });
                        }
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        Ok(())
    }

    /// The whole fetch: attempts, retries, budget.
    pub(crate) async fn fetch(&self, req: &FetchRequest) -> FetchOutcome {
        use std::sync::atomic::Ordering::Relaxed;
        self.counters.requests.fetch_add(1, Relaxed);
        self.lock_budget().record_request(Instant::now());
        let mut retries = 0u32;
        loop {
            let attempt = self.attempt(req).await;
            // Every attempt feeds the retry throttle (a 404 or 304 is a success).
            self.lock_budget().record_attempt(attempt.is_ok());
            let failure = match attempt {
                Ok(outcome) => return outcome,
                Err(f) => f,
            };
            let now = Instant::now();
            let decision = self.cfg.retry.decide(
                &failure.kind,
                retries,
                failure.retry_after,
                now,
                req.deadline,
                &mut rand::rng(),
            );
            let delay = match decision {
                RetryDecision::RetryAfter(d) => d,
                RetryDecision::GiveUp(reason) => {
                    self.counters.failures.fetch_add(1, Relaxed);
                    return FetchOutcome::Failed(FetchFailure {
                        detail: format!("{} ({reason})", failure.detail),
                        attempts: retries + 1,
                        ..failure
                    });
                }
            };
            let (granted, throttled) = {
                let mut budget = self.lock_budget();
                let throttled = budget.throttled();
                (budget.try_withdraw(now), throttled)
            };
            if !granted {
                self.counters.budget_refusals.fetch_add(1, Relaxed);
                self.counters.failures.fetch_add(1, Relaxed);
                metrics::counter!("sentinel_retry_budget_refusals_total", "upstream" => self.upstream.as_str()).increment(1);
                let why = if throttled {
                    "retries throttled after consecutive failures"
                } else {
                    "retry budget exhausted"
                };
                return FetchOutcome::Failed(FetchFailure {
                    detail: format!("{} ({why})", failure.detail),
                    attempts: retries + 1,
                    ..failure
                });
            }
            self.counters.retries.fetch_add(1, Relaxed);
            metrics::counter!("sentinel_upstream_retries_total", "upstream" => self.upstream.as_str()).increment(1);
            tracing::debug!(upstream = %self.upstream, query = %req.query, delay_ms = delay.as_millis() as u64, "retrying");
            tokio::time::sleep(delay).await;
            retries += 1;
        }
    }

    fn lock_budget(&self) -> std::sync::MutexGuard<'_, RetryBudget> {
        self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One attempt, bounded by the attempt timeout and the deadline.
    async fn attempt(&self, req: &FetchRequest) -> Result<FetchOutcome, FetchFailure> {
        self.rate_limit(req.deadline).await?;
        let _permit = tokio::time::timeout_at(req.deadline, self.in_flight.acquire())
            .await
            .map_err(|_| FetchFailure {
                kind: FailureKind::Timeout,
                detail: format!("no free slot for {} before the deadline", self.upstream),
                retry_after: None,
                attempts: 0,
            })?
            .map_err(|_| FetchFailure {
                kind: FailureKind::Other,
                detail: "engine shutting down".into(),
                retry_after: None,
                attempts: 0,
            })?;
        self.counters
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let end = (Instant::now() + self.attempt_timeout).min(req.deadline);
        match tokio::time::timeout_at(end, self.send_following_one_redirect(req)).await {
            Ok(r) => r,
            Err(_) => Err(FetchFailure {
                kind: FailureKind::Timeout,
                detail: format!(
                    "{} did not answer within {} ms",
                    self.upstream,
                    end.saturating_duration_since(Instant::now())
                        .as_millis()
                        .max(self.attempt_timeout.as_millis().min(1))
                ),
                retry_after: None,
                attempts: 0,
            }),
        }
    }

    async fn send_following_one_redirect(
        &self,
        req: &FetchRequest,
    ) -> Result<FetchOutcome, FetchFailure> {
        let first = self.url(&req.query);
        let mut url = first.clone();
        for hop in 0..2 {
            let resp = self.send(&url, req).await?;
            let status = resp.status();
            metrics::counter!("sentinel_upstream_requests_total",
                "upstream" => self.upstream.as_str(), "status" => status.as_u16().to_string())
            .increment(1);
            if status.is_redirection() && status != reqwest::StatusCode::NOT_MODIFIED {
                let location = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let next = reqwest::Url::parse(&url)
                    .and_then(|base| base.join(&location))
                    .map_err(|_| {
                        fail(
                            FailureKind::Other,
                            format!("{status} with an unusable Location {location:?}"),
                        )
                    })?;
                let here = reqwest::Url::parse(&url)
                    .map_err(|e| fail(FailureKind::Other, e.to_string()))?;
                if next.host_str() != here.host_str()
                    || next.port_or_known_default() != here.port_or_known_default()
                {
                    return Err(fail(
                        FailureKind::Other,
                        format!("{status} redirect to another host ({next}) refused"),
                    ));
                }
                if hop == 1 || next.as_str() == first {
                    return Err(fail(
                        FailureKind::Other,
                        format!("redirect loop detected ({first} -> {url} -> {next})"),
                    ));
                }
                url = next.to_string();
                continue;
            }
            return self.read(resp, req).await;
        }
        Err(fail(FailureKind::Other, "redirect loop detected".into()))
    }

    async fn send(&self, url: &str, req: &FetchRequest) -> Result<reqwest::Response, FetchFailure> {
        let mut rb = self
            .client
            .get(url)
            .header(ACCEPT, upstream::accept_header(&req.query));
        if let Some(etag) = &req.etag {
            rb = rb.header(IF_NONE_MATCH, etag);
        }
        if let Some(key) = &self.cfg.api_key {
            rb = rb.header("X-API-Key", key);
        }
        rb = match &self.cfg.auth {
            Some(AuthConfig::Basic { username, password }) => {
                rb.basic_auth(username, Some(password))
            }
            Some(AuthConfig::Bearer { token }) => rb.bearer_auth(token),
            None => rb,
        };
        rb.send().await.map_err(|e| transport_failure(&e))
    }

    async fn read(
        &self,
        resp: reqwest::Response,
        req: &FetchRequest,
    ) -> Result<FetchOutcome, FetchFailure> {
        let status = resp.status();
        match status.as_u16() {
            304 => return Ok(FetchOutcome::NotModified),
            404 => return Ok(FetchOutcome::NotFound),
            200 => {}
            code => {
                let retry_after = resp
                    .headers()
                    .get(RETRY_AFTER)
                    .or_else(|| resp.headers().get("X-Rate-Limit-Retry-After-Seconds"))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
                return Err(FetchFailure {
                    kind: FailureKind::Status(code),
                    detail: format!("HTTP {code} from {}", self.upstream),
                    retry_after,
                    attempts: 0,
                });
            }
        }
        if let Some(len) = resp.content_length()
            && len > self.max_body_bytes
        {
            return Err(fail(
                FailureKind::Body,
                format!(
                    "body of {len} bytes exceeds the {} byte cap",
                    self.max_body_bytes
                ),
            ));
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let etag = resp
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| transport_failure(&e))?;
            if body.len() as u64 + chunk.len() as u64 > self.max_body_bytes {
                return Err(fail(
                    FailureKind::Body,
                    format!("body exceeds the {} byte cap", self.max_body_bytes),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        // Parsing a multi-megabyte body is CPU work: keep it off the async workers. A
        // small body parses in tens of microseconds, less than the hand-off to the
        // blocking pool and back costs, so it is parsed right here.
        let parsed = if body.len() <= INLINE_PARSE_MAX_BYTES {
            upstream::parse(&req.query, content_type.as_deref(), &body)
        } else {
            let query = req.query.clone();
            tokio::task::spawn_blocking(move || {
                upstream::parse(&query, content_type.as_deref(), &body)
            })
            .await
            .map_err(|e| fail(FailureKind::Other, format!("parser task failed: {e}")))?
        };
        match parsed {
            Ok(doc) => Ok(FetchOutcome::Fetched {
                doc: Arc::new(doc),
                etag,
            }),
            Err(e) => Err(fail(
                FailureKind::Body,
                format!("unusable body from {}: {e}", self.upstream),
            )),
        }
    }
}

/// Bodies up to this size are parsed on the async worker (tens of microseconds); larger
/// ones on the blocking pool.
const INLINE_PARSE_MAX_BYTES: usize = 32 * 1024;

fn fail(kind: FailureKind, detail: String) -> FetchFailure {
    FetchFailure {
        kind,
        detail,
        retry_after: None,
        attempts: 0,
    }
}

/// Maps a transport error. A body cut short or a reset connection is a connection
/// failure (retryable), as a CDN node dropping a response usually is transient.
fn transport_failure(e: &reqwest::Error) -> FetchFailure {
    let kind = if e.is_timeout() {
        FailureKind::Timeout
    } else {
        FailureKind::Connect
    };
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        src = s.source();
    }
    fail(kind, detail)
}

#[cfg(test)]
mod quota_tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    /// Counts how many requests a limiter admits in every sliding window, sending as
    /// fast as it allows for `total` of fake time.
    fn max_in_any_window(q: Quota, window: Duration, total: Duration) -> usize {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(q, clock.clone());
        let step = Duration::from_millis(10);
        let mut admitted: Vec<Duration> = Vec::new();
        let mut t = Duration::ZERO;
        while t < total {
            while limiter.check().is_ok() {
                admitted.push(t);
            }
            clock.advance(step);
            t += step;
        }
        admitted
            .iter()
            .map(|start| {
                admitted
                    .iter()
                    .filter(|x| **x >= *start && **x < *start + window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn pypistats_quotas_never_exceed_5_per_second_or_30_per_minute() {
        let second = Duration::from_secs(1);
        let minute = Duration::from_secs(60);
        assert_eq!(
            max_in_any_window(strict_quota(5, second, 1), second, Duration::from_secs(10)),
            5
        );
        let per_minute = max_in_any_window(
            strict_quota(30, minute, 5),
            minute,
            Duration::from_secs(300),
        );
        assert!((29..=30).contains(&per_minute), "{per_minute}");
        // Governor's plain per_second(5) would let 9 through in one second.
        assert!(
            max_in_any_window(
                Quota::per_second(NonZeroU32::new(5).unwrap()),
                second,
                Duration::from_secs(5)
            ) > 5
        );
    }
}
