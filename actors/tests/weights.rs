//! The cache's byte limit is real: for every document kind, fed with recorded and with
//! adversarial bodies, the weight the cache charges (`Document::approx_bytes`) is within
//! 25 % of the heap the parsed document really holds, counted by a counting allocator
//! (requests rounded as glibc hands out blocks: an 8-byte header, 16-byte granules,
//! 32 bytes at least).
//!
//! One test function, so that nothing else allocates in this process meanwhile (nextest
//! runs each test in a process of its own).

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use sentinel_actors::upstream::{self, ParseError};
use sentinel_actors::{PackageName, PackageVersion, Query, StatsKind};

struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

fn block(n: usize) -> isize {
    if n == 0 {
        0
    } else {
        ((n + 8).div_ceil(16).max(2) * 16) as isize
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter
// is updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        HELD.fetch_add(block(l.size()), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        HELD.fetch_add(block(l.size()), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        HELD.fetch_sub(block(l.size()), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        HELD.fetch_add(block(new) - block(l.size()), Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn name(n: &str) -> PackageName {
    PackageName::parse(n).unwrap()
}

/// Parses `body` as the answer to `q`, keeps it as the cache would (in an `Arc`), and
/// returns (what the weigher charges, what the heap really holds).
fn weigh(q: &Query, body: &[u8]) -> (usize, isize) {
    let before = HELD.load(Ordering::SeqCst);
    let doc = Arc::new(upstream::parse(q, None, body).unwrap_or_else(|e| panic!("{q}: {e}")));
    let held = HELD.load(Ordering::SeqCst) - before;
    let charged = doc.approx_bytes();
    drop(doc);
    (charged, held)
}

fn check(what: &str, q: &Query, body: &[u8], report: &mut Vec<String>) {
    let (charged, held) = weigh(q, body);
    let ratio = charged as f64 / held as f64;
    report.push(format!(
        "{what}: charged {charged} B, held {held} B, ratio {ratio:.3}"
    ));
    assert!(
        (0.75..=1.25).contains(&ratio),
        "{what}: the cache charges {charged} bytes for {held} bytes held ({ratio:.3})"
    );
}

fn project_body(n: &str, classifiers: usize, releases: usize, summary: usize) -> String {
    let cls: Vec<String> = (0..classifiers).map(|i| format!("\"c{i}\"")).collect();
    let rel: Vec<String> = (0..releases)
        .map(|i| {
            format!(
                r#""{i}.0":[{{"filename":"{n}-{i}.0.tar.gz","packagetype":"sdist","upload_time_iso_8601":"2020-01-01T00:00:00.000000Z","yanked":false,"size":10}},{{"filename":"{n}-{i}.0-py3-none-any.whl","packagetype":"bdist_wheel","upload_time_iso_8601":"2020-01-01T00:00:00.000000Z","yanked":false,"size":10}}]"#
            )
        })
        .collect();
    format!(
        r#"{{"info":{{"name":"{n}","version":"0.0","summary":"{}","classifiers":[{}],"requires_dist":["a>=1","b; python_version < '3.9'"]}},"last_serial":1,"urls":[],"releases":{{{}}}}}"#,
        "s".repeat(summary),
        cls.join(","),
        rel.join(",")
    )
}

#[test]
fn the_cache_charges_what_every_document_kind_really_holds() {
    let mut report = Vec::new();

    // PyPI JSON: a recorded project, a recorded release, and hostile shapes.
    let numpy = name("numpy");
    check(
        "project numpy (recorded)",
        &Query::Project(numpy.clone()),
        include_bytes!("../../sim/data/pypi-json/project/numpy.json"),
        &mut report,
    );
    check(
        "release microsoft 0.0.1 (recorded)",
        &Query::Release(name("microsoft"), PackageVersion::parse("0.0.1").unwrap()),
        include_bytes!("../../sim/data/pypi-json/release/microsoft-0.0.1.json"),
        &mut report,
    );
    let x = name("x");
    check(
        "project with 50,000 one-letter classifiers",
        &Query::Project(x.clone()),
        project_body("x", 50_000, 1, 10).as_bytes(),
        &mut report,
    );
    check(
        "project with 20,000 releases",
        &Query::Project(x.clone()),
        project_body("x", 3, 20_000, 10).as_bytes(),
        &mut report,
    );
    check(
        "project with a 4 MB summary",
        &Query::Project(x.clone()),
        project_body("x", 3, 2, 4 << 20).as_bytes(),
        &mut report,
    );

    // Simple API: recorded, and 50,000 files yanked with long reasons.
    check(
        "simple black (recorded)",
        &Query::Simple(name("black")),
        include_bytes!("../../sim/data/pypi-simple/json/black.json"),
        &mut report,
    );
    let files: Vec<String> = (0..50_000)
        .map(|i| {
            format!(
                r#"{{"filename":"x-{i}.tar.gz","upload-time":"2020-01-01T00:00:00Z","yanked":"{}","size":1}}"#,
                "r".repeat(i % 300)
            )
        })
        .collect();
    let simple = format!(
        r#"{{"meta":{{"api-version":"1.1"}},"name":"x","versions":[],"files":[{}]}}"#,
        files.join(",")
    );
    check(
        "simple with 50,000 yanked reasons",
        &Query::Simple(x.clone()),
        simple.as_bytes(),
        &mut report,
    );
    // A `yanked` that is a huge array is not a PEP 691 page: refused, never held.
    let huge_yanked = format!(
        r#"{{"name":"x","files":[{{"filename":"x-1.tar.gz","yanked":[{}]}}]}}"#,
        vec!["0"; 100_000].join(",")
    );
    assert!(upstream::parse(&Query::Simple(x.clone()), None, huge_yanked.as_bytes()).is_err());

    // pypistats: a series of 50,000 points with long categories; recent.
    let points: Vec<String> = (0..50_000)
        .map(|i| {
            format!(
                r#"{{"category":"{}","date":"2026-{:02}-{:02}","downloads":{i}}}"#,
                "c".repeat(i % 64),
                i % 12 + 1,
                i % 28 + 1
            )
        })
        .collect();
    let series = format!(
        r#"{{"data":[{}],"package":"x","type":"overall_downloads"}}"#,
        points.join(",")
    );
    check(
        "series of 50,000 points",
        &Query::Stats(x.clone(), StatsKind::Overall),
        series.as_bytes(),
        &mut report,
    );
    check(
        "recent",
        &Query::Stats(x.clone(), StatsKind::Recent),
        br#"{"data":{"last_day":1,"last_week":7,"last_month":30},"package":"x","type":"recent_downloads"}"#,
        &mut report,
    );
    let long_category = format!(
        r#"{{"data":[{{"category":"{}","date":"2026-01-01","downloads":1}}],"package":"x","type":"t"}}"#,
        "c".repeat(10_000)
    );
    assert!(matches!(
        upstream::parse(
            &Query::Stats(x.clone(), StatsKind::System),
            None,
            long_category.as_bytes()
        ),
        Err(ParseError::Invalid(_))
    ));

    // pepy: 90 days x 2,000 versions, summed away at parse time.
    let days: Vec<String> = (0..90)
        .map(|d| {
            let versions: Vec<String> = (0..2_000).map(|v| format!(r#""{v}.0":{v}"#)).collect();
            format!(
                r#""2026-{:02}-{:02}":{{{}}}"#,
                d / 28 + 1,
                d % 28 + 1,
                versions.join(",")
            )
        })
        .collect();
    let pepy = format!(
        r#"{{"id":"x","total_downloads":5,"versions":[],"downloads":{{{}}}}}"#,
        days.join(",")
    );
    check(
        "pepy 90 days x 2,000 versions",
        &Query::Pepy(x.clone()),
        pepy.as_bytes(),
        &mut report,
    );

    // The top-packages dataset with 50,000 rows.
    let rows: Vec<String> = (0..50_000)
        .map(|i| format!(r#"{{"project":"p{i}","download_count":{i}}}"#))
        .collect();
    let top = format!(
        r#"{{"last_update":"2026-11-01 00:00:00","rows":[{}]}}"#,
        rows.join(",")
    );
    check(
        "top 50,000 rows",
        &Query::TopPackages,
        top.as_bytes(),
        &mut report,
    );

    eprintln!("{}", report.join("\n"));
}
