//! Fleet-wide strict quotas: the same strict windows the local limiter keeps
//! (`policy::RateLimit`: e.g. pypistats' 5 per second and 30 per minute, each 2 %
//! longer than the server's), kept in Redis as one log of grant times per window and
//! checked and taken for both windows atomically in one Lua script on Redis' clock. A
//! grant may be reserved ahead up to the caller's answer budget; past it nothing is
//! taken and the answer is `deferred` with the script's exact wait, as one replica
//! does today.
//!
//! With Redis slow or down (the gate open, a call past its deadline) each replica
//! falls back to a local limiter cut to a fair share: `quota / replicas seen
//! recently`. After Redis returns, the share is kept for one full window (learning),
//! so the fleet never spends its shares and a fresh quota in the same minute.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::client::FleetClient;
use sentinel_core::model::Upstream;
use sentinel_core::policy::{RateLimit, Reservation};
use std::sync::atomic::Ordering::Relaxed;

/// Both windows checked, then both taken, at the earliest instant every window allows
/// (the local limiter's rule: a window full `limit` places back blocks until that
/// admission leaves it; a new grant never precedes the latest one).
/// KEYS: one log per window. ARGV: max wait ms, member nonce, min wait ms, then
/// (limit, window ms) per window. Returns {granted 0|1, wait ms, grants logged per
/// window} (the counts let a replica that loses Redis count the fleet's spending).
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max_wait = tonumber(ARGV[1])
local at = now + tonumber(ARGV[3])
for i = 1, #KEYS do
  local w = tonumber(ARGV[3 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - w)
  local last = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  if last[2] then at = math.max(at, tonumber(last[2])) end
end
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 + 2 * i])
  local w = tonumber(ARGV[3 + 2 * i])
  local n = redis.call('ZCARD', KEYS[i])
  if n >= limit then
    local b = redis.call('ZRANGE', KEYS[i], n - limit, n - limit, 'WITHSCORES')
    at = math.max(at, tonumber(b[2]) + w)
  end
end
local wait = at - now
local granted = 0
if wait <= max_wait then
  granted = 1
  for i = 1, #KEYS do
    local w = tonumber(ARGV[3 + 2 * i])
    redis.call('ZADD', KEYS[i], at, at .. ':' .. ARGV[2])
    redis.call('PEXPIRE', KEYS[i], wait + w + 1000)
  end
end
local counts = {}
for i = 1, #KEYS do counts[i] = redis.call('ZCARD', KEYS[i]) end
return {granted, wait, counts}
";

/// Added to every window of a fleet quota (see [`FleetQuota::new`]).
const FLEET_SLACK: Duration = Duration::from_millis(300);

/// The fleet's windows of an upstream limited by strict windows with a per-minute one
/// (pypistats, pepy); `None` for the others, which keep their per-replica limits.
pub(crate) fn fleet_windows(local: &RateLimit) -> Option<Vec<(u32, Duration)>> {
    if local.has_burst() || local.windows().len() < 2 {
        return None;
    }
    // Each replica sends its grant when Redis' answer is back and its timer fires:
    // delays that differ between replicas by more than the local 2 % margin (on a
    // loaded 2-core machine, tens of ms) bring two grants 1.02 s apart within one
    // second at the server. The fleet's windows are kept this much longer.
    Some(
        local
            .windows()
            .into_iter()
            .map(|(limit, w)| (limit, w + FLEET_SLACK))
            .collect(),
    )
}

/// How long until the next grant of the windows logged at `keys` (ms, 0: now), taking
/// nothing: the grant script with a negative longest wait (`fleet status`).
pub(crate) async fn next_slot_ms(
    c: &mut impl redis::aio::ConnectionLike,
    keys: &[String],
    windows: &[(u32, Duration)],
) -> redis::RedisResult<i64> {
    let mut inv = QUOTA.prepare_invoke();
    for k in keys {
        inv.key(k);
    }
    inv.arg(-1).arg("status").arg(0);
    for (limit, w) in windows {
        inv.arg(*limit).arg(w.as_millis() as u64);
    }
    let (_, wait, _): (u8, i64, Vec<u64>) = inv.invoke_async(c).await?;
    Ok(wait.max(0))
}

static QUOTA: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(SCRIPT));

/// The fair share of strict windows among `n` replicas: `limit / n` in the same
/// window, or one per `window · n / limit` when there are more replicas than slots.
pub(crate) fn share_windows(windows: &[(u32, Duration)], n: u32) -> Vec<(u32, Duration)> {
    let n = n.max(1);
    windows
        .iter()
        .map(|&(limit, w)| {
            let limit = limit.max(1);
            if n <= limit {
                (limit / n, w)
            } else {
                (1, w.mul_f64(f64::from(n) / f64::from(limit)))
            }
        })
        .collect()
}

struct Share {
    divisor: u32,
    limiter: RateLimit,
    /// This replica's grants of the last window (fleet and share alike), replayed
    /// into a new share limiter when the replica falls back to it or the divisor
    /// changes: what it was granted before Redis went away still counts.
    history: VecDeque<std::time::Instant>,
    /// Whether the latest reservation came from the share.
    on_share: bool,
    /// The fleet's grants in the longest window as Redis last counted them, and
    /// when. A replica that falls back to its share counts at least its part of
    /// them (`count / replicas`) as spent: the fleet's spending before Redis went
    /// away is rarely even, and a replica that had sent less than its share could
    /// otherwise add a full share on top of a minute the others had already spent.
    fleet_seen: Option<(u64, std::time::Instant)>,
}

/// One upstream's fleet quota.
pub(crate) struct FleetQuota {
    client: Arc<FleetClient>,
    keys: Vec<String>,
    windows: Vec<(u32, Duration)>,
    longest: Duration,
    /// Which of `windows` is the longest (its count is the fleet's spending).
    longest_index: usize,
    /// Its upstream, as metrics label it.
    upstream: &'static str,
    share: Mutex<Share>,
}

impl FleetQuota {
    /// A fleet quota for an upstream limited by strict windows with a per-minute one
    /// (pypistats, pepy); `None` for the others, which keep their per-replica limits.
    pub(crate) fn new(
        client: Arc<FleetClient>,
        up: Upstream,
        base_url: &str,
        local: &RateLimit,
    ) -> Option<Self> {
        let windows = fleet_windows(local)?;
        let keys = (0..windows.len())
            .map(|i| client.keys.quota(up, base_url, i))
            .collect();
        let divisor = client.share_divisor();
        let longest_index = (0..windows.len())
            .max_by_key(|&i| windows[i].1)
            .unwrap_or(0);
        Some(FleetQuota {
            longest: windows[longest_index].1,
            longest_index,
            upstream: up.as_str(),
            share: Mutex::new(Share {
                divisor,
                limiter: RateLimit::from_windows(&share_windows(&windows, divisor)),
                history: VecDeque::new(),
                on_share: false,
                fleet_seen: None,
            }),
            client,
            keys,
            windows,
        })
    }

    /// The earliest slot at or after `from`, if no later than `latest`; else when the
    /// next one is, with nothing taken. One Redis round trip at most, bounded by the
    /// call deadline; the local fair share when Redis cannot answer in time.
    pub(crate) async fn reserve(&self, from: Instant, latest: Instant) -> Reservation {
        let now = Instant::now();
        if !self.client.learning(now) {
            let min_wait = from.saturating_duration_since(now).as_millis() as u64;
            let max_wait = latest.saturating_duration_since(now).as_millis() as u64;
            let nonce = self.client.nonce();
            let r: Result<(u8, i64, Vec<u64>), _> = self
                .client
                .run("quota", |mut c| async move {
                    let mut inv = QUOTA.prepare_invoke();
                    for k in &self.keys {
                        inv.key(k);
                    }
                    inv.arg(max_wait).arg(nonce).arg(min_wait);
                    for (limit, w) in &self.windows {
                        inv.arg(*limit).arg(w.as_millis() as u64);
                    }
                    inv.invoke_async(&mut c).await
                })
                .await;
            if let Ok((granted, wait, counts)) = r {
                // Redis' "now" is when it ran the script; ours is when the answer came
                // back, so the slot is kept at or after Redis' instant.
                let at = Instant::now() + Duration::from_millis(wait.max(0) as u64);
                let c = &self.client.counters;
                let longest = counts.get(self.longest_index).copied().unwrap_or(0);
                let mut s = self.share.lock().unwrap_or_else(|p| p.into_inner());
                s.fleet_seen = Some((longest, Instant::now().into_std()));
                return if granted == 1 {
                    c.quota_granted.fetch_add(1, Relaxed);
                    metrics::counter!("sentinel_fleet_quota_total", "upstream" => self.upstream, "result" => "granted").increment(1);
                    s.history.push_back(at.into_std());
                    s.on_share = false;
                    prune(&mut s.history, now.into_std(), self.longest);
                    Reservation::At(at.into_std())
                } else {
                    c.quota_deferred.fetch_add(1, Relaxed);
                    metrics::counter!("sentinel_fleet_quota_total", "upstream" => self.upstream, "result" => "deferred").increment(1);
                    Reservation::NotBefore(at.into_std())
                };
            }
        }
        self.client.counters.quota_local_share.fetch_add(1, Relaxed);
        metrics::counter!("sentinel_fleet_quota_total", "upstream" => self.upstream, "result" => "share").increment(1);
        self.reserve_share(from, latest)
    }

    /// The local fair share (Redis down, slow, or learning).
    fn reserve_share(&self, from: Instant, latest: Instant) -> Reservation {
        let now = Instant::now().into_std();
        let divisor = self.client.share_divisor();
        let mut s = self.share.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut s.history, now, self.longest);
        if s.divisor != divisor || !s.on_share {
            let mut limiter = RateLimit::from_windows(&share_windows(&self.windows, divisor));
            for t in &s.history {
                limiter.reserve_any(*t);
            }
            // This replica's part of what the fleet had spent, at least: counted as
            // spent when Redis last said so (so it leaves the window no earlier).
            if let Some((count, seen)) = s.fleet_seen
                && now.saturating_duration_since(seen) < self.longest
            {
                let part = count.div_ceil(u64::from(divisor)) as usize;
                for _ in s.history.len()..part {
                    limiter.reserve_any(seen);
                }
            }
            s.limiter = limiter;
            s.divisor = divisor;
            s.on_share = true;
        }
        let r = s
            .limiter
            .reserve(from.into_std().max(now), latest.into_std());
        if let Reservation::At(at) = r {
            s.history.push_back(at);
        }
        r
    }
}

fn prune(history: &mut VecDeque<std::time::Instant>, now: std::time::Instant, longest: Duration) {
    while history
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) > longest)
    {
        history.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fair_shares_never_add_up_to_more_than_the_quota() {
        let w = [
            (5, Duration::from_millis(1_020)),
            (30, Duration::from_millis(61_200)),
        ];
        assert_eq!(
            share_windows(&w, 3),
            vec![
                (1, Duration::from_millis(1_020)),
                (10, Duration::from_millis(61_200))
            ]
        );
        // 50 replicas: one per 10.2 s and one per 102 s each, 30/min for the fleet.
        let s = share_windows(&w, 50);
        assert_eq!(s[0], (1, Duration::from_millis(10_200)));
        assert_eq!(s[1], (1, Duration::from_millis(102_000)));
        assert_eq!(share_windows(&w, 1), w.to_vec());
    }
}
