//! Consistent online copies of the database, and restoring from them.

use super::schema::{self, DB_FILE};
use crate::{Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

fn io(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        context,
        path,
        source,
    }
}

/// `dest` with `.tmp` appended, where a copy is written before it is renamed.
fn temp_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Flushes a file and the directory that names it to disk.
fn sync_file_and_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(io("sync", path))?;
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io("sync directory", dir))?;
    }
    Ok(())
}

/// Copies the database at `db` into a new file `dest`, consistent at one
/// revision, without stopping writers (a read transaction on the live file).
pub(super) fn copy_database(db: &Path, dest: &Path) -> Result<()> {
    let conn = schema::connect_existing(db, true)?;
    schema::validate(&conn, db)?;
    let tmp = temp_path(dest);
    let _ = std::fs::remove_file(&tmp);
    let vacuum = conn.execute("VACUUM INTO ?1", [tmp.to_string_lossy().as_ref()]);
    if let Err(source) = vacuum {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Sqlite {
            context: "write snapshot",
            source,
        });
    }
    std::fs::rename(&tmp, dest).map_err(io("rename snapshot into place", dest))?;
    sync_file_and_dir(dest)
}

/// Saves a consistent snapshot of the embedded store in directory `dir`
/// to `dest`, while a server may be running on it.
pub fn save_snapshot(dir: &Path, dest: &Path) -> Result<()> {
    let db = dir.join(DB_FILE);
    if !db.is_file() {
        return Err(Error::Io {
            context: "no database to snapshot at",
            path: db,
            source: std::io::ErrorKind::NotFound.into(),
        });
    }
    copy_database(&db, dest)
}

/// Restores a snapshot into store directory `dir`, which must hold no
/// database yet and must not be in use. The snapshot is checked first and
/// never modified.
pub fn restore_snapshot(snapshot: &Path, dir: &Path) -> Result<()> {
    {
        let conn = schema::connect_existing(snapshot, true)?;
        schema::validate(&conn, snapshot)?;
    }
    let _lock = schema::lock(dir)?;
    let db = dir.join(DB_FILE);
    if db.exists() {
        return Err(Error::Io {
            context: "refusing to overwrite the existing database",
            path: db,
            source: std::io::ErrorKind::AlreadyExists.into(),
        });
    }
    for stale in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(stale);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
    let tmp = temp_path(&db);
    std::fs::copy(snapshot, &tmp).map_err(io("copy snapshot", &tmp))?;
    std::fs::rename(&tmp, &db).map_err(io("move restored database into place", &db))?;
    sync_file_and_dir(&db)
}
