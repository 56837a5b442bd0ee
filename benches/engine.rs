//! Criterion micro-benches of the engine's hot paths, each beside the baseline it is
//! judged against in the same run (docs/ARCHITECTURE.md section 7: ratios, not absolute times).
//!
//! - a fresh cache hit through `EngineHandle` vs a raw `moka` get of the same value;
//! - a 20-package batch (`overview`) answered from cache;
//! - a circuit-breaker admission decision;
//! - PEP 440 version sorting of the numpy and django release lists vs a naive string sort.
//!
//! `cargo bench --bench engine`; BENCHMARKS.md has the figures.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sentinel_actors::policy::{Admission, Breaker, BreakerConfig};
use sentinel_actors::upstream::{self, Document};
use sentinel_actors::views::versions::{VersionList, sort_pep440};
use sentinel_actors::{Engine, EngineConfig, PackageName, Query, Upstream};
use sentinel_sim::{Sim, SimConfig};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn cache_hit(c: &mut Criterion) {
    let rt = runtime();
    let (sim, engine) = rt.block_on(async {
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        let mut cfg = EngineConfig::default().with_origin(&sim.base_url());
        for up in Upstream::ALL {
            cfg.upstreams.get_mut(up).rate_limit = None;
        }
        let engine = Engine::start(cfg).await.unwrap();
        engine.package_info("django", None).await.unwrap();
        (sim, engine)
    });
    let q = Query::Project(PackageName::parse("django").unwrap());
    // The same value in a bare moka cache: the floor any cache hit can reach.
    let raw: moka::sync::Cache<Query, Arc<Document>> = moka::sync::Cache::new(10_000);
    let doc = rt.block_on(engine.document(q.clone())).unwrap().doc;
    raw.insert(q.clone(), doc);

    let mut g = c.benchmark_group("fresh_cache_hit");
    g.bench_function("raw_moka_get", |b| b.iter(|| raw.get(&q).unwrap()));
    // The same get inside the async harness the engine calls run in.
    g.bench_function("raw_moka_get_async", |b| {
        b.to_async(&rt).iter(|| async { raw.get(&q).unwrap() })
    });
    g.bench_function("engine_document", |b| {
        b.to_async(&rt).iter(|| engine.document(q.clone()))
    });
    g.bench_function("engine_package_info_view", |b| {
        b.to_async(&rt).iter(|| engine.package_info("django", None))
    });
    g.finish();

    let names: Vec<String> = [
        "numpy",
        "django",
        "black",
        "pytest",
        "pytz",
        "scipy",
        "coverage",
        "pyyaml",
        "docutils",
        "pymysql",
        "apeye",
        "bar",
        "snowballstemmer",
        "xo-gd",
        "octocheese",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain((0..5).map(|i| ["numpy", "django", "black", "pytest", "pytz"][i].to_string()))
    .collect();
    rt.block_on(async {
        engine.overview(&names).await.unwrap();
    });
    let mut g = c.benchmark_group("batch_from_cache");
    g.bench_function("overview_20_packages", |b| {
        b.to_async(&rt).iter(|| engine.overview(&names))
    });
    g.finish();

    rt.block_on(async {
        engine.shutdown().await;
        sim.shutdown().await;
    });
}

fn breaker_decision(c: &mut Criterion) {
    let mut breaker = Breaker::new(BreakerConfig::default());
    let now = std::time::Instant::now();
    c.bench_function("breaker_admit_closed", |b| {
        b.iter(|| matches!(breaker.admit(now), Admission::Allowed))
    });
}

fn version_sorting(c: &mut Criterion) {
    let mut g = c.benchmark_group("version_sort");
    for name in ["numpy", "django"] {
        let body = std::fs::read(format!(
            "{}/sim/data/pypi-json/project/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture");
        let q = Query::Project(PackageName::parse(name).unwrap());
        let Ok(Document::Project(doc)) = upstream::parse(&q, Some("application/json"), &body)
        else {
            panic!("fixture parses")
        };
        let strings: Vec<String> = VersionList::from_project(&doc)
            .versions
            .iter()
            .map(|v| v.version.clone())
            .collect();
        g.bench_function(format!("{name}_pep440_version_list"), |b| {
            b.iter(|| VersionList::from_project(&doc))
        });
        g.bench_function(format!("{name}_sort_pep440_strings"), |b| {
            b.iter_batched(
                || strings.clone(),
                |mut v| {
                    sort_pep440(&mut v);
                    v
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("{name}_naive_string_sort"), |b| {
            b.iter_batched(
                || strings.clone(),
                |mut v| {
                    v.sort();
                    v
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = cache_hit, breaker_decision, version_sorting
}
criterion_main!(benches);
