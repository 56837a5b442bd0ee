//! EstimatorActor: keeps the real observations that estimates are derived from (the
//! last daily series and pepy counts seen per package) and applies the rules in
//! [`crate::views::estimate`]. It never makes up a number: no observation, no estimate.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::model::{PackageName, Query, StatsKind};
use crate::upstream::Document;
use crate::views::estimate::{self, Estimate};

/// Packages whose observations are kept; the oldest package is forgotten past this.
const MAX_PACKAGES: usize = 50_000;

/// Estimates of the three `recent` figures (day, week, month); `None` where there is
/// no basis.
pub(crate) type RecentEstimates = [Option<Estimate>; 3];

pub(crate) enum EstimatorMsg {
    /// A document was fetched: keep it if it can serve as a basis.
    Observe {
        query: Query,
        doc: Arc<Document>,
        at: SystemTime,
    },
    /// Estimate last day / week / month downloads of a package.
    EstimateRecent {
        package: PackageName,
        reply: RpcReplyPort<RecentEstimates>,
    },
    /// Test hook: panic inside the handler.
    Crash,
}

#[derive(Default)]
struct Observations {
    overall: Option<(Arc<Document>, SystemTime)>,
    pepy: Option<(Arc<Document>, SystemTime)>,
}

#[derive(Default)]
pub(crate) struct EstimatorState {
    by_package: HashMap<PackageName, Observations>,
    order: VecDeque<PackageName>,
}

impl EstimatorState {
    fn entry(&mut self, p: &PackageName) -> &mut Observations {
        if !self.by_package.contains_key(p) {
            if self.by_package.len() >= MAX_PACKAGES
                && let Some(old) = self.order.pop_front()
            {
                self.by_package.remove(&old);
            }
            self.order.push_back(p.clone());
        }
        self.by_package.entry(p.clone()).or_default()
    }

    fn estimate_recent(&self, p: &PackageName, now: SystemTime) -> RecentEstimates {
        let Some(obs) = self.by_package.get(p) else {
            return [None, None, None];
        };
        let from_series = obs
            .overall
            .as_ref()
            .and_then(|(doc, at)| match doc.as_ref() {
                Document::Series(s) => {
                    Some(estimate::recent_from_series(s, &ymd(*at), age_of(*at, now)))
                }
                _ => None,
            });
        let from_pepy = obs.pepy.as_ref().and_then(|(doc, at)| match doc.as_ref() {
            Document::Pepy(d) => Some(estimate::recent_from_pepy(d, &ymd(*at), age_of(*at, now))),
            _ => None,
        });
        // Per figure: the pypistats series first (the figure is defined on it), pepy next.
        std::array::from_fn(|i| {
            from_series
                .as_ref()
                .and_then(|e| e[i].clone())
                .or_else(|| from_pepy.as_ref().and_then(|e| e[i].clone()))
        })
    }
}

fn age_of(at: SystemTime, now: SystemTime) -> std::time::Duration {
    now.duration_since(at).unwrap_or_default()
}

/// `YYYY-MM-DD` (UTC) of a wall-clock time (civil-from-days, H. Hinnant).
pub(crate) fn ymd(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

pub(crate) struct EstimatorActor;

impl Actor for EstimatorActor {
    type Msg = EstimatorMsg;
    type State = EstimatorState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(EstimatorState::default())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: EstimatorMsg,
        st: &mut EstimatorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            EstimatorMsg::Observe { query, doc, at } => match &query {
                Query::Stats(p, StatsKind::Overall) => st.entry(p).overall = Some((doc, at)),
                Query::Pepy(p) => st.entry(p).pepy = Some((doc, at)),
                _ => {}
            },
            EstimatorMsg::EstimateRecent { package, reply } => {
                let est = st.estimate_recent(&package, SystemTime::now());
                if est.iter().any(Option::is_some) {
                    metrics::counter!("sentinel_estimates_served_total").increment(1);
                }
                let _ = reply.send(est);
            }
            EstimatorMsg::Crash => panic!("test hook: EstimatorActor asked to crash"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ymd_formats_utc_dates() {
        assert_eq!(ymd(SystemTime::UNIX_EPOCH), "1970-01-01");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_478_400); // 2026-11-24
        assert_eq!(ymd(t), "2026-11-24");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(ymd(leap), "2000-02-29");
    }
}
