//! The writer thread: group commit, one revision per write, event fan-out.

use super::{Batch, Revisions, SqliteOptions};
use crate::{Error, EventKind, KeyValue, Result, WatchEvent};
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, oneshot};

/// How many revisions one compaction step prunes before writes get a turn.
const COMPACT_CHUNK: i64 = 2_000;
/// How many expired keys one batch deletes at most.
const EXPIRE_CHUNK: i64 = 1_000;

/// A write the writer thread carries out.
#[derive(Debug)]
pub(super) enum Op {
    /// Create a key that must not exist.
    Create {
        key: String,
        value: Bytes,
        expires_at: Option<i64>,
    },
    /// Replace a key; with `expected`, only at that mod revision (else a
    /// put that creates the key when missing).
    Update {
        key: String,
        value: Bytes,
        expected: Option<i64>,
        expires_at: Option<i64>,
    },
    /// Delete a key; with `expected`, only at that mod revision.
    Delete { key: String, expected: Option<i64> },
    /// Compact history below a revision.
    Compact { revision: i64 },
}

/// What a write produced.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The revision of a create, update or put.
    Written(i64),
    /// The revision of a delete and the deleted version (None: nothing deleted).
    Deleted(Option<(i64, KeyValue)>),
    /// The compaction was recorded.
    Compacted,
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Outcome>>,
}

/// The handle the store keeps: submits writes; on drop, stops the thread
/// after the batch under way and waits for it.
#[derive(Debug)]
pub(super) struct WriterHandle {
    tx: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl WriterHandle {
    /// Starts the writer thread on the store's read-write connection.
    pub fn spawn(
        conn: Connection,
        revs: Arc<Revisions>,
        hub: broadcast::Sender<Arc<Batch>>,
        options: SqliteOptions,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel();
        let oldest: i64 = conn
            .query_row("SELECT coalesce(min(rev), 0) FROM log", [], |row| {
                row.get(0)
            })
            .map_err(|source| Error::Sqlite {
                context: "read oldest revision",
                source,
            })?;
        let writer = Writer {
            rev: revs.current(),
            compact_target: revs.compacted(),
            compact_done: oldest,
            next_expiry: Instant::now(),
            concurrent_until: None,
            conn,
            rx,
            revs,
            hub,
            options,
        };
        let thread = std::thread::Builder::new()
            .name("rkube-store-writer".to_owned())
            .spawn(move || writer.run())
            .map_err(|source| Error::Io {
                context: "start writer thread",
                path: Default::default(),
                source,
            })?;
        Ok(WriterHandle {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a write and waits until it is committed (or refused).
    pub async fn submit(&self, op: Op) -> Result<Outcome> {
        let (reply, answer) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or(Error::Closed)?;
        tx.send(Request { op, reply }).map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the store's writer thread panicked");
        }
    }
}

/// How long after a batch of several requests the writer waits for company before each
/// commit ([`SqliteOptions::commit_delay`]).
const CONCURRENT_WINDOW: Duration = Duration::from_secs(1);

struct Writer {
    conn: Connection,
    rx: mpsc::Receiver<Request>,
    revs: Arc<Revisions>,
    hub: broadcast::Sender<Arc<Batch>>,
    options: SqliteOptions,
    /// The last revision handed out (committed once its batch commits).
    rev: i64,
    /// Compaction prunes rows superseded at or below this revision...
    compact_target: i64,
    /// ...and has done so for every row below this one.
    compact_done: i64,
    next_expiry: Instant,
    /// Until when writers count as concurrent: a batch of more than one request was seen
    /// less than [`CONCURRENT_WINDOW`] before.
    concurrent_until: Option<Instant>,
}

fn now_millis() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

impl Writer {
    fn run(mut self) {
        loop {
            let compacting = self.compact_done < self.compact_target;
            let first = if compacting {
                match self.rx.try_recv() {
                    Ok(req) => Some(req),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                }
            } else {
                let wait = self.next_expiry.saturating_duration_since(Instant::now());
                match self.rx.recv_timeout(wait) {
                    Ok(req) => Some(req),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            let mut batch: Vec<Request> = first.into_iter().collect();
            self.drain(&mut batch);
            if self
                .concurrent_until
                .is_some_and(|until| Instant::now() < until)
                && !batch.is_empty()
                && batch.len() < self.options.max_batch
                && !self.options.commit_delay.is_zero()
            {
                // Group commit: with concurrent writers, a moment's wait lets more requests
                // share this transaction's commit (its WAL frames and fsync).
                std::thread::sleep(self.options.commit_delay);
                self.drain(&mut batch);
            }
            if batch.len() > 1 {
                self.concurrent_until = Some(Instant::now() + CONCURRENT_WINDOW);
            }
            let expire = Instant::now() >= self.next_expiry;
            if expire {
                self.next_expiry = Instant::now() + self.options.expiry_interval;
            }
            if !batch.is_empty() || expire {
                self.commit(batch, expire);
            }
            if self.compact_done < self.compact_target
                && let Err(err) = self.compact_step()
            {
                tracing::error!(%err, "compaction step failed; retrying at the next compaction");
                self.compact_done = self.compact_target;
            }
        }
    }

    /// Adds the queued requests to `batch`, up to the batch limit.
    fn drain(&mut self, batch: &mut Vec<Request>) {
        while batch.len() < self.options.max_batch {
            match self.rx.try_recv() {
                Ok(req) => batch.push(req),
                Err(_) => break,
            }
        }
    }

    /// Applies a batch in one transaction, commits it, publishes its events
    /// and answers every request.
    fn commit(&mut self, batch: Vec<Request>, expire: bool) {
        let start_rev = self.rev;
        let start_compacted = self.compact_target;
        let mut events = Vec::new();
        let result = self.apply_batch(&batch, expire, &mut events);
        match result {
            Ok(outcomes) => {
                self.revs.current.store(self.rev, Ordering::Release);
                self.revs
                    .compacted
                    .store(self.compact_target, Ordering::Release);
                if self.compact_target > start_compacted {
                    // Rows below the old target may now be superseded too.
                    self.compact_done = 0;
                }
                self.revs.commits.fetch_add(1, Ordering::Relaxed);
                self.revs
                    .writes
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                if !events.is_empty() {
                    // No receivers just means nobody watches.
                    let _ = self.hub.send(Arc::new(Batch { events }));
                }
                for (req, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = req.reply.send(outcome);
                }
            }
            Err(source) => {
                tracing::error!(%source, "write batch failed and was rolled back");
                self.rev = start_rev;
                self.compact_target = start_compacted;
                let source = Arc::new(source);
                for req in batch {
                    let _ = req.reply.send(Err(Error::WriteFailed {
                        source: source.clone(),
                    }));
                }
            }
        }
    }

    fn apply_batch(
        &mut self,
        batch: &[Request],
        expire: bool,
        events: &mut Vec<WatchEvent>,
    ) -> rusqlite::Result<Vec<Result<Outcome>>> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let mut apply = Apply {
            tx: &tx,
            rev: self.rev,
            compact_target: self.compact_target,
            events,
        };
        let mut outcomes = Vec::with_capacity(batch.len());
        for req in batch {
            outcomes.push(apply.op(&req.op)?);
        }
        if expire {
            apply.expire(now_millis())?;
        }
        let (rev, compact_target) = (apply.rev, apply.compact_target);
        if rev != self.rev {
            tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'revision'")?
                .execute([rev])?;
        }
        if compact_target != self.compact_target {
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE name = 'compacted'",
                [compact_target],
            )?;
        }
        tx.commit()?;
        self.rev = rev;
        self.compact_target = compact_target;
        Ok(outcomes)
    }

    /// Prunes one chunk of superseded history in its own transaction.
    fn compact_step(&mut self) -> rusqlite::Result<()> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        if self.compact_done == 0 {
            self.compact_done =
                tx.query_row("SELECT coalesce(min(rev), 0) FROM log", [], |r| r.get(0))?;
        }
        let upto = (self.compact_done + COMPACT_CHUNK).min(self.compact_target);
        let pruned = tx.execute(
            "DELETE FROM log WHERE rev >= ?1 AND rev < ?2 AND (deleted = 1 OR EXISTS (
                 SELECT 1 FROM log AS newer
                 WHERE newer.key = log.key AND newer.rev > log.rev AND newer.rev <= ?3))",
            params![self.compact_done, upto, self.compact_target],
        )?;
        tx.commit()?;
        tracing::trace!(from = self.compact_done, upto, pruned, "compaction step");
        self.compact_done = upto;
        Ok(())
    }
}

/// One batch's transaction: applies writes and records their events.
struct Apply<'a> {
    tx: &'a Transaction<'a>,
    rev: i64,
    compact_target: i64,
    events: &'a mut Vec<WatchEvent>,
}

impl Apply<'_> {
    /// Applies one op. The outer error is a database failure (the whole
    /// batch rolls back); the inner one is the op's own refusal.
    fn op(&mut self, op: &Op) -> rusqlite::Result<Result<Outcome>> {
        Ok(match op {
            Op::Create {
                key,
                value,
                expires_at,
            } => match self.current(key)? {
                Some(_) => Err(Error::AlreadyExists { key: key.clone() }),
                None => Ok(Outcome::Written(self.write(
                    key,
                    value,
                    None,
                    *expires_at,
                )?)),
            },
            Op::Update {
                key,
                value,
                expected,
                expires_at,
            } => {
                let current = self.current(key)?;
                match check(key, current, *expected) {
                    Ok(current) => Ok(Outcome::Written(self.write(
                        key,
                        value,
                        current,
                        *expires_at,
                    )?)),
                    Err(err) => Err(err),
                }
            }
            Op::Delete { key, expected } => match check(key, self.current(key)?, *expected) {
                Ok(Some(current)) => {
                    let rev = self.delete(current.clone())?;
                    Ok(Outcome::Deleted(Some((rev, current))))
                }
                Ok(None) => Ok(Outcome::Deleted(None)),
                Err(err) => Err(err),
            },
            Op::Compact { revision } => {
                if *revision > self.rev {
                    Err(Error::FutureRevision {
                        requested: *revision,
                        current: self.rev,
                    })
                } else {
                    self.compact_target = self.compact_target.max(*revision);
                    Ok(Outcome::Compacted)
                }
            }
        })
    }

    /// The current version of a key.
    fn current(&self, key: &str) -> rusqlite::Result<Option<KeyValue>> {
        // A subquery, not a join, so the statement stays prepared (see `read::GET_SQL`).
        let mut stmt = self.tx.prepare_cached(
            "SELECT log.rev, log.create_rev, log.version, log.value
             FROM log WHERE log.rev = (SELECT rev FROM live WHERE key = ?1)",
        )?;
        stmt.query_row([key.as_bytes()], |row| {
            Ok(KeyValue {
                key: key.to_owned(),
                mod_revision: row.get(0)?,
                create_revision: row.get(1)?,
                version: row.get(2)?,
                value: Bytes::from(row.get::<_, Vec<u8>>(3)?),
            })
        })
        .optional()
    }

    /// Writes a new version of a key (a create when `prev` is None).
    fn write(
        &mut self,
        key: &str,
        value: &Bytes,
        prev: Option<KeyValue>,
        expires_at: Option<i64>,
    ) -> rusqlite::Result<i64> {
        self.rev += 1;
        let rev = self.rev;
        let (create_rev, version, prev_rev) = match &prev {
            Some(prev) => (prev.create_revision, prev.version + 1, prev.mod_revision),
            None => (rev, 1, 0),
        };
        self.tx
            .prepare_cached(
                "INSERT INTO log (rev, key, create_rev, version, prev_rev, deleted, value)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
            )?
            .execute(params![
                rev,
                key.as_bytes(),
                create_rev,
                version,
                prev_rev,
                &value[..]
            ])?;
        self.tx
            .prepare_cached(
                "INSERT INTO live (key, rev, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET rev = excluded.rev, expires_at = excluded.expires_at",
            )?
            .execute(params![key.as_bytes(), rev, expires_at])?;
        self.events.push(WatchEvent {
            kind: EventKind::Put,
            kv: KeyValue {
                key: key.to_owned(),
                value: value.clone(),
                create_revision: create_rev,
                mod_revision: rev,
                version,
            },
            prev,
        });
        Ok(rev)
    }

    /// Deletes the current version of a key, leaving a tombstone in the log.
    fn delete(&mut self, current: KeyValue) -> rusqlite::Result<i64> {
        self.rev += 1;
        let rev = self.rev;
        let key = current.key.as_bytes();
        self.tx
            .prepare_cached(
                "INSERT INTO log (rev, key, create_rev, version, prev_rev, deleted, value)
                 VALUES (?1, ?2, 0, 0, ?3, 1, x'')",
            )?
            .execute(params![rev, key, current.mod_revision])?;
        self.tx
            .prepare_cached("DELETE FROM live WHERE key = ?1")?
            .execute([key])?;
        self.events.push(WatchEvent {
            kind: EventKind::Delete,
            kv: KeyValue {
                key: current.key.clone(),
                value: Bytes::new(),
                create_revision: 0,
                mod_revision: rev,
                version: 0,
            },
            prev: Some(current),
        });
        Ok(rev)
    }

    /// Deletes keys whose TTL has passed.
    fn expire(&mut self, now: i64) -> rusqlite::Result<()> {
        let keys: Vec<Vec<u8>> = self
            .tx
            .prepare_cached(
                "SELECT key FROM live WHERE expires_at IS NOT NULL AND expires_at <= ?1
                 ORDER BY expires_at LIMIT ?2",
            )?
            .query_map(params![now, EXPIRE_CHUNK], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for key in keys {
            let Ok(key) = String::from_utf8(key) else {
                continue;
            };
            if let Some(current) = self.current(&key)? {
                self.delete(current)?;
            }
        }
        Ok(())
    }
}

/// Checks a conditional write's expectation against the key's current version.
fn check(key: &str, current: Option<KeyValue>, expected: Option<i64>) -> Result<Option<KeyValue>> {
    match (current, expected) {
        (current, None) => Ok(current),
        (None, Some(_)) => Err(Error::NotFound {
            key: key.to_owned(),
        }),
        (Some(current), Some(expected)) if current.mod_revision == expected => Ok(Some(current)),
        (Some(current), Some(expected)) => Err(Error::Conflict {
            key: key.to_owned(),
            expected,
            current: Box::new(current),
        }),
    }
}
