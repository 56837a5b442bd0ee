//! The engine's recorder of the last hour: what only the engine knows, kept bounded
//! (docs/ARCHITECTURE.md section 3, "The last hour").
//!
//! - an **incident log**: breaker transitions with their typed cause, actor restarts,
//!   store degradations; at most [`MAX_INCIDENTS`], none older than an hour;
//! - per upstream, a ring of 10 s buckets over the hour ([`sentinel_core::series`]):
//!   fetches, upstream failures, the worst breaker state of the bucket, and a latency
//!   histogram. Fixed memory whatever the traffic.
//!
//! The writers are the places where the facts happen (the fetch task, the HealthActor,
//! the supervisor); [`crate::EngineHandle::incidents`] and
//! [`crate::EngineHandle::upstream_hours`] read. What the product knows (tools,
//! provenance of answers, sessions) is recorded by the MCP layer, not here.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::store::{StoreReport, StoreState};
use sentinel_core::model::Upstream;
use sentinel_core::model::untrusted::redact_urls;
use sentinel_core::policy::{BreakerState, FailureKind};
use sentinel_core::series::{BUCKET_SECS, Latency, Ring};

/// The most incidents kept.
pub const MAX_INCIDENTS: usize = 200;
/// The longest failure detail kept (characters).
const MAX_DETAIL: usize = 200;
const HOUR_MS: u64 = 3_600_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One thing that happened to the engine.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Incident {
    /// When, unix milliseconds.
    pub at_unix_ms: u64,
    /// What.
    pub what: IncidentKind,
}

/// The kinds of incident.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IncidentKind {
    /// A circuit breaker changed state.
    BreakerTransition {
        /// The upstream.
        upstream: Upstream,
        /// Before.
        from: BreakerState,
        /// After.
        to: BreakerState,
        /// Why.
        cause: TransitionCause,
    },
    /// The supervisor restarted a crashed actor.
    ActorRestart {
        /// The actor (`router`, `fetch-pypistats`, ...).
        actor: String,
        /// How it ended.
        reason: String,
    },
    /// The store on disk went memory-only, or counted new errors.
    StoreDegraded {
        /// Its state now.
        state: StoreState,
        /// Its warning, when it has one.
        warning: Option<String>,
        /// Failed reads and writes since start.
        errors: u64,
    },
}

/// Why a breaker changed state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum TransitionCause {
    /// Closed to open: too many failures in the window.
    Tripped {
        /// Failure rate over the window (0..1).
        failure_rate: f64,
        /// Consecutive failures.
        consecutive_failures: u32,
        /// The last failure seen from the upstream.
        last_failure: Option<FailureNote>,
    },
    /// Open to half-open: the open period ended; one probe may go.
    OpenPeriodOver,
    /// Half-open to open: the probe failed.
    ProbeFailed {
        /// The probe's failure.
        last_failure: Option<FailureNote>,
    },
    /// Half-open to closed: the probe succeeded.
    ProbeSucceeded,
}

/// A failure of an upstream, typed and worded (URLs redacted).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct FailureNote {
    /// `connect`, `timeout`, `http_502`, `body`, `redirect`, `other`.
    pub kind: String,
    /// The failure in words, shortened.
    pub detail: String,
}

impl FailureNote {
    pub(crate) fn new(kind: &FailureKind, detail: &str) -> Self {
        let kind = match kind {
            FailureKind::Connect => "connect".to_string(),
            FailureKind::Timeout => "timeout".to_string(),
            FailureKind::Status(s) => format!("http_{s}"),
            FailureKind::Body => "body".to_string(),
            FailureKind::Content => "content".to_string(),
            FailureKind::Redirect => "redirect".to_string(),
            FailureKind::Other => "other".to_string(),
        };
        let detail: String = redact_urls(detail).chars().take(MAX_DETAIL).collect();
        FailureNote { kind, detail }
    }
}

/// One 10 s bucket of an upstream's fetches.
#[derive(Clone, Copy, Debug, Default)]
struct FetchBucket {
    requests: u32,
    failures: u32,
    latency: Latency,
    /// The worst breaker state seen in the bucket (0 none, 1 closed, 2 half-open, 3
    /// open) and the state it ended in.
    worst: u8,
    last: u8,
    /// The state before the bucket's first transition.
    first: u8,
}

fn rank(s: BreakerState) -> u8 {
    match s {
        BreakerState::Closed => 1,
        BreakerState::HalfOpen => 2,
        BreakerState::Open => 3,
    }
}

fn state_of(r: u8) -> BreakerState {
    match r {
        3 => BreakerState::Open,
        2 => BreakerState::HalfOpen,
        _ => BreakerState::Closed,
    }
}

#[derive(Default)]
struct UpstreamSeries {
    ring: Ring<FetchBucket>,
    last_failure: Option<FailureNote>,
}

/// One upstream's last hour, for the status page.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct UpstreamHour {
    /// The upstream.
    pub upstream: Upstream,
    /// Requests that reached the upstream in the last minute (for its quota).
    pub requests_last_minute: u64,
    /// Requests in the last hour.
    pub requests: u64,
    /// Of which the upstream failed.
    pub failures: u64,
    /// Median fetch latency over the hour (ms, the upper bound of its histogram
    /// bucket), when any fetch was timed.
    pub p50_ms: Option<u32>,
    /// 99th percentile, likewise.
    pub p99_ms: Option<u32>,
    /// The breaker's states over the hour as runs, oldest first.
    pub breaker_timeline: Vec<BreakerRun>,
    /// The last failure seen from the upstream, when any.
    pub last_failure: Option<FailureNote>,
}

/// A run of one breaker state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct BreakerRun {
    /// Start, unix seconds (a 10 s bucket's start).
    pub from_unix: u64,
    /// End (exclusive), unix seconds.
    pub to_unix: u64,
    /// The worst state of its buckets.
    pub state: BreakerState,
}

/// The recorder; owned by the engine, so it outlives any actor's restart.
pub(crate) struct Recorder {
    incidents: Mutex<VecDeque<Incident>>,
    upstreams: [Mutex<UpstreamSeries>; Upstream::COUNT],
    /// The store as last seen: state and error count.
    store_seen: Mutex<Option<(StoreState, u64)>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            incidents: Mutex::new(VecDeque::with_capacity(MAX_INCIDENTS)),
            upstreams: std::array::from_fn(|_| Mutex::default()),
            store_seen: Mutex::new(None),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Recorder {
    fn push(&self, what: IncidentKind) {
        let at = now_ms();
        let mut log = lock(&self.incidents);
        while log.len() >= MAX_INCIDENTS || log.front().is_some_and(|i| i.at_unix_ms + HOUR_MS < at)
        {
            log.pop_front();
        }
        log.push_back(Incident {
            at_unix_ms: at,
            what,
        });
    }

    /// A fetch ended: `verdict` as the breaker counts it (`None`: not the upstream's
    /// doing), its failure when it failed.
    pub(crate) fn fetched(
        &self,
        up: Upstream,
        verdict: Option<bool>,
        failure: Option<(&FailureKind, &str)>,
        took: Duration,
    ) {
        let Some(ok) = verdict else { return };
        let secs = now_ms() / 1_000;
        let mut s = lock(&self.upstreams[up.index()]);
        s.ring.update(secs, |b| {
            b.requests += 1;
            if !ok {
                b.failures += 1;
            }
            b.latency.record(took.as_secs_f64() * 1_000.0);
        });
        if let (false, Some((kind, detail))) = (ok, failure) {
            s.last_failure = Some(FailureNote::new(kind, detail));
        }
    }

    /// A breaker changed state; `failure_rate` and `consecutive` are its window's.
    pub(crate) fn breaker(
        &self,
        up: Upstream,
        from: BreakerState,
        to: BreakerState,
        failure_rate: f64,
        consecutive: u32,
    ) {
        let last_failure = {
            let mut s = lock(&self.upstreams[up.index()]);
            s.ring.update(now_ms() / 1_000, |b| {
                if b.worst == 0 {
                    b.worst = rank(from);
                    b.first = rank(from);
                }
                b.worst = b.worst.max(rank(to));
                b.last = rank(to);
            });
            s.last_failure.clone()
        };
        let cause = match (from, to) {
            (BreakerState::Closed, BreakerState::Open) => TransitionCause::Tripped {
                failure_rate,
                consecutive_failures: consecutive,
                last_failure,
            },
            (BreakerState::HalfOpen, BreakerState::Open) => {
                TransitionCause::ProbeFailed { last_failure }
            }
            (_, BreakerState::HalfOpen) => TransitionCause::OpenPeriodOver,
            (_, BreakerState::Closed) => TransitionCause::ProbeSucceeded,
            (BreakerState::Open, BreakerState::Open) => {
                TransitionCause::ProbeFailed { last_failure }
            }
        };
        self.push(IncidentKind::BreakerTransition {
            upstream: up,
            from,
            to,
            cause,
        });
    }

    /// The supervisor restarted an actor.
    pub(crate) fn restart(&self, actor: String, reason: &str) {
        self.push(IncidentKind::ActorRestart {
            actor,
            reason: redact_urls(reason).chars().take(MAX_DETAIL).collect(),
        });
    }

    /// Compares the store's report with the last one seen: going memory-only, or new
    /// errors, is an incident. Called where the report is read (the status page
    /// polls it); the first call only takes note, unless the store is already
    /// memory-only.
    pub(crate) fn observe_store(&self, r: &StoreReport) {
        let mut seen = lock(&self.store_seen);
        let degraded = match *seen {
            None => r.state == StoreState::MemoryOnly,
            Some((state, errors)) => {
                (r.state == StoreState::MemoryOnly && state != StoreState::MemoryOnly)
                    || r.errors > errors
            }
        };
        *seen = Some((r.state, r.errors));
        drop(seen);
        if degraded {
            self.push(IncidentKind::StoreDegraded {
                state: r.state,
                warning: r
                    .warning
                    .as_deref()
                    .map(|w| redact_urls(w).chars().take(MAX_DETAIL).collect()),
                errors: r.errors,
            });
        }
    }

    /// The incidents of the last hour, newest first.
    pub(crate) fn incidents(&self) -> Vec<Incident> {
        let cutoff = now_ms().saturating_sub(HOUR_MS);
        lock(&self.incidents)
            .iter()
            .rev()
            .filter(|i| i.at_unix_ms >= cutoff)
            .cloned()
            .collect()
    }

    /// One upstream's last hour; `now_state` is its breaker's state now.
    pub(crate) fn hour(&self, up: Upstream, now_state: BreakerState) -> UpstreamHour {
        let secs = now_ms() / 1_000;
        let s = lock(&self.upstreams[up.index()]);
        let window = s.ring.window(secs);
        let mut latency = Latency::default();
        let (mut requests, mut failures) = (0u64, 0u64);
        // Buckets without a transition carry the state the previous one ended in; before
        // the hour's first transition, the state that transition started from.
        let mut carry = window
            .iter()
            .find_map(|(_, b)| b.filter(|b| b.worst != 0))
            .map_or(rank(now_state), |b| b.first);
        let mut runs: Vec<BreakerRun> = Vec::new();
        for (start, b) in &window {
            let mut state = carry;
            if let Some(b) = b {
                requests += u64::from(b.requests);
                failures += u64::from(b.failures);
                latency.merge(&b.latency);
                if b.worst != 0 {
                    state = b.worst;
                    carry = b.last;
                }
            }
            let st = state_of(state);
            match runs.last_mut() {
                Some(r) if r.state == st => r.to_unix = start + BUCKET_SECS,
                _ => runs.push(BreakerRun {
                    from_unix: *start,
                    to_unix: start + BUCKET_SECS,
                    state: st,
                }),
            }
        }
        let requests_last_minute = s.ring.recent(secs, 60).map(|b| u64::from(b.requests)).sum();
        UpstreamHour {
            upstream: up,
            requests_last_minute,
            requests,
            failures,
            p50_ms: latency.quantile_ms(0.5),
            p99_ms: latency.quantile_ms(0.99),
            breaker_timeline: runs,
            last_failure: s.last_failure.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_bounded_and_newest_first() {
        let r = Recorder::default();
        for i in 0..(MAX_INCIDENTS + 50) {
            r.restart(format!("a{i}"), "panicked");
        }
        let log = r.incidents();
        assert_eq!(log.len(), MAX_INCIDENTS);
        assert!(
            matches!(&log[0].what, IncidentKind::ActorRestart { actor, .. } if actor == &format!("a{}", MAX_INCIDENTS + 49))
        );
    }

    #[test]
    fn a_trip_carries_the_last_failure_redacted() {
        let r = Recorder::default();
        r.fetched(
            Upstream::Pypistats,
            Some(false),
            Some((
                &FailureKind::Status(502),
                "HTTP 502 from https://user:secret@stats.example/api/x?key=k",
            )),
            Duration::from_millis(40),
        );
        r.breaker(
            Upstream::Pypistats,
            BreakerState::Closed,
            BreakerState::Open,
            1.0,
            5,
        );
        let log = r.incidents();
        let IncidentKind::BreakerTransition { cause, .. } = &log[0].what else {
            panic!("expected a transition, got {:?}", log[0]);
        };
        let TransitionCause::Tripped {
            last_failure: Some(note),
            consecutive_failures: 5,
            ..
        } = cause
        else {
            panic!("expected a trip with its failure, got {cause:?}");
        };
        assert_eq!(note.kind, "http_502");
        assert!(!note.detail.contains("secret"), "{}", note.detail);
        let h = r.hour(Upstream::Pypistats, BreakerState::Open);
        assert_eq!((h.requests, h.failures, h.requests_last_minute), (1, 1, 1));
        assert_eq!(h.p50_ms, Some(50));
        assert_eq!(
            h.breaker_timeline.last().map(|b| b.state),
            Some(BreakerState::Open)
        );
        assert_eq!(
            h.breaker_timeline.first().map(|b| b.state),
            Some(BreakerState::Closed)
        );
    }

    #[test]
    fn store_going_memory_only_is_an_incident_once() {
        let r = Recorder::default();
        let mut rep = crate::store::Store::off().report();
        r.observe_store(&rep);
        assert!(r.incidents().is_empty());
        rep.state = StoreState::MemoryOnly;
        rep.warning = Some("disk full".into());
        r.observe_store(&rep);
        r.observe_store(&rep);
        assert_eq!(r.incidents().len(), 1);
    }
}
