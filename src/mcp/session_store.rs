//! MCP sessions across replicas (issue 23 item 6, FLEET.md 5.10): rmcp's
//! `SessionStore` on the fleet's Redis. rmcp persists a legacy session's `initialize`
//! parameters after the handshake and, when a request names a session this replica
//! does not hold, loads them and replays the handshake, so a client initialised on one
//! replica keeps working on the others. Wired in `http.rs` only when the fleet is on
//! (`[fleet] redis_url`, `mcp_sessions`). The Redis side (keys, TTL, caps, gate and
//! deadline) is the engine's `FleetSessions`; what comes back from Redis is untrusted:
//! size-capped there, parsed here, and a value that does not parse is no session.

use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore, SessionStoreError,
};
use sentinel_actors::FleetSessions;

/// rmcp's session store on the fleet's Redis.
#[derive(Clone, Debug)]
pub(super) struct RedisSessionStore(pub(super) FleetSessions);

#[async_trait::async_trait]
impl SessionStore for RedisSessionStore {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        // Redis unavailable, unknown, or over the cap: no session, as on one replica
        // (the client gets "session not found" and initialises again).
        let Some(bytes) = self.0.load(session_id).await else {
            return Ok(None);
        };
        match serde_json::from_slice::<SessionState>(&bytes) {
            Ok(state) => {
                metrics::counter!("sentinel_http_sessions_restored_total").increment(1);
                Ok(Some(state))
            }
            Err(e) => {
                tracing::debug!(error = %e, "fleet: an MCP session value did not parse; ignored");
                Ok(None)
            }
        }
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let bytes = serde_json::to_vec(state)?;
        Ok(self.0.store(session_id, &bytes).await?)
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        Ok(self.0.delete(session_id).await?)
    }
}
