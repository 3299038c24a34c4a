//! Watches, served from the watch cache with upstream's rules for
//! `resourceVersion`, selectors, bookmarks and initial events.

use super::Storage;
use super::list::{FRESHNESS_WAIT, Filter, parse_rv};
use crate::cache::{CacheEvent, Change, Entry};
use crate::kinds::ResourceInfo;
use bytes::Bytes;
use rkube_api::status::StatusError;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(30);
/// Events buffered for one watcher's connection.
const WATCHER_BUFFER: usize = 256;

/// The `type` of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchEventType {
    /// `ADDED`
    Added,
    /// `MODIFIED`
    Modified,
    /// `DELETED`
    Deleted,
    /// `BOOKMARK`
    Bookmark,
    /// `ERROR` (the object is a Status)
    Error,
}

impl WatchEventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchEventType::Added => "ADDED",
            WatchEventType::Modified => "MODIFIED",
            WatchEventType::Deleted => "DELETED",
            WatchEventType::Bookmark => "BOOKMARK",
            WatchEventType::Error => "ERROR",
        }
    }
}

/// One event of a watch: its type and the object as served.
#[derive(Clone, Debug)]
pub struct WatchItem {
    /// The event type.
    pub kind: WatchEventType,
    /// The object (JSON), a bookmark stub, or a Status for errors.
    pub object: Bytes,
}

/// What a WATCH asks for.
#[derive(Clone, Debug, Default)]
pub struct WatchOptions {
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// Selectors.
    pub filter: Filter,
    /// `allowWatchBookmarks`.
    pub allow_bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
}

fn bookmark(info: &ResourceInfo, rv: i64, initial_end: bool) -> WatchItem {
    let mut meta = serde_json::json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = serde_json::json!({"k8s.io/initial-events-end": "true"});
    }
    let obj =
        serde_json::json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": meta});
    WatchItem {
        kind: WatchEventType::Bookmark,
        object: Bytes::from(serde_json::to_vec(&obj).unwrap_or_default()),
    }
}

fn error_item(err: &StatusError) -> WatchItem {
    WatchItem {
        kind: WatchEventType::Error,
        object: Bytes::from(serde_json::to_vec(&err.to_json()).unwrap_or_default()),
    }
}

/// The event a watcher with `filter` sees for a change, if any: objects
/// entering or leaving the selection appear added or deleted.
fn translate(event: &CacheEvent, filter: &Filter) -> Option<WatchItem> {
    let now = filter.matches(&event.entry);
    let before = event.prev.as_ref().is_some_and(|p| filter.matches(p));
    let kind = match (event.change, before, now) {
        (Change::Deleted, _, true) => WatchEventType::Deleted,
        (Change::Deleted, _, false) => return None,
        (Change::Added, _, true) => WatchEventType::Added,
        (Change::Modified, true, true) => WatchEventType::Modified,
        (Change::Modified, false, true) => WatchEventType::Added,
        (Change::Modified, true, false) => WatchEventType::Deleted,
        _ => return None,
    };
    Some(WatchItem {
        kind,
        object: event.entry.bytes.clone(),
    })
}

fn added(entry: &Entry) -> WatchItem {
    WatchItem {
        kind: WatchEventType::Added,
        object: entry.bytes.clone(),
    }
}

impl Storage {
    /// Starts a watch; events arrive on the receiver until the watcher
    /// falls too far behind or the caller drops it.
    pub async fn watch(
        &self,
        info: &'static ResourceInfo,
        namespace: Option<&str>,
        opts: WatchOptions,
    ) -> Result<mpsc::Receiver<WatchItem>, StatusError> {
        let prefix = info.namespace_prefix(namespace);
        let cache = self
            .caches
            .get(info)
            .ok_or_else(|| StatusError::internal_error("no watch cache for the resource"))?
            .clone();
        let rv = opts.resource_version.as_deref().filter(|rv| !rv.is_empty());
        let initial = match (rv, opts.send_initial_events) {
            (_, Some(initial)) => initial,
            (None | Some("0"), None) => true,
            (Some(_), None) => false,
        };
        if opts.send_initial_events == Some(true) && !opts.allow_bookmarks {
            return Err(StatusError::bad_request(
                "sendInitialEvents requires setting allowWatchBookmarks to true",
            ));
        }
        let after = match rv {
            None => {
                let current = self
                    .store
                    .current_revision()
                    .await
                    .map_err(super::internal)?;
                self.caches
                    .wait_for(current, Duration::from_millis(200))
                    .await;
                0
            }
            Some(rv) => {
                let rv = parse_rv(rv)?;
                if rv > 0 && !self.caches.wait_for(rv, FRESHNESS_WAIT).await {
                    let current = self.caches.revision();
                    return Err(StatusError::too_large_resource_version(current, rv));
                }
                rv
            }
        };
        let (tx, rx) = mpsc::channel(WATCHER_BUFFER);
        let (subscription, at) = match cache.subscribe(&prefix, after, initial, &self.caches) {
            Ok(sub) => sub,
            Err(too_old) => {
                let err = StatusError::resource_expired(&format!(
                    "too old resource version: {after} ({})",
                    too_old.oldest
                ));
                let _ = tx.try_send(error_item(&err));
                return Ok(rx);
            }
        };
        let filter = opts.filter.clone();
        let caches = self.caches.clone();
        tokio::spawn(async move {
            let mut live = subscription.live;
            let mut delivered = if initial { at } else { after };
            for entry in subscription.objects.iter().filter(|e| filter.matches(e)) {
                if tx.send(added(entry)).await.is_err() {
                    return;
                }
            }
            if initial && opts.send_initial_events == Some(true) {
                let _ = tx.send(bookmark(info, at, true)).await;
            }
            for event in &subscription.backlog {
                delivered = delivered.max(event.entry.rv);
                if let Some(item) = translate(event, &filter)
                    && tx.send(item).await.is_err()
                {
                    return;
                }
            }
            let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = ticker.tick(), if opts.allow_bookmarks => {
                        let rv = caches.revision().max(delivered);
                        if tx.send(bookmark(info, rv, false)).await.is_err() {
                            return;
                        }
                    }
                    received = live.recv() => match received {
                        Ok(event) => {
                            if event.entry.rv <= delivered || !event.entry.key.starts_with(&prefix) {
                                continue;
                            }
                            delivered = event.entry.rv;
                            if let Some(item) = translate(&event, &filter)
                                && tx.send(item).await.is_err()
                            {
                                return;
                            }
                        }
                        // Too slow: end the watch; the client resumes from
                        // the last resource version it saw.
                        Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                    },
                }
            }
        });
        Ok(rx)
    }
}
