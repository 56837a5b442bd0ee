//! The HTTP server: [`Sim::start`], the accept loop (hyper HTTP/1.1, one task per
//! connection so a `reset` fault can drop its connection), fault application around
//! the route handlers, and the [`SimHandle`] that controls a running simulator.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use http::header::{
    CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::data::fixtures::FIXTURES;
use crate::data::{Catalog, canonical_json, etag_of};
use crate::date::{Calendar, SimDay};
use crate::fault::{FaultSpec, FaultStore};
use crate::profile::IndexProfile;
use crate::routes::{self, Req, Resp, Upstream, admin};
use crate::scenario::Scenario;
use crate::stats::{SimStats, StatsStore};

/// Configuration of one simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Address to listen on (default `127.0.0.1:0`: a free port).
    pub addr: SocketAddr,
    /// Number of extra generated packages `synth-0000`, … (default 0).
    pub synthetic: usize,
    /// Seed of every generated value and of fault probabilities (default 42).
    pub seed: u64,
    /// Simulate pypistats.org's rate limit on `/api/packages/**`: 5 per second and 30
    /// per minute per client IP, answering `429` with the real HTML body (default off).
    pub pypistats_rate_limit: bool,
    /// When set, `/api/v2/projects/*` requires the header `X-API-Key` equal to it and
    /// answers `401 {"message": ...}` otherwise (default: no key needed).
    pub pepy_api_key: Option<String>,
    /// The "today" every generated series is dated against (its last point is the day
    /// before). `None` (default): the real current UTC date, at each request. A pinned
    /// day makes the data reproducible (tests, demos); [`SimHandle::set_today`] changes
    /// it while serving.
    pub today: Option<SimDay>,
    /// pypistats' data lags this many days: its newest day is `1 + pypistats_lag_days`
    /// days before today (default 0: yesterday, on schedule). pepy.tech is not
    /// affected. [`SimHandle::set_pypistats_lag_days`] changes it while serving.
    pub pypistats_lag_days: u32,
    /// The origin (`http://127.0.0.2:PORT`) that `sg-offhost-meta` lists its wheel and
    /// metadata file on, in place of an unreachable `.invalid` name: tests point it at
    /// a listener of their own to count what a client fetches from a foreign host
    /// (default: none).
    pub offhost_origin: Option<String>,
    /// What kind of index it serves: PyPI (default), or a mirror with less (no JSON
    /// API, no metadata files, HTML only, `Range` ignored): see [`IndexProfile`].
    pub index_profile: IndexProfile,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            synthetic: 0,
            seed: 42,
            pypistats_rate_limit: false,
            pepy_api_key: None,
            today: None,
            pypistats_lag_days: 0,
            offhost_origin: None,
            index_profile: IndexProfile::default(),
        }
    }
}

/// Errors of [`Sim::start`] and [`serve_until_ctrl_c`].
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another I/O error (reading the bound address, writing to stdout, Ctrl-C handler).
    #[error("simulator I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// State shared by every connection of one simulator.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cfg: SimConfig,
    pub(crate) catalog: Catalog,
    pub(crate) faults: FaultStore,
    pub(crate) stats: StatsStore,
    pub(crate) calendar: Calendar,
    limiter: RateLimiter,
    shutdown: watch::Receiver<bool>,
}

/// pypistats.org's limits: 5 per second and 30 per minute per client IP (moving
/// window; refused requests do not count).
#[derive(Debug, Default)]
struct RateLimiter {
    hits: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl RateLimiter {
    fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let mut g = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        let q = g.entry(ip).or_default();
        while q
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(60))
        {
            q.pop_front();
        }
        let last_second = q
            .iter()
            .filter(|t| now.saturating_duration_since(**t) < Duration::from_secs(1))
            .count();
        if last_second >= 5 || q.len() >= 30 {
            return false;
        }
        q.push_back(now);
        true
    }
}

/// The simulator. Start one with [`Sim::start`].
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// Binds `cfg.addr`, starts serving in the background on the current tokio runtime
    /// and returns the handle. Dropping the last handle (or [`SimHandle::shutdown`])
    /// stops the server.
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        // Index the fixtures off the async worker threads (first call per process).
        let _ = tokio::task::spawn_blocking(|| FIXTURES.projects.len()).await;
        let listener = TcpListener::bind(cfg.addr)
            .await
            .map_err(|source| SimError::Bind {
                addr: cfg.addr,
                source,
            })?;
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            catalog: Catalog::new(cfg.seed, cfg.synthetic),
            faults: FaultStore::new(cfg.seed),
            stats: StatsStore::default(),
            calendar: Calendar::new(cfg.today, cfg.pypistats_lag_days),
            limiter: RateLimiter::default(),
            shutdown: rx.clone(),
            cfg,
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone(), rx));
        tracing::debug!(%addr, "sentinel-sim listening");
        Ok(SimHandle {
            inner: Arc::new(HandleInner {
                addr,
                shared,
                shutdown: tx,
                task: Mutex::new(Some(task)),
            }),
        })
    }
}

/// Controls a running simulator. Cheap to clone; the server stops when the last
/// clone is dropped or on [`SimHandle::shutdown`].
#[derive(Clone, Debug)]
pub struct SimHandle {
    inner: Arc<HandleInner>,
}

#[derive(Debug)]
struct HandleInner {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl SimHandle {
    /// `http://IP:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Adds a fault (checked after the existing ones) and returns its id. The spec is
    /// not validated here (the HTTP admin API does validate); see [`FaultSpec::validate`].
    pub fn add_fault(&self, spec: FaultSpec) -> u64 {
        self.inner.shared.faults.add(spec)
    }

    /// Removes a fault; `false` if there was none with that id.
    pub fn remove_fault(&self, id: u64) -> bool {
        self.inner.shared.faults.remove(id)
    }

    /// The current faults, in order.
    pub fn faults(&self) -> Vec<(u64, FaultSpec)> {
        self.inner.shared.faults.list()
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.inner.shared.faults.clear();
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> SimStats {
        self.inner.shared.stats.snapshot()
    }

    /// Zeroes the request counters.
    pub fn reset_stats(&self) {
        self.inner.shared.stats.reset();
    }

    /// Replaces every fault with the scenario's.
    pub fn apply_scenario(&self, s: Scenario) {
        self.inner.shared.faults.replace(s.faults());
    }

    /// The day generated series are dated against (their last point is the day
    /// before): the pinned day, else today (UTC).
    pub fn today(&self) -> SimDay {
        self.inner.shared.calendar.today()
    }

    /// Pins "today" to `day`, or with `None` goes back to the real UTC date. The next
    /// request sees it.
    pub fn set_today(&self, day: Option<SimDay>) {
        self.inner.shared.calendar.pin(day);
    }

    /// Makes pypistats' newest day `1 + days` days before today (0: on schedule).
    pub fn set_pypistats_lag_days(&self, days: u32) {
        self.inner.shared.calendar.set_pypistats_lag_days(days);
    }

    /// Every known package (fixtures + synthetic), normalised, sorted.
    pub fn package_names(&self) -> Vec<String> {
        self.inner.shared.catalog.names().to_vec()
    }

    /// Stops accepting, lets in-flight requests finish (hung ones are released; at
    /// most 2 s), then returns.
    pub async fn shutdown(self) {
        let _ = self.inner.shutdown.send(true);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

/// Starts a simulator, applies `scenario`, prints `listening on http://IP:PORT` as the
/// first line on stdout, then serves until Ctrl-C.
pub async fn serve_until_ctrl_c(cfg: SimConfig, scenario: Scenario) -> Result<(), SimError> {
    let sim = Sim::start(cfg).await?;
    sim.apply_scenario(scenario);
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", sim.base_url())?;
        out.flush()?;
    }
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}

async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    conns.spawn(serve_conn(stream, peer, shared.clone(), shutdown.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "sentinel-sim accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            () = wait_shutdown(&mut shutdown) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    conns.abort_all();
}

async fn serve_conn(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let kill = Arc::new(Notify::new());
    let svc = {
        let kill = kill.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            let kill = kill.clone();
            async move {
                // A file request counts as in flight until its body is sent (or dropped).
                let files = Upstream::of(req.uri().path()) == Upstream::Files;
                let in_flight = files.then(|| shared.stats.file_started());
                let resp = handle(shared, peer, kill, req).await;
                Ok::<_, Infallible>(match in_flight {
                    Some(guard) => resp.map(|inner| {
                        Guarded {
                            inner,
                            _guard: guard,
                        }
                        .boxed_unsync()
                    }),
                    None => resp,
                })
            }
        })
    };
    let conn = http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = kill.notified() => {} // dropping `conn` closes the socket: a reset
        () = wait_shutdown(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => {}
                () = kill.notified() => {}
            }
        }
    }
}

/// The response body type: buffered, truncated or streamed.
type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// A body that holds a guard until it is sent or dropped; its length is the inner
/// body's, so `Content-Length` is kept.
struct Guarded<G> {
    inner: Body,
    _guard: G,
}

impl<G: Unpin> hyper::body::Body for Guarded<G> {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed_unsync()
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Half of `body`, then (after a short pause, so the headers and the half are on the
/// wire) an error that makes hyper abort the connection.
fn truncated(body: Bytes) -> Body {
    let half = body.slice(..body.len() / 2);
    let first = futures::stream::iter([Ok(Frame::data(half))]);
    let fail = futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(std::io::Error::other(
            "sentinel-sim: simulated truncated body",
        ))
    });
    StreamBody::new(first.chain(fail)).boxed_unsync()
}

static FILLER: [u8; 64 * 1024] = [b'a'; 64 * 1024];
const OVERSIZE_PREFIX: &[u8] = b"{\"info\":{\"summary\":\"";

/// Exactly `n` bytes: a JSON-looking prefix, then filler, streamed in 64 KiB chunks.
fn oversize(n: u64) -> Body {
    let prefix_len = (OVERSIZE_PREFIX.len() as u64).min(n);
    let prefix = Bytes::from_static(&OVERSIZE_PREFIX[..prefix_len as usize]);
    let rest = n - prefix_len;
    let head = futures::stream::iter([Ok::<_, std::io::Error>(Frame::data(prefix))]);
    let tail = futures::stream::unfold(rest, |left| async move {
        if left == 0 {
            return None;
        }
        let take = left.min(FILLER.len() as u64);
        let chunk = Bytes::from_static(&FILLER[..take as usize]);
        Some((Ok(Frame::data(chunk)), left - take))
    });
    StreamBody::new(head.chain(tail)).boxed_unsync()
}

/// How the body of a response is sent.
enum Send {
    Full,
    Truncate,
}

async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    kill: Arc<Notify>,
    req: Request<Incoming>,
) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path == "/_sim" || path.starts_with("/_sim/") {
        let method = req.method().clone();
        let body = match Limited::new(req.into_body(), 1 << 20).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) => {
                let r = Resp::json(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"error": format!("cannot read the request body: {e}")}),
                );
                return finish(r, None, Send::Full);
            }
        };
        return finish(
            admin::handle(&shared, &method, &path, &body),
            None,
            Send::Full,
        );
    }

    shared.stats.record(&path);
    let upstream = Upstream::of(&path);
    let fault = shared.faults.decide(&path, Instant::now());
    if let Some(f) = &fault {
        if let Some(ms) = f.latency_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if f.hang {
            wait_shutdown(&mut shared.shutdown.clone()).await;
            let r = routes::error_body(upstream, StatusCode::SERVICE_UNAVAILABLE);
            return finish(r, None, Send::Full);
        }
        if f.reset {
            kill.notify_one();
            return std::future::pending().await;
        }
        if f.redirect_loop {
            let r = Resp::new(StatusCode::MOVED_PERMANENTLY, "text/html", "")
                .with_header("location", &path);
            return finish(with_retry_after(r, f), None, Send::Full);
        }
        if let Some(to) = &f.redirect_to {
            let r = Resp::new(StatusCode::MOVED_PERMANENTLY, "text/html", "")
                .with_header("location", to);
            return finish(with_retry_after(r, f), None, Send::Full);
        }
        if let Some(code) = f.status {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let r = routes::error_body(upstream, status);
            return finish(with_retry_after(r, f), None, Send::Full);
        }
        if let Some(n) = f.oversize_bytes {
            let mut resp = Response::new(oversize(n));
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            h.insert(CONTENT_LENGTH, HeaderValue::from(n));
            return resp;
        }
    }

    let post = req.method() == Method::POST && path == "/v1/querybatch";
    if req.method() != Method::GET && req.method() != Method::HEAD && !post {
        let r = Resp::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "405 Method Not Allowed",
        )
        .with_header("allow", "GET, HEAD");
        return finish(r, None, Send::Full);
    }

    if upstream == Upstream::Pypistats
        && shared.cfg.pypistats_rate_limit
        && !shared.limiter.allow(peer.ip(), Instant::now())
    {
        return finish(routes::pypistats::rate_limited(), None, Send::Full);
    }

    let (parts, incoming) = req.into_parts();
    let body = if post {
        match Limited::new(incoming, 1 << 20).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) => {
                let r = Resp::json(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    serde_json::json!({"code": 413, "message": format!("cannot read the request body: {e}")}),
                );
                return finish(r, None, Send::Full);
            }
        }
    } else {
        Bytes::new()
    };
    let r = Req {
        path: &path,
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    let mut resp = routes::dispatch(&shared, &r);
    if upstream == Upstream::Files {
        shared.stats.file_bytes(resp.body.len() as u64);
    }
    let mut send = Send::Full;
    if let Some(f) = &fault {
        (resp, send) = body_faults(resp, f);
        resp = with_retry_after(resp, f);
    }
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let conditions = Conditions {
        if_none_match: header(IF_NONE_MATCH),
        if_modified_since: header(IF_MODIFIED_SINCE),
    };
    finish_conditional(resp, &conditions, send)
}

/// A request's validators.
#[derive(Default)]
struct Conditions {
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
}

impl Conditions {
    /// Whether the client's copy is current (RFC 9110 section 13.2.2): `If-None-Match`
    /// decides when sent (`If-Modified-Since` is then ignored); otherwise a valid
    /// `If-Modified-Since` not before `Last-Modified`.
    fn not_modified(
        &self,
        etag: Option<&str>,
        last_modified: Option<std::time::SystemTime>,
    ) -> bool {
        if let Some(inm) = &self.if_none_match {
            return etag.is_some_and(|e| etag_matches(inm, e));
        }
        match (&self.if_modified_since, last_modified) {
            (Some(ims), Some(lm)) => httpdate::parse_http_date(ims).is_ok_and(|since| lm <= since),
            _ => false,
        }
    }
}

fn with_retry_after(r: Resp, f: &FaultSpec) -> Resp {
    match f.retry_after {
        Some(s) => r.with_header("retry-after", &s.to_string()),
        None => r,
    }
}

/// Applies `drift`, `malformed_json`, `corrupt_bytes`, `content_type` and `truncate` to
/// a normal answer.
fn body_faults(mut resp: Resp, f: &FaultSpec) -> (Resp, Send) {
    if let Some(kind) = &f.drift
        && resp.status == StatusCode::OK
        && let Some(body) = drift(resp.upstream, kind, &resp.body)
    {
        resp.body = body;
        if resp.etag.is_some() {
            resp.etag = Some(etag_of(&resp.body));
        }
        // A changed body is not the dated one.
        resp.last_modified = None;
    }
    if f.malformed_json {
        let mut b = resp.body[..resp.body.len() / 2].to_vec();
        b.extend_from_slice(b"{\"info\": {");
        resp.body = Bytes::from(b);
        resp.status = StatusCode::OK;
        resp.etag = None;
        resp.last_modified = None;
        resp.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if f.corrupt_bytes && !resp.body.is_empty() {
        resp.body = corrupted(&resp.body);
        // Sent as a full 200 (a corrupting node does not revalidate).
        resp.etag = None;
        resp.last_modified = None;
    }
    if let Some(ct) = &f.content_type
        && let Ok(v) = HeaderValue::from_str(ct)
    {
        // A node that mislabels bodies (a captive portal, a broken CDN edge) answers
        // with a full body, never a 304 to our ETag.
        resp.headers.insert(CONTENT_TYPE, v);
        resp.etag = None;
        resp.last_modified = None;
    }
    if let Some(cc) = &f.cache_control
        && let Ok(v) = HeaderValue::from_str(cc)
    {
        resp.headers.insert(http::header::CACHE_CONTROL, v);
    }
    if f.truncate {
        resp.etag = None;
        resp.last_modified = None;
        return (resp, Send::Truncate);
    }
    if f.no_etag {
        resp.etag = None;
    }
    (resp, Send::Full)
}

/// `body` with the bits of every 1021st byte (and the middle one) flipped: same length.
fn corrupted(body: &[u8]) -> Bytes {
    let mut b = body.to_vec();
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    for i in (0..b.len()).step_by(1021).filter(|i| *i != mid) {
        b[i] ^= 0xff;
    }
    Bytes::from(b)
}

/// The drifted body, or `None` when the body is not JSON (HTML pages, errors) or, for
/// `metadata_mismatch`, not a metadata file.
fn drift(upstream: Upstream, kind: &str, body: &[u8]) -> Option<Bytes> {
    if kind == "metadata_mismatch" {
        return tampered_metadata(upstream, body);
    }
    if kind.starts_with("zip_") {
        return routes::osv::hostile_export(kind, body);
    }
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object_mut()?;
    match kind {
        "missing_field" => {
            let keys: &[&str] = match upstream {
                Upstream::PypiJson => &["info"],
                Upstream::Simple | Upstream::Extra => &["files", "versions"],
                Upstream::Pypistats => &["data"],
                Upstream::Pepy => &["total_downloads"],
                Upstream::Top => &["rows"],
                Upstream::Osv => &["id", "results"],
                Upstream::Other | Upstream::Files => &[],
            };
            for k in keys {
                obj.remove(*k);
            }
        }
        "null_array" => {
            let key = match upstream {
                Upstream::PypiJson if obj.contains_key("releases") => "releases",
                Upstream::PypiJson => "urls",
                Upstream::Simple | Upstream::Extra => "files",
                Upstream::Pypistats => "data",
                Upstream::Pepy => "versions",
                Upstream::Top => "rows",
                Upstream::Osv if obj.contains_key("results") => "results",
                Upstream::Osv => "aliases",
                Upstream::Other | Upstream::Files => return None,
            };
            obj.insert(key.to_owned(), Value::Null);
        }
        // An OSV batch answer that always names a next page.
        "endless_next_page" => {
            for r in obj.get_mut("results")?.as_array_mut()? {
                r.as_object_mut()?
                    .insert("next_page_token".to_owned(), Value::from("sim-more"));
            }
        }
        // Fields of the wrong type: a string where a list is, a number where a string is.
        "wrong_types" => {
            for (k, v) in obj.iter_mut() {
                let turned = match &*v {
                    Value::Array(_) => Value::from(format!("{k} as a string")),
                    Value::String(_) => Value::from(7),
                    other => other.clone(),
                };
                *v = turned;
            }
        }
        "unknown_field" => {
            obj.insert("sim_unknown_field".to_owned(), Value::from(1));
        }
        _ => return None,
    }
    Some(canonical_json(v))
}

/// A metadata file as a tampering mirror might serve it: every `Requires-Dist` header
/// dropped and a header of its own added (so the bytes differ even without any), the
/// rest as it was. `None` for anything that is not a metadata file.
fn tampered_metadata(upstream: Upstream, body: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(body).ok()?;
    if upstream != Upstream::Files || !text.starts_with("Metadata-Version:") {
        return None;
    }
    let (head, rest) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut out = String::with_capacity(body.len());
    for line in head.lines() {
        if !line.to_ascii_lowercase().starts_with("requires-dist:") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("X-Sim-Tampered: yes\n\n");
    out.push_str(rest);
    Some(Bytes::from(out))
}

fn etag_matches(inm: &str, etag: &str) -> bool {
    inm.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
    })
}

/// Turns a buffered answer into the HTTP response (ETag, `304`, truncation).
fn finish(resp: Resp, if_none_match: Option<&str>, send: Send) -> Response<Body> {
    let conditions = Conditions {
        if_none_match: if_none_match.map(str::to_owned),
        if_modified_since: None,
    };
    finish_conditional(resp, &conditions, send)
}

/// [`finish`] with both validators: `ETag`/`Last-Modified` sent on a 200, and a `304`
/// when the client's copy is current.
fn finish_conditional(resp: Resp, conditions: &Conditions, send: Send) -> Response<Body> {
    let Resp {
        status,
        mut headers,
        body,
        etag,
        last_modified,
        ..
    } = resp;
    if status == StatusCode::OK {
        let etag = etag.filter(|e| HeaderValue::from_str(e).is_ok());
        if let Some(e) = &etag
            && let Ok(v) = HeaderValue::from_str(e)
        {
            headers.insert(ETAG, v);
        }
        if let Some(lm) = last_modified
            && let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(lm))
        {
            headers.insert(LAST_MODIFIED, v);
        }
        if (etag.is_some() || last_modified.is_some())
            && conditions.not_modified(etag.as_deref(), last_modified)
        {
            headers.remove(CONTENT_TYPE);
            let mut r = Response::new(empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            *r.headers_mut() = headers;
            return r;
        }
    }
    let body = match send {
        Send::Full => full(body),
        Send::Truncate => {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            truncated(body)
        }
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_forms() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }

    #[test]
    fn drift_kinds() {
        let body = br#"{"info":{"name":"x"},"last_serial":1,"releases":{},"urls":[]}"#;
        let d = drift(Upstream::PypiJson, "missing_field", body).unwrap();
        let v: Value = serde_json::from_slice(&d).unwrap();
        assert!(v.get("info").is_none());
        let d = drift(Upstream::PypiJson, "null_array", body).unwrap();
        let v: Value = serde_json::from_slice(&d).unwrap();
        assert!(v["releases"].is_null());
        let d = drift(Upstream::PypiJson, "unknown_field", body).unwrap();
        let v: Value = serde_json::from_slice(&d).unwrap();
        assert_eq!(v["sim_unknown_field"], 1);
        assert!(drift(Upstream::Simple, "missing_field", b"<html>").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limiter_windows() {
        let l = RateLimiter::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(l.allow(ip, t0));
        }
        assert!(!l.allow(ip, t0), "6th within a second");
        let mut allowed = 5;
        for s in 1..60 {
            let t = t0 + Duration::from_secs(s);
            while l.allow(ip, t) {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 30, "30 per minute");
        assert!(l.allow(ip, t0 + Duration::from_secs(61)));
    }
}
