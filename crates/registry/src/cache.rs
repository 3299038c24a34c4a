//! Watch caches: every resource's current objects and recent events in
//! memory, fed by one store watch, serving LIST and WATCH.
//!
//! Objects are held once, as the shared bytes a client receives (resource
//! version included), with their labels and selectable fields beside them.

use crate::kinds::{BUILTIN, ResourceInfo};
use crate::object;
use crate::strategy;
use bytes::Bytes;
use rkube_api::status::StatusError;
use rkube_store::{EventKind, ListRequest, Store};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// How many recent events each cache keeps by default for watches that resume. Larger than
/// [`FANOUT_CAPACITY`]: a watcher dropped for falling behind resumes from its last resource
/// version out of this window instead of relisting everything (a relist of 30,000 pods
/// costs the server far more than keeping these events).
pub const DEFAULT_WATCH_CACHE_SIZE: usize = 16_384;
/// How long events are kept at least, beyond [`Window::events`]: upstream's
/// `eventFreshDuration`. Under a burst a fixed count covers only seconds (16,384 pod events
/// were ~15 s at 2,500 nodes), and a watcher that fell behind came back to a 410 and relisted
/// 75,000 pods.
pub const EVENT_FRESH: Duration = Duration::from_secs(75);
/// The most events a cache keeps however fresh they are: upstream's largest watch cache.
pub const MAX_WINDOW: usize = 100 * 1024;

/// Which recent events each cache keeps for watches that resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Kept in any case.
    pub events: usize,
    /// Events younger than this are kept beyond `events`…
    pub fresh: Duration,
    /// …up to this many in all.
    pub max_events: usize,
}

impl Window {
    /// At least `events` events, and every event of the last [`EVENT_FRESH`] up to
    /// [`MAX_WINDOW`].
    pub fn sized(events: usize) -> Window {
        Window {
            events: events.max(1),
            fresh: EVENT_FRESH,
            max_events: MAX_WINDOW.max(events),
        }
    }

    /// Exactly the last `events` events, whatever their age.
    pub fn fixed(events: usize) -> Window {
        Window {
            events: events.max(1),
            fresh: Duration::ZERO,
            max_events: events.max(1),
        }
    }
}

/// How many events may wait for one slow watcher before it is dropped.
const FANOUT_CAPACITY: usize = 4_096;

/// One object as the cache holds it.
#[derive(Debug)]
pub struct Entry {
    /// The store key.
    pub key: String,
    /// The object as served (resource version included).
    pub bytes: Bytes,
    /// Its resource version.
    pub rv: i64,
    /// `metadata.labels`, shared with the object's earlier versions while they are unchanged.
    pub labels: Arc<BTreeMap<String, String>>,
    /// Selectable fields: `metadata.name`, `metadata.namespace` and the
    /// kind's own.
    pub fields: Vec<(&'static str, String)>,
}

impl Entry {
    pub(crate) fn from_stored(
        key: String,
        info: &ResourceInfo,
        stored: &[u8],
        rv: i64,
    ) -> Option<Self> {
        // Only what is indexed is read: the feed decodes every event of every resource.
        let obj = object::skeleton(stored).ok()?;
        let mut fields = vec![
            (
                "metadata.name",
                object::meta_str(&obj, "name").unwrap_or("").to_owned(),
            ),
            (
                "metadata.namespace",
                object::meta_str(&obj, "namespace").unwrap_or("").to_owned(),
            ),
        ];
        fields.extend(strategy::for_resource(info).fields(&obj));
        Some(Entry {
            key,
            bytes: object::with_resource_version(stored, rv),
            rv,
            labels: Arc::new(object::labels(&obj)),
            fields,
        })
    }

    /// This version with the labels of `earlier` when they are the same, so that the versions
    /// an object goes through (kept in the event window) hold its labels once.
    fn sharing_labels_with(mut self, earlier: Option<&Entry>) -> Self {
        if let Some(earlier) = earlier
            && earlier.labels == self.labels
        {
            self.labels = earlier.labels.clone();
        }
        self
    }

    /// The value of a selectable field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Deleted (the entry is the last state, at the deletion's revision).
    Deleted,
}

/// One change, with the object's state before it.
#[derive(Debug)]
pub struct CacheEvent {
    /// The kind of change.
    pub change: Change,
    /// The object after the change (for deletes: as it was, at the delete's revision).
    pub entry: Arc<Entry>,
    /// The object before the change.
    pub prev: Option<Arc<Entry>>,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<String, Arc<Entry>>,
    /// With the time each was applied.
    events: VecDeque<(Instant, Arc<CacheEvent>)>,
    /// Watches can resume from any revision at or after this one.
    window_start: i64,
}

impl State {
    /// The objects whose keys start with `prefix`, from `from` on (in key order).
    fn under(&self, prefix: &str, from: Bound<&str>) -> Vec<Arc<Entry>> {
        self.objects
            .range::<str, _>((from, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, e)| e.clone())
            .collect()
    }
}

/// The cache of one resource.
#[derive(Debug)]
pub struct ResourceCache {
    info: &'static ResourceInfo,
    /// Which recent events are kept for resuming watches.
    window: Window,
    state: RwLock<State>,
    fanout: broadcast::Sender<Arc<CacheEvent>>,
}

/// A consistent view for a new watch: the state, the events after a
/// revision, and the live feed from there.
pub struct Subscription {
    /// Objects at `rv` under the prefix (when asked for).
    pub objects: Vec<Arc<Entry>>,
    /// Buffered events after the asked revision.
    pub backlog: Vec<Arc<CacheEvent>>,
    /// Later events.
    pub live: broadcast::Receiver<Arc<CacheEvent>>,
}

/// Why a watch cannot start from a revision.
#[derive(Debug)]
pub struct TooOld {
    /// The oldest revision a watch can start from.
    pub oldest: i64,
}

impl ResourceCache {
    fn new(info: &'static ResourceInfo, window: Window) -> Self {
        ResourceCache {
            info,
            window,
            state: RwLock::new(State::default()),
            fanout: broadcast::channel(FANOUT_CAPACITY).0,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes from revision `after` (events with a greater revision),
    /// or with the state under `prefix` (at the returned revision) when
    /// `with_state`.
    pub fn subscribe(
        &self,
        prefix: &str,
        after: i64,
        with_state: bool,
        progress: &Caches,
    ) -> Result<(Subscription, i64), TooOld> {
        let state = self.read();
        let rev = progress.revision();
        // Subscribing under the lock: the dispatcher sends under the write lock.
        let live = self.fanout.subscribe();
        if !with_state && after < state.window_start {
            return Err(TooOld {
                oldest: state.window_start,
            });
        }
        let objects = if with_state {
            state.under(prefix, Bound::Included(prefix))
        } else {
            Vec::new()
        };
        let backlog = if with_state {
            Vec::new()
        } else {
            state
                .events
                .iter()
                .map(|(_, e)| e)
                .filter(|e| e.entry.rv > after && e.entry.key.starts_with(prefix))
                .cloned()
                .collect()
        };
        Ok((
            Subscription {
                objects,
                backlog,
                live,
            },
            rev,
        ))
    }

    /// Applies an event and, still under the lock, reports the revision as
    /// reached, so readers see objects and revision consistently.
    fn apply(&self, event: CacheEvent, progress: &watch::Sender<i64>) {
        let event = Arc::new(event);
        let mut state = self.write();
        match event.change {
            Change::Deleted => state.objects.remove(&event.entry.key),
            _ => state
                .objects
                .insert(event.entry.key.clone(), event.entry.clone()),
        };
        let now = Instant::now();
        while state.events.len() >= self.window.events
            && let Some((at, oldest)) = state.events.front()
            && (state.events.len() >= self.window.max_events
                || now.duration_since(*at) >= self.window.fresh)
        {
            state.window_start = oldest.entry.rv;
            state.events.pop_front();
        }
        state.events.push_back((now, event.clone()));
        let rev = event.entry.rv;
        let _ = self.fanout.send(event);
        progress.send_replace(rev);
    }

    /// How many objects the cache holds now.
    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    /// Whether the cache holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One object as the cache last saw it (possibly behind the store).
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        self.read().objects.get(key).cloned()
    }

    /// The objects under `prefix` after the key `start_after`, if they are the same now as
    /// at revision `rev`: the cache has seen `rev`, its event window reaches back to `rev`,
    /// and no event of this resource came after it. `None` when that cannot be told.
    pub fn unchanged_since(
        &self,
        prefix: &str,
        start_after: &str,
        rev: i64,
        progress: &Caches,
    ) -> Option<Vec<Arc<Entry>>> {
        let state = self.read();
        let unchanged = progress.revision() >= rev
            && rev >= state.window_start
            && state.events.back().is_none_or(|(_, e)| e.entry.rv <= rev);
        unchanged.then(|| state.under(prefix, Bound::Excluded(start_after)))
    }

    /// The objects under `prefix` and the revision they are consistent at.
    pub fn snapshot_at(&self, prefix: &str, progress: &Caches) -> (Vec<Arc<Entry>>, i64) {
        let state = self.read();
        let rev = progress.revision();
        (state.under(prefix, Bound::Included(prefix)), rev)
    }
}

/// Every resource's cache, and the revision they have all caught up to.
pub struct Caches {
    /// Caches by their resource's key prefix (`/registry/pods/`, `/registry/<group>/<plural>/`).
    by_prefix: RwLock<HashMap<String, Arc<ResourceCache>>>,
    progress: watch::Sender<i64>,
    /// Requests to add a cache, served by the feed between two events.
    additions: mpsc::UnboundedSender<Addition>,
}

/// A cache to add for a resource that became served, and who waits for it.
struct Addition {
    info: &'static ResourceInfo,
    done: oneshot::Sender<rkube_store::Result<()>>,
}

/// The loop that applies the store's events to the caches, on its own thread. It holds the
/// caches weakly: when they are dropped it ends, and the store watch with it.
struct Feed {
    caches: std::sync::Weak<Caches>,
    store: Arc<dyn Store>,
    window: Window,
    added: mpsc::UnboundedReceiver<Addition>,
}

impl Feed {
    /// Watches the store from after `rev` (the revision the caches were filled at), reports
    /// on `started` whether the watch began, then applies events until the caches or the
    /// watch end.
    async fn run(mut self, rev: i64, started: oneshot::Sender<rkube_store::Result<()>>) {
        // The store's own watch task is spawned here, on this thread's runtime.
        let mut stream = match self.store.watch("/registry/", rev + 1).await {
            Ok(stream) => {
                let _ = started.send(Ok(()));
                stream
            }
            Err(err) => {
                let _ = started.send(Err(err));
                return;
            }
        };
        loop {
            tokio::select! {
                biased;
                addition = self.added.recv() => {
                    // `None`: the caches were dropped.
                    let Some(addition) = addition else { break };
                    let Some(caches) = self.caches.upgrade() else { break };
                    let result = caches
                        .add_now(self.store.as_ref(), addition.info, self.window)
                        .await;
                    let _ = addition.done.send(result);
                }
                item = stream.recv() => match item {
                    Some(Ok(event)) => {
                        let Some(caches) = self.caches.upgrade() else { break };
                        caches.dispatch(event);
                    }
                    Some(Err(err)) => {
                        // Without its feed the cache would serve stale data.
                        tracing::error!(%err, "the watch cache lost its store watch");
                        break;
                    }
                    None => break,
                },
            }
        }
    }
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("resources", &self.read_map().len())
            .field("revision", &*self.progress.borrow())
            .finish()
    }
}

/// The key prefixes a key may belong to: `/registry/<a>/` (built-in resources) and
/// `/registry/<a>/<b>/` (custom resources, under their group).
fn prefixes(key: &str) -> impl Iterator<Item = &str> {
    const ROOT: usize = "/registry/".len();
    let first = key
        .get(ROOT..)
        .and_then(|rest| rest.find('/'))
        .map(|i| ROOT + i + 1);
    let second = first.and_then(|f| key[f..].find('/').map(|i| f + i + 1));
    [first, second]
        .into_iter()
        .flatten()
        .map(move |end| &key[..end])
}

impl Caches {
    /// Fills every cache from the store and keeps them fed by one watch; each keeps its
    /// last `window` events for watches that resume.
    pub async fn start(store: Arc<dyn Store>, window: Window) -> rkube_store::Result<Arc<Self>> {
        let mut by_prefix = HashMap::new();
        for info in BUILTIN.iter().filter(|i| i.stored) {
            by_prefix
                .entry(info.key_prefix())
                .or_insert_with(|| Arc::new(ResourceCache::new(info, window)));
        }
        let rev = fill(store.as_ref(), &by_prefix, "/registry/", 0).await?;
        for cache in by_prefix.values() {
            cache.write().window_start = rev;
        }
        let (additions, added) = mpsc::unbounded_channel::<Addition>();
        let caches = Arc::new(Caches {
            by_prefix: RwLock::new(by_prefix),
            progress: watch::Sender::new(rev),
            additions,
        });
        let (started, start) = oneshot::channel();
        let feed = Feed {
            caches: Arc::downgrade(&caches),
            store,
            window,
            added,
        };
        // The feed runs on its own thread. On the request runtime it was one task among
        // hundreds of busy ones: at 5,000 nodes it got through ~470 events/s while the store
        // took ~750 writes/s, though it needs little CPU, and every consistent read and
        // resumed watch then waited on it. Its own thread gets its share from the OS.
        let io = |source| rkube_store::Error::Io {
            context: "starting the watch cache feed",
            path: Default::default(),
            source,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io)?;
        std::thread::Builder::new()
            .name("watch-cache-feed".into())
            .spawn(move || runtime.block_on(feed.run(rev, started)))
            .map_err(io)?;
        start.await.map_err(|_| rkube_store::Error::Closed)??;
        Ok(caches)
    }

    fn read_map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<ResourceCache>>> {
        self.by_prefix.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a cache for a resource that became served (a custom resource), filled with the
    /// objects already stored under its prefix, consistent with the events that follow.
    /// Does nothing when the resource has a cache already.
    pub async fn add(&self, info: &'static ResourceInfo) -> Result<(), StatusError> {
        if self.get(info).is_some() {
            return Ok(());
        }
        let stopped = || StatusError::internal_error("the watch cache feed has stopped");
        let (done, wait) = oneshot::channel();
        self.additions
            .send(Addition { info, done })
            .map_err(|_| stopped())?;
        wait.await
            .map_err(|_| stopped())?
            .map_err(|err| StatusError::internal_error(&err.to_string()))
    }

    /// Runs on the feed, between two events: every event up to the current revision is
    /// applied, so a list at that revision and the events after it are consistent.
    async fn add_now(
        &self,
        store: &dyn Store,
        info: &'static ResourceInfo,
        window: Window,
    ) -> rkube_store::Result<()> {
        let prefix = info.key_prefix();
        if self.read_map().contains_key(&prefix) {
            return Ok(());
        }
        let rev = self.revision();
        let cache = Arc::new(ResourceCache::new(info, window));
        let mut one = HashMap::new();
        one.insert(prefix.clone(), cache.clone());
        fill(store, &one, &prefix, rev).await?;
        cache.write().window_start = rev;
        self.by_prefix
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(prefix, cache);
        Ok(())
    }

    /// Drops the cache of a resource no longer served (a deleted custom resource).
    pub fn remove(&self, info: &ResourceInfo) {
        self.by_prefix
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&info.key_prefix());
    }

    /// The cache of a resource.
    pub fn get(&self, info: &ResourceInfo) -> Option<Arc<ResourceCache>> {
        self.read_map().get(&info.key_prefix()).cloned()
    }

    /// How many objects each cached resource holds now, by resource (one entry per cache,
    /// whichever of its versions it was made for).
    pub fn object_counts(&self) -> Vec<(&'static ResourceInfo, usize)> {
        let caches: Vec<Arc<ResourceCache>> = self.read_map().values().cloned().collect();
        caches.iter().map(|c| (c.info, c.len())).collect()
    }

    fn for_key(&self, key: &str) -> Option<Arc<ResourceCache>> {
        let map = self.read_map();
        prefixes(key).find_map(|p| map.get(p).cloned())
    }

    /// The revision every cache has caught up to.
    pub fn revision(&self) -> i64 {
        *self.progress.borrow()
    }

    /// Waits until the caches have seen revision `rev`, at most `limit`.
    pub async fn wait_for(&self, rev: i64, limit: std::time::Duration) -> bool {
        let mut progress = self.progress.subscribe();
        tokio::time::timeout(limit, progress.wait_for(|seen| *seen >= rev))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn dispatch(&self, event: rkube_store::WatchEvent) {
        let rev = event.kv.mod_revision;
        let Some(cache) = self.for_key(&event.kv.key) else {
            self.progress.send_replace(rev);
            return;
        };
        let info = cache.info;
        // The state before the change is normally the cache's current entry (this feed is its
        // only writer): shared, not decoded a second time.
        let current = cache.get(&event.kv.key);
        let prev = event.prev.as_ref().and_then(|p| match &current {
            Some(entry) if entry.rv == p.mod_revision => Some(entry.clone()),
            _ => Entry::from_stored(p.key.clone(), info, &p.value, p.mod_revision).map(Arc::new),
        });
        let (change, entry) = match event.kind {
            EventKind::Put => {
                let change = if event.kv.version == 1 {
                    Change::Added
                } else {
                    Change::Modified
                };
                (
                    change,
                    Entry::from_stored(event.kv.key, info, &event.kv.value, rev),
                )
            }
            EventKind::Delete => {
                let entry = event
                    .prev
                    .and_then(|p| Entry::from_stored(p.key, info, &p.value, rev));
                (Change::Deleted, entry)
            }
        };
        match entry {
            Some(entry) => cache.apply(
                CacheEvent {
                    change,
                    entry: Arc::new(entry.sharing_labels_with(prev.as_deref())),
                    prev,
                },
                &self.progress,
            ),
            None => {
                tracing::warn!(rev, "skipping an undecodable object in the watch cache");
                self.progress.send_replace(rev);
            }
        }
    }
}

/// Loads the caches from the store's keys under `prefix`, at `revision` (0: the
/// current one); returns the revision of the load.
async fn fill(
    store: &dyn Store,
    by_prefix: &HashMap<String, Arc<ResourceCache>>,
    prefix: &str,
    revision: i64,
) -> rkube_store::Result<i64> {
    let mut req = ListRequest {
        prefix: prefix.to_owned(),
        limit: 1_000,
        revision,
        ..ListRequest::default()
    };
    loop {
        let page = store.list(req.clone()).await?;
        req.revision = page.revision;
        for kv in &page.kvs {
            if let Some(cache) = prefixes(&kv.key).find_map(|p| by_prefix.get(p))
                && let Some(entry) =
                    Entry::from_stored(kv.key.clone(), cache.info, &kv.value, kv.mod_revision)
            {
                cache
                    .write()
                    .objects
                    .insert(kv.key.clone(), Arc::new(entry));
            }
        }
        match (page.more, page.kvs.last()) {
            (true, Some(last)) => req.start_after = Some(last.key.clone()),
            _ => return Ok(page.revision),
        }
    }
}

#[cfg(test)]
mod tests;
