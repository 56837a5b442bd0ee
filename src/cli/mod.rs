//! The command line: query commands over the engine for people and scripts, `serve`
//! (MCP), `sim` (the simulator), `demo`, and `config check|example`.
//!
//! Exit codes: [`Exit`] (`exit.rs`), the one definition the help's table comes from.

mod fleet;
mod query;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sentinel_actors::EngineConfig;
use sentinel_sim::{Scenario, SimConfig};

pub use crate::terminal::Exit;
pub(crate) use crate::terminal::{Failure, output};

use crate::config::{self, FlagOverrides, LoadError};
use crate::secret::{Secret, redact_userinfo};
use crate::telemetry::{self, LogFormat};

/// pypi-sentinel: Python package data (metadata, versions, dependencies, downloads)
/// that keeps answering when PyPI, pypistats or pepy fail, and says where every figure
/// came from (live, cached, stale, estimated).
#[derive(Parser, Debug)]
#[command(name = "pypi-sentinel", version, about, long_about = None)]
#[command(after_help = Exit::help_table())]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct GlobalArgs {
    /// Configuration file (TOML). Default: <config dir>/pypi-sentinel/config.toml if present.
    #[arg(long, global = true, env = "PYPI_SENTINEL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Send every upstream request to one origin: a mirror serving all routes, or the simulator.
    #[arg(long, global = true, env = "PYPI_SENTINEL_ORIGIN", value_name = "URL")]
    origin: Option<String>,
    /// PyPI JSON API base URL (default https://pypi.org).
    #[arg(long, global = true, value_name = "URL")]
    pypi_url: Option<String>,
    /// PyPI Simple API base URL (default https://pypi.org).
    #[arg(long, global = true, value_name = "URL")]
    simple_url: Option<String>,
    /// pypistats base URL (default https://pypistats.org).
    #[arg(long, global = true, value_name = "URL")]
    pypistats_url: Option<String>,
    /// pepy.tech API base URL (default https://api.pepy.tech).
    #[arg(long, global = true, value_name = "URL")]
    pepy_url: Option<String>,
    /// Top-packages dataset URL.
    #[arg(long, global = true, value_name = "URL")]
    top_packages_url: Option<String>,
    /// A private index beside PyPI, as pip's `--extra-index-url` (its Simple root, e.g.
    /// https://pypi.example.com/simple): check, scan and audit flag every name on both
    /// (dependency confusion). Credentials go in `[upstreams.extra_index.auth]`.
    #[arg(
        long,
        global = true,
        env = "PYPI_SENTINEL_EXTRA_INDEX_URL",
        value_name = "URL"
    )]
    extra_index_url: Option<String>,
    /// pepy.tech API key; enables pepy.tech as a second source of download counts.
    #[arg(
        long,
        global = true,
        env = "PYPI_SENTINEL_PEPY_API_KEY",
        hide_env_values = true
    )]
    pepy_api_key: Option<Secret>,
    /// Directory of the store that keeps last-known-good answers and download history
    /// across restarts (default: <user cache dir>/pypi-sentinel).
    #[arg(
        long,
        global = true,
        env = "PYPI_SENTINEL_DATA_DIR",
        value_name = "DIR"
    )]
    data_dir: Option<PathBuf>,
    /// Keep nothing on disk: memory only.
    #[arg(long, global = true)]
    no_store: bool,
    /// Redis shared by several replicas (quotas, documents): `redis://127.0.0.1:6379`,
    /// `rediss://user:pass@host:6380/0`. Off by default; also `[fleet] redis_url` or
    /// `PYPI_SENTINEL_FLEET__REDIS_URL`. Its password is never printed.
    #[arg(long, global = true, value_name = "URL")]
    redis_url: Option<Secret>,
    /// Answer `deferred` (with when to ask again) as soon as our own rate limit would
    /// make a command wait past the answer budget, instead of waiting for it up to the
    /// deadline (`serve` never waits: its callers get `deferred` in time).
    #[arg(long, global = true)]
    no_wait: bool,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Print tables whole: by default a cell is cut at 200 characters and a table at
    /// 500 rows, saying what was left out.
    #[arg(long, global = true)]
    full: bool,
    /// Log level (`RUST_LOG` wins when set). Default: warn, info for `serve`. A bare
    /// level is pypi-sentinel's own; dependencies log warnings and errors unless named,
    /// e.g. `info,pubgrub=debug`.
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

impl GlobalArgs {
    fn flags(&self) -> FlagOverrides {
        FlagOverrides {
            origin: self.origin.clone(),
            pypi_url: self.pypi_url.clone(),
            simple_url: self.simple_url.clone(),
            pypistats_url: self.pypistats_url.clone(),
            pepy_url: self.pepy_url.clone(),
            top_packages_url: self.top_packages_url.clone(),
            extra_index_url: self.extra_index_url.clone(),
            pepy_api_key: self.pepy_api_key.clone(),
            data_dir: self.data_dir.clone(),
            no_store: self.no_store,
            redis_url: self.redis_url.clone(),
        }
    }

    fn engine_config(&self) -> Result<EngineConfig, LoadError> {
        config::load(self.config.as_deref(), &self.flags()).map(|l| l.engine)
    }

    /// The configuration of a one-shot command: a person at a terminal would rather
    /// wait for our own rate limit (up to the deadline) than run the command again.
    fn command_config(&self) -> Result<EngineConfig, LoadError> {
        let mut cfg = self.engine_config()?;
        cfg.timeouts.wait_for_own_limits = !self.no_wait;
        Ok(cfg)
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The questions (info, versions, deps, python, downloads, breakdown, trends, top,
    /// overview, why, health): `crate::questions`, one file each with its flags.
    #[command(flatten)]
    Query(crate::questions::Command),
    /// Serve MCP: over stdio (for an assistant's config), or streamable HTTP with --http.
    Serve {
        /// Serve streamable HTTP at ADDR (e.g. 127.0.0.1:8765) at /mcp, with /healthz,
        /// /readyz and /metrics beside it.
        #[arg(long, value_name = "ADDR")]
        http: Option<SocketAddr>,
        /// Bearer token every HTTP request must carry; required to bind a non-loopback address.
        #[arg(long, env = "PYPI_SENTINEL_AUTH_TOKEN", hide_env_values = true)]
        auth_token: Option<Secret>,
        /// Extra Host names accepted on HTTP (besides localhost and the bind address).
        #[arg(long = "allow-host", value_name = "HOST")]
        allow_hosts: Vec<String>,
        #[command(flatten)]
        limits: HttpLimits,
        /// Seconds between returns of freed memory to the OS (glibc keeps freed pages
        /// otherwise, and RSS creeps up under long load); 0 turns it off.
        #[arg(
            long,
            env = "PYPI_SENTINEL_MEMORY_TRIM_SECS",
            default_value_t = crate::memory::DEFAULT_TRIM_INTERVAL.as_secs(),
            value_name = "S"
        )]
        memory_trim_secs: u64,
    },
    /// Run the simulator of the upstreams (PyPI, pypistats, pepy, top packages) with fault injection.
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        /// Fault preset.
        #[arg(long, value_enum, default_value_t = ScenarioArg::Healthy)]
        scenario: ScenarioArg,
        /// Extra generated packages (synth-0000, ...), for load tests.
        #[arg(long, default_value_t = 0)]
        synthetic: usize,
        /// Enforce pypistats' documented rate limit (5/s, 30/min per client).
        #[arg(long)]
        pypistats_rate_limit: bool,
        /// Require this X-API-Key on the pepy routes.
        #[arg(long)]
        pepy_api_key: Option<String>,
        /// Date the generated download series against this day (YYYY-MM-DD) instead of
        /// today's UTC date, for reproducible output.
        #[arg(long, value_name = "YYYY-MM-DD")]
        today: Option<sentinel_sim::SimDay>,
        /// Make pypistats' data lag: its newest day is 1 + N days old (0: yesterday).
        #[arg(long, value_name = "N", default_value_t = 0)]
        pypistats_lag_days: u32,
        /// What kind of index to serve: pypi (JSON API, PEP 658 metadata), simple-html
        /// (a PEP 503 mirror: HTML only, no JSON API, no metadata files), simple-json
        /// (PEP 691 without metadata, no JSON API), no-range (as simple-json, and files
        /// ignore HTTP Range).
        #[arg(long, value_name = "PROFILE", default_value = "pypi")]
        index_profile: sentinel_sim::IndexProfile,
    },
    /// Offline demo: the simulator and the engine in-process, through a scripted incident.
    Demo {
        /// Skip the pauses between acts.
        #[arg(long)]
        fast: bool,
        /// Serve the status page on loopback while the incident plays (and until
        /// Ctrl-C after it), and print its URL.
        #[arg(long)]
        status: bool,
    },
    /// Configuration: validate or print an example.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// The fleet's shared Redis (`--redis-url`): `fleet status`.
    Fleet {
        #[command(subcommand)]
        action: fleet::FleetAction,
    },
}

/// Bounds of the HTTP server against hostile or broken clients.
#[derive(Args, Debug, Clone)]
struct HttpLimits {
    /// Most live MCP sessions over HTTP; more are refused with 503.
    #[arg(
        long,
        env = "PYPI_SENTINEL_MAX_SESSIONS",
        default_value_t = 1000,
        value_name = "N"
    )]
    max_sessions: usize,
    /// Seconds a new session gets to send notifications/initialized before it is closed.
    #[arg(
        long,
        env = "PYPI_SENTINEL_INIT_TIMEOUT_SECS",
        default_value_t = 10,
        value_name = "S"
    )]
    init_timeout_secs: u64,
    /// Most open HTTP connections; more are closed at once.
    #[arg(
        long,
        env = "PYPI_SENTINEL_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_name = "N"
    )]
    max_connections: usize,
    /// Seconds a connection gets to send a whole request head (also bounds idle keep-alive).
    #[arg(
        long,
        env = "PYPI_SENTINEL_HEADER_READ_TIMEOUT_SECS",
        default_value_t = 10,
        value_name = "S"
    )]
    header_read_timeout_secs: u64,
    /// Seconds without a byte either way after which a connection is closed.
    #[arg(
        long,
        env = "PYPI_SENTINEL_IDLE_TIMEOUT_SECS",
        default_value_t = 60,
        value_name = "S"
    )]
    idle_timeout_secs: u64,
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Validate a configuration (FILE, else --config, else the default location) and print the effective result.
    Check {
        /// File to check.
        file: Option<PathBuf>,
    },
    /// Print a commented example with every key at its default.
    Example,
}

/// Simulator scenarios.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ScenarioArg {
    /// No faults.
    Healthy,
    /// pypistats answers 502 to everything.
    PypistatsOutage,
    /// 30 % of every route answers 503.
    Flaky,
    /// Half of pypistats and PyPI requests get 429 with Retry-After.
    RateLimited,
    /// PyPI JSON routes redirect to themselves.
    RedirectLoop,
}

impl From<ScenarioArg> for Scenario {
    fn from(s: ScenarioArg) -> Scenario {
        match s {
            ScenarioArg::Healthy => Scenario::Healthy,
            ScenarioArg::PypistatsOutage => Scenario::PypistatsOutage,
            ScenarioArg::Flaky => Scenario::Flaky,
            ScenarioArg::RateLimited => Scenario::RateLimited,
            ScenarioArg::RedirectLoop => Scenario::RedirectLoop,
        }
    }
}

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Self {
        // A base URL in an error may carry credentials (`https://user:pass@host`).
        Failure::new(
            Exit::Config,
            format!(
                "{}\nhint: `pypi-sentinel config example` prints every key with its default",
                redact_userinfo(&e.to_string())
            ),
        )
    }
}

/// Parses the command line and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let level = cli.global.log_level.clone().unwrap_or_else(|| {
        match cli.command {
            // A bare level is our crates' own: dependencies log warnings only unless
            // named (rmcp logs every notification whole at info, a hostile client's 4 MB
            // message as a 4 MB line; pubgrub traces every solver step).
            Command::Serve { .. } => "info",
            Command::Sim { .. } => "info",
            // The demo narrates every event its logs would report (a digest mismatch,
            // a breaker opening); log lines would only break its lines on a terminal.
            Command::Demo { .. } => "off",
            _ => "warn",
        }
        .to_string()
    });
    telemetry::init_logging(&level, cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Internal);
        }
    };
    let json = cli.global.json;
    let result = runtime.block_on(dispatch(cli));
    // Don't wait for blocking tasks: serving stdio, one sits in a read of stdin that
    // only the host can end, and SIGTERM must end the process anyway.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => Exit::Ok.into(),
        Err(f) => {
            eprintln!("error: {}", f.message);
            if json && !f.reported {
                // Scripts reading stdout get an answer too, not nothing.
                let error = serde_json::json!({
                    "error": f.code.name(),
                    "exit_code": f.code.code(),
                    "message": f.message,
                });
                output::emit(&format!("{error}\n"));
            }
            ExitCode::from(f.code)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let g = cli.global;
    match cli.command {
        Command::Sim {
            addr,
            scenario,
            synthetic,
            pypistats_rate_limit,
            pepy_api_key,
            today,
            pypistats_lag_days,
            index_profile,
        } => {
            let cfg = SimConfig {
                addr,
                synthetic,
                pypistats_rate_limit,
                pepy_api_key,
                today,
                pypistats_lag_days,
                index_profile,
                ..SimConfig::default()
            };
            sentinel_sim::serve_until_ctrl_c(cfg, scenario.into())
                .await
                .map_err(|e| Failure::new(Exit::Internal, format!("simulator: {e}")))
        }
        Command::Demo { fast, status } => {
            crate::demo::run(fast, status).await.map_err(Failure::from)
        }
        Command::Config { action } => config_command(&g, action),
        Command::Fleet { action } => fleet::run(g.engine_config()?, action, g.json).await,
        Command::Serve {
            http,
            auth_token,
            allow_hosts,
            limits,
            memory_trim_secs,
        } => {
            let cfg = g.engine_config()?;
            crate::memory::start_trimming(std::time::Duration::from_secs(memory_trim_secs));
            serve(cfg, http, auth_token, allow_hosts, limits).await
        }
        Command::Query(q) => {
            let cfg = g.command_config()?;
            output::set_full(g.full);
            query::run(cfg, q, g.json).await
        }
    }
}

fn config_command(g: &GlobalArgs, action: ConfigAction) -> Result<(), Failure> {
    match action {
        ConfigAction::Example => {
            print!("{}", config::EXAMPLE);
            Ok(())
        }
        ConfigAction::Check { file } => {
            let file = file.or_else(|| g.config.clone());
            let loaded = config::load(file.as_deref(), &g.flags())?;
            let mut shown = loaded.engine.clone();
            // Never echo secrets.
            for up in sentinel_actors::Upstream::ALL {
                let u = shown.upstreams.get_mut(up);
                if u.api_key.is_some() {
                    u.api_key = Some("<hidden>".into());
                }
                if u.auth.is_some() {
                    u.auth = None;
                }
                u.base_url = redact_userinfo(&u.base_url);
            }
            if let Some(url) = &shown.fleet.redis_url {
                shown.fleet.redis_url = Some(sentinel_actors::redact_redis_url(url));
            }
            if shown.fleet.signing_key.is_some() {
                shown.fleet.signing_key = Some("<hidden>".into());
            }
            if g.json {
                let out = serde_json::json!({"valid": true, "sources": redact_userinfo(&loaded.sources.join("\n")).lines().collect::<Vec<_>>(), "config": shown});
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            } else {
                println!(
                    "# configuration is valid; layers applied: {}",
                    redact_userinfo(&loaded.sources.join(", "))
                );
                print!(
                    "{}",
                    toml::to_string(&shown)
                        .map_err(|e| Failure::new(Exit::Internal, e.to_string()))?
                );
            }
            Ok(())
        }
    }
}

async fn serve(
    cfg: EngineConfig,
    http: Option<SocketAddr>,
    auth_token: Option<Secret>,
    allow_hosts: Vec<String>,
    limits: HttpLimits,
) -> Result<(), Failure> {
    let grace = std::time::Duration::from_millis(cfg.shutdown_grace_ms);
    let _ = telemetry::metrics_handle();
    let engine = sentinel_actors::Engine::start(cfg)
        .await
        .map_err(|e| Failure::new(Exit::Config, e.to_string()))?;
    let result = match http {
        // stdio ends when the client closes stdin; a signal ends it too.
        None => tokio::select! {
            r = crate::mcp::serve_stdio(engine.clone()) => r,
            () = shutdown_signal() => Ok(()),
        },
        Some(addr) => {
            let secs = std::time::Duration::from_secs;
            let opts = crate::mcp::HttpOptions {
                addr,
                auth_token,
                allowed_hosts: allow_hosts,
                max_sessions: limits.max_sessions.max(1),
                init_timeout: secs(limits.init_timeout_secs.max(1)),
                max_connections: limits.max_connections.max(1),
                header_read_timeout: secs(limits.header_read_timeout_secs.max(1)),
                idle_timeout: secs(limits.idle_timeout_secs.max(1)),
                shutdown_grace: grace,
                ..Default::default()
            };
            crate::mcp::serve_http(engine.clone(), opts, shutdown_signal()).await
        }
    };
    engine.shutdown().await;
    result.map_err(|e| {
        let msg = format!("{e:#}");
        let code = if msg.contains("refusing to bind") {
            Exit::BadInput
        } else {
            Exit::Internal
        };
        Failure::new(code, msg)
    })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
