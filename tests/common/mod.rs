//! Shared by the project tests (`scan`, `audit`): the engine's configuration against
//! the simulator, and the real binary run in a project directory.

use std::path::PathBuf;
use std::process::{Command, Output};

use pypi_sentinel::engine::EngineConfig;
use pypi_sentinel::sim::SimHandle;

/// Against the simulator, without our own rate limits, with fast retries, no store,
/// and reading under `roots`; the caller sets the timeouts it needs.
pub fn sim_config(sim: &SimHandle, roots: Vec<PathBuf>) -> EngineConfig {
    let mut cfg = sentinel_actors::testing::sim_config(&sim.base_url());
    cfg.scan.allowed_dirs = roots;
    cfg
}

/// Runs the binary against `origin` (the simulator) in `dir`, without a store, a user
/// configuration or an allowed-directories variable: a person at the CLI in `dir`.
pub async fn run_in(origin: String, dir: PathBuf, args: Vec<&'static str>) -> Output {
    tokio::task::spawn_blocking(move || {
        let data = tempfile::tempdir().unwrap();
        Command::new(env!("CARGO_BIN_EXE_pypi-sentinel"))
            .args(["--no-store", "--origin", &origin])
            .args(&args)
            .current_dir(dir)
            .env("PYPI_SENTINEL_DATA_DIR", data.path())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("PYPI_SENTINEL_SCAN__ALLOWED_DIRS")
            .env("HOME", std::env::temp_dir())
            .env(
                "XDG_CONFIG_HOME",
                std::env::temp_dir().join("sentinel-project-tests-none"),
            )
            .output()
            .expect("binary runs")
    })
    .await
    .unwrap()
}
