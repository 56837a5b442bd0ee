//! The real binary against the simulator: every query command in table and JSON form,
//! exit codes, bad input, bad configuration, `sim`, and `demo`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use pypi_sentinel::cli::Exit;
use sentinel_sim::{FaultSpec, Sim, SimConfig, SimHandle};

const BIN: &str = env!("CARGO_BIN_EXE_pypi-sentinel");

async fn sim() -> SimHandle {
    Sim::start(SimConfig::default())
        .await
        .expect("simulator starts")
}

/// Runs the binary with `--origin` at the simulator, off the async workers.
async fn run(sim: &SimHandle, args: &[&str]) -> Output {
    let mut all = vec!["--origin".to_string(), sim.base_url()];
    all.extend(args.iter().map(|s| s.to_string()));
    run_raw(all).await
}

async fn run_raw(args: Vec<String>) -> Output {
    run_raw_in(args, std::env::temp_dir()).await
}

/// Runs the binary with `--origin` at the simulator in directory `cwd`.
async fn run_in(sim: &SimHandle, cwd: &std::path::Path, args: &[&str]) -> Output {
    let mut all = vec!["--origin".to_string(), sim.base_url()];
    all.extend(args.iter().map(|s| s.to_string()));
    run_raw_in(all, cwd.to_path_buf()).await
}

async fn run_raw_in(args: Vec<String>, cwd: std::path::PathBuf) -> Output {
    tokio::task::spawn_blocking(move || {
        // Each run its own empty store: a run never answers from another test's file.
        let data = tempfile::tempdir().expect("temp dir");
        Command::new(BIN)
            .current_dir(cwd)
            .args(&args)
            .env("PYPI_SENTINEL_DATA_DIR", data.path())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env("HOME", std::env::temp_dir()) // no user config file
            .env(
                "XDG_CONFIG_HOME",
                std::env::temp_dir().join("sentinel-cli-tests-none"),
            )
            .output()
            .expect("binary runs")
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        stderr(o)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_in_table_and_json() {
    let sim = sim().await;
    let o = run(&sim, &["info", "numpy"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("numpy") && out.contains("1.25.1"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("source") && l.contains("live")),
        "{out}"
    );

    let j = json(&run(&sim, &["--json", "info", "Django"]).await);
    assert_eq!(j["value"]["name"], "Django");
    assert_eq!(j["provenance"]["kind"], "live");
    assert_eq!(j["upstream"], "pypi-json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_pep440_sorted_and_filterable() {
    let sim = sim().await;
    let j = json(&run(&sim, &["--json", "versions", "django"]).await);
    let versions: Vec<&str> = j["value"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    let pos = |v: &str| versions.iter().position(|x| *x == v).unwrap();
    assert!(pos("1.9") < pos("1.10"));

    let o = run(&sim, &["versions", "black", "--stable", "--limit", "3"]).await;
    let out = stdout(&o);
    assert!(o.status.success());
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with(char::is_numeric) && !l.contains("versions"))
            .count(),
        3,
        "{out}"
    );
    assert!(!out.contains("pre-release"), "{out}");
    assert!(
        !out.contains("yanked"),
        "--stable hides yanked releases too: {out}"
    );
    assert!(
        out.contains("3 of "),
        "the footer counts what is shown: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deps_are_evaluated_for_a_target() {
    let sim = sim().await;
    let j = json(
        &run(
            &sim,
            &[
                "--json",
                "deps",
                "black==21.11b0",
                "--python",
                "3.8",
                "--extra",
                "d",
            ],
        )
        .await,
    );
    let deps = j["value"]["dependencies"].as_array().unwrap();
    let applies = |n: &str| deps.iter().find(|d| d["name"] == n).unwrap()["applies"].clone();
    assert_eq!(applies("tomli"), true);
    assert_eq!(applies("aiohttp"), true, "extra d asked for");
    assert_eq!(applies("uvloop"), false);

    let o = run(&sim, &["deps", "black==21.11b0"]).await;
    assert!(stdout(&o).contains("extra == 'uvloop'"), "{}", stdout(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_compatibility_both_ways() {
    let sim = sim().await;
    let o = run(&sim, &["python", "django", "--check", "3.12"]).await;
    assert!(
        stdout(&o).contains("supports Python 3.12: yes"),
        "{}",
        stdout(&o)
    );
    let j = json(&run(&sim, &["--json", "python", "django"]).await);
    assert_eq!(j["value"]["basis"], "requires_python");
    assert!(
        j["value"]["supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "3.8")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_live_then_estimated_during_a_pypistats_outage() {
    let sim = sim().await;
    let j = json(&run(&sim, &["--json", "downloads", "numpy"]).await);
    assert_eq!(j["source"], "live");
    assert!(j["last_month"]["value"].as_u64().unwrap() > 0);
    let o = run(&sim, &["downloads", "numpy", "--period", "week"]).await;
    let out = stdout(&o);
    assert!(
        out.contains("last week") && !out.contains("last month"),
        "{out}"
    );

    sim.add_fault(FaultSpec {
        route: "/api/packages/**".into(),
        status: Some(502),
        ..Default::default()
    });
    // A fresh process has no cache: pepy.tech (enabled by --origin) is the basis.
    let o = run(&sim, &["downloads", "numpy"]).await;
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.contains("estimated"), "{out}");
    assert!(
        out.contains("note: last week: estimated from sum of the last 7 days"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trends_draw_a_chart_and_fail_with_exit_4_when_unavailable() {
    let sim = sim().await;
    let o = run(&sim, &["trends", "numpy", "--days", "14"]).await;
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.chars().any(|c| ('▁'..='█').contains(&c)),
        "sparkline: {out}"
    );
    assert!(out.contains("total"), "{out}");
    let j = json(&run(&sim, &["--json", "trends", "numpy", "--days", "7"]).await);
    assert_eq!(j["value"]["points"].as_array().unwrap().len(), 7);

    sim.add_fault(FaultSpec {
        route: "/api/packages/**".into(),
        status: Some(503),
        ..Default::default()
    });
    let o = run(&sim, &["trends", "numpy"]).await;
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("pypistats is unavailable"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_breakdown_overview_and_health() {
    let sim = sim().await;
    let j = json(&run(&sim, &["--json", "top", "--limit", "3"]).await);
    let rows = j["value"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows[0]["download_count"].as_u64() >= rows[1]["download_count"].as_u64());

    let j = json(
        &run(
            &sim,
            &[
                "--json",
                "breakdown",
                "numpy",
                "--by",
                "system",
                "--days",
                "7",
            ],
        )
        .await,
    );
    assert_eq!(j["value"]["days"], 7);
    assert!(!j["value"]["categories"].as_array().unwrap().is_empty());

    let o = run(&sim, &["overview", "numpy", "pytz", "no-such-package-xyz"]).await;
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(6), "a partial batch: {}", stderr(&o));
    assert!(
        out.contains("failed: no-such-package-xyz (not_found)"),
        "{out}"
    );

    let j = json(&run(&sim, &["--json", "health"]).await);
    assert_eq!(j["ready"], true);
    // Every upstream, the file hosts included; the extra index only when one is set.
    assert_eq!(
        j["upstreams"].as_array().unwrap().len(),
        sentinel_actors::Upstream::ALL.len() - 1
    );

    // The table forms of the same commands.
    let out = stdout(&run(&sim, &["top", "--limit", "2"]).await);
    assert!(
        out.starts_with("rank") && out.contains("dataset of"),
        "{out}"
    );
    let out = stdout(&run(&sim, &["breakdown", "numpy", "--by", "python-minor"]).await);
    assert!(out.contains("category") && out.contains('%'), "{out}");
    let out = stdout(&run(&sim, &["health"]).await);
    assert!(out.contains("pypistats") && out.contains("closed"), "{out}");
    let o = run(
        &sim,
        &["--json", "overview", "numpy", "no-such-package-xyz"],
    )
    .await;
    assert_eq!(o.status.code(), Some(6));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["items"].as_array().unwrap().len(), 1);
    assert_eq!(j["failures"][0]["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_for_bad_input_and_not_found() {
    let sim = sim().await;
    let o = run(&sim, &["info", "not a name!"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid package"), "{}", stderr(&o));
    let o = run(&sim, &["info", "numpy==1.0-foo-bar!!"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid version"), "{}", stderr(&o));
    let o = run(&sim, &["deps", "numpy", "--python", "three"]).await;
    assert_eq!(o.status.code(), Some(2));
    let o = run(&sim, &["info", "numpy==latest"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("legacy version"), "{}", stderr(&o));
    let o = run(&sim, &["top", "--limit", "0"]).await;
    assert_eq!(o.status.code(), Some(2));
    let o = run(&sim, &["info", "no-such-package-xyz"]).await;
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("was not found"), "{}", stderr(&o));
    assert_eq!(
        sim.stats().matching("/pypi/**"),
        1,
        "only the not-found lookup reached PyPI"
    );
}

/// The exit codes had three hand-written tables, two of them wrong (8 was given to
/// `download`, which exits 9): `--help` now prints the table built from `Exit`, and
/// failures exit with, and name in `--json`, the code `Exit` defines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_lists_the_exit_codes_failures_exit_with() {
    let o = run_raw(vec!["--help".into()]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let help = stdout(&o);
    assert!(help.contains(&Exit::help_table()), "{help}");
    for e in Exit::ALL {
        assert!(
            help.contains(&format!("  {}  {}", e.code(), e.meaning())),
            "{e:?}: {help}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[cache]\nproject_json_ttl_ms = -1\n").unwrap();
    let bad = bad.display().to_string();
    let sim = sim().await;
    let cases: [(&[&str], Exit); 4] = [
        (&["info", "numpy"], Exit::Ok),
        (&["info", "not a name!"], Exit::BadInput),
        (&["info", "no-such-package-xyz"], Exit::NotFound),
        (&["--config", &bad, "info", "numpy"], Exit::Config),
    ];
    for (args, exit) in cases {
        let mut args = args.to_vec();
        args.push("--json");
        let o = run(&sim, &args).await;
        assert_eq!(
            o.status.code(),
            Some(i32::from(exit.code())),
            "{args:?}: {}",
            stderr(&o)
        );
        if exit != Exit::Ok {
            let err: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON error");
            assert_eq!(err["error"], exit.name(), "{args:?}");
            assert_eq!(err["exit_code"], exit.code(), "{args:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_fails_with_exit_5_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[upstreams.pypistats.breaker]\nfailure_rate_threshold = 1.5\n",
    )
    .unwrap();
    let o = run_raw(vec![
        "--config".into(),
        bad.display().to_string(),
        "info".into(),
        "numpy".into(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(5));
    let err = stderr(&o);
    assert!(
        err.contains("upstreams.pypistats.breaker.failure_rate_threshold") && err.contains("1.5"),
        "{err}"
    );

    std::fs::write(&bad, "[cache]\nproject_json_ttl_ms = -1\n").unwrap();
    let o = run_raw(vec![
        "config".into(),
        "check".into(),
        bad.display().to_string(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(5));
    assert!(stderr(&o).contains("project_json_ttl_ms"), "{}", stderr(&o));

    let o = run_raw(vec!["config".into(), "example".into()]).await;
    assert!(o.status.success());
    let good = dir.path().join("good.toml");
    std::fs::write(&good, &o.stdout).unwrap();
    let o = run_raw(vec![
        "config".into(),
        "check".into(),
        good.display().to_string(),
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("configuration is valid"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_completes_and_shows_every_provenance_kind() {
    let o = run_raw(vec!["demo".into(), "--fast".into()]).await;
    let out = stdout(&o);
    assert!(o.status.success(), "{}\n{}", out, stderr(&o));
    // Nothing on stderr: no log line breaks into the narration (it warned of the
    // corrupt downloads of act 7 before).
    assert_eq!(stderr(&o), "", "the demo logs nothing beside its own lines");
    let kinds = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("provenance kinds shown: "))
        .unwrap_or_else(|| panic!("no summary line: {out}"));
    for kind in [
        "live",
        "cached",
        "revalidated",
        "stale",
        "estimated",
        "unavailable",
    ] {
        assert!(kinds.contains(kind), "{kind} missing from {kinds}");
    }
    assert!(
        out.contains("pypistats open"),
        "the breaker opens during the storm: {out}"
    );
    assert!(
        out.contains("findings: ")
            && out.contains(
                "via: sg-web[speed]>=1.0 (requested) -> sg-web 1.1.0 requires sg-template>=2"
            ),
        "the audit act shows each finding's chain: {out}"
    );
    assert!(
        out.contains("arrived corrupted on every attempt")
            && out.contains("verified, 1 attempt(s)"),
        "the corrupting CDN is caught, then the clean file verified: {out}"
    );
}

#[test]
fn sim_prints_its_address_first_and_serves_the_scenario() {
    let mut child = Command::new(BIN)
        .args(["sim", "--scenario", "pypistats-outage"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .map(str::to_string);
    let result = std::panic::catch_unwind(|| {
        let url = url.expect("first line names the address");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let numpy = client
                .get(format!("{url}/pypi/numpy/json"))
                .send()
                .await
                .unwrap();
            assert_eq!(numpy.status(), 200);
            let recent = client
                .get(format!("{url}/api/packages/numpy/recent"))
                .send()
                .await
                .unwrap();
            assert_eq!(recent.status(), 502);
        });
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_failures_write_an_error_object_and_partial_batches_exit_6() {
    let sim = sim().await;
    let o = run(&sim, &["info", "no-such-package-zz", "--json"]).await;
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON on stdout");
    assert_eq!(err["error"], "not_found");
    assert_eq!(err["exit_code"], 3);

    // One package answered, one unknown: a partial batch, exit 6, answer printed.
    let o = run(&sim, &["overview", "numpy", "no-such-package-zz", "--json"]).await;
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("the partial answer");
    assert_eq!(r["items"].as_array().unwrap().len(), 1);
    assert_eq!(r["failures"][0]["code"], "not_found");
}

/// `versions pytz` lists `2004d`; asking for it must work too (it exited 2 as "not PEP
/// 440"), and a legacy string pytz does not list is "not found", not bad input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_version_that_versions_lists_can_be_looked_up() {
    let sim = sim().await;
    let o = run(&sim, &["--json", "info", "pytz==2004d"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["value"]["version"], "2004d", "{j}");
    let o = run(&sim, &["info", "pytz==2004z"]).await;
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

/// The CLI and the MCP tools take the same questions, so they must agree on the bounds:
/// `top` took 10,000 in the CLI and 1,000 over MCP (`mcp_tools` checks 1001 there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_mcp_share_the_bounds_of_a_question() {
    let sim = sim().await;
    let o = run(&sim, &["top", "--limit", "1001"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("between 1 and 1000"), "{}", stderr(&o));
    let o = run(&sim, &["trends", "numpy", "--days", "-3"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("invalid days \"-3\""), "{}", stderr(&o));
    let o = run(&sim, &["versions", "numpy", "--limit", "0"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_fit_the_budget_and_with_deps_report_missing_dependencies() {
    let sim = sim().await;
    let o = run(&sim, &["docs", "black", "--max-tokens", "300"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("black "), "{out}");
    assert!(
        out.contains("o200k_base") && out.contains("left out"),
        "{out}"
    );
    assert!(out.contains("## Installation"), "{out}");

    let j = json(&run(&sim, &["--json", "docs", "pymysql", "--max-tokens", "500"]).await);
    let md = j["value"]["markdown"].as_str().unwrap();
    assert!(sentinel_actors::views::docs::tokens::count(md) <= 500);
    assert_eq!(j["value"]["version"], "0.10.1");
    assert_eq!(j["value"]["format"], "rst");

    let o = run(&sim, &["docs", "black", "--max-tokens", "50"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("max_tokens"), "{}", stderr(&o));
    let o = run(&sim, &["docs", "black", "--python", "3.12"]).await;
    assert_eq!(o.status.code(), Some(2), "--python needs --with-deps");

    // Django's recorded release needs asgiref and sqlparse, which the simulator does not
    // have, and pytz, which it has: a partial answer, exit 6.
    let o = run(&sim, &["--json", "docs", "django", "--with-deps"]).await;
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("the partial answer");
    let items = r["dependencies"]["items"].as_array().unwrap();
    assert!(items.iter().any(|d| d["value"]["package"] == "pytz"), "{r}");
    let failures = r["dependencies"]["failures"].as_array().unwrap();
    assert!(
        failures
            .iter()
            .any(|f| f["item"] == "asgiref" && f["code"] == "not_found"),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_commands_show_the_data_date_and_say_when_pypistats_lags() {
    // pypistats on schedule: the data is as of yesterday, no lag note.
    let sim = sim().await;
    let yesterday = sim.today().plus_days(-1).to_string();
    let o = run(&sim, &["trends", "numpy", "--days", "14"]).await;
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.contains(&format!("data as of {yesterday}")), "{out}");
    assert!(!out.contains("lagging"), "{out}");
    let j = json(&run(&sim, &["--json", "breakdown", "numpy", "--by", "system"]).await);
    assert_eq!(j["data_as_of"]["date"], yesterday.as_str());
    assert_eq!(j["data_as_of"]["lagging"], false);

    // pypistats 3 days behind schedule: its newest day is 4 days old, and every
    // download answer says so.
    sim.set_pypistats_lag_days(3);
    let newest = sim.today().plus_days(-4).to_string();
    let o = run(&sim, &["trends", "numpy", "--days", "14"]).await;
    let out = stdout(&o);
    assert!(out.contains(&format!("data as of {newest}")), "{out}");
    assert!(
        out.contains(&format!(
            "pypistats' data is lagging: its newest day, {newest}, is 4 days old"
        )),
        "{out}"
    );
    let j = json(&run(&sim, &["--json", "trends", "numpy"]).await);
    assert_eq!(j["data_as_of"]["age_days"], 4);
    assert_eq!(j["data_as_of"]["lagging"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_writes_a_verified_file_in_the_current_directory_and_exit_codes_say_why_not() {
    let sim = sim().await;
    let cwd = tempfile::tempdir().unwrap();
    let o = run_in(
        &sim,
        cwd.path(),
        &[
            "download",
            "sg-native",
            "--version",
            "1.0.0",
            "--python",
            "3.11",
            "--platform",
            "linux",
        ],
    )
    .await;
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        stderr(&o)
    );
    let name = "sg_native-1.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
    let out = stdout(&o);
    assert!(out.contains(name) && out.contains("(verified)"), "{out}");
    assert!(cwd.path().join(name).is_file());

    // JSON, the sdist into a subdirectory given relative to the current directory.
    std::fs::create_dir(cwd.path().join("dist")).unwrap();
    let o = run_in(
        &sim,
        cwd.path(),
        &[
            "--json",
            "download",
            "sg-native",
            "--kind",
            "sdist",
            "--dest",
            "dist",
        ],
    )
    .await;
    let j = json(&o);
    assert_eq!(j["value"]["file"]["filename"], "sg_native-1.1.0.tar.gz");
    assert_eq!(j["value"]["relative_path"], "dist/sg_native-1.1.0.tar.gz");
    assert_eq!(j["value"]["verified"], true);

    // A destination outside the allowed (current) directory: bad input, nothing fetched.
    let outside = tempfile::tempdir().unwrap();
    let dest = outside.path().display().to_string();
    let o = run_in(
        &sim,
        cwd.path(),
        &["download", "sg-native", "--dest", &dest],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("download.allowed_dirs"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);

    // Corrupt on every attempt: exit 9, both digests said, nothing written.
    sim.add_fault(FaultSpec {
        route: "/files/**".into(),
        corrupt_bytes: true,
        ..Default::default()
    });
    let empty = tempfile::tempdir().unwrap();
    let o = run_in(
        &sim,
        empty.path(),
        &["download", "sg-web", "--version", "1.0.0"],
    )
    .await;
    assert_eq!(o.status.code(), Some(9), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("expected sha256") && err.contains(" then "),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
    sim.clear_faults();

    // A hostile name in the listing: exit 9; no wheel for the target: exit 3.
    let o = run_in(
        &sim,
        empty.path(),
        &["download", "sg-hostile", "--version", "1.0.1"],
    )
    .await;
    assert_eq!(o.status.code(), Some(9), "{}", stderr(&o));
    let o = run_in(
        &sim,
        empty.path(),
        &[
            "download",
            "sg-native",
            "--python",
            "3.10",
            "--platform",
            "windows",
            "--kind",
            "wheel",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn why_lists_the_chains_in_text_and_json_and_says_when_a_marker_excludes() {
    let sim = sim().await;
    let o = run(
        &sim,
        &["why", "sg-markup", "sg-web[cli]>=1", "--python", "3.12"],
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("sg-markup 3.0.0 is in the tree by 2 chains"),
        "{out}"
    );
    assert!(
        out.contains(
            "  1. sg-web[cli]>=1 (requested)\n     -> sg-web 1.1.0 requires sg-template>=2"
        ),
        "{out}"
    );
    let j = json(
        &run(
            &sim,
            &["--json", "why", "sg-tomli", "sg-web", "--python", "3.10"],
        )
        .await,
    );
    assert_eq!(j["presence"], "in_tree", "{j}");
    assert_eq!(j["chains"][0][1]["marker"], "python_full_version < '3.11'");
    assert_eq!(j["source"], "live");
    let j = json(
        &run(
            &sim,
            &["--json", "why", "sg-tomli", "sg-web", "--python", "3.12"],
        )
        .await,
    );
    assert_eq!(j["presence"], "excluded_by_markers", "{j}");
    assert_eq!(j["total_chains"], 0);
    let o = run(&sim, &["why", "sg-markup"]).await;
    assert_eq!(
        o.status.code(),
        Some(2),
        "a requirement is needed: {}",
        stderr(&o)
    );
}

/// Dependency confusion end to end: `--extra-index-url` at the simulator's private
/// index; `check` in JSON names pip's choice and its index, `scan` in text lists the
/// names on both and the private-only one apart, and the extra index down makes the
/// check "not checked" (a partial answer's exit), never clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_index_url_flags_dependency_confusion_in_check_and_scan() {
    let sim = sim().await;
    let extra = format!("{}/extra/simple", sim.base_url());
    let o = run(
        &sim,
        &["--extra-index-url", &extra, "--json", "check", "black"],
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", stdout(&o), stderr(&o)));
    assert_eq!(v["confusion"]["status"], "on_both", "{v}");
    let f = &v["confusion"]["finding"];
    assert_eq!(f["risk"], "public_wins");
    assert_eq!(f["pip_installs"]["index"], "pypi");
    assert_eq!(f["pip_installs"]["version"], f["public"]["value"]["latest"]);
    assert_eq!(f["extra"]["upstream"], "extra-index");
    assert_eq!(v["verdict"], "suspicious");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("requirements.txt"),
        "black\npytz\nacme-auth==2.1.0\n",
    )
    .unwrap();
    let o = run_in(
        &sim,
        dir.path(),
        &["--extra-index-url", &extra, "scan", "requirements.txt"],
    )
    .await;
    let out = stdout(&o);
    assert!(
        out.contains("Dependency confusion"),
        "{out}\n{}",
        stderr(&o)
    );
    assert!(
        out.contains("black (fails): black is on both indexes"),
        "{out}"
    );
    assert!(out.contains("pytz: pytz is on both indexes"), "{out}");
    assert!(
        out.contains("only on the extra index (not flagged): acme-auth"),
        "{out}"
    );

    sim.add_fault(FaultSpec {
        route: "/extra/**".into(),
        status: Some(503),
        ..Default::default()
    });
    let o = run(
        &sim,
        &["--extra-index-url", &extra, "--json", "check", "black"],
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["confusion"]["status"], "not_checked", "{v}");
    assert_eq!(
        o.status.code(),
        Some(Exit::Partial as i32),
        "{}",
        stderr(&o)
    );
}
