//! [`BoundedSessions`]: rmcp's `LocalSessionManager` with a cap on live sessions and a
//! reaper for sessions that never finish the handshake.
//!
//! Each session costs memory until it ends (a worker, channels, the handler). Without
//! a cap, 20,000 `initialize` calls took 5 GB. Admission is decided by the HTTP guard
//! (503 with `Retry-After` when full) which hands its permit to `create_session`
//! through a task-local, so the cap holds exactly even under a burst; a session that
//! has not sent `notifications/initialized` within `init_timeout` is closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ClientNotification, JsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::SessionId;
use rmcp::transport::streamable_http_server::session::ServerSseMessage;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::store::EventStore;
use rmcp::transport::streamable_http_server::{RestoreOutcome, SessionManager};
use sentinel_actors::FleetSessions;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

tokio::task_local! {
    /// The admission permit the HTTP guard took for a request that opens a session.
    pub(crate) static ADMISSION: Mutex<Option<OwnedSemaphorePermit>>;
}

/// Why a session could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    /// The live-session cap is reached.
    #[error("too many live sessions (the cap is {0})")]
    Full(usize),
    /// rmcp's session manager failed.
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

struct Entry {
    _permit: OwnedSemaphorePermit,
    initialized: bool,
    /// When the fleet's copy of the session was last given a new TTL.
    touched: Instant,
}

struct Inner {
    local: LocalSessionManager,
    permits: Arc<Semaphore>,
    max: usize,
    init_timeout: Duration,
    entries: Mutex<HashMap<SessionId, Entry>>,
    /// The fleet's session store (`session_store.rs`), when the fleet is on.
    fleet: OnceLock<FleetSessions>,
}

/// A session manager with a cap and a reaper; see the module documentation.
#[derive(Clone)]
pub struct BoundedSessions(Arc<Inner>);

impl std::fmt::Debug for BoundedSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedSessions")
            .field("max", &self.0.max)
            .field("live", &self.live())
            .finish()
    }
}

impl BoundedSessions {
    /// At most `max` live sessions; a session is closed if the client has not sent
    /// `notifications/initialized` within `init_timeout` of opening it.
    pub fn new(max: usize, init_timeout: Duration) -> Self {
        Self::with_events(max, init_timeout, None)
    }

    /// As [`BoundedSessions::new`], keeping every SSE event in `events` (the fleet's
    /// `EventStore`, `event_store.rs`): rmcp then resumes streams from it only.
    pub fn with_events(
        max: usize,
        init_timeout: Duration,
        events: Option<Arc<dyn EventStore>>,
    ) -> Self {
        let mut local = LocalSessionManager::default();
        if let Some(events) = events {
            local = local.with_event_store(events);
        }
        // rmcp's own bound on waiting for `initialize` (default 60 s).
        local.session_config.init_timeout = Some(init_timeout);
        BoundedSessions(Arc::new(Inner {
            local,
            permits: Arc::new(Semaphore::new(max)),
            max,
            init_timeout,
            entries: Mutex::new(HashMap::new()),
            fleet: OnceLock::new(),
        }))
    }

    /// Sessions are also kept in the fleet's Redis (by rmcp's session store): a session
    /// busy here has its TTL there refreshed (at most every quarter of the idle TTL),
    /// and one opened on another replica can be restored here.
    pub fn share_with(&self, store: FleetSessions) {
        let _ = self.0.fleet.set(store);
    }

    /// Whether a session that is not live here may be restored from the fleet's store
    /// (so the HTTP guard admits it under the cap first).
    pub(crate) fn may_restore(&self, id: &str) -> bool {
        self.0.fleet.get().is_some() && !self.entries().contains_key(id)
    }

    /// The permit the HTTP guard took for this request, else one taken now.
    fn permit(&self) -> Result<OwnedSemaphorePermit, SessionsError> {
        ADMISSION
            .try_with(|slot| slot.lock().ok().and_then(|mut s| s.take()))
            .ok()
            .flatten()
            .or_else(|| self.admit())
            .ok_or(SessionsError::Full(self.0.max))
    }

    fn insert(&self, id: &SessionId, permit: OwnedSemaphorePermit) {
        self.entries().insert(
            id.clone(),
            Entry {
                _permit: permit,
                initialized: false,
                touched: Instant::now(),
            },
        );
        self.reap_later(id.clone());
    }

    /// Live sessions now.
    pub fn live(&self) -> usize {
        self.0.max - self.0.permits.available_permits()
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.0.max
    }

    /// A permit for one more session, if the cap allows.
    pub(crate) fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.0.permits.clone().try_acquire_owned().ok()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Entry>> {
        self.0.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reap_later(&self, id: SessionId) {
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(me.0.init_timeout).await;
            let stalled = me.entries().get(&id).is_some_and(|e| !e.initialized);
            if stalled {
                tracing::info!(
                    session = %id,
                    "closing a session that did not send notifications/initialized in time"
                );
                metrics::counter!("sentinel_http_sessions_reaped_total").increment(1);
                let _ = me.close_session(&id).await;
            }
        });
    }
}

impl SessionManager for BoundedSessions {
    type Error = SessionsError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let permit = self.permit()?;
        let (id, transport) = self.0.local.create_session().await?;
        self.insert(&id, permit);
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.0.local.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.0.local.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let r = self.0.local.close_session(id).await;
        // Whatever rmcp says, the session is gone from our count.
        self.entries().remove(id);
        Ok(r?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.0.local.create_stream(id, message).await?)
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        let initialized = matches!(
            &message,
            JsonRpcMessage::Notification(n)
                if matches!(n.notification, ClientNotification::InitializedNotification(_))
        );
        self.0.local.accept_message(id, message).await?;
        let now = Instant::now();
        let mut entries = self.entries();
        let Some(e) = entries.get_mut(id) else {
            return Ok(());
        };
        e.initialized |= initialized;
        if let Some(store) = self.0.fleet.get()
            && now.duration_since(e.touched) >= store.idle() / 4
        {
            e.touched = now;
            store.touch(id);
        }
        Ok(())
    }

    /// A session opened on another replica (rmcp found it in the fleet's store): a new
    /// local worker, under the same cap as a new session; rmcp then replays its
    /// handshake.
    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        let permit = self.permit()?;
        let outcome = self.0.local.restore_session(id.clone()).await?;
        if matches!(outcome, RestoreOutcome::Restored(_)) {
            self.insert(&id, permit);
        }
        Ok(outcome)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.0.local.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.0.local.resume(id, last_event_id).await?)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.0.local.event_store()
    }
}
