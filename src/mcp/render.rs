//! Short human text for each result: the answer in one or a few lines, and always how
//! fresh it is (live, cached, stale and why, estimated and from what).

use std::fmt::Write as _;

use crate::engine::views::deps::Dependencies;
use crate::engine::views::docs::{DocsWithContext, PackageDocs};
use crate::engine::views::downloads::{Breakdown, RecentDownloads, TopPackages, Trend};
use crate::engine::views::info::PackageInfo;
use crate::engine::views::python::{CompatBasis, PythonCompat, SupportedPythons};
use crate::engine::views::versions::VersionList;
use crate::engine::{CacheStats, HealthReport, MetricsSnapshot, PackageOverview, Readiness};
use crate::engine::{Datum, ItemFailure, PartialResult, Provenance};
use crate::questions::Period;

pub(crate) use crate::text::{age, thousands};

/// The freshness of one datum, without parentheses (the one describer's sentence).
pub(crate) fn freshness<T>(d: &Datum<T>) -> String {
    crate::describe::sentence(d)
}

/// `get_package_info`.
pub(crate) fn package_info(d: &Datum<PackageInfo>) -> String {
    let i = &d.value;
    let mut s = format!("{} {}", i.name, i.version);
    if let Some(summary) = &i.summary {
        let _ = write!(s, ": {summary}");
    }
    let _ = write!(s, " ({})", freshness(d));
    let mut facts = Vec::new();
    if let Some(l) = &i.license {
        match i.license_text_chars {
            Some(n) => facts.push(format!(
                "license {l} (the License field is a {n}-character text)"
            )),
            None => facts.push(format!("license {l}")),
        }
    }
    if let Some(r) = &i.requires_python {
        facts.push(format!("requires Python {r}"));
    }
    if let Some(date) = &i.release_date {
        facts.push(format!("released {date}"));
    }
    facts.push(format!("{} declared dependencies", i.dependency_count));
    if i.yanked {
        facts.push(match &i.yanked_reason {
            Some(r) => format!("YANKED: {r}"),
            None => "YANKED".into(),
        });
    }
    let _ = write!(s, "\n{}", facts.join("; "));
    s
}

/// `get_package_versions`, after filtering.
pub(crate) fn versions(d: &Datum<VersionList>, total: usize) -> String {
    let v = &d.value;
    let shown: Vec<&str> = v
        .versions
        .iter()
        .rev()
        .take(10)
        .map(|e| e.version.as_str())
        .collect();
    let mut s = format!(
        "{}: {} versions returned of {total} ({})",
        v.package,
        v.versions.len(),
        freshness(d)
    );
    if let Some(l) = &v.latest_stable {
        let _ = write!(s, "; latest stable {l}");
    }
    if let Some(l) = &v.latest
        && v.latest_stable.as_ref() != Some(l)
    {
        let _ = write!(s, "; latest {l}");
    }
    if !shown.is_empty() {
        let _ = write!(s, "\nnewest first: {}", shown.join(", "));
        if v.versions.len() > shown.len() {
            s.push_str(", ...");
        }
    }
    for n in &v.notes {
        let _ = write!(s, "\nnote: {n}");
    }
    s
}

/// `get_package_dependencies`.
pub(crate) fn dependencies(d: &Datum<Dependencies>) -> String {
    let deps = &d.value;
    let mut s = format!(
        "{} {}: {} dependencies ({})",
        deps.package,
        deps.version,
        deps.dependencies.len(),
        freshness(d)
    );
    if let Some(env) = &deps.evaluated_for {
        let applies = deps
            .dependencies
            .iter()
            .filter(|x| x.applies == Some(true))
            .count();
        let _ = write!(
            s,
            "; {applies} apply to Python {} on {:?}{}",
            env.python_version,
            env.platform,
            if env.extras.is_empty() {
                String::new()
            } else {
                format!(" with extras [{}]", env.extras.join(", "))
            }
        );
    }
    for dep in deps.dependencies.iter().take(30) {
        let _ = write!(s, "\n- {}", dep.raw);
        match dep.applies {
            Some(true) => s.push_str("  [applies]"),
            Some(false) => s.push_str("  [does not apply]"),
            None => {}
        }
    }
    if deps.dependencies.len() > 30 {
        let _ = write!(s, "\n... and {} more", deps.dependencies.len() - 30);
    }
    if !deps.unparsed.is_empty() {
        let _ = write!(
            s,
            "\n{} requirement(s) could not be parsed",
            deps.unparsed.len()
        );
    }
    for n in &deps.notes {
        let _ = write!(s, "\nnote: {n}");
    }
    s
}

/// `check_package_python_compatibility`.
pub(crate) fn python_compat(d: &Datum<PythonCompat>) -> String {
    let c = &d.value;
    let verdict = match (c.compatible, c.only_some_patches) {
        (Some(true), true) => "supports some patch releases of",
        (Some(true), false) => "supports",
        (Some(false), _) => "does not support",
        (None, _) => "does not declare whether it supports",
    };
    format!(
        "{} {} {verdict} Python {} ({})\n{}",
        c.package,
        c.version,
        c.python_version,
        freshness(d),
        c.detail
    )
}

/// `get_package_compatible_python_versions`.
pub(crate) fn supported_pythons(d: &Datum<SupportedPythons>) -> String {
    let p = &d.value;
    let list = if p.supported.is_empty() {
        "no Python versions declared".to_string()
    } else {
        format!("Python {}", p.supported.join(", "))
    };
    let basis = match p.basis {
        CompatBasis::RequiresPython => format!(
            "from Requires-Python {:?}",
            p.requires_python.as_deref().unwrap_or_default()
        ),
        CompatBasis::Classifiers => {
            "listed in classifiers; no Requires-Python, so pip installs it on any Python".into()
        }
        CompatBasis::None => "neither Requires-Python nor classifiers".into(),
    };
    format!(
        "{} {}: {list} ({basis}; {})",
        p.package,
        p.version,
        freshness(d)
    )
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

/// `get_download_trends`.
pub(crate) fn trend(d: &Datum<Trend>) -> String {
    let t = &d.value;
    let mut s = format!(
        "{}: {} downloads over {} days, {} per day on average ({})",
        t.package,
        thousands(t.total),
        t.days,
        thousands(t.average_per_day.round() as u64),
        freshness(d)
    );
    if let Some(c) = t.change_percent {
        let _ = write!(s, "; change {c:+.1}% (first week vs last week)");
    }
    if let Some(p) = &t.peak {
        let _ = write!(s, "; peak {} on {}", thousands(p.downloads), p.date);
    }
    s
}

/// `get_download_breakdown`.
pub(crate) fn breakdown(d: &Datum<Breakdown>) -> String {
    let b = &d.value;
    let mut s = format!(
        "{}: {} downloads over {} days by {} ({})",
        b.package,
        thousands(b.total),
        b.days,
        b.kind.endpoint(),
        freshness(d)
    );
    for c in b.categories.iter().take(12) {
        let _ = write!(
            s,
            "\n- {}: {} ({:.1}%)",
            c.category,
            thousands(c.downloads),
            c.percent
        );
    }
    s
}

/// `get_top_downloaded_packages`.
pub(crate) fn top(d: &Datum<TopPackages>) -> String {
    let t = &d.value;
    let mut s = format!(
        "top {} of {} packages by downloads over 30 days ({}{})",
        t.rows.len(),
        t.total_in_dataset,
        freshness(d),
        t.last_update
            .as_ref()
            .map(|u| format!("; dataset of {u}"))
            .unwrap_or_default()
    );
    for r in t.rows.iter().take(50) {
        let _ = write!(
            s,
            "\n{}. {}: {}",
            r.rank,
            r.project,
            thousands(r.download_count)
        );
    }
    if t.rows.len() > 50 {
        let _ = write!(s, "\n... and {} more", t.rows.len() - 50);
    }
    s
}

fn failure(f: &ItemFailure) -> String {
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

/// The header of a docs answer: release, freshness, budget, summary, URLs.
fn docs_header(d: &Datum<PackageDocs>) -> String {
    let v = &d.value;
    let mut s = format!("{} {} docs ({})", v.package, v.version, freshness(d));
    if let Some(summary) = &v.summary {
        let _ = write!(s, "\n{summary}");
    }
    let mut urls = Vec::new();
    if let Some(u) = &v.documentation_url {
        urls.push(format!("documentation {u}"));
    }
    if let Some(u) = &v.source_url {
        urls.push(format!("source {u}"));
    }
    if !urls.is_empty() {
        let _ = write!(s, "\n{}", urls.join("; "));
    }
    let _ = write!(
        s,
        "\n{} of {} tokens shown ({} budget, counted with {}; {} sections shown, {} left out)",
        thousands(v.tokens as u64),
        thousands(v.total_tokens as u64),
        thousands(v.max_tokens as u64),
        v.encoding,
        v.sections.len(),
        v.sections_left_out()
    );
    s
}

/// `get_package_docs`.
pub(crate) fn package_docs(d: &Datum<PackageDocs>) -> String {
    let mut s = docs_header(d);
    if d.value.markdown.is_empty() {
        s.push_str("\nThe release publishes no description.");
    } else {
        let _ = write!(s, "\n\n{}", d.value.markdown);
    }
    s
}

/// `get_package_docs_with_context`.
pub(crate) fn docs_with_context(r: &DocsWithContext) -> String {
    let mut s = package_docs(&r.docs);
    let e = &r.evaluated_for;
    let deps = &r.dependencies;
    let _ = write!(
        s,
        "\n\n## Runtime dependencies for Python {} on {:?} ({} answered, {} failed; {} of {} tokens in all, dependencies up to {})",
        e.python_version,
        e.platform,
        deps.items.len(),
        deps.failures.len(),
        thousands(r.tokens as u64),
        thousands(r.max_tokens as u64),
        thousands(r.dependency_budget as u64),
    );
    for n in &r.notes {
        let _ = write!(s, "\nnote: {n}");
    }
    for d in &deps.items {
        let v = &d.value;
        let _ = write!(
            s,
            "\n\n### {}{} ({}; {} of its {}-token share{}; {})\n{}",
            v.package,
            if v.specifier.is_empty() {
                String::new()
            } else {
                format!(" {}", v.specifier)
            },
            v.version,
            v.tokens,
            v.share_tokens,
            if v.cut { ", cut" } else { "" },
            freshness(d),
            v.text
        );
    }
    if !deps.failures.is_empty() {
        s.push_str("\n\nfailures:");
        for f in &deps.failures {
            let _ = write!(s, "\n{}", failure(f));
        }
    }
    s
}
