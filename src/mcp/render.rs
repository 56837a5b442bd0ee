//! Short human text for each result: the answer in one or a few lines, and always how
//! fresh it is (live, cached, stale and why, estimated and from what).

use std::fmt::Write as _;

use crate::engine::views::downloads::RecentDownloads;
use crate::engine::{CacheStats, HealthReport, MetricsSnapshot, PackageOverview, Readiness};
use crate::engine::{Datum, ItemFailure, PartialResult, Provenance};
use crate::questions::Period;

pub(crate) use crate::text::{age, thousands};

/// The freshness of one datum, without parentheses (the one describer's sentence).
pub(crate) fn freshness<T>(d: &Datum<T>) -> String {
    crate::describe::sentence(d)
}

fn figure(name: &str, d: &Datum<Option<u64>>) -> String {
    match d.value {
        Some(n) => format!("{} downloads {name} ({})", thousands(n), freshness(d)),
        None => format!("downloads {name} unknown ({})", freshness(d)),
    }
}

/// `get_download_statistics`; `period` says which figures were asked for.
pub(crate) fn recent(r: &RecentDownloads, period: Period) -> String {
    let mut lines = Vec::new();
    let estimated = [&r.last_day, &r.last_week, &r.last_month]
        .iter()
        .any(|d| matches!(d.provenance, Provenance::Estimated { .. }));
    if estimated {
        lines.push(format!(
            "{}: pypistats could not answer, so some figures are estimated from other observations",
            r.package
        ));
    }
    for (want, name, d) in [
        (Period::Day, "last day", &r.last_day),
        (Period::Week, "last week", &r.last_week),
        (Period::Month, "last month", &r.last_month),
    ] {
        if period.includes(want) {
            lines.push(format!("{}: {}", r.package, figure(name, d)));
        }
    }
    lines.join("\n")
}

pub(crate) fn failure(f: &ItemFailure) -> String {
    format!("- {}: {} ({})", f.item, f.reason, f.suggestion)
}

/// `get_packages_overview`.
pub(crate) fn overview(r: &PartialResult<PackageOverview>) -> String {
    let mut s = format!(
        "{} package(s) answered, {} failure(s); overall source {}",
        r.items.len(),
        r.failures.len(),
        r.source.as_str()
    );
    for item in &r.items {
        let i = &item.info.value;
        let _ = write!(
            s,
            "\n- {} {} ({})",
            i.name,
            i.version,
            freshness(&item.info)
        );
        if let Some(d) = &item.downloads {
            let _ = write!(s, "; {}", figure("last month", &d.last_month));
        }
    }
    if !r.failures.is_empty() {
        s.push_str("\nfailures:");
        for f in &r.failures {
            let _ = write!(s, "\n{}", failure(f));
        }
    }
    s
}

/// `health_check`.
pub(crate) fn health(h: &HealthReport) -> String {
    let mut s = if h.ready {
        "ready".to_string()
    } else {
        format!(
            "NOT ready: {}",
            h.reason.as_deref().unwrap_or("no reason given")
        )
    };
    let _ = write!(
        s,
        "; cache {} entries, hit ratio {:.0}%; {} actor restart(s)",
        h.cache.entries,
        h.cache.hit_ratio * 100.0,
        h.actor_restarts
    );
    for u in &h.upstreams {
        let _ = write!(
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
        let _ = write!(s, "\n{}", f.summary());
    }
    s
}

/// `ready_check`.
pub(crate) fn readiness(r: &Readiness) -> String {
    if r.ready {
        "ready: the engine takes calls".into()
    } else {
        format!(
            "not ready: {}",
            r.reason.as_deref().unwrap_or("no reason given")
        )
    }
}

/// `get_metrics`.
pub(crate) fn metrics(m: &MetricsSnapshot) -> String {
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

/// `get_cache_stats`: the cache, then the store on disk behind it when there is one.
pub(crate) fn cache_stats(c: &CacheStats) -> String {
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

/// `refresh_cache`.
pub(crate) fn refreshed(n: u64, package: Option<&str>) -> String {
    let scope = match package {
        Some(p) => format!("about {p}"),
        None => "(everything)".into(),
    };
    format!(
        "dropped {n} cached entr{} {scope}",
        if n == 1 { "y" } else { "ies" }
    )
}
