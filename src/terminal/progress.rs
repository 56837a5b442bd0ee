//! A spinner on stderr while a command waits for the network: shown on a terminal
//! only, never with `--json`, and only once the command has run for a second (a cached
//! answer never flickers one). It says what the engine is doing from its own counters:
//! requests sent, and fetches waiting for their slot of our own rate limit. A
//! download shows its bytes instead once the file's body is coming: a bar when its
//! size is known (listed by the index, or announced), else the bytes so far.

use std::future::Future;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sentinel_actors::{EngineHandle, FetchStats, TransferProgress};

/// How long a command runs before the spinner appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// How often its line is redrawn.
const TICK: Duration = Duration::from_millis(120);

/// Whether a spinner may be drawn: a person is watching stderr and the output is not
/// meant for a program.
pub(crate) fn wanted(json: bool, stderr_is_terminal: bool) -> bool {
    !json && stderr_is_terminal
}

/// Runs `work`, with a spinner naming `what` once it has taken longer than a second.
pub(crate) async fn while_waiting<F: Future>(
    engine: &EngineHandle,
    what: &str,
    json: bool,
    work: F,
) -> F::Output {
    with_bar(json, work, |bar| {
        bar.set_message(line(what, &engine.metrics().upstreams));
    })
    .await
}

/// Runs a download, with (once it has taken longer than a second) the request
/// spinner until the file's body comes, then its bytes: a bar against its size when
/// known, else the bytes so far. Same rules as [`while_waiting`]: a terminal only,
/// never `--json`.
pub(crate) async fn while_downloading<F: Future>(
    engine: &EngineHandle,
    json: bool,
    work: F,
) -> F::Output {
    let mut shape = Shape::Requests;
    with_bar(json, work, |bar| {
        let p = engine.download_progress();
        let now = shape_of(p);
        if now != shape {
            shape = now;
            if let Ok(style) = ProgressStyle::with_template(template(shape)) {
                bar.set_style(style);
            }
        }
        match shape {
            Shape::Requests => bar.set_message(line("downloading", &engine.metrics().upstreams)),
            _ => {
                bar.set_length(p.total.unwrap_or(0));
                bar.set_position(p.received);
            }
        }
    })
    .await
}

/// The one driver of both: nothing unless [`wanted`]; after [`SHOW_AFTER`], a
/// spinner that `redraw` updates every [`TICK`] until `work` ends, then cleared.
async fn with_bar<F: Future>(
    json: bool,
    work: F,
    mut redraw: impl FnMut(&ProgressBar),
) -> F::Output {
    if !wanted(json, std::io::stderr().is_terminal()) {
        return work.await;
    }
    tokio::pin!(work);
    tokio::select! {
        out = &mut work => return out,
        _ = tokio::time::sleep(SHOW_AFTER) => {}
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template(template(Shape::Requests)) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(TICK);
    let mut tick = tokio::time::interval(TICK);
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            _ = tick.tick() => redraw(&bar),
        }
    };
    bar.finish_and_clear();
    out
}

/// What the download's line shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Nothing of the file yet: the requests sent (the release's file list first).
    Requests,
    /// The body is coming, size known: a bar.
    Bar,
    /// The body is coming, size unknown: the bytes so far.
    Bytes,
}

pub(crate) fn shape_of(p: TransferProgress) -> Shape {
    match (p.received, p.total) {
        (_, Some(_)) => Shape::Bar,
        (0, None) => Shape::Requests,
        (_, None) => Shape::Bytes,
    }
}

fn template(shape: Shape) -> &'static str {
    match shape {
        Shape::Requests => "{spinner} {msg} ({elapsed})",
        Shape::Bar => {
            "downloading [{bar:30}] {bytes}/{total_bytes} ({binary_bytes_per_sec}, {eta} left)"
        }
        Shape::Bytes => "{spinner} downloading: {bytes} ({binary_bytes_per_sec})",
    }
}

/// The spinner's text, from the upstreams' counters.
pub(crate) fn line(what: &str, upstreams: &[FetchStats]) -> String {
    let sent: u64 = upstreams.iter().map(|u| u.requests).sum();
    let waiting: u64 = upstreams.iter().map(|u| u.slot_waits).sum();
    let mut s = format!("{what}: {sent} request{} sent", plural(sent));
    if waiting > 0 {
        s.push_str(&format!(
            ", {waiting} waiting for our own rate limit (--no-wait answers without waiting)"
        ));
    }
    s
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentinel_actors::Upstream;

    fn stats(up: Upstream, requests: u64, slot_waits: u64) -> FetchStats {
        FetchStats {
            upstream: up,
            requests,
            attempts: requests,
            retries: 0,
            budget_refusals: 0,
            failures: 0,
            deferred: 0,
            queued: 0,
            cancelled: 0,
            queue_len: 0,
            slot_waits,
        }
    }

    #[test]
    fn the_spinner_is_never_drawn_for_json_or_a_pipe() {
        assert!(wanted(false, true));
        assert!(!wanted(true, true), "--json on a terminal");
        assert!(!wanted(false, false), "stderr is a pipe or a file");
        assert!(!wanted(true, false));
    }

    #[test]
    fn a_download_shows_a_bar_only_once_its_size_is_known() {
        let p = |received, total| TransferProgress { received, total };
        assert_eq!(shape_of(p(0, None)), Shape::Requests);
        assert_eq!(shape_of(p(0, Some(10))), Shape::Bar);
        assert_eq!(shape_of(p(5, Some(10))), Shape::Bar);
        assert_eq!(shape_of(p(5, None)), Shape::Bytes);
        for s in [Shape::Requests, Shape::Bar, Shape::Bytes] {
            assert!(ProgressStyle::with_template(template(s)).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn the_line_sums_every_upstream_and_names_what_waits_for_our_limit() {
        let ups = [
            stats(Upstream::PypiSimple, 40, 0),
            stats(Upstream::Files, 1, 3),
        ];
        assert_eq!(
            line("resolving", &ups),
            "resolving: 41 requests sent, 3 waiting for our own rate limit (--no-wait answers without waiting)"
        );
        assert_eq!(
            line("scanning", &[stats(Upstream::PypiJson, 1, 0)]),
            "scanning: 1 request sent"
        );
    }
}
