//! The fleet's upstream requests per minute (FLEET.md 5.12). Every HTTP attempt a
//! replica sends to an upstream is counted where the engine counts its own attempts
//! (`FetchContext::count_attempt`): an atomic add, nothing else on the request's path.
//! Once a second a task adds what was counted to one hash per upstream and origin,
//! `<ns>:v1:stats:<up>:<o>`, field = minute on Redis' clock, and reads the last 11
//! minutes back in the same script: so `health` / `get_metrics` on any replica show the
//! fleet's requests this minute, last minute (the
//! `sentinel_fleet_upstream_requests_minute{upstream}` gauge) and in the last 10, and
//! `fleet status` lists the 10 minutes.
//!
//! A hash per upstream rather than a key per minute: the script declares every key it
//! touches (as a Redis Cluster needs) while the minute comes from Redis' clock; fields
//! older than 10 minutes are deleted by the script, the key expires 11 minutes after
//! its last count. Counts that cannot be written (Redis away) are dropped, not carried
//! into a later minute: the figure is the fleet's as far as Redis heard it.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use sentinel_core::model::Upstream;
use tokio_util::sync::CancellationToken;

use super::FleetRate;
use super::client::{FleetClient, FleetError};
use super::keys::fingerprint;

/// How often counts are written.
const FLUSH: Duration = Duration::from_secs(1);
/// How often the figures are read when nothing was counted.
const READ_IDLE: Duration = Duration::from_secs(5);

/// Adds the counts and reads the last [`MINUTES`] minutes, newest first. KEYS: one hash
/// per upstream. ARGV: one count per key. A hash with more than 64 fields is not ours
/// (ours has at most 12): it is deleted.
const COUNT: &str = r"
local t = redis.call('TIME')
local m = math.floor(tonumber(t[1]) / 60)
local out = {}
for i, k in ipairs(KEYS) do
  local n = tonumber(ARGV[i]) or 0
  if redis.call('HLEN', k) > 64 then redis.call('DEL', k) end
  if n > 0 then
    redis.call('HINCRBY', k, m, n)
    redis.call('PEXPIRE', k, 11 * 60000)
    if redis.call('HLEN', k) > 11 then
      for _, f in ipairs(redis.call('HKEYS', k)) do
        local fm = tonumber(f)
        if fm == nil or fm < m - 10 then redis.call('HDEL', k, f) end
      end
    end
  end
  local r = {}
  for j = 0, 10 do
    local v = tonumber(redis.call('HGET', k, m - j)) or 0
    if v < 0 then v = 0 end
    r[j + 1] = v
  end
  out[i] = r
end
return out
";

static COUNT_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(COUNT));

impl FleetClient {
    /// One HTTP attempt sent to `up` (an atomic add; written within a second).
    pub(crate) fn count_request(&self, up: Upstream) {
        self.rates.pending[up.index()].fetch_add(1, Relaxed);
    }

    async fn flush_rates(
        &self,
        origins: &[String; Upstream::COUNT],
        counts: &[u64; Upstream::COUNT],
    ) -> Result<(), FleetError> {
        let mut inv = COUNT_SCRIPT.prepare_invoke();
        for (i, up) in Upstream::ALL.iter().enumerate() {
            inv.key(self.keys.stats(*up, &origins[i]));
            inv.arg(counts[i]);
        }
        let minutes: Vec<Vec<i64>> = self
            .run(
                "rates",
                |mut c| async move { inv.invoke_async(&mut c).await },
            )
            .await?;
        let seen: Vec<FleetRate> = Upstream::ALL
            .iter()
            .zip(minutes)
            .map(|(up, m)| {
                let at = |j: usize| m.get(j).map_or(0, |v| u64::try_from(*v).unwrap_or(0));
                FleetRate {
                    upstream: up.as_str().to_string(),
                    this_minute: at(0),
                    last_minute: at(1),
                    last_10_minutes: (0..10).map(at).sum(),
                }
            })
            .collect();
        for r in &seen {
            metrics::gauge!("sentinel_fleet_upstream_requests_minute", "upstream" => r.upstream.clone())
                .set(r.last_minute as f64);
        }
        *self.rates.seen.lock().unwrap_or_else(|p| p.into_inner()) = seen;
        Ok(())
    }

    /// Writes the counts every [`FLUSH`] (reads only every [`READ_IDLE`] when nothing
    /// was counted) until shutdown.
    pub(crate) fn spawn_rates(
        self: &Arc<Self>,
        base_url: impl Fn(Upstream) -> String,
        shutdown: CancellationToken,
    ) {
        let origins: [String; Upstream::COUNT] =
            std::array::from_fn(|i| fingerprint(&base_url(Upstream::ALL[i])));
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut idle = 0u32;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(me) = me.upgrade() else { return };
                let counts: [u64; Upstream::COUNT] =
                    std::array::from_fn(|i| me.rates.pending[i].swap(0, Relaxed));
                idle += 1;
                if counts.iter().all(|n| *n == 0) && idle < READ_IDLE.as_secs() as u32 {
                    continue;
                }
                idle = 0;
                // Dropped when Redis is away (see the module).
                let _ = me.flush_rates(&origins, &counts).await;
            }
        });
    }

    /// The fleet's requests per upstream as last read: only upstreams with some.
    pub(crate) fn rates_seen(&self) -> Vec<FleetRate> {
        self.rates
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|r| r.last_10_minutes + r.last_minute > 0)
            .cloned()
            .collect()
    }
}
