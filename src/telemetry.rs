//! Logs (`tracing` to stderr, human or JSON) and metrics (the `metrics` crate with a
//! Prometheus recorder, rendered by `GET /metrics` and the `get_metrics` tool).
//!
//! Logs are bounded, because an MCP host keeps a server's stderr in a file and hostile
//! input decides how much a call logs (one resolve once wrote 170,000 lines, 17.6 MB,
//! of pubgrub's solver tracing):
//! - **Dependencies log warnings and errors only** unless named: a bare level
//!   (`info`, `debug`) is this program's own level; `pubgrub=debug` turns one on.
//! - **A call logs at most [`LINES_PER_CALL`] lines** (an MCP tool call's `tool`
//!   span); what it would have written past that is counted and said in one line when
//!   the call ends.
//! - **The process logs at most [`BURST`] lines at once, then [`LINES_PER_SEC`] a
//!   second**, whatever the lines belong to; a line then says how many were left out.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing::Subscriber;
use tracing::span::{Attributes, Id};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry};

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// This program's crates: a bare level applies to them; every other crate logs at
/// `warn` unless a directive names it.
const OWN_CRATES: [&str; 3] = ["pypi_sentinel", "sentinel_actors", "sentinel_sim"];

/// Most lines one call writes.
pub const LINES_PER_CALL: u64 = 1_000;
/// Most lines the process writes at once.
pub const BURST: u64 = 2_000;
/// Lines a second the process may write past the burst.
pub const LINES_PER_SEC: u64 = 100;

/// Spans that are one call: lines are counted per span of these names.
const CALL_SPANS: [&str; 1] = ["tool"];

/// Starts logging to stderr (stdout may be the MCP protocol). `RUST_LOG` wins over
/// `level` when set; either is read by [`directives`]. Calling it twice is harmless.
pub fn init_logging(level: &str, format: LogFormat) {
    let spec = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| level.to_string());
    let ansi = std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    let _ = subscriber(&spec, format, ansi, std::io::stderr).try_init();
}

/// The filter for a level or directive list: each bare level (`info`) applies to this
/// program's crates, dependencies stay at `warn` (or the bare level, when quieter),
/// and `target=level` directives are kept as written, after those.
pub fn directives(spec: &str) -> String {
    let mut own = None;
    let mut named = Vec::new();
    for d in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if d.contains('=') || d.contains('[') {
            named.push(d.to_string());
        } else {
            own = Some(d.to_ascii_lowercase());
        }
    }
    let mut out = Vec::new();
    if let Some(level) = own {
        let quieter = matches!(level.as_str(), "off" | "error");
        out.push(if quieter {
            level.clone()
        } else {
            "warn".into()
        });
        out.extend(OWN_CRATES.iter().map(|c| format!("{c}={level}")));
    } else {
        out.push("warn".into());
    }
    out.extend(named);
    out.join(",")
}

/// The subscriber [`init_logging`] installs, writing to `writer`.
pub fn subscriber<W>(
    spec: &str,
    format: LogFormat,
    ansi: bool,
    writer: W,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(directives(spec)).unwrap_or_else(|e| {
        eprintln!("warning: log level {spec:?} not understood ({e}); logging warnings");
        EnvFilter::new("warn")
    });
    let writer = Throttled::new(writer, format);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    let fmt = match format {
        LogFormat::Human => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    Registry::default()
        .with(filter)
        .with(CallCap {
            max: LINES_PER_CALL,
        })
        .with(fmt)
}

// ---- per call ------------------------------------------------------------------------

/// Lines of one call, kept in its span.
#[derive(Default)]
struct CallLines {
    written: AtomicU64,
    left_out: AtomicU64,
}

/// Drops a call's lines past `max`, and says how many when the call ends.
struct CallCap {
    max: u64,
}

impl<S> Layer<S> for CallCap
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if CALL_SPANS.contains(&attrs.metadata().name())
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(CallLines::default());
        }
    }

    fn event_enabled(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) -> bool {
        let Some(scope) = ctx.event_scope(event) else {
            return true;
        };
        for span in scope {
            if let Some(lines) = span.extensions().get::<CallLines>() {
                if lines.written.fetch_add(1, Ordering::Relaxed) < self.max {
                    return true;
                }
                lines.left_out.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
        true
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let left_out = span
            .extensions()
            .get::<CallLines>()
            .map_or(0, |l| l.left_out.load(Ordering::Relaxed));
        if left_out > 0 {
            // Outside any dispatch (a span closes from its handle), so this line is
            // written like any other.
            tracing::warn!(
                left_out,
                "{left_out} log lines of this {} call left out (more than {} lines)",
                span.name(),
                self.max
            );
        }
    }
}

// ---- per process ---------------------------------------------------------------------

/// A token bucket of lines: [`BURST`] at once, [`LINES_PER_SEC`] a second after.
/// Takes `now`, so its tests use explicit instants.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
    left_out: u64,
}

/// What the bucket says of one line.
#[derive(Debug, PartialEq, Eq)]
enum Admit {
    /// Write it.
    Yes,
    /// Write it, after a line saying this many were left out.
    AfterLeftOut(u64),
    /// Leave it out.
    No,
}

impl Bucket {
    fn new() -> Bucket {
        Bucket {
            tokens: BURST as f64,
            last: None,
            left_out: 0,
        }
    }

    fn admit(&mut self, now: Instant) -> Admit {
        if let Some(last) = self.last {
            let gained = now.saturating_duration_since(last).as_secs_f64() * LINES_PER_SEC as f64;
            self.tokens = (self.tokens + gained).min(BURST as f64);
        }
        self.last = Some(now);
        // The note about what was left out takes a line of its own.
        let need = if self.left_out > 0 { 2.0 } else { 1.0 };
        if self.tokens < need {
            self.left_out += 1;
            return Admit::No;
        }
        self.tokens -= need;
        match std::mem::take(&mut self.left_out) {
            0 => Admit::Yes,
            n => Admit::AfterLeftOut(n),
        }
    }
}

/// The log writer behind the process-wide bucket. Lines are dropped here, after
/// formatting (the formatter writes each line in one call), so the note about them
/// is written directly rather than logged from inside the logger.
struct Throttled<W> {
    inner: W,
    format: LogFormat,
    bucket: Mutex<Bucket>,
}

impl<W> Throttled<W> {
    fn new(inner: W, format: LogFormat) -> Self {
        Throttled {
            inner,
            format,
            bucket: Mutex::new(Bucket::new()),
        }
    }

    /// The line saying `n` lines were left out, in the log's format.
    fn note(&self, n: u64) -> String {
        let mut at = String::new();
        let _ = SystemTime.format_time(&mut tracing_subscriber::fmt::format::Writer::new(&mut at));
        let message = format!(
            "{n} log lines left out (more than {BURST} at once or {LINES_PER_SEC} a second)"
        );
        match self.format {
            LogFormat::Human => format!("{at}  WARN {}: {message}\n", module_path!()),
            LogFormat::Json => format!(
                "{}\n",
                serde_json::json!({
                    "timestamp": at,
                    "level": "WARN",
                    "fields": { "message": message, "left_out": n },
                    "target": module_path!(),
                })
            ),
        }
    }
}

/// One line's writer: the real one, or nothing.
enum LineWriter<W> {
    Write(W),
    Drop,
}

impl<W: Write> Write for LineWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            LineWriter::Write(w) => w.write(buf),
            LineWriter::Drop => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            LineWriter::Write(w) => w.flush(),
            LineWriter::Drop => Ok(()),
        }
    }
}

impl<'a, W: MakeWriter<'a>> MakeWriter<'a> for Throttled<W> {
    type Writer = LineWriter<W::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        let admit = self
            .bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(Instant::now());
        match admit {
            Admit::Yes => LineWriter::Write(self.inner.make_writer()),
            Admit::AfterLeftOut(n) => {
                let mut w = self.inner.make_writer();
                let _ = w.write_all(self.note(n).as_bytes());
                LineWriter::Write(w)
            }
            Admit::No => LineWriter::Drop,
        }
    }
}

// ---- metrics -------------------------------------------------------------------------

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder once per process and returns its handle.
pub fn metrics_handle() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0,
                ])
                .expect("static bucket list is non-empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding application's);
            // ours then still renders, just without the engine's series.
            let _ = metrics::set_global_recorder(recorder);
            // Histogram samples queue until something drains them: without a scrape of
            // /metrics they would grow for good (the soak measured ~24 MiB an hour).
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .ok();
            handle
        })
        .clone()
}

/// The Prometheus text exposition of every metric recorded so far.
pub fn render_metrics() -> String {
    metrics_handle().render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Everything written, shared with the test.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    impl Capture {
        fn lines(&self) -> Vec<String> {
            String::from_utf8_lossy(&self.0.lock().unwrap())
                .lines()
                .map(String::from)
                .collect()
        }
    }

    fn logged(spec: &str, f: impl FnOnce()) -> Vec<String> {
        let out = Capture::default();
        let sub = subscriber(spec, LogFormat::Human, false, out.clone());
        tracing::subscriber::with_default(sub, f);
        out.lines()
    }

    /// What pubgrub's solver writes during one resolve (it logs through `log`, whose
    /// records arrive with the module as their target).
    fn solver_tracing(steps: u32) {
        for i in 0..steps {
            tracing::info!(target: "pubgrub::internal::partial_solution", "adding decision: sg-{i} @ 1.0.0");
            tracing::debug!(target: "pubgrub::internal::core", "unit propagation {i}");
        }
    }

    #[test]
    fn a_dependencys_solver_tracing_is_off_at_serves_default_level() {
        let lines = logged("info", || {
            solver_tracing(10_000);
            tracing::warn!(target: "pubgrub::solver", "a dependency's warning still shows");
            tracing::info!(target: "sentinel_actors::resolve", "our own line");
            tracing::debug!(target: "sentinel_actors::resolve", "our own debug line");
        });
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[0].contains("a dependency's warning still shows"));
        assert!(lines[1].contains("our own line"));
    }

    #[test]
    fn a_dependency_named_in_the_level_logs_as_asked() {
        let lines = logged("warn,pubgrub=info", || solver_tracing(3));
        assert_eq!(lines.len(), 3, "{lines:#?}");
        let lines = logged("debug", || {
            solver_tracing(3);
            tracing::debug!(target: "pypi_sentinel::cli", "ours at debug");
        });
        assert_eq!(lines.len(), 1, "{lines:#?}");
    }

    #[test]
    fn levels_become_directives_for_our_crates_and_keep_named_ones() {
        assert_eq!(
            directives("info,rmcp=warn"),
            "warn,pypi_sentinel=info,sentinel_actors=info,sentinel_sim=info,rmcp=warn"
        );
        assert_eq!(
            directives("error"),
            "error,pypi_sentinel=error,sentinel_actors=error,sentinel_sim=error"
        );
        assert_eq!(directives("pubgrub=debug"), "warn,pubgrub=debug");
        assert_eq!(
            directives("sentinel_actors=trace"),
            "warn,sentinel_actors=trace"
        );
    }

    #[test]
    fn a_call_logging_100000_lines_writes_the_cap_and_one_line_saying_what_was_left_out() {
        let lines = logged("info", || {
            let span = tracing::info_span!("tool", tool = "resolve_dependencies");
            let _in = span.enter();
            for i in 0..100_000 {
                tracing::info!(target: "sentinel_actors::resolve", "step {i}");
            }
            drop(_in);
            drop(span);
            tracing::info!(target: "sentinel_actors::resolve", "the next call logs again");
        });
        // The process-wide burst is larger than a call's cap: a call alone stays under it.
        assert_eq!(lines.len() as u64, LINES_PER_CALL + 2, "{:?}", &lines[..3]);
        let note = &lines[LINES_PER_CALL as usize];
        assert!(
            note.contains("99000 log lines of this tool call left out"),
            "{note}"
        );
        assert!(lines.last().unwrap().contains("the next call logs again"));
    }

    #[test]
    fn the_bucket_refills_and_then_says_how_many_lines_were_left_out() {
        let t0 = Instant::now();
        let mut b = Bucket::new();
        for _ in 0..BURST {
            assert_eq!(b.admit(t0), Admit::Yes);
        }
        for _ in 0..500 {
            assert_eq!(b.admit(t0), Admit::No);
        }
        // 10 ms refill one line: not enough for the line and its note.
        assert_eq!(b.admit(t0 + Duration::from_millis(10)), Admit::No);
        assert_eq!(
            b.admit(t0 + Duration::from_millis(40)),
            Admit::AfterLeftOut(501)
        );
        assert_eq!(b.admit(t0 + Duration::from_secs(60)), Admit::Yes);
        let t = Throttled::new(std::io::sink, LogFormat::Json);
        let note: serde_json::Value = serde_json::from_str(t.note(7).trim()).unwrap();
        assert_eq!(note["fields"]["left_out"], 7);
        assert_eq!(note["level"], "WARN");
    }
}
