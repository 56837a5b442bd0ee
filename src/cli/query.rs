//! The query commands: start an engine, ask, print a table (or JSON), stop.

use std::io::IsTerminal;
use std::time::Instant;

use sentinel_actors::views::deps::TargetEnv;
use sentinel_actors::{Engine, EngineConfig, EngineHandle, InputError, QueryError};
use serde::Serialize;

use super::output::{self, source_cell, source_note, table, thousands};
use super::{Command, EXIT_BAD_INPUT, EXIT_CONFIG, EXIT_UNAVAILABLE, Failure, Period};

/// Prints through [`output::clean`] (no escape sequence from an upstream reaches the
/// terminal) and [`output::emit`] (a closed pipe ends the program quietly).
macro_rules! out {
    ($($t:tt)*) => { output::emit(&output::clean(&format!($($t)*), true)) };
}
macro_rules! outln {
    ($($t:tt)*) => { output::emit(&(output::clean(&format!($($t)*), true) + "\n")) };
}

/// Splits `NAME==VERSION`.
fn split_spec(spec: &str) -> Result<(&str, Option<&str>), Failure> {
    match spec.split_once("==") {
        None => Ok((spec, None)),
        Some((n, v)) if !n.is_empty() && !v.is_empty() => Ok((n, Some(v))),
        Some(_) => Err(Failure::from(sentinel_actors::QueryError::from(
            InputError {
                param: "package",
                value: spec.into(),
                rule: "write NAME or NAME==VERSION".into(),
            },
        ))),
    }
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

/// Runs a query command against a fresh engine.
pub(super) async fn run(cfg: EngineConfig, cmd: Command, json: bool) -> Result<(), Failure> {
    let engine = Engine::start(cfg)
        .await
        .map_err(|e| Failure::new(EXIT_CONFIG, e.to_string()))?;
    let started = Instant::now();
    let result = ask(&engine, cmd, json).await;
    if !json && std::io::stderr().is_terminal() {
        eprintln!("({} ms)", started.elapsed().as_millis());
    }
    engine.shutdown().await;
    result
}

async fn ask(engine: &EngineHandle, cmd: Command, json: bool) -> Result<(), Failure> {
    match cmd {
        Command::Info { spec } => {
            let (name, version) = split_spec(&spec)?;
            let d = engine.package_info(name, version).await?;
            if json {
                print_json(&d);
                return Ok(());
            }
            let i = &d.value;
            let mut rows = vec![
                vec!["name".into(), i.name.clone()],
                vec!["version".into(), i.version.clone()],
                vec!["summary".into(), i.summary.clone().unwrap_or_default()],
                vec![
                    "license".into(),
                    match (&i.license, i.license_text_chars) {
                        (Some(l), Some(n)) => {
                            format!("{l} (the License field is a {n}-character text)")
                        }
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
            rows.push(vec!["source".into(), source_cell(&d)]);
            out!("{}", table(&rows));
            notes([source_note("metadata", &d)]);
        }
        Command::Versions {
            name,
            stable,
            no_prereleases,
            no_yanked,
            limit,
        } => {
            let d = engine.versions(&name).await?;
            let (pre, yanked) = (!(stable || no_prereleases), !(stable || no_yanked));
            let mut list: Vec<_> = d
                .value
                .versions
                .iter()
                .filter(|v| (pre || !v.prerelease) && (yanked || !v.yanked))
                .collect();
            if let Some(n) = limit {
                list = list.split_off(list.len().saturating_sub(n));
            }
            if json {
                print_json(&d.clone().map(|mut v| {
                    v.versions = list.iter().map(|e| (*e).clone()).collect();
                    v
                }));
                return Ok(());
            }
            let mut rows = vec![vec![
                "version".into(),
                "uploaded".into(),
                "files".into(),
                "flags".into(),
            ]];
            for v in &list {
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
            let shown = if list.len() == d.value.versions.len() {
                format!("{} versions", list.len())
            } else {
                format!(
                    "{} of {} versions shown",
                    list.len(),
                    d.value.versions.len()
                )
            };
            outln!(
                "{shown}; latest stable {}; from {} ({})",
                d.value.latest_stable.as_deref().unwrap_or("none"),
                d.upstream,
                source_cell(&d)
            );
            notes(
                std::iter::once(source_note("versions", &d))
                    .chain(d.value.notes.iter().cloned().map(Some)),
            );
        }
        Command::Deps {
            spec,
            extras,
            python,
            platform,
            markers,
        } => {
            let (name, version) = split_spec(&spec)?;
            let python = python.as_deref().map(check_python).transpose()?;
            let mut overrides = std::collections::BTreeMap::new();
            for m in &markers {
                let Some((k, v)) = m.split_once('=') else {
                    return Err(Failure::new(
                        EXIT_BAD_INPUT,
                        format!(
                            "invalid marker {m:?}: write KEY=VALUE, e.g. platform_machine=aarch64"
                        ),
                    ));
                };
                overrides.insert(k.trim().to_string(), v.trim().to_string());
            }
            let evaluate =
                python.is_some() || platform.is_some() || !extras.is_empty() || !markers.is_empty();
            let env = if evaluate {
                Some(
                    TargetEnv::new(python.as_deref(), platform.as_deref(), &extras)
                        .and_then(|e| e.with_markers(&overrides))
                        .map_err(|e| Failure::new(EXIT_BAD_INPUT, e.to_string()))?,
                )
            } else {
                None
            };
            let d = engine.dependencies(name, version, env.as_ref()).await?;
            if json {
                print_json(&d);
                return Ok(());
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
                source_cell(&d)
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
                    .chain(std::iter::once(source_note("metadata", &d))),
            );
        }
        Command::Python { spec, check } => {
            let (name, version) = split_spec(&spec)?;
            match check {
                Some(py) => {
                    let py = check_python(&py)?;
                    let d = engine.python_compatibility(name, version, &py).await?;
                    if json {
                        print_json(&d);
                        return Ok(());
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
                    outln!("  {} ({})", d.value.detail, source_cell(&d));
                }
                None => {
                    let d = engine.supported_pythons(name, version).await?;
                    if json {
                        print_json(&d);
                        return Ok(());
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
                        source_cell(&d)
                    );
                }
            }
        }
        Command::Downloads { name, period } => {
            let r = engine.recent_downloads(&name).await?;
            if json {
                print_json(&r);
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
            for (_, label, d) in figures
                .iter()
                .filter(|(p, ..)| period.is_none_or(|want| want == *p))
            {
                rows.push(vec![
                    label.to_string(),
                    d.value.map(thousands).unwrap_or_else(|| "-".into()),
                    source_cell(d),
                    d.data_as_of
                        .as_ref()
                        .map_or_else(|| "-".into(), |a| a.date.clone()),
                ]);
                ns.push(source_note(label, d));
                if let Some(l) = output::lag_note(d).filter(|l| !lags.contains(l)) {
                    lags.push(l);
                }
            }
            outln!("{} downloads (source: {})", r.package, r.source);
            out!("{}", table(&rows));
            notes(ns.into_iter().chain(lags.into_iter().map(Some)));
            if figures.iter().all(|(_, _, d)| d.value.is_none()) {
                return Err(Failure::new(
                    EXIT_UNAVAILABLE,
                    "no download figure could be given",
                ));
            }
        }
        Command::Breakdown { name, by, days } => {
            let d = engine.download_breakdown(&name, by.kind(), days).await?;
            if json {
                print_json(&d);
                return Ok(());
            }
            outln!(
                "{} downloads by {} over {} days ({} to {}), {}{}",
                d.value.package,
                d.value.kind.trim_end_matches("_downloads"),
                d.value.days,
                d.value.from.as_deref().unwrap_or("?"),
                d.value.to.as_deref().unwrap_or("?"),
                source_cell(&d),
                output::as_of_suffix(&d)
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
            notes([source_note("breakdown", &d), output::lag_note(&d)]);
        }
        Command::Trends { name, days } => {
            let d = engine.download_trend(&name, days).await?;
            if json {
                print_json(&d);
                return Ok(());
            }
            let t = &d.value;
            let values: Vec<u64> = t.points.iter().map(|p| p.downloads).collect();
            outln!(
                "{} daily downloads, last {} days ({}{})",
                t.package,
                t.days,
                source_cell(&d),
                output::as_of_suffix(&d)
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
            notes([source_note("series", &d), output::lag_note(&d)]);
        }
        Command::Top { limit } => {
            let d = engine.top_packages(limit).await?;
            if json {
                print_json(&d);
                return Ok(());
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
                source_cell(&d)
            );
        }
        Command::Overview { names } => {
            if std::io::stderr().is_terminal() && !json {
                eprintln!("querying {} packages...", names.len());
            }
            let r = engine.overview(&names).await?;
            // Exit 6 when only part of the batch was answered (documented).
            let partial = (!r.failures.is_empty() && !r.items.is_empty()).then(|| {
                Failure::partial(format!(
                    "{} of {} items failed or were deferred",
                    r.failures.len(),
                    names.len()
                ))
            });
            if json {
                print_json(&r);
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
                    EXIT_UNAVAILABLE,
                    "no package could be answered",
                ));
            }
            if let Some(p) = partial {
                return Err(p);
            }
        }
        Command::Health => {
            let h = crate::secret::redact_health(engine.health().await);
            if json {
                print_json(&h);
                return Ok(());
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
            let state = serde_json::to_value(st.state)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            outln!(
                "store: {state}{}; {} documents, {} daily counts, {} bytes on disk; {} errors",
                st.path
                    .as_deref()
                    .map(|p| format!(" at {p}"))
                    .unwrap_or_default(),
                st.documents,
                st.series_points,
                st.size_bytes,
                st.errors
            );
            if let Some(w) = &st.warning {
                outln!("store warning: {w}");
            }
        }
        other => {
            return Err(Failure::new(
                super::EXIT_INTERNAL,
                format!("not a query command: {other:?}"),
            ));
        }
    }
    Ok(())
}

/// The same Python version check as the MCP tools (2.x or 3.x, major.minor).
fn check_python(raw: &str) -> Result<String, Failure> {
    crate::mcp::params::check_python_version(raw)
        .map_err(|e| Failure::from(QueryError::InvalidInput(e)))
}
