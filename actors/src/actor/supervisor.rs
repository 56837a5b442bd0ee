//! The supervisor: spawns every actor linked to itself, restarts one that crashes
//! (at most `max_restarts` within `window_ms`), and past that intensity stops the
//! engine and reports not-ready. ractor's default reaction to a child's failure is to
//! stop the supervisor, so the policy is written out here.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::time::Instant;

use super::cache::CacheActor;
use super::estimator::EstimatorActor;
use super::fetch::FetchActor;
use super::health::{HealthActor, HealthArgs};
use super::router::RouterActor;
use super::{ActorKind, EngineShared};
use sentinel_core::model::Upstream;
use sentinel_core::policy::{RestartDecision, RestartIntensity};

pub(crate) enum SupervisorMsg {
    /// Test hook: make one child panic.
    #[cfg(any(test, feature = "test-hooks"))]
    CrashChild(ActorKind),
    /// Stop every child, then the supervisor.
    Shutdown,
}

pub(crate) struct Supervisor;

pub(crate) struct SupervisorState {
    shared: Arc<EngineShared>,
    children: HashMap<ActorId, ActorKind>,
    intensity: RestartIntensity,
    stopping: bool,
}

fn every_kind() -> Vec<ActorKind> {
    let mut kinds = vec![ActorKind::Health];
    kinds.extend(Upstream::ALL.iter().map(|u| ActorKind::Fetch(*u)));
    kinds.push(ActorKind::Estimator);
    kinds.push(ActorKind::Cache);
    kinds.push(ActorKind::Router);
    kinds
}

/// Spawns one child linked to the supervisor and publishes its reference.
async fn spawn_child(
    kind: ActorKind,
    shared: &Arc<EngineShared>,
    sup: ActorCell,
) -> Result<ActorCell, ActorProcessingErr> {
    let reg = &shared.registry;
    // Unnamed: ractor names are process-wide, and tests run many engines at once.
    let cell = match kind {
        ActorKind::Router => {
            let (r, _) = Actor::spawn_linked(None, RouterActor, shared.router_args(), sup).await?;
            shared.router.set(Some(r.clone()));
            r.get_cell()
        }
        ActorKind::Health => {
            let args = HealthArgs {
                cfg: shared.cfg.clone(),
                board: shared.board.clone(),
                recorder: shared.recorder.clone(),
            };
            let (r, _) = Actor::spawn_linked(None, HealthActor, args, sup).await?;
            reg.health.set(Some(r.clone()));
            r.get_cell()
        }
        ActorKind::Fetch(up) => {
            let ctx = shared.fetch[up.index()].clone();
            let (r, _) = Actor::spawn_linked(None, FetchActor, ctx, sup).await?;
            reg.fetch(up).set(Some(r.clone()));
            r.get_cell()
        }
        ActorKind::Estimator => {
            let (r, _) = Actor::spawn_linked(None, EstimatorActor, (), sup).await?;
            reg.estimator.set(Some(r.clone()));
            r.get_cell()
        }
        ActorKind::Cache => {
            let (r, _) = Actor::spawn_linked(None, CacheActor, shared.cache_args(), sup).await?;
            reg.cache.set(Some(r.clone()));
            r.get_cell()
        }
    };
    Ok(cell)
}

fn clear_slot(shared: &EngineShared, kind: ActorKind) {
    let reg = &shared.registry;
    match kind {
        ActorKind::Router => shared.router.set(None),
        ActorKind::Health => reg.health.set(None),
        ActorKind::Fetch(up) => reg.fetch(up).set(None),
        ActorKind::Estimator => reg.estimator.set(None),
        ActorKind::Cache => reg.cache.set(None),
    }
}

#[cfg(any(test, feature = "test-hooks"))]
fn crash(shared: &EngineShared, kind: ActorKind) {
    use super::cache::CacheMsg;
    use super::estimator::EstimatorMsg;
    use super::fetch::FetchMsg;
    use super::health::HealthMsg;
    use super::router::RouterMsg;
    let reg = &shared.registry;
    // A failed cast means the actor is already gone, which is what the hook wants.
    let sent = match kind {
        ActorKind::Router => shared
            .router
            .get()
            .map(|r| r.cast(RouterMsg::Crash).is_ok()),
        ActorKind::Health => reg.health.get().map(|r| r.cast(HealthMsg::Crash).is_ok()),
        ActorKind::Fetch(up) => reg.fetch(up).get().map(|r| r.cast(FetchMsg::Crash).is_ok()),
        ActorKind::Estimator => reg
            .estimator
            .get()
            .map(|r| r.cast(EstimatorMsg::Crash).is_ok()),
        ActorKind::Cache => reg.cache.get().map(|r| r.cast(CacheMsg::Crash).is_ok()),
    };
    tracing::debug!(?kind, ?sent, "test hook: crash requested");
}

impl Supervisor {
    async fn restart_or_give_up(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        st: &mut SupervisorState,
        kind: ActorKind,
        why: String,
    ) {
        clear_slot(&st.shared, kind);
        if st.stopping {
            return;
        }
        if let RestartDecision::GiveUp { within_window } =
            st.intensity.on_crash(Instant::now().into_std())
        {
            let reason = format!(
                "the {kind} actor failed ({why}) after {within_window} restarts within {} ms; the engine stopped",
                st.shared.cfg.supervision.window_ms
            );
            tracing::error!("{reason}");
            st.shared.readiness.set_not_ready(reason);
            st.stopping = true;
            myself.stop_children(Some("restart intensity exceeded".into()));
            myself.stop(Some("restart intensity exceeded".into()));
            return;
        }
        st.shared.counters.restarts.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("sentinel_actor_restarts_total", "actor" => kind.to_string())
            .increment(1);
        tracing::warn!(actor = %kind, reason = %why, "restarting crashed actor");
        st.shared.recorder.restart(kind.to_string(), &why);
        match spawn_child(kind, &st.shared, myself.get_cell()).await {
            Ok(cell) => {
                st.children.insert(cell.get_id(), kind);
            }
            Err(e) => {
                let reason = format!("could not restart the {kind} actor: {e}");
                st.shared.readiness.set_not_ready(reason);
                st.stopping = true;
                myself.stop_children(None);
                myself.stop(None);
            }
        }
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Arc<EngineShared>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        shared: Arc<EngineShared>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut children = HashMap::new();
        for kind in every_kind() {
            let cell = spawn_child(kind, &shared, myself.get_cell()).await?;
            children.insert(cell.get_id(), kind);
        }
        shared.readiness.set_ready();
        let cfg = &shared.cfg.supervision;
        let intensity =
            RestartIntensity::new(cfg.max_restarts, Duration::from_millis(cfg.window_ms));
        Ok(SupervisorState {
            shared,
            children,
            intensity,
            stopping: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: SupervisorMsg,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            #[cfg(any(test, feature = "test-hooks"))]
            SupervisorMsg::CrashChild(kind) => crash(&st.shared, kind),
            SupervisorMsg::Shutdown => {
                st.stopping = true;
                st.shared.readiness.set_not_ready("shut down");
                myself.stop_children(Some("shutdown".into()));
                myself.stop(Some("shutdown".into()));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, format!("panicked: {err}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, format!("stopped: {}", reason.unwrap_or_default()))
            }
            _ => return Ok(()),
        };
        if let Some(kind) = st.children.remove(&cell.get_id()) {
            self.restart_or_give_up(&myself, st, kind, why).await;
        }
        Ok(())
    }
}
