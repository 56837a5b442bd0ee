//! A hostile index, from the simulator's hostile projects: a Simple page pointing the
//! engine at a foreign host (`sg-offhost-meta`), and a marker nested 10,000 deep in a
//! release's `requires_dist` and METADATA `Requires-Dist` (`sg-deep-marker`). Nothing is
//! requested from the foreign host; the deep requirement is a clear note, the rest is
//! answered and the process lives.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use sentinel_actors::resolver::{ResolutionStatus, ResolveRequest};
use sentinel_actors::views::deps::TargetEnv;
use sentinel_actors::views::package_download::{DownloadRequest, WantedKind};
use sentinel_actors::{DownloadError, QueryError};
use sentinel_sim::{Sim, SimConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A foreign host on another loopback address: counts the connections it accepts, and
/// reports each peer address so a test can tell when every earlier one was seen.
struct ForeignHost {
    origin: String,
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    peers: mpsc::UnboundedReceiver<SocketAddr>,
}

impl ForeignHost {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.2:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (tx, peers) = mpsc::unbounded_channel();
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((sock, peer)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(peer);
                drop(sock);
            }
        });
        ForeignHost {
            origin: format!("http://{addr}"),
            addr,
            accepted,
            peers,
        }
    }

    /// Connections accepted from anyone but this test: a connection of our own is made
    /// last and waited for, so every earlier one has been accepted (the backlog is
    /// first in, first out), without sleeping.
    async fn others(&mut self) -> usize {
        let probe = TcpStream::connect(self.addr).await.unwrap();
        let mine = probe.local_addr().unwrap();
        while let Some(peer) = self.peers.recv().await {
            if peer == mine {
                break;
            }
        }
        self.accepted.load(Ordering::SeqCst) - 1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_requests_to_a_host_that_is_neither_the_indexs_nor_an_allowed_files_host() {
    let mut foreign = ForeignHost::start().await;
    let sim = Sim::start(SimConfig {
        offhost_origin: Some(foreign.origin.clone()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&sim);
    cfg.download.allowed_dirs = vec![dir.path().to_path_buf()];
    let engine = engine_with(cfg).await;

    // The resolver: the wheel's PEP 658 metadata file is on the foreign host.
    let mut req = ResolveRequest::new(["sg-offhost-meta"]);
    req.vulnerabilities = false;
    let r = engine.resolve(&req).await.unwrap();
    assert_eq!(r.status, ResolutionStatus::Resolved, "{r:#?}");
    let p = r.package("sg-offhost-meta").unwrap();
    assert_eq!(p.metadata_from, "release-json", "{r:#?}");
    assert!(r.package("sg-certs").is_some(), "{r:#?}");
    let note = r
        .notes
        .iter()
        .find(|n| n.contains("was not fetched"))
        .unwrap_or_else(|| panic!("no note on the refused metadata file: {:#?}", r.notes));
    assert!(note.contains("sg-offhost-meta 1.0.0"), "{note}");
    assert!(note.contains(&foreign.addr.to_string()), "{note}");
    assert!(note.contains("download.allowed_hosts"), "{note}");

    // A download of the same wheel: refused by the same rule.
    let e = engine
        .download_package(&DownloadRequest {
            package: "sg-offhost-meta".into(),
            version: None,
            env: TargetEnv::new(Some("3.12"), Some("linux"), &[]).unwrap(),
            kind: WantedKind::Any,
            dest: None,
        })
        .await
        .unwrap_err();
    let QueryError::Download(d) = e else {
        panic!("{e:?}")
    };
    let DownloadError::HostNotAllowed { host, .. } = *d else {
        panic!("{d:?}")
    };
    assert_eq!(host, foreign.addr.to_string());

    assert_eq!(foreign.others().await, 0, "the foreign host was contacted");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

fn deep_note(notes: &[String]) -> &String {
    notes
        .iter()
        .find(|n| n.contains("sg-deep-marker") && n.contains("allowed"))
        .unwrap_or_else(|| panic!("no note on the deep requirement: {notes:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_nested_10000_deep_in_requires_dist_is_a_clear_note_and_the_rest_is_answered() {
    let (_sim, engine) = setup().await;
    let env = TargetEnv::new(Some("3.12"), Some("linux"), &[]).unwrap();
    for env in [None, Some(&env)] {
        let d = engine
            .dependencies("sg-deep-marker", None, env)
            .await
            .unwrap();
        let deps = &d.value;
        assert!(
            deps.dependencies.iter().any(|x| x.name == "sg-certs"),
            "{deps:#?}"
        );
        let note = deep_note(&deps.notes);
        assert!(note.contains("was not read"), "{note}");
        assert!(
            note.len() < 400,
            "the note quotes the requirement short: {note}"
        );
        assert!(deps.unparsed.iter().all(|u| u.len() < 200), "{deps:#?}");
    }
    let docs = engine
        .package_docs_with_context("sg-deep-marker", None, &env, 4_000)
        .await
        .unwrap();
    deep_note(&docs.notes);
    // The process is alive and answers the next question.
    engine.versions("sg-certs").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_nested_10000_deep_in_metadata_requires_dist_is_a_clear_note_in_a_resolution() {
    let (_sim, engine) = setup().await;
    let mut req = ResolveRequest::new(["sg-deep-marker"]);
    req.vulnerabilities = false;
    let r = engine.resolve(&req).await.unwrap();
    assert_eq!(r.status, ResolutionStatus::Resolved, "{r:#?}");
    assert_eq!(
        r.package("sg-deep-marker").unwrap().metadata_from,
        "core-metadata"
    );
    assert!(r.package("sg-certs").is_some(), "{r:#?}");
    let note = deep_note(&r.notes);
    assert!(note.contains("could not be read"), "{note}");
    assert!(
        note.len() < 500,
        "the note quotes the requirement short: {note}"
    );
}
