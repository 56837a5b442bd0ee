//! Streamable HTTP: rmcp's `StreamableHttpService` (with a `LocalSessionManager`)
//! mounted at `/mcp` in an axum router, next to `GET /healthz`, `GET /readyz` and
//! `GET /metrics`.
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

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

use super::SentinelMcp;
use crate::engine::EngineHandle;

/// Options of the HTTP server.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Where to listen (port 0 picks a free port; see [`HttpServer::local_addr`]).
    pub addr: SocketAddr,
    /// When set, every request but `GET /healthz` needs `Authorization: Bearer <token>`.
    /// Required to bind a non-loopback address.
    pub auth_token: Option<String>,
    /// Extra `Host` values allowed besides `localhost`, `127.0.0.1`, `[::1]` and the bind
    /// address, e.g. `sentinel.internal` or `sentinel.internal:8765` (with a port, only
    /// that port).
    pub allowed_hosts: Vec<String>,
}

/// What the guards need.
#[derive(Debug)]
struct Guard {
    token: Option<String>,
    /// Host names (lowercase, IPv6 without brackets) allowed on any port.
    hosts: Vec<String>,
    /// `host:port` authorities allowed exactly (lowercase).
    authorities: Vec<String>,
}

#[derive(Clone)]
struct AppState {
    engine: EngineHandle,
    guard: Arc<Guard>,
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
        constant_time_eq(given.as_bytes(), expected.as_bytes())
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
            tracing::warn!(host = %h, "rejected request with a Host that is not allowed");
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
            tracing::warn!(origin = ?origin, "rejected request with an Origin that is not allowed");
            return refuse(StatusCode::FORBIDDEN, "Origin not allowed");
        }
    }
    if req.uri().path() != "/healthz" && !g.token_ok(req.headers()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer <token>)",
        );
    }
    next.run(req).await
}

async fn healthz(State(state): State<AppState>) -> Response {
    let h = state.engine.health().await;
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

async fn metrics() -> Response {
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
    cancel: rmcp::transport::streamable_http_server::StreamableHttpServerConfig,
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

    /// The MCP endpoint, `http://<addr>/mcp`.
    pub fn mcp_url(&self) -> String {
        format!("http://{}/mcp", self.local_addr)
    }

    /// Serves until `shutdown` resolves, then closes the MCP sessions and stops.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let token = self.cancel.cancellation_token.clone();
        let on_shutdown = async move {
            shutdown.await;
            tracing::info!("HTTP server shutting down");
            token.cancel();
        };
        // rmcp writes a reply in small pieces: without TCP_NODELAY, Nagle's algorithm
        // and delayed ACKs add ~40 ms to every call (measured, BENCHMARKS.md).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, self.router)
            .with_graceful_shutdown(on_shutdown)
            .await
            .context("the HTTP server failed")
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
    let has_token = opts.auth_token.as_deref().is_some_and(|t| !t.is_empty());
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
    let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    let factory_engine = engine.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(SentinelMcp::new(factory_engine.clone())),
        Arc::new(LocalSessionManager::default()),
        config.clone(),
    );
    let state = AppState { engine, guard };
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(state.clone(), guard_layer))
        .with_state(state);
    Ok(HttpServer {
        listener,
        local_addr,
        router,
        cancel: config,
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
            addr: "127.0.0.1:0".parse().unwrap(),
            auth_token: token.map(str::to_string),
            allowed_hosts: extra.iter().map(|s| s.to_string()).collect(),
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
