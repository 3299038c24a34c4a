//! Updates (PUT, status, patches) and Service allocations.

use super::{Storage, bind, check_namespace, check_type, internal, object, rejection, spec_part};
use crate::alloc::AllocError;
use crate::convert;
use crate::kinds::{ResourceInfo, Subresource};
use crate::strategy;
use bytes::Bytes;
use rkube_api::field::{FieldError, Path};
use rkube_api::status::StatusError;
use rkube_patch::apply::{Manager, Supplied, track_update};
use serde_json::Value;
use std::net::Ipv4Addr;

/// The optimistic-concurrency message upstream gives on a stale update.
pub const OPTIMISTIC_LOCK: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// How often an update without a precondition retries on a conflict. Every lost race is
/// another writer's success, so this bounds only pathological contention (upstream retries
/// without limit); 16 was too few for 32 concurrent patches of one object.
const RETRIES: usize = 1000;

/// Something claimed for a Service, released if the write fails.
#[derive(Debug)]
pub enum Claim {
    /// A cluster IP.
    Ip(Ipv4Addr),
    /// A node port.
    Port(u16),
}

impl Claim {
    /// Gives the claim back.
    pub async fn release(self, storage: &Storage) {
        let store = storage.store.as_ref();
        match self {
            Claim::Ip(ip) => storage.allocator.release_ip(store, ip).await,
            Claim::Port(port) => storage.allocator.release_port(store, port).await,
        }
    }
}

fn alloc_error(path: Path, value: Value, err: AllocError) -> StatusError {
    match err {
        AllocError::Store(err) => internal(err),
        other => StatusError::invalid(
            &rkube_api::gvk::GroupKind {
                group: String::new(),
                kind: "Service".to_owned(),
            },
            "",
            &[FieldError::invalid(&path, value, &other.to_string())],
        ),
    }
}

/// Claims the cluster IP and node ports a Service needs (those `old` did
/// not already hold). Claims nothing in a dry run.
pub(super) async fn allocate_service(
    storage: &Storage,
    svc: &mut Value,
    old: Option<&Value>,
    dry_run: bool,
) -> Result<Vec<Claim>, StatusError> {
    let mut claims = Vec::new();
    let store = storage.store.as_ref();
    let spec = &mut svc["spec"];
    let ty = spec["type"].as_str().unwrap_or("ClusterIP").to_owned();
    let held_ip = old
        .and_then(|o| o["spec"]["clusterIP"].as_str())
        .map(str::to_owned);
    let ip = spec["clusterIP"].as_str().unwrap_or("").to_owned();
    if ty != "ExternalName"
        && ip != "None"
        && (held_ip.is_none() || held_ip.as_deref() != Some(&ip))
    {
        let path = Path::new("spec").child("clusterIPs").index(0);
        let chosen = if ip.is_empty() {
            if dry_run {
                None
            } else {
                let ip = storage
                    .allocator
                    .next_ip(store)
                    .await
                    .map_err(|e| alloc_error(path, Value::Null, e))?;
                Some(ip)
            }
        } else {
            let parsed: Ipv4Addr = ip.parse().map_err(|_| {
                alloc_error(
                    path.clone(),
                    Value::from(ip.clone()),
                    AllocError::OutOfRange {
                        range: "the service CIDR".to_owned(),
                    },
                )
            })?;
            if !dry_run {
                storage
                    .allocator
                    .claim_ip(store, parsed)
                    .await
                    .map_err(|e| alloc_error(path, Value::from(ip.clone()), e))?;
            }
            Some(parsed)
        };
        if let Some(chosen) = chosen {
            claims.push(Claim::Ip(chosen));
            spec["clusterIP"] = Value::from(chosen.to_string());
            spec["clusterIPs"] = Value::from(vec![chosen.to_string()]);
        }
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
        let held: Vec<i64> = old
            .and_then(|o| o["spec"]["ports"].as_array())
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(|p| p["nodePort"].as_i64())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(ports) = spec["ports"].as_array_mut() {
            for (i, port) in ports.iter_mut().enumerate() {
                let path = Path::new("spec").child("ports").index(i).child("nodePort");
                match port["nodePort"].as_i64() {
                    Some(n) if held.contains(&n) => {}
                    Some(n) => {
                        let Ok(n16) = u16::try_from(n) else {
                            return Err(alloc_error(path, Value::from(n), AllocError::Full));
                        };
                        if !dry_run {
                            storage
                                .allocator
                                .claim_port(store, n16)
                                .await
                                .map_err(|e| alloc_error(path, Value::from(n), e))?;
                            claims.push(Claim::Port(n16));
                        }
                    }
                    None if !dry_run => {
                        let n = storage
                            .allocator
                            .next_port(store)
                            .await
                            .map_err(|e| alloc_error(path, Value::Null, e))?;
                        claims.push(Claim::Port(n));
                        port["nodePort"] = Value::from(n);
                    }
                    None => {}
                }
            }
        }
    }
    Ok(claims)
}

/// What a Service no longer holds after an update from `old` to `new`.
pub(super) fn released(old: &Value, new: Option<&Value>) -> Vec<Claim> {
    let mut claims = Vec::new();
    let new_ip = new.and_then(|n| n["spec"]["clusterIP"].as_str());
    if let Some(ip) = old["spec"]["clusterIP"].as_str()
        && Some(ip) != new_ip
        && let Ok(ip) = ip.parse()
    {
        claims.push(Claim::Ip(ip));
    }
    let new_ports: Vec<i64> = new
        .and_then(|n| n["spec"]["ports"].as_array())
        .map(|p| p.iter().filter_map(|p| p["nodePort"].as_i64()).collect())
        .unwrap_or_default();
    for port in old["spec"]["ports"].as_array().into_iter().flatten() {
        if let Some(n) = port["nodePort"].as_i64()
            && !new_ports.contains(&n)
            && let Ok(n) = u16::try_from(n)
        {
            claims.push(Claim::Port(n));
        }
    }
    claims
}

/// Applies the generic update rules: identity and system fields come from
/// the stored object; the main resource keeps the stored status, the status
/// subresource changes nothing but the status.
fn merge_update(info: &ResourceInfo, new: Value, old: &Value, sub: Option<Subresource>) -> Value {
    let mut merged = match sub {
        Some(Subresource::Status) => {
            let mut merged = old.clone();
            // Field ownership is recorded by writes to the status too.
            if let Some(managed) = new.pointer("/metadata/managedFields") {
                object::meta_mut(&mut merged).insert("managedFields".into(), managed.clone());
            }
            merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            if merged["status"].is_null()
                && let Some(map) = merged.as_object_mut()
            {
                map.remove("status");
            }
            merged
        }
        Some(Subresource::Finalize) => {
            let mut merged = old.clone();
            merged["spec"]["finalizers"] = new
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or_else(|| Value::Array(Vec::new()));
            merged
        }
        _ => {
            let mut merged = new;
            if info.has(Subresource::Finalize)
                && merged.is_object()
                && merged.get("spec").is_none_or(Value::is_null)
            {
                merged["spec"] = Value::Object(Default::default());
            }
            if info.has(Subresource::Finalize)
                && let Some(spec) = merged.get_mut("spec").and_then(Value::as_object_mut)
            {
                // Only the finalize subresource changes a namespace's finalizers.
                match old.pointer("/spec/finalizers") {
                    Some(finalizers) => spec.insert("finalizers".into(), finalizers.clone()),
                    None => spec.remove("finalizers"),
                };
            }
            if info.has(Subresource::Status)
                && let Some(map) = merged.as_object_mut()
            {
                match old.get("status") {
                    Some(status) => map.insert("status".into(), status.clone()),
                    None => map.remove("status"),
                };
            }
            merged
        }
    };
    let old_meta = object::meta(old).cloned().unwrap_or_default();
    let meta = object::meta_mut(&mut merged);
    // A write that does not mention managedFields keeps them (upstream's nil semantics).
    if !meta.contains_key("managedFields")
        && let Some(managed) = old_meta.get("managedFields")
    {
        meta.insert("managedFields".into(), managed.clone());
    }
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(field) {
            Some(value) => meta.insert(field.into(), value.clone()),
            None => meta.remove(field),
        };
    }
    merged
}

impl Storage {
    /// Replaces an object (PUT), or its status with `sub`, on behalf of `manager` (whose
    /// changes are recorded in `managedFields`).
    #[allow(clippy::too_many_arguments)]
    pub async fn update(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        mut obj: Value,
        sub: Option<Subresource>,
        dry_run: bool,
        manager: Option<&Manager>,
    ) -> Result<Bytes, StatusError> {
        check_type(info, &mut obj)?;
        check_namespace(info, namespace, &mut obj)?;
        match object::meta_str(&obj, "name") {
            Some(n) if n != name => {
                return Err(StatusError::bad_request(&format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            _ => {}
        }
        self.update_with_by(info, namespace, name, sub, dry_run, manager, &mut |_| {
            Ok(obj.clone())
        })
        .await
    }

    /// Reads the object, computes its new state with `change` (called again
    /// after a conflict) and writes it, guarded by the revision it read. A
    /// `metadata.resourceVersion` in the new state is a precondition.
    pub async fn update_with(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        sub: Option<Subresource>,
        dry_run: bool,
        change: &mut (dyn FnMut(&Value) -> Result<Value, StatusError> + Send),
    ) -> Result<Bytes, StatusError> {
        self.update_with_by(info, namespace, name, sub, dry_run, None, change)
            .await
    }

    /// [`Storage::update_with`] on behalf of `manager`: the fields the change sets become
    /// the manager's in `managedFields`, as upstream's field manager records an `Update`
    /// (objects without entries, never tracked or reset by a writer, stay untracked).
    #[allow(clippy::too_many_arguments)]
    pub async fn update_with_by(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        sub: Option<Subresource>,
        dry_run: bool,
        manager: Option<&Manager>,
        change: &mut (dyn FnMut(&Value) -> Result<Value, StatusError> + Send),
    ) -> Result<Bytes, StatusError> {
        let gr = info.group_resource();
        let key = info.key(namespace, name);
        for _ in 0..RETRIES {
            let (mut old, rev) = self.get_raw(info, namespace, name).await?;
            let stored_old = convert::converts(info).then(|| old.clone());
            convert::to_served(info, &mut old);
            let mut new = change(&old)?;
            check_type(info, &mut new)?;
            let supplied = Supplied::of(&new);
            let precondition = object::meta_str(&new, "resourceVersion")
                .filter(|rv| !rv.is_empty())
                .map(str::to_owned);
            if let Some(rv) = &precondition
                && rv.parse::<i64>().ok() != Some(rev)
            {
                return Err(StatusError::conflict(&gr, name, OPTIMISTIC_LOCK));
            }
            let merged = merge_update(info, new, &old, sub);
            let mut obj = strategy::for_resource(info)
                .update(info, merged, &old)
                .map_err(|r| rejection(info, name, r))?;
            self.admit_custom(info, name, &mut obj)?;
            if let Some(manager) = manager {
                let custom = self.custom.of(info);
                let shape = crate::custom::apply_shape(info, custom.as_deref());
                track_update(
                    &old,
                    &mut obj,
                    shape,
                    manager,
                    supplied,
                    &rkube_api::time::now_rfc3339(),
                );
            }
            convert::to_stored(info, &mut obj);
            object::drop_empty_meta(&mut obj);
            if let Some(stored) = stored_old {
                old = stored;
            }
            if strategy::for_resource(info).tracks_generation()
                && spec_part(&obj) != spec_part(&old)
            {
                let generation = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
                object::meta_mut(&mut obj).insert("generation".into(), Value::from(generation));
            }
            let mut old_stored = old.clone();
            object::meta_mut(&mut old_stored).remove("resourceVersion");
            object::meta_mut(&mut obj).remove("resourceVersion");
            if obj == old_stored {
                // Nothing changed: no write, the same resource version.
                return Ok(object::with_resource_version(&object::encode(&old), rev));
            }
            let claims = if info.group.is_empty() && info.plural == "services" {
                allocate_service(self, &mut obj, Some(&old), dry_run).await?
            } else {
                Vec::new()
            };
            let bytes = object::encode(&obj);
            if bytes.len() > super::MAX_OBJECT_BYTES {
                self.release(claims).await;
                return Err(StatusError::request_entity_too_large(
                    "etcdserver: request is too large",
                ));
            }
            if dry_run {
                return Ok(object::with_resource_version(&bytes, rev));
            }
            // Finalizers all removed from an object being deleted: it goes.
            if object::meta_str(&obj, "deletionTimestamp").is_some()
                && !object::has_finalizers(&obj)
                && !super::delete::has_spec_finalizers(info, &obj)
            {
                return match self.store.delete(&key, rev).await {
                    Ok((del_rev, _)) => {
                        self.release(released(&old, None)).await;
                        Ok(object::with_resource_version(&bytes, del_rev))
                    }
                    Err(rkube_store::Error::Conflict { .. }) => continue,
                    Err(rkube_store::Error::NotFound { .. }) => {
                        Err(StatusError::not_found(&gr, name))
                    }
                    Err(err) => Err(internal(err)),
                };
            }
            let ttl = (info.plural == "events").then_some(super::EVENT_TTL);
            match self
                .store
                .update(&key, Bytes::from(bytes.clone()), rev, ttl)
                .await
            {
                Ok(new_rev) => {
                    if info.plural == "services" && info.group.is_empty() {
                        self.release(released(&old, Some(&obj))).await;
                    }
                    return Ok(object::with_resource_version(&bytes, new_rev));
                }
                Err(rkube_store::Error::Conflict { .. }) => {
                    // Read again: a resourceVersion the caller asked for then no longer
                    // matches (409 above); one merely carried over from the object read (a
                    // patch without one) does, and the change is re-applied, as upstream's
                    // GuaranteedUpdate does.
                    self.release(claims).await;
                }
                Err(rkube_store::Error::NotFound { .. }) => {
                    self.release(claims).await;
                    return Err(StatusError::not_found(&gr, name));
                }
                Err(err) => {
                    self.release(claims).await;
                    return Err(internal(err));
                }
            }
        }
        Err(StatusError::conflict(&gr, name, OPTIMISTIC_LOCK))
    }
}

impl Storage {
    /// Binds a pod to a node (`pods/binding`): sets `spec.nodeName` and the
    /// `PodScheduled` condition; a pod already bound is a conflict.
    pub async fn bind_pod(
        &self,
        namespace: Option<&str>,
        name: &str,
        node: &str,
    ) -> Result<(), StatusError> {
        let info = crate::kinds::find("", "v1", "pods").expect("pods are served");
        let gr = info.group_resource();
        let key = info.key(namespace, name);
        for attempt in 0..RETRIES {
            // The first read may come from the watch cache; a refusal is only given on what
            // the store says.
            let cached = attempt == 0;
            // From the cache, the binding edits the encoded pod (`None`: another shape).
            let edited = if cached {
                self.caches
                    .get(info)
                    .and_then(|c| c.get(&key))
                    .and_then(|entry| {
                        Some((bind::bind(&entry.bytes, node, &super::now())?, entry.rv))
                    })
            } else {
                None
            };
            let (bytes, rev) = match edited {
                // Bound or deleting in the cache: the store decides (next attempt).
                Some((bind::Edit::Refused, _)) => continue,
                Some((bind::Edit::Bound(bytes), rev)) => (bytes, rev),
                None => match self
                    .bind_decoded(info, namespace, name, node, cached)
                    .await?
                {
                    Some(edited) => edited,
                    None => continue,
                },
            };
            match self.store.update(&key, Bytes::from(bytes), rev, None).await {
                Ok(_) => return Ok(()),
                Err(rkube_store::Error::Conflict { .. }) => continue,
                Err(rkube_store::Error::NotFound { .. }) => {
                    return Err(StatusError::not_found(&gr, name));
                }
                Err(err) => return Err(internal(err)),
            }
        }
        Err(StatusError::conflict(&gr, name, OPTIMISTIC_LOCK))
    }

    /// The binding on the whole decoded pod, read from the cache when `cached` (else the
    /// store): the stored bytes and the revision they replace; `None` when the cache shows
    /// the pod bound or deleting, so the store must decide.
    async fn bind_decoded(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        node: &str,
        cached: bool,
    ) -> Result<Option<(Vec<u8>, i64)>, StatusError> {
        let gr = info.group_resource();
        let (mut pod, rev) = if cached {
            self.get_cached(info, namespace, name).await?
        } else {
            self.get_raw(info, namespace, name).await?
        };
        let bound = pod["spec"]["nodeName"]
            .as_str()
            .is_some_and(|n| !n.is_empty());
        if cached && (bound || object::meta_str(&pod, "deletionTimestamp").is_some()) {
            return Ok(None);
        }
        if let Some(bound) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            return Err(StatusError::conflict(
                &gr,
                name,
                &format!("pod {name} is already assigned to node \"{bound}\""),
            ));
        }
        if object::meta_str(&pod, "deletionTimestamp").is_some() {
            return Err(StatusError::conflict(
                &gr,
                name,
                &format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        pod["spec"]["nodeName"] = Value::from(node);
        bind::set_scheduled(&mut pod["status"], super::now());
        Ok(Some((object::encode(&pod), rev)))
    }
}
