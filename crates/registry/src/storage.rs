//! One generic storage for every kind: the order of steps of each verb
//! lives here, the kind-specific parts in [`crate::strategy`].
//!
//! Writes and single-object reads go to the store; lists and watches are
//! served from the watch caches (see [`crate::cache`]) with upstream's
//! resourceVersion rules.

mod bind;
mod delete;
mod list;
mod update;
mod watch;

pub use delete::DeleteOptions;
pub use list::{Filter, ListOptions, ListResult};
pub use watch::{WatchEventType, WatchItem, WatchOptions};

use crate::alloc::Allocator;
use crate::cache::Caches;
use crate::custom::{self, CustomResources};
use crate::kinds::{self, ResourceInfo, Subresource};
use crate::object;
use crate::strategy::{self, Rejection};
use bytes::Bytes;
use rkube_api::status::StatusError;
use rkube_patch::apply::{Manager, Supplied, track_create};
use rkube_store::Store;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Upstream's limit on a stored object (etcd's default request limit).
pub const MAX_OBJECT_BYTES: usize = 1_572_864;
/// How long Events live, as upstream's `--event-ttl`.
pub const EVENT_TTL: Duration = Duration::from_secs(3600);

/// The storage behind every resource.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn Store>,
    caches: Arc<Caches>,
    allocator: Allocator,
    custom: Arc<CustomResources>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("caches", &self.caches)
            .field("allocator", &self.allocator)
            .finish_non_exhaustive()
    }
}

/// The current time as upstream writes timestamps (RFC 3339, seconds).
pub fn now() -> Value {
    Value::from(rkube_api::time::now_rfc3339())
}

fn rejection(info: &ResourceInfo, name: &str, rejection: Rejection) -> StatusError {
    match rejection {
        Rejection::Decode(message) => StatusError::bad_request(&message),
        Rejection::Invalid(errors) => StatusError::invalid(&info.group_kind(), name, &errors),
    }
}

fn internal(err: impl std::fmt::Display) -> StatusError {
    StatusError::internal_error(&err.to_string())
}

/// Random lowercase letters and digits, as upstream's name generator uses.
fn random_suffix(len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .take(len)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Checks (and fills in when missing) `apiVersion` and `kind` of a body, with upstream's
/// messages for a body of another version or kind.
pub fn check_type(info: &ResourceInfo, obj: &mut Value) -> Result<(), StatusError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(StatusError::bad_request("the body is not a JSON object"));
    };
    let expected = info.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), Value::from(expected));
        }
        Some(v) if v == expected => {}
        Some(v) => {
            return Err(StatusError::bad_request(&format!(
                "the API version in the data ({v}) does not match the expected API version ({expected})"
            )));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), Value::from(info.kind));
        }
        Some(k) if k == info.kind => {}
        Some(k) => {
            return Err(StatusError::bad_request(&format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                info.kind
            )));
        }
    }
    Ok(())
}

/// Puts the request's namespace into the object, refusing a different one.
fn check_namespace(
    info: &ResourceInfo,
    namespace: Option<&str>,
    obj: &mut Value,
) -> Result<(), StatusError> {
    let meta = object::meta_mut(obj);
    if !info.namespaced {
        meta.remove("namespace");
        return Ok(());
    }
    let Some(ns) = namespace else {
        return Ok(());
    };
    match meta.get("namespace").and_then(Value::as_str) {
        None | Some("") => {
            meta.insert("namespace".into(), Value::from(ns));
            Ok(())
        }
        Some(given) if given == ns => Ok(()),
        Some(_) => Err(StatusError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
    }
}

/// Everything but `metadata` and `status`: what `generation` counts.
fn spec_part(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(map) = obj.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    obj
}

impl Storage {
    /// The store revision the watch caches have caught up to (every event up to it is in
    /// them).
    pub fn cache_revision(&self) -> i64 {
        self.caches.revision()
    }

    /// Storage over `store`, with its watch caches started (each keeping the recent events
    /// `window` says for resuming watches), allocating Service cluster IPs from `allocator`.
    pub async fn start(
        store: Arc<dyn Store>,
        allocator: Allocator,
        window: crate::cache::Window,
    ) -> rkube_store::Result<Self> {
        let caches = Caches::start(store.clone(), window).await?;
        Ok(Storage {
            store,
            caches,
            allocator,
            custom: Arc::default(),
        })
    }

    /// A served resource by group, version and plural: built-in or custom.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
        kinds::find(group, version, plural)
            .or_else(|| Some(self.custom.find(group, version, plural)?.info))
    }

    /// Every served resource: the built-ins, then the custom ones.
    pub fn served(&self) -> Vec<&'static ResourceInfo> {
        let mut all: Vec<_> = kinds::BUILTIN.iter().collect();
        all.extend(self.custom.all().iter().map(|v| v.info));
        all
    }

    /// How many objects of each stored resource there are now, as the watch caches hold
    /// them (one entry per resource, named by its first served version's info).
    pub fn object_counts(&self) -> Vec<(&'static ResourceInfo, usize)> {
        self.caches.object_counts()
    }

    /// The custom resources served now.
    pub fn custom(&self) -> &CustomResources {
        &self.custom
    }

    /// Serves the resource a CustomResourceDefinition defines, as the CRD says now (its
    /// watch cache is started on first use). Versions no longer served stop.
    pub async fn serve_crd(&self, crd: &Value) -> Result<(), StatusError> {
        let name = object::meta_str(crd, "name").unwrap_or("").to_owned();
        let versions = custom::versions_of(crd);
        if let Some(first) = versions.first() {
            self.caches.add(first.info).await?;
        }
        if versions.is_empty() {
            self.stop_serving_crd(&name);
        } else {
            self.custom.set(&name, versions);
        }
        Ok(())
    }

    /// Stops serving the resource of the CustomResourceDefinition `name`.
    pub fn stop_serving_crd(&self, name: &str) {
        if let Some(gone) = self.custom.remove(name).first() {
            self.caches.remove(gone.info);
        }
    }

    /// For a custom resource: the object checked against its schema and made the storage
    /// version.
    fn admit_custom(
        &self,
        info: &ResourceInfo,
        name: &str,
        obj: &mut Value,
    ) -> Result<(), StatusError> {
        if !info.custom {
            return Ok(());
        }
        let version = self.custom.of(info).ok_or_else(|| {
            StatusError::not_found_message("the server could not find the requested resource")
        })?;
        custom::admit(&version, obj)
            .map_err(|errors| StatusError::invalid(&info.group_kind(), name, &errors))
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The Service IP allocator.
    pub fn allocator(&self) -> &Allocator {
        &self.allocator
    }

    /// Reads one object as served, with its revision.
    pub async fn get_raw(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(Value, i64), StatusError> {
        let kv = self.stored(info, namespace, name).await?;
        let obj = object::decode(&kv.value, kv.mod_revision).map_err(internal)?;
        Ok((obj, kv.mod_revision))
    }

    /// The stored key-value of one object; 404 when there is none.
    async fn stored(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<rkube_store::KeyValue, StatusError> {
        self.store
            .get(&info.key(namespace, name))
            .await
            .map_err(internal)?
            .ok_or_else(|| StatusError::not_found(&info.group_resource(), name))
    }

    /// Reads one object as the watch cache holds it, falling back to the store when the
    /// cache does not have it. The cache may lag the store by a few milliseconds: meant for
    /// the first attempt of a read-modify-write guarded by the revision (a stale read only
    /// costs a retry, as upstream's cached `GuaranteedUpdate`) and for admission checks
    /// that upstream also makes from an informer.
    pub async fn get_cached(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(Value, i64), StatusError> {
        let key = info.key(namespace, name);
        if let Some(entry) = self.caches.get(info).and_then(|c| c.get(&key))
            && let Ok(obj) = object::decode(&entry.bytes, entry.rv)
        {
            return Ok((obj, entry.rv));
        }
        self.get_raw(info, namespace, name).await
    }

    /// A selectable field (one of the kind's field-selector fields) of an object the watch
    /// cache holds; `None` when the cache does not hold the object (or has no such field).
    /// Cheaper than [`Storage::get_cached`] for admission checks that read one field.
    pub fn cached_field(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        field: &str,
    ) -> Option<String> {
        let key = info.key(namespace, name);
        let entry = self.caches.get(info)?.get(&key)?;
        entry.field(field).map(str::to_owned)
    }

    /// Reads one object, as served.
    pub async fn get(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Bytes, StatusError> {
        let kv = self.stored(info, namespace, name).await?;
        Ok(object::with_resource_version(&kv.value, kv.mod_revision))
    }

    /// Creates an object on behalf of `manager`, who then owns every field it sets
    /// (`managedFields`, as upstream tracks every object from its creation; `None` for a
    /// create whose entries are already computed, such as an apply's); returns it as stored
    /// (or as it would be, with `dry_run`).
    pub async fn create(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        mut obj: Value,
        dry_run: bool,
        manager: Option<&Manager>,
    ) -> Result<Bytes, StatusError> {
        check_type(info, &mut obj)?;
        check_namespace(info, namespace, &mut obj)?;
        let supplied = Supplied::of(&obj);
        let tracks_generation = strategy::for_resource(info).tracks_generation();
        let meta = object::meta_mut(&mut obj);
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if name.is_empty()
            && let Some(prefix) = meta.get("generateName").and_then(Value::as_str)
            && !prefix.is_empty()
        {
            let generated = format!("{prefix}{}", random_suffix(5));
            meta.insert("name".into(), Value::from(generated));
        }
        meta.insert("uid".into(), Value::from(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), now());
        for field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta.remove(field);
        }
        if tracks_generation {
            meta.insert("generation".into(), Value::from(1));
        } else {
            meta.remove("generation");
        }
        if info.has(Subresource::Status)
            && let Some(map) = obj.as_object_mut()
        {
            map.remove("status");
        }
        let name = object::meta_str(&obj, "name").unwrap_or("").to_owned();
        let mut obj = strategy::for_resource(info)
            .create(info, obj)
            .map_err(|r| rejection(info, &name, r))?;
        self.admit_custom(info, &name, &mut obj)?;
        if let Some(manager) = manager {
            let custom = self.custom.of(info);
            let shape = custom::apply_shape(info, custom.as_deref());
            let now = rkube_api::time::now_rfc3339();
            track_create(&mut obj, shape, manager, supplied, &now);
        }
        crate::convert::to_stored(info, &mut obj);
        object::drop_empty_meta(&mut obj);
        let claimed = if info.group.is_empty() && info.plural == "services" {
            update::allocate_service(self, &mut obj, None, dry_run).await?
        } else {
            Vec::new()
        };
        let bytes = object::encode(&obj);
        if bytes.len() > MAX_OBJECT_BYTES {
            self.release(claimed).await;
            return Err(StatusError::request_entity_too_large(
                "etcdserver: request is too large",
            ));
        }
        if dry_run {
            return Ok(Bytes::from(bytes));
        }
        let ttl = (info.plural == "events").then_some(EVENT_TTL);
        let key = info.key(namespace, &name);
        match self
            .store
            .create(&key, Bytes::from(bytes.clone()), ttl)
            .await
        {
            Ok(rev) => Ok(object::with_resource_version(&bytes, rev)),
            Err(rkube_store::Error::AlreadyExists { .. }) => {
                self.release(claimed).await;
                Err(StatusError::already_exists(&info.group_resource(), &name))
            }
            Err(err) => {
                self.release(claimed).await;
                Err(internal(err))
            }
        }
    }

    async fn release(&self, claimed: Vec<update::Claim>) {
        for claim in claimed {
            claim.release(self).await;
        }
    }
}
