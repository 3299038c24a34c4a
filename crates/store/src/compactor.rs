//! Automatic compaction: keep about one interval of history, as the
//! Kubernetes API server does against etcd.

use crate::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The Kubernetes API server's default compaction interval.
pub const DEFAULT_COMPACTION_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// A background task that, every interval, compacts the store to the
/// revision it saw one interval earlier, so about one interval of history
/// stays readable for lists at past revisions and watches that resume.
#[derive(Debug)]
pub struct Compactor {
    task: JoinHandle<()>,
}

/// The revision compaction must not pass: what a reader that follows the whole history (the
/// API server's watch-cache feed) has consumed so far.
pub type Floor = Box<dyn Fn() -> i64 + Send + Sync>;

impl Compactor {
    /// Starts compacting `store` every `interval`, never past `floor()` when one is given: a
    /// feed that falls more than an interval behind the writes then still finds every event it
    /// has not read, instead of losing its watch to the compaction.
    pub fn spawn(store: Arc<dyn Store>, interval: Duration, floor: Option<Floor>) -> Self {
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seen: Option<i64> = None;
            loop {
                ticker.tick().await;
                let target = match (&floor, seen) {
                    (Some(floor), Some(revision)) => Some(revision.min(floor())),
                    (None, seen) => seen,
                    (Some(_), None) => None,
                };
                if let Some(revision) = target
                    && let Err(err) = compact_if_newer(store.as_ref(), revision).await
                {
                    tracing::warn!(revision, %err, "automatic compaction failed");
                }
                match store.current_revision().await {
                    Ok(current) => seen = Some(current),
                    Err(err) => tracing::warn!(%err, "compactor cannot read the current revision"),
                }
            }
        });
        Compactor { task }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn compact_if_newer(store: &dyn Store, revision: i64) -> crate::Result<()> {
    if revision > store.compacted_revision().await? {
        store.compact(revision).await?;
        tracing::debug!(revision, "compacted");
    }
    Ok(())
}
