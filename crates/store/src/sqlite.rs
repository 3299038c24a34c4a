//! The embedded backend: one SQLite database file in WAL mode.
//!
//! Every write goes through one writer thread that group-commits whatever
//! requests are waiting (one transaction and one fsync per batch) and then
//! fans the batch's events out to watchers in-process. Reads run on a small
//! pool of read connections, each consistent at one revision.
//!
//! The database holds an append-only `log` (one row per revision, with the
//! value and a pointer to the previous version) and a `live` index from each
//! existing key to its current revision; compaction prunes superseded rows
//! from the log in small chunks between write batches.

mod backup;
mod read;
mod schema;
mod watch;
mod write;

pub use backup::{restore_snapshot, save_snapshot};
pub use schema::{DB_FILE, LOCK_FILE};

use crate::{Error, KeyValue, ListRequest, ListResponse, Result, Store, WatchStream};
use async_trait::async_trait;
use bytes::Bytes;
use read::ReadPool;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;
use write::{Op, Outcome, WriterHandle};

/// Tuning knobs of the embedded store.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// How often keys whose TTL has passed are deleted.
    pub expiry_interval: Duration,
    /// The most write requests committed in one transaction.
    pub max_batch: usize,
    /// How long the writer waits for more requests before committing, while writers are
    /// concurrent (a batch of more than one request within the last second); zero commits
    /// at once. A lone writer never waits.
    pub commit_delay: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            expiry_interval: Duration::from_secs(1),
            max_batch: 1024,
            commit_delay: Duration::from_micros(500),
        }
    }
}

/// The revisions readers need without a database round trip.
#[derive(Debug, Default)]
pub(crate) struct Revisions {
    current: AtomicI64,
    compacted: AtomicI64,
    writes: AtomicU64,
    commits: AtomicU64,
}

impl Revisions {
    fn current(&self) -> i64 {
        self.current.load(Ordering::Acquire)
    }

    fn compacted(&self) -> i64 {
        self.compacted.load(Ordering::Acquire)
    }
}

/// Counters of the writer's work, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Write requests answered (applied or refused).
    pub writes: u64,
    /// Transactions committed for them (one fsync each).
    pub commits: u64,
}

/// The events of one committed write batch, shared by every watcher.
#[derive(Debug)]
pub(crate) struct Batch {
    events: Vec<crate::WatchEvent>,
}

/// How many committed batches the fan-out holds for slow watchers before
/// they fall back to reading history from the database.
const FANOUT_CAPACITY: usize = 256;

/// The embedded SQLite store. Cheap to clone; the database closes (and the
/// data directory is unlocked) when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    // Dropped first: stops and joins the writer thread.
    writer: WriterHandle,
    reader: Arc<ReadPool>,
    hub: broadcast::Sender<Arc<Batch>>,
    revs: Arc<Revisions>,
    path: PathBuf,
    // Dropped last: releases the data directory.
    _lock: std::fs::File,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in directory `dir`, locking it
    /// against other processes. Must be called within a Tokio runtime.
    pub fn open(dir: &Path, options: SqliteOptions) -> Result<Self> {
        let opened = schema::open(dir)?;
        let revs = Arc::new(Revisions {
            current: AtomicI64::new(opened.revision),
            compacted: AtomicI64::new(opened.compacted),
            ..Revisions::default()
        });
        let (hub, _) = broadcast::channel(FANOUT_CAPACITY);
        let reader = Arc::new(ReadPool::new(opened.path.clone()));
        let writer = WriterHandle::spawn(opened.conn, revs.clone(), hub.clone(), options)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer,
                reader,
                hub,
                revs,
                path: opened.path,
                _lock: opened.lock,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many writes and commits the store has made since it opened.
    pub fn write_stats(&self) -> WriteStats {
        let revs = &self.inner.revs;
        WriteStats {
            writes: revs.writes.load(Ordering::Relaxed),
            commits: revs.commits.load(Ordering::Relaxed),
        }
    }

    async fn submit(&self, op: Op) -> Result<Outcome> {
        self.inner.writer.submit(op).await
    }
}

fn expiry(ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|ttl| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from((now + ttl).as_millis()).unwrap_or(i64::MAX)
    })
}

fn written(outcome: Outcome) -> i64 {
    match outcome {
        Outcome::Written(rev) => rev,
        Outcome::Deleted(Some((rev, _))) => rev,
        Outcome::Deleted(None) | Outcome::Compacted => 0,
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn current_revision(&self) -> Result<i64> {
        Ok(self.inner.revs.current())
    }

    async fn compacted_revision(&self) -> Result<i64> {
        Ok(self.inner.revs.compacted())
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let key = key.to_owned();
        self.inner
            .reader
            .run(move |conn| read::get(conn, &key))
            .await
    }

    async fn list(&self, req: ListRequest) -> Result<ListResponse> {
        self.inner
            .reader
            .run(move |conn| read::list(conn, &req))
            .await
    }

    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<i64> {
        let op = Op::Create {
            key: key.to_owned(),
            value,
            expires_at: expiry(ttl),
        };
        self.submit(op).await.map(written)
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: i64,
        ttl: Option<Duration>,
    ) -> Result<i64> {
        let op = Op::Update {
            key: key.to_owned(),
            value,
            expected: Some(expected),
            expires_at: expiry(ttl),
        };
        self.submit(op).await.map(written)
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<i64> {
        let op = Op::Update {
            key: key.to_owned(),
            value,
            expected: None,
            expires_at: expiry(ttl),
        };
        self.submit(op).await.map(written)
    }

    async fn delete(&self, key: &str, expected: i64) -> Result<(i64, KeyValue)> {
        let op = Op::Delete {
            key: key.to_owned(),
            expected: Some(expected),
        };
        match self.submit(op).await? {
            Outcome::Deleted(Some(deleted)) => Ok(deleted),
            _ => Err(Error::NotFound {
                key: key.to_owned(),
            }),
        }
    }

    async fn delete_any(&self, key: &str) -> Result<Option<(i64, KeyValue)>> {
        let op = Op::Delete {
            key: key.to_owned(),
            expected: None,
        };
        match self.submit(op).await? {
            Outcome::Deleted(deleted) => Ok(deleted),
            _ => Ok(None),
        }
    }

    async fn watch(&self, prefix: &str, start_revision: i64) -> Result<WatchStream> {
        watch::start(
            &self.inner.hub,
            &self.inner.reader,
            &self.inner.revs,
            prefix,
            start_revision,
        )
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        self.submit(Op::Compact { revision }).await.map(drop)
    }

    async fn snapshot(&self, dest: &Path) -> Result<()> {
        let path = self.inner.path.clone();
        let dest = dest.to_owned();
        tokio::task::spawn_blocking(move || backup::copy_database(&path, &dest))
            .await
            .map_err(|_| Error::Closed)?
    }
}
