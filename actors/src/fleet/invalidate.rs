//! `refresh_cache` across the fleet: the replica that is asked marks the package's
//! (or every) copy in L2 stale (an invalidation mark on Redis' clock: copies fetched
//! at or before it are served only as fallbacks, so stale-if-error still works) and
//! appends to a stream; every other replica reads the stream each second and drops
//! its own in-memory copies. A stream rather than pub/sub, so a replica that missed a
//! second (a slow poll, a reconnect) still catches up from its last id. The same stream
//! carries the outcomes of shared breaker probes (`probe.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::client::FleetClient;
use super::probe::ProbeSink;
use crate::cache::SharedCache;
use sentinel_core::model::PackageName;

/// Marks and appends in one script. KEYS: the mark, the stream. ARGV: package or `*`,
/// replica id, mark TTL ms.
const PUBLISH: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], now, 'PX', tonumber(ARGV[3]))
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', 10000, '*', 'p', ARGV[1], 'by', ARGV[2])
";

static PUBLISH_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(PUBLISH));

/// How often a replica reads the stream.
const POLL: Duration = Duration::from_secs(1);

type Entries = Vec<(String, Vec<(String, String)>)>;

impl FleetClient {
    /// Tells the fleet that `package` (or everything) was invalidated here; in the
    /// background, never on the caller's path.
    pub(crate) fn publish_invalidation(self: &Arc<Self>, package: Option<&PackageName>) {
        let me = self.clone();
        let p = package.map(|p| p.as_str().to_string());
        tokio::spawn(async move {
            let mark = me.keys.invalidated(p.as_deref());
            let stream = me.keys.invalidations();
            let what = p.unwrap_or_else(|| "*".into());
            // Longer than any copy lives in L2 (30 days fresh + the stale retention).
            let ttl = 31 * 24 * 3600 * 1000 + me.cfg.l2_stale_retention_ms;
            let replica = me.replica.clone();
            let _: Result<String, _> = me
                .run("invalidate", |mut c| async move {
                    PUBLISH_SCRIPT
                        .key(mark)
                        .key(stream)
                        .arg(what)
                        .arg(replica)
                        .arg(ttl)
                        .invoke_async(&mut c)
                        .await
                })
                .await;
        });
    }

    /// Reads the stream every second until shutdown and drops the in-memory copies
    /// other replicas invalidated. Starts from the stream's end at the first read.
    pub(crate) fn spawn_invalidation_reader(
        self: &Arc<Self>,
        cache: SharedCache,
        probes: ProbeSink,
        shutdown: CancellationToken,
    ) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut last: Option<String> = None;
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(me) = me.upgrade() else { return };
                me.read_invalidations(&cache, &probes, &mut last).await;
            }
        });
    }

    async fn read_invalidations(
        &self,
        cache: &SharedCache,
        probes: &ProbeSink,
        last: &mut Option<String>,
    ) {
        let stream = self.keys.invalidations();
        let Some(from) = last.clone() else {
            // First read: start after the newest entry (older ones predate this replica).
            let newest: Result<Entries, _> = self
                .run("invalidations", |mut c| {
                    let stream = stream.clone();
                    async move {
                        redis::cmd("XREVRANGE")
                            .arg(stream)
                            .arg("+")
                            .arg("-")
                            .arg("COUNT")
                            .arg(1)
                            .query_async(&mut c)
                            .await
                    }
                })
                .await;
            if let Ok(e) = newest {
                *last = Some(e.first().map_or_else(|| "0-0".into(), |(id, _)| id.clone()));
            }
            return;
        };
        let read: Result<Entries, _> = self
            .run("invalidations", |mut c| async move {
                redis::cmd("XRANGE")
                    .arg(stream)
                    .arg(format!("({from}"))
                    .arg("+")
                    .arg("COUNT")
                    .arg(500)
                    .query_async(&mut c)
                    .await
            })
            .await;
        let Ok(entries) = read else { return };
        for (id, fields) in entries {
            *last = Some(id);
            let field = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
            if field("by") == Some(self.replica.as_str()) {
                continue;
            }
            // Another replica's breaker probe (`probe.rs`), when this one shares them.
            if field("probe").is_some() {
                if self.cfg.share_probes {
                    self.apply_probe(probes, &fields);
                }
                continue;
            }
            match field("p") {
                Some("*") => {
                    cache.invalidate(None);
                }
                Some(p) => {
                    // Not a name this replica would accept: ignored (untrusted input).
                    if let Ok(name) = PackageName::parse(p) {
                        cache.invalidate(Some(&name));
                    }
                }
                None => continue,
            }
            self.counters.invalidations_applied.fetch_add(1, Relaxed);
        }
    }
}
