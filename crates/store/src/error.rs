//! The store's error type.

use crate::KeyValue;
use std::path::PathBuf;

/// Result alias for store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `create` of a key that exists.
    #[error("key {key:?} already exists")]
    AlreadyExists {
        /// The key.
        key: String,
    },
    /// A conditional write or delete of a key that does not exist.
    #[error("key {key:?} not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// A conditional write or delete whose expected mod revision is stale.
    #[error("conflict on key {key:?}: expected mod revision {expected}, found {}", current.mod_revision)]
    Conflict {
        /// The key.
        key: String,
        /// The mod revision the caller expected.
        expected: i64,
        /// The key's current version.
        current: Box<KeyValue>,
    },
    /// A read or watch at a revision that compaction has discarded.
    #[error("required revision {requested} has been compacted (compacted revision {compacted})")]
    Compacted {
        /// The revision asked for.
        requested: i64,
        /// The store's compacted revision.
        compacted: i64,
    },
    /// A read at a revision the store has not reached yet.
    #[error("required revision {requested} is a future revision (current revision {current})")]
    FutureRevision {
        /// The revision asked for.
        requested: i64,
        /// The store's current revision.
        current: i64,
    },
    /// Another process holds the data directory.
    #[error("data directory {} is in use by another rkube process (lock file {})", dir.display(), lock.display())]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The lock file held by the other process.
        lock: PathBuf,
    },
    /// The database file cannot be read as an rkube store; it is left untouched.
    #[error("database file {} is corrupt or not an rkube store: {reason}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// An SQLite call failed.
    #[error("sqlite {context}: {source}")]
    Sqlite {
        /// What the store was doing.
        context: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The write batch this write was part of failed to commit and was
    /// rolled back: none of its writes happened.
    #[error("write failed and was rolled back: {source}")]
    WriteFailed {
        /// SQLite's error, shared by every write of the batch.
        #[source]
        source: std::sync::Arc<rusqlite::Error>,
    },
    /// A call to etcd failed.
    #[error("etcd {context}: {source}")]
    Etcd {
        /// What the store was doing.
        context: &'static str,
        /// The client's error.
        #[source]
        source: etcd_client::Error,
    },
    /// A file-system operation failed.
    #[error("{context} {}: {source}", path.display())]
    Io {
        /// What the store was doing.
        context: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A key or value the backend cannot hold (e.g. a key that is not UTF-8).
    #[error("invalid data for key {key:?}: {reason}")]
    InvalidData {
        /// The key, as far as it could be read.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// The store was closed while the operation was under way.
    #[error("the store is closed")]
    Closed,
}

impl Error {
    /// Whether this is [`Error::Compacted`].
    pub fn is_compacted(&self) -> bool {
        matches!(self, Error::Compacted { .. })
    }
}
