//! `scan_dependencies`, `audit_project` and `resolve_dependencies` against hostile
//! project files, as an attacker with no configuration would send them: markers nested
//! 10,000 deep, a million unreadable lines, files including each other line after line,
//! TOML nested past any real file, credentials in every place a requirements file or a
//! pyproject can hold a URL, and files an audit cannot read (which must make it
//! `incomplete`, never `clean`). Each answer stays small, says what was wrong, and
//! leaks no token.

use std::path::PathBuf;

use pypi_sentinel::engine::audit::{AuditReport, AuditVerdict};
use pypi_sentinel::engine::resolver::ResolveRequest;
use pypi_sentinel::engine::views::scan::{DependencyVerdict, ScanReport};
use pypi_sentinel::engine::{Engine, EngineHandle, ErrorCode, QueryError, ScanInput, Target};
use pypi_sentinel::sim::{Sim, SimConfig, SimHandle};

mod common;

async fn start(roots: Vec<PathBuf>) -> (SimHandle, EngineHandle) {
    let sim = Sim::start(SimConfig::default()).await.expect("simulator");
    let mut cfg = common::sim_config(&sim, roots);
    // Generous: a debug build on a shared machine parses slowly; nothing here waits
    // on a timeout.
    cfg.timeouts.deadline_ms = 30_000;
    cfg.timeouts.attempt_ms = 5_000;
    let engine = Engine::start(cfg).await.expect("engine");
    (sim, engine)
}

fn content(filename: &str, text: &str) -> ScanInput {
    ScanInput::Content {
        filename: filename.into(),
        content: text.into(),
    }
}

async fn scan(engine: &EngineHandle, filename: &str, text: &str) -> ScanReport {
    engine
        .scan_dependencies(content(filename, text))
        .await
        .unwrap_or_else(|e| panic!("scan {filename}: {e}"))
}

async fn audit(engine: &EngineHandle, filename: &str, text: &str) -> AuditReport {
    let target = Target {
        python_version: Some("3.12".into()),
        ..Target::default()
    };
    engine
        .audit_project(content(filename, text), &target)
        .await
        .unwrap_or_else(|e| panic!("audit {filename}: {e}"))
}

fn resolve_request(requirements: Vec<String>) -> ResolveRequest {
    ResolveRequest {
        requirements,
        target: Target {
            python_version: Some("3.12".into()),
            ..Target::default()
        },
        max_packages: None,
        vulnerabilities: false,
    }
}

fn deep_marker() -> String {
    format!(
        "sg-certs ; {}python_version >= '3'{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_nested_10000_deep_is_a_clear_error_for_its_line_in_scan_audit_and_resolve() {
    let (_sim, engine) = start(vec![]).await;
    let text = format!("sg-idna>=3.7\n{}\n", deep_marker());
    let r = scan(&engine, "requirements.txt", &text).await;
    assert_eq!(r.dependencies.len(), 1, "the good line is still read");
    assert_eq!(r.dependencies[0].check.verdict, DependencyVerdict::Ok);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].line, 2);
    assert!(
        r.problems[0].reason.contains("nested") || r.problems[0].reason.contains("bytes long"),
        "{}",
        r.problems[0].reason
    );
    let a = audit(&engine, "requirements.txt", &text).await;
    assert_eq!(a.verdict, AuditVerdict::Incomplete, "{}", a.summary);
    let deep_short = format!(
        "sg-certs ; {}os_name == 'posix'{}",
        "(".repeat(100),
        ")".repeat(100)
    );
    let request = resolve_request(vec!["sg-idna>=3.7".into(), deep_short]);
    match engine.resolve(&request).await {
        Err(QueryError::InvalidInput(e)) => {
            assert!(e.rule.contains("nested 100 parentheses"), "{}", e.rule)
        }
        other => panic!("not an input error: {other:?}"),
    }
    let request = resolve_request(vec![deep_marker()]);
    assert!(matches!(
        engine.resolve(&request).await,
        Err(QueryError::InvalidInput(_))
    ));
    // Still answering.
    let r = scan(&engine, "requirements.txt", "sg-certs\n").await;
    assert_eq!(r.dependencies.len(), 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_unreadable_lines_give_a_small_answer_that_counts_them() {
    let (_sim, engine) = start(vec![]).await;
    let lines = 300_000;
    let text = "!\n".repeat(lines);
    let r = scan(&engine, "requirements.txt", &text).await;
    assert_eq!(r.summary.problems, lines, "every problem is counted");
    assert!(r.problems.len() <= 501, "{} listed", r.problems.len());
    assert!(
        r.problems
            .last()
            .is_some_and(|p| p.reason.contains("more problem(s) in this file not listed")),
        "{:?}",
        r.problems.last()
    );
    let bytes = serde_json::to_vec(&r).unwrap().len();
    assert!(bytes < 100_000, "{bytes} bytes");
    let a = audit(&engine, "requirements.txt", &text).await;
    assert_eq!(a.verdict, AuditVerdict::Incomplete, "{}", a.summary);
    assert!(serde_json::to_vec(&a).unwrap().len() < 100_000);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_files_including_each_other_line_after_line_are_each_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let a: String = "-r b.txt\n".repeat(5_000) + "sg-certs\n";
    let b: String = "-r requirements.txt\n".repeat(5_000) + "sg-idna>=3.7\n";
    std::fs::write(dir.path().join("requirements.txt"), a).unwrap();
    std::fs::write(dir.path().join("b.txt"), b).unwrap();
    let (_sim, engine) = start(vec![dir.path().to_path_buf()]).await;
    let r = engine
        .scan_dependencies(ScanInput::Path(dir.path().join("requirements.txt")))
        .await
        .unwrap();
    let names: Vec<&str> = r
        .dependencies
        .iter()
        .map(|d| d.declared.name.as_str())
        .collect();
    assert_eq!(names, ["sg-idna", "sg-certs"], "each file's lines once");
    assert_eq!(r.files.len(), 2);
    assert!(
        r.problems[0].reason.contains("include cycle"),
        "{:?}",
        r.problems[0]
    );
    assert!(r.problems.len() <= 101, "{}", r.problems.len());
    assert!(r.notes.iter().any(|n| n.contains("not read again")));
    assert!(serde_json::to_vec(&r).unwrap().len() < 200_000);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toml_nested_100000_deep_is_a_problem_and_the_audit_is_incomplete() {
    let (_sim, engine) = start(vec![]).await;
    let arrays = format!(
        "[project]\ndependencies = [\"sg-idna==3.6\"]\nx = {}1{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let mut tables = String::from("[project]\ndependencies = [\"sg-idna==3.6\"]\nx = ");
    for _ in 0..100_000 {
        tables.push_str("{a = ");
    }
    tables.push('1');
    tables.push_str(&"}".repeat(100_000));
    for (what, text) in [("arrays", arrays), ("inline tables", tables)] {
        for filename in ["pyproject.toml", "uv.lock", "poetry.lock", "pylock.toml"] {
            let r = scan(&engine, filename, &text).await;
            assert!(
                r.problems
                    .iter()
                    .any(|p| p.reason.contains("nested 100000 deep")),
                "{what} in {filename}: {:?}",
                r.problems
            );
        }
        let a = audit(&engine, "pyproject.toml", &text).await;
        assert_eq!(a.verdict, AuditVerdict::Incomplete, "{what}: {}", a.summary);
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_that_could_not_read_a_line_is_incomplete_never_clean() {
    let (_sim, engine) = start(vec![]).await;
    // A TOML syntax error in a file that declares a vulnerable pin: nothing was read.
    let broken = "[project]\ndependencies = [\"sg-idna==3.6\",\n  oops\n]\n";
    let a = audit(&engine, "pyproject.toml", broken).await;
    assert_eq!(a.verdict, AuditVerdict::Incomplete, "{}", a.summary);
    assert!(a.unchecked.iter().any(|u| u.code == ErrorCode::Unreadable));
    assert_eq!(a.problems[0].line, 3, "{:?}", a.problems);
    // A misspelt requirement beside a clean one.
    let a = audit(&engine, "requirements.txt", "sg-certs\nsg-http=1.2.0\n").await;
    assert_eq!(a.verdict, AuditVerdict::Incomplete, "{}", a.summary);
    assert!(a.summary.contains("not checked"), "{}", a.summary);
    // The same project without the bad line is clean.
    let a = audit(&engine, "requirements.txt", "sg-certs\n").await;
    assert_eq!(
        a.verdict,
        AuditVerdict::Clean,
        "{}: {:?}",
        a.summary,
        a.unchecked
    );
    engine.shutdown().await;
}

const TOKEN: &str = "TOKEN_s3cr3t_9f8e";

/// Every place a project file may hold a credential.
fn credential_cases() -> Vec<(&'static str, String)> {
    let t = TOKEN;
    vec![
        (
            "requirements.txt",
            format!(
                "-r https://user:{t}@files.example/base.txt\n-c https://{t}@files.example/c.txt\nsg-certs\n"
            ),
        ),
        (
            "requirements.txt",
            format!(
                "-ihttps://user:{t}@idx.example/simple\n-fhttps://{t}@files.example/links\n--extra-index-url=https://u:{t}@x.example/simple\nsg-certs\n"
            ),
        ),
        (
            "requirements.txt",
            format!(
                "pkg @ https://user:{t}@files.example/pkg.whl ; ((((\nother @ https://files.example/o.whl?token={t}\nhttps://files.example/bare.whl?access_token={t}\n-e git+https://{t}@git.example/r.git#egg=r\nx==1 --global-option=https://u:{t}@h.example/\n"
            ),
        ),
        (
            "requirements.txt",
            format!(
                "pkg @ https://user:{t}@files.example/pkg.whl ; python_version >=\nbad>=>1 https://u:{t}@h.example/x\n"
            ),
        ),
        (
            "pyproject.toml",
            format!(
                "[tool.poetry.dependencies]\nprivate = {{ git = \"https://user:{t}@git.example/p.git\" }}\nwheel = {{ url = \"https://files.example/w.whl?token={t}\" }}\nbroken = {{ git = \"https://u:{t}@git.example/b.git\", version = \"^x\" }}\n"
            ),
        ),
        (
            "pyproject.toml",
            format!(
                "[project]\ndependencies = [\"pkg @ https://u:{t}@files.example/p.whl\", \"bad @ https://u:{t}@h.example/x ; (((\"]\n"
            ),
        ),
        (
            "setup.cfg",
            format!(
                "[options]\ninstall_requires =\n    pkg @ https://u:{t}@files.example/p.whl\n    https://u:{t}@files.example/bare.whl\n"
            ),
        ),
        (
            "uv.lock",
            format!(
                "version = 1\n[[package]]\nname = \"p\"\nversion = \"1.0\"\nsource = {{ git = \"https://u:{t}@git.example/p.git\" }}\n"
            ),
        ),
        (
            "pylock.toml",
            format!(
                "lock-version = \"1.0\"\n[[packages]]\nname = \"p\"\nversion = \"1.0\"\narchive = {{ url = \"https://files.example/p.whl?token={t}\" }}\n"
            ),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_requirement_urls_are_never_echoed_in_scan_or_audit_answers() {
    let (_sim, engine) = start(vec![]).await;
    for (filename, text) in credential_cases() {
        let r = scan(&engine, filename, &text).await;
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains(TOKEN), "{filename}: {text}\n{json}");
        let a = audit(&engine, filename, &text).await;
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains(TOKEN), "{filename}: {text}\n{json}");
    }
    // A file name holding a URL is echoed redacted in the input error.
    let e = engine
        .scan_dependencies(content(&format!("https://u:{TOKEN}@h.example/x.bin"), ""))
        .await
        .unwrap_err();
    assert!(!e.to_string().contains(TOKEN), "{e}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_never_echoed_by_the_cli_in_text_or_json() {
    let sim = Sim::start(SimConfig::default()).await.expect("simulator");
    let dir = tempfile::tempdir().unwrap();
    let all: String = credential_cases()
        .into_iter()
        .filter(|(f, _)| *f == "requirements.txt")
        .map(|(_, t)| t)
        .collect();
    std::fs::write(dir.path().join("requirements.txt"), all).unwrap();
    for args in [
        vec!["scan", "requirements.txt"],
        vec!["--json", "scan", "requirements.txt"],
        vec!["audit", "requirements.txt"],
        vec!["--json", "audit", "requirements.txt"],
    ] {
        let o = common::run_in(sim.base_url(), dir.path().to_path_buf(), args.clone()).await;
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !out.contains(TOKEN) && !err.contains(TOKEN),
            "{args:?}\n{out}\n{err}"
        );
        assert!(!out.is_empty(), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_allowed_dirs_a_missing_path_is_refused_like_an_existing_one() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("requirements.txt"), "sg-certs\n").unwrap();
    std::fs::write(outside.path().join("requirements.txt"), "sg-certs\n").unwrap();
    let (_sim, engine) = start(vec![root.path().to_path_buf()]).await;
    let refusal = |p: PathBuf| {
        let engine = engine.clone();
        async move {
            match engine.scan_dependencies(ScanInput::Path(p)).await {
                Err(QueryError::InvalidInput(e)) => e.rule,
                other => panic!("not refused: {other:?}"),
            }
        }
    };
    let exists = refusal(outside.path().join("requirements.txt")).await;
    let missing = refusal(outside.path().join("requirements-nope.txt")).await;
    let missing_dir = refusal(outside.path().join("nope/deeper/requirements.txt")).await;
    assert_eq!(exists, missing);
    assert_eq!(exists, missing_dir);
    assert!(exists.contains("outside"), "{exists}");
    // Inside, a missing file is said to be missing.
    let inside = refusal(root.path().join("requirements-nope.txt")).await;
    assert!(inside.contains("no such file"), "{inside}");
    engine.shutdown().await;
}
