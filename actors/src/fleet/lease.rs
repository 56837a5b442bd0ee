//! A document's lease (FLEET.md 5.5): one replica fetches a document for the fleet.
//!
//! The lease is a string key beside the document (`<doc>:lease`), taken by the
//! get-or-lease script (`l2.rs`) with the value `replica:nonce:at`, `at` being Redis'
//! `TIME` at the grant, for 3 s. While its fetch runs the holder renews it every second
//! with a compare-and-`PEXPIRE` ([`RENEW`]), so a holder that died (its process
//! killed, its runtime gone) frees it within 3 s, long before the 15 s deadline of the
//! callers waiting for it; renewal stops when the fetch ends or is cancelled (the
//! [`Lease`] is dropped or consumed).
//!
//! Fencing: the grant time is the lease's token. The fill (`l2.rs`'s write script)
//! stamps the document with it (`at`) and writes only when it is newer than the stored
//! `at`, so a holder that paused, lost its lease and writes late cannot overwrite the
//! copy of the replica that took over. The document's age is another field: `ft`, the
//! fetch time on Redis' clock (the write's `TIME` minus the entry's age here), so ages
//! stay those of the fetch, never those of the lease (which may be older by a quota wait
//! and the fetch itself).
//!
//! A 404 is a marker too (`failed <at> not_found`, 60 s): a name that does not exist,
//! asked on every replica, is one upstream request for the fleet.
//!
//! Failed fetches: a holder whose fetch failed at the upstream (its status after
//! retries, a timeout, a broken connection or body, its breaker open) replaces its lease
//! with a failure marker (`failed <at> <kind> …`, kept for the upstream's
//! `retry_after`, else `cache.failure_ttl_ms`) and publishes `failed <key> <kind>
//! <retry_after_ms>` ([`FAIL`]). The waiters wake, read the marker and answer from their
//! fallback chain (stale copy, else the holder's failure, marked as remembered); until
//! the marker expires no replica fetches the document again (the fleet's version of the
//! router's failure memory). Our own limits (a deferral of our rate limiter, our
//! deadline, a cancellation) are never published: the lease is only released, and a
//! waiter takes it over and fetches itself. Kept in the lease key (not a key of its
//! own) so that one `SET NX` cannot race with it, and `fleet status` shows it as what
//! it is: a lease nobody can take until the upstream may be asked again.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::client::FleetClient;
use sentinel_core::model::{Remembered, UnavailableCause};

/// How long a lease lasts: a holder that dies frees it this long after its last renewal.
pub(crate) const LEASE: Duration = Duration::from_secs(3);
/// How often the holder renews it.
pub(crate) const RENEW_EVERY: Duration = Duration::from_secs(1);
/// What a failure marker's value starts with (a holder's value starts with its replica id).
pub(crate) const FAILED: &str = "failed ";
/// Longest failure detail kept in a marker.
const MAX_DETAIL: usize = 300;

/// Extends the lease while the holder still owns it. KEYS: lease. ARGV: token, ms.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 0
";

/// Compare-and-delete, and a wake-up for the waiters (they take it over). KEYS: lease.
/// ARGV: token, events channel, document key.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released ' .. ARGV[3])
  return 1
end
return 0
";

/// The holder's fetch failed at the upstream: its lease (if still its own, or free)
/// becomes the failure marker for `ms`, and the waiters are told. KEYS: lease. ARGV:
/// token, events channel, document key, kind, marker fields, ms.
const FAIL: &str = r"
local cur = redis.call('GET', KEYS[1])
local ms = tonumber(ARGV[6])
if cur == ARGV[1] or not cur then
  if ms > 0 then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('SET', KEYS[1], 'failed ' .. now .. ' ' .. ARGV[5], 'PX', ms)
  elseif cur then
    redis.call('DEL', KEYS[1])
  end
end
redis.call('PUBLISH', ARGV[2], 'failed ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. ms)
return 1
";

static RENEW_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(RENEW));
static RELEASE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(RELEASE));
static FAIL_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(FAIL));

/// A document's lease held by this replica. Renewed in the background until it is
/// consumed by the fill ([`Lease::into_token`]) or by a failure ([`Lease::failed`]);
/// dropped otherwise (the fetch was cancelled, deferred by our own limits, answered
/// 404…), it is released at once so a waiter takes it over without waiting for expiry.
pub(crate) struct Lease {
    client: Arc<FleetClient>,
    doc_key: String,
    token: String,
    /// The grant time on Redis' clock (ms): the fencing token of the fill.
    pub(crate) at: i64,
    renewal: CancellationToken,
    done: bool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("token", &self.token).finish()
    }
}

/// Another replica's failure of a document (or its 404), read from its marker.
#[derive(Clone, Debug)]
pub(crate) struct Failed {
    /// The upstream's failure; `None`: the document does not exist (a 404).
    pub(crate) cause: Option<UnavailableCause>,
    pub(crate) remembered: Remembered,
}

/// How long a 404 is remembered for the fleet (a name asked on every replica is one
/// upstream request; one published meanwhile is seen this much later).
pub(crate) const NOT_FOUND: Duration = Duration::from_secs(60);

pub(crate) fn lease_key(doc_key: &str) -> String {
    format!("{doc_key}:lease")
}

impl Lease {
    /// The lease just granted with `token` (`replica:nonce:at`); starts renewing it.
    pub(crate) fn granted(client: &Arc<FleetClient>, doc_key: String, token: String) -> Self {
        let at = token
            .rsplit(':')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let renewal = CancellationToken::new();
        let (me, stop, key, tok) = (
            client.clone(),
            renewal.clone(),
            lease_key(&doc_key),
            token.clone(),
        );
        client.counters.leases_granted.fetch_add(1, Relaxed);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(RENEW_EVERY) => {}
                }
                let (key, tok) = (&key, &tok);
                let r: Result<i64, _> = me
                    .run("lease_renew", |mut c| async move {
                        RENEW_SCRIPT
                            .key(key)
                            .arg(tok)
                            .arg(LEASE.as_millis() as u64)
                            .invoke_async(&mut c)
                            .await
                    })
                    .await;
                if r == Ok(0) && !stop.is_cancelled() {
                    // Expired (we paused past it) or taken over: our fill will be
                    // fenced off if the new holder's is newer.
                    me.counters.leases_lost.fetch_add(1, Relaxed);
                    tracing::debug!(%key, "fleet: lease lost while fetching");
                    return;
                }
            }
        });
        Lease {
            client: client.clone(),
            doc_key,
            token,
            at,
            renewal,
            done: false,
        }
    }

    /// Stops renewing and hands the token over to the fill (whose script releases it).
    pub(crate) fn into_token(mut self) -> (String, i64) {
        self.done = true;
        self.renewal.cancel();
        (std::mem::take(&mut self.token), self.at)
    }

    /// The fetch failed at the upstream with `cause`: the lease becomes a failure
    /// marker for the upstream's `retry_after` (else `memo`), and the waiters are told.
    pub(crate) fn failed(self, cause: &UnavailableCause, memo: Duration) {
        let Some((kind, fields)) = encode(cause) else {
            // Not a failure the fleet remembers: a plain release (on drop).
            return;
        };
        let ms = match cause {
            UnavailableCause::BreakerOpen { retry_after } => *retry_after,
            UnavailableCause::Status {
                retry_after: Some(r),
                ..
            } => *r,
            _ => memo,
        };
        self.mark(kind, fields, ms);
    }

    /// The upstream answered 404: the lease becomes a negative entry for
    /// [`NOT_FOUND`], and the waiters are told.
    pub(crate) fn not_found(self) {
        self.mark("not_found", "not_found".into(), NOT_FOUND);
    }

    fn mark(mut self, kind: &'static str, fields: String, ms: Duration) {
        self.done = true;
        self.renewal.cancel();
        let ms = ms.as_millis() as u64;
        let (me, key, token) = (
            self.client.clone(),
            std::mem::take(&mut self.doc_key),
            std::mem::take(&mut self.token),
        );
        tokio::spawn(async move {
            let (lease, events) = (lease_key(&key), me.keys.events());
            let r: Result<i64, _> = me
                .run("lease_failed", |mut c| async move {
                    FAIL_SCRIPT
                        .key(lease)
                        .arg(token)
                        .arg(events)
                        .arg(&key)
                        .arg(kind)
                        .arg(fields)
                        .arg(ms)
                        .invoke_async(&mut c)
                        .await
                })
                .await;
            if r.is_ok() {
                me.counters.failures_shared.fetch_add(1, Relaxed);
            }
        });
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.cancel();
        if self.done {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (me, key, token) = (
            self.client.clone(),
            std::mem::take(&mut self.doc_key),
            std::mem::take(&mut self.token),
        );
        rt.spawn(async move {
            let (lease, events) = (lease_key(&key), me.keys.events());
            let _: Result<i64, _> = me
                .run("lease_release", |mut c| async move {
                    RELEASE_SCRIPT
                        .key(lease)
                        .arg(token)
                        .arg(events)
                        .arg(&key)
                        .invoke_async(&mut c)
                        .await
                })
                .await;
        });
    }
}

fn detail(s: &str) -> String {
    s.chars()
        .take(MAX_DETAIL)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The kind word and the marker's fields of a failure the fleet remembers: only the
/// upstream's own verdicts (and its breaker, open after them).
pub(crate) fn encode(cause: &UnavailableCause) -> Option<(&'static str, String)> {
    use UnavailableCause as C;
    Some(match cause {
        C::Status {
            status,
            attempts,
            retry_after,
        } => (
            "status",
            format!(
                "status {status} {attempts} {}",
                u8::from(retry_after.is_some())
            ),
        ),
        C::Timeout {
            waited_ms,
            attempts,
        } => ("timeout", format!("timeout {waited_ms} {attempts}")),
        C::Transport {
            detail: d,
            attempts,
        } => ("transport", format!("transport {attempts} {}", detail(d))),
        C::BadBody { detail: d } => ("bad_body", format!("bad_body {}", detail(d))),
        C::BreakerOpen { .. } => ("breaker", "breaker".into()),
        _ => return None,
    })
}

/// A failure marker read back (`failed <at> <fields>`), with Redis' now and the
/// marker's remaining life; `None` for anything else (untrusted input).
pub(crate) fn decode(value: &str, now: i64, pttl_ms: i64) -> Option<Failed> {
    let rest = value.strip_prefix(FAILED)?;
    let (at, rest) = rest.split_once(' ')?;
    let at: i64 = at.parse().ok()?;
    let retry = Duration::from_millis(pttl_ms.max(0) as u64);
    let (kind, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let mut f = rest.splitn(3, ' ');
    let mut num = || f.next().and_then(|n| n.parse::<u64>().ok());
    use UnavailableCause as C;
    let cause = match kind {
        "status" => {
            let status = num()? as u16;
            let attempts = num()? as u32;
            C::Status {
                status,
                attempts,
                retry_after: (num()? == 1).then_some(retry),
            }
        }
        "timeout" => C::Timeout {
            waited_ms: num()?,
            attempts: num()? as u32,
        },
        "transport" => {
            let (attempts, d) = rest.split_once(' ').unwrap_or((rest, ""));
            C::Transport {
                detail: detail(d),
                attempts: attempts.parse().ok()?,
            }
        }
        "bad_body" => C::BadBody {
            detail: detail(rest),
        },
        "breaker" => C::BreakerOpen { retry_after: retry },
        "not_found" => {
            return Some(Failed {
                cause: None,
                remembered: Remembered {
                    age: Duration::from_millis(now.saturating_sub(at).max(0) as u64),
                    retry_after: retry,
                },
            });
        }
        _ => return None,
    };
    Some(Failed {
        cause: Some(cause),
        remembered: Remembered {
            age: Duration::from_millis(now.saturating_sub(at).max(0) as u64),
            retry_after: retry,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(c: UnavailableCause) -> UnavailableCause {
        let (_, fields) = encode(&c).expect("remembered");
        let f = decode(&format!("failed 1000 {fields}"), 1500, 2000).expect("decodes");
        assert_eq!(f.remembered.age, Duration::from_millis(500));
        assert_eq!(f.remembered.retry_after, Duration::from_secs(2));
        f.cause.expect("a failure")
    }

    #[test]
    fn upstream_failures_round_trip_through_a_marker() {
        let s = UnavailableCause::Status {
            status: 503,
            attempts: 3,
            retry_after: None,
        };
        assert_eq!(round_trip(s.clone()), s);
        let s = UnavailableCause::Status {
            status: 429,
            attempts: 1,
            retry_after: Some(Duration::from_secs(30)),
        };
        // The retry time is what is left of the marker's life.
        assert!(matches!(
            round_trip(s),
            UnavailableCause::Status { status: 429, attempts: 1, retry_after: Some(r) }
                if r == Duration::from_secs(2)
        ));
        let t = UnavailableCause::Timeout {
            waited_ms: 800,
            attempts: 2,
        };
        assert_eq!(round_trip(t.clone()), t);
        let t = UnavailableCause::Transport {
            detail: "connection reset by peer".into(),
            attempts: 2,
        };
        assert_eq!(round_trip(t.clone()), t);
        let b = UnavailableCause::BadBody {
            detail: "not JSON: expected value at line 1".into(),
        };
        assert_eq!(round_trip(b.clone()), b);
        assert_eq!(
            round_trip(UnavailableCause::BreakerOpen {
                retry_after: Duration::from_secs(9)
            }),
            UnavailableCause::BreakerOpen {
                retry_after: Duration::from_secs(2)
            }
        );
    }

    #[test]
    fn a_404_marker_reads_back_as_not_found() {
        let f = decode("failed 1000 not_found", 4000, 57_000).expect("decodes");
        assert!(f.cause.is_none());
        assert_eq!(f.remembered.age, Duration::from_secs(3));
    }

    #[test]
    fn our_own_limits_are_never_a_marker_and_garbage_is_refused() {
        for c in [
            UnavailableCause::RateLimited {
                retry_after: Duration::from_secs(1),
                queued: true,
            },
            UnavailableCause::Cancelled,
            UnavailableCause::Restarting,
            UnavailableCause::Disabled,
        ] {
            assert!(encode(&c).is_none(), "{c:?}");
        }
        for v in [
            "r1:4:1700000000000",
            "failed",
            "failed x status 503 1 0",
            "failed 1 status five 1 0",
            "failed 1 teapot",
            "failed 1 status 503",
        ] {
            assert!(decode(v, 2, 100).is_none(), "{v}");
        }
    }
}
