//! Shared breaker probes (`fleet.share_probes`, FLEET.md 5.8). Breakers stay per
//! replica; what the fleet shares is the half-open probe. When a replica's breaker is
//! due for its probe, the router first takes the upstream's probe lease
//! (`SET <ns>:v1:{probe:<up>:<o>} <replica> NX PX <open period>`). The winner probes as
//! one replica does; the others stay open until the lease ends and take the probe's
//! outcome, which the winner appends to the invalidation stream every replica already
//! reads each second (`invalidate.rs`): no extra connection or round trip, and a
//! replica that missed a second catches up from its last id, where pub/sub would drop
//! it. With Redis unreachable the lease is not known and each replica probes alone.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::time::Instant;

use super::client::FleetClient;
use super::keys::fingerprint;
use sentinel_core::model::Upstream;
use sentinel_core::policy::CallOutcome;

/// Takes the probe lease, or says who holds it and for how long. KEYS: the lease.
/// ARGV: replica id, open period ms. `{1, 0}` taken (or already ours), `{0, pttl}`.
const LEASE: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then return {1, 0} end
if redis.call('GET', KEYS[1]) == ARGV[1] then return {1, 0} end
return {0, redis.call('PTTL', KEYS[1])}
";

/// Appends the outcome to the stream; a success also shortens the lease to 2 s (the
/// breakers close, and the next opening needs a new probe), not at once: a replica
/// that is due and has not yet read the outcome (the stream is read each second)
/// would otherwise take the freed lease and send a second probe. KEYS: the stream, the
/// lease. ARGV: upstream, fingerprint, 1|0, replica id.
const OUTCOME: &str = r"
if ARGV[3] == '1' and redis.call('GET', KEYS[2]) == ARGV[4]
  and redis.call('PTTL', KEYS[2]) > 2000 then redis.call('PEXPIRE', KEYS[2], 2000) end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', 10000, '*',
  'probe', ARGV[1], 'o', ARGV[2], 'ok', ARGV[3], 'by', ARGV[4])
";

static LEASE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(LEASE));
static OUTCOME_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(OUTCOME));

/// Whose turn it is to probe an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProbeTurn {
    /// This replica holds the lease (or Redis could not say): probe as one replica.
    Ours,
    /// Another replica probes; stay open until then (its outcome comes by the stream).
    Theirs { until: Instant },
}

/// Where probe outcomes read from the stream go: this replica's HealthActor, for the
/// upstreams whose base URL matches (a private index's probe never closes PyPI's).
#[derive(Clone)]
pub(crate) struct ProbeSink {
    /// Fingerprint of each upstream's base URL, by `Upstream::index`.
    pub(crate) origins: [String; Upstream::COUNT],
    pub(crate) deliver: Arc<dyn Fn(Upstream, CallOutcome) + Send + Sync>,
}

impl ProbeSink {
    pub(crate) fn new(
        base_url: impl Fn(Upstream) -> String,
        deliver: Arc<dyn Fn(Upstream, CallOutcome) + Send + Sync>,
    ) -> Self {
        ProbeSink {
            origins: std::array::from_fn(|i| fingerprint(&base_url(Upstream::ALL[i]))),
            deliver,
        }
    }
}

impl FleetClient {
    /// Whether this replica may send the half-open probe of `up` now (see the module).
    /// `period` is the breaker's open period: the lease lasts one.
    pub(crate) async fn probe_turn(
        &self,
        up: Upstream,
        base_url: &str,
        period: Duration,
    ) -> ProbeTurn {
        let now = Instant::now();
        if let Some(until) = self.probes.get(up, now) {
            return ProbeTurn::Theirs { until };
        }
        let key = self.keys.probe(up, base_url);
        let ms = period.as_millis().clamp(1, u64::MAX as u128) as u64;
        let r: Result<(u8, i64), _> = self
            .run("probe_lease", |mut c| async move {
                LEASE_SCRIPT
                    .key(key)
                    .arg(&self.replica)
                    .arg(ms)
                    .invoke_async(&mut c)
                    .await
            })
            .await;
        match r {
            Ok((0, pttl)) if pttl > 0 => {
                self.counters.probes_deferred.fetch_add(1, Relaxed);
                // Never longer than this replica's own open period.
                let until = now + Duration::from_millis(pttl as u64).min(period);
                self.probes.set(up, Some(until));
                ProbeTurn::Theirs { until }
            }
            // Taken, or expired between the SET and the PTTL, or Redis unreachable:
            // probe as one replica does.
            _ => ProbeTurn::Ours,
        }
    }

    /// Tells the fleet how this replica's probe of `up` went (in the background).
    pub(crate) fn publish_probe(self: &Arc<Self>, up: Upstream, base_url: &str, ok: bool) {
        let me = self.clone();
        let (stream, lease) = (self.keys.invalidations(), self.keys.probe(up, base_url));
        let origin = fingerprint(base_url);
        tokio::spawn(async move {
            let replica = me.replica.clone();
            let r: Result<String, _> = me
                .run("probe_outcome", |mut c| async move {
                    OUTCOME_SCRIPT
                        .key(stream)
                        .key(lease)
                        .arg(up.as_str())
                        .arg(origin)
                        .arg(u8::from(ok))
                        .arg(replica)
                        .invoke_async(&mut c)
                        .await
                })
                .await;
            if r.is_ok() {
                me.counters.probes_published.fetch_add(1, Relaxed);
            }
        });
    }

    /// A probe outcome read from the stream (untrusted: an unknown upstream or another
    /// origin is ignored). Returns whether it was applied.
    pub(super) fn apply_probe(&self, sink: &ProbeSink, fields: &[(String, String)]) -> bool {
        let field = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
        let Some(up) =
            field("probe").and_then(|p| Upstream::ALL.into_iter().find(|u| u.as_str() == p))
        else {
            return false;
        };
        if field("o") != Some(sink.origins[up.index()].as_str()) {
            return false;
        }
        let outcome = match field("ok") {
            Some("1") => CallOutcome::Success,
            Some("0") => CallOutcome::Failure,
            _ => return false,
        };
        self.probes.set(up, None);
        (sink.deliver)(up, outcome);
        self.counters.probes_received.fetch_add(1, Relaxed);
        true
    }
}
