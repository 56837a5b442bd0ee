//! The store's files on disk: opening them (WAL on, schema current, size bounded),
//! moving a corrupt one aside, measuring them, and noticing when they are taken away
//! from under the running store.
//!
//! - **The cap counts the WAL.** `max_bytes` is split: an eighth for the write-ahead
//!   log, the rest for the database (`max_page_count`). The log is checkpointed early
//!   (`wal_autocheckpoint`), cut back to its share when reset (`journal_size_limit`),
//!   and truncated by the writer when a large batch took it past its share.
//! - **Files taken away.** A database deleted or replaced at its path, or files made
//!   read-only or immutable, are checked for before every batch and once a second
//!   ([`Watch`]). The store then stops (memory-only, with the reason) and never closes
//!   its connections: closing would unlink the `-wal`/`-shm` by name (perhaps another
//!   file's now), and SQLite's next write to its memory map of an immutable `-shm`
//!   file is a SIGBUS, which ends the process.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::Connection;

use super::{StoreError, schema, unix_ms};
use crate::config::StoreConfig;

/// The write-ahead log's share of `max_bytes`.
pub(crate) fn wal_budget(max_bytes: u64) -> u64 {
    max_bytes / 8
}

/// The database's share of `max_bytes`.
pub(crate) fn db_budget(max_bytes: u64) -> u64 {
    max_bytes - wal_budget(max_bytes)
}

/// `path` with `ext` appended (`-wal`, `-shm`).
pub(crate) fn side(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(ext);
    PathBuf::from(s)
}

/// Opens the writer's and the reader's connections, WAL on, schema current.
pub(super) fn open_files(path: &Path, cfg: &StoreConfig) -> Result<(Connection, Connection), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    }
    let busy = Duration::from_millis(cfg.busy_timeout_ms);
    let mut w = Connection::open(path)?;
    w.busy_timeout(busy)?;
    let mode: String = w.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NoWal(mode));
    }
    // Durable against a process crash (the WAL is written at each commit); a power
    // loss may lose the last transactions, never the file.
    w.pragma_update(None, "synchronous", "NORMAL")?;
    schema::migrate(&mut w, unix_ms(SystemTime::now()))?;
    let page_size = w.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))?.max(512) as u64;
    let max_pages = (db_budget(cfg.max_bytes) / page_size).max(1);
    let _: i64 = w.query_row(&format!("PRAGMA max_page_count = {max_pages}"), [], |r| {
        r.get(0)
    })?;
    let wal = wal_budget(cfg.max_bytes);
    let _: i64 = w.query_row(&format!("PRAGMA journal_size_limit = {wal}"), [], |r| {
        r.get(0)
    })?;
    // Half the log's share, at most SQLite's default of 1000 pages.
    let checkpoint_pages = (wal / page_size / 2).clamp(1, 1000);
    w.pragma_update(None, "wal_autocheckpoint", checkpoint_pages as i64)?;
    let r = Connection::open(path)?;
    r.busy_timeout(busy)?;
    // No memory map of the database (a build may default to one): a file made
    // immutable under a map faults with SIGBUS instead of failing a read or write.
    for c in [&w, &r] {
        let _: Option<i64> = c
            .query_row("PRAGMA mmap_size = 0", [], |r| r.get(0))
            .ok();
    }
    let _: i64 = r.query_row("SELECT COUNT(*) FROM meta", [], |r| r.get(0))?;
    Ok((w, r))
}

/// One more connection to the store's file (already opened and migrated by
/// [`open_files`]), under the same size cap, for a long job that writes in batches of
/// its own (`vulns sync`): it waits longer for the writer thread's batches.
pub(super) fn open_side_connection(path: &Path, cfg: &StoreConfig) -> Result<Connection, StoreError> {
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_millis(cfg.busy_timeout_ms.max(10_000)))?;
    let _: Option<i64> = c.query_row("PRAGMA mmap_size = 0", [], |r| r.get(0)).ok();
    let page_size = c.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))?.max(512) as u64;
    let max_pages = (db_budget(cfg.max_bytes) / page_size).max(1);
    let _: i64 = c.query_row(&format!("PRAGMA max_page_count = {max_pages}"), [], |r| {
        r.get(0)
    })?;
    let _: i64 = c.query_row("SELECT COUNT(*) FROM osv_sets", [], |r| r.get(0))?;
    Ok(c)
}

/// Moves a corrupt file (and its WAL and shared-memory files) to `*.corrupt-<unix time>`.
pub(super) fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp = unix_ms(SystemTime::now()) / 1000;
    let aside = |p: &Path| {
        let mut s = p.as_os_str().to_os_string();
        s.push(format!(".corrupt-{stamp}"));
        PathBuf::from(s)
    };
    let moved = aside(path);
    std::fs::rename(path, &moved)?;
    for ext in ["-wal", "-shm"] {
        let from = side(path, ext);
        if from.exists() {
            let _ = std::fs::rename(&from, side(&moved, ext));
        }
    }
    tracing::warn!(from = %path.display(), to = %moved.display(), "store: corrupt file moved aside");
    Ok(moved)
}

/// Size on disk of the database and its write-ahead log.
pub(crate) fn size_on_disk(path: &Path) -> u64 {
    [path.to_path_buf(), side(path, "-wal")]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}


/// How the store's files were taken from under it.
#[derive(Debug)]
pub(crate) enum Lost {
    /// Nothing at the path any more.
    Deleted(PathBuf),
    /// Another file at the path.
    Replaced(PathBuf),
    /// These files can no longer be written (`chmod`, `chattr +i`, a read-only remount).
    Unwritable(Vec<(PathBuf, std::io::Error)>),
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lost::Deleted(p) => write!(
                f,
                "the store file {} was deleted while running: writes are off, answering from memory; restart to start a new store",
                p.display()
            ),
            Lost::Replaced(p) => write!(
                f,
                "the store file {} was replaced by another file while running: writes are off, answering from memory; restart to use the new file",
                p.display()
            ),
            Lost::Unwritable(files) => {
                let list: Vec<String> = files
                    .iter()
                    .map(|(p, e)| format!("{} ({e})", p.display()))
                    .collect();
                write!(
                    f,
                    "the store files were made read-only or immutable while running: {}; writes are off, answering from memory, and the files are left as they are until exit; make them writable and restart",
                    list.join(", ")
                )
            }
        }
    }
}

/// The database file the store opened, to tell whether its path still names it and
/// whether its files can still be written. Never opens the files: closing any
/// descriptor of a file drops every POSIX lock this process holds on it, SQLite's
/// included.
#[derive(Debug)]
pub(crate) struct Watch {
    path: PathBuf,
    /// Device and inode of the file opened.
    id: Option<(u64, u64)>,
}

impl Watch {
    /// Notes the file now at `path` (call it right after opening).
    pub(crate) fn new(path: &Path) -> Watch {
        Watch {
            path: path.to_path_buf(),
            id: file_id(path).ok().flatten(),
        }
    }

    /// Whether the files are still the store's and writable. Two `stat`s and three
    /// `access` calls: cheap enough for every batch.
    pub(crate) fn check(&self) -> Result<(), Lost> {
        match file_id(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Lost::Deleted(self.path.clone()));
            }
            Ok(Some(id)) if self.id.is_some_and(|was| was != id) => {
                return Err(Lost::Replaced(self.path.clone()));
            }
            _ => {}
        }
        let unwritable: Vec<(PathBuf, std::io::Error)> = ["", "-wal", "-shm"]
            .iter()
            .map(|ext| side(&self.path, ext))
            .filter_map(|p| writable(&p).err().map(|e| (p, e)))
            .collect();
        if unwritable.is_empty() {
            Ok(())
        } else {
            Err(Lost::Unwritable(unwritable))
        }
    }
}

#[cfg(unix)]
fn file_id(path: &Path) -> std::io::Result<Option<(u64, u64)>> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok(Some((m.dev(), m.ino())))
}

#[cfg(not(unix))]
fn file_id(path: &Path) -> std::io::Result<Option<(u64, u64)>> {
    std::fs::metadata(path).map(|_| None)
}

/// Whether `path` may be written, asked of the kernel without opening it (`access`:
/// the immutable attribute and a read-only mount refuse even root). A missing file
/// is fine: SQLite makes its side files when it needs them.
#[cfg(unix)]
fn writable(path: &Path) -> std::io::Result<()> {
    match rustix::fs::access(path, rustix::fs::Access::WRITE_OK) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(unix))]
fn writable(path: &Path) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().readonly() => Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "read-only",
        )),
        _ => Ok(()),
    }
}
