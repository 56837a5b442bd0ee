//! How the CLI prints each answer: a table or a few lines (cells capped, control
//! characters stripped, a closed pipe ends quietly), provenance worded by
//! `crate::describe`, or the answer as JSON with `--json`.

use serde::Serialize;

use sentinel_actors::views::downloads::RecentDownloads;
use sentinel_actors::{HealthReport, PackageOverview, PartialResult};

use super::output::{self, source_cell, source_note, table, thousands};
use super::{Exit, Failure};
use crate::questions::Period;

/// Prints through [`output::clean`] (no escape sequence from an upstream reaches the
/// terminal) and [`output::emit`] (a closed pipe ends the program quietly).
macro_rules! out {
    ($($t:tt)*) => { output::emit(&output::clean(&format!($($t)*), true)) };
}
macro_rules! outln {
    ($($t:tt)*) => { output::emit(&(output::clean(&format!($($t)*), true) + "\n")) };
}

fn print_json<T: Serialize>(v: &T) {
    outln!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    );
}

fn notes(notes: impl IntoIterator<Item = Option<String>>) {
    out!("{}", output::notes(notes));
}

/// `downloads`: fails (`Exit::Unavailable`) when no figure could be given.
pub(super) fn downloads(r: &RecentDownloads, period: Period, json: bool) -> Result<(), Failure> {
    if json {
        print_json(r);
        return Ok(());
    }
    let figures = [
        (Period::Day, "last day", &r.last_day),
        (Period::Week, "last week", &r.last_week),
        (Period::Month, "last month", &r.last_month),
    ];
    let mut rows = vec![vec![
        "period".into(),
        "downloads".into(),
        "source".into(),
        "data as of".into(),
    ]];
    let mut ns = Vec::new();
    let mut lags = Vec::new();
    for (_, label, d) in figures.iter().filter(|(p, ..)| period.includes(*p)) {
        rows.push(vec![
            label.to_string(),
            d.value.map(thousands).unwrap_or_else(|| "-".into()),
            source_cell(d),
            d.data_as_of
                .as_ref()
                .map_or_else(|| "-".into(), |a| a.date.clone()),
        ]);
        ns.push(source_note(label, d));
        if let Some(l) = crate::describe::lag(d).filter(|l| !lags.contains(l)) {
            lags.push(l);
        }
    }
    outln!("{} downloads (source: {})", r.package, r.source);
    out!("{}", table(&rows));
    notes(ns.into_iter().chain(lags.into_iter().map(Some)));
    if figures.iter().all(|(_, _, d)| d.value.is_none()) {
        return Err(Failure::new(
            Exit::Unavailable,
            "no download figure could be given",
        ));
    }
    Ok(())
}

/// `overview`: `Exit::Partial` when only part of the batch was answered, `Unavailable` when none was
/// (documented in the README).
pub(super) fn overview(
    r: &PartialResult<PackageOverview>,
    asked: usize,
    json: bool,
) -> Result<(), Failure> {
    let partial = (!r.failures.is_empty() && !r.items.is_empty()).then(|| {
        Failure::partial(format!(
            "{} of {asked} items failed or were deferred",
            r.failures.len(),
        ))
    });
    if json {
        print_json(r);
        return partial.map_or(Ok(()), Err);
    }
    let mut rows = vec![vec![
        "package".into(),
        "version".into(),
        "source".into(),
        "last month".into(),
        "source".into(),
    ]];
    for item in &r.items {
        let (month, msrc) = match &item.downloads {
            Some(d) => (
                d.last_month
                    .value
                    .map(thousands)
                    .unwrap_or_else(|| "-".into()),
                source_cell(&d.last_month),
            ),
            None => ("-".into(), "unavailable".into()),
        };
        rows.push(vec![
            item.package.clone(),
            item.info.value.version.clone(),
            source_cell(&item.info),
            month,
            msrc,
        ]);
    }
    out!("{}", table(&rows));
    for f in &r.failures {
        outln!(
            "  failed: {} ({}): {}; {}",
            f.item,
            f.code,
            f.reason,
            f.suggestion
        );
    }
    outln!("overall source: {}", r.source);
    if r.items.is_empty() {
        return Err(Failure::new(
            Exit::Unavailable,
            "no package could be answered",
        ));
    }
    partial.map_or(Ok(()), Err)
}

/// `health`.
pub(super) fn health(h: &HealthReport, json: bool) {
    if json {
        return print_json(h);
    }
    outln!(
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
    out!("{}", table(&rows));
    outln!(
        "cache: {} entries, {} bytes; actor restarts: {}",
        h.cache.entries,
        h.cache.bytes,
        h.actor_restarts
    );
    let st = &h.store;
    outln!("{}", st.summary());
    if let Some(w) = &st.warning {
        outln!("store warning: {w}");
    }
    if let Some(f) = &h.fleet {
        outln!("{}", f.summary());
    }
}
