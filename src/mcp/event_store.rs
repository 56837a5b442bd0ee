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
//! event is kept in this replica's memory instead, bounded (the last
//! [`LOCAL_EVENTS`] events of the last [`LOCAL_STREAMS`] streams), with an id
//! `local-<stream>-<n>`: a resume on this replica works as on one replica without a
//! fleet (rmcp's own cache), one on another replica gets an empty stream.
//! What comes back from Redis is untrusted: capped there, parsed here, and one value
//! that does not parse makes the whole replay an error (rmcp then answers an empty
//! stream), never a panic nor a gap.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::ServerJsonRpcMessage;
use rmcp::transport::streamable_http_server::session::ServerSseMessage;
use rmcp::transport::streamable_http_server::session::store::{
    EventId, EventStore, EventStoreError, EventStream,
};
use sentinel_actors::FleetSse;
use serde::{Deserialize, Serialize};

/// Streams whose events sent without Redis are kept in memory, at most.
const LOCAL_STREAMS: usize = 1_024;
/// Events kept in memory per stream, at most (the last ones).
const LOCAL_EVENTS: usize = 64;

/// rmcp's SSE event store on the fleet's Redis.
#[derive(Debug)]
pub(super) struct RedisEventStore {
    sse: FleetSse,
    /// Events sent while Redis was away.
    local: Mutex<LocalLog>,
}

impl RedisEventStore {
    pub(super) fn new(sse: FleetSse) -> Self {
        RedisEventStore {
            sse,
            local: Mutex::default(),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, LocalLog> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Events sent without Redis, in this replica's memory (see the module).
#[derive(Debug, Default)]
struct LocalLog {
    next_stream: u64,
    /// rmcp's stream id -> our number for it.
    numbers: HashMap<String, u64>,
    /// Our number -> the stream.
    streams: BTreeMap<u64, LocalStream>,
}

/// One stream's events sent without Redis.
#[derive(Debug)]
struct LocalStream {
    /// rmcp's id of the stream.
    name: String,
    /// The number of its next event.
    next: u64,
    /// Its last events (number, event), oldest first.
    events: VecDeque<(u64, ServerSseMessage)>,
}

impl LocalLog {
    /// Keeps `event` (its id set): the id.
    fn keep(&mut self, stream_id: &str, mut event: ServerSseMessage) -> String {
        let s = match self.numbers.get(stream_id) {
            Some(s) => *s,
            None => {
                let s = self.next_stream;
                self.next_stream += 1;
                self.numbers.insert(stream_id.to_string(), s);
                self.streams.insert(
                    s,
                    LocalStream {
                        name: stream_id.to_string(),
                        next: 0,
                        events: VecDeque::new(),
                    },
                );
                while self.streams.len() > LOCAL_STREAMS {
                    if let Some((_, old)) = self.streams.pop_first() {
                        self.numbers.remove(&old.name);
                    }
                }
                s
            }
        };
        let Some(st) = self.streams.get_mut(&s) else {
            unreachable!("inserted above")
        };
        let id = format!("local-{s}-{}", st.next);
        event.event_id = Some(id.clone());
        st.events.push_back((st.next, event));
        st.next += 1;
        if st.events.len() > LOCAL_EVENTS {
            st.events.pop_front();
        }
        id
    }

    /// The events after `local-<s>-<n>`; `None` unless its stream is still kept whole
    /// from that event on.
    fn after(&self, id: &str) -> Option<Vec<ServerSseMessage>> {
        let (s, n) = id.strip_prefix("local-")?.split_once('-')?;
        let (s, n): (u64, u64) = (s.parse().ok()?, n.parse().ok()?);
        let st = self.streams.get(&s)?;
        let first = st.events.front().map_or(st.next, |e| e.0);
        if n >= st.next || n + 1 < first {
            return None;
        }
        Some(
            st.events
                .iter()
                .filter(|e| e.0 > n)
                .map(|e| e.1.clone())
                .collect(),
        )
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
                // Kept here instead: the answer never waits on Redis' health.
                tracing::debug!(error = %e, "fleet: an SSE event was kept in memory, not in Redis");
                metrics::counter!("sentinel_http_sse_events_local_total").increment(1);
                Ok(self.local().keep(stream_id, event.clone()))
            }
        }
    }

    async fn replay_events_after(
        &self,
        last_event_id: &str,
    ) -> Result<EventStream, EventStoreError> {
        if last_event_id.starts_with("local-") {
            let events = self
                .local()
                .after(last_event_id)
                .ok_or("no such event kept on this replica")?;
            return Ok(Box::pin(futures::stream::iter(events)));
        }
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

    fn note(n: u64) -> ServerSseMessage {
        let mut e = ServerSseMessage::default();
        e.retry = Some(Duration::from_millis(n));
        e
    }

    #[test]
    fn events_sent_without_redis_resume_on_this_replica_within_bounds() {
        let mut log = LocalLog::default();
        let a0 = log.keep("a", note(0));
        let b0 = log.keep("b", note(100));
        let a1 = log.keep("a", note(1));
        let a2 = log.keep("a", note(2));
        let after = |log: &LocalLog, id: &str| {
            log.after(id).map(|v| {
                v.iter()
                    .map(|e| e.event_id.clone().unwrap())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(after(&log, &a0), Some(vec![a1.clone(), a2.clone()]));
        assert_eq!(after(&log, &a2), Some(vec![]));
        assert_eq!(after(&log, &b0), Some(vec![]));
        for bad in [
            "local-",
            "local-0",
            "local-0-9",
            "local-9-0",
            "local-x-0",
            "0",
        ] {
            assert_eq!(log.after(bad).map(|v| v.len()), None, "{bad}");
        }
        // Only the last events of a stream are kept: a resume from before them fails.
        for i in 0..LOCAL_EVENTS as u64 {
            log.keep("a", note(10 + i));
        }
        assert!(log.after(&a0).is_none());
        // Only the last streams.
        for i in 0..LOCAL_STREAMS {
            log.keep(&format!("s{i}"), note(0));
        }
        assert_eq!(log.streams.len(), LOCAL_STREAMS);
        assert_eq!(log.numbers.len(), LOCAL_STREAMS);
        assert!(log.after(&b0).is_none());
    }

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
