//! Property tests: names, versions, requirements, every upstream parser and the
//! configuration never panic on any input, and what they accept keeps its promises.
//! (cargo-fuzz needs a nightly toolchain, which these machines don't have.)

use proptest::prelude::*;
use sentinel_actors::upstream::{self, Document};
use sentinel_actors::views::deps::{Dependencies, TargetEnv};
use sentinel_actors::views::info::PackageInfo;
use sentinel_actors::views::python::{PythonCompat, SupportedPythons, parse_python_version};
use sentinel_actors::views::versions::VersionList;
use sentinel_actors::{EngineConfig, PackageName, PackageVersion, Query, StatsKind};

fn every_query() -> Vec<Query> {
    let n = PackageName::parse("x").unwrap();
    vec![
        Query::Project(n.clone()),
        Query::Release(n.clone(), PackageVersion::parse("1.0").unwrap()),
        Query::Simple(n.clone()),
        Query::Stats(n.clone(), StatsKind::Recent),
        Query::Stats(n.clone(), StatsKind::Overall),
        Query::Stats(n.clone(), StatsKind::System),
        Query::Pepy(n),
        Query::TopPackages,
    ]
}

/// JSON-shaped text: braces, brackets, quotes, numbers (huge ones too) and the field
/// names the parsers look for, in random order.
fn jsonish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("\"x\"".to_string()),
        Just("\"info\"".to_string()),
        Just("\"name\"".to_string()),
        Just("\"version\"".to_string()),
        Just("\"releases\"".to_string()),
        Just("\"files\"".to_string()),
        Just("\"data\"".to_string()),
        Just("\"date\"".to_string()),
        Just("\"downloads\"".to_string()),
        Just("\"yanked\"".to_string()),
        Just("\"2026-01-01\"".to_string()),
        Just("18446744073709551615".to_string()),
        Just("-1".to_string()),
        Just("1e999".to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "\"[^\"\\\\]{0,12}\"".prop_map(|s| s),
    ];
    prop::collection::vec(token, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn package_names_never_panic_and_normalise_idempotently(raw in "\\PC{0,260}") {
        if let Ok(n) = PackageName::parse(&raw) {
            prop_assert!(n.as_str().len() <= 200);
            prop_assert!(n.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_')));
            let again = PackageName::parse(n.as_str()).unwrap();
            prop_assert_eq!(again, n);
        }
    }

    #[test]
    fn name_like_strings_are_accepted(raw in "[A-Za-z0-9]([A-Za-z0-9._-]{0,40}[A-Za-z0-9])?") {
        prop_assert!(PackageName::parse(&raw).is_ok(), "{}", raw);
    }

    #[test]
    fn versions_never_panic_and_what_is_accepted_is_url_safe(raw in "\\PC{0,120}") {
        if let Ok(v) = PackageVersion::parse(&raw) {
            prop_assert!(v.as_str().chars().all(|c| c.is_ascii_alphanumeric() || ".-_+!".contains(c)));
            prop_assert_eq!(PackageVersion::parse(v.as_str()).unwrap(), v);
        }
    }

    #[test]
    fn python_versions_never_panic(raw in "\\PC{0,20}") {
        let _ = parse_python_version(&raw);
    }

    #[test]
    fn every_parser_survives_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        for q in every_query() {
            let _ = upstream::parse(&q, None, &body);
        }
    }

    #[test]
    fn every_parser_survives_json_shaped_garbage(body in jsonish()) {
        for q in every_query() {
            if let Ok(doc) = upstream::parse(&q, Some("application/json"), body.as_bytes()) {
                prop_assert!(doc.approx_bytes() > 0);
            }
        }
    }

    #[test]
    fn requirements_and_targets_never_panic_the_views(
        reqs in prop::collection::vec("\\PC{0,60}", 0..8),
        requires_python in proptest::option::of("\\PC{0,30}"),
        python in "[0-9]{1,2}\\.[0-9]{1,3}",
        classifiers in prop::collection::vec("Programming Language :: Python :: [0-9.]{0,6}", 0..5),
    ) {
        let body = serde_json::json!({
            "info": {
                "name": "x", "version": "1.0",
                "requires_dist": reqs,
                "requires_python": requires_python,
                "classifiers": classifiers,
                "provides_extra": ["a"],
            },
            "releases": {"1.0": []},
        });
        let q = Query::Project(PackageName::parse("x").unwrap());
        let Document::Project(p) = upstream::parse(&q, None, body.to_string().as_bytes()).unwrap() else {
            panic!("a project document");
        };
        let _ = PackageInfo::from_project(&p);
        let _ = VersionList::from_project(&p);
        let _ = SupportedPythons::from_project(&p);
        let _ = Dependencies::from_project(&p, None);
        if let Ok(py) = parse_python_version(&python) {
            let _ = PythonCompat::check(&p, &py);
        }
        for platform in ["linux", "macos", "windows"] {
            if let Ok(env) = TargetEnv::new(Some(&python), Some(platform), &["a".to_string()]) {
                let _ = Dependencies::from_project(&p, Some(&env));
            }
        }
    }

    #[test]
    fn any_config_that_validates_can_start_its_clocks_and_cache(
        ttl in any::<u64>(),
        stale in any::<u64>(),
        deadline in any::<u64>(),
        budget in any::<u64>(),
        open_max in any::<u64>(),
    ) {
        let mut cfg = EngineConfig::default();
        cfg.cache.project_json_ttl_ms = ttl;
        cfg.cache.stale_retention_ms = stale;
        cfg.timeouts.deadline_ms = deadline;
        cfg.timeouts.attempt_ms = deadline.min(cfg.timeouts.attempt_ms);
        cfg.timeouts.answer_budget_ms = budget;
        cfg.upstreams.pypistats.breaker.open_max_ms = open_max;
        if cfg.validate().is_ok() {
            let now = tokio::time::Instant::now();
            let _ = now + std::time::Duration::from_millis(cfg.timeouts.deadline_ms);
            let _ = now + std::time::Duration::from_millis(cfg.timeouts.answer_budget_ms);
            let _ = now + std::time::Duration::from_millis(open_max);
            // moka panics on a TTL past 1,000 years: a valid config never gets there.
            let _ = sentinel_actors::cache::SharedCache::new(&cfg.cache);
        }
    }
}
