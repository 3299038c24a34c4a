//! Shared informers: one watch per kind for all controllers, an in-memory copy of every object
//! of that kind, and change callbacks that controllers use to enqueue keys.

use k8s_openapi::serde::de::DeserializeOwned;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Resource, ResourceExt};
use std::any::{Any, TypeId};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use tokio::sync::watch;
use tokio_stream::StreamExt;

/// What happened to an object, as a callback sees it.
pub enum Change<'a, K> {
    /// It appeared (or was listed at start).
    Added(&'a Arc<K>),
    /// It changed from `old` to `new`.
    Updated {
        /// The previous version.
        old: &'a Arc<K>,
        /// The new version.
        new: &'a Arc<K>,
    },
    /// It is gone (its last known version).
    Deleted(&'a Arc<K>),
}

impl<'a, K> Change<'a, K> {
    /// The object the change is about (the new version of an update).
    pub fn object(&self) -> &'a Arc<K> {
        match self {
            Change::Added(o) | Change::Deleted(o) => o,
            Change::Updated { new, .. } => new,
        }
    }
}

type Handler<K> = Box<dyn Fn(Change<'_, K>) + Send + Sync>;

/// The key controllers use for an object: `namespace/name`, or `name` for cluster-scoped ones.
pub fn key_of<K: Resource>(obj: &K) -> String {
    match obj.meta().namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{}", obj.meta().name.as_deref().unwrap_or("")),
        _ => obj.meta().name.clone().unwrap_or_default(),
    }
}

/// Splits a key into namespace (empty for cluster-scoped) and name.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

struct Inner<K> {
    objects: RwLock<BTreeMap<String, Arc<K>>>,
    /// Kept in step with `objects`: written only while `objects` is write-locked.
    indexes: RwLock<Vec<Index<K>>>,
    handlers: RwLock<Vec<Handler<K>>>,
    synced: watch::Sender<bool>,
}

/// The name of the index that groups objects by their controller: the controller's uid, or
/// `orphan/<namespace>` for objects without one (see [`by_controller`]).
pub const BY_CONTROLLER: &str = "controller";

/// An object's value in the [`BY_CONTROLLER`] index: its controller's uid, or
/// `orphan/<namespace>` (uids hold no `/`).
pub fn by_controller<K: Resource>(obj: &K) -> String {
    match rkube_api::meta::controller_of(obj.meta()) {
        Some(owner) => owner.uid.clone(),
        None => format!("orphan/{}", obj.meta().namespace.as_deref().unwrap_or("")),
    }
}

/// A secondary index: the keys of the objects grouped by a value computed from each.
struct Index<K> {
    name: &'static str,
    value_of: fn(&K) -> String,
    members: HashMap<String, BTreeSet<String>>,
}

impl<K> Index<K> {
    /// Moves `key` from `old`'s group to `new`'s (either may be absent).
    fn update(&mut self, key: &str, old: Option<&K>, new: Option<&K>) {
        let old = old.map(self.value_of);
        let new = new.map(self.value_of);
        if old == new {
            return;
        }
        if let Some(old) = old
            && let Some(group) = self.members.get_mut(&old)
        {
            group.remove(key);
            if group.is_empty() {
                self.members.remove(&old);
            }
        }
        if let Some(new) = new {
            self.members.entry(new).or_default().insert(key.to_owned());
        }
    }
}

/// The cached objects of one kind, kept current by a watch.
pub struct Informer<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Informer {
            inner: self.inner.clone(),
        }
    }
}

impl<K> Default for Informer<K> {
    fn default() -> Self {
        Informer {
            inner: Arc::new(Inner {
                objects: RwLock::new(BTreeMap::new()),
                indexes: RwLock::new(Vec::new()),
                handlers: RwLock::new(Vec::new()),
                synced: watch::channel(false).0,
            }),
        }
    }
}

impl<K> Informer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    /// The object with this key (`namespace/name` or `name`).
    pub fn get(&self, key: &str) -> Option<Arc<K>> {
        self.read().get(key).cloned()
    }

    /// The object `name` in `namespace` (empty for cluster-scoped).
    pub fn get_in(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        if namespace.is_empty() {
            self.get(name)
        } else {
            self.get(&format!("{namespace}/{name}"))
        }
    }

    /// Every cached object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().values().cloned().collect()
    }

    /// The cached objects of one namespace.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        let start = format!("{namespace}/");
        // '0' follows '/' in ASCII: the range covers exactly the keys with this prefix.
        let end = format!("{namespace}0");
        self.read()
            .range(start..end)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Keeps an index named `name` of the objects by `value_of` from now on (nothing when
    /// one of that name exists): [`Informer::by_index`] then finds a group without a pass
    /// over every object.
    pub fn add_index(&self, name: &'static str, value_of: fn(&K) -> String) {
        let objects = self.read();
        let mut indexes = self.write_indexes();
        if indexes.iter().any(|i| i.name == name) {
            return;
        }
        let mut index = Index {
            name,
            value_of,
            members: HashMap::new(),
        };
        for (key, obj) in objects.iter() {
            index.update(key, None, Some(obj));
        }
        indexes.push(index);
    }

    /// The objects whose value in index `name` is `value` (none when there is no such index).
    pub fn by_index(&self, name: &str, value: &str) -> Vec<Arc<K>> {
        let keys: Vec<String> = {
            let indexes = self
                .inner
                .indexes
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let group = indexes
                .iter()
                .find(|i| i.name == name)
                .and_then(|i| i.members.get(value));
            group.into_iter().flatten().cloned().collect()
        };
        let objects = self.read();
        keys.iter()
            .filter_map(|k| objects.get(k).cloned())
            .collect()
    }

    /// The objects of `namespace` a controller with this uid may own: those it controls and
    /// those no one controls (what it may adopt), from the [`BY_CONTROLLER`] index.
    pub fn owned_or_orphaned(&self, namespace: &str, controller_uid: &str) -> Vec<Arc<K>> {
        let mut objects = self.by_index(BY_CONTROLLER, controller_uid);
        objects.retain(|o| o.meta().namespace.as_deref().unwrap_or("") == namespace);
        objects.extend(self.by_index(BY_CONTROLLER, &format!("orphan/{namespace}")));
        objects
    }

    /// How many objects are cached.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Calls `handler` on every change from now on (register before the informer starts to see
    /// the initial list as additions).
    pub fn on_change(&self, handler: impl Fn(Change<'_, K>) + Send + Sync + 'static) {
        self.inner
            .handlers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(handler));
    }

    /// Waits until the first complete list has been loaded.
    pub async fn wait_synced(&self) {
        let mut rx = self.inner.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Whether the first complete list has been loaded.
    pub fn synced(&self) -> bool {
        *self.inner.synced.borrow()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<K>>> {
        self.inner
            .objects
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write_indexes(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Index<K>>> {
        self.inner
            .indexes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn notify(&self, change: Change<'_, K>) {
        let handlers = self
            .inner
            .handlers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        for handler in handlers.iter() {
            handler(match &change {
                Change::Added(o) => Change::Added(o),
                Change::Updated { old, new } => Change::Updated { old, new },
                Change::Deleted(o) => Change::Deleted(o),
            });
        }
    }

    /// Puts `new` (or nothing) under `key`, indexes included; returns what was there.
    fn replace(&self, key: &str, new: Option<&Arc<K>>) -> Option<Arc<K>> {
        let mut objects = self
            .inner
            .objects
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let old = match new {
            Some(new) => objects.insert(key.to_owned(), new.clone()),
            None => objects.remove(key),
        };
        for index in self.write_indexes().iter_mut() {
            index.update(key, old.as_deref(), new.map(Arc::as_ref));
        }
        old
    }

    fn upsert(&self, obj: K) {
        let key = key_of(&obj);
        let new = Arc::new(obj);
        match self.replace(&key, Some(&new)) {
            Some(old) => {
                if old.resource_version() != new.resource_version() {
                    self.notify(Change::Updated {
                        old: &old,
                        new: &new,
                    });
                }
            }
            None => self.notify(Change::Added(&new)),
        }
    }

    fn remove(&self, key: &str) {
        let old = self.replace(key, None);
        if let Some(old) = old {
            self.notify(Change::Deleted(&old));
        }
    }

    /// Puts an object into the cache as if a watch had delivered it (for tests of controllers).
    pub fn insert_for_test(&self, obj: K) {
        self.upsert(obj);
    }

    /// Watches `api` and keeps the cache current until the task is aborted.
    async fn run(self, api: Api<K>) {
        // As upstream's informers do: managedFields are not kept in memory (no controller reads
        // them, and they can be the bigger part of an object). Absent, not empty: an object
        // written back with `managedFields: []` would clear the stored entries.
        let mut stream = Box::pin(
            watcher::watcher(api, watcher::Config::default())
                .default_backoff()
                .modify(|obj| obj.meta_mut().managed_fields = None),
        );
        let mut relisted: HashSet<String> = HashSet::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Init) => relisted.clear(),
                Ok(Event::InitApply(obj)) => {
                    relisted.insert(key_of(&obj));
                    self.upsert(obj);
                }
                Ok(Event::InitDone) => {
                    // Objects deleted while the watch was down: gone from the new list.
                    let stale: Vec<String> = self
                        .read()
                        .keys()
                        .filter(|k| !relisted.contains(*k))
                        .cloned()
                        .collect();
                    for key in stale {
                        self.remove(&key);
                    }
                    relisted = HashSet::new();
                    tracing::debug!(kind = %K::kind(&K::DynamicType::default()), objects = self.len(), "informer synced");
                    self.inner.synced.send_replace(true);
                }
                Ok(Event::Apply(obj)) => self.upsert(obj),
                Ok(Event::Delete(obj)) => self.remove(&key_of(&obj)),
                Err(err) => {
                    tracing::warn!(kind = %K::kind(&K::DynamicType::default()), %err, "watch")
                }
            }
        }
    }
}

/// The informers of one controller manager: at most one per kind, shared by every controller
/// that asks for it, started together.
#[derive(Clone)]
pub struct Informers {
    client: kube::Client,
    by_type: Arc<Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>>,
    starters: Arc<Mutex<Vec<Starter>>>,
}

type Starter = Box<dyn FnOnce() -> (tokio::task::JoinHandle<()>, SyncWait) + Send>;
type SyncWait = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Informers {
    /// Informers reading through `client`.
    pub fn new(client: kube::Client) -> Informers {
        Informers {
            client,
            by_type: Arc::default(),
            starters: Arc::default(),
        }
    }

    /// The shared informer of kind `K` (made on first use, started by [`Informers::start`]).
    pub fn get<K>(&self) -> Informer<K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default,
    {
        let mut by_type = self.by_type.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = by_type
            .get(&TypeId::of::<K>())
            .and_then(|b| b.downcast_ref::<Informer<K>>())
        {
            return existing.clone();
        }
        let informer = Informer::<K>::default();
        by_type.insert(TypeId::of::<K>(), Box::new(informer.clone()));
        let (started, client) = (informer.clone(), self.client.clone());
        self.starters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(move || {
                let waiter = started.clone();
                let task = tokio::spawn(started.run(Api::all(client)));
                (task, Box::pin(async move { waiter.wait_synced().await }))
            }));
        informer
    }

    /// Starts every informer asked for so far and waits until each has listed once; the tasks
    /// run until aborted.
    pub async fn start(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let starters: Vec<Starter> =
            std::mem::take(&mut *self.starters.lock().unwrap_or_else(PoisonError::into_inner));
        let mut tasks = Vec::new();
        let mut waits = Vec::new();
        for start in starters {
            let (task, wait) = start();
            tasks.push(task);
            waits.push(wait);
        }
        for wait in waits {
            wait.await;
        }
        tasks
    }

    /// The client the informers read with.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(ns: &str, name: &str, rv: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn namespace_listing_and_changes() {
        let informer = Informer::<Pod>::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        informer.on_change(move |c| {
            log.lock().unwrap().push(match c {
                Change::Added(p) => format!("add {}", key_of(p.as_ref())),
                Change::Updated { new, .. } => format!("update {}", key_of(new.as_ref())),
                Change::Deleted(p) => format!("delete {}", key_of(p.as_ref())),
            })
        });
        informer.upsert(pod("a", "x", "1"));
        informer.upsert(pod("a", "x", "1"));
        informer.upsert(pod("a", "x", "2"));
        informer.upsert(pod("ab", "y", "3"));
        informer.upsert(pod("a0", "z", "3"));
        assert_eq!(informer.list_namespace("a").len(), 1);
        assert_eq!(informer.list_namespace("ab").len(), 1);
        informer.remove("a/x");
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "add a/x",
                "update a/x",
                "add ab/y",
                "add a0/z",
                "delete a/x"
            ]
        );
        assert_eq!(split_key("a/x"), ("a", "x"));
        assert_eq!(split_key("node"), ("", "node"));
    }

    fn owned(mut pod: Pod, uid: &str) -> Pod {
        pod.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                uid: uid.into(),
                controller: Some(true),
                ..Default::default()
            },
        ]);
        pod
    }

    fn names(pods: Vec<Arc<Pod>>) -> Vec<String> {
        let mut names: Vec<String> = pods.iter().map(|p| key_of(p.as_ref())).collect();
        names.sort();
        names
    }

    #[test]
    fn the_controller_index_follows_adoption_release_and_deletion() {
        let informer = Informer::<Pod>::default();
        informer.upsert(owned(pod("a", "before", "1"), "rs-1"));
        // An index added late covers what is cached already.
        informer.add_index(BY_CONTROLLER, by_controller::<Pod>);
        informer.upsert(pod("a", "orphan", "2"));
        informer.upsert(pod("b", "elsewhere", "3"));
        informer.upsert(owned(pod("a", "other", "4"), "rs-2"));
        assert_eq!(
            names(informer.owned_or_orphaned("a", "rs-1")),
            ["a/before", "a/orphan"]
        );
        // Adopted: it leaves the orphans.
        informer.upsert(owned(pod("a", "orphan", "5"), "rs-1"));
        assert_eq!(
            names(informer.owned_or_orphaned("a", "rs-1")),
            ["a/before", "a/orphan"]
        );
        assert_eq!(names(informer.owned_or_orphaned("a", "rs-2")), ["a/other"]);
        // Released: an orphan again, for every controller of the namespace.
        informer.upsert(pod("a", "before", "6"));
        assert_eq!(
            names(informer.owned_or_orphaned("a", "rs-2")),
            ["a/before", "a/other"]
        );
        informer.remove("a/before");
        informer.remove("a/orphan");
        assert_eq!(
            names(informer.owned_or_orphaned("a", "rs-1")),
            Vec::<String>::new()
        );
        assert_eq!(
            names(informer.owned_or_orphaned("b", "rs-1")),
            ["b/elsewhere"]
        );
        assert!(informer.by_index("no-such-index", "rs-2").is_empty());
    }
}
