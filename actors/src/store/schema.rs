//! The store's schema and its migrations, versioned from the first release so a later
//! release can change the layout without losing what users have kept.
//!
//! The version lives in SQLite's `user_version`. Migration `i` takes a file from
//! version `i` to `i + 1`; all of them run in one `BEGIN IMMEDIATE` transaction, which
//! is also the probe that the file is writable and not locked by someone else.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: documents (last-known-good per upstream origin and document key) and the
    // daily download series merged day by day.
    "CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE documents (
        origin     TEXT    NOT NULL,  -- the upstream's base URL
        key        TEXT    NOT NULL,  -- the query, e.g. pypi-json/pypi/requests/json
        package    TEXT,              -- normalised name, for invalidation
        body       BLOB    NOT NULL,  -- the kept document, JSON
        etag       TEXT,
        fetched_at INTEGER NOT NULL,  -- unix ms, wall clock (or last revalidated)
        data_date  TEXT,              -- the data's own date (download series: last day)
        bytes      INTEGER NOT NULL,  -- length of body
        used_at    INTEGER NOT NULL,  -- unix ms, for least-recently-used pruning
        PRIMARY KEY (origin, key)
    );
    CREATE INDEX documents_used_at ON documents (used_at);
    CREATE TABLE series (
        package     TEXT    NOT NULL,
        source      TEXT    NOT NULL,  -- pypistats (overall, without mirrors) | pepy
        day         TEXT    NOT NULL,  -- YYYY-MM-DD
        downloads   INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL,  -- unix ms of the fetch that gave this figure
        PRIMARY KEY (package, source, day)
    ) WITHOUT ROWID;",
    // 2: Last-Modified kept beside the ETag (sent back as If-Modified-Since), and the
    // pypistats breakdowns (python_major, python_minor, system) merged day by day per
    // category, like the overall series.
    "ALTER TABLE documents ADD COLUMN last_modified TEXT;
    CREATE TABLE breakdowns (
        package     TEXT    NOT NULL,
        kind        TEXT    NOT NULL,  -- python_major | python_minor | system
        category    TEXT    NOT NULL,  -- e.g. 3.12, Linux, null
        day         TEXT    NOT NULL,  -- YYYY-MM-DD
        downloads   INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL,  -- unix ms of the fetch that gave this figure
        PRIMARY KEY (package, kind, category, day)
    ) WITHOUT ROWID;
    CREATE INDEX breakdowns_day ON breakdowns (day);",
    // 3: how long the upstream's Cache-Control said the copy stays fresh (ms; 0 =
    // no-cache; NULL = unsaid: the kind's TTL), counted from fetched_at.
    "ALTER TABLE documents ADD COLUMN max_age_ms INTEGER;",
    // 4: OSV's export of every PyPI advisory (`vulns sync`), by package. A sync writes
    // a `staging` set and makes it `current` in one transaction, deleting the old one:
    // audits read the current set only, so a failed or killed sync is never used.
    "CREATE TABLE osv_sets (
        id          INTEGER PRIMARY KEY,
        state       TEXT    NOT NULL,  -- staging | current
        url         TEXT    NOT NULL,
        data_date   TEXT,              -- YYYY-MM-DD: the export's date
        exported_at TEXT,              -- its Last-Modified, as sent
        started_at  INTEGER NOT NULL,  -- unix ms
        synced_at   INTEGER,           -- unix ms, when it became current
        advisories  INTEGER NOT NULL DEFAULT 0,
        packages    INTEGER NOT NULL DEFAULT 0,
        skipped     INTEGER NOT NULL DEFAULT 0,
        zip_bytes   INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE osv_advisories (
        set_id INTEGER NOT NULL,
        id     TEXT    NOT NULL,
        body   BLOB    NOT NULL,  -- the advisory as the view reads it, JSON
        PRIMARY KEY (set_id, id)
    ) WITHOUT ROWID;
    CREATE TABLE osv_affected (
        set_id  INTEGER NOT NULL,
        package TEXT    NOT NULL,  -- normalised name
        id      TEXT    NOT NULL,
        rule    BLOB    NOT NULL,  -- its ranges and listed versions, JSON
        PRIMARY KEY (set_id, package, id)
    ) WITHOUT ROWID;",
];

/// The schema version this build writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the file to [`VERSION`] and notes the opening, in one immediate transaction.
pub(crate) fn migrate(conn: &mut Connection, now_ms: i64) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: VERSION,
        });
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for sql in MIGRATIONS.iter().skip(found.max(0) as usize) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('opened_at', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [now_ms.to_string()],
    )?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_gets_the_current_version_and_a_second_run_changes_nothing() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, 1).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, VERSION);
        migrate(&mut c, 2).unwrap();
        let opened: String = c
            .query_row("SELECT value FROM meta WHERE key = 'opened_at'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(opened, "2");
    }

    #[test]
    fn a_first_release_file_migrates_keeping_its_documents_and_series() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute(
            "INSERT INTO documents (origin, key, body, etag, fetched_at, bytes, used_at)
             VALUES ('o', 'k', x'7b7d', '\"e\"', 5, 2, 5)",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO series VALUES ('p', 'pypistats', '2026-01-01', 3, 5)",
            [],
        )
        .unwrap();
        migrate(&mut c, 9).unwrap();
        let (etag, lm): (String, Option<String>) = c
            .query_row("SELECT etag, last_modified FROM documents", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((etag.as_str(), lm), ("\"e\"", None));
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM series", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        let b: i64 = c
            .query_row("SELECT COUNT(*) FROM breakdowns", [], |r| r.get(0))
            .unwrap();
        assert_eq!(b, 0);
    }

    #[test]
    fn a_file_from_a_newer_release_is_refused_not_rewritten() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", VERSION + 1).unwrap();
        let e = migrate(&mut c, 1).unwrap_err();
        assert!(matches!(e, StoreError::NewerSchema { .. }), "{e}");
    }
}
