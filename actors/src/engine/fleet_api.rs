//! The fleet's parts the product uses beside the engine's questions: the MCP session
//! store (`src/mcp/session_store.rs`) and SSE event store (`src/mcp/event_store.rs`).

use super::EngineHandle;
use crate::fleet::{FleetSessions, FleetSse};

impl EngineHandle {
    /// The fleet's store of MCP sessions (`[fleet] mcp_sessions`), when the fleet is on.
    pub fn fleet_sessions(&self) -> Option<FleetSessions> {
        let f = self.shared().fleet.as_ref()?;
        f.cfg.mcp_sessions.then(|| FleetSessions(f.clone()))
    }

    /// The fleet's log of SSE events (`[fleet] mcp_sse`), when the fleet is on: the
    /// bytes behind the product's rmcp `EventStore`. One per call: each carries its
    /// own random instance nonce, so build it once per HTTP server.
    pub fn fleet_sse(&self) -> Option<FleetSse> {
        let f = self.shared().fleet.as_ref()?;
        f.cfg.mcp_sse.then(|| FleetSse::new(f.clone()))
    }
}
