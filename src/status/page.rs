//! `GET /status`: the snapshot rendered server-side as one self-contained page (works
//! with JavaScript off); `status.js` then polls `/status.json` and redraws the same
//! markup. The CSS and the script are embedded in the binary; nothing is fetched from
//! anywhere else.
//!
//! Every state is said in words, and the charts' colours come with patterns (hatched
//! stale, dotted estimated, ...), so the page reads in greyscale and to a screen
//! reader (tables with headers, `<figure>` with a text alternative).

use std::fmt::Write as _;

use super::{ProvenanceMix, StatusSnapshot};
use sentinel_actors::BreakerState;
use sentinel_actors::{Incident, IncidentKind, TransitionCause};

const CSS: &str = include_str!("status.css");
const JS: &str = include_str!("status.js");

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn breaker_word(s: BreakerState) -> &'static str {
    match s {
        BreakerState::Closed => "closed",
        BreakerState::HalfOpen => "half-open",
        BreakerState::Open => "open",
    }
}

fn breaker_key(s: BreakerState) -> &'static str {
    match s {
        BreakerState::Closed => "closed",
        BreakerState::HalfOpen => "half_open",
        BreakerState::Open => "open",
    }
}

/// A stacked bar of a provenance mix, as SVG with a text alternative.
fn mix_bar(m: &ProvenanceMix, width: u32) -> String {
    let total = m.total();
    let mut o = String::new();
    let words: Vec<String> = m
        .as_pairs()
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(l, n)| format!("{l} {n}"))
        .collect();
    let alt = if total == 0 {
        "no answers".to_string()
    } else {
        words.join(", ")
    };
    let _ = write!(
        o,
        "<svg class=\"mix\" width=\"{width}\" height=\"14\" role=\"img\" aria-label=\"{}\"><title>{}</title>",
        esc(&alt),
        esc(&alt)
    );
    let mut x = 0.0;
    if total > 0 {
        for (l, n) in m.as_pairs() {
            if n == 0 {
                continue;
            }
            let w = n as f64 / total as f64 * f64::from(width);
            let _ = write!(
                o,
                "<rect x=\"{x:.1}\" y=\"0\" width=\"{w:.1}\" height=\"14\" class=\"p-{l}\"/>"
            );
            x += w;
        }
    } else {
        let _ = write!(
            o,
            "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"14\" class=\"p-none\"/>"
        );
    }
    o.push_str("</svg>");
    o
}

fn mix_words(m: &ProvenanceMix) -> String {
    let w: Vec<String> = m
        .as_pairs()
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(l, n)| format!("<span class=\"w-{l}\" data-label=\"{l}\">{l} {n}</span>"))
        .collect();
    if w.is_empty() {
        "none".into()
    } else {
        w.join(", ")
    }
}

/// A breaker timeline over the hour as an SVG strip.
fn timeline(u: &super::UpstreamStatus, now_s: u64) -> String {
    let width = 240.0;
    let start = now_s.saturating_sub(3_600) as f64;
    let mut o = String::new();
    let opened = u
        .breaker_timeline
        .iter()
        .filter(|r| r.state != BreakerState::Closed)
        .count();
    let alt = if opened == 0 {
        "closed all hour".to_string()
    } else {
        format!("{opened} period(s) not closed in the last hour")
    };
    let _ = write!(
        o,
        "<svg class=\"timeline\" width=\"240\" height=\"12\" role=\"img\" aria-label=\"{alt}\"><title>{alt}</title>"
    );
    for r in &u.breaker_timeline {
        let x0 = ((r.from_unix as f64 - start) / 3_600.0 * width).clamp(0.0, width);
        let x1 = ((r.to_unix as f64 - start) / 3_600.0 * width).clamp(0.0, width);
        if x1 <= x0 {
            continue;
        }
        let _ = write!(
            o,
            "<rect x=\"{x0:.1}\" y=\"0\" width=\"{:.1}\" height=\"12\" class=\"b-{}\"/>",
            x1 - x0,
            breaker_key(r.state)
        );
    }
    o.push_str("</svg>");
    o
}

fn pct(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

fn incident_row(i: &Incident) -> String {
    let (kind, subject, detail) = match &i.what {
        IncidentKind::BreakerTransition {
            upstream,
            from,
            to,
            cause,
        } => {
            let cause = match cause {
                TransitionCause::Tripped {
                    failure_rate,
                    consecutive_failures,
                    last_failure,
                } => format!(
                    "tripped: {} failures in the window, {consecutive_failures} in a row{}",
                    pct(*failure_rate),
                    last_failure
                        .as_ref()
                        .map(|f| format!("; last: {} ({})", f.kind, f.detail))
                        .unwrap_or_default()
                ),
                TransitionCause::OpenPeriodOver => "open period over: one probe may go".into(),
                TransitionCause::ProbeFailed { last_failure } => format!(
                    "probe failed{}",
                    last_failure
                        .as_ref()
                        .map(|f| format!(": {} ({})", f.kind, f.detail))
                        .unwrap_or_default()
                ),
                TransitionCause::ProbeSucceeded => "probe succeeded: recovered".into(),
            };
            (
                "breaker",
                format!(
                    "{} {} → {}",
                    upstream.as_str(),
                    breaker_word(*from),
                    breaker_word(*to)
                ),
                cause,
            )
        }
        IncidentKind::ActorRestart { actor, reason } => ("restart", actor.clone(), reason.clone()),
        IncidentKind::StoreDegraded {
            state,
            warning,
            errors,
        } => (
            "store",
            format!(
                "store {}",
                serde_json::to_value(state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
            format!(
                "{errors} errors{}",
                warning
                    .as_ref()
                    .map(|w| format!("; {w}"))
                    .unwrap_or_default()
            ),
        ),
    };
    format!(
        "<tr data-kind=\"{kind}\"><td><time data-ms=\"{ms}\">{t}</time></td><td>{kind}</td><td>{}</td><td>{}</td></tr>",
        esc(&subject),
        esc(&detail),
        ms = i.at_unix_ms,
        t = clock(i.at_unix_ms),
    )
}

/// `HH:MM:SS` UTC of a unix millisecond time.
fn clock(ms: u64) -> String {
    let s = ms / 1_000 % 86_400;
    format!("{:02}:{:02}:{:02} UTC", s / 3_600, s / 60 % 60, s % 60)
}

fn bytes(n: u64) -> String {
    const U: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", U[i])
}

/// The `<main>` content: rendered here for the first paint and without JavaScript.
pub fn body(s: &StatusSnapshot) -> String {
    let mut o = String::new();
    let now_s = s.generated_at_unix_ms / 1_000;
    let _ = write!(
        o,
        "<p id=\"summary\" data-ready=\"{}\" data-generated-ms=\"{}\">{} · snapshot at <time>{}</time> · version {}</p>",
        s.ready,
        s.generated_at_unix_ms,
        if s.ready {
            "Ready: taking calls".to_string()
        } else {
            format!(
                "NOT READY: {}",
                esc(s.not_ready_reason.as_deref().unwrap_or(""))
            )
        },
        clock(s.generated_at_unix_ms),
        esc(&s.version)
    );
    // Upstreams.
    o.push_str("<section aria-labelledby=\"h-up\"><h2 id=\"h-up\">Upstreams</h2><table id=\"upstreams\"><thead><tr><th scope=\"col\">Upstream</th><th scope=\"col\">Breaker</th><th scope=\"col\">Last hour</th><th scope=\"col\">Error rate</th><th scope=\"col\">Latency p50 / p99</th><th scope=\"col\">Quota use (last minute)</th><th scope=\"col\">Queue · slot waits · deferred</th><th scope=\"col\">Last failure</th></tr></thead><tbody>");
    for u in s.upstreams.iter().filter(|u| u.enabled) {
        let quota = match &u.quota {
            Some(q) => format!(
                "<meter min=\"0\" max=\"{m}\" high=\"{h}\" value=\"{v}\">{v}/{m}</meter> {v} / {m} per min ({p})",
                m = q.per_minute,
                h = (q.per_minute as f64 * 0.9).floor(),
                v = q.used_last_minute,
                p = pct(q.ratio)
            ),
            None => "no limit".into(),
        };
        let lat = match (u.p50_ms, u.p99_ms) {
            (Some(a), Some(b)) => format!("≤{a} ms / ≤{b} ms"),
            _ => "no fetch yet".into(),
        };
        let _ = write!(
            o,
            "<tr data-upstream=\"{up}\"><th scope=\"row\">{up}</th><td><span class=\"badge b-{key}\" data-breaker=\"{key}\">{word}</span>{open}</td><td>{tl}</td><td>{er} <small>({f}/{r} failed in the hour)</small></td><td>{lat}</td><td>{quota}</td><td>{q} · {sw} · {d}</td><td>{lf}</td></tr>",
            up = esc(&u.upstream),
            key = breaker_key(u.breaker),
            word = breaker_word(u.breaker).to_uppercase(),
            open = u
                .open_for_secs
                .map(|x| format!(" <small>probe in {x:.0} s</small>"))
                .unwrap_or_default(),
            tl = timeline(u, now_s),
            er = pct(u.error_rate),
            f = u.failures_last_hour,
            r = u.requests_last_hour,
            q = u.queue_len,
            sw = u.slot_waits,
            d = u.deferred,
            lf = u
                .last_failure
                .as_ref()
                .map(|f| format!("{}: {}", esc(&f.kind), esc(&f.detail)))
                .unwrap_or_else(|| "none".into()),
        );
    }
    o.push_str("</tbody></table><p class=\"legend\">Breaker: <span class=\"badge b-closed\">CLOSED</span> calls go through · <span class=\"badge b-half_open\">HALF-OPEN</span> one probe · <span class=\"badge b-open\">OPEN</span> no calls, answers come from the cache or estimates.</p></section>");
    // Provenance.
    let _ = write!(
        o,
        "<section aria-labelledby=\"h-prov\"><h2 id=\"h-prov\">What users get: provenance of answers</h2><figure><figcaption>All answers, last hour: <span id=\"mix-words\">{}</span></figcaption>{}</figure>",
        mix_words(&s.provenance),
        mix_bar(&s.provenance, 480)
    );
    o.push_str("<table id=\"tools\"><thead><tr><th scope=\"col\">Tool</th><th scope=\"col\">Calls (hour)</th><th scope=\"col\">Calls/s</th><th scope=\"col\">Cancelled</th><th scope=\"col\">Mix, last hour</th><th scope=\"col\">Last minute</th></tr></thead><tbody>");
    if s.tools.is_empty() {
        o.push_str("<tr><td colspan=\"6\">No tool calls in the last hour.</td></tr>");
    }
    for t in &s.tools {
        let _ = write!(
            o,
            "<tr data-tool=\"{tool}\"><th scope=\"row\">{tool}</th><td>{c}</td><td>{r:.1}</td><td>{x}</td><td>{bar}</td><td class=\"last-minute\">{lm}</td></tr>",
            tool = esc(&t.tool),
            c = t.calls_last_hour,
            r = t.calls_per_sec,
            x = t.cancelled_last_hour,
            bar = mix_bar(&t.provenance, 160),
            lm = mix_words(&t.provenance_last_minute),
        );
    }
    o.push_str("</tbody></table><p class=\"legend\">");
    for (l, _) in ProvenanceMix::default().as_pairs() {
        let _ = write!(
            o,
            "<svg width=\"14\" height=\"14\" aria-hidden=\"true\"><rect width=\"14\" height=\"14\" class=\"p-{l}\"/></svg> {l} "
        );
    }
    o.push_str("</p></section>");
    // Cache and store.
    let c = &s.cache;
    let st = &s.store;
    let _ = write!(
        o,
        "<section aria-labelledby=\"h-cache\"><h2 id=\"h-cache\">Cache and store</h2><dl class=\"grid\"><dt>Cache entries</dt><dd>{}</dd><dt>Cache bytes</dt><dd><meter min=\"0\" max=\"{}\" value=\"{}\"></meter> {} of {}</dd><dt>Hit ratio</dt><dd>{}</dd><dt>Evictions</dt><dd>{}</dd><dt>Stale serves</dt><dd>{}</dd><dt>Store</dt><dd id=\"store-state\" data-state=\"{}\">{}</dd><dt>Store size</dt><dd>{} ({} documents)</dd><dt>Store errors</dt><dd>{} errors, {} dropped writes{}</dd></dl></section>",
        c.entries,
        c.capacity_bytes,
        c.bytes,
        bytes(c.bytes),
        bytes(c.capacity_bytes),
        pct(c.hit_ratio),
        c.evictions,
        c.stale_served,
        store_key(st.state),
        store_key(st.state).replace('_', "-").to_uppercase(),
        bytes(st.size_bytes),
        st.documents,
        st.errors,
        st.dropped_writes,
        st.warning
            .as_ref()
            .map(|w| format!("; {}", esc(w)))
            .unwrap_or_default(),
    );
    // Incidents.
    o.push_str("<section aria-labelledby=\"h-inc\"><h2 id=\"h-inc\">Incidents, last hour</h2><table id=\"incidents\"><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Kind</th><th scope=\"col\">What</th><th scope=\"col\">Cause</th></tr></thead><tbody>");
    if s.incidents.is_empty() {
        o.push_str("<tr><td colspan=\"4\">No incident in the last hour.</td></tr>");
    }
    for i in s.incidents.iter().take(50) {
        o.push_str(&incident_row(i));
    }
    o.push_str("</tbody></table></section>");
    // MCP.
    let m = &s.mcp;
    let _ = write!(
        o,
        "<section aria-labelledby=\"h-mcp\"><h2 id=\"h-mcp\">MCP</h2><dl class=\"grid\"><dt>Sessions</dt><dd id=\"sessions\">{}</dd><dt>Calls/s (last 10 s)</dt><dd>{:.1}</dd><dt>Calls, last hour</dt><dd>{}</dd><dt>Cancelled, last hour</dt><dd>{}</dd></dl></section>",
        match (m.sessions, m.max_sessions) {
            (Some(a), Some(b)) => format!("{a} of at most {b}"),
            _ => "stdio".into(),
        },
        m.calls_per_sec,
        m.calls_last_hour,
        m.cancelled_last_hour
    );
    // Fleet.
    o.push_str("<section aria-labelledby=\"h-fleet\"><h2 id=\"h-fleet\">Fleet</h2>");
    match &s.fleet {
        None => o.push_str("<p id=\"fleet\">Single instance: no shared tier configured.</p>"),
        Some(f) => {
            let [ok, timeout, error, skipped] = f.ops;
            let _ = write!(
                o,
                "<dl id=\"fleet\" class=\"grid\"><dt>Mode</dt><dd>{}</dd><dt>Replicas seen</dt><dd>{}</dd><dt>Gate</dt><dd>{}</dd><dt>Round trip</dt><dd>{}</dd><dt>Redis calls</dt><dd>{ok} answered, {timeout} past their deadline, {error} failed, {skipped} skipped by the gate</dd><dt>Fleet quota</dt><dd>{} granted, {} deferred, {} from this replica's fair share</dd></dl>",
                esc(&f.mode),
                f.replicas_seen,
                esc(&f.gate_state),
                f.round_trip_ms
                    .map(|r| format!("{r:.1} ms"))
                    .unwrap_or_else(|| "unknown".into()),
                f.quota_granted,
                f.quota_deferred,
                f.quota_local_share,
            );
        }
    }
    o.push_str("</section>");
    o
}

fn store_key(s: sentinel_actors::StoreState) -> &'static str {
    match s {
        sentinel_actors::StoreState::Off => "off",
        sentinel_actors::StoreState::Active => "active",
        sentinel_actors::StoreState::MemoryOnly => "memory_only",
    }
}

/// The whole page.
pub fn render(s: &StatusSnapshot) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>pypi-sentinel status</title><style>{CSS}</style></head><body><header><h1>pypi-sentinel status</h1><p id=\"live\" aria-live=\"polite\">Static snapshot (JavaScript off): reload for fresh figures.</p></header><main id=\"main\">{}</main><script>{JS}</script></body></html>",
        body(s)
    )
}
