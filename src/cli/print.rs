//! How the CLI prints each answer: a table or a few lines (cells capped, control
//! characters stripped, a closed pipe ends quietly), provenance worded by
//! `crate::describe`, or the answer as JSON with `--json`.

use serde::Serialize;

use sentinel_actors::views::deps::Dependencies;
use sentinel_actors::views::docs::{DocsWithContext, PackageDocs};
use sentinel_actors::views::downloads::{Breakdown, RecentDownloads, TopPackages, Trend};
use sentinel_actors::views::info::PackageInfo;
use sentinel_actors::views::python::{PythonCompat, SupportedPythons};
use sentinel_actors::{Datum, HealthReport, PackageOverview, PartialResult};

use super::output::{self, source_cell, source_note, table, thousands};
use super::{Exit, Failure};
use crate::questions::{Period, VersionsAnswer};

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
    for n in notes.into_iter().flatten() {
        outln!("  note: {n}");
    }
}

/// `info`.
pub(super) fn info(d: &Datum<PackageInfo>, json: bool) {
    if json {
        return print_json(d);
    }
    let i = &d.value;
    let mut rows = vec![
        vec!["name".into(), i.name.clone()],
        vec!["version".into(), i.version.clone()],
        vec!["summary".into(), i.summary.clone().unwrap_or_default()],
        vec![
            "license".into(),
            match (&i.license, i.license_text_chars) {
                (Some(l), Some(n)) => format!("{l} (the License field is a {n}-character text)"),
                (Some(l), None) => l.clone(),
                (None, _) => String::new(),
            },
        ],
        vec![
            "requires_python".into(),
            i.requires_python.clone().unwrap_or_default(),
        ],
        vec![
            "released".into(),
            i.release_date.clone().unwrap_or_default(),
        ],
        vec!["yanked".into(), i.yanked.to_string()],
        vec!["dependencies".into(), i.dependency_count.to_string()],
    ];
    for (label, url) in &i.project_urls {
        rows.push(vec![format!("url: {label}"), url.clone()]);
    }
    rows.push(vec!["source".into(), source_cell(d)]);
    out!("{}", table(&rows));
    notes([source_note("metadata", d)]);
}

/// `versions`.
pub(super) fn versions(a: &VersionsAnswer, json: bool) {
    let d = &a.datum;
    if json {
        return print_json(d);
    }
    let mut rows = vec![vec![
        "version".into(),
        "uploaded".into(),
        "files".into(),
        "flags".into(),
    ]];
    for v in &d.value.versions {
        let mut flags = Vec::new();
        if v.prerelease {
            flags.push("pre-release");
        }
        if v.yanked {
            flags.push("yanked");
        }
        if !v.pep440 {
            flags.push("legacy");
        }
        rows.push(vec![
            v.version.clone(),
            v.upload_date
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(10)
                .collect(),
            v.files.to_string(),
            flags.join(", "),
        ]);
    }
    out!("{}", table(&rows));
    let shown = d.value.versions.len();
    let shown = if shown == a.total {
        format!("{shown} versions")
    } else {
        format!("{shown} of {} versions shown", a.total)
    };
    outln!(
        "{shown}; latest stable {}; from {} ({})",
        d.value.latest_stable.as_deref().unwrap_or("none"),
        d.upstream,
        source_cell(d)
    );
    notes(
        std::iter::once(source_note("versions", d)).chain(d.value.notes.iter().cloned().map(Some)),
    );
}

/// `docs`: a header (release, provenance, budget, URLs), then
/// the Markdown.
pub(super) fn docs(d: &Datum<PackageDocs>, json: bool) {
    if json {
        return print_json(d);
    }
    docs_body(d);
}

fn docs_body(d: &Datum<PackageDocs>) {
    let v = &d.value;
    outln!("{} {} ({})", v.package, v.version, source_cell(d));
    if let Some(s) = &v.summary {
        outln!("{s}");
    }
    if let Some(u) = &v.documentation_url {
        outln!("documentation: {u}");
    }
    if let Some(u) = &v.source_url {
        outln!("source: {u}");
    }
    outln!(
        "{} of {} tokens ({} budget, {}); {} sections shown, {} left out",
        thousands(v.tokens as u64),
        thousands(v.total_tokens as u64),
        thousands(v.max_tokens as u64),
        v.encoding,
        v.sections.len(),
        v.sections_left_out()
    );
    notes([source_note("docs", d)]);
    outln!("");
    if v.markdown.is_empty() {
        outln!("(the release publishes no description)");
    } else {
        outln!("{}", v.markdown);
    }
}

/// `docs --with-deps`; a dependency that failed makes the exit code partial.
pub(super) fn docs_with_context(r: &DocsWithContext, json: bool) -> Result<(), Failure> {
    let deps = &r.dependencies;
    let partial = (!deps.failures.is_empty()).then(|| {
        Failure::partial(format!(
            "{} of {} dependencies failed",
            deps.failures.len(),
            deps.failures.len() + deps.items.len()
        ))
    });
    if json {
        print_json(r);
        return partial.map_or(Ok(()), Err);
    }
    docs_body(&r.docs);
    outln!("");
    outln!(
        "## Runtime dependencies for Python {} on {:?}: {} of {} tokens in all, dependencies up to {}",
        r.evaluated_for.python_version,
        r.evaluated_for.platform,
        thousands(r.tokens as u64),
        thousands(r.max_tokens as u64),
        thousands(r.dependency_budget as u64)
    );
    for n in &r.notes {
        outln!("  note: {n}");
    }
    for d in &deps.items {
        let v = &d.value;
        outln!("");
        outln!(
            "### {} {} ({}; {} of a {}-token share{}; {})",
            v.package,
            v.specifier,
            v.version,
            v.tokens,
            v.share_tokens,
            if v.cut { ", cut" } else { "" },
            source_cell(d)
        );
        outln!("{}", v.text);
    }
    for f in &deps.failures {
        outln!("  failed: {}: {} ({})", f.item, f.reason, f.suggestion);
    }
    partial.map_or(Ok(()), Err)
}

/// `deps`.
pub(super) fn deps(d: &Datum<Dependencies>, json: bool) {
    if json {
        return print_json(d);
    }
    let mut rows = vec![vec![
        "dependency".into(),
        "specifier".into(),
        "when".into(),
        "applies".into(),
    ]];
    for dep in &d.value.dependencies {
        let when = dep.marker.clone().unwrap_or_else(|| "always".into());
        let applies = match dep.applies {
            Some(true) => "yes",
            Some(false) => "no",
            None if dep.required => "required",
            None => "optional",
        };
        let name = if dep.extras.is_empty() {
            dep.name.clone()
        } else {
            format!("{}[{}]", dep.name, dep.extras.join(","))
        };
        rows.push(vec![name, dep.specifier.clone(), when, applies.into()]);
    }
    outln!(
        "{} {} ({})",
        d.value.package,
        d.value.version,
        source_cell(d)
    );
    if let Some(env) = &d.value.evaluated_for {
        outln!(
            "evaluated for Python {} on {:?}, extras [{}]",
            env.python_version,
            env.platform,
            env.extras.join(", ")
        );
    }
    out!("{}", table(&rows));
    for u in &d.value.unparsed {
        outln!("  not PEP 508, kept verbatim: {u}");
    }
    notes(
        d.value
            .notes
            .iter()
            .cloned()
            .map(Some)
            .chain(std::iter::once(source_note("metadata", d))),
    );
}

/// `python --check X.Y`.
pub(super) fn python_check(d: &Datum<PythonCompat>, json: bool) {
    if json {
        return print_json(d);
    }
    let verdict = match (d.value.compatible, d.value.only_some_patches) {
        (Some(true), true) => "yes, some patch releases",
        (Some(true), false) => "yes",
        (Some(false), _) => "no",
        (None, _) => "unknown (not declared)",
    };
    outln!(
        "{} {} supports Python {}: {verdict}",
        d.value.package,
        d.value.version,
        d.value.python_version
    );
    outln!("  {} ({})", d.value.detail, source_cell(d));
}

/// `python` without `--check`.
pub(super) fn pythons(d: &Datum<SupportedPythons>, json: bool) {
    if json {
        return print_json(d);
    }
    outln!(
        "{} {}: Python {} (from {}; {})",
        d.value.package,
        d.value.version,
        if d.value.supported.is_empty() {
            "unknown".into()
        } else {
            d.value.supported.join(", ")
        },
        d.value.basis,
        source_cell(d)
    );
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

/// `breakdown`.
pub(super) fn breakdown(d: &Datum<Breakdown>, json: bool) {
    if json {
        return print_json(d);
    }
    outln!(
        "{} downloads by {} over {} days ({} to {}), {}{}",
        d.value.package,
        d.value.kind.endpoint(),
        d.value.days,
        d.value.from.as_deref().unwrap_or("?"),
        d.value.to.as_deref().unwrap_or("?"),
        source_cell(d),
        output::as_of_suffix(d)
    );
    let mut rows = vec![vec!["category".into(), "downloads".into(), "share".into()]];
    for s in &d.value.categories {
        rows.push(vec![
            s.category.clone(),
            thousands(s.downloads),
            format!("{:.1} %", s.percent),
        ]);
    }
    out!("{}", table(&rows));
    notes([source_note("breakdown", d), crate::describe::lag(d)]);
}

/// `trends`.
pub(super) fn trend(d: &Datum<Trend>, json: bool) {
    if json {
        return print_json(d);
    }
    let t = &d.value;
    let values: Vec<u64> = t.points.iter().map(|p| p.downloads).collect();
    outln!(
        "{} daily downloads, last {} days ({}{})",
        t.package,
        t.days,
        source_cell(d),
        output::as_of_suffix(d)
    );
    if let (Some(first), Some(last)) = (t.points.first(), t.points.last()) {
        outln!(
            "{}  {}  {}",
            first.date,
            output::sparkline(&values),
            last.date
        );
    }
    outln!(
        "total {}  average {}/day  peak {}  change {}",
        thousands(t.total),
        thousands(t.average_per_day.round() as u64),
        t.peak
            .as_ref()
            .map(|p| format!("{} on {}", thousands(p.downloads), p.date))
            .unwrap_or_default(),
        t.change_percent
            .map(|c| format!("{c:+.1} %"))
            .unwrap_or_else(|| "n/a".into())
    );
    notes([source_note("series", d), crate::describe::lag(d)]);
}

/// `top`.
pub(super) fn top(d: &Datum<TopPackages>, json: bool) {
    if json {
        return print_json(d);
    }
    let mut rows = vec![vec![
        "rank".into(),
        "package".into(),
        "downloads (30 days)".into(),
    ]];
    for r in &d.value.rows {
        rows.push(vec![
            r.rank.to_string(),
            r.project.clone(),
            thousands(r.download_count),
        ]);
    }
    out!("{}", table(&rows));
    outln!(
        "dataset of {} packages, updated {} ({})",
        d.value.total_in_dataset,
        d.value.last_update.as_deref().unwrap_or("?"),
        source_cell(d)
    );
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
}
