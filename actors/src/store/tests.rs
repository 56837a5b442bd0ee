//! The store's unit tests: kept documents round-trip and come back as copies from disk.

use super::*;
use sentinel_core::upstream::{PepyDoc, SeriesDoc, SimpleDoc, SimpleFile, Yanked};

fn cfg(dir: &Path) -> EngineConfig {
    let mut c = EngineConfig::default();
    c.store.path = Some(dir.join("s.sqlite3"));
    c
}

#[test]
fn every_kept_document_kind_round_trips() {
    let project = sentinel_core::upstream::pypi::parse(include_bytes!(
        "../../../sim/data/pypi-json/project/numpy.json"
    ))
    .unwrap();
    let docs = [
        Document::Project(project.clone()),
        Document::Release(project),
        Document::Simple(SimpleDoc {
            name: "x".into(),
            versions: vec!["1".into()],
            files: vec![
                SimpleFile {
                    filename: "x-1.tar.gz".into(),
                    upload_time: None,
                    yanked: Yanked::Absent,
                    size: Some(3),
                    ..Default::default()
                },
                SimpleFile {
                    filename: "x-2.tar.gz".into(),
                    upload_time: Some("t".into()),
                    yanked: Yanked::Reason("bad".into()),
                    size: None,
                    url: Some("../../files/x-2.tar.gz".into()),
                    core_metadata: sentinel_core::upstream::CoreMetadata::Flag(true),
                    ..Default::default()
                },
            ],
        }),
        Document::Series(
            SeriesDoc::from_points(
                "x".into(),
                "overall_downloads".into(),
                [("null", "2026-01-01", 4)],
            )
            .unwrap(),
        ),
        Document::Pepy(PepyDoc {
            id: "x".into(),
            total_downloads: 9,
            daily: vec![("2026-01-01".into(), 9)],
        }),
        Document::Metadata(sentinel_core::upstream::ReleaseMetadata {
            name: "x".into(),
            version: "1.0".into(),
            requires_dist: vec!["y>=1; extra == \"z\"".into()],
            requires_python: Some(">=3.9".into()),
            provides_extra: vec!["z".into()],
            summary: Some("a summary kept with the rest".into()),
            ..Default::default()
        }),
        Document::Release(
            sentinel_core::upstream::pypi::parse(
                br#"{"info":{"name":"x","version":"1"},"vulnerabilities":[{"id":"A","aliases":["B"],"fixed_in":["2"],"withdrawn":null,"summary":null,"details":"d","link":"l","source":"osv"}]}"#,
            )
            .unwrap(),
        ),
    ];
    for d in docs {
        let back: Document = serde_json::from_slice(&serde_json::to_vec(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}

#[tokio::test]
async fn a_kept_document_comes_back_stale_with_its_age_and_etag() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&cfg(dir.path()));
    assert!(store.is_active(), "{:?}", store.report());
    let q = Query::Pepy(PackageName::parse("x").unwrap());
    let doc = Arc::new(Document::Pepy(PepyDoc {
        id: "x".into(),
        total_downloads: 9,
        daily: vec![("2026-01-01".into(), 4), ("2026-01-02".into(), 5)],
    }));
    let at = SystemTime::now() - Duration::from_secs(3600);
    let e = KeptDocument {
        doc: doc.clone(),
        etag: Some("\"e1\"".into()),
        last_modified: Some("Tue, 24 Nov 2026 00:00:00 GMT".into()),
        fetched_at_wall: at,
        freshness: Default::default(),
    };
    store.put_document(&q, &e);
    assert!(store.flush(Duration::from_secs(5)));
    let KeptCopy { kept: e, age } = store.load(&q, Instant::now()).unwrap();
    assert_eq!(e.etag.as_deref(), Some("\"e1\""));
    assert_eq!(
        e.last_modified.as_deref(),
        Some("Tue, 24 Nov 2026 00:00:00 GMT")
    );
    assert_eq!(e.doc, doc);
    let age = age.as_secs();
    assert!((3599..=3601).contains(&age), "{age}");
    let bases = store.load_series(&PackageName::parse("x").unwrap());
    assert_eq!(bases.pepy.unwrap().daily.len(), 2);
    let r = store.report();
    assert_eq!((r.documents, r.series_points, r.writes), (1, 2, 1));
    store.close(Duration::from_secs(5));
}

#[tokio::test]
async fn a_metadata_file_is_kept_under_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&cfg(dir.path()));
    let q = Query::CoreMetadata(
        PackageName::parse("x").unwrap(),
        sentinel_core::model::PackageVersion::parse("1.0").unwrap(),
        sentinel_core::model::MetadataFile::unhashed("/files/x/x-1.0-py3-none-any.whl"),
    );
    let doc = Arc::new(Document::Metadata(sentinel_core::upstream::ReleaseMetadata {
        name: "x".into(),
        version: "1.0".into(),
        requires_dist: vec!["y".into()],
        requires_python: None,
        provides_extra: vec![],
        ..Default::default()
    }));
    let entry = KeptDocument {
        doc: doc.clone(),
        etag: None,
        last_modified: None,
        fetched_at_wall: SystemTime::now(),
        freshness: Default::default(),
    };
    store.put_document(&q, &entry);
    assert!(store.flush(Duration::from_secs(5)));
    assert_eq!(store.load(&q, Instant::now()).unwrap().kept.doc, doc);
    store.close(Duration::from_secs(5));
}
