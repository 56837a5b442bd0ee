//! Streamable HTTP: rmcp's `StreamableHttpService` (with a `LocalSessionManager`, and
//! with the fleet on, rmcp's `SessionStore` and `EventStore` on Redis: `session_store.rs`,
//! `event_store.rs`)
//! mounted at `/mcp` in an axum router, next to `GET /healthz`, `GET /readyz`,
//! `GET /metrics` and the status page, `GET /status` and `GET /status.json`
//! (`crate::status`).
//!
//! Guards, in order, on every request:
//! 1. **Host / Origin** (against DNS rebinding): the `Host` must be `localhost`,
//!    `127.0.0.1`, `[::1]`, the bind address or one of [`HttpOptions::allowed_hosts`]
//!    (any port), else 403. An `Origin`, when present, must be `http(s)://` one of
//!    those hosts, else 403.
//! 2. **Bearer token**, when [`HttpOptions::auth_token`] is set: every path except
//!    `/healthz` needs `Authorization: Bearer <token>`, else 401.
//!
//! Binding a non-loopback address without a token is refused.
//!
//! Against hostile clients (each bound configurable, see [`HttpOptions`]):
//! - live MCP sessions are capped (503 with `Retry-After` beyond), and a session that
//!   has not sent `notifications/initialized` within `init_timeout` is closed;
//! - our own accept loop (not `axum::serve`) caps connections, closes a connection
//!   that has not sent a whole request head within `header_read_timeout` (which also
//!   bounds an idle keep-alive connection), and one with no byte either way for
//!   `idle_timeout`;
//! - on shutdown it stops opening sessions, lets replies in flight finish within
//!   `shutdown_grace`, answers calls still running with a JSON-RPC error, and stops
//!   for good `hard_deadline` later whatever the clients do;
//! - `DELETE /mcp` answers 204 (clients expect 200 or 204; rmcp says 202);
//! - `/healthz` without the token says only `ok` or `not ok`.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt as _;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::SentinelMcp;
use super::drain::{Drain, InFlight};
use super::sessions::{ADMISSION, BoundedSessions};
use crate::engine::EngineHandle;
use crate::secret::Secret;

/// Options of the HTTP server.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Where to listen (port 0 picks a free port; see [`HttpServer::local_addr`]).
    pub addr: SocketAddr,
    /// When set, every request but `GET /healthz` needs `Authorization: Bearer <token>`.
    /// Required to bind a non-loopback address.
    pub auth_token: Option<Secret>,
    /// Extra `Host` values allowed besides `localhost`, `127.0.0.1`, `[::1]` and the bind
    /// address, e.g. `sentinel.internal` or `sentinel.internal:8765` (with a port, only
    /// that port).
    pub allowed_hosts: Vec<String>,
    /// Most live MCP sessions; a new one beyond is refused with 503.
    pub max_sessions: usize,
    /// A session that has not sent `notifications/initialized` this long after it was
    /// opened is closed.
    pub init_timeout: Duration,
    /// Most open connections; one more is closed at once.
    pub max_connections: usize,
    /// A connection that has not sent a whole request head this long after it opened
    /// (or after its previous reply) is closed.
    pub header_read_timeout: Duration,
    /// A connection with no byte read or written this long is closed.
    pub idle_timeout: Duration,
    /// On shutdown, how long replies in flight get to finish before the calls still
    /// running are answered with an error.
    pub shutdown_grace: Duration,
    /// After the grace, how long before every connection is dropped regardless.
    pub hard_deadline: Duration,
    /// How long a large request body (256 KiB or more, or of unknown length) waits for
    /// the one being read before it is refused with 503 and `Retry-After`.
    pub large_body_wait: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            auth_token: None,
            allowed_hosts: Vec::new(),
            max_sessions: 1000,
            init_timeout: Duration::from_secs(10),
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            hard_deadline: Duration::from_secs(3),
            large_body_wait: Duration::from_secs(10),
        }
    }
}

/// What the guards need.
#[derive(Debug)]
struct Guard {
    token: Option<Secret>,
    /// Host names (lowercase, IPv6 without brackets) allowed on any port.
    hosts: Vec<String>,
    /// `host:port` authorities allowed exactly (lowercase).
    authorities: Vec<String>,
}

#[derive(Clone)]
struct AppState {
    engine: EngineHandle,
    guard: Arc<Guard>,
    sessions: BoundedSessions,
    drain: Arc<Drain>,
    /// POST /mcp replies not yet fully written.
    replies: Arc<InFlight>,
    /// One large request body at a time through rmcp's parse (see [`LARGE_BODY`]).
    large_bodies: Arc<tokio::sync::Semaphore>,
    large_body_wait: Duration,
    /// The MCP layer's last hour, for `/status`.
    activity: Arc<crate::status::activity::Activity>,
}

/// A request body this large (or of unknown length) costs rmcp about 40 ms of CPU per
/// MB to read and parse (release build). Such a body is read and parsed on a runtime
/// of its own ([`large_body_runtime`]), one at a time, so that the server's async
/// threads stay free for `/healthz` and cached answers (12 concurrent 1 MB bodies held
/// both of them for 100 ms and more).
const LARGE_BODY: u64 = 256 * 1024;

/// The one-thread runtime that reads and parses large request bodies of live sessions,
/// at the CPU pool's lower priority. Only the request's HTTP handling moves there: the
/// session, its tool calls and the engine stay on the main runtime (rmcp hands the parsed message to the session over
/// a channel). `None` when the thread could not be started: the body is then read on
/// the main runtime, as before.
fn large_body_runtime() -> Option<&'static tokio::runtime::Handle> {
    static RUNTIME: std::sync::OnceLock<Option<tokio::runtime::Runtime>> =
        std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("sentinel-large-body")
                .on_thread_start(sentinel_actors::cpu::lower_this_thread_priority)
                .enable_all()
                .build()
                .map_err(|e| tracing::warn!("no runtime for large request bodies: {e}"))
                .ok()
        })
        .as_ref()
        .map(|rt| rt.handle())
}

/// Runs `next` for a large body of a live session on [`large_body_runtime`]. Dropping
/// the returned future (the client went away) aborts it there too.
async fn on_large_body_runtime(next: Next, req: Request) -> Response {
    let Some(runtime) = large_body_runtime() else {
        return next.run(req).await;
    };
    let task = tokio_util::task::AbortOnDropHandle::new(runtime.spawn(next.run(req)));
    match task.await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!("reading a large request body failed: {e}");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request could not be read; retry",
            )
        }
    }
}

/// Splits an authority (`host`, `host:port`, `[v6]`, `[v6]:port`) into a lowercase host
/// (IPv6 without brackets) and the port, if any. `None` when malformed.
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let a = authority.trim().to_ascii_lowercase();
    if a.is_empty() || a.contains(['/', '@', ' ']) {
        return None;
    }
    if let Some(rest) = a.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        return Some((host.to_string(), port));
    }
    match a.rsplit_once(':') {
        // A bare IPv6 address without brackets (not valid in Host, but be exact).
        Some((h, _)) if h.contains(':') => None,
        Some((h, p)) => Some((h.to_string(), Some(p.parse().ok()?))),
        None => Some((a, None)),
    }
}

impl Guard {
    fn new(opts: &HttpOptions, bound: SocketAddr) -> Self {
        let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        hosts.push(opts.addr.ip().to_string());
        hosts.push(bound.ip().to_string());
        let mut authorities = Vec::new();
        for h in &opts.allowed_hosts {
            match split_authority(h) {
                Some((host, None)) => hosts.push(host),
                Some((host, Some(port))) => authorities.push(format!("{host}:{port}")),
                None => tracing::warn!(host = %h, "ignoring malformed allowed host"),
            }
        }
        hosts.sort();
        hosts.dedup();
        Guard {
            token: opts.auth_token.clone().filter(|t| !t.is_empty()),
            hosts,
            authorities,
        }
    }

    fn authority_allowed(&self, authority: &str) -> bool {
        let Some((host, port)) = split_authority(authority) else {
            return false;
        };
        if self.hosts.contains(&host) {
            return true;
        }
        port.is_some_and(|p| self.authorities.contains(&format!("{host}:{p}")))
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let rest = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        match rest {
            Some(authority) => {
                let authority = authority.strip_suffix('/').unwrap_or(authority);
                self.authority_allowed(authority)
            }
            None => false,
        }
    }

    fn token_ok(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
        else {
            return false;
        };
        constant_time_eq(given.as_bytes(), expected.expose().as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let mut r = (
        status,
        axum::Json(json!({ "error": status.canonical_reason(), "message": message })),
    )
        .into_response();
    // The request body is left unread: say the connection closes, or a client that
    // reuses it sees "server disconnected without sending a response".
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"pypi-sentinel\""),
        );
    }
    r
}

async fn guard_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let g = &state.guard;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    match host {
        Some(h) if g.authority_allowed(&h) => {}
        Some(h) => {
            tracing::warn!(
                host = %crate::secret::truncate_echo(&h),
                "rejected request with a Host that is not allowed"
            );
            return refuse(
                StatusCode::FORBIDDEN,
                "Host not allowed (DNS rebinding protection); add it with --allow-host",
            );
        }
        None => return refuse(StatusCode::FORBIDDEN, "missing Host header"),
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let ok = origin.to_str().is_ok_and(|o| g.origin_allowed(o));
        if !ok {
            let origin = String::from_utf8_lossy(origin.as_bytes());
            tracing::warn!(
                origin = %crate::secret::truncate_echo(&origin),
                "rejected request with an Origin that is not allowed"
            );
            return refuse(StatusCode::FORBIDDEN, "Origin not allowed");
        }
    }
    let authorized = g.token_ok(req.headers());
    if req.uri().path() == "/healthz" {
        return healthz(&state, authorized).await;
    }
    if !authorized {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer <token>)",
        );
    }
    if !req.uri().path().starts_with("/mcp") {
        return next.run(req).await;
    }
    mcp_layer(state, req, next).await
}

/// The MCP endpoint's own guards: session admission, reply tracking, DELETE status.
async fn mcp_layer(state: AppState, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let opens_session =
        method == http::Method::POST && !req.headers().contains_key("mcp-session-id");
    if method == http::Method::POST {
        let large = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_none_or(|n| n >= LARGE_BODY);
        // Held while rmcp reads and parses the body and hands the message on (the reply
        // streams later, without it): it bounds the memory of bodies being read. A body
        // that never finishes arriving is bounded by the connection's idle timeout;
        // waiting behind it is bounded here.
        let _one_large_body = if large {
            let wait = tokio::time::timeout(
                state.large_body_wait,
                state.large_bodies.clone().acquire_owned(),
            );
            match wait.await {
                Ok(permit) => Some(permit.expect("the semaphore is never closed")),
                Err(_) => {
                    metrics::counter!("sentinel_http_large_bodies_refused_total").increment(1);
                    return busy("another large request body is being read; retry shortly");
                }
            }
        } else {
            None
        };
        let reply = state.replies.enter();
        // A session opened on another replica is restored here under the same cap.
        let restores = req
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|id| state.sessions.may_restore(id));
        let response = if opens_session || restores {
            if opens_session && state.drain.is_draining() {
                return busy("the server is shutting down");
            }
            let Some(permit) = state.sessions.admit() else {
                metrics::counter!("sentinel_http_sessions_refused_total").increment(1);
                return busy(&format!(
                    "too many live sessions (the cap is {}); close idle sessions or retry",
                    state.sessions.max()
                ));
            };
            ADMISSION
                .scope(std::sync::Mutex::new(Some(permit)), next.run(req))
                .await
        } else if large {
            on_large_body_runtime(next, req).await
        } else {
            next.run(req).await
        };
        // The reply counts as in flight until its body (an SSE stream for a call) has
        // been written out or dropped: shutdown waits on that.
        let (parts, body) = response.into_parts();
        let stream = body.into_data_stream().map(move |frame| {
            let _ = &reply;
            frame
        });
        return Response::from_parts(parts, axum::body::Body::from_stream(stream));
    }
    let mut response = next.run(req).await;
    if method == http::Method::DELETE && response.status() == StatusCode::ACCEPTED {
        // The official clients expect 200 or 204 ("Session termination failed: 202").
        *response.status_mut() = StatusCode::NO_CONTENT;
        *response.body_mut() = axum::body::Body::empty();
    }
    response
}

fn busy(message: &str) -> Response {
    let mut r = refuse(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// `/healthz`: with the token (or when none is configured), the health report with
/// userinfo redacted from every URL; without it only `ok` or `not ok`.
async fn healthz(state: &AppState, authorized: bool) -> Response {
    if !authorized {
        let ready = state.engine.readiness().ready;
        let (status, text) = if ready {
            (StatusCode::OK, "ok")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "not ok")
        };
        return (status, text).into_response();
    }
    let h = crate::secret::redact_health(state.engine.health().await);
    (StatusCode::OK, axum::Json(h)).into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    let r = state.engine.readiness();
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(r)).into_response()
}

fn status_sources(state: &AppState) -> crate::status::StatusSources {
    crate::status::StatusSources {
        engine: state.engine.clone(),
        activity: state.activity.clone(),
        sessions: Some(state.sessions.clone()),
    }
}

/// `/status.json`: the status page's facts (`crate::status::StatusSnapshot`).
async fn status_json(State(state): State<AppState>) -> Response {
    let snap = status_sources(&state).snapshot().await;
    let mut r = axum::Json(snap).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `/status`: the page; `?part=main` is its `<main>` alone (what its script swaps in).
async fn status_page(
    State(state): State<AppState>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Response {
    let snap = status_sources(&state).snapshot().await;
    let html = if q.as_deref() == Some("part=main") {
        crate::status::page::body(&snap)
    } else {
        crate::status::page::render(&snap)
    };
    let mut r = axum::response::Html(html).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Everything is inline; nothing may be loaded from elsewhere.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
        ),
    );
    r
}

async fn metrics(State(state): State<AppState>) -> Response {
    // The status page's gauges (breakers, quota use, store) are read at scrape time.
    crate::status::export_gauges(&state.engine).await;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        crate::telemetry::render_metrics(),
    )
        .into_response()
}

/// A bound, not yet running HTTP server. See [`bind_http`].
pub struct HttpServer {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    router: Router,
    /// Cancels every MCP session (rmcp's token).
    sessions_cancel: CancellationToken,
    sessions: BoundedSessions,
    drain: Arc<Drain>,
    replies: Arc<InFlight>,
    opts: HttpOptions,
    activity: Arc<crate::status::activity::Activity>,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// The address actually bound (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The status page, `http://<addr>/status`.
    pub fn status_url(&self) -> String {
        format!("http://{}/status", self.local_addr)
    }

    /// The last hour of answers the status page shows (an embedder that answers
    /// outside MCP, like the demo, records into it too).
    pub fn activity(&self) -> Arc<crate::status::activity::Activity> {
        self.activity.clone()
    }

    /// The MCP endpoint, `http://<addr>/mcp`.
    pub fn mcp_url(&self) -> String {
        format!("http://{}/mcp", self.local_addr)
    }

    /// Live MCP sessions now.
    pub fn sessions(&self) -> BoundedSessions {
        self.sessions.clone()
    }

    /// Serves until `shutdown` resolves, then drains (see the module documentation)
    /// and stops within `shutdown_grace` + about 1 s + `hard_deadline`.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let HttpServer {
            listener,
            router,
            sessions_cancel,
            drain,
            replies,
            opts,
            ..
        } = self;
        let connections = Arc::new(Semaphore::new(opts.max_connections));
        let closing = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();

        let drained = async {
            shutdown.await;
            tracing::info!(
                in_flight = replies.count(),
                "HTTP server shutting down: no new sessions; replies in flight get {:?}",
                opts.shutdown_grace
            );
            drain.start();
            let grace = tokio::time::timeout(opts.shutdown_grace, replies.wait_zero()).await;
            if grace.is_err() {
                tracing::warn!(
                    calls = drain.calls.count(),
                    "calls still running after the shutdown grace: answering them with an error"
                );
                drain.abort_calls();
                // The errors travel through the session to the client's stream.
                let _ = tokio::time::timeout(Duration::from_secs(1), replies.wait_zero()).await;
            }
        };
        tokio::pin!(drained);
        loop {
            tokio::select! {
                () = &mut drained => break,
                accepted = listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = connections.clone().try_acquire_owned() else {
                        metrics::counter!("sentinel_http_connections_refused_total").increment(1);
                        tracing::debug!(%peer, "connection cap reached; closing the new connection");
                        drop(tcp);
                        continue;
                    };
                    tasks.spawn(serve_connection(tcp, router.clone(), opts.clone(), closing.clone(), permit));
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        drop(listener);
        // End the sessions (their SSE streams end) and ask every connection to close
        // after its current exchange; then stop waiting at the hard deadline.
        sessions_cancel.cancel();
        closing.cancel();
        let all_closed = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(opts.hard_deadline, all_closed)
            .await
            .is_err()
        {
            tracing::warn!(
                connections = tasks.len(),
                "connections still open at the hard shutdown deadline: dropping them"
            );
            tasks.abort_all();
        }
        Ok(())
    }
}

/// One connection: HTTP/1.1 with a header-read timeout, an idle timeout and a graceful
/// close when the server stops.
async fn serve_connection(
    tcp: TcpStream,
    router: Router,
    opts: HttpOptions,
    closing: CancellationToken,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    // rmcp writes a reply in small pieces: without TCP_NODELAY, Nagle's algorithm and
    // delayed ACKs add ~40 ms to every call (measured, BENCHMARKS.md).
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    let activity = Arc::new(AtomicU64::new(0));
    let started = tokio::time::Instant::now();
    let io = hyper_util::rt::TokioIo::new(Watched {
        inner: tcp,
        activity: activity.clone(),
        started,
    });
    use tower::ServiceExt as _;
    let service = hyper_util::service::TowerToHyperService::new(
        router.map_request(|r: http::Request<hyper::body::Incoming>| r.map(axum::body::Body::new)),
    );
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing_seen = false;
    loop {
        let idle_for = Duration::from_millis(activity.load(Ordering::Relaxed));
        let deadline = started + idle_for + opts.idle_timeout;
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = closing.cancelled(), if !closing_seen => {
                closing_seen = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(deadline) => {
                let last = Duration::from_millis(activity.load(Ordering::Relaxed));
                if started + last + opts.idle_timeout <= tokio::time::Instant::now() {
                    metrics::counter!("sentinel_http_idle_closed_total").increment(1);
                    tracing::debug!("closing a connection idle for {:?}", opts.idle_timeout);
                    return;
                }
            }
        }
    }
}

/// A TCP stream that records when it last read or wrote a byte (milliseconds after
/// `started`), for the idle timeout.
struct Watched {
    inner: TcpStream,
    activity: Arc<AtomicU64>,
    started: tokio::time::Instant,
}

impl Watched {
    fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.activity.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Binds the listener and builds the router, without serving yet: tests and the CLI
/// can bind port 0 and learn the port from [`HttpServer::local_addr`]. Refuses a
/// non-loopback address without an auth token.
pub async fn bind_http(engine: EngineHandle, opts: HttpOptions) -> anyhow::Result<HttpServer> {
    bind_http_with(engine, opts, None).await
}

/// As [`bind_http`], recording answers into `activity` when given (so a server that
/// replaces another keeps its status page's hour).
pub async fn bind_http_with(
    engine: EngineHandle,
    opts: HttpOptions,
    activity: Option<Arc<crate::status::activity::Activity>>,
) -> anyhow::Result<HttpServer> {
    let has_token = opts.auth_token.as_ref().is_some_and(|t| !t.is_empty());
    if !is_loopback(opts.addr.ip()) && !has_token {
        anyhow::bail!(
            "refusing to bind {} without --auth-token: a non-loopback address exposes the \
             server to the network; pass --auth-token <TOKEN> (clients then send \
             `Authorization: Bearer <TOKEN>`) or bind 127.0.0.1",
            opts.addr
        );
    }
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("could not bind {}", opts.addr))?;
    let local_addr = listener.local_addr()?;
    let guard = Arc::new(Guard::new(&opts, local_addr));

    // Host checks are ours (they know the bind address and --allow-host); rmcp's own
    // allowlist would reject those extra hosts.
    let sessions_cancel = CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_cancellation_token(sessions_cancel.clone());
    // With the fleet on, SSE events are kept in Redis too: any replica resumes them.
    let events = engine.fleet_sse().map(|sse| {
        Arc::new(super::event_store::RedisEventStore::new(sse))
            as Arc<dyn rmcp::transport::streamable_http_server::session::store::EventStore>
    });
    let sessions = BoundedSessions::with_events(opts.max_sessions, opts.init_timeout, events);
    // With the fleet on, legacy sessions live in Redis too: any replica serves them.
    if let Some(store) = engine.fleet_sessions() {
        sessions.share_with(store.clone());
        config.session_store = Some(Arc::new(super::session_store::RedisSessionStore(store)));
    }
    let drain = Arc::new(Drain::default());
    let replies = Arc::new(InFlight::default());
    let factory_engine = engine.clone();
    let factory_drain = drain.clone();
    let activity = activity.unwrap_or_default();
    let factory_activity = activity.clone();
    let mcp = StreamableHttpService::new(
        move || {
            Ok(SentinelMcp::with_drain(
                factory_engine.clone(),
                factory_drain.clone(),
                factory_activity.clone(),
            ))
        },
        Arc::new(sessions.clone()),
        config,
    );
    let state = AppState {
        engine,
        guard,
        sessions: sessions.clone(),
        drain: drain.clone(),
        replies: replies.clone(),
        large_bodies: Arc::new(tokio::sync::Semaphore::new(1)),
        large_body_wait: opts.large_body_wait,
        activity,
    };
    let router = Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status_page))
        .route("/status.json", get(status_json))
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(state.clone(), guard_layer))
        .with_state(state.clone());
    Ok(HttpServer {
        listener,
        local_addr,
        router,
        sessions_cancel,
        sessions,
        drain,
        replies,
        opts,
        activity: state.activity,
    })
}

/// Binds `opts.addr`, prints `listening on http://ADDR/mcp` as one line on stdout (on
/// HTTP, stdout is not the protocol), and serves until `shutdown` resolves.
pub async fn serve_http(
    engine: EngineHandle,
    opts: HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let server = bind_http(engine, opts).await?;
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {}", server.mcp_url());
        let _ = out.flush();
    }
    tracing::info!(addr = %server.local_addr(), "MCP over streamable HTTP at /mcp");
    server.run(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(extra: &[&str], token: Option<&str>) -> Guard {
        let opts = HttpOptions {
            auth_token: token.map(Secret::new),
            allowed_hosts: extra.iter().map(|s| s.to_string()).collect(),
            ..HttpOptions::default()
        };
        Guard::new(&opts, "127.0.0.1:8765".parse().unwrap())
    }

    #[test]
    fn authorities_split() {
        assert_eq!(
            split_authority("LocalHost:80"),
            Some(("localhost".into(), Some(80)))
        );
        assert_eq!(split_authority("[::1]:9"), Some(("::1".into(), Some(9))));
        assert_eq!(split_authority("[::1]"), Some(("::1".into(), None)));
        assert_eq!(split_authority("a.b"), Some(("a.b".into(), None)));
        assert_eq!(split_authority("a.b:x"), None);
        assert_eq!(split_authority("user@evil"), None);
        assert_eq!(split_authority(""), None);
    }

    #[test]
    fn hosts_and_origins() {
        let g = guard(&["sentinel.internal", "box.lan:9000"], None);
        for ok in [
            "localhost",
            "localhost:8765",
            "127.0.0.1:1",
            "[::1]:8765",
            "sentinel.internal",
            "sentinel.internal:443",
            "box.lan:9000",
        ] {
            assert!(g.authority_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.com",
            "evil.com:8765",
            "box.lan",
            "box.lan:9001",
            "127.0.0.2",
        ] {
            assert!(!g.authority_allowed(bad), "{bad}");
        }
        assert!(g.origin_allowed("http://localhost:3000"));
        assert!(g.origin_allowed("https://sentinel.internal"));
        assert!(!g.origin_allowed("http://evil.com"));
        assert!(!g.origin_allowed("null"));
        assert!(!g.origin_allowed("file://localhost"));
    }

    #[test]
    fn bearer_tokens() {
        let g = guard(&[], Some("s3cret"));
        let mut h = HeaderMap::new();
        assert!(!g.token_ok(&h));
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(g.token_ok(&h));
        h.insert(header::AUTHORIZATION, "bearer s3cret".parse().unwrap());
        assert!(g.token_ok(&h));
        h.insert(header::AUTHORIZATION, "Bearer s3cre".parse().unwrap());
        assert!(!g.token_ok(&h));
        h.insert(header::AUTHORIZATION, "Basic s3cret".parse().unwrap());
        assert!(!g.token_ok(&h));
        assert!(guard(&[], None).token_ok(&HeaderMap::new()));
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("127.0.0.1".parse().unwrap()));
        assert!(is_loopback("::1".parse().unwrap()));
        assert!(!is_loopback("0.0.0.0".parse().unwrap()));
        assert!(!is_loopback("192.168.1.2".parse().unwrap()));
    }
}
