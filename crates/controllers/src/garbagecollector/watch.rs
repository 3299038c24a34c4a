//! The collector's metadata-only watches, one per watched resource, feeding the graph.

use super::graph::{Graph, Observed};
use crate::queue::WorkQueue;
use crate::resources::{RESOURCES, Resource};
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch as signal;
use tokio_stream::StreamExt;

/// A background task the manager starts with the workers.
pub type Task = Box<dyn FnOnce() -> tokio::task::JoinHandle<()> + Send>;

/// Counts the watches that have not yet listed once; turns `ready` true at zero.
struct Readiness {
    left: AtomicUsize,
    ready: signal::Sender<bool>,
}

impl Readiness {
    fn arrived(&self) {
        if self.left.fetch_sub(1, Ordering::SeqCst) == 1 {
            let _ = self.ready.send(true);
        }
    }
}

#[derive(Clone)]
struct Feed {
    graph: Arc<Mutex<Graph>>,
    queue: WorkQueue,
    ready: Arc<Readiness>,
}

impl Feed {
    fn apply(&self, res: &Resource, obj: &PartialObjectMeta<DynamicObject>) -> Option<String> {
        let observed = Observed::from_meta(&res.api_version(), res.kind, &obj.metadata)?;
        let uid = observed.uid.clone();
        let woken = self
            .graph
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .upsert(observed);
        self.wake(woken);
        Some(uid)
    }

    fn remove(&self, uid: &str) {
        let woken = self
            .graph
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uid);
        self.wake(woken);
    }

    fn wake(&self, uids: Vec<String>) {
        for uid in uids {
            self.queue.add(uid);
        }
    }
}

/// One task per watched resource; `ready` turns true once each has listed (or found its
/// resource not served).
pub fn tasks(
    client: &kube::Client,
    graph: &Arc<Mutex<Graph>>,
    queue: &WorkQueue,
    ready: signal::Sender<bool>,
) -> Vec<Task> {
    let watched: Vec<&'static Resource> = RESOURCES.iter().filter(|r| r.gc).collect();
    if watched.is_empty() {
        let _ = ready.send(true);
    }
    let feed = Feed {
        graph: graph.clone(),
        queue: queue.clone(),
        ready: Arc::new(Readiness {
            left: AtomicUsize::new(watched.len()),
            ready,
        }),
    };
    watched
        .into_iter()
        .map(|res| {
            let (client, feed) = (client.clone(), feed.clone());
            Box::new(move || tokio::spawn(run(client, res, feed))) as Task
        })
        .collect()
}

/// Watches one resource's metadata until aborted.
async fn run(client: kube::Client, res: &'static Resource, feed: Feed) {
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, &res.api_resource());
    let mut stream = Box::pin(watcher::watcher(api, watcher::Config::default()).default_backoff());
    let mut known: HashSet<String> = HashSet::new();
    let mut relisted: HashSet<String> = HashSet::new();
    let mut listed = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => relisted.clear(),
            Ok(Event::InitApply(obj)) => {
                if let Some(uid) = feed.apply(res, &obj) {
                    relisted.insert(uid);
                }
            }
            Ok(Event::InitDone) => {
                // Objects deleted while the watch was down are missing from the new list.
                for stale in known.difference(&relisted) {
                    feed.remove(stale);
                }
                known = std::mem::take(&mut relisted);
                if !listed {
                    listed = true;
                    feed.ready.arrived();
                }
            }
            Ok(Event::Apply(obj)) => {
                if let Some(uid) = feed.apply(res, &obj) {
                    known.insert(uid);
                }
            }
            Ok(Event::Delete(obj)) => {
                if let Some(uid) = obj.metadata.uid.as_deref() {
                    known.remove(uid);
                    feed.remove(uid);
                }
            }
            Err(watcher::Error::InitialListFailed(kube::Error::Api(s)))
                if s.code == 404 && !listed =>
            {
                tracing::debug!(
                    resource = res.plural,
                    group = res.group,
                    "garbage collector: not served; skipped"
                );
                feed.ready.arrived();
                return;
            }
            Err(err) => {
                tracing::warn!(resource = res.plural, group = res.group, %err, "garbage collector watch")
            }
        }
    }
}
