//! Breakers shown fleet-wide (FLEET.md 5.8, "shared evidence"). Breakers stay per
//! replica and fed only by their own upstream outcomes; what the fleet shares is what
//! they say. Each replica writes its state of every upstream's breaker into one hash
//! per upstream and origin, `<ns>:v1:breakers:<up>:<o>`: field = replica id, value =
//! `<state>:<expiry, Redis ms>`, on every transition and at least every heartbeat
//! (5 s); an entry not refreshed for [`ENTRY_TTL_MS`] is dropped, so a replica that
//! died stops counting. The same script reads the hashes back: this replica's
//! `health` / `/healthz` / `get_metrics` then say "pypistats: open on 3 of 5 replicas"
//! (`FleetReport::breakers`). With Redis unreachable nothing is written and the last
//! view read is kept, marked by the report's mode (`degraded`).

use std::sync::Arc;
use std::time::Duration;

use sentinel_core::model::Upstream;
use sentinel_core::policy::BreakerState;
use tokio_util::sync::CancellationToken;

use super::FleetBreaker;
use super::client::{FleetClient, FleetError};
use super::keys::fingerprint;

/// How long a replica's entry counts without being refreshed (three heartbeats).
pub(crate) const ENTRY_TTL_MS: u64 = 15_000;
/// How often each replica refreshes its entries when nothing changed.
const REFRESH: Duration = Duration::from_secs(5);
/// Largest hash read back (a planted huge one is ignored, not read whole).
const MAX_FIELDS: u64 = 4_096;

/// Writes this replica's states and reads every replica's. KEYS: one hash per upstream.
/// ARGV: replica id, entry TTL ms, max fields, then one state per key. Returns one
/// `{open, half_open, closed}` per key (`{-1, -1, -1}`: a hash over the cap).
const SHARE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local out = {}
for i, k in ipairs(KEYS) do
  redis.call('HSET', k, ARGV[1], ARGV[3 + i] .. ':' .. (now + ttl))
  redis.call('PEXPIRE', k, ttl * 4)
  if redis.call('HLEN', k) > tonumber(ARGV[3]) then
    out[i] = {-1, -1, -1}
  else
    local all = redis.call('HGETALL', k)
    local o, h, c = 0, 0, 0
    for j = 1, #all, 2 do
      local st, exp = string.match(all[j + 1], '^([%a_]+):(%d+)$')
      if st == nil or tonumber(exp) < now then redis.call('HDEL', k, all[j])
      elseif st == 'open' then o = o + 1
      elseif st == 'half_open' then h = h + 1
      else c = c + 1 end
    end
    out[i] = {o, h, c}
  end
end
return out
";

static SHARE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(SHARE));

/// What a replica's breakers say, for the share loop: built by the engine from its
/// breaker board.
pub(crate) struct BreakerSource {
    /// Fingerprint of each upstream's base URL, by `Upstream::index`.
    pub(crate) origins: [String; Upstream::COUNT],
    /// The state of an upstream's breaker now.
    pub(crate) state: Arc<dyn Fn(Upstream) -> BreakerState + Send + Sync>,
    /// Notified on every change of a breaker's view.
    pub(crate) changed: Arc<tokio::sync::Notify>,
}

impl BreakerSource {
    pub(crate) fn new(
        base_url: impl Fn(Upstream) -> String,
        state: Arc<dyn Fn(Upstream) -> BreakerState + Send + Sync>,
        changed: Arc<tokio::sync::Notify>,
    ) -> Self {
        BreakerSource {
            origins: std::array::from_fn(|i| fingerprint(&base_url(Upstream::ALL[i]))),
            state,
            changed,
        }
    }

    fn states(&self) -> [BreakerState; Upstream::COUNT] {
        std::array::from_fn(|i| (self.state)(Upstream::ALL[i]))
    }
}

impl FleetClient {
    /// Writes `states` and reads every replica's (one script, one round trip).
    async fn share_breakers(
        &self,
        src: &BreakerSource,
        states: &[BreakerState; Upstream::COUNT],
    ) -> Result<(), FleetError> {
        let mut inv = SHARE_SCRIPT.prepare_invoke();
        for (i, up) in Upstream::ALL.iter().enumerate() {
            inv.key(self.keys.breakers(*up, &src.origins[i]));
        }
        inv.arg(&self.replica).arg(ENTRY_TTL_MS).arg(MAX_FIELDS);
        for s in states {
            inv.arg(s.to_string());
        }
        let counts: Vec<(i64, i64, i64)> = self
            .run(
                "breakers",
                |mut c| async move { inv.invoke_async(&mut c).await },
            )
            .await?;
        let seen: Vec<FleetBreaker> = Upstream::ALL
            .iter()
            .zip(counts)
            .filter(|(_, (o, h, c))| *o >= 0 && *h >= 0 && *c >= 0)
            .map(|(up, (o, h, c))| FleetBreaker {
                upstream: up.as_str().to_string(),
                open: u32::try_from(o).unwrap_or(u32::MAX),
                half_open: u32::try_from(h).unwrap_or(u32::MAX),
                closed: u32::try_from(c).unwrap_or(u32::MAX),
            })
            .collect();
        *self.breakers_seen.lock().unwrap_or_else(|p| p.into_inner()) = seen;
        Ok(())
    }

    /// Shares this replica's breaker states until shutdown: at once on a transition,
    /// else every [`REFRESH`].
    pub(crate) fn spawn_breaker_share(
        self: &Arc<Self>,
        src: BreakerSource,
        shutdown: CancellationToken,
    ) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut last: Option<[BreakerState; Upstream::COUNT]> = None;
            let mut tick = tokio::time::interval(REFRESH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let due = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => true,
                    _ = src.changed.notified() => false,
                };
                let states = src.states();
                if !due && last == Some(states) {
                    continue;
                }
                let Some(me) = me.upgrade() else { return };
                last = me.share_breakers(&src, &states).await.ok().map(|()| states);
            }
        });
    }

    /// The breakers of the fleet as last read: only upstreams some replica wrote.
    pub(crate) fn breakers_seen(&self) -> Vec<FleetBreaker> {
        self.breakers_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|b| b.replicas() > 0)
            .cloned()
            .collect()
    }
}
