//! The server's own state: `health_check` / `pypi-sentinel health`, `ready_check`,
//! `get_metrics`, `get_cache_stats` and `refresh_cache`. Their answers are always
//! `live` (the server's own state, never an upstream's).

use schemars::JsonSchema;
use sentinel_actors::{
    CacheStats, EngineHandle, HealthReport, MetricsSnapshot, QueryError, Readiness, SourceLabel,
};
use serde::{Deserialize, Serialize};

use super::Run;
use super::show;
use super::{Ask, Hints};
use crate::terminal::Failure;
use crate::terminal::output::table;
use crate::text::{age, thousands};

/// The structured content of an ops tool: the report's own fields and `source`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct OpsOut<T> {
    #[serde(flatten)]
    report: T,
    /// Always `live`.
    source: SourceLabel,
}

impl<T> OpsOut<T> {
    fn live(report: T) -> Self {
        OpsOut {
            report,
            source: SourceLabel::Live,
        }
    }
}

/// The health of the server: breakers, counters, cache, store, restarts.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Health {}

impl Ask for Health {
    const TOOL: &'static str = "health_check";
    const DESCRIPTION: &'static str = "The health of pypi-sentinel: readiness, the circuit breaker and error rate of each upstream (pypi-json, pypi-simple, pypistats, pepy, top-packages), request counters, cache and store statistics and actor restarts. Call it when answers come back stale or unavailable.";
    const HINTS: Hints = Hints::OWN_STATE;

    type Answer = HealthReport;
    type Output<'a> = OpsOut<&'a HealthReport>;

    /// The report, credentials in upstream URLs redacted.
    async fn ask(&self, engine: &EngineHandle) -> Result<HealthReport, QueryError> {
        Ok(crate::secret::redact_health(engine.health().await))
    }

    fn output<'a>(&self, h: &'a HealthReport) -> Self::Output<'a> {
        OpsOut::live(h)
    }

    fn text(&self, h: &HealthReport) -> String {
        let mut s = if h.ready {
            "ready".to_string()
        } else {
            format!(
                "NOT ready: {}",
                h.reason.as_deref().unwrap_or("no reason given")
            )
        };
        w!(
            s,
            "; cache {} entries, hit ratio {:.0}%; {} actor restart(s)",
            h.cache.entries,
            h.cache.hit_ratio * 100.0,
            h.actor_restarts
        );
        for u in &h.upstreams {
            w!(
                s,
                "\n- {}: breaker {}{}, failure rate {:.0}%{}",
                u.health.upstream,
                u.health.breaker,
                u.health
                    .open_for_secs
                    .map(|x| format!(" for {}", age(x as u64)))
                    .unwrap_or_default(),
                u.health.failure_rate * 100.0,
                if u.enabled { "" } else { " (disabled)" }
            );
        }
        if let Some(f) = &h.fleet {
            w!(s, "\n{}", f.summary());
        }
        s
    }

    fn table(&self, h: &HealthReport) -> String {
        let mut s = String::new();
        ln!(
            s,
            "ready: {}{}",
            h.ready,
            h.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        let mut rows = vec![vec![
            "upstream".into(),
            "enabled".into(),
            "breaker".into(),
            "base url".into(),
        ]];
        for u in &h.upstreams {
            rows.push(vec![
                u.health.upstream.to_string(),
                u.enabled.to_string(),
                u.health.breaker.to_string(),
                u.base_url.clone(),
            ]);
        }
        w!(s, "{}", table(&rows));
        ln!(
            s,
            "cache: {} entries, {} bytes; actor restarts: {}",
            h.cache.entries,
            h.cache.bytes,
            h.actor_restarts
        );
        let st = &h.store;
        ln!(s, "{}", st.summary());
        if let Some(warning) = &st.warning {
            ln!(s, "store warning: {warning}");
        }
        if let Some(f) = &h.fleet {
            ln!(s, "{}", f.summary());
        }
        s
    }
}

/// Whether the server takes calls now.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Ready {}

impl Ask for Ready {
    const TOOL: &'static str = "ready_check";
    const DESCRIPTION: &'static str =
        "Whether pypi-sentinel takes calls now (`ready`), and why not when not.";
    const HINTS: Hints = Hints::OWN_STATE;

    type Answer = Readiness;
    type Output<'a> = OpsOut<&'a Readiness>;

    async fn ask(&self, engine: &EngineHandle) -> Result<Readiness, QueryError> {
        Ok(engine.readiness())
    }

    fn output<'a>(&self, r: &'a Readiness) -> Self::Output<'a> {
        OpsOut::live(r)
    }

    fn text(&self, r: &Readiness) -> String {
        if r.ready {
            "ready: the engine takes calls".into()
        } else {
            format!(
                "not ready: {}",
                r.reason.as_deref().unwrap_or("no reason given")
            )
        }
    }
}

/// The server's counters.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Metrics {}

/// `get_metrics`: the counters, and every series in Prometheus text.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct MetricsOut<T> {
    #[serde(flatten)]
    report: T,
    /// Every metric series, in Prometheus text format (what `GET /metrics` serves).
    prometheus: String,
    /// Always `live`.
    source: SourceLabel,
}

impl Ask for Metrics {
    const TOOL: &'static str = "get_metrics";
    const DESCRIPTION: &'static str = "pypi-sentinel's counters: calls, coalesced calls, estimates served, breaker transitions, actor restarts, per-upstream request counters and cache statistics; `prometheus` holds every metric series in Prometheus text format.";
    const HINTS: Hints = Hints::OWN_STATE;

    type Answer = MetricsSnapshot;
    type Output<'a> = MetricsOut<&'a MetricsSnapshot>;

    async fn ask(&self, engine: &EngineHandle) -> Result<MetricsSnapshot, QueryError> {
        Ok(engine.metrics())
    }

    fn output<'a>(&self, m: &'a MetricsSnapshot) -> Self::Output<'a> {
        MetricsOut {
            report: m,
            // The same series `GET /metrics` exposes (tool calls by outcome, latencies,
            // upstream requests by status, breaker transitions...), in Prometheus text.
            prometheus: crate::telemetry::render_metrics(),
            source: SourceLabel::Live,
        }
    }

    fn text(&self, m: &MetricsSnapshot) -> String {
        format!(
            "{} calls, {} coalesced, {} estimates served, {} breaker transitions, {} actor restarts; \
             cache {} entries ({} bytes), hit ratio {:.0}%",
            m.calls,
            m.coalesced,
            m.estimates_served,
            m.breaker_transitions,
            m.actor_restarts,
            m.cache.entries,
            thousands(m.cache.bytes),
            m.cache.hit_ratio * 100.0
        )
    }
}

/// The cache and the store behind it.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Cache {}

impl Ask for Cache {
    const TOOL: &'static str = "get_cache_stats";
    const DESCRIPTION: &'static str = "Cache statistics: entries, bytes used and capacity, fresh hits, stale hits, misses, stale answers served, evictions and hit ratio; and the store on disk behind the cache (state, size, documents, daily counts, reads, writes, errors).";
    const HINTS: Hints = Hints::OWN_STATE;

    type Answer = CacheStats;
    type Output<'a> = OpsOut<&'a CacheStats>;

    async fn ask(&self, engine: &EngineHandle) -> Result<CacheStats, QueryError> {
        Ok(engine.cache_stats())
    }

    fn output<'a>(&self, c: &'a CacheStats) -> Self::Output<'a> {
        OpsOut::live(c)
    }

    /// The cache, then the store on disk behind it when there is one.
    fn text(&self, c: &CacheStats) -> String {
        let cache = format!(
            "cache: {} entries, {} of {} bytes, hit ratio {:.0}% ({} hits, {} stale hits, {} misses, {} stale served, {} evictions)",
            c.entries,
            thousands(c.bytes),
            thousands(c.capacity_bytes),
            c.hit_ratio * 100.0,
            c.hits,
            c.stale_hits,
            c.misses,
            c.stale_served,
            c.evictions
        );
        match &c.store {
            Some(st) => format!("{cache}; {}", st.summary()),
            None => cache,
        }
    }
}

/// Drop cached data so the next question is answered live.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Refresh {
    /// Drop only what is cached about this package; omit it to drop everything.
    #[serde(default)]
    pub package: Option<String>,
}

/// `refresh_cache`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct RefreshOut {
    /// How many cache entries were dropped.
    invalidated: u64,
    /// The package whose entries were dropped; null for everything.
    package: Option<String>,
    /// Always `live`.
    source: SourceLabel,
}

impl Ask for Refresh {
    const TOOL: &'static str = "refresh_cache";
    const DESCRIPTION: &'static str = "Drops cached data about `package` (or everything when omitted) so the next question is answered live. Use it when the user says data is out of date; it does not fetch anything itself.";
    const HINTS: Hints = Hints::OWN_STATE_RESET;

    /// How many entries were dropped.
    type Answer = u64;
    type Output<'a> = RefreshOut;

    async fn ask(&self, engine: &EngineHandle) -> Result<u64, QueryError> {
        engine.invalidate(self.package.as_deref()).await
    }

    fn output(&self, n: &u64) -> RefreshOut {
        RefreshOut {
            invalidated: *n,
            package: self.package.clone(),
            source: SourceLabel::Live,
        }
    }

    fn text(&self, n: &u64) -> String {
        let scope = match &self.package {
            Some(p) => format!("about {p}"),
            None => "(everything)".into(),
        };
        format!(
            "dropped {n} cached entr{} {scope}",
            if *n == 1 { "y" } else { "ies" }
        )
    }
}

/// Upstream breakers, error rates, cache statistics.
#[derive(clap::Args, Debug)]
pub(crate) struct HealthFlags {}

impl Run for HealthFlags {
    async fn run(self, engine: &EngineHandle, json: bool) -> Result<(), Failure> {
        show(engine, Health {}, json).await
    }
}
