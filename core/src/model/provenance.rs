//! Provenance: every figure says where it came from (docs/ARCHITECTURE.md section 4).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::date::DataAsOf;
use super::error::UnavailableCause;
use super::source::Upstream;

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Provenance {
    /// Fetched from the upstream for this request.
    Live,
    /// The upstream answered 304 to our ETag: the cached body is confirmed current.
    Revalidated,
    /// Served from the cache within its fresh TTL.
    Cached,
    /// Past its fresh TTL, served because the upstream failed or its breaker is open.
    Stale {
        /// Why the stale value was served.
        reason: String,
    },
    /// Derived from real observations the engine holds.
    Estimated {
        /// The basis in words, e.g. "sum of the last 7 days of the overall series recorded 2026-11-20".
        basis: String,
        /// How far to trust it.
        confidence: Confidence,
    },
    /// No value: neither upstream, cache nor a basis for an estimate.
    Unavailable {
        /// What failed.
        reason: String,
        /// What the caller can do.
        suggestion: String,
    },
}

impl Provenance {
    /// The overall label this provenance contributes.
    pub fn label(&self) -> SourceLabel {
        match self {
            Provenance::Live | Provenance::Revalidated => SourceLabel::Live,
            Provenance::Cached => SourceLabel::Cached,
            Provenance::Stale { .. } => SourceLabel::Stale,
            Provenance::Estimated { .. } => SourceLabel::Estimated,
            Provenance::Unavailable { .. } => SourceLabel::Unavailable,
        }
    }

    /// A short word for tables: `live`, `revalidated`, `cached`, `stale`, `estimated`, `unavailable`.
    pub fn word(&self) -> &'static str {
        match self {
            Provenance::Live => "live",
            Provenance::Revalidated => "revalidated",
            Provenance::Cached => "cached",
            Provenance::Stale { .. } => "stale",
            Provenance::Estimated { .. } => "estimated",
            Provenance::Unavailable { .. } => "unavailable",
        }
    }
}

/// Why a stale copy was served: built by the router, worded here once. Its `Display`
/// is the text of [`Provenance::Stale`]'s `reason`.
#[derive(Clone, Debug, PartialEq)]
pub enum StaleReason {
    /// The refresh failed (or was refused); the cause says how.
    Failed {
        /// The upstream asked.
        upstream: Upstream,
        /// Why it gave no answer.
        cause: UnavailableCause,
        /// Set when the failure is a remembered one (not asked again yet).
        remembered: Option<crate::model::Remembered>,
    },
    /// No answer within the answer budget; the fetch goes on as a refresh.
    Slow {
        /// The upstream asked.
        upstream: Upstream,
        /// The answer budget that was spent.
        budget: Duration,
    },
    /// Past its fresh TTL while the upstream's circuit breaker is open.
    BreakerOpen {
        /// The upstream.
        upstream: Upstream,
    },
    /// Past its fresh TTL while the upstream's circuit breaker lets probes through.
    BreakerHalfOpen {
        /// The upstream.
        upstream: Upstream,
    },
    /// Past its fresh TTL (stale-while-revalidate): refreshing in the background.
    PastTtl {
        /// The upstream refreshed from.
        upstream: Upstream,
        /// The last refresh's failure and how long ago it was, if the last one failed.
        last_failure: Option<(UnavailableCause, Duration)>,
    },
    /// An earlier run's copy not confirmed by the upstream since the restart.
    Unconfirmed {
        /// The upstream refreshed from.
        upstream: Upstream,
        /// The last refresh's failure, if one was tried.
        last_failure: Option<UnavailableCause>,
    },
    /// The copy served is the last good one, kept on disk by an earlier run.
    KeptOnDisk(Box<StaleReason>),
}

impl StaleReason {
    /// The same reason, for a copy an earlier run kept on disk.
    pub fn kept_on_disk(self) -> Self {
        StaleReason::KeptOnDisk(Box::new(self))
    }
}

impl std::fmt::Display for StaleReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StaleReason::Failed {
                upstream,
                cause,
                remembered,
            } => {
                f.write_str(&cause.describe(*upstream))?;
                match remembered {
                    Some(m) => write!(f, "; {}", m.describe(*upstream)),
                    None => Ok(()),
                }
            }
            StaleReason::Slow { upstream, budget } => write!(
                f,
                "{upstream} slow: no answer within the {} ms answer budget; the refresh goes on in the background",
                budget.as_millis()
            ),
            StaleReason::BreakerOpen { upstream } => {
                write!(f, "past its fresh TTL; {upstream} circuit breaker is open")
            }
            StaleReason::BreakerHalfOpen { upstream } => {
                write!(
                    f,
                    "past its fresh TTL; {upstream} circuit breaker is half_open"
                )
            }
            StaleReason::PastTtl {
                upstream,
                last_failure: None,
            } => write!(
                f,
                "past its fresh TTL; refreshing from {upstream} in the background"
            ),
            StaleReason::PastTtl {
                upstream,
                last_failure: Some((cause, ago)),
            } => write!(
                f,
                "past its fresh TTL; the last refresh failed {} ({}); retrying in the background",
                ago_words(*ago),
                cause.describe(*upstream)
            ),
            StaleReason::Unconfirmed {
                upstream,
                last_failure: None,
            } => write!(
                f,
                "not confirmed since the restart; refreshing from {upstream} in the background"
            ),
            StaleReason::Unconfirmed {
                upstream,
                last_failure: Some(cause),
            } => write!(
                f,
                "not confirmed since the restart: the last refresh failed ({}); retrying in the background",
                cause.describe(*upstream)
            ),
            StaleReason::KeptOnDisk(why) => write!(
                f,
                "{why}; the last good copy, kept on disk by an earlier run"
            ),
        }
    }
}

/// How long ago, in words: `40 s ago`, `12 min ago`, `5 h ago` (up to two days),
/// `3 days ago`. The one age wording of the engine's texts (stale reasons, estimates).
pub fn ago_words(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..172_800 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// How far to trust an estimate.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// A rough derivation (e.g. scaled from a different period or an old series).
    Low,
    /// A derivation from a closely related series.
    Medium,
    /// An exact derivation from the same underlying data (e.g. a sum of the daily series the figure is defined on).
    High,
}

impl Confidence {
    /// The word used in output: `low`, `medium`, `high` (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// The overall source of a composite answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceLabel {
    /// Everything fetched or revalidated just now.
    Live,
    /// Everything from the fresh cache.
    Cached,
    /// At least one part stale, none estimated.
    Stale,
    /// Only estimates.
    Estimated,
    /// A mix of kinds.
    Mixed,
    /// Nothing could be answered.
    Unavailable,
}

impl SourceLabel {
    /// Merges the labels of every figure of an answer: one kind is that kind; several
    /// (unavailable figures included: an answer with holes is not `live`) are `Mixed`;
    /// nothing is `Unavailable`.
    pub fn merge<I: IntoIterator<Item = SourceLabel>>(labels: I) -> SourceLabel {
        let mut out: Option<SourceLabel> = None;
        for l in labels {
            out = Some(match out {
                None => l,
                Some(prev) if prev == l => l,
                Some(_) => SourceLabel::Mixed,
            });
        }
        out.unwrap_or(SourceLabel::Unavailable)
    }
}

impl SourceLabel {
    /// The label as written in output: `live`, `cached`, `stale`, `estimated`, `mixed`, `unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceLabel::Live => "live",
            SourceLabel::Cached => "cached",
            SourceLabel::Stale => "stale",
            SourceLabel::Estimated => "estimated",
            SourceLabel::Mixed => "mixed",
            SourceLabel::Unavailable => "unavailable",
        }
    }
}

impl std::fmt::Display for SourceLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value with its provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Datum<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub provenance: Provenance,
    /// Which upstream it came from (or was derived from).
    pub upstream: Upstream,
    /// When the underlying data was fetched from the upstream, as Unix seconds.
    pub observed_at_unix: u64,
    /// How old the underlying data is, in seconds, at the time of the answer.
    pub age_secs: u64,
    /// For download figures: the newest day in the upstream data the figure came from
    /// (not when it was fetched), and whether that upstream is lagging. Absent when the
    /// upstream's data carries no dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_as_of: Option<DataAsOf>,
}

impl<T> Datum<T> {
    /// Builds a datum observed `age` ago.
    pub fn new(value: T, provenance: Provenance, upstream: Upstream, age: Duration) -> Self {
        let observed = SystemTime::now()
            .checked_sub(age)
            .unwrap_or(UNIX_EPOCH)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Datum {
            value,
            provenance,
            upstream,
            observed_at_unix: observed.as_secs(),
            age_secs: age.as_secs(),
            data_as_of: None,
        }
    }

    /// The same datum, carrying the date of its data.
    pub fn dated(mut self, data_as_of: Option<DataAsOf>) -> Self {
        self.data_as_of = data_as_of;
        self
    }

    /// Maps the value, keeping the provenance.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Datum<U> {
        Datum {
            value: f(self.value),
            provenance: self.provenance,
            upstream: self.upstream,
            observed_at_unix: self.observed_at_unix,
            age_secs: self.age_secs,
            data_as_of: self.data_as_of,
        }
    }

    /// The overall label of this datum.
    pub fn label(&self) -> SourceLabel {
        self.provenance.label()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_merge() {
        use SourceLabel::*;
        assert_eq!(SourceLabel::merge([Live, Live]), Live);
        assert_eq!(SourceLabel::merge([Live, Cached]), Mixed);
        assert_eq!(SourceLabel::merge([Stale, Unavailable]), Mixed);
        assert_eq!(
            SourceLabel::merge([Live, Unavailable, Unavailable]),
            Mixed,
            "an overview whose download figures all failed is not `live`"
        );
        assert_eq!(SourceLabel::merge([Unavailable]), Unavailable);
        assert_eq!(SourceLabel::merge([]), Unavailable);
        assert_eq!(SourceLabel::merge([Estimated, Estimated]), Estimated);
    }

    /// The words clients and users read: changing one changes the provenance's text.
    #[test]
    fn every_stale_reason_keeps_its_text() {
        let up = Upstream::Pypistats;
        let failed = UnavailableCause::Status {
            status: 502,
            attempts: 2,
            retry_after: None,
        };
        let table = [
            (
                StaleReason::Failed {
                    upstream: up,
                    cause: failed.clone(),
                    remembered: None,
                },
                "pypistats answered HTTP 502 (2 attempts)",
            ),
            (
                StaleReason::Slow {
                    upstream: up,
                    budget: Duration::from_millis(2_000),
                },
                "pypistats slow: no answer within the 2000 ms answer budget; the refresh goes on in the background",
            ),
            (
                StaleReason::BreakerOpen { upstream: up },
                "past its fresh TTL; pypistats circuit breaker is open",
            ),
            (
                StaleReason::BreakerHalfOpen { upstream: up },
                "past its fresh TTL; pypistats circuit breaker is half_open",
            ),
            (
                StaleReason::PastTtl {
                    upstream: up,
                    last_failure: None,
                },
                "past its fresh TTL; refreshing from pypistats in the background",
            ),
            (
                StaleReason::PastTtl {
                    upstream: up,
                    last_failure: Some((failed.clone(), Duration::from_secs(30))),
                },
                "past its fresh TTL; the last refresh failed 30 s ago (pypistats answered HTTP 502 (2 attempts)); retrying in the background",
            ),
            (
                StaleReason::Unconfirmed {
                    upstream: up,
                    last_failure: None,
                },
                "not confirmed since the restart; refreshing from pypistats in the background",
            ),
            (
                StaleReason::Unconfirmed {
                    upstream: up,
                    last_failure: Some(failed.clone()),
                },
                "not confirmed since the restart: the last refresh failed (pypistats answered HTTP 502 (2 attempts)); retrying in the background",
            ),
            (
                StaleReason::Failed {
                    upstream: up,
                    cause: failed,
                    remembered: None,
                }
                .kept_on_disk(),
                "pypistats answered HTTP 502 (2 attempts); the last good copy, kept on disk by an earlier run",
            ),
        ];
        for (reason, text) in table {
            // Exhaustive: a new reason must be added to the table above.
            match &reason {
                StaleReason::Failed { .. }
                | StaleReason::Slow { .. }
                | StaleReason::BreakerOpen { .. }
                | StaleReason::BreakerHalfOpen { .. }
                | StaleReason::PastTtl { .. }
                | StaleReason::Unconfirmed { .. }
                | StaleReason::KeptOnDisk(_) => {}
            }
            assert_eq!(reason.to_string(), text);
        }
    }

    #[test]
    fn ages_are_worded_in_the_largest_whole_unit() {
        for (secs, words) in [
            (0, "0 s ago"),
            (59, "59 s ago"),
            (60, "1 min ago"),
            (3_599, "59 min ago"),
            (3_600, "1 h ago"),
            (3 * 3_600 + 5, "3 h ago"),
            (47 * 3_600, "47 h ago"),
            (48 * 3_600, "2 days ago"),
            (30 * 86_400, "30 days ago"),
        ] {
            assert_eq!(ago_words(Duration::from_secs(secs)), words);
        }
    }

    #[test]
    fn provenance_serialises_tagged() {
        let p = Provenance::Estimated {
            basis: "sum of 7 days".into(),
            confidence: Confidence::High,
        };
        let j = serde_json::to_value(&p).unwrap();
        assert_eq!(j["kind"], "estimated");
        assert_eq!(j["confidence"], "high");
    }
}
