//! The MCP server: the engine's questions as MCP tools, over stdio or streamable HTTP.
//!
//! | file | what |
//! | --- | --- |
//! | `tools.rs` | [`SentinelMcp`]: the tools, the `sentinel://health` resource, the `package_report` prompt |
//! | `params.rs` | our argument extractor (every argument error is `invalid_params` with `{param, value, rule}`) and the parameters of the tools that are not questions; the questions' own types (`crate::questions`) are the other tools' parameters |
//! | `http.rs` | streamable HTTP on axum: `/mcp`, `/healthz`, `/readyz`, `/metrics`, `/status`, `/status.json` (`crate::status`), auth, Host/Origin checks, our accept loop (timeouts, connection cap, drain) |
//! | `sessions.rs` | the session manager: a cap on live sessions, a reaper for half-open ones, sessions restored from the fleet's store |
//! | `session_store.rs` | rmcp's `SessionStore` on the fleet's Redis, so any replica serves a legacy session (on with the fleet) |
//! | `event_store.rs` | rmcp's `EventStore` on the fleet's Redis, so a cut SSE stream resumes (`Last-Event-ID`) on any replica (on with the fleet) |
//! | `drain.rs` | shutdown that loses no reply: in-flight counts and the drain state |
//!
//! Every tool returns structured content with the engine's provenance (`source`:
//! live, cached, stale, estimated, mixed; `provenance` and `age_secs` per datum) and a
//! human text that states the freshness. Invalid input is an `invalid_params` error;
//! missing packages and upstream outages are tool results with `is_error` and a
//! suggestion.
//!
//! On stdio, stdout is the protocol: this module never prints; logs go to stderr
//! through `tracing`.

mod drain;
mod event_store;
mod http;
pub mod params;
mod session_store;
pub mod sessions;
mod tools;

pub use http::{HttpOptions, HttpServer, bind_http, bind_http_with, serve_http};
pub use tools::{HEALTH_RESOURCE_URI, INSTRUCTIONS, SentinelMcp, metric_label, tool_names};

use crate::engine::EngineHandle;
use rmcp::ServiceExt;

/// Serves MCP on stdin/stdout until the client disconnects. Logs go only to stderr.
pub async fn serve_stdio(engine: EngineHandle) -> anyhow::Result<()> {
    serve_transport(engine, rmcp::transport::stdio()).await
}

/// Serves MCP on any transport rmcp accepts (e.g. one end of `tokio::io::duplex`)
/// until the peer disconnects.
pub async fn serve_transport<T, E, A>(engine: EngineHandle, transport: T) -> anyhow::Result<()>
where
    T: rmcp::transport::IntoTransport<rmcp::RoleServer, E, A> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let service = SentinelMcp::new(engine)
        .serve(transport)
        .await
        .map_err(|e| anyhow::anyhow!("MCP initialisation failed: {e}"))?;
    tracing::info!("MCP session started");
    let reason = service.waiting().await?;
    tracing::info!(?reason, "MCP session ended");
    Ok(())
}
