//! Streamed transfers through the fetch layer: a file download's bytes go through the
//! files upstream like every document's request goes through its own, but stream to
//! the caller instead of being parsed and cached. The breaker admits the download
//! (fail fast while the file hosts keep failing); for each attempt the files
//! FetchActor reserves a rate-limit slot, and the caller holds one of the upstream's
//! concurrency permits until the body has been read; the download's verdict goes to
//! the breaker when it ends. The transfer runs in the caller's future, so dropping it
//! stops the transfer and hands back what it held.

use std::sync::Arc;
use std::time::Duration;

use ractor::rpc::CallResult;
use tokio::sync::SemaphorePermit;
use tokio::time::Instant;

use super::fetch::{FetchContext, FetchMsg};
use super::health::{BreakerBoard, HealthMsg};
use super::registry::Registry;
use sentinel_core::model::{UnavailableCause, Upstream};
use sentinel_core::policy::{Admission, BreakerState, CallOutcome, Reservation};

const UP: Upstream = Upstream::Files;

/// The files upstream's way in: its context (pooled client, permits, retry budget,
/// counters) and where its FetchActor and the HealthActor are found.
pub(crate) struct FilesLane {
    pub(crate) ctx: Arc<FetchContext>,
    registry: Arc<Registry>,
    board: Arc<BreakerBoard>,
    enabled: bool,
}

/// The breaker's leave to run one download. It tells the breaker how the download
/// went ([`BreakerPass::record`]); dropped without a verdict (a cancellation, our own
/// refusal), it hands a probe back so a half-open breaker is not left waiting.
pub(crate) struct BreakerPass {
    registry: Arc<Registry>,
    was_probe: bool,
    done: bool,
}

impl BreakerPass {
    /// `Some(true)`: the file host answered; `Some(false)`: it failed; `None`: nothing
    /// the host did decided the end (our own limits, a digest mismatch).
    pub(crate) fn record(mut self, verdict: Option<bool>) {
        self.done = true;
        let Some(health) = self.registry.health.get() else {
            return;
        };
        let _ = match verdict {
            Some(ok) => health.cast(HealthMsg::Record {
                upstream: UP,
                outcome: if ok {
                    CallOutcome::Success
                } else {
                    CallOutcome::Failure
                },
                was_probe: self.was_probe,
            }),
            None if self.was_probe => health.cast(HealthMsg::ReleaseProbe { upstream: UP }),
            None => Ok(()),
        };
    }
}

impl Drop for BreakerPass {
    fn drop(&mut self) {
        if !self.done
            && self.was_probe
            && let Some(health) = self.registry.health.get()
        {
            let _ = health.cast(HealthMsg::ReleaseProbe { upstream: UP });
        }
    }
}

/// Why an attempt got no turn: nothing was sent, and the file hosts did nothing wrong.
#[derive(Debug)]
pub(crate) enum NoTurn {
    /// No slot before the deadline, or the FetchActor is restarting.
    Unavailable(UnavailableCause),
    /// Every permit stayed taken until the deadline: too many downloads at once.
    NoPermit,
}

/// A reserved rate-limit slot not used yet: given back if the caller goes first.
struct HeldSlot<'a> {
    ctx: &'a FetchContext,
    at: Instant,
    armed: bool,
}

impl Drop for HeldSlot<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.ctx.lock_limiter().cancel(self.at.into_std());
        }
    }
}

impl FilesLane {
    pub(crate) fn new(shared: &super::EngineShared) -> Self {
        FilesLane {
            ctx: shared.fetch[UP.index()].clone(),
            registry: shared.registry.clone(),
            board: shared.board.clone(),
            enabled: shared.cfg.upstreams.get(UP).enabled,
        }
    }

    /// Asks the breaker, as the router does for a document: closed lets the download
    /// through, open refuses it at once (with the time of the next probe), open and
    /// due or half-open asks the HealthActor for a probe.
    pub(crate) async fn admit(&self) -> Result<BreakerPass, UnavailableCause> {
        if !self.enabled {
            return Err(UnavailableCause::Disabled);
        }
        let pass = |was_probe| BreakerPass {
            registry: self.registry.clone(),
            was_probe,
            done: false,
        };
        let now = Instant::now();
        let view = self.board.view(UP);
        match view.state {
            BreakerState::Closed => return Ok(pass(false)),
            BreakerState::Open if view.open_until.is_some_and(|u| now < u) => {
                let until = view.open_until.unwrap_or(now);
                return Err(UnavailableCause::BreakerOpen {
                    retry_after: until.saturating_duration_since(now),
                });
            }
            _ => {}
        }
        let Some(health) = self.registry.health.get() else {
            // Restarting: its breakers start closed anyway.
            return Ok(pass(false));
        };
        let admission = super::health::admit(&health, UP).await;
        match admission {
            Admission::Allowed => Ok(pass(false)),
            Admission::Probe => Ok(pass(true)),
            Admission::Rejected { until } => Err(UnavailableCause::BreakerOpen {
                retry_after: until.saturating_duration_since(Instant::now().into_std()),
            }),
        }
    }

    /// One attempt's turn: the rate-limit slot the FetchActor reserves, then one of
    /// the upstream's concurrency permits, neither waited for past `deadline`. The
    /// permit is held by the caller until the body has been read.
    pub(crate) async fn turn(&self, deadline: Instant) -> Result<SemaphorePermit<'_>, NoTurn> {
        let fetch = self
            .registry
            .fetch(UP)
            .get()
            .ok_or(NoTurn::Unavailable(UnavailableCause::Restarting))?;
        let reservation = match fetch
            .call(
                |reply| FetchMsg::Reserve {
                    wait_until: deadline,
                    reply,
                },
                Some(Duration::from_secs(1)),
            )
            .await
        {
            Ok(CallResult::Success(r)) => r,
            _ => return Err(NoTurn::Unavailable(UnavailableCause::Restarting)),
        };
        let at = match reservation {
            Reservation::At(at) => Instant::from_std(at),
            Reservation::NotBefore(next) => {
                return Err(NoTurn::Unavailable(UnavailableCause::RateLimited {
                    retry_after: next.saturating_duration_since(Instant::now().into_std()),
                    queued: false,
                }));
            }
        };
        let mut slot = HeldSlot {
            ctx: &self.ctx,
            at,
            armed: true,
        };
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
        slot.armed = false;
        self.ctx.permit(deadline).await.ok_or(NoTurn::NoPermit)
    }
}
