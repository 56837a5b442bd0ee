//! `vulns sync` and `vulns status`: OSV's export of every PyPI advisory kept in the
//! store for `vulnerabilities.source = "offline"` (`vulns NAME[==VERSION]` itself is
//! the `Vulns` question, `resolve.rs`). `sync` downloads and keeps it (the previous set
//! stays in use unless the whole export was read); `status` says what is held. CLI
//! only: a sync is an operator's act, not a question an assistant asks.
//!
//! Exit codes of `vulns sync`: 0 synced, 4 the export could not be downloaded (or the
//! deadline came), 5 no store (`--no-store`), 9 the zip was refused (hostile, damaged,
//! over a cap), 1 the store could not write it.

use sentinel_actors::{EngineHandle, OsvSetInfo, OsvSyncError, VulnSource};

use crate::terminal::{Exit, Failure, output};

/// What `vulns` does to the synced export.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum VulnsAction {
    /// Download OSV's export of every PyPI advisory (vulnerabilities.export.url) into
    /// the store, replacing the set held only when the whole export was read; then
    /// `vulnerabilities.source = "offline"` answers audits with no request per release.
    Sync,
    /// The export held in the store: its date, when it was synced, how many advisories.
    Status,
}

fn print(text: &str) {
    output::emit(&output::clean(text, true));
}

fn print_json<T: serde::Serialize>(v: &T) {
    let s = serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    print(&(s + "\n"));
}

impl VulnsAction {
    /// Runs the action on `engine`, whose configured source is `source`.
    pub(crate) async fn run(
        self,
        engine: &EngineHandle,
        source: VulnSource,
        json: bool,
    ) -> Result<(), Failure> {
        match self {
            VulnsAction::Sync => sync(engine, source, json).await,
            VulnsAction::Status => status(engine, source, json).await,
        }
    }
}

fn mode_line(source: VulnSource) -> Option<String> {
    (source != VulnSource::Offline).then(|| {
        "vulnerabilities.source is not \"offline\": set it (config file, [vulnerabilities] source = \"offline\") to answer from this set".to_string()
    })
}

fn set_words(s: &OsvSetInfo) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{} advisories about {} packages, data of {}, synced {} ago from {}",
        s.advisories,
        s.packages,
        s.data_date.as_deref().unwrap_or("an unknown date"),
        crate::text::age(now.saturating_sub(s.synced_at_unix)),
        s.url
    )
}

async fn sync(engine: &EngineHandle, source: VulnSource, json: bool) -> Result<(), Failure> {
    // The download's bar (a terminal only, never --json): the sync counts its bytes
    // where a file download does.
    let r = crate::terminal::progress::while_downloading(engine, json, engine.sync_osv_export())
        .await
        .map_err(|e| {
            let code = match &e {
                OsvSyncError::NoStore { .. } => Exit::Config,
                OsvSyncError::Download { .. } | OsvSyncError::Deadline(_) => Exit::Unavailable,
                OsvSyncError::Refused { .. } => Exit::Download,
                OsvSyncError::Store(_) | OsvSyncError::NotReady(_) => Exit::Internal,
            };
            Failure::new(code, format!("{e}\nhint: {}", e.suggestion()))
        })?;
    if json {
        print_json(&r);
        return Ok(());
    }
    let mut out = format!(
        "Synced OSV's export: {} advisories about {} packages, data of {} ({} bytes zipped, {} inflated, {} entries skipped) in {:.2} s.\n",
        r.set.advisories,
        r.set.packages,
        r.set.data_date.as_deref().unwrap_or("an unknown date"),
        r.set.zip_bytes,
        r.inflated_bytes,
        r.set.skipped,
        r.elapsed_ms as f64 / 1000.0
    );
    if let Some(old) = &r.replaced {
        out.push_str(&format!(
            "  replaced: {} advisories, data of {}\n",
            old.advisories,
            old.data_date.as_deref().unwrap_or("an unknown date")
        ));
    }
    for s in &r.skipped_examples {
        out.push_str(&format!("  skipped: {s}\n"));
    }
    if let Some(m) = mode_line(source) {
        out.push_str(&format!("  note: {m}\n"));
    }
    print(&out);
    Ok(())
}

async fn status(engine: &EngineHandle, source: VulnSource, json: bool) -> Result<(), Failure> {
    let set = engine.osv_export_set().await;
    if json {
        print_json(&serde_json::json!({ "source": source, "set": set }));
        return Ok(());
    }
    let mut out = match &set {
        Some(s) => format!("OSV's export held: {}.\n", set_words(s)),
        None => "No OSV export held: run `pypi-sentinel vulns sync`.\n".into(),
    };
    if let Some(m) = mode_line(source) {
        out.push_str(&format!("  note: {m}\n"));
    }
    print(&out);
    Ok(())
}
