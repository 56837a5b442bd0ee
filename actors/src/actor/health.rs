//! HealthActor: one circuit breaker per upstream. It does no I/O; it takes outcome
//! events, answers probe admissions, and publishes each breaker's state on a `watch`
//! channel so that the hot path reads it without a message.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use std::time::Duration;

use ractor::rpc::CallResult;

use crate::config::EngineConfig;
use sentinel_core::model::Upstream;
use sentinel_core::policy::{Admission, Breaker, BreakerState, CallOutcome};

/// What the hot path needs to know about a breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BreakerView {
    pub(crate) state: BreakerState,
    pub(crate) open_until: Option<Instant>,
    /// The current open period (the fleet's probe lease lasts one).
    pub(crate) period: Duration,
}

impl Default for BreakerView {
    fn default() -> Self {
        BreakerView {
            state: BreakerState::Closed,
            open_until: None,
            period: Duration::ZERO,
        }
    }
}

/// The published breaker states, one `watch` per upstream. Owned by the engine so it
/// survives restarts of the HealthActor.
pub(crate) struct BreakerBoard {
    cells: [watch::Sender<BreakerView>; Upstream::COUNT],
    /// Transitions since start, all upstreams.
    pub(crate) transitions: AtomicU64,
    /// Notified on every published view (the fleet shares the states: `fleet/breakers.rs`).
    pub(crate) changed: Arc<tokio::sync::Notify>,
}

impl Default for BreakerBoard {
    fn default() -> Self {
        BreakerBoard {
            cells: std::array::from_fn(|_| watch::Sender::new(BreakerView::default())),
            transitions: AtomicU64::new(0),
            changed: Arc::default(),
        }
    }
}

impl BreakerBoard {
    pub(crate) fn view(&self, up: Upstream) -> BreakerView {
        *self.cells[up.index()].borrow()
    }

    fn publish(&self, up: Upstream, view: BreakerView) {
        self.cells[up.index()].send_replace(view);
        self.changed.notify_one();
    }
}

/// Health of one upstream, for reports.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct UpstreamHealth {
    /// The upstream.
    pub upstream: Upstream,
    /// Breaker state: closed, open or half_open.
    pub breaker: BreakerState,
    /// Seconds until an open breaker lets a probe through.
    pub open_for_secs: Option<f64>,
    /// Failure rate over the breaker's window (0..1).
    pub failure_rate: f64,
    /// Calls in the breaker's window.
    pub calls_in_window: u32,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// Times the breaker opened since start.
    pub times_opened: u64,
}

pub(crate) enum HealthMsg {
    /// The outcome of a call to an upstream.
    Record {
        upstream: Upstream,
        outcome: CallOutcome,
        was_probe: bool,
    },
    /// Ask to send a request while the breaker is not closed.
    Admit {
        upstream: Upstream,
        reply: RpcReplyPort<Admission>,
    },
    /// A probe ended without an outcome.
    ReleaseProbe { upstream: Upstream },
    /// Another replica of the fleet probed this upstream (`fleet.share_probes`).
    #[cfg_attr(not(feature = "fleet"), allow(dead_code))]
    FleetProbe {
        upstream: Upstream,
        outcome: CallOutcome,
    },
    /// The health of every upstream.
    Report {
        reply: RpcReplyPort<Vec<UpstreamHealth>>,
    },
    /// Test hook: panic inside the handler.
    #[cfg(any(test, feature = "test-hooks"))]
    Crash,
}

pub(crate) struct HealthActor;

pub(crate) struct HealthArgs {
    pub(crate) cfg: Arc<EngineConfig>,
    pub(crate) board: Arc<BreakerBoard>,
    pub(crate) recorder: Arc<crate::recorder::Recorder>,
}

pub(crate) struct HealthState {
    breakers: Vec<Breaker>,
    board: Arc<BreakerBoard>,
    recorder: Arc<crate::recorder::Recorder>,
}

impl HealthState {
    /// A transition goes to the incident log with the window's figures.
    fn log_transition(
        &mut self,
        up: Upstream,
        from: BreakerState,
        to: BreakerState,
        now: std::time::Instant,
    ) {
        let s = self.breakers[up.index()].snapshot(now);
        self.recorder
            .breaker(up, from, to, s.failure_rate, s.consecutive_failures);
    }
}

impl HealthState {
    fn publish(&self, up: Upstream) {
        let b = &self.breakers[up.index()];
        self.board.publish(
            up,
            BreakerView {
                state: b.state(),
                open_until: b.open_until().map(Instant::from_std),
                period: b.open_period(),
            },
        );
    }
}

impl Actor for HealthActor {
    type Msg = HealthMsg;
    type State = HealthState;
    type Arguments = HealthArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: HealthArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let breakers = Upstream::ALL
            .iter()
            .map(|up| Breaker::new(args.cfg.upstreams.get(*up).breaker.clone()))
            .collect();
        let st = HealthState {
            breakers,
            board: args.board,
            recorder: args.recorder,
        };
        // A restarted HealthActor starts with closed breakers: publish that.
        for up in Upstream::ALL {
            st.publish(up);
        }
        Ok(st)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: HealthMsg,
        st: &mut HealthState,
    ) -> Result<(), ActorProcessingErr> {
        // The pure breakers take std instants; tokio's (paused in tests) converts.
        let now = Instant::now().into_std();
        match msg {
            HealthMsg::Record {
                upstream,
                outcome,
                was_probe,
            } => {
                if let Some(t) = st.breakers[upstream.index()].record(outcome, was_probe, now) {
                    st.board.transitions.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("sentinel_breaker_transitions_total",
                        "upstream" => upstream.as_str(), "to" => t.to.to_string())
                    .increment(1);
                    tracing::info!(%upstream, from = %t.from, to = %t.to, "circuit breaker transition");
                    st.log_transition(upstream, t.from, t.to, now);
                }
                st.publish(upstream);
            }
            HealthMsg::Admit { upstream, reply } => {
                let before = st.breakers[upstream.index()].state();
                let admission = st.breakers[upstream.index()].admit(now);
                if st.breakers[upstream.index()].state() != before {
                    st.board.transitions.fetch_add(1, Ordering::Relaxed);
                    let after = st.breakers[upstream.index()].state();
                    tracing::info!(%upstream, from = %before, to = %after, "circuit breaker transition");
                    st.log_transition(upstream, before, after, now);
                }
                st.publish(upstream);
                if reply.send(admission).is_err() {
                    // The caller gave up: hand the probe slot back.
                    if matches!(admission, Admission::Probe) {
                        st.breakers[upstream.index()].release_probe();
                    }
                }
            }
            HealthMsg::FleetProbe { upstream, outcome } => {
                if let Some(t) = st.breakers[upstream.index()].record_fleet_probe(outcome, now) {
                    st.board.transitions.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("sentinel_breaker_transitions_total",
                        "upstream" => upstream.as_str(), "to" => t.to.to_string())
                    .increment(1);
                    tracing::info!(%upstream, from = %t.from, to = %t.to, "circuit breaker transition (another replica's probe)");
                    st.log_transition(upstream, t.from, t.to, now);
                }
                st.publish(upstream);
            }
            HealthMsg::ReleaseProbe { upstream } => {
                st.breakers[upstream.index()].release_probe();
                st.publish(upstream);
            }
            HealthMsg::Report { reply } => {
                let report = Upstream::ALL
                    .iter()
                    .map(|up| {
                        let s = st.breakers[up.index()].snapshot(now);
                        metrics::gauge!("sentinel_breaker_state", "upstream" => up.as_str()).set(
                            match s.state {
                                BreakerState::Closed => 0.0,
                                BreakerState::HalfOpen => 1.0,
                                BreakerState::Open => 2.0,
                            },
                        );
                        UpstreamHealth {
                            upstream: *up,
                            breaker: s.state,
                            open_for_secs: s
                                .open_until
                                .map(|u| u.saturating_duration_since(now).as_secs_f64()),
                            failure_rate: s.failure_rate,
                            calls_in_window: s.calls_in_window,
                            consecutive_failures: s.consecutive_failures,
                            times_opened: s.times_opened,
                        }
                    })
                    .collect();
                let _ = reply.send(report);
            }
            #[cfg(any(test, feature = "test-hooks"))]
            HealthMsg::Crash => panic!("test hook: HealthActor asked to crash"),
        }
        Ok(())
    }
}

/// Asks the HealthActor whether a request to `upstream` may go while its breaker is
/// open and due or half-open. `Allowed` when it cannot answer within a second
/// (restarting: its breakers start closed anyway).
pub(crate) async fn admit(health: &ActorRef<HealthMsg>, upstream: Upstream) -> Admission {
    match health
        .call(
            |reply| HealthMsg::Admit { upstream, reply },
            Some(Duration::from_secs(1)),
        )
        .await
    {
        Ok(CallResult::Success(a)) => a,
        _ => Admission::Allowed,
    }
}
