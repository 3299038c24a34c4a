//! Watches: catch up from the log, then follow committed batches live.
//!
//! A watcher subscribes to the writer's fan-out before it reads history, so
//! every batch committed after its read reaches it live; batches it already
//! read are skipped by revision. A watcher that falls too far behind the
//! fan-out (a slow consumer) never holds the writer up: it reads what it
//! missed from the log instead, or ends with `Compacted` if that history is
//! gone.

use super::read::{self, ReadPool};
use super::{Batch, Revisions};
use crate::{Error, Result, WatchEvent, WatchStream};
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

/// How many events one history read returns.
const HISTORY_PAGE: usize = 1_000;

/// Starts a watch on `prefix` from `start_revision` (0: after the current one).
pub(super) fn start(
    hub: &broadcast::Sender<Arc<Batch>>,
    reader: &Arc<ReadPool>,
    revs: &Revisions,
    prefix: &str,
    start_revision: i64,
) -> Result<WatchStream> {
    // Subscribe before reading the revision: see the module's comment.
    let live = hub.subscribe();
    let current = revs.current();
    let compacted = revs.compacted();
    let next = if start_revision <= 0 {
        current + 1
    } else {
        start_revision
    };
    if next < compacted {
        return Err(Error::Compacted {
            requested: next,
            compacted,
        });
    }
    let (tx, stream) = WatchStream::channel();
    let watcher = Watcher {
        prefix: prefix.to_owned(),
        next,
        live,
        reader: reader.clone(),
        tx,
    };
    tokio::spawn(watcher.run(next <= current));
    Ok(stream)
}

struct Watcher {
    prefix: String,
    /// The first revision not yet delivered.
    next: i64,
    live: broadcast::Receiver<Arc<Batch>>,
    reader: Arc<ReadPool>,
    tx: mpsc::Sender<Result<WatchEvent>>,
}

/// Whether the watch goes on after a step.
enum Flow {
    Continue,
    Stop,
}

impl Watcher {
    async fn run(mut self, mut behind: bool) {
        loop {
            if behind {
                match self.catch_up().await {
                    Ok(Flow::Continue) => behind = false,
                    Ok(Flow::Stop) => return,
                    Err(err) => {
                        let _ = self.tx.send(Err(err)).await;
                        return;
                    }
                }
            }
            let received = tokio::select! {
                _ = self.tx.closed() => return,
                received = self.live.recv() => received,
            };
            match received {
                Ok(batch) => match self.follow(&batch).await {
                    Some(Flow::Continue) => {}
                    Some(Flow::Stop) => return,
                    None => behind = true,
                },
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, prefix = %self.prefix, "watcher lagged; reading history");
                    behind = true;
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Delivers a live batch; `None` when it does not follow on from what
    /// was delivered (history must fill the gap first).
    async fn follow(&mut self, batch: &Batch) -> Option<Flow> {
        let (first, last) = match (batch.events.first(), batch.events.last()) {
            (Some(first), Some(last)) => (first.kv.mod_revision, last.kv.mod_revision),
            _ => return Some(Flow::Continue),
        };
        if first > self.next {
            return None;
        }
        for event in &batch.events {
            if event.kv.mod_revision >= self.next
                && event.kv.key.starts_with(&self.prefix)
                && self.tx.send(Ok(event.clone())).await.is_err()
            {
                return Some(Flow::Stop);
            }
        }
        self.next = self.next.max(last + 1);
        Some(Flow::Continue)
    }

    /// Delivers everything committed from `next` on, read from the log.
    async fn catch_up(&mut self) -> Result<Flow> {
        loop {
            let (prefix, from) = (self.prefix.clone(), self.next);
            let (events, at) = self
                .reader
                .run(move |conn| read::history(conn, &prefix, from, HISTORY_PAGE))
                .await?;
            let full = events.len() == HISTORY_PAGE;
            for event in events {
                self.next = event.kv.mod_revision + 1;
                if self.tx.send(Ok(event)).await.is_err() {
                    return Ok(Flow::Stop);
                }
            }
            if !full {
                self.next = self.next.max(at + 1);
                return Ok(Flow::Continue);
            }
        }
    }
}
