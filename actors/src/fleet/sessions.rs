//! MCP sessions across replicas (FLEET.md 5.10): the product's session store (rmcp's
//! `SessionStore`, in `src/mcp/session_store.rs`) keeps a legacy session's
//! `initialize` parameters here, so a request that lands on another replica than its
//! `initialize` is served there. This side knows bytes only (no rmcp type): one key
//! per session, `<ns>:v1:mcp:session:<sha256 of the id>` (a reader of Redis never
//! learns a live session id), a TTL of `fleet.mcp_session_idle_ms` refreshed on every
//! read, and values capped both ways (a planted large value is never read whole).
//! Every call passes the gate with its deadline; with Redis away a load finds nothing
//! (the client gets "session not found", as it would from one replica) and a store is
//! an error the caller logs.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::client::{FleetClient, FleetError};

/// Largest session value written or read, bytes (an `initialize`'s parameters are a
/// few hundred bytes to a few KiB).
pub const MAX_SESSION_BYTES: usize = 64 * 1024;

/// Longest session id looked up (rmcp's are UUIDs).
const MAX_ID_LEN: usize = 256;

/// Reads a value no larger than the cap and refreshes its TTL. KEYS: the session.
/// ARGV: cap, TTL ms. `false` when absent; `-1` when over the cap.
const LOAD: &str = r"
local n = redis.call('STRLEN', KEYS[1])
if n == 0 then return false end
if n > tonumber(ARGV[1]) then return -1 end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return redis.call('GET', KEYS[1])
";

static LOAD_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(LOAD));

/// Why a session could not be kept in Redis.
#[derive(Debug, thiserror::Error)]
pub enum SessionStoreError {
    /// The value is larger than [`MAX_SESSION_BYTES`].
    #[error("MCP session state of {0} bytes is over the fleet's cap of {MAX_SESSION_BYTES}")]
    TooLarge(usize),
    /// Redis did not answer in time, failed, or its gate is open.
    #[error("the fleet's Redis is unavailable ({0})")]
    Unavailable(&'static str),
}

impl From<FleetError> for SessionStoreError {
    fn from(e: FleetError) -> Self {
        SessionStoreError::Unavailable(match e {
            FleetError::Skipped => "gate open",
            FleetError::Timeout => "no answer within the deadline",
            FleetError::Redis => "error",
        })
    }
}

/// The fleet's store of MCP sessions, from [`crate::EngineHandle::fleet_sessions`].
/// Cheap to clone.
#[derive(Clone)]
pub struct FleetSessions(pub(crate) Arc<FleetClient>);

impl std::fmt::Debug for FleetSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetSessions")
            .field("replica", &self.0.replica)
            .finish()
    }
}

impl FleetSessions {
    fn ttl_ms(&self) -> u64 {
        self.0.cfg.mcp_session_idle_ms
    }

    /// The session's value (and its TTL refreshed), or `None`: unknown, over the cap,
    /// an id too long to be one of ours, or Redis unavailable.
    pub async fn load(&self, id: &str) -> Option<Vec<u8>> {
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return None;
        }
        let key = self.0.keys.mcp_session(id);
        let ttl = self.ttl_ms();
        let r: Result<redis::Value, _> = self
            .0
            .run("mcp_session_load", |mut c| async move {
                LOAD_SCRIPT
                    .key(key)
                    .arg(MAX_SESSION_BYTES)
                    .arg(ttl)
                    .invoke_async(&mut c)
                    .await
            })
            .await;
        match r.ok()? {
            redis::Value::BulkString(b) if b.len() <= MAX_SESSION_BYTES => {
                self.0.counters.sessions_restored.fetch_add(1, Relaxed);
                Some(b)
            }
            redis::Value::Int(-1) => {
                self.0.counters.l2_rejected.fetch_add(1, Relaxed);
                tracing::debug!("fleet: an MCP session value over the cap was ignored");
                None
            }
            _ => None,
        }
    }

    /// Keeps `value` under `id` for the idle TTL.
    pub async fn store(&self, id: &str, value: &[u8]) -> Result<(), SessionStoreError> {
        if value.len() > MAX_SESSION_BYTES {
            return Err(SessionStoreError::TooLarge(value.len()));
        }
        let key = self.0.keys.mcp_session(id);
        let ttl = self.ttl_ms();
        let value = value.to_vec();
        self.0
            .run("mcp_session_store", |mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await?;
        self.0.counters.sessions_stored.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Forgets the session (the client ended it).
    pub async fn delete(&self, id: &str) -> Result<(), SessionStoreError> {
        let key = self.0.keys.mcp_session(id);
        self.0
            .run("mcp_session_delete", |mut c| async move {
                redis::cmd("DEL").arg(key).query_async::<()>(&mut c).await
            })
            .await?;
        Ok(())
    }

    /// Refreshes the session's TTL (a session busy on one replica stays known to the
    /// others), in the background.
    pub fn touch(&self, id: &str) {
        let key = self.0.keys.mcp_session(id);
        let (me, ttl) = (self.0.clone(), self.ttl_ms());
        tokio::spawn(async move {
            let _ = me
                .run("mcp_session_touch", |mut c| async move {
                    redis::cmd("PEXPIRE")
                        .arg(key)
                        .arg(ttl)
                        .query_async::<()>(&mut c)
                        .await
                })
                .await;
        });
    }

    /// How long an idle session is kept.
    pub fn idle(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.ttl_ms())
    }
}
