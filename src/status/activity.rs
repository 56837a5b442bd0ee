//! What the product knows of the last hour: per MCP tool, its calls, the provenance
//! label of each answer, and cancellations; recorded where the MCP layer answers
//! (`SentinelMcp::call_tool`). The engine's own facts (breakers, restarts, store) are
//! its recorder's (`EngineHandle::incidents`); the split is docs/ARCHITECTURE.md's
//! "The last hour".
//!
//! Bounded: one ring of 360 buckets of 10 s per tool name, and tool names are the
//! fixed set `metric_label` returns (an unknown name is `other`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use sentinel_actors::series::{BUCKET_SECS, Ring};
use serde_json::Value;

/// The provenance labels of answers, in the order the page shows them.
pub const LABELS: [&str; 9] = [
    "live",
    "revalidated",
    "cached",
    "stale",
    "estimated",
    "mixed",
    "deferred",
    "unavailable",
    "error",
];

/// One 10 s bucket of one tool.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ToolBucket {
    pub(crate) calls: u32,
    pub(crate) cancelled: u32,
    pub(crate) labels: [u32; LABELS.len()],
}

/// The MCP layer's recorder of the last hour.
#[derive(Default)]
pub struct Activity {
    tools: Mutex<HashMap<&'static str, Ring<ToolBucket>>>,
}

impl std::fmt::Debug for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activity").finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The provenance label of one tool result's structured content: a datum's
/// `provenance.kind` (which tells `revalidated` from `live`), else the answer's
/// `source`; an upstream error is `deferred` when our own rate limit deferred it,
/// else `unavailable`; any other error is `error`.
pub fn label_of(structured: Option<&Value>, is_error: bool) -> &'static str {
    let Some(s) = structured else {
        return if is_error { "error" } else { "live" };
    };
    if is_error {
        return match s.get("error").and_then(Value::as_str) {
            Some("unavailable") => {
                let cause = s.pointer("/cause/cause").and_then(Value::as_str);
                if cause == Some("rate_limited") {
                    "deferred"
                } else {
                    "unavailable"
                }
            }
            _ => "error",
        };
    }
    let word = s
        .pointer("/provenance/kind")
        .and_then(Value::as_str)
        .or_else(|| s.get("source").and_then(Value::as_str))
        .unwrap_or("live");
    LABELS
        .iter()
        .find(|l| **l == word)
        .copied()
        .unwrap_or("mixed")
}

/// One tool's last hour.
#[derive(Clone, Debug, Default)]
pub(crate) struct ToolHour {
    pub(crate) tool: &'static str,
    pub(crate) calls: u64,
    pub(crate) calls_last_10s: u64,
    pub(crate) cancelled: u64,
    pub(crate) labels: [u64; LABELS.len()],
    /// Each bucket of the hour, oldest first: `(start unix secs, labels)`.
    pub(crate) series: Vec<(u64, [u32; LABELS.len()])>,
}

impl Activity {
    /// A tool call ended with `label` (see [`label_of`]); `cancelled` when the client
    /// cancelled it.
    pub fn record(&self, tool: &'static str, label: &'static str, cancelled: bool) {
        let i = LABELS
            .iter()
            .position(|l| *l == label)
            .unwrap_or(LABELS.len() - 1);
        let mut tools = self.tools.lock().unwrap_or_else(|p| p.into_inner());
        tools.entry(tool).or_default().update(now_secs(), |b| {
            b.calls += 1;
            if cancelled {
                b.cancelled += 1;
            } else {
                b.labels[i] += 1;
            }
        });
    }

    /// Every tool called in the last hour, by name.
    pub(crate) fn hour(&self) -> Vec<ToolHour> {
        let now = now_secs();
        let tools = self.tools.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<ToolHour> = tools
            .iter()
            .map(|(tool, ring)| {
                let mut h = ToolHour {
                    tool,
                    ..ToolHour::default()
                };
                for (start, b) in ring.window(now) {
                    let b = b.unwrap_or_default();
                    h.calls += u64::from(b.calls);
                    h.cancelled += u64::from(b.cancelled);
                    for (t, c) in h.labels.iter_mut().zip(b.labels) {
                        *t += u64::from(c);
                    }
                    h.series.push((start, b.labels));
                }
                h.calls_last_10s = ring
                    .recent(now, BUCKET_SECS)
                    .map(|b| u64::from(b.calls))
                    .sum();
                h
            })
            .filter(|h| h.calls > 0)
            .collect();
        out.sort_by_key(|h| h.tool);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_come_from_the_answer() {
        assert_eq!(label_of(Some(&json!({"source": "stale"})), false), "stale");
        assert_eq!(
            label_of(
                Some(&json!({"source": "live", "provenance": {"kind": "revalidated"}})),
                false
            ),
            "revalidated"
        );
        assert_eq!(
            label_of(
                Some(&json!({"error": "unavailable", "cause": {"cause": "rate_limited"}})),
                true
            ),
            "deferred"
        );
        assert_eq!(
            label_of(
                Some(&json!({"error": "unavailable", "cause": {"cause": "breaker_open"}})),
                true
            ),
            "unavailable"
        );
        assert_eq!(
            label_of(Some(&json!({"error": "not_found"})), true),
            "error"
        );
    }

    #[test]
    fn the_hour_counts_labels_and_cancellations() {
        let a = Activity::default();
        a.record("get_download_stats", "live", false);
        a.record("get_download_stats", "stale", false);
        a.record("get_download_stats", "estimated", false);
        a.record("get_download_stats", "live", true);
        let h = a.hour();
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].calls, h[0].cancelled, h[0].calls_last_10s), (4, 1, 4));
        assert_eq!(h[0].labels[0], 1);
        assert_eq!(h[0].labels[3], 1);
        assert_eq!(h[0].labels[4], 1);
        assert_eq!(h[0].series.len(), sentinel_actors::series::BUCKETS);
    }
}
