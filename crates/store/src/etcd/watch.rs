//! Watches: one etcd watch per [`WatchStream`], forwarded by a task.

use super::keys::KeySpace;
use super::{EtcdStore, etcd_error, is_compacted, is_future_revision};
use crate::{Error, EventKind, KeyValue, Result, WatchEvent, WatchStream};
use bytes::Bytes;
use etcd_client::{EventType, GetOptions, WatchOptions, WatchRequestSender, WatchResponseStream};
use std::collections::VecDeque;
use tokio::sync::mpsc;

/// Starts a watch of the caller keys under `prefix` from `start_revision`
/// (0: changes after now). Returns once etcd has registered the watch.
pub(super) async fn start(
    store: &EtcdStore,
    prefix: &str,
    start_revision: i64,
) -> Result<WatchStream> {
    let (start, end) = store.keys.range(prefix, None)?;
    if start_revision > 0 {
        check_not_compacted(store, start_revision).await?;
    }

    let mut options = WatchOptions::new().with_range(end).with_prev_key();
    if start_revision > 0 {
        options = options.with_start_revision(start_revision);
    }
    let (requests, mut responses) = store
        .watcher()
        .watch(start, Some(options))
        .await
        .map_err(etcd_error("starting a watch"))?
        .split();

    // Wait for the "created" answer, so that "now" (start revision 0) is
    // before this call returns.
    let created = responses
        .message()
        .await
        .map_err(etcd_error("starting a watch"))?
        .ok_or_else(|| closed("starting a watch"))?;
    if created.compact_revision() > 0 {
        return Err(Error::Compacted {
            requested: start_revision,
            compacted: created.compact_revision(),
        });
    }
    if created.canceled() || !created.created() {
        return Err(canceled("starting a watch", created.cancel_reason()));
    }
    let watch_id = created.watch_id();

    let (tx, stream) = WatchStream::channel();
    let etcd = EtcdWatch {
        requests,
        responses,
        id: watch_id,
    };
    tokio::spawn(forward(store.keys.clone(), etcd, tx, start_revision));
    Ok(stream)
}

/// Fails with [`Error::Compacted`] when `revision` is no longer readable, so
/// that a stale watch fails from `watch()` rather than as its first item.
async fn check_not_compacted(store: &EtcdStore, revision: i64) -> Result<()> {
    let probe = GetOptions::new().with_revision(revision).with_count_only();
    match store.kv().get(store.keys.compact_key(), Some(probe)).await {
        Ok(_) => Ok(()),
        Err(err) if is_compacted(&err) => Err(store.compacted_error(revision).await),
        // A watch may start in the future: it waits for that revision.
        Err(err) if is_future_revision(&err) => Ok(()),
        Err(err) => Err(etcd_error("checking a watch's start revision")(err)),
    }
}

/// How many bytes of events a watch holds for a consumer that does not keep
/// up, on top of the [`WatchStream`]'s own buffer, before it ends the watch.
const MAX_BACKLOG_BYTES: usize = 64 << 20;
/// Roughly what an event costs besides its keys and values.
const EVENT_OVERHEAD_BYTES: usize = 64;

/// One etcd watch: its own gRPC stream.
struct EtcdWatch {
    requests: WatchRequestSender,
    responses: WatchResponseStream,
    id: i64,
}

impl EtcdWatch {
    /// Cancels the watch in etcd and closes its stream.
    async fn cancel(mut self) {
        // If this fails the stream is gone already, which cancels it too.
        let _ = self.requests.cancel(self.id).await;
    }
}

/// Moves one etcd watch's events into a [`WatchStream`], in order.
///
/// The etcd side is read as fast as it delivers: every watch is an HTTP/2
/// stream on the client's one connection, and unread data there would hold
/// the connection's flow-control window, so a few slow consumers would stall
/// every request. Events the consumer has not taken wait in a backlog; a
/// consumer that falls more than [`MAX_BACKLOG_BYTES`] behind gets an error.
async fn forward(
    keys: KeySpace,
    etcd: EtcdWatch,
    tx: mpsc::Sender<Result<WatchEvent>>,
    start_revision: i64,
) {
    let mut etcd = Some(etcd);
    let mut backlog = Backlog::new(start_revision);
    loop {
        if etcd.is_none() && backlog.items.is_empty() {
            return;
        }
        tokio::select! {
            permit = tx.reserve(), if !backlog.items.is_empty() => match permit {
                Ok(permit) => {
                    if let Some(item) = backlog.pop() {
                        permit.send(item);
                    }
                }
                // The consumer dropped the stream.
                Err(_) => break,
            },
            () = tx.closed(), if backlog.items.is_empty() => break,
            message = next_message(&mut etcd), if etcd.is_some() => {
                if !backlog.accept(&keys, message)
                    && let Some(ended) = etcd.take()
                {
                    ended.cancel().await;
                }
            }
        }
    }
    if let Some(etcd) = etcd {
        etcd.cancel().await;
    }
}

async fn next_message(
    etcd: &mut Option<EtcdWatch>,
) -> std::result::Result<Option<etcd_client::WatchResponse>, etcd_client::Error> {
    match etcd {
        Some(etcd) => etcd.responses.message().await,
        None => std::future::pending().await,
    }
}

/// Events read from etcd that the consumer has not taken yet.
struct Backlog {
    items: VecDeque<(Result<WatchEvent>, usize)>,
    bytes: usize,
    /// The revision the consumer needs next (the start revision until the
    /// first event arrives).
    next_revision: i64,
}

impl Backlog {
    fn new(start_revision: i64) -> Self {
        Backlog {
            items: VecDeque::new(),
            bytes: 0,
            next_revision: start_revision,
        }
    }

    fn pop(&mut self) -> Option<Result<WatchEvent>> {
        let (item, size) = self.items.pop_front()?;
        self.bytes -= size;
        Some(item)
    }

    fn push(&mut self, item: Result<WatchEvent>) {
        let size = match &item {
            Ok(event) => event_size(event),
            Err(_) => EVENT_OVERHEAD_BYTES,
        };
        self.bytes += size;
        self.items.push_back((item, size));
    }

    /// Takes in one answer from etcd; `false` once the watch has ended (its
    /// last item, an error, is then in the backlog).
    fn accept(
        &mut self,
        keys: &KeySpace,
        message: std::result::Result<Option<etcd_client::WatchResponse>, etcd_client::Error>,
    ) -> bool {
        let response = match message {
            Ok(Some(response)) => response,
            Ok(None) => return self.end(closed("watching")),
            Err(err) => return self.end(etcd_error("watching")(err)),
        };
        if response.compact_revision() > 0 {
            return self.end(Error::Compacted {
                requested: self.next_revision,
                compacted: response.compact_revision(),
            });
        }
        for event in response.events() {
            match convert(keys, event) {
                Ok(event) => {
                    self.next_revision = event.kv.mod_revision + 1;
                    self.push(Ok(event));
                }
                Err(err) => return self.end(err),
            }
        }
        if response.canceled() {
            return self.end(canceled("watching", response.cancel_reason()));
        }
        if self.bytes > MAX_BACKLOG_BYTES {
            return self.end(Error::Etcd {
                context: "watching",
                source: etcd_client::Error::WatchError(format!(
                    "the consumer fell more than {} MiB of events behind",
                    MAX_BACKLOG_BYTES >> 20
                )),
            });
        }
        true
    }

    fn end(&mut self, err: Error) -> bool {
        self.push(Err(err));
        false
    }
}

fn event_size(event: &WatchEvent) -> usize {
    let kv_size = |kv: &KeyValue| kv.key.len() + kv.value.len();
    EVENT_OVERHEAD_BYTES + kv_size(&event.kv) + event.prev.as_ref().map_or(0, kv_size)
}

/// An etcd event as a [`WatchEvent`]: a delete's `kv` carries only the key
/// and the revision of the delete.
fn convert(keys: &KeySpace, event: &etcd_client::Event) -> Result<WatchEvent> {
    let Some(kv) = event.kv() else {
        return Err(Error::InvalidData {
            key: String::new(),
            reason: "etcd sent a watch event without a key".to_owned(),
        });
    };
    let prev = event.prev_kv().map(|prev| keys.kv_ref(prev)).transpose()?;
    let (kind, kv) = match event.event_type() {
        EventType::Put => (EventKind::Put, keys.kv_ref(kv)?),
        EventType::Delete => (
            EventKind::Delete,
            KeyValue {
                key: keys.caller_key(kv.key().to_vec())?,
                value: Bytes::new(),
                create_revision: 0,
                mod_revision: kv.mod_revision(),
                version: 0,
            },
        ),
    };
    Ok(WatchEvent { kind, kv, prev })
}

fn closed(context: &'static str) -> Error {
    Error::Etcd {
        context,
        source: etcd_client::Error::WatchError("etcd closed the watch stream".to_owned()),
    }
}

fn canceled(context: &'static str, reason: &str) -> Error {
    let reason = if reason.is_empty() {
        "etcd canceled the watch".to_owned()
    } else {
        format!("etcd canceled the watch: {reason}")
    };
    Error::Etcd {
        context,
        source: etcd_client::Error::WatchError(reason),
    }
}
