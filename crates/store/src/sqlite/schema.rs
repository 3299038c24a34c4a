//! Opening, locking, validating and creating the database.

use crate::{Error, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// The database file's name inside the store's directory.
pub const DB_FILE: &str = "state.db";
/// The lock file's name inside the store's directory.
pub const LOCK_FILE: &str = "lock";

/// The on-disk format this code reads and writes.
const FORMAT: i64 = 1;

const CREATE: &str = "
CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE log (
    rev INTEGER PRIMARY KEY,
    key BLOB NOT NULL,
    create_rev INTEGER NOT NULL,
    version INTEGER NOT NULL,
    prev_rev INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX log_key_rev ON log (key, rev);
CREATE TABLE live (
    key BLOB PRIMARY KEY,
    rev INTEGER NOT NULL,
    expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX live_expiry ON live (expires_at) WHERE expires_at IS NOT NULL;
INSERT INTO meta (name, value) VALUES ('format', 1), ('revision', 0), ('compacted', 0);
";

/// A freshly opened, validated database with its directory locked.
pub(super) struct Opened {
    pub conn: Connection,
    pub path: PathBuf,
    pub lock: File,
    pub revision: i64,
    pub compacted: i64,
}

fn sqlite(context: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    move |source| Error::Sqlite { context, source }
}

/// Takes the exclusive lock on a store directory, failing at once if another
/// process (or another open store) holds it.
pub(super) fn lock(dir: &Path) -> Result<File> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        context: "create data directory",
        path: dir.to_owned(),
        source,
    })?;
    let lock_path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| Error::Io {
            context: "open lock file",
            path: lock_path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
            dir: dir.to_owned(),
            lock: lock_path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::Io {
            context: "lock",
            path: lock_path,
            source,
        }),
    }
}

/// Sets the per-connection pragmas every connection uses.
pub(super) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// Checks, without writing anything, that `path` is an intact rkube database
/// of a format this code understands.
pub(super) fn validate(conn: &Connection, path: &Path) -> Result<()> {
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(|err| corrupt(err.to_string()))?;
    if check != "ok" {
        return Err(corrupt(format!("integrity check failed: {check}")));
    }
    let format: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE name = 'format'", [], |row| {
            row.get(0)
        })
        .optional()
        .map_err(|err| corrupt(format!("no rkube metadata ({err})")))?;
    match format {
        Some(FORMAT) => Ok(()),
        Some(other) => Err(corrupt(format!(
            "format {other} is not supported (expected {FORMAT})"
        ))),
        None => Err(corrupt("no rkube format marker".to_owned())),
    }
}

/// Reads one integer from the meta table.
pub(super) fn meta(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
    conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |row| {
        row.get(0)
    })
}

/// Whether a file holds any bytes (a missing or empty file is a new store).
fn has_content(path: &Path) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(meta.len() > 0),
        Ok(_) => Err(Error::Corrupt {
            path: path.to_owned(),
            reason: "not a regular file".to_owned(),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(Error::Io {
            context: "inspect database",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Opens a connection on an existing database without creating it.
pub(super) fn connect_existing(path: &Path, read_only: bool) -> Result<Connection> {
    let mode = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    Connection::open_with_flags(path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(|err| {
        Error::Corrupt {
            path: path.to_owned(),
            reason: format!("cannot open: {err}"),
        }
    })
}

/// Locks `dir`, then opens its database (creating a new one if there is
/// none), validates it and returns it ready for the writer.
pub(super) fn open(dir: &Path) -> Result<Opened> {
    let lock = lock(dir)?;
    let path = dir.join(DB_FILE);
    let conn = if has_content(&path)? {
        let conn = connect_existing(&path, false)?;
        validate(&conn, &path)?;
        conn
    } else {
        let conn = Connection::open(&path).map_err(sqlite("create database"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite("enable WAL"))?;
        conn.execute_batch(&format!("BEGIN; {CREATE} COMMIT;"))
            .map_err(sqlite("create schema"))?;
        conn
    };
    // WAL is persistent once set; setting it again is a no-op on our files.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sqlite("enable WAL"))?;
    configure(&conn).map_err(sqlite("configure connection"))?;
    let revision = meta(&conn, "revision").map_err(sqlite("read revision"))?;
    let compacted = meta(&conn, "compacted").map_err(sqlite("read compacted revision"))?;
    Ok(Opened {
        conn,
        path,
        lock,
        revision,
        compacted,
    })
}
