//! L2: the fleet's shared document cache in Redis. On an L1 miss, before the
//! upstream, one round trip reads the kept document and Redis' own "now"; after a
//! fetch the document is written in the background (never on the answer path), fenced
//! by its lease's grant time so a late writer never replaces a newer copy.
//! TTL in Redis = fresh TTL + `l2_stale_retention_ms`.
//!
//! One fetch per document across the fleet: the read is a get-or-lease. A fresh copy
//! is returned; otherwise the replica takes the document's lease (`SET NX PX`, 3 s,
//! `replica:nonce:at`, renewed every second while the fetch runs: `lease.rs`) in the
//! same script, learns that another replica holds it, or finds the failure marker a
//! holder left (`lease.rs`): then nobody fetches it until the marker expires and the
//! caller answers from its fallback chain with that failure. A holder's fill releases
//! the lease (compare-and-delete, in the write script); a failed or cancelled fetch
//! releases it too. A replica that found the lease held answers from its stale copy
//! at once when it has one (the flight's fallback), else waits until the copy appears
//! (woken by the holder's `filled`, `failed` or `released` event, `events.rs`, or by
//! polling L2 at 25, 50, 100, 200 ms as the backstop), the lease expires (holder gone:
//! it takes over) or the answer budget ends, then fetches itself.
//!
//! A document holds `b` (the value), `at` (the fencing token: the grant time of the
//! lease it was fetched under, Redis ms) and `ft` (its fetch time on Redis' clock, from
//! which its age is counted and its freshness judged; copies written before `ft`
//! existed use `at`) and `fr` (how long its writer holds it fresh, the upstream's
//! `Cache-Control` included: a copy is fresh for the shorter of that and the kind's
//! TTL). `refresh_cache`'s marks compare with `at`, the earlier of the two.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::time::Instant;

use super::client::FleetClient;
use super::codec::{self, L2Doc};
use super::lease::{self, FAILED, Failed, LEASE, Lease};
use crate::cache::CacheEntry;
use sentinel_core::model::Query;

/// `{value, ft, now, lease, invalidated, token, pttl}`: the value and its fetch time
/// (Redis ms), Redis' clock, the lease (0 not asked: the copy is fresh; 1 taken by us;
/// 2 held by another; 3 a failure marker), whether `refresh_cache` marked the copy
/// stale since it was fetched, and the lease's value when granted (or the marker) with
/// the marker's remaining life. KEYS: document, lease, the package's and everything's
/// invalidation marks. ARGV: fresh ms (the kind's TTL less the refresh lead), replica
/// id, lease ms, take (0|1), nonce (`replica:n`), the refresh lead ms. A copy whose
/// upstream said it is fresh for less (`fr`, its `Cache-Control` as the writer
/// decided it) is fresh for that less the lead.
/// A lease held under this replica's id is its own earlier flight's (one flight per
/// document per replica), left by a fetch that never released it: taken over at once.
const READ: &str = r"
local v = redis.call('HMGET', KEYS[1], 'b', 'at', 'ft', 'fr')
local fresh = tonumber(ARGV[1])
local fr = tonumber(v[4] or '')
if fr then fresh = math.min(fresh, fr - tonumber(ARGV[6])) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = tonumber(v[2] or '')
local ft = tonumber(v[3] or '') or at
local inv = math.max(tonumber(redis.call('GET', KEYS[3]) or '0') or 0,
  tonumber(redis.call('GET', KEYS[4]) or '0') or 0)
local marked = 0
if at and at <= inv then marked = 1 end
if (v[1] and ft and marked == 0 and now - ft < fresh) or ARGV[4] == '0' then
  return {v[1], ft or false, now, 0, marked, '', 0}
end
local token = ARGV[5] .. ':' .. now
if redis.call('SET', KEYS[2], token, 'NX', 'PX', tonumber(ARGV[3])) then
  return {v[1], ft or false, now, 1, marked, token, 0}
end
local cur = redis.call('GET', KEYS[2]) or ''
if string.sub(cur, 1, 7) == 'failed ' then
  return {v[1], ft or false, now, 3, marked, cur, redis.call('PTTL', KEYS[2])}
end
if string.sub(cur, 1, #ARGV[2] + 1) == ARGV[2] .. ':' then
  redis.call('SET', KEYS[2], token, 'PX', tonumber(ARGV[3]))
  return {v[1], ft or false, now, 1, marked, token, 0}
end
return {v[1], ft or false, now, 2, marked, '', 0}
";

/// Writes `b` with `ft = now - age` and `at` = the lease's grant time (or `ft` without
/// a lease), unless the key holds a copy of a newer lease (fencing), releases this
/// replica's lease and tells the waiters and the replicas holding the document in memory
/// (`filled <key> <replica>` on the events channel; a newer copy is there for them
/// either way). KEYS: document, lease. ARGV: value, age ms, TTL ms, lease token (''
/// none), events channel, grant time (0 none), replica id, fresh ms (`fr`: how long
/// the writer holds it fresh, its upstream's `Cache-Control` included).
const WRITE: &str = r"
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
local t = redis.call('TIME')
local ft = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[2])
local at = tonumber(ARGV[6])
if at == 0 then at = ft end
if ft < at then ft = at end
local old = tonumber(redis.call('HGET', KEYS[1], 'at') or '0') or 0
local wrote = 0
if old < at or (ARGV[4] == '' and old == at) then
  redis.call('HSET', KEYS[1], 'b', ARGV[1], 'at', at, 'ft', ft, 'fr', ARGV[8])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  wrote = 1
end
redis.call('PUBLISH', ARGV[5], 'filled ' .. KEYS[1] .. ' ' .. ARGV[7])
return wrote
";

/// The read script's reply (see [`READ`]).
type ReadReply = (Option<Vec<u8>>, Option<i64>, i64, u8, u8, String, i64);

struct Read {
    copy: Option<L2Copy>,
    held_elsewhere: bool,
    lease: Option<Lease>,
    failed: Option<Failed>,
}

/// The fleet's copy of a document.
pub(crate) struct L2Copy {
    pub(crate) doc: L2Doc,
    /// Its age on Redis' clock.
    pub(crate) age: Duration,
    /// `refresh_cache` marked it stale since it was fetched (kept for stale-if-error).
    pub(crate) invalidated: bool,
}

impl L2Copy {
    /// The copy as an entry of this replica's memory, with its true age. Not marked as
    /// from the store: it was fetched by a replica of this fleet, its age on Redis'
    /// clock, so it is served and refreshed like a copy this replica fetched.
    pub(crate) fn into_entry(self, cache: &crate::cache::SharedCache, q: &Query) -> CacheEntry {
        let now = Instant::now();
        let (d, age) = (self.doc, self.age);
        let kept = crate::store::KeptDocument {
            doc: d.doc,
            etag: d.etag,
            last_modified: d.last_modified,
            fetched_at_wall: cache.clock().now() - age,
            freshness: d.freshness,
        };
        let mut e = cache.kept_entry(q, crate::store::KeptCopy { kept, age }, now);
        e.from_store = false;
        if self.invalidated {
            // Marked stale by `refresh_cache` on some replica: a fallback only.
            e.fresh_for = Duration::ZERO;
        }
        e
    }
}

/// What the fleet said about a document on a miss.
#[derive(Default)]
pub(crate) struct L2Turn {
    /// Its copy (fresh, or stale as a fallback).
    pub(crate) copy: Option<L2Copy>,
    /// The lease, when this replica is to fetch it for the fleet.
    pub(crate) lease: Option<Lease>,
    /// Another replica holds the lease (and the wait, if any, ended without a copy).
    pub(crate) held_elsewhere: bool,
    /// Another replica's fetch failed a moment ago: nobody asks until it expires.
    pub(crate) failed: Option<Failed>,
}

static READ_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(READ));
static WRITE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(WRITE));

impl FleetClient {
    pub(crate) fn doc_key(&self, q: &Query, base_url: &str) -> String {
        self.keys.doc(q.upstream(), base_url, &q.to_string())
    }

    fn signing_key(&self) -> Option<&[u8]> {
        self.cfg.signing_key.as_deref().map(str::as_bytes)
    }

    /// One get-or-lease round trip (see the module's comment).
    async fn read(
        self: &Arc<Self>,
        q: &Query,
        key: &str,
        fresh: Duration,
        lead: Duration,
        take: bool,
    ) -> Option<Read> {
        let lease = lease::lease_key(key);
        let marks = [
            self.keys.invalidated(q.package().map(|p| p.as_str())),
            self.keys.invalidated(None),
        ];
        let nonce = self.nonce();
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
                    .arg(nonce)
                    .arg(lead.as_millis() as u64)
                    .invoke_async(&mut c)
                    .await
            })
            .await;
        let (bytes, at, now, lease, marked, token, pttl) = r.ok()?;
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
                        metrics::counter!("sentinel_fleet_l2_total", "result" => "hit")
                            .increment(1);
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
                metrics::counter!("sentinel_fleet_l2_total", "result" => "miss").increment(1);
                None
            }
        };
        let failed = (lease == 3)
            .then(|| lease::decode(&token, now, pttl))
            .flatten();
        Some(Read {
            copy,
            // A marker that does not decode (another version's) holds the lease too.
            held_elsewhere: lease == 2 || (lease == 3 && failed.is_none()),
            lease: (lease == 1 && !token.is_empty() && !token.starts_with(FAILED))
                .then(|| Lease::granted(self, key.to_string(), token)),
            failed,
        })
    }

    /// The fleet's copy of `q` under `key`, whatever its age, taking no lease.
    pub(crate) async fn l2_peek(self: &Arc<Self>, q: &Query, key: &str) -> Option<L2Copy> {
        self.read(q, key, Duration::ZERO, Duration::ZERO, false)
            .await?
            .copy
    }

    /// What the fleet holds of `q` on an L1 miss: its copy (with its age on Redis'
    /// clock), the lease when this replica is to fetch it, or another replica's recent
    /// failure. While another replica holds the lease and there is no copy at all it
    /// waits up to `until` (woken by the holder's events, else by polls), taking the
    /// lease over if the holder goes. `None`: Redis did not answer; fetch as one replica
    /// does. `fresh` is the document's fresh TTL.
    pub(crate) async fn l2_get(
        self: &Arc<Self>,
        q: &Query,
        base_url: &str,
        fresh: Duration,
        lead: Duration,
        until: Instant,
    ) -> Option<L2Turn> {
        let key = self.doc_key(q, base_url);
        let mut r = self.read(q, &key, fresh, lead, true).await?;
        let mut poll = Duration::from_millis(self.cfg.lease_poll_ms);
        // Held elsewhere with no copy to fall back on: wait for the holder's fill (a
        // stale copy is the flight's fallback while this replica asks too), woken by
        // its `filled` event (`events.rs`) or, failing that, at the next poll.
        let fill = (r.held_elsewhere && r.copy.is_none()).then(|| self.fill_waiters.get(&key));
        let mut waited = false;
        while r.held_elsewhere && r.copy.is_none() {
            let Some(fill) = &fill else { break };
            if Instant::now() + poll > until {
                break;
            }
            waited = true;
            self.counters.lease_waits.fetch_add(1, Relaxed);
            tokio::select! {
                _ = fill.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
            poll = (poll * 2).min(Duration::from_millis(200).max(poll));
            // Polls take the lease too: a holder that died leaves it to expire.
            r = self.read(q, &key, fresh, lead, true).await?;
        }
        if waited && r.lease.is_some() {
            // The holder released it (cancelled, our own limits) or died.
            self.counters.lease_takeovers.fetch_add(1, Relaxed);
        }
        if r.failed.is_some() {
            self.counters.failures_heard.fetch_add(1, Relaxed);
        }
        Some(L2Turn {
            copy: r.copy,
            lease: r.lease,
            held_elsewhere: r.held_elsewhere,
            failed: r.failed,
        })
    }

    /// Writes `doc` (fetched `age` ago, fresh for `fresh_for`) in the background, under
    /// `lease` when this replica fetched it holding one (its fencing token; the write
    /// releases it).
    pub(crate) fn l2_put(
        self: &Arc<Self>,
        q: &Query,
        base_url: &str,
        doc: L2Doc,
        age: Duration,
        fresh_for: Duration,
        lease: Option<Lease>,
    ) {
        let key = self.doc_key(q, base_url);
        let lease_key = lease::lease_key(&key);
        let (token, at) = lease.map(Lease::into_token).unwrap_or_default();
        let events = self.keys.events();
        let me = self.clone();
        let replica = self.replica.clone();
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
            let fresh_ms = fresh_for.as_millis() as u64;
            let r: Result<i64, _> = me
                .run("l2_put", |mut c| async move {
                    WRITE_SCRIPT
                        .key(key)
                        .key(lease_key)
                        .arg(bytes)
                        .arg(age_ms)
                        .arg(ttl)
                        .arg(token)
                        .arg(events)
                        .arg(at)
                        .arg(replica)
                        .arg(fresh_ms)
                        .invoke_async(&mut c)
                        .await
                })
                .await;
            match r {
                Ok(1) => {
                    me.counters.l2_writes.fetch_add(1, Relaxed);
                }
                Ok(_) => {
                    // Fenced off: a newer lease's copy is there.
                    me.counters.l2_fenced.fetch_add(1, Relaxed);
                }
                Err(_) => {}
            }
        });
    }
}
