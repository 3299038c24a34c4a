//! Reads: a pool of read connections, gets, lists and history for watches.

use super::schema;
use crate::{
    Error, EventKind, KeyValue, ListRequest, ListResponse, Result, WatchEvent, prefix_end,
};
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How many read connections the pool opens at most; more concurrent reads wait for one, so
/// connections (and their prepared statements) are reused rather than opened and dropped.
const MAX_CONNECTIONS: usize = 16;

/// Read connections on the store's database, used from blocking threads.
#[derive(Debug)]
pub(super) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<tokio::sync::Semaphore>,
}

fn sqlite(context: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    move |source| Error::Sqlite { context, source }
}

impl ReadPool {
    /// A pool of connections to `path`, opened on demand.
    pub fn new(path: PathBuf) -> Self {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
        }
    }

    fn take(&self) -> Result<Connection> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(conn);
        }
        let conn = schema::connect_existing(&self.path, false)?;
        schema::configure(&conn).map_err(sqlite("configure read connection"))?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_CONNECTIONS {
            idle.push(conn);
        }
    }

    /// Runs a read on a blocking thread with a pooled connection.
    pub async fn run<T, F>(self: &Arc<Self>, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let pool = self.clone();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)?;
        tokio::task::spawn_blocking(move || {
            let conn = pool.take()?;
            let result = read(&conn);
            pool.give_back(conn);
            drop(permit);
            result
        })
        .await
        .map_err(|_| Error::Closed)?
    }
}

fn utf8_key(raw: Vec<u8>) -> rusqlite::Result<String> {
    String::from_utf8(raw).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(err))
    })
}

/// Reads a version from columns `at..at+5`: key, rev, create_rev, version, value.
fn kv_at(row: &Row<'_>, at: usize) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: utf8_key(row.get(at)?)?,
        mod_revision: row.get(at + 1)?,
        create_revision: row.get(at + 2)?,
        version: row.get(at + 3)?,
        value: Bytes::from(row.get::<_, Vec<u8>>(at + 4)?),
    })
}

/// The current version of a key. A subquery, not a join: SQLite's constant propagation
/// through `JOIN … WHERE live.key = ?1` marks the statement for re-preparation on every run
/// (measured: the re-parse was ~10 % of the API server's CPU under load).
pub(super) const GET_SQL: &str = "SELECT log.key, log.rev, log.create_rev, log.version, log.value
     FROM log WHERE log.rev = (SELECT rev FROM live WHERE key = ?1)";

/// The current version of a key.
pub(super) fn get(conn: &Connection, key: &str) -> Result<Option<KeyValue>> {
    conn.prepare_cached(GET_SQL)
        .and_then(|mut stmt| {
            stmt.query_row([key.as_bytes()], |row| kv_at(row, 0))
                .optional()
        })
        .map_err(sqlite("get"))
}

/// The key range of a list: from the prefix (or just after the continue
/// key) to the end of the prefix; an empty end means "no upper bound".
fn range(req: &ListRequest) -> (Vec<u8>, Vec<u8>) {
    let start = match &req.start_after {
        Some(after) if after.as_str() >= req.prefix.as_str() => {
            let mut start = after.as_bytes().to_vec();
            start.push(0);
            start
        }
        _ => req.prefix.as_bytes().to_vec(),
    };
    (start, prefix_end(req.prefix.as_bytes()))
}

/// A consistent list, at the current revision or a past one.
pub(super) fn list(conn: &Connection, req: &ListRequest) -> Result<ListResponse> {
    let tx = conn.unchecked_transaction().map_err(sqlite("begin read"))?;
    let current = schema::meta(&tx, "revision").map_err(sqlite("read revision"))?;
    let compacted = schema::meta(&tx, "compacted").map_err(sqlite("read compacted revision"))?;
    let at = match req.revision {
        0 => current,
        rev if rev > current => {
            return Err(Error::FutureRevision {
                requested: rev,
                current,
            });
        }
        rev if rev < compacted => {
            return Err(Error::Compacted {
                requested: rev,
                compacted,
            });
        }
        rev => rev,
    };
    let (start, end) = range(req);
    // One more than asked tells whether more remain.
    let limit = if req.limit == 0 {
        -1
    } else {
        i64::try_from(req.limit).unwrap_or(i64::MAX - 1) + 1
    };
    // An empty end means the prefix has no upper bound; the bound is left
    // out of the SQL then, so that SQLite can stop at it otherwise.
    let bound = if end.is_empty() { "" } else { "AND key < :end" };
    let sql = if at == current {
        let bound = bound.replace("key", "live.key");
        format!(
            "SELECT log.key, log.rev, log.create_rev, log.version, log.value
             FROM live JOIN log ON log.rev = live.rev
             WHERE live.key >= :start {bound} ORDER BY live.key LIMIT :limit"
        )
    } else {
        // The newest version of each key at or below the revision, unless
        // that version is a tombstone (SQLite takes the bare columns from
        // the row holding the max).
        format!(
            "SELECT key, max(rev), create_rev, version, value FROM log
             WHERE key >= :start {bound} AND rev <= :at
             GROUP BY key HAVING deleted = 0 ORDER BY key LIMIT :limit"
        )
    };
    let mut kvs = tx
        .prepare_cached(&sql)
        .and_then(|mut stmt| {
            let mut bind = vec![
                (":start", &start as &dyn rusqlite::ToSql),
                (":limit", &limit),
            ];
            if !end.is_empty() {
                bind.push((":end", &end));
            }
            if at != current {
                bind.push((":at", &at));
            }
            stmt.query_map(bind.as_slice(), |row| kv_at(row, 0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sqlite("list"))?;
    let more = req.limit > 0 && kvs.len() > req.limit;
    kvs.truncate(if req.limit > 0 { req.limit } else { kvs.len() });
    Ok(ListResponse {
        kvs,
        revision: at,
        more,
    })
}

/// Up to `limit` events under `prefix` from revision `from` on, read from
/// the log, and the revision the read was consistent at.
pub(super) fn history(
    conn: &Connection,
    prefix: &str,
    from: i64,
    limit: usize,
) -> Result<(Vec<WatchEvent>, i64)> {
    let tx = conn.unchecked_transaction().map_err(sqlite("begin read"))?;
    let current = schema::meta(&tx, "revision").map_err(sqlite("read revision"))?;
    let compacted = schema::meta(&tx, "compacted").map_err(sqlite("read compacted revision"))?;
    if from < compacted {
        return Err(Error::Compacted {
            requested: from,
            compacted,
        });
    }
    let end = prefix_end(prefix.as_bytes());
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let events = tx
        .prepare_cached(
            "SELECT cur.deleted,
                    cur.key, cur.rev, cur.create_rev, cur.version, cur.value,
                    prev.key, prev.rev, prev.create_rev, prev.version, prev.value
             FROM log AS cur LEFT JOIN log AS prev ON prev.rev = cur.prev_rev
             WHERE cur.rev >= ?1 AND cur.rev <= ?2 AND cur.key >= ?3 AND (?4 OR cur.key < ?5)
             ORDER BY cur.rev LIMIT ?6",
        )
        .and_then(|mut stmt| {
            stmt.query_map(
                params![from, current, prefix.as_bytes(), end.is_empty(), end, limit],
                |row| {
                    let deleted: bool = row.get(0)?;
                    let prev: Option<i64> = row.get(7)?;
                    Ok(WatchEvent {
                        kind: if deleted {
                            EventKind::Delete
                        } else {
                            EventKind::Put
                        },
                        kv: kv_at(row, 1)?,
                        prev: match prev {
                            Some(_) => Some(kv_at(row, 6)?),
                            None => None,
                        },
                    })
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sqlite("read history"))?;
    Ok((events, current))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The point read runs thousands of times a second: it must stay prepared.
    #[test]
    fn gets_are_not_reprepared() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::sqlite::SqliteStore::open(dir.path(), Default::default()).unwrap();
        drop(store);
        let conn = schema::connect_existing(&dir.path().join(schema::DB_FILE), false).unwrap();
        for i in 0..20 {
            get(&conn, &format!("/registry/pods/default/p{i}")).unwrap();
        }
        let stmt = conn.prepare_cached(GET_SQL).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
