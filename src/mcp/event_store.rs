//! Resumable SSE across replicas (issue 23 item 6, FLEET.md 5.10): rmcp's `EventStore`
//! on the fleet's Redis. rmcp stores every SSE event before sending it and, when a
//! client reconnects with `Last-Event-ID` (a legacy session's `GET`, or a `GET` after a
//! cut stateless `POST` stream), asks the store for the events after it: with this
//! store any replica answers, whichever replica sent the stream. Wired in `http.rs`
//! only when the fleet is on (`[fleet] redis_url`, `mcp_sse`). The Redis side (keys,
//! ids, `MAXLEN`, TTL, caps, gate and deadline) is the engine's `FleetSse`.
//!
//! Redis is an accelerator, never a dependency: rmcp cancels a request whose event
//! cannot be stored, so when Redis is unavailable (or an event is over the cap) the
//! event is still sent, with an id of this replica's (`local-<n>`) that no replica can
//! resume: a resume with it gets an empty stream, as from a replica without the store.
//! What comes back from Redis is untrusted: capped there, parsed here, and one value
//! that does not parse makes the whole replay an error (rmcp then answers an empty
//! stream), never a panic nor a gap.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use rmcp::model::ServerJsonRpcMessage;
use rmcp::transport::streamable_http_server::session::ServerSseMessage;
use rmcp::transport::streamable_http_server::session::store::{
    EventId, EventStore, EventStoreError, EventStream,
};
use sentinel_actors::FleetSse;
use serde::{Deserialize, Serialize};

/// rmcp's SSE event store on the fleet's Redis.
#[derive(Debug)]
pub(super) struct RedisEventStore {
    sse: FleetSse,
    /// Ids of events sent without Redis.
    local: AtomicU64,
}

impl RedisEventStore {
    pub(super) fn new(sse: FleetSse) -> Self {
        RedisEventStore {
            sse,
            local: AtomicU64::new(0),
        }
    }
}

/// One SSE event as kept in Redis: the JSON-RPC message (none for a priming event)
/// and the retry hint.
#[derive(Serialize, Deserialize)]
struct Kept {
    #[serde(rename = "m")]
    message: Option<ServerJsonRpcMessage>,
    #[serde(rename = "r", default)]
    retry_ms: Option<u64>,
}

fn encode(event: &ServerSseMessage) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&serde_json::json!({
        "m": event.message.as_deref(),
        "r": event.retry.map(|r| u64::try_from(r.as_millis()).unwrap_or(u64::MAX)),
    }))
}

fn decode(id: String, bytes: &[u8]) -> Result<ServerSseMessage, serde_json::Error> {
    let kept: Kept = serde_json::from_slice(bytes)?;
    let mut event = ServerSseMessage::default();
    event.event_id = Some(id);
    event.message = kept.message.map(Arc::new);
    event.retry = kept.retry_ms.map(Duration::from_millis);
    Ok(event)
}

#[async_trait::async_trait]
impl EventStore for RedisEventStore {
    async fn store_event(
        &self,
        stream_id: &str,
        event: &ServerSseMessage,
    ) -> Result<EventId, EventStoreError> {
        let bytes = encode(event)?;
        match self.sse.append(stream_id, &bytes).await {
            Ok(id) => Ok(id),
            Err(e) => {
                // Sent anyway, not resumable: the answer never waits on Redis' health.
                tracing::debug!(error = %e, "fleet: an SSE event was not kept in Redis");
                metrics::counter!("sentinel_http_sse_events_unkept_total").increment(1);
                Ok(format!("local-{}", self.local.fetch_add(1, Relaxed)))
            }
        }
    }

    async fn replay_events_after(
        &self,
        last_event_id: &str,
    ) -> Result<EventStream, EventStoreError> {
        let kept = self.sse.after(last_event_id).await?;
        let events = kept
            .into_iter()
            .map(|(id, bytes)| decode(id, &bytes))
            .collect::<Result<Vec<_>, _>>()
            .inspect_err(|e| {
                tracing::debug!(error = %e, "fleet: a kept SSE event did not parse; no replay");
            })?;
        metrics::counter!("sentinel_http_sse_resumed_total").increment(1);
        Ok(Box::pin(futures::stream::iter(events)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_round_trips_and_bad_bytes_are_an_error() {
        let mut primed = ServerSseMessage::default();
        primed.retry = Some(Duration::from_millis(3000));
        let back = decode("t.1-0".into(), &encode(&primed).unwrap()).unwrap();
        assert_eq!(back.event_id.as_deref(), Some("t.1-0"));
        assert!(back.message.is_none());
        assert_eq!(back.retry, Some(Duration::from_millis(3000)));
        for bad in [&b""[..], b"null", b"{\"m\": 5}", b"\xff\xfe", b"[]"] {
            assert!(decode("t.1-0".into(), bad).is_err(), "{bad:?}");
        }
    }
}
