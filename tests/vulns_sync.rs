//! `pypi-sentinel vulns sync`, the real binary against the simulator's OSV export
//! (`/PyPI/all.zip`): it keeps the export in the store, after which `vulns` with
//! `vulnerabilities.source = "offline"` answers with PyPI's JSON and OSV's API down and
//! no request per release; a hostile zip exits 9 and leaves the set in place; without
//! a store it exits 5.

use std::path::Path;
use std::process::{Command, Output};

use pypi_sentinel::cli::Exit;
use sentinel_sim::{FaultSpec, Sim, SimConfig, SimDay, SimHandle};

const BIN: &str = env!("CARGO_BIN_EXE_pypi-sentinel");

/// Runs the binary against the simulator with its store in `data`, offline mode on.
async fn run(sim: &SimHandle, data: &Path, args: &[&str]) -> Output {
    let mut all = vec![
        "--origin".to_string(),
        sim.base_url(),
        "--data-dir".to_string(),
        data.display().to_string(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&all)
            .env("PYPI_SENTINEL_VULNERABILITIES__SOURCE", "offline")
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env("HOME", std::env::temp_dir())
            .env(
                "XDG_CONFIG_HOME",
                std::env::temp_dir().join("sentinel-vulns-sync-tests-none"),
            )
            .output()
            .expect("binary runs")
    })
    .await
    .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vulns_sync_keeps_the_export_and_vulns_answers_from_it_while_pypi_and_osv_are_down() {
    let sim = Sim::start(SimConfig {
        today: SimDay::ymd(2026, 11, 24),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let data = tempfile::tempdir().unwrap();

    let o = run(&sim, data.path(), &["vulns", "sync"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("8 advisories about 3 packages, data of 2026-11-24"),
        "{out}"
    );
    assert_eq!(sim.stats().matching("/PyPI/all.zip"), 1);

    sim.add_fault(FaultSpec {
        status: Some(503),
        ..FaultSpec::on("/pypi/**")
    });
    sim.add_fault(FaultSpec {
        status: Some(503),
        ..FaultSpec::on("/v1/**")
    });
    sim.reset_stats();
    let o = run(&sim, data.path(), &["--json", "vulns", "sg-http==1.0.0"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["value"]["sources"], serde_json::json!(["osv-export"]));
    assert_eq!(v["value"]["active"], 1);
    assert_eq!(
        v["value"]["vulnerabilities"][0]["data_date"], "2026-11-24",
        "{v}"
    );
    assert_eq!(v["data_as_of"]["date"], "2026-11-24");
    assert_eq!(sim.stats().matching("/pypi/**"), 0);
    assert_eq!(sim.stats().matching("/v1/**"), 0);

    // A zip bomb is refused by name; the set synced before stays in use.
    sim.add_fault(FaultSpec {
        drift: Some("zip_bomb".into()),
        ..FaultSpec::on("/PyPI/all.zip")
    });
    let o = run(&sim, data.path(), &["vulns", "sync"]).await;
    assert_eq!(
        o.status.code(),
        Some(i32::from(Exit::Download.code())),
        "{}",
        text(&o.stdout)
    );
    let err = text(&o.stderr);
    assert!(
        err.contains("zip bomb") && err.contains("previous set"),
        "{err}"
    );
    let o = run(&sim, data.path(), &["vulns", "status"]).await;
    assert!(
        text(&o.stdout).contains("8 advisories about 3 packages, data of 2026-11-24"),
        "{}",
        text(&o.stdout)
    );

    // Without a store there is nowhere to keep it.
    let o = run(&sim, data.path(), &["--no-store", "vulns", "sync"]).await;
    assert_eq!(
        o.status.code(),
        Some(i32::from(Exit::Config.code())),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stderr).contains("no store"), "{}", text(&o.stderr));
    sim.shutdown().await;
}
