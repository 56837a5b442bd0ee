//! `pypi-sentinel demo`: the simulator and the engine in one process, played through a
//! scripted incident (healthy, a pypistats 502 storm, a PyPI redirect loop, recovery, a
//! project's audit, a corrupting CDN caught by the download's sha256 check, a restart
//! during an outage answered from the store on disk). Every line says what a query
//! answered, where from, how long it took and how many upstream requests it cost.
//! Offline, no configuration, under a minute.
//!
//! All download numbers here come from the simulator and are simulated, not real.

use std::future::Future;
use std::time::{Duration, Instant};

use sentinel_actors::views::deps::TargetEnv;
use sentinel_actors::views::package_download::{DownloadRequest, WantedKind};
use sentinel_actors::{
    ClockHand, Datum, Engine, EngineConfig, EngineHandle, Provenance, QueryError, ScanInput,
    Target, Upstream, UtcClock,
};
use sentinel_sim::{FaultSpec, Sim, SimConfig, SimHandle};

use crate::text::thousands;

/// How long the demo's breakers stay open before probing (short so recovery fits the demo).
const DEMO_OPEN_MS: u64 = 2_000;

/// The demo engine: every upstream at the simulator; policies at their defaults except
/// shorter timeouts, backoff, open time and failure memory so the incident plays in
/// seconds; client rate limits off; stale-while-revalidate off so revalidation (304) is
/// visible.
pub fn demo_config(origin: &str) -> EngineConfig {
    let mut cfg = EngineConfig::default().with_origin(origin);
    for up in Upstream::ALL {
        let u = cfg.upstreams.get_mut(up);
        u.rate_limit = None;
        u.retry.base_ms = 50;
        u.retry.cap_ms = 200;
        u.breaker.open_base_ms = DEMO_OPEN_MS;
    }
    cfg.timeouts.attempt_ms = 1_000;
    cfg.timeouts.deadline_ms = 3_000;
    // Shorter than the breakers' open time, so the recovery act asks again.
    cfg.cache.failure_ttl_ms = DEMO_OPEN_MS / 2;
    cfg.stale_while_revalidate = false;
    cfg
}

struct Demo {
    sim: SimHandle,
    engine: EngineHandle,
    pause: Duration,
    seen: std::collections::BTreeSet<&'static str>,
    /// With `--status`: the status page's record of answers.
    activity: Option<std::sync::Arc<crate::status::activity::Activity>>,
}

/// The tool a demo line stands for (its label's first word), for the status page.
fn tool_of(label: &str) -> &'static str {
    match label.split_whitespace().next().unwrap_or("") {
        "info" => "get_package_info",
        "versions" => "get_package_versions",
        "downloads" => "get_download_statistics",
        "trend" => "get_download_trends",
        "audit" => "audit_project",
        "download" => "download_package",
        _ => "other",
    }
}

/// One answered line: the value in words and the provenance.
struct Line {
    answer: String,
    provenance: Option<Provenance>,
    age_secs: u64,
}

fn line_of<T>(d: &Datum<T>, answer: String) -> Line {
    Line {
        answer,
        provenance: Some(d.provenance.clone()),
        age_secs: d.age_secs,
    }
}

fn describe(p: &Provenance, age_secs: u64) -> (String, Option<String>) {
    (crate::describe::tag(p, age_secs), crate::describe::why(p))
}

impl Demo {
    async fn act(&self, title: &str) {
        tokio::time::sleep(self.pause).await;
        println!();
        println!("== {title}");
    }

    fn say(&self, text: &str) {
        println!("   {text}");
    }

    /// Runs one query and prints what it answered, from where, in how long, for how
    /// many upstream requests.
    async fn ask<F>(&mut self, label: &str, fut: F)
    where
        F: Future<Output = Result<Line, QueryError>>,
    {
        let before = self.sim.stats().total;
        let t = Instant::now();
        let result = fut.await;
        let took = t.elapsed();
        let cost = self.sim.stats().total - before;
        let ms = format!("{:.1} ms", took.as_secs_f64() * 1e3);
        match result {
            Ok(line) => {
                if let Some(a) = &self.activity {
                    let word = line.provenance.as_ref().map_or("mixed", Provenance::word);
                    a.record(tool_of(label), word, false);
                }
                let (word, why) = match &line.provenance {
                    Some(p) => {
                        self.seen.insert(p.word());
                        describe(p, line.age_secs)
                    }
                    None => ("mixed".into(), None),
                };
                println!(
                    "   {label:<26} {:<34} {word:<28} {ms:>9}  upstream requests: {cost}",
                    line.answer
                );
                if let Some(why) = why {
                    println!("   {:<26} └ {why}", "");
                }
            }
            Err(e) => {
                self.seen.insert("unavailable");
                if let Some(a) = &self.activity {
                    let word = if e.is_deferred() {
                        "deferred"
                    } else {
                        "unavailable"
                    };
                    a.record(tool_of(label), word, false);
                }
                println!(
                    "   {label:<26} {:<34} {:<28} {ms:>9}  upstream requests: {cost}",
                    format!("error: {}", e.code()),
                    "unavailable"
                );
                println!("   {:<26} └ {e}", "");
            }
        }
    }

    async fn breaker_open(&self, up: Upstream) -> bool {
        let h = self.engine.health().await;
        h.upstream(up)
            .is_some_and(|u| u.health.breaker == sentinel_actors::BreakerState::Open)
    }

    async fn breakers(&self) {
        let h = self.engine.health().await;
        let states: Vec<String> = h
            .upstreams
            .iter()
            .filter(|u| u.enabled)
            .map(|u| format!("{} {}", u.health.upstream, u.health.breaker))
            .collect();
        println!("   breakers: {}", states.join(" | "));
    }

    async fn info(&mut self, name: &'static str) {
        let e = self.engine.clone();
        self.ask(&format!("info {name}"), async move {
            let d = e.package_info(name, None).await?;
            let answer = format!("{} {}", d.value.name, d.value.version);
            Ok(line_of(&d, answer))
        })
        .await;
    }

    async fn versions(&mut self, name: &'static str) {
        let e = self.engine.clone();
        self.ask(&format!("versions {name}"), async move {
            let d = e.versions(name).await?;
            let answer = format!("{} versions (via {})", d.value.versions.len(), d.upstream);
            Ok(line_of(&d, answer))
        })
        .await;
    }

    async fn downloads(&mut self, name: &'static str) {
        let e = self.engine.clone();
        self.ask(&format!("downloads {name} (month)"), async move {
            let r = e.recent_downloads(name).await?;
            let d = &r.last_month;
            let answer = match d.value {
                Some(n) => format!("{} last month", thousands(n)),
                None => "no figure".into(),
            };
            Ok(line_of(d, answer))
        })
        .await;
    }

    /// `audit_project` of a small project for Python 3.8: the verdict, then each
    /// finding with the chain that brings it in and its fix.
    async fn audit(&mut self) {
        let project = "sg-web[speed]>=1.0\nsg-idna==3.6\nnumpyy\n";
        for line in project.lines() {
            self.say(&format!("requirements.txt: {line}"));
        }
        let input = ScanInput::Content {
            filename: "requirements.txt".into(),
            content: project.into(),
        };
        let target = Target {
            python_version: Some("3.8".into()),
            ..Target::default()
        };
        let started = Instant::now();
        match self.engine.audit_project(input, &target).await {
            Ok(r) => {
                let text = crate::questions::audit_text(&r);
                for line in text
                    .lines()
                    .filter(|l| !l.is_empty() && !l.starts_with("note:"))
                {
                    self.say(line);
                }
                self.say(&format!(
                    "(answered in {} ms; exit code 8 from `pypi-sentinel audit`: it can gate CI)",
                    started.elapsed().as_millis()
                ));
            }
            Err(e) => self.say(&format!("audit failed: {e}")),
        }
    }

    /// `download_package` of sg-native for CPython 3.12 on Linux: the file chosen by
    /// its tags, verified against the index's sha256 before it is renamed into place.
    async fn download(&mut self) {
        let req = DownloadRequest {
            package: "sg-native".into(),
            version: None,
            env: match TargetEnv::new(Some("3.12"), Some("linux"), &[]) {
                Ok(env) => env,
                Err(e) => return self.say(&format!("bad target: {e}")),
            },
            kind: WantedKind::Any,
            dest: None,
        };
        let started = Instant::now();
        match self.engine.download_package(&req).await {
            Ok(d) => self.say(&format!(
                "download sg-native: {} ({} bytes), sha256 {}… verified, {} attempt(s), {} ms",
                d.value.file.filename,
                d.value.bytes,
                &d.value.sha256[..16],
                d.value.attempts.len(),
                started.elapsed().as_millis()
            )),
            Err(e) => self.say(&format!("download sg-native: {e}")),
        }
    }

    async fn trend(&mut self, name: &'static str) {
        let e = self.engine.clone();
        self.ask(&format!("trends {name} (30 d)"), async move {
            let d = e.download_trend(name, 30).await?;
            let answer = format!("{} over {} days", thousands(d.value.total), d.value.days);
            Ok(line_of(&d, answer))
        })
        .await;
    }
}

/// Plays the demo. `fast` skips the pauses between acts; `status` serves the status
/// page on loopback while it plays (and until Ctrl-C after it), and prints its URL.
pub async fn run(fast: bool, status: bool) -> anyhow::Result<()> {
    let sim = Sim::start(SimConfig::default()).await?;
    // A store of the demo's own, for the restart in act 8, and a directory its
    // downloads may write to (both removed at the end).
    let data_dir = std::env::temp_dir().join(format!("pypi-sentinel-demo-{}", std::process::id()));
    let downloads = data_dir.join("downloads");
    std::fs::create_dir_all(&downloads)?;
    let mut cfg = demo_config(&sim.base_url());
    // The engine runs on a clock the demo moves forward ("20 minutes later"), so the
    // cache ages without waiting; the restart in act 8 keeps the same clock.
    let (clock, hand) = UtcClock::driven();
    cfg.clock = clock;
    cfg.store.path = Some(data_dir.join(sentinel_actors::StoreConfig::FILE_NAME));
    cfg.download.allowed_dirs = vec![downloads];
    let result = play(&sim, cfg, &hand, fast, status).await;
    let _ = std::fs::remove_dir_all(&data_dir);
    sim.shutdown().await;
    result
}

async fn play(
    sim: &SimHandle,
    cfg: EngineConfig,
    hand: &ClockHand,
    fast: bool,
    status: bool,
) -> anyhow::Result<()> {
    let engine = Engine::start(cfg.clone()).await?;
    let page = if status {
        Some(StatusPage::start(engine.clone()).await?)
    } else {
        None
    };
    let mut demo = Demo {
        activity: page.as_ref().map(|p| p.activity.clone()),
        sim: sim.clone(),
        engine: engine.clone(),
        pause: if fast {
            Duration::ZERO
        } else if status {
            // Slow enough to watch the page change (it polls every 1.5 s).
            Duration::from_millis(3_000)
        } else {
            Duration::from_millis(700)
        },
        seen: Default::default(),
    };
    println!(
        "pypi-sentinel demo: the engine against the built-in simulator at {}",
        sim.base_url()
    );
    println!("(PyPI bodies are real recordings; every download figure is simulated)");

    demo.act("Act 1: all upstreams healthy").await;
    demo.info("numpy").await;
    demo.info("numpy").await;
    demo.downloads("numpy").await;
    demo.trend("django").await;
    demo.versions("pytest").await;
    demo.say("The second numpy lookup is a fresh cache hit: answered in the caller's task, no upstream request.");

    demo.act("Act 2: 20 minutes later, PyPI's 15-minute max-age has passed")
        .await;
    hand.advance(Duration::from_secs(20 * 60));
    demo.info("numpy").await;
    demo.say("PyPI answered 304 Not Modified to our ETag: the cached body is confirmed, not re-downloaded.");

    demo.act("Act 3: pypistats.org starts answering 502 (a day later: its next daily update is due, so cached stats are stale)").await;
    sim.add_fault(FaultSpec {
        route: "/api/packages/**".into(),
        status: Some(502),
        ..Default::default()
    });
    hand.advance(Duration::from_secs(25 * 3600));
    demo.downloads("numpy").await;
    demo.say("One retry (a failure streak earns no more), then the last good figure, marked stale with its age.");
    demo.downloads("django").await;
    demo.say("django's `recent` was never fetched; the daily series seen in act 1 gives an honest estimate with its basis.");
    demo.downloads("pytz").await;
    demo.downloads("pytz").await;
    demo.say("Asked again at once: pypistats' failure of a moment ago is remembered, so the estimate comes without asking it again.");
    // The breaker needs a streak of failures of at least 5, or a second's worth of
    // traffic at the current rate: keep asking (bounded, other packages: each one's
    // failure is remembered) until it opens.
    let others = [
        "black",
        "coverage",
        "docutils",
        "pymysql",
        "scipy",
        "apeye",
        "snowballstemmer",
        "pytest",
    ];
    for (i, name) in others.into_iter().enumerate() {
        if i >= 2 && demo.breaker_open(Upstream::Pypistats).await {
            break;
        }
        demo.downloads(name).await;
    }
    demo.breakers().await;
    demo.downloads("numpy").await;
    demo.say("With the breaker open, answers fail over in microseconds without touching pypistats at all.");

    demo.act("Act 4: a PyPI CDN node serves a redirect loop on the JSON API")
        .await;
    sim.add_fault(FaultSpec {
        route: "/pypi/**".into(),
        redirect_loop: true,
        ..Default::default()
    });
    demo.info("pyyaml").await;
    demo.versions("pyyaml").await;
    demo.say("The loop is detected after one hop; the version list falls back to the Simple API (PEP 691).");

    demo.act("Act 5: recovery: the faults clear and the breakers probe")
        .await;
    sim.clear_faults();
    tokio::time::sleep(Duration::from_millis(DEMO_OPEN_MS + 300)).await;
    demo.downloads("numpy").await;
    demo.downloads("numpy").await;
    demo.info("pyyaml").await;
    demo.breakers().await;

    demo.act("Act 6: an assistant asks: can this project run on Python 3.8, and is anything in it vulnerable?").await;
    demo.audit().await;
    demo.say("(the sg-* packages, their releases and advisories are invented by the simulator; numpyy is its synthetic typo-squat)");

    demo.act("Act 7: a CDN node serves corrupted files (same length, wrong bytes)")
        .await;
    sim.add_fault(FaultSpec {
        route: "/files/**".into(),
        corrupt_bytes: true,
        ..Default::default()
    });
    demo.download().await;
    demo.say("Both attempts (the second on a new connection) hashed wrong: nothing was written, and both digests are reported.");
    sim.clear_faults();
    demo.download().await;

    demo.act("Act 8: PyPI and pypistats go down, and the engine restarts (an MCP host reloads it)")
        .await;
    let first = engine.metrics();
    engine.shutdown().await;
    sim.add_fault(FaultSpec {
        route: "/**".into(),
        status: Some(503),
        ..Default::default()
    });
    let engine = Engine::start(cfg).await?;
    demo.engine = engine.clone();
    let page = match page {
        // The page follows the restarted engine, at the same address.
        Some(p) => Some(p.restart(engine.clone()).await?),
        None => None,
    };
    demo.info("numpy").await;
    demo.say("A new process with an empty cache: the last good copy comes from the store on disk, stale with its true age.");
    demo.downloads("django").await;
    demo.say("The daily series kept on disk is still a basis for estimates, and the basis says where it was kept.");
    let store = engine.health().await.store;
    demo.say(&format!(
        "store: {} documents, {} daily counts, {} KiB on disk",
        store.documents,
        store.series_points,
        store.size_bytes / 1024
    ));

    let stats = sim.stats();
    let m = engine.metrics();
    println!();
    println!("== Totals");
    println!(
        "   engine calls: {}   upstream requests: {} (pypi {} · simple {} · pypistats {})   coalesced: {}   estimates served: {}",
        first.calls + m.calls,
        stats.total,
        stats.matching("/pypi/**"),
        stats.matching("/simple/**"),
        stats.matching("/api/packages/**"),
        first.coalesced + m.coalesced,
        first.estimates_served + m.estimates_served
    );
    let seen: Vec<&str> = demo.seen.iter().copied().collect();
    println!("   provenance kinds shown: {}", seen.join(", "));
    println!("   (engine counters: both runs of the engine, before and after the restart)");
    if let Some(p) = page {
        println!();
        println!("The status page stays up at {} until Ctrl-C.", p.url);
        let _ = tokio::signal::ctrl_c().await;
        p.stop().await;
    }
    engine.shutdown().await;
    Ok(())
}

/// `demo --status`: the HTTP server's status page on loopback, over the demo's engine.
struct StatusPage {
    url: String,
    addr: std::net::SocketAddr,
    activity: std::sync::Arc<crate::status::activity::Activity>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl StatusPage {
    async fn start(engine: EngineHandle) -> anyhow::Result<Self> {
        Self::at(
            engine,
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            None,
        )
        .await
    }

    async fn at(
        engine: EngineHandle,
        addr: std::net::SocketAddr,
        activity: Option<std::sync::Arc<crate::status::activity::Activity>>,
    ) -> anyhow::Result<Self> {
        let opts = crate::mcp::HttpOptions {
            addr,
            ..Default::default()
        };
        let server = crate::mcp::bind_http_with(engine, opts, activity).await?;
        let url = server.status_url();
        let addr = server.local_addr();
        let activity = server.activity();
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        println!("status page: {url}");
        Ok(StatusPage {
            url,
            addr,
            activity,
            stop,
            task,
        })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }

    /// Serves the same address and record over a new engine.
    async fn restart(self, engine: EngineHandle) -> anyhow::Result<Self> {
        let (addr, activity) = (self.addr, self.activity.clone());
        self.stop().await;
        Self::at(engine, addr, Some(activity)).await
    }
}
