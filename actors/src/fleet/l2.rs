//! L2: the fleet's shared document cache in Redis. On an L1 miss, before the
//! upstream, one round trip reads the kept document and Redis' own "now"; after a
//! fetch the document is written in the background (never on the answer path), fenced
//! by its fetch time on Redis' clock so a late writer never replaces a newer copy.
//! TTL in Redis = fresh TTL + `l2_stale_retention_ms`.
//!
//! One fetch per document across the fleet: the read is a get-or-lease. A fresh copy
//! is returned; otherwise the replica takes the document's lease (`SET NX PX`, 3 s,
//! its value the replica's id) in the same script, or learns that another replica
//! holds it. A holder fetches and its fill releases the lease (compare-and-delete, in
//! the write script). A replica that found the lease held answers from its stale copy
//! at once when it has one (the flight's fallback), else waits until the copy appears
//! (woken by the holder's `filled` event, `events.rs`, or by polling L2 at 25, 50,
//! 100, 200 ms as the backstop), the lease expires (holder gone: it takes over) or the
//! answer budget ends, then fetches itself.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::time::Instant;

use super::client::FleetClient;
use super::codec::{self, L2Doc};
use sentinel_core::model::Query;

/// `{value, at, now, lease, invalidated}`: the value and its fetch time (Redis ms),
/// Redis' clock, the lease (0 not asked: the copy is fresh; 1 taken by us; 2 held by
/// another), and whether `refresh_cache` marked the copy stale since it was fetched.
/// KEYS: document, lease, the package's and everything's invalidation marks. ARGV:
/// fresh ms, replica id, lease ms, take (0|1).
const READ: &str = r"
local v = redis.call('HMGET', KEYS[1], 'b', 'at')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = tonumber(v[2] or '')
local inv = math.max(tonumber(redis.call('GET', KEYS[3]) or '0') or 0,
  tonumber(redis.call('GET', KEYS[4]) or '0') or 0)
local marked = 0
if at and at <= inv then marked = 1 end
if (v[1] and at and marked == 0 and now - at < tonumber(ARGV[1])) or ARGV[4] == '0' then
  return {v[1], v[2], now, 0, marked}
end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', tonumber(ARGV[3])) then
  return {v[1], v[2], now, 1, marked}
end
if redis.call('GET', KEYS[2]) == ARGV[2] then return {v[1], v[2], now, 1, marked} end
return {v[1], v[2], now, 2, marked}
";

/// Writes `b` with `at = now - age`, unless the key holds a newer copy (fencing),
/// releases this replica's lease and tells the waiters (`filled <key>` on the events
/// channel; a newer copy is there for them either way). KEYS: document, lease. ARGV:
/// value, age ms, TTL ms, replica id, events channel.
const WRITE: &str = r"
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
local t = redis.call('TIME')
local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[2])
local old = tonumber(redis.call('HGET', KEYS[1], 'at') or '0') or 0
local wrote = 0
if old <= at then
  redis.call('HSET', KEYS[1], 'b', ARGV[1], 'at', at)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  wrote = 1
end
redis.call('PUBLISH', ARGV[5], 'filled ' .. KEYS[1])
return wrote
";

/// How long a lease lasts: a holder that dies frees it this long after taking it.
const LEASE: Duration = Duration::from_secs(3);

/// The read script's reply: value, fetch time, Redis' now, lease, invalidated.
type ReadReply = (Option<Vec<u8>>, Option<i64>, i64, u8, u8);

struct Read {
    copy: Option<L2Copy>,
    held_elsewhere: bool,
}

/// The fleet's copy of a document.
pub(crate) struct L2Copy {
    pub(crate) doc: L2Doc,
    /// Its age on Redis' clock.
    pub(crate) age: Duration,
    /// `refresh_cache` marked it stale since it was fetched (kept for stale-if-error).
    pub(crate) invalidated: bool,
}

static READ_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(READ));
static WRITE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(WRITE));

impl FleetClient {
    fn doc_key(&self, q: &Query, base_url: &str) -> String {
        self.keys.doc(q.upstream(), base_url, &q.to_string())
    }

    fn lease_key(doc_key: &str) -> String {
        format!("{doc_key}:lease")
    }

    fn signing_key(&self) -> Option<&[u8]> {
        self.cfg.signing_key.as_deref().map(str::as_bytes)
    }

    /// One get-or-lease round trip (see the module's comment).
    async fn read(&self, q: &Query, key: &str, fresh: Duration, take: bool) -> Option<Read> {
        let lease = Self::lease_key(key);
        let marks = [
            self.keys.invalidated(q.package().map(|p| p.as_str())),
            self.keys.invalidated(None),
        ];
        let r: Result<ReadReply, _> = self
            .run("l2_get_or_lease", |mut c| async move {
                READ_SCRIPT
                    .key(key)
                    .key(lease)
                    .key(&marks[0])
                    .key(&marks[1])
                    .arg(fresh.as_millis() as u64)
                    .arg(&self.replica)
                    .arg(LEASE.as_millis() as u64)
                    .arg(u8::from(take))
                    .invoke_async(&mut c)
                    .await
            })
            .await;
        let (bytes, at, now, lease, marked) = r.ok()?;
        let c = &self.counters;
        let copy = match (bytes, at) {
            (Some(bytes), Some(at)) => {
                match codec::decode(
                    &bytes,
                    key,
                    self.signing_key(),
                    self.cfg.max_value_bytes as usize,
                ) {
                    Ok(doc) => {
                        c.l2_hits.fetch_add(1, Relaxed);
                        // A copy dated in Redis' future is treated as just fetched.
                        let age = Duration::from_millis(now.saturating_sub(at).max(0) as u64);
                        Some(L2Copy {
                            doc,
                            age,
                            invalidated: marked == 1,
                        })
                    }
                    Err(why) => {
                        c.l2_rejected.fetch_add(1, Relaxed);
                        metrics::counter!("sentinel_fleet_l2_rejected_total").increment(1);
                        tracing::debug!(?why, "fleet: L2 value refused; treated as a miss");
                        None
                    }
                }
            }
            _ => {
                c.l2_misses.fetch_add(1, Relaxed);
                None
            }
        };
        Some(Read {
            copy,
            held_elsewhere: lease == 2,
        })
    }

    /// The fleet's copy of `q` (with its age on Redis' clock) for an L1 miss, waiting
    /// up to `until` while another replica holds the document's lease and there is no
    /// copy at all; `None` means fetch it here. `fresh` is the document's fresh TTL.
    pub(crate) async fn l2_get(
        &self,
        q: &Query,
        base_url: &str,
        fresh: Duration,
        until: Instant,
    ) -> Option<L2Copy> {
        let key = self.doc_key(q, base_url);
        let mut r = self.read(q, &key, fresh, true).await?;
        let mut poll = Duration::from_millis(self.cfg.lease_poll_ms);
        // Held elsewhere with no copy to fall back on: wait for the holder's fill (a
        // stale copy is the flight's fallback while this replica asks too), woken by
        // its `filled` event (`events.rs`) or, failing that, at the next poll.
        let fill = (r.held_elsewhere && r.copy.is_none()).then(|| self.fill_waiters.get(&key));
        while r.held_elsewhere && r.copy.is_none() {
            let Some(fill) = &fill else { break };
            if Instant::now() + poll > until {
                break;
            }
            self.counters.lease_waits.fetch_add(1, Relaxed);
            tokio::select! {
                _ = fill.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
            poll = (poll * 2).min(Duration::from_millis(200).max(poll));
            // Polls take the lease too: a holder that died leaves it to expire.
            r = self.read(q, &key, fresh, true).await?;
        }
        r.copy
    }

    /// Writes `doc` (fetched `age` ago, fresh for `fresh_for`) in the background.
    pub(crate) fn l2_put(
        self: &Arc<Self>,
        q: &Query,
        base_url: &str,
        doc: L2Doc,
        age: Duration,
        fresh_for: Duration,
    ) {
        let key = self.doc_key(q, base_url);
        let lease = Self::lease_key(&key);
        let replica = self.replica.clone();
        let events = self.keys.events();
        let me = self.clone();
        tokio::spawn(async move {
            let max = me.cfg.max_value_bytes as usize;
            let Some(bytes) = codec::encode(&doc, &key, me.signing_key(), max) else {
                return;
            };
            let ttl = fresh_for
                .saturating_add(Duration::from_millis(me.cfg.l2_stale_retention_ms))
                .as_millis()
                .max(1) as u64;
            let age_ms = age.as_millis() as u64;
            let r: Result<i64, _> = me
                .run("l2_put", |mut c| async move {
                    WRITE_SCRIPT
                        .key(key)
                        .key(lease)
                        .arg(bytes)
                        .arg(age_ms)
                        .arg(ttl)
                        .arg(replica)
                        .arg(events)
                        .invoke_async(&mut c)
                        .await
                })
                .await;
            if r == Ok(1) {
                me.counters.l2_writes.fetch_add(1, Relaxed);
            }
        });
    }
}
