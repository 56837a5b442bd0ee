//! Resumable SSE across replicas (FLEET.md 5.10): the bytes behind the product's rmcp
//! `EventStore` (`src/mcp/event_store.rs`). Every SSE event rmcp sends is appended to
//! a Redis stream, one per SSE stream, before it goes out; a client whose connection
//! was cut reconnects with `Last-Event-ID` (to any replica) and receives the events
//! after it from that stream.
//!
//! - Key: `<ns>:v1:mcp:sse:<tag>`, `tag` = 128 bits of SHA-256 of this process's random
//!   instance nonce and rmcp's stream id (rmcp's stream ids are only unique per
//!   process: a restored session starts its request counter again on another replica).
//! - Event id sent to the client: `<tag>.<redis entry id>`: globally unique, and it
//!   locates its stream. A header is untrusted: anything else is refused.
//! - `XADD ... MAXLEN <mcp_sse_max_events>` and `PEXPIRE <mcp_sse_retention_ms>` in
//!   one atomic round trip, so the event is committed before its id is sent.
//! - Values are capped both ways: an event over `max_value_bytes` is not written (the
//!   caller sends it with an id no replica can resume); on replay a script refuses any
//!   value over the cap and a total over [`MAX_REPLAY_BYTES`] without sending them.
//! - A resume after an id that is no longer in the stream (trimmed by `MAXLEN` or
//!   expired) is an error, never a replay with a silent gap.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use sha2::{Digest, Sha256};

use super::client::{FleetClient, FleetError};

/// Largest replay sent back for one `Last-Event-ID`, bytes.
pub(crate) const MAX_REPLAY_BYTES: usize = 16 * 1024 * 1024;

/// Length of a stream's tag (hex of 128 bits).
const TAG_LEN: usize = 32;

/// Events after `ARGV[1]` (exclusive) in order, as a flat `{id, value, ...}` array.
/// KEYS: the stream. ARGV: the last id, most events, cap per value, total cap.
/// `false`: no such stream (unknown or expired); `-2`: the last id is not in the
/// stream (trimmed, or never ours); `-1`: a value or the total over its cap.
const REPLAY: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return -2 end
local r = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', tonumber(ARGV[2]))
local out, total = {}, 0
for _, e in ipairs(r) do
  local f = e[2]
  if #f ~= 2 or f[1] ~= 'd' then return -1 end
  local n = string.len(f[2])
  total = total + n
  if n > tonumber(ARGV[3]) or total > tonumber(ARGV[4]) then return -1 end
  out[#out + 1] = e[1]
  out[#out + 1] = f[2]
end
return out
";

static REPLAY_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(REPLAY));

/// Why an event could not be kept or replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseLogError {
    /// The event is larger than `fleet.max_value_bytes`.
    #[error("SSE event of {0} bytes is over the fleet's cap")]
    TooLarge(usize),
    /// Redis did not answer in time, failed, or its gate is open.
    #[error("the fleet's Redis is unavailable ({0})")]
    Unavailable(&'static str),
    /// The `Last-Event-ID` is not one of the fleet's event ids.
    #[error("not a resumable event id")]
    BadId,
    /// The stream is unknown or expired.
    #[error("no such SSE stream (unknown or expired)")]
    Unknown,
    /// The last event is no longer in its stream: what followed it may be lost.
    #[error("the event is no longer kept (its stream was trimmed); cannot resume without a gap")]
    Trimmed,
    /// What Redis holds is not what this replica wrote (over a cap, or malformed).
    #[error("the stored SSE events are malformed or over the cap")]
    Malformed,
}

impl From<FleetError> for SseLogError {
    fn from(e: FleetError) -> Self {
        SseLogError::Unavailable(match e {
            FleetError::Skipped => "gate open",
            FleetError::Timeout => "no answer within the deadline",
            FleetError::Redis => "error",
        })
    }
}

/// The fleet's log of SSE events, from [`crate::EngineHandle::fleet_sse`]. Cheap to
/// clone.
#[derive(Clone)]
pub struct FleetSse {
    client: Arc<FleetClient>,
    /// Random per process: two processes' rmcp stream ids never share a key.
    instance: Arc<str>,
}

impl std::fmt::Debug for FleetSse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetSse")
            .field("replica", &self.client.replica)
            .finish()
    }
}

/// Whether `id` is a Redis stream entry id (`<ms>-<seq>`, digits only).
fn is_entry_id(id: &str) -> bool {
    let Some((ms, seq)) = id.split_once('-') else {
        return false;
    };
    [ms, seq]
        .iter()
        .all(|p| (1..=20).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Splits a client's `Last-Event-ID` into (tag, entry id); `None` unless well formed.
pub(crate) fn parse_event_id(id: &str) -> Option<(&str, &str)> {
    let (tag, entry) = id.split_once('.')?;
    let hex = tag.len() == TAG_LEN && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (hex && is_entry_id(entry)).then_some((tag, entry))
}

impl FleetSse {
    pub(crate) fn new(client: Arc<FleetClient>) -> Self {
        FleetSse {
            client,
            instance: format!("{:032x}", rand::random::<u128>()).into(),
        }
    }

    fn tag(&self, stream_id: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.instance.as_bytes());
        h.update([0]);
        h.update(stream_id.as_bytes());
        h.finalize()[..TAG_LEN / 2]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn cap(&self) -> usize {
        usize::try_from(self.client.cfg.max_value_bytes).unwrap_or(usize::MAX)
    }

    /// Appends `value` to the Redis stream of rmcp's `stream_id`: the event's id, once
    /// Redis has it.
    pub async fn append(&self, stream_id: &str, value: &[u8]) -> Result<String, SseLogError> {
        if value.len() > self.cap() {
            return Err(SseLogError::TooLarge(value.len()));
        }
        let tag = self.tag(stream_id);
        let key = self.client.keys.mcp_sse(&tag);
        let cfg = &self.client.cfg;
        let (max, ttl) = (cfg.mcp_sse_max_events, cfg.mcp_sse_retention_ms);
        let value = value.to_vec();
        let (entry, _): (String, i64) = self
            .client
            .run("mcp_sse_append", |mut c| async move {
                redis::pipe()
                    .atomic()
                    .cmd("XADD")
                    .arg(&key)
                    .arg("MAXLEN")
                    .arg(max)
                    .arg("*")
                    .arg("d")
                    .arg(value)
                    .cmd("PEXPIRE")
                    .arg(&key)
                    .arg(ttl)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        if !is_entry_id(&entry) {
            return Err(SseLogError::Malformed);
        }
        self.client.counters.sse_events_stored.fetch_add(1, Relaxed);
        Ok(format!("{tag}.{entry}"))
    }

    /// The events after `last_event_id` in its stream, in order, as (event id, value).
    pub async fn after(&self, last_event_id: &str) -> Result<Vec<(String, Vec<u8>)>, SseLogError> {
        let (tag, entry) = parse_event_id(last_event_id).ok_or(SseLogError::BadId)?;
        let key = self.client.keys.mcp_sse(tag);
        let cfg = &self.client.cfg;
        let (max, cap) = (cfg.mcp_sse_max_events, self.cap());
        let entry_arg = entry.to_string();
        let v: redis::Value = self
            .client
            .run("mcp_sse_replay", |mut c| async move {
                REPLAY_SCRIPT
                    .key(key)
                    .arg(entry_arg)
                    .arg(max)
                    .arg(cap)
                    .arg(MAX_REPLAY_BYTES)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let out = decode_replay(tag, v).inspect_err(|e| {
            if *e == SseLogError::Malformed {
                self.client.counters.l2_rejected.fetch_add(1, Relaxed);
            }
        })?;
        self.client.counters.sse_replays.fetch_add(1, Relaxed);
        Ok(out)
    }
}

/// The replay script's answer, untrusted: ids checked, sizes checked again.
fn decode_replay(tag: &str, v: redis::Value) -> Result<Vec<(String, Vec<u8>)>, SseLogError> {
    let items = match v {
        redis::Value::Nil => return Err(SseLogError::Unknown),
        redis::Value::Int(-2) => return Err(SseLogError::Trimmed),
        redis::Value::Array(items) if items.len() % 2 == 0 => items,
        _ => return Err(SseLogError::Malformed),
    };
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut total = 0usize;
    let mut it = items.into_iter();
    while let (Some(id), Some(value)) = (it.next(), it.next()) {
        let (redis::Value::BulkString(id), redis::Value::BulkString(value)) = (id, value) else {
            return Err(SseLogError::Malformed);
        };
        let id = String::from_utf8(id).map_err(|_| SseLogError::Malformed)?;
        total += value.len();
        if !is_entry_id(&id) || total > MAX_REPLAY_BYTES {
            return Err(SseLogError::Malformed);
        }
        out.push((format!("{tag}.{id}"), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_event_ids_locate_a_stream() {
        let tag = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            parse_event_id(&format!("{tag}.1700000000000-0")),
            Some((tag, "1700000000000-0"))
        );
        for bad in [
            "",
            "0",
            "local-3",
            tag,
            &format!("{tag}.1-"),
            &format!("{tag}.-1"),
            &format!("{tag}.1-2-3"),
            &format!("{tag}.1-x"),
            &format!("{}.1-0", tag.to_uppercase()),
            &format!("{tag}0.1-0"),
            &format!("{tag}.1-0\r\nx"),
            &format!("{tag}.{}-0", "9".repeat(21)),
        ] {
            assert_eq!(parse_event_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_replay_from_redis_is_checked_before_it_is_used() {
        let tag = "0123456789abcdef0123456789abcdef";
        let b = |s: &str| redis::Value::BulkString(s.as_bytes().to_vec());
        assert_eq!(
            decode_replay(tag, redis::Value::Nil),
            Err(SseLogError::Unknown)
        );
        assert_eq!(
            decode_replay(tag, redis::Value::Int(-2)),
            Err(SseLogError::Trimmed)
        );
        assert_eq!(
            decode_replay(tag, redis::Value::Int(-1)),
            Err(SseLogError::Malformed)
        );
        assert_eq!(
            decode_replay(tag, redis::Value::Array(vec![b("1-0")])),
            Err(SseLogError::Malformed)
        );
        assert_eq!(
            decode_replay(tag, redis::Value::Array(vec![b("not an id"), b("{}")])),
            Err(SseLogError::Malformed)
        );
        assert_eq!(
            decode_replay(tag, redis::Value::Array(vec![b("5-1"), b("{}")])),
            Ok(vec![(format!("{tag}.5-1"), b"{}".to_vec())])
        );
    }
}
