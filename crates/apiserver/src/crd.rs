//! The CustomResourceDefinition controller inside the API server: serves each CRD's
//! resource as the CRD says, reports it `NamesAccepted` and `Established`, and on
//! deletion removes every object of the resource before letting the CRD go.

use rkube_api::status::StatusError;
use rkube_patch::apply::Manager;
use rkube_registry::storage::{DeleteOptions, ListOptions, WatchEventType, WatchOptions};
use rkube_registry::{ResourceInfo, Storage, Subresource, kinds, object};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The finalizer that holds a deleted CRD until its objects are gone (upstream's name).
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Upstream's CRD controllers write through a client named after the API server.
fn manager(sub: Option<Subresource>) -> Manager {
    let sub = sub.map(|s| s.name());
    Manager::update("kube-apiserver", &crds().api_version(), sub)
}

/// Changes the stored CRD `name` (its status with `sub`) as upstream's CRD controllers do.
async fn write_crd(
    storage: &Storage,
    name: &str,
    sub: Option<Subresource>,
    change: &mut (dyn FnMut(&Value) -> Result<Value, StatusError> + Send),
) -> Result<bytes::Bytes, StatusError> {
    storage
        .update_with_by(crds(), None, name, sub, false, Some(&manager(sub)), change)
        .await
}

fn crds() -> &'static ResourceInfo {
    kinds::find("apiextensions.k8s.io", "v1", "customresourcedefinitions").expect("CRDs are served")
}

fn condition(type_: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": type_, "status": "True", "reason": reason, "message": message,
        "lastTransitionTime": rkube_api::time::now_rfc3339(),
    })
}

/// The status a served CRD reports: its names accepted, established, and its storage
/// version among the stored versions.
fn established_status(crd: &Value) -> Value {
    let mut stored: Vec<Value> = crd["status"]["storedVersions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let Some(storage) = crd["spec"]["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["storage"] == true))
        && !stored.contains(&storage["name"])
    {
        stored.push(storage["name"].clone());
    }
    let mut conditions: Vec<Value> = crd["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (type_, reason, message) in [
        ("NamesAccepted", "NoConflicts", "no conflicts found"),
        (
            "Established",
            "InitialNamesAccepted",
            "the initial names have been accepted",
        ),
    ] {
        if !conditions
            .iter()
            .any(|c| c["type"] == type_ && c["status"] == "True")
        {
            conditions.retain(|c| c["type"] != type_);
            conditions.push(condition(type_, reason, message));
        }
    }
    json!({
        "conditions": conditions,
        "acceptedNames": crd["spec"]["names"],
        "storedVersions": stored,
    })
}

/// Serves every stored CRD's resource; called before the server takes requests, so
/// custom resources are there from the first request after a restart.
pub async fn serve_stored(storage: &Storage) -> Result<(), StatusError> {
    let list = storage.list(crds(), None, &ListOptions::default()).await?;
    for bytes in &list.items {
        if let Ok(crd) = serde_json::from_slice::<Value>(bytes) {
            storage.serve_crd(&crd).await?;
        }
    }
    Ok(())
}

/// Runs the CRD controller until the process ends.
pub fn spawn(storage: Storage) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let cleaning: Arc<Mutex<HashSet<String>>> = Arc::default();
        loop {
            if let Err(err) = watch_crds(&storage, &cleaning).await {
                tracing::warn!(%err, "the CRD controller's watch ended; restarting it");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

async fn watch_crds(
    storage: &Storage,
    cleaning: &Arc<Mutex<HashSet<String>>>,
) -> Result<(), StatusError> {
    let mut events = storage.watch(crds(), None, WatchOptions::default()).await?;
    while let Some(item) = events.recv().await {
        let Ok(crd) = serde_json::from_slice::<Value>(&item.object) else {
            continue;
        };
        let name = object::meta_str(&crd, "name").unwrap_or("").to_owned();
        match item.kind {
            WatchEventType::Added | WatchEventType::Modified => {
                if object::meta_str(&crd, "deletionTimestamp").is_some() {
                    let first = cleaning
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(name.clone());
                    if first {
                        let storage = storage.clone();
                        let cleaning = cleaning.clone();
                        tokio::spawn(async move {
                            clean_up(&storage, &name).await;
                            cleaning
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(&name);
                        });
                    }
                } else if let Err(err) = establish(storage, &crd, &name).await {
                    tracing::warn!(crd = %name, %err, "could not serve a CRD");
                }
            }
            WatchEventType::Deleted => storage.stop_serving_crd(&name),
            WatchEventType::Error => {
                return Err(StatusError::internal_error("the CRD watch failed"));
            }
            WatchEventType::Bookmark => {}
        }
    }
    Ok(())
}

/// Serves the CRD's resource and records that: the cleanup finalizer, then the status.
async fn establish(storage: &Storage, crd: &Value, name: &str) -> Result<(), StatusError> {
    storage.serve_crd(crd).await?;
    let finalizers = crd["metadata"]["finalizers"].as_array();
    if !finalizers.is_some_and(|f| f.iter().any(|x| x == CLEANUP_FINALIZER)) {
        write_crd(storage, name, None, &mut |old: &Value| {
            let mut new = old.clone();
            let meta = object::meta_mut(&mut new);
            let list = meta
                .entry("finalizers")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Some(list) = list.as_array_mut()
                && !list.iter().any(|x| x == CLEANUP_FINALIZER)
            {
                list.push(Value::from(CLEANUP_FINALIZER));
            }
            Ok(new)
        })
        .await?;
    }
    let status = established_status(crd);
    if crd["status"] != status {
        write_crd(
            storage,
            name,
            Some(Subresource::Status),
            &mut |old: &Value| {
                let mut new = old.clone();
                new["status"] = established_status(old);
                Ok(new)
            },
        )
        .await?;
    }
    Ok(())
}

/// Deletes every object of a deleted CRD's resource, then drops the finalizer so the CRD
/// goes; retries until both are done.
async fn clean_up(storage: &Storage, name: &str) {
    loop {
        match remove_objects(storage, name).await {
            Ok(true) => {
                let release = write_crd(storage, name, None, &mut |old: &Value| {
                    let mut new = old.clone();
                    if let Some(list) = new["metadata"]["finalizers"].as_array_mut() {
                        list.retain(|x| x != CLEANUP_FINALIZER);
                    }
                    Ok(new)
                })
                .await;
                match release {
                    Ok(_) => {}
                    Err(err) if err.code == 404 => {}
                    Err(err) => {
                        tracing::warn!(crd = %name, %err, "could not release a deleted CRD");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
                storage.stop_serving_crd(name);
                return;
            }
            Ok(false) => {}
            Err(err) => tracing::warn!(crd = %name, %err, "cleaning up a deleted CRD's objects"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Deletes the objects of the CRD's resource; true once none remain.
async fn remove_objects(storage: &Storage, name: &str) -> Result<bool, StatusError> {
    let Some(version) = storage.custom().all().into_iter().find(|v| v.crd == name) else {
        // Not served (never was, or its versions were all unserved): nothing to delete.
        return Ok(true);
    };
    let info = version.info;
    let list = storage.list(info, None, &ListOptions::default()).await?;
    if list.items.is_empty() {
        return Ok(true);
    }
    for bytes in &list.items {
        let Ok(obj) = serde_json::from_slice::<Value>(bytes) else {
            continue;
        };
        let ns = object::meta_str(&obj, "namespace");
        let obj_name = object::meta_str(&obj, "name").unwrap_or("");
        match storage
            .delete(info, ns, obj_name, &DeleteOptions::default())
            .await
        {
            Ok(_) => {}
            Err(err) if err.code == 404 => {}
            Err(err) => return Err(err),
        }
    }
    Ok(false)
}
