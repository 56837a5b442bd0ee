//! The fleet's parts the product uses beside the engine's questions: the MCP session
//! store (`src/mcp/session_store.rs`).

use super::EngineHandle;
use crate::fleet::FleetSessions;

impl EngineHandle {
    /// The fleet's store of MCP sessions (`[fleet] mcp_sessions`), when the fleet is on.
    pub fn fleet_sessions(&self) -> Option<FleetSessions> {
        let f = self.shared().fleet.as_ref()?;
        f.cfg.mcp_sessions.then(|| FleetSessions(f.clone()))
    }
}
