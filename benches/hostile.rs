//! Hostile-input harness: the `serve --http` binary, against the simulator's hostile
//! projects and hostile client input, with `/healthz` and a cached `get_package_info`
//! probed all along. It prints one table per attack and the targets of the hardening
//! work (PASS / FAIL / MISS):
//!
//! | attack | what is measured |
//! | --- | --- |
//! | `inline`  | two concurrent 1 MB inline files of every kind, and two `get_package_docs` on a 20 MB README: `/healthz` and cached-call p99, each answer vs its deadline |
//! | `problems` | 1.3 million unreadable lines inline: answer bytes, the server's RSS growth |
//! | `sessions` | 200 sessions at once doing resolve and docs on big inputs: latest answer vs deadline + 1 s, `/healthz` p99 |
//! | `foreign` | a resolve whose metadata file is listed on another host: requests that host received |
//! | `secrets` | credentials in requirement URLs: tokens in any answer or in the server's log |
//! | `deep`    | markers nested 10,000 deep from the index and from the client: the process alive |
//!
//! ```text
//! cargo bench --bench hostile                       # full run (about 3 min)
//! cargo bench --bench hostile -- --quick            # smoke run for CI (smaller inputs)
//! cargo bench --bench hostile -- --bin OTHER_BINARY # the same attacks on another build
//! cargo bench --bench hostile -- --only inline,sessions
//! ```
//!
//! Every loop is bounded in count and time; nothing leaves 127.0.0.0/8. Timing figures
//! are reported, never asserted (shared machines are noisy); the correctness targets
//! (the process alive, no foreign request, no token) make the run exit non-zero.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sentinel_sim::{Sim, SimConfig, SimHandle};
use serde_json::{Value, json};

#[path = "support/mcp_http.rs"]
mod mcp_http;
use mcp_http::McpSession;

/// The server's per-question deadline (its default).
const DEADLINE: Duration = Duration::from_secs(15);
/// A token no answer or log line may ever show.
const TOKEN: &str = "s3cr3tT0k3nZZ";

struct Opts {
    quick: bool,
    bin: String,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let mut o = Opts {
        quick: args.iter().any(|a| a == "--quick"),
        bin: env!("CARGO_BIN_EXE_pypi-sentinel").to_string(),
    };
    if let Some(i) = args.iter().position(|a| a == "--bin") {
        o.bin = args.get(i + 1).cloned().expect("--bin needs a path");
    }
    o
}

/// The results, printed at the end.
#[derive(Default)]
struct Report {
    rows: Vec<(String, String, String, &'static str)>,
    failed_correctness: bool,
}

impl Report {
    /// A timing target: reported, never fatal.
    fn timing(&mut self, what: &str, figure: String, target: &str, ok: bool) {
        self.rows.push((
            what.into(),
            figure,
            target.into(),
            if ok { "PASS" } else { "MISS" },
        ));
    }

    /// A correctness target: a failure makes the run exit non-zero.
    fn must(&mut self, what: &str, figure: String, target: &str, ok: bool) {
        self.failed_correctness |= !ok;
        self.rows.push((
            what.into(),
            figure,
            target.into(),
            if ok { "PASS" } else { "FAIL" },
        ));
    }

    fn print(&self, bin: &str) {
        println!("\n## hostile-input targets ({bin})\n");
        println!("| measure | figure | target | |");
        println!("| --- | --- | --- | --- |");
        for (w, f, t, r) in &self.rows {
            println!("| {w} | {f} | {t} | {r} |");
        }
        let pass = self.rows.iter().filter(|r| r.3 == "PASS").count();
        println!(
            "\nhostile targets: {pass} PASS, {} not met",
            self.rows.len() - pass
        );
    }
}

/// The server under attack: the binary as a child process.
struct Server {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Server {
    async fn start(bin: &str, origin: &str, log: std::path::PathBuf) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new(bin)
            .args(["--no-store", "--origin", origin, "serve", "--http"])
            .arg(format!("127.0.0.1:{port}"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("the server starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Ok(r) = client.get(format!("{base}/healthz")).send().await
                && r.status().is_success()
            {
                return Server { child, base, log };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not answer /healthz within 30 s");
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    fn stop(self) {
        drop(self);
    }
}

/// A harness that panics mid-attack still ends its server.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Latencies of a probe that runs until told to stop, and how many of its calls failed.
///
/// A probe runs on an OS thread and a runtime of its own, with its own connections: on
/// the attackers' runtime, a probe's latency would include the harness's own work
/// (serialising megabyte bodies, parsing answers), not only the server's.
struct Probe {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Vec<Duration>, usize)>,
}

impl Probe {
    /// `GET /healthz` every 10 ms.
    fn healthz(base: &str) -> Probe {
        let url = format!("{base}/healthz");
        Probe::every(move || {
            let client = reqwest::Client::new();
            async move {
                move || {
                    let (c, u) = (client.clone(), url.clone());
                    async move {
                        c.get(u)
                            .timeout(Duration::from_secs(60))
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success())
                    }
                }
            }
        })
    }

    /// A cached `get_package_info` every 10 ms on a session of its own (opened and
    /// warmed on the probe's runtime).
    fn cached_call(base: &str) -> Probe {
        let base = base.to_string();
        Probe::every(move || async move {
            let s = session(&base).await;
            s.call_tool_kind(1, "get_package_info", json!({"package": "numpy"}))
                .await;
            let id = Arc::new(AtomicU64::new(1_000_000));
            move || {
                let (s, id) = (s.clone(), id.clone());
                async move {
                    s.call_tool_kind(
                        id.fetch_add(1, Ordering::Relaxed),
                        "get_package_info",
                        json!({"package": "numpy"}),
                    )
                    .await
                        == "result"
                }
            }
        })
    }

    /// Open loop: a call every 10 ms whether or not the last one answered, so a stall
    /// shows as every sample it delayed, not as one slow sample. `setup` runs on the
    /// probe's runtime and returns the call; the probe is ready when this returns.
    fn every<S, SFut, F, Fut>(setup: S) -> Probe
    where
        S: FnOnce() -> SFut + Send + 'static,
        SFut: std::future::Future<Output = F>,
        F: FnMut() -> Fut + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("probe runtime");
            rt.block_on(async move {
                let mut f = setup().await;
                let _ = ready_tx.send(());
                let mut calls = Vec::new();
                let mut tick = tokio::time::interval(Duration::from_millis(10));
                // Bounded: at most 30,000 calls (5 minutes).
                while !s.load(Ordering::Relaxed) && calls.len() < 30_000 {
                    tick.tick().await;
                    let call = f();
                    calls.push(tokio::spawn(async move {
                        let t = Instant::now();
                        let ok = call.await;
                        (t.elapsed(), ok)
                    }));
                }
                let (mut out, mut failed) = (Vec::new(), 0);
                for c in calls {
                    let (d, ok) = c.await.expect("probe call");
                    out.push(d);
                    failed += usize::from(!ok);
                }
                (out, failed)
            })
        });
        ready_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the probe starts within 60 s");
        Probe { stop, thread }
    }

    /// The sorted latencies and the count of failed calls.
    async fn finish(self) -> (Vec<Duration>, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread;
        let (mut v, failed) = tokio::task::spawn_blocking(move || thread.join().expect("probe"))
            .await
            .expect("probe join");
        v.sort();
        (v, failed)
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// `p99 (max), N samples, F failed` of a probe's sorted latencies.
fn latency_row(sorted: &[Duration], failed: usize) -> String {
    format!(
        "{} ({}), {} samples, {failed} failed",
        ms(pct(sorted, 0.99)),
        ms(pct(sorted, 1.0)),
        sorted.len()
    )
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A project file of `kind` about `bytes` long, declaring many (unknown) packages.
fn big_file(kind: &str, bytes: usize) -> (String, String) {
    let mut s = String::with_capacity(bytes + 256);
    let (name, head): (&str, String) = match kind {
        "pyproject" => (
            "pyproject.toml",
            "[project]\nname = \"big\"\nversion = \"1\"\ndependencies = [\n".into(),
        ),
        "requirements" => ("requirements.txt", String::new()),
        "setup.cfg" => ("setup.cfg", "[options]\ninstall_requires =\n".into()),
        "uv.lock" => ("uv.lock", "version = 1\n".into()),
        "poetry.lock" => ("poetry.lock", String::new()),
        _ => ("pylock.toml", "lock-version = \"1.0\"\n".into()),
    };
    s.push_str(&head);
    let mut i = 0usize;
    while s.len() < bytes {
        let line = match kind {
            "pyproject" => format!("  \"pkg-{i:06}>=1.0\",\n"),
            "requirements" => format!("pkg-{i:06}>=1.0\n"),
            "setup.cfg" => format!("    pkg-{i:06}>=1.0\n"),
            "pylock" => format!("[[packages]]\nname = \"pkg-{i:06}\"\nversion = \"1.0.0\"\n"),
            _ => format!("[[package]]\nname = \"pkg-{i:06}\"\nversion = \"1.0.0\"\n"),
        };
        s.push_str(&line);
        i += 1;
    }
    if kind == "pyproject" {
        s.push_str("]\n");
    }
    (name.into(), s)
}

async fn session(base: &str) -> Arc<McpSession> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    Arc::new(
        McpSession::open(client, format!("{base}/mcp"))
            .await
            .expect("an MCP session opens"),
    )
}

/// Whether this (tool, kind) is seen for the first time: one example of each failure
/// is printed.
fn first_of(tool: &str, kind: &str) -> bool {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let key = format!("{tool}/{kind}");
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if seen.contains(&key) {
        return false;
    }
    seen.push(key);
    true
}

/// Runs `calls` (tool, arguments) at once, each on a session of its own; returns the
/// latency, kind and body size of each.
async fn at_once(base: &str, calls: Vec<(&'static str, Value)>) -> Vec<(Duration, String, usize)> {
    let mut sessions = Vec::new();
    for _ in 0..calls.len() {
        sessions.push(session(base).await);
    }
    let tasks: Vec<_> = calls
        .into_iter()
        .zip(sessions)
        .enumerate()
        .map(|(i, ((tool, args), s))| {
            tokio::spawn(async move {
                let t = Instant::now();
                let (kind, body) = s.call_tool_body(i as u64 + 1, tool, args).await;
                if kind != "result" && first_of(tool, &kind) {
                    let cut: String = body.chars().take(300).collect();
                    println!("  {tool}: {kind}: {cut}");
                }
                (t.elapsed(), kind, body.len())
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("call task"));
    }
    out
}

/// `inline`: two concurrent 1 MB files of every kind and two 20 MB READMEs.
async fn inline(r: &mut Report, srv: &mut Server, quick: bool) {
    let size = if quick { 200_000 } else { 1_000_000 };
    let health = Probe::healthz(&srv.base);
    let cached = Probe::cached_call(&srv.base);
    let mut calls: Vec<(&'static str, Value)> = Vec::new();
    // HOSTILE_INLINE=readmes or =files runs one half (to find which one a stall comes from).
    let part = std::env::var("HOSTILE_INLINE").unwrap_or_default();
    let kinds: &[&str] = if part == "readmes" {
        &[]
    } else {
        &[
            "pyproject",
            "requirements",
            "setup.cfg",
            "uv.lock",
            "poetry.lock",
            "pylock",
        ]
    };
    for &kind in kinds {
        let (filename, content) = big_file(kind, size);
        for _ in 0..2 {
            calls.push((
                "scan_dependencies",
                json!({"filename": filename, "content": content}),
            ));
        }
    }
    for _ in 0..if part == "files" { 0 } else { 2 } {
        calls.push(("get_package_docs", json!({"package": "sg-huge-readme"})));
    }
    let t = Instant::now();
    let answers = at_once(&srv.base, calls).await;
    let wall = t.elapsed();
    let (h, h_failed) = health.finish().await;
    let (c, c_failed) = cached.finish().await;
    let slowest = answers.iter().map(|a| a.0).max().unwrap_or_default();
    let failed: Vec<&String> = answers
        .iter()
        .map(|a| &a.1)
        .filter(|k| *k != "result" && *k != "tool-error")
        .collect();
    let label = format!(
        "{} x {} KB inline files + 2 x 20 MB README",
        answers.len() - 2,
        size / 1000
    );
    println!(
        "inline: {label}: all answered in {}, kinds {:?}",
        ms(wall),
        failed
    );
    r.must(
        "inline: process alive after the attack",
        if srv.alive() {
            "alive".into()
        } else {
            "DIED".into()
        },
        "alive",
        srv.alive(),
    );
    r.must(
        "inline: every call answered",
        format!(
            "{} of {} ({:?} failed)",
            answers.len() - failed.len(),
            answers.len(),
            failed
        ),
        "all",
        failed.is_empty(),
    );
    r.timing(
        "inline: `/healthz` p99 (max) while they run",
        latency_row(&h, h_failed),
        "< 100 ms",
        pct(&h, 0.99) < Duration::from_millis(100) && h_failed == 0,
    );
    r.timing(
        "inline: cached `get_package_info` p99 (max)",
        latency_row(&c, c_failed),
        "< 10 ms",
        pct(&c, 0.99) < Duration::from_millis(10) && c_failed == 0,
    );
    r.timing(
        "inline: slowest heavy answer",
        ms(slowest),
        "within the 15 s deadline",
        slowest <= DEADLINE,
    );
}

/// `problems`: 1.3 million unreadable lines inline.
async fn problems(r: &mut Report, srv: &mut Server, quick: bool) {
    let lines = if quick { 200_000 } else { 1_300_000 };
    // Two bytes a line, as in the report: 2.6 MB, inside the 4 MiB request cap.
    let content = "!\n".repeat(lines);
    let before = srv.rss_bytes();
    let peak = Arc::new(AtomicU64::new(before));
    let stop = Arc::new(AtomicBool::new(false));
    let pid = srv.child.id();
    let (p, s) = (peak.clone(), stop.clone());
    let sampler = tokio::spawn(async move {
        while !s.load(Ordering::Relaxed) {
            let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            if let Some(kb) = st
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                p.fetch_max(kb * 1024, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let answers = at_once(
        &srv.base,
        vec![(
            "scan_dependencies",
            json!({"filename": "requirements.txt", "content": content}),
        )],
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let (took, kind, bytes) = answers[0].clone();
    let growth = peak.load(Ordering::Relaxed).saturating_sub(before);
    println!(
        "problems: {lines} lines: {kind} in {}, {bytes} bytes",
        ms(took)
    );
    r.must(
        &format!("problems: {lines} unreadable lines: answer size"),
        format!("{:.1} KB ({kind})", bytes as f64 / 1000.0),
        "< 1 MB",
        bytes < 1_000_000 && srv.alive(),
    );
    r.timing(
        "problems: server RSS growth during the call",
        format!("{:.1} MB", growth as f64 / 1e6),
        "< 100 MB",
        growth < 100_000_000,
    );
}

/// `sessions`: many sessions at once doing resolve and docs on big inputs.
async fn sessions(r: &mut Report, srv: &mut Server, quick: bool) {
    let n = if quick { 20 } else { 200 };
    let mut calls: Vec<(&'static str, Value)> = Vec::new();
    for i in 0..n {
        calls.push(match i % 4 {
            0 => (
                "resolve_dependencies",
                json!({"requirements": ["sg-tree-00"], "python_version": "3.12"}),
            ),
            1 => (
                "resolve_dependencies",
                json!({"requirements": ["sg-deep-marker", "sg-web[speed]"], "python_version": "3.12"}),
            ),
            2 => (
                "get_package_docs_with_context",
                json!({"package": "sg-readme-hub"}),
            ),
            _ => ("get_package_docs", json!({"package": "sg-huge-readme"})),
        });
    }
    let health = Probe::healthz(&srv.base);
    let answers = at_once(&srv.base, calls).await;
    let (h, h_failed) = health.finish().await;
    let slowest = answers.iter().map(|a| a.0).max().unwrap_or_default();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for a in &answers {
        *kinds.entry(a.1.clone()).or_default() += 1;
    }
    println!("sessions: {n}: kinds {kinds:?}, slowest {}", ms(slowest));
    r.must(
        &format!("sessions: {n} sessions: process alive, every call answered"),
        format!("{kinds:?}"),
        "no transport error",
        srv.alive() && !kinds.contains_key("transport"),
    );
    r.timing(
        &format!("sessions: {n} sessions: latest answer"),
        ms(slowest),
        "<= deadline + 1 s (16 s)",
        slowest <= DEADLINE + Duration::from_secs(1),
    );
    r.timing(
        &format!("sessions: {n} sessions: `/healthz` p99 (max)"),
        latency_row(&h, h_failed),
        "< 100 ms",
        pct(&h, 0.99) < Duration::from_millis(100) && h_failed == 0,
    );
}

/// `foreign`: a metadata file listed on another host is never fetched.
async fn foreign(r: &mut Report, srv: &mut Server, accepted: &AtomicU64) {
    let before = accepted.load(Ordering::Relaxed);
    let answers = at_once(
        &srv.base,
        vec![(
            "resolve_dependencies",
            json!({"requirements": ["sg-offhost-meta"], "python_version": "3.12"}),
        )],
    )
    .await;
    let got = accepted.load(Ordering::Relaxed) - before;
    r.must(
        "foreign: connections to a host neither the index's nor an allowed files host",
        format!("{got} ({})", answers[0].1),
        "0",
        got == 0,
    );
}

/// `secrets`: credentials in requirement URLs never reach an answer or a log line.
async fn secrets(r: &mut Report, srv: &mut Server) {
    let req = format!(
        "-r https://user:{TOKEN}@idx.invalid/reqs.txt\n-c https://{TOKEN}@idx.invalid/c.txt\n\
         -ihttps://u:{TOKEN}@idx.invalid/simple\n-fhttps://u:{TOKEN}@idx.invalid/links\n\
         pkg @ https://h.invalid/pkg.whl?token={TOKEN}\n\
         bad[ @ https://u:{TOKEN}@h.invalid/x.whl\nsg-http==1.1.1\n"
    );
    let pyproject = format!(
        "[project]\nname = \"x\"\nversion = \"1\"\ndependencies = []\n\
         [tool.poetry.dependencies]\npython = \"^3.10\"\n\
         a = {{ git = \"https://u:{TOKEN}@git.invalid/a.git\" }}\n\
         b = {{ url = \"https://h.invalid/b.whl?access_token={TOKEN}\" }}\n"
    );
    let calls = vec![
        (
            "scan_dependencies",
            json!({"filename": "requirements.txt", "content": req}),
        ),
        (
            "audit_project",
            json!({"filename": "requirements.txt", "content": req}),
        ),
        (
            "scan_dependencies",
            json!({"filename": "pyproject.toml", "content": pyproject}),
        ),
        (
            "audit_project",
            json!({"filename": "pyproject.toml", "content": pyproject}),
        ),
        (
            "resolve_dependencies",
            json!({"requirements": [format!("pkg @ https://u:{TOKEN}@h.invalid/p.whl")]}),
        ),
    ];
    let mut leaks = 0;
    let mut sessions_bodies = Vec::new();
    for (tool, args) in calls {
        let s = session(&srv.base).await;
        let (kind, body) = s.call_tool_body(1, tool, args).await;
        if body.contains(TOKEN) {
            leaks += 1;
            println!("secrets: {tool} ({kind}) echoed the token");
        }
        sessions_bodies.push(kind);
    }
    let log_leak = srv.log_text().contains(TOKEN);
    r.must(
        "secrets: answers showing a credential (5 calls, 8 cases)",
        format!("{leaks} ({sessions_bodies:?})"),
        "0",
        leaks == 0,
    );
    r.must(
        "secrets: the server's log shows a credential",
        if log_leak { "yes".into() } else { "no".into() },
        "no",
        !log_leak,
    );
}

/// `deep`: markers nested 10,000 deep, from the index and from the client.
async fn deep(r: &mut Report, srv: &mut Server) {
    let marker = format!(
        "sg-idna; {}python_version >= '3'{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let calls = vec![
        (
            "get_package_dependencies",
            json!({"package": "sg-deep-marker"}),
        ),
        (
            "get_package_docs_with_context",
            json!({"package": "sg-deep-marker"}),
        ),
        (
            "resolve_dependencies",
            json!({"requirements": ["sg-deep-marker"], "python_version": "3.12"}),
        ),
        (
            "resolve_dependencies",
            json!({"requirements": [marker.clone()], "python_version": "3.12"}),
        ),
        (
            "scan_dependencies",
            json!({"filename": "requirements.txt", "content": format!("sg-certs\n{marker}\n")}),
        ),
        (
            "audit_project",
            json!({"filename": "requirements.txt", "content": format!("sg-certs\n{marker}\n")}),
        ),
    ];
    let mut died_after = None;
    let mut kinds = Vec::new();
    let client = reqwest::Client::new();
    for (tool, args) in calls {
        let s = McpSession::open(client.clone(), format!("{}/mcp", srv.base)).await;
        let kind = match s {
            Ok(s) => s.call_tool_body(1, tool, args).await.0,
            Err(_) => "transport".into(),
        };
        kinds.push(format!("{tool}: {kind}"));
        // A process that aborts may still be exiting when its connection drops.
        if kind == "transport" {
            for _ in 0..100 {
                if !srv.alive() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        if !srv.alive() {
            died_after = Some(tool);
            break;
        }
    }
    println!("deep: {kinds:?}");
    r.must(
        "deep: markers nested 10,000 deep (index: deps, docs, resolve; client: resolve, scan, audit)",
        match died_after {
            None => "alive, every call answered".into(),
            Some(t) => format!("process DIED on {t}"),
        },
        "alive",
        died_after.is_none(),
    );
}

/// Counts connections accepted on 127.0.0.2: the "foreign host".
async fn foreign_listener() -> (String, Arc<AtomicU64>) {
    let l = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 2], 0)))
        .await
        .expect("bind 127.0.0.2");
    let addr = l.local_addr().expect("addr");
    let n = Arc::new(AtomicU64::new(0));
    let count = n.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            drop(sock);
        }
    });
    (format!("http://{addr}"), n)
}

async fn run(o: Opts, sim_rt: &tokio::runtime::Runtime) -> bool {
    let (foreign_origin, accepted) = foreign_listener().await;
    // The simulator serves from a runtime of its own: building a 20 MB README is the
    // upstream's work, and must not delay the harness's probes.
    let sim: SimHandle = sim_rt
        .spawn(Sim::start(SimConfig {
            offhost_origin: Some(foreign_origin),
            ..SimConfig::default()
        }))
        .await
        .expect("simulator task")
        .expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut report = Report::default();
    let mut srv = Server::start(&o.bin, &sim.base_url(), dir.path().join("server.log")).await;
    // Each attack on a server that is still alive: a dead one is restarted, and said.
    macro_rules! attack {
        ($name:literal, $call:expr) => {{
            if !srv.alive() {
                println!("(the server died: restarted before `{}`)", $name);
                let log = dir.path().join(concat!($name, ".log"));
                srv = Server::start(&o.bin, &sim.base_url(), log).await;
            }
            let t = Instant::now();
            $call.await;
            println!("{}: {}", $name, ms(t.elapsed()));
        }};
    }
    // `--only a,b` runs those attacks alone.
    let only: Option<Vec<String>> = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .map(|l| l.split(',').map(str::to_string).collect());
    let wanted = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == name));
    if wanted("deep") {
        attack!("deep", deep(&mut report, &mut srv));
    }
    if wanted("foreign") {
        attack!("foreign", foreign(&mut report, &mut srv, &accepted));
    }
    if wanted("secrets") {
        attack!("secrets", secrets(&mut report, &mut srv));
    }
    if wanted("problems") {
        attack!("problems", problems(&mut report, &mut srv, o.quick));
    }
    if wanted("inline") {
        attack!("inline", inline(&mut report, &mut srv, o.quick));
    }
    if wanted("sessions") {
        attack!("sessions", sessions(&mut report, &mut srv, o.quick));
    }
    let log_bytes = std::fs::metadata(&srv.log).map(|m| m.len()).unwrap_or(0);
    println!("server log: {log_bytes} bytes");
    srv.stop();
    report.print(&o.bin);
    let _ = sim_rt.spawn(sim.shutdown()).await;
    !report.failed_correctness
}

/// Lowers the calling thread to nice 10 unless the run keeps one priority for all.
///
/// The attackers' tasks and the simulator stand for machines elsewhere: in a real
/// deployment their CPU work (encoding megabyte bodies, building 20 MB READMEs) is not
/// on the server's cores. Here they share two cores with it, so their threads run at a
/// lower priority and take the cores the server and the probes leave idle; the main
/// thread (which starts the server and the probes' threads, and whose priority those
/// inherit) stays at normal priority. `HOSTILE_SAME_PRIORITY=1` runs everything at
/// normal priority, as the harness did before 2026-12-07 (the report says which).
fn as_a_remote_machine() {
    if !same_priority() {
        sentinel_actors::cpu::lower_this_thread_priority();
    }
}

fn same_priority() -> bool {
    std::env::var_os("HOSTILE_SAME_PRIORITY").is_some_and(|v| !v.is_empty() && v != "0")
}

fn main() {
    // `cargo test --bench hostile` runs benches in test mode with `--bench` absent:
    // the smoke run is `-- --quick`.
    let o = opts();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(as_a_remote_machine)
        .enable_all()
        .build()
        .expect("runtime");
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sim")
        .on_thread_start(as_a_remote_machine)
        .enable_all()
        .build()
        .expect("simulator runtime");
    println!(
        "attackers and simulator: {}",
        if same_priority() {
            "same priority as the server (HOSTILE_SAME_PRIORITY)"
        } else {
            "nice 10 (they stand for other machines); the server and the probes at normal priority"
        }
    );
    let ok = rt.block_on(run(o, &sim_rt));
    if !ok {
        eprintln!("hostile: a correctness target failed (see the table)");
        std::process::exit(1);
    }
}
