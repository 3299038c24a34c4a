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

impl Compactor {
    /// Starts compacting `store` every `interval`.
    pub fn spawn(store: Arc<dyn Store>, interval: Duration) -> Self {
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seen: Option<i64> = None;
            loop {
                ticker.tick().await;
                if let Some(revision) = seen
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
