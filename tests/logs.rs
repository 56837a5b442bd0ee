//! The binary's logs against the simulator: a noisy question at `serve`'s default level
//! writes our own lines, not a dependency's tracing (pubgrub once wrote 170,000 lines,
//! 17.6 MB, for one hostile resolve).

use std::process::{Command, Output};

use sentinel_sim::{Sim, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_pypi-sentinel");

/// A resolve of the simulator's 40-package tree, a conflict and a web stack, at `level`.
async fn resolve_at(level: &str) -> Output {
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let origin = sim.base_url();
    let level = level.to_string();
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["--origin", &origin, "--no-store", "--log-level", &level])
            .args(["resolve", "sg-tree-00", "sg-conflict", "sg-web"])
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env("HOME", std::env::temp_dir())
            .env(
                "XDG_CONFIG_HOME",
                std::env::temp_dir().join("sentinel-log-tests-none"),
            )
            .output()
            .expect("binary runs")
    })
    .await
    .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolve_at_serves_default_level_writes_no_solver_tracing() {
    let quiet = stderr(&resolve_at("info").await);
    assert!(!quiet.contains("pubgrub"), "{quiet}");
    assert!(quiet.lines().count() <= 5, "{quiet}");
    // The same resolve with the solver named: its tracing is there, so the quiet run
    // above is the filter's doing, not a resolve that said nothing.
    let asked = stderr(&resolve_at("info,pubgrub=info").await);
    let solver = asked.lines().filter(|l| l.contains("pubgrub")).count();
    assert!(solver >= 20, "{asked}");
}
