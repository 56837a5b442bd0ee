//! One upstream request with the good-citizen rules: concurrency permit, per-attempt
//! timeout, bounded redirects, body cap, content-type check, retries with jittered
//! backoff inside the retry budget, never past the deadline, and stopped at once when
//! every caller has gone. Runs in a task spawned by the FetchActor, never inside a
//! handler. The first attempt's rate-limit slot is reserved by the FetchActor; a retry
//! reserves its own, never waiting past the caller's answer budget.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
    LOCATION, RETRY_AFTER,
};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{AuthConfig, EngineConfig, UpstreamConfig};
use sentinel_core::model::untrusted::{excerpt, redact_urls};
use sentinel_core::model::{Query, UnavailableCause, Upstream};
use sentinel_core::policy::{
    FailureKind, RateLimit, Reservation, RetryBudget, RetryDecision, UpstreamFreshness,
    parse_retry_after,
};
use sentinel_core::upstream::hosts::FileHosts;
use sentinel_core::upstream::{self, Document};

/// What one fetch produced.
#[derive(Debug, Clone)]
pub(crate) enum FetchOutcome {
    /// A new body, parsed.
    Fetched {
        doc: Arc<Document>,
        etag: Option<String>,
        last_modified: Option<String>,
        /// What its `Cache-Control` says (unclamped: the cache clamps it).
        freshness: UpstreamFreshness,
    },
    /// 304 to our `If-None-Match` or `If-Modified-Since`, with what its
    /// `Cache-Control` says.
    NotModified { freshness: UpstreamFreshness },
    /// The upstream says the package or version does not exist.
    NotFound,
    /// The upstream failed, after the retries the policy and the budget allowed.
    Failed(FetchFailure),
    /// Our own rate limit had no slot within the caller's answer budget. Not the
    /// upstream's failure.
    Deferred { retry_after: Duration, queued: bool },
    /// Every caller went away; the request was dropped (its permit released).
    Cancelled,
}

impl FetchOutcome {
    /// What the breaker should count: `Some(true)` for an upstream success,
    /// `Some(false)` for an upstream failure, `None` for anything the upstream did not
    /// do (our own limits, cancellations).
    pub(crate) fn upstream_verdict(&self) -> Option<bool> {
        match self {
            FetchOutcome::Fetched { .. }
            | FetchOutcome::NotModified { .. }
            | FetchOutcome::NotFound => Some(true),
            // A fetch that ended at our own limit or deadline, without the upstream
            // failing on any attempt, says nothing about the upstream.
            FetchOutcome::Failed(f) if f.ours => None,
            // The host answered; the file it served is bad.
            FetchOutcome::Failed(f) if f.kind == FailureKind::Content => Some(true),
            FetchOutcome::Failed(_) => Some(false),
            FetchOutcome::Deferred { .. } | FetchOutcome::Cancelled => None,
        }
    }
}

/// Why a fetch failed.
#[derive(Debug, Clone)]
pub(crate) struct FetchFailure {
    pub(crate) kind: FailureKind,
    pub(crate) detail: String,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) attempts: u32,
    /// How long the failing attempt waited, for timeouts.
    pub(crate) waited: Duration,
    /// The failure ended at our own limit or deadline (no free connection slot, the
    /// caller's deadline cut the attempt, shutdown) with no attempt failed by the
    /// upstream itself: not a verdict on the upstream, so never remembered as its
    /// failure and never counted by its breaker.
    pub(crate) ours: bool,
    /// A cause more exact than the kind's (a metadata file that does not match its
    /// hash), given to the caller as it is.
    pub(crate) typed: Option<Box<UnavailableCause>>,
}

impl FetchFailure {
    /// The typed cause a caller sees.
    pub(crate) fn cause(&self) -> UnavailableCause {
        if let Some(c) = &self.typed {
            return (**c).clone();
        }
        let attempts = self.attempts.max(1);
        match self.kind {
            FailureKind::Status(status) => UnavailableCause::Status {
                status,
                attempts,
                retry_after: self.retry_after,
            },
            FailureKind::Timeout => UnavailableCause::Timeout {
                waited_ms: self.waited.as_millis() as u64,
                attempts,
            },
            FailureKind::Connect => UnavailableCause::Transport {
                detail: self.detail.clone(),
                attempts,
            },
            FailureKind::Redirect => UnavailableCause::Redirect {
                detail: self.detail.clone(),
            },
            FailureKind::Body | FailureKind::Content | FailureKind::Other => {
                UnavailableCause::BadBody {
                    detail: self.detail.clone(),
                }
            }
        }
    }
}

/// A request to the FetchActor.
#[derive(Debug, Clone)]
pub(crate) struct FetchRequest {
    pub(crate) query: Query,
    pub(crate) etag: Option<String>,
    /// The held copy's `Last-Modified`, sent as `If-Modified-Since`.
    pub(crate) last_modified: Option<String>,
    /// Nothing of this request runs past it.
    pub(crate) deadline: Instant,
    /// The caller's answer budget: no rate-limit slot is awaited past it.
    pub(crate) wait_until: Instant,
    /// Cancelled when every caller has gone.
    pub(crate) cancel: CancellationToken,
    /// A refresh-ahead nobody waits for: sent only when the rate limit has room to
    /// spare now ([`FetchContext::room_to_spare`]), never queued.
    pub(crate) spare_only: bool,
}

/// Everything a fetch task needs, shared between the FetchActor and its tasks. The
/// supervisor hands the same context to a restarted FetchActor, so the limiter's
/// window and the retry budget survive a crash (an upstream's quota does not reset
/// because we crashed).
pub(crate) struct FetchContext {
    pub(crate) upstream: Upstream,
    pub(crate) client: reqwest::Client,
    cfg: UpstreamConfig,
    attempt_timeout: Duration,
    max_body_bytes: u64,
    /// Longest `Retry-After` passed on to callers: the breaker's longest open time.
    retry_after_clamp: Duration,
    pub(crate) limiter: Mutex<RateLimit>,
    in_flight: Semaphore,
    pub(crate) budget: Mutex<RetryBudget>,
    pub(crate) counters: FetchCounters,
    /// The engine's recorder of the last hour (latency, failures, for the status page).
    pub(crate) recorder: Arc<crate::recorder::Recorder>,
    /// Cancelled when the engine shuts down: stops queued background fetches.
    pub(crate) shutdown: CancellationToken,
    /// Where a metadata file named by a Simple page may be fetched from.
    file_hosts: FileHosts,
    /// For [`FetchContext::one_off_client`].
    user_agent: String,
    connect_timeout: Duration,
    /// The fleet's quota for a strict upstream (`[fleet]`): slots come from Redis,
    /// shared by every replica, instead of `limiter`.
    #[cfg(feature = "fleet")]
    pub(crate) fleet_quota: Option<Arc<crate::fleet::quota::FleetQuota>>,
    /// The fleet (`[fleet]`): counts this upstream's attempts fleet-wide.
    #[cfg(feature = "fleet")]
    fleet: Option<Arc<crate::fleet::client::FleetClient>>,
}

/// The client settings of one upstream. A document's attempt is bounded whole by the
/// attempt timeout; a file's body may take minutes, so the files upstream bounds each
/// read instead (the download's deadline bounds the whole transfer).
fn client_builder(
    upstream: Upstream,
    user_agent: &str,
    connect: Duration,
    attempt: Duration,
) -> reqwest::ClientBuilder {
    let b = reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(connect)
        // We follow at most one redirect ourselves, same host only; a file, none.
        .redirect(reqwest::redirect::Policy::none());
    match upstream {
        Upstream::Files => b.read_timeout(attempt),
        _ => b,
    }
}

/// Counters of one upstream's requests.
#[derive(Default, Debug)]
pub(crate) struct FetchCounters {
    pub(crate) requests: std::sync::atomic::AtomicU64,
    pub(crate) attempts: std::sync::atomic::AtomicU64,
    pub(crate) retries: std::sync::atomic::AtomicU64,
    pub(crate) budget_refusals: std::sync::atomic::AtomicU64,
    pub(crate) failures: std::sync::atomic::AtomicU64,
    pub(crate) deferred: std::sync::atomic::AtomicU64,
    pub(crate) queued: std::sync::atomic::AtomicU64,
    pub(crate) cancelled: std::sync::atomic::AtomicU64,
    pub(crate) queue_len: std::sync::atomic::AtomicU64,
    /// Fetches sleeping until their reserved slot of our own rate limit (a gauge).
    pub(crate) slot_waits: std::sync::atomic::AtomicU64,
    /// Files only: body bytes received by the latest download attempt so far, and
    /// the size it is expected to have (listed, else announced; 0 when unknown).
    pub(crate) bytes_received: std::sync::atomic::AtomicU64,
    pub(crate) bytes_expected: std::sync::atomic::AtomicU64,
}

impl FetchContext {
    pub(crate) fn new(
        upstream: Upstream,
        engine: &EngineConfig,
        shutdown: CancellationToken,
        recorder: Arc<crate::recorder::Recorder>,
    ) -> Result<Self, reqwest::Error> {
        let cfg = engine.upstreams.get(upstream).clone();
        let connect_timeout = Duration::from_millis(engine.timeouts.connect_ms);
        let attempt_timeout = Duration::from_millis(engine.timeouts.attempt_ms);
        let client = client_builder(
            upstream,
            &engine.user_agent,
            connect_timeout,
            attempt_timeout,
        )
        .build()?;
        let limiter = match &cfg.rate_limit {
            Some(rl) => match rl.burst {
                Some(b) => RateLimit::with_burst(rl.per_second, b, rl.per_minute),
                None => RateLimit::new(rl.per_second, rl.per_minute),
            },
            None => RateLimit::unlimited(),
        };
        Ok(FetchContext {
            upstream,
            client,
            attempt_timeout,
            max_body_bytes: match upstream {
                // An advisory is kilobytes: a body of megabytes is not one.
                Upstream::Osv => engine
                    .max_body_bytes
                    .min(sentinel_core::model::limits::MAX_OSV_BODY_BYTES),
                _ => engine.max_body_bytes,
            },
            retry_after_clamp: Duration::from_millis(cfg.breaker.open_max_ms),
            limiter: Mutex::new(limiter),
            in_flight: Semaphore::new(cfg.max_in_flight as usize),
            budget: Mutex::new(RetryBudget::new(cfg.retry_budget.clone())),
            counters: FetchCounters::default(),
            recorder,
            shutdown,
            file_hosts: engine.file_hosts(),
            user_agent: engine.user_agent.clone(),
            connect_timeout,
            cfg,
            #[cfg(feature = "fleet")]
            fleet_quota: None,
            #[cfg(feature = "fleet")]
            fleet: None,
        })
    }

    /// A client of this upstream's settings that shares no connection with the pooled
    /// one: a download's retry never reuses the connection that served bad bytes.
    pub(crate) fn one_off_client(&self) -> Result<reqwest::Client, reqwest::Error> {
        client_builder(
            self.upstream,
            &self.user_agent,
            self.connect_timeout,
            self.attempt_timeout,
        )
        .pool_max_idle_per_host(0)
        .build()
    }

    /// One of the upstream's concurrency permits, waited for until `deadline` at most
    /// (`None` past it, or when the engine is shutting down).
    pub(crate) async fn permit(&self, deadline: Instant) -> Option<SemaphorePermit<'_>> {
        tokio::time::timeout_at(deadline, self.in_flight.acquire())
            .await
            .ok()?
            .ok()
    }

    fn url(&self, q: &Query) -> Result<String, FetchFailure> {
        let base = self.cfg.base_url.trim_end_matches('/');
        if let Query::WheelMetadata(_, _, wheel_url) | Query::SdistMetadata(_, _, wheel_url) = q {
            // Absolute (the walk resolved it against the Simple page); the same rule
            // as downloads and metadata files decides where it may be read from.
            let refused =
                |why: String| fail(FailureKind::Other, format!("the wheel was not read: {why}"));
            let mut url = reqwest::Url::parse(wheel_url).map_err(|_| {
                refused(format!(
                    "{} is not an http(s) URL",
                    sentinel_core::model::untrusted::excerpt(wheel_url)
                ))
            })?;
            url.set_fragment(None);
            self.file_hosts
                .check(&url)
                .map_err(|r| refused(r.to_string()))?;
            return Ok(url.to_string());
        }
        if let Query::CoreMetadata(name, _, file) = q {
            let file_url = &file.url;
            // The Simple page's file URL: absolute (PyPI's files host) or relative. The
            // resolver checks it before asking; this is the last line: no request to a
            // host the rule refuses, whoever built the query.
            let refused = |why: String| {
                fail(
                    FailureKind::Other,
                    format!("the metadata file was not fetched: {why}"),
                )
            };
            let url = upstream::metadata_url(base, name, file_url)
                .and_then(|u| reqwest::Url::parse(&u).ok())
                .ok_or_else(|| {
                    refused(format!(
                        "{} is not an http(s) URL",
                        sentinel_core::model::untrusted::excerpt(file_url)
                    ))
                })?;
            self.file_hosts
                .check(&url)
                .map_err(|r| refused(r.to_string()))?;
            return Ok(url.to_string());
        }
        if let Query::OsvRelease(..) = q {
            // One route for every release: the release is in the request's body.
            return Ok(format!("{base}/v1/querybatch"));
        }
        Ok(format!("{base}{}", q.path()))
    }

    /// Whether `url` is on the configured origin (credentials go nowhere else: a
    /// metadata file may live on another host, e.g. PyPI's files host).
    fn same_origin(&self, url: &str) -> bool {
        match (
            reqwest::Url::parse(url),
            reqwest::Url::parse(&self.cfg.base_url),
        ) {
            (Ok(a), Ok(b)) => a.origin() == b.origin(),
            _ => false,
        }
    }

    /// Most fetches the polite queue holds.
    pub(crate) fn queue_capacity(&self) -> usize {
        self.cfg.queue_capacity as usize
    }

    /// Shares this upstream's strict quota with the fleet, when it has one.
    #[cfg(feature = "fleet")]
    pub(crate) fn with_fleet(mut self, client: &Arc<crate::fleet::client::FleetClient>) -> Self {
        let local = self.lock_limiter().clone();
        self.fleet_quota = crate::fleet::quota::FleetQuota::new(
            client.clone(),
            self.upstream,
            &self.cfg.base_url,
            &local,
        )
        .map(Arc::new);
        self.fleet = Some(client.clone());
        self
    }

    /// One HTTP attempt is sent to the upstream now: the only place attempts are
    /// counted (this replica's `attempts`, and the fleet's per-minute figure).
    pub(crate) fn count_attempt(&self) {
        self.counters
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        #[cfg(feature = "fleet")]
        if let Some(f) = &self.fleet {
            f.count_request(self.upstream);
        }
    }

    /// Whether slots come from the fleet's quota (a Redis round trip: never taken in
    /// an actor's handler).
    pub(crate) fn fleet_quota(&self) -> bool {
        #[cfg(feature = "fleet")]
        return self.fleet_quota.is_some();
        #[cfg(not(feature = "fleet"))]
        false
    }

    /// The earliest slot at or after `from`, if no later than `latest`: from the
    /// fleet's quota when there is one, else the local limiter.
    pub(crate) async fn reserve_slot(&self, from: Instant, latest: Instant) -> Reservation {
        #[cfg(feature = "fleet")]
        if let Some(q) = &self.fleet_quota {
            return q.reserve(from, latest).await;
        }
        self.lock_limiter()
            .reserve(from.into_std(), latest.into_std())
    }

    pub(crate) fn lock_limiter(&self) -> std::sync::MutexGuard<'_, RateLimit> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a background fetch may take a slot now and still leave callers half the
    /// per-second quota (one slot at least) free now in every window (the per-minute
    /// one too): tried on a copy of the limiter, so nothing is reserved.
    pub(crate) fn room_to_spare(&self, now: Instant) -> bool {
        let mut probe = self.lock_limiter().clone();
        if !probe.is_limited() {
            return true;
        }
        let spare = self
            .cfg
            .rate_limit
            .as_ref()
            .map_or(1, |r| (r.per_second / 2).max(1));
        (0..=spare).all(|_| {
            matches!(
                probe.reserve(now.into_std(), now.into_std()),
                Reservation::At(_)
            )
        })
    }

    /// The whole fetch, stopped at once (permit released, nothing recorded) when the
    /// request is cancelled. The first attempt's slot was reserved by the caller.
    pub(crate) async fn fetch(&self, req: &FetchRequest) -> FetchOutcome {
        tokio::select! {
            biased;
            _ = req.cancel.cancelled() => {
                self.counters.cancelled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                FetchOutcome::Cancelled
            }
            outcome = self.fetch_with_retries(req) => outcome,
        }
    }

    async fn fetch_with_retries(&self, req: &FetchRequest) -> FetchOutcome {
        use std::sync::atomic::Ordering::Relaxed;
        self.counters.requests.fetch_add(1, Relaxed);
        self.lock_budget().record_request(Instant::now().into_std());
        let mut retries = 0u32;
        // Whether the upstream itself failed an attempt: a last attempt cut by our own
        // deadline does not make an earlier 502 ours.
        let mut upstream_failed = false;
        loop {
            let attempt = self.attempt(req).await;
            // Every attempt feeds the retry throttle (a 404 or 304 is a success).
            self.lock_budget().record_attempt(attempt.is_ok());
            let failure = match attempt {
                Ok(outcome) => return outcome,
                Err(f) => f,
            };
            upstream_failed |= !failure.ours;
            // The pure policies take std instants; tokio's (paused in tests) converts.
            let now = Instant::now().into_std();
            let decision = self.cfg.retry.decide(
                &failure.kind,
                retries,
                failure.retry_after,
                now,
                req.deadline.into_std(),
                &mut rand::rng(),
            );
            let give_up = |why: String, failure: FetchFailure| {
                self.counters.failures.fetch_add(1, Relaxed);
                FetchOutcome::Failed(FetchFailure {
                    detail: format!("{} ({why})", failure.detail),
                    attempts: retries + 1,
                    ours: failure.ours && !upstream_failed,
                    ..failure
                })
            };
            let delay = match decision {
                RetryDecision::RetryAfter(d) => d,
                RetryDecision::GiveUp(reason) => return give_up(reason.to_string(), failure),
            };
            let (granted, throttled) = {
                let mut budget = self.lock_budget();
                let throttled = budget.throttled();
                (budget.try_withdraw(now), throttled)
            };
            if !granted {
                self.counters.budget_refusals.fetch_add(1, Relaxed);
                metrics::counter!("sentinel_retry_budget_refusals_total", "upstream" => self.upstream.as_str()).increment(1);
                let why = if throttled {
                    "retries throttled after consecutive failures"
                } else {
                    "retry budget exhausted"
                };
                return give_up(why.into(), failure);
            }
            // The retry needs a rate-limit slot too, within the caller's answer budget:
            // a retry that would wait on our own limiter longer is not worth the wait.
            let slot = self
                .reserve_slot(Instant::from_std(now + delay), req.wait_until)
                .await;
            let at = match slot {
                Reservation::At(at) => at,
                Reservation::NotBefore(_) => {
                    return give_up(
                        "no rate-limit slot for a retry within the answer budget".to_string(),
                        failure,
                    );
                }
            };
            self.counters.retries.fetch_add(1, Relaxed);
            metrics::counter!("sentinel_upstream_retries_total", "upstream" => self.upstream.as_str()).increment(1);
            tracing::debug!(upstream = %self.upstream, query = %redact_urls(&req.query.to_string()), delay_ms = at.saturating_duration_since(now).as_millis() as u64, "retrying");
            tokio::time::sleep_until(Instant::from_std(at)).await;
            retries += 1;
        }
    }

    pub(crate) fn lock_budget(&self) -> std::sync::MutexGuard<'_, RetryBudget> {
        self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One attempt, bounded by the attempt timeout and the deadline.
    async fn attempt(&self, req: &FetchRequest) -> Result<FetchOutcome, FetchFailure> {
        let started = Instant::now();
        let _permit = tokio::time::timeout_at(req.deadline, self.in_flight.acquire())
            .await
            .map_err(|_| FetchFailure {
                kind: FailureKind::Timeout,
                detail: format!(
                    "no free connection slot for {} before the deadline",
                    self.upstream
                ),
                retry_after: None,
                attempts: 0,
                waited: started.elapsed(),
                typed: None,
                ours: true,
            })?
            .map_err(|_| FetchFailure {
                ours: true,
                ..fail(FailureKind::Other, "engine shutting down".into())
            })?;
        self.count_attempt();
        let sent = Instant::now();
        let end = (sent + self.attempt_timeout).min(req.deadline);
        match tokio::time::timeout_at(end, self.send_following_one_redirect(req)).await {
            Ok(r) => r,
            Err(_) => Err(FetchFailure {
                kind: FailureKind::Timeout,
                detail: format!("no answer within {} ms", sent.elapsed().as_millis()),
                retry_after: None,
                attempts: 0,
                waited: sent.elapsed(),
                ours: end < sent + self.attempt_timeout,
                typed: None,
            }),
        }
    }

    async fn send_following_one_redirect(
        &self,
        req: &FetchRequest,
    ) -> Result<FetchOutcome, FetchFailure> {
        let first = self.url(&req.query)?;
        if let Query::WheelMetadata(..) = req.query {
            return self.wheel_metadata(&first, req).await;
        }
        if let Query::OsvRelease(..) = req.query {
            return self.osv_batch(&first, req).await;
        }
        let mut url = first.clone();
        for hop in 0..2 {
            let resp = self.send(&url, req).await?;
            let status = resp.status();
            metrics::counter!("sentinel_upstream_requests_total",
                "upstream" => self.upstream.as_str(), "status" => status.as_u16().to_string())
            .increment(1);
            if status.is_redirection() && status != reqwest::StatusCode::NOT_MODIFIED {
                let location = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok());
                let next = redirect_target(status, &first, &url, hop, location)?;
                url = next.to_string();
                continue;
            }
            return self.read(resp, req).await;
        }
        Err(fail(FailureKind::Redirect, "redirect loop detected".into()))
    }

    async fn send(&self, url: &str, req: &FetchRequest) -> Result<reqwest::Response, FetchFailure> {
        self.send_ranged(url, req, None).await
    }

    /// `send`, asking for one byte range (`bytes=-N`, `bytes=A-B`) when given.
    async fn send_ranged(
        &self,
        url: &str,
        req: &FetchRequest,
        range: Option<&str>,
    ) -> Result<reqwest::Response, FetchFailure> {
        let mut rb = self
            .client
            .get(url)
            .header(ACCEPT, upstream::accept_header(&req.query));
        if let Some(r) = range {
            rb = rb.header(reqwest::header::RANGE, r);
        }
        // Both validators when both are held (RFC 9111 section 4.3.1): an origin that
        // knows ETags goes by `If-None-Match` and ignores the date (RFC 9110 section
        // 13.1.3); one that only dates its documents answers the date.
        if let Some(etag) = &req.etag {
            rb = rb.header(IF_NONE_MATCH, etag);
        }
        if let Some(date) = &req.last_modified {
            rb = rb.header(IF_MODIFIED_SINCE, date);
        }
        self.credentials(rb, url)
            .send()
            .await
            .map_err(|e| transport_failure(&e))
    }

    /// The configured credentials, for a request to the configured origin only.
    fn credentials(&self, mut rb: reqwest::RequestBuilder, url: &str) -> reqwest::RequestBuilder {
        if !self.same_origin(url) {
            return rb;
        }
        if let Some(key) = &self.cfg.api_key {
            rb = rb.header("X-API-Key", key);
        }
        match &self.cfg.auth {
            Some(AuthConfig::Basic { username, password }) => {
                rb.basic_auth(username, Some(password))
            }
            Some(AuthConfig::Bearer { token }) => rb.bearer_auth(token),
            None => rb,
        }
    }

    async fn read(
        &self,
        resp: reqwest::Response,
        req: &FetchRequest,
    ) -> Result<FetchOutcome, FetchFailure> {
        let status = resp.status();
        let freshness = UpstreamFreshness::parse(
            resp.headers()
                .get(CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Duration::MAX,
        );
        match status.as_u16() {
            304 => return Ok(FetchOutcome::NotModified { freshness }),
            404 => return Ok(FetchOutcome::NotFound),
            200 => {}
            code => {
                let retry_after = resp
                    .headers()
                    .get(RETRY_AFTER)
                    .or_else(|| resp.headers().get("X-Rate-Limit-Retry-After-Seconds"))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()))
                    // An upstream may ask for anything; a client is never told to wait
                    // longer than our breaker would stay open.
                    .map(|d| d.min(self.retry_after_clamp));
                return Err(FetchFailure {
                    kind: FailureKind::Status(code),
                    detail: format!("HTTP {code} from {}", self.upstream),
                    retry_after,
                    attempts: 0,
                    waited: Duration::ZERO,
                    ours: false,
                    typed: None,
                });
            }
        }
        // An sdist too large or too hostile to read is one bad file, not a host down.
        let bad_body = match req.query {
            Query::SdistMetadata(..) => FailureKind::Content,
            _ => FailureKind::Body,
        };
        if let Some(len) = resp.content_length()
            && len > self.max_body_bytes
        {
            return Err(fail(
                bad_body,
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
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header(ETAG);
        // Kept only when it is a date: it goes back verbatim as `If-Modified-Since`.
        let last_modified = header(LAST_MODIFIED).filter(|d| httpdate::parse_http_date(d).is_ok());
        let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| transport_failure(&e))?;
            if body.len() as u64 + chunk.len() as u64 > self.max_body_bytes {
                return Err(fail(
                    bad_body,
                    format!("body exceeds the {} byte cap", self.max_body_bytes),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        check_metadata_hash(&req.query, &body)?;
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
                last_modified,
                freshness,
            }),
            // The parser's words may quote the body: a short, sanitised excerpt only.
            Err(e) => Err(fail(
                bad_body,
                format!(
                    "unusable body from {}: {}",
                    self.upstream,
                    excerpt(&e.to_string())
                ),
            )),
        }
    }
}

mod osv;
mod wheel;

/// A metadata file the index names with a sha256 (PEP 658 / 714) must be those exact
/// bytes: otherwise it is refused before it is parsed, so it is neither cached nor
/// stored. Not retried and not a breaker failure (the host answered; the file is bad).
fn check_metadata_hash(q: &Query, body: &[u8]) -> Result<(), FetchFailure> {
    use sha2::{Digest, Sha256};
    let Query::CoreMetadata(_, _, file) = q else {
        return Ok(());
    };
    let Some(expected) = file.sha256.as_deref() else {
        return Ok(());
    };
    let got = hex(&Sha256::digest(body));
    if got.eq_ignore_ascii_case(expected) {
        return Ok(());
    }
    let path = file.url.split('#').next().unwrap_or_default();
    let name = excerpt(path.rsplit('/').next().unwrap_or(path));
    let cause = UnavailableCause::MetadataMismatch(Box::new(sentinel_core::model::HashMismatch {
        file: name,
        expected: expected.to_string(),
        got,
    }));
    Err(FetchFailure {
        typed: Some(Box::new(cause.clone())),
        ..fail(FailureKind::Content, cause.describe(Upstream::PypiSimple))
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
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
        waited: Duration::ZERO,
        ours: false,
        typed: None,
    }
}

/// Where a redirect may take us: only to the origin the user configured (same scheme,
/// so https never falls back to cleartext and credentials never travel in the clear;
/// same host; same port), at most one hop, never back where we started.
fn redirect_target(
    status: reqwest::StatusCode,
    first: &str,
    url: &str,
    hop: u32,
    location: Option<&str>,
) -> Result<reqwest::Url, FetchFailure> {
    let redirect = |detail: String| fail(FailureKind::Redirect, detail);
    let Some(location) = location.filter(|l| !l.trim().is_empty()) else {
        return Err(redirect(format!(
            "answered {status} without a Location header"
        )));
    };
    let here = reqwest::Url::parse(url)
        .map_err(|e| fail(FailureKind::Other, redact_urls(&e.to_string())))?;
    let next = here.join(location).map_err(|_| {
        redirect(format!(
            "answered {status} with an unusable Location {:?}",
            excerpt(location)
        ))
    })?;
    if next.scheme() != here.scheme() {
        return Err(redirect(format!(
            "redirected from {} to {} ({}); refused",
            here.scheme(),
            next.scheme(),
            excerpt(next.as_str())
        )));
    }
    if next.host_str() != here.host_str()
        || next.port_or_known_default() != here.port_or_known_default()
    {
        return Err(redirect(format!(
            "redirected to another host ({}); refused",
            excerpt(next.as_str())
        )));
    }
    if hop == 1 || next.as_str() == first {
        return Err(redirect(format!(
            "redirect loop detected ({} -> {} -> {})",
            excerpt(first),
            excerpt(url),
            excerpt(next.as_str())
        )));
    }
    Ok(next)
}

/// Maps a transport error. A body cut short or a reset connection is a connection
/// failure (retryable), as a CDN node dropping a response usually is transient.
fn transport_failure(e: &reqwest::Error) -> FetchFailure {
    let kind = if e.is_timeout() {
        FailureKind::Timeout
    } else {
        FailureKind::Connect
    };
    // reqwest's words include the request's URL: redacted, like every URL in an error.
    let mut detail = redact_urls(&e.to_string());
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&redact_urls(&s.to_string()));
        src = s.source();
    }
    fail(kind, detail)
}

#[cfg(test)]
mod redirect_tests {
    use super::*;

    const MOVED: reqwest::StatusCode = reqwest::StatusCode::MOVED_PERMANENTLY;

    fn target(url: &str, location: Option<&str>) -> Result<String, String> {
        redirect_target(MOVED, url, url, 0, location)
            .map(|u| u.to_string())
            .map_err(|f| f.detail)
    }

    #[test]
    fn a_redirect_from_https_to_http_on_the_same_host_is_refused() {
        let e = target(
            "https://index.example:8443/pypi/x/json",
            Some("http://index.example:8443/pypi/x/json"),
        )
        .unwrap_err();
        assert!(e.contains("from https to http"), "{e}");
    }

    #[test]
    fn a_redirect_to_another_host_or_port_is_refused() {
        let e = target(
            "https://pypi.org/pypi/X/json",
            Some("https://evil.example/x"),
        )
        .unwrap_err();
        assert!(e.contains("another host"), "{e}");
        let e = target("http://127.0.0.1:9/a", Some("http://127.0.0.1:10/a")).unwrap_err();
        assert!(e.contains("another host"), "{e}");
    }

    #[test]
    fn a_same_origin_redirect_to_the_normalised_name_is_followed() {
        assert_eq!(
            target(
                "https://pypi.org/pypi/PyYAML/json",
                Some("/pypi/pyyaml/json")
            )
            .unwrap(),
            "https://pypi.org/pypi/pyyaml/json"
        );
    }

    #[test]
    fn a_redirect_without_location_is_named_and_a_second_hop_is_a_loop() {
        let e = target("https://pypi.org/a", None).unwrap_err();
        assert!(e.contains("without a Location"), "{e}");
        let e = redirect_target(
            MOVED,
            "https://pypi.org/a",
            "https://pypi.org/b",
            1,
            Some("/c"),
        )
        .unwrap_err()
        .detail;
        assert!(e.contains("redirect loop"), "{e}");
    }

    #[test]
    fn a_huge_location_is_echoed_clipped() {
        let long = format!("https://evil.example/{}", "a".repeat(1_000_000));
        let e = target("https://pypi.org/a", Some(&long)).unwrap_err();
        assert!(e.len() < 500, "{} bytes", e.len());
    }
}
