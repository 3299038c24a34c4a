//! The MVCC key-value store that backs the rkube API server.
//!
//! The interface is shaped like etcd v3, which is what the Kubernetes API
//! server relies on: one global revision that grows with every write, a
//! create/mod revision and version per key, conditional writes guarded by the
//! expected mod revision, consistent paginated lists (also at past revisions
//! until they are compacted), ordered watches that carry the previous value,
//! compaction and keys that expire after a TTL.
//!
//! Two backends implement [`Store`]: [`sqlite::SqliteStore`], the embedded
//! default (one WAL database file, group-committed writes, in-process watch
//! fan-out), and [`etcd::EtcdStore`], a client of a real etcd cluster.

mod compactor;
mod error;
pub mod etcd;
pub mod sqlite;
mod types;
mod watch;

pub use compactor::{Compactor, DEFAULT_COMPACTION_INTERVAL, Floor};
pub use error::{Error, Result};
pub use types::{EventKind, KeyValue, ListRequest, ListResponse, WatchEvent, prefix_end};
pub use watch::WatchStream;

use async_trait::async_trait;
use bytes::Bytes;
use std::path::Path;
use std::time::Duration;

/// An etcd-v3-shaped MVCC key-value store.
///
/// Revisions start at 1 for the first write; 0 means "none" (for example the
/// revision of an empty store). Every write (create, update, put, delete,
/// expiry) takes exactly one new revision.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The revision of the most recent write.
    async fn current_revision(&self) -> Result<i64>;

    /// The oldest revision still readable: lists and watches from an older
    /// revision fail with [`Error::Compacted`].
    async fn compacted_revision(&self) -> Result<i64>;

    /// The current value of `key`, if it exists.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// The keys under a prefix, in key order, consistent at one revision.
    async fn list(&self, req: ListRequest) -> Result<ListResponse>;

    /// Creates `key`; fails with [`Error::AlreadyExists`] if it exists.
    /// Returns the revision of the write.
    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<i64>;

    /// Replaces the value of `key` if its mod revision is still `expected`.
    /// Fails with [`Error::NotFound`] if the key does not exist and with
    /// [`Error::Conflict`] (carrying the current value) if it changed.
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: i64,
        ttl: Option<Duration>,
    ) -> Result<i64>;

    /// Writes `key` whatever its current state (creating it if needed).
    async fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<i64>;

    /// Deletes `key` if its mod revision is still `expected`; returns the
    /// revision of the delete and the deleted value. Fails like [`Store::update`].
    async fn delete(&self, key: &str, expected: i64) -> Result<(i64, KeyValue)>;

    /// Deletes `key` whatever its current state; `None` if it did not exist.
    async fn delete_any(&self, key: &str) -> Result<Option<(i64, KeyValue)>>;

    /// Watches every key under `prefix` from `start_revision` (inclusive;
    /// 0 means "changes after now"). Events come in revision order, each with
    /// the previous value. A start revision older than the compacted revision
    /// fails with [`Error::Compacted`], either here or as the stream's first
    /// item.
    async fn watch(&self, prefix: &str, start_revision: i64) -> Result<WatchStream>;

    /// Discards the history older than `revision`: afterwards, reads and
    /// watches at a revision below it fail with [`Error::Compacted`].
    async fn compact(&self, revision: i64) -> Result<()>;

    /// Writes a consistent, restorable copy of the whole store to `dest`.
    async fn snapshot(&self, dest: &Path) -> Result<()>;
}
