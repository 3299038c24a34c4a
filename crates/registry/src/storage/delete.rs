//! Deletes: preconditions, graceful deletion, finalizers, namespaces.

use super::{Storage, internal, now, object};
use crate::kinds::ResourceInfo;
use bytes::Bytes;
use rkube_api::status::StatusError;
use serde_json::Value;

/// What a DELETE asks for.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// Seconds the object may take to go (pods); `None`: the object's own.
    pub grace_period_seconds: Option<i64>,
    /// Delete only if the object still has this uid.
    pub precondition_uid: Option<String>,
    /// Delete only if the object is still at this resource version.
    pub precondition_resource_version: Option<String>,
    /// `Orphan`, `Background` or `Foreground`.
    pub propagation_policy: Option<String>,
    /// Validate and answer, but change nothing.
    pub dry_run: bool,
}

impl Storage {
    /// Deletes an object, or starts its graceful deletion. Returns the
    /// object as it was deleted, or as it is while being deleted.
    pub async fn delete(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Bytes, StatusError> {
        let gr = info.group_resource();
        let key = info.key(namespace, name);
        loop {
            let (obj, rev) = self.get_raw(info, namespace, name).await?;
            let uid = object::meta_str(&obj, "uid").unwrap_or("");
            if let Some(want) = &options.precondition_uid
                && want != uid
            {
                return Err(StatusError::conflict(
                    &gr,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"
                    ),
                ));
            }
            if let Some(want) = &options.precondition_resource_version
                && want.parse::<i64>().ok() != Some(rev)
            {
                return Err(StatusError::conflict(
                    &gr,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rev}"
                    ),
                ));
            }
            if let Some(pending) = self.pending_deletion(info, &obj, options) {
                if options.dry_run {
                    return Ok(Bytes::from(
                        serde_json::to_vec(&pending).unwrap_or_default(),
                    ));
                }
                if obj == pending {
                    return Ok(object::with_resource_version(&object::encode(&obj), rev));
                }
                let bytes = object::encode(&pending);
                match self
                    .store
                    .update(&key, Bytes::from(bytes.clone()), rev, None)
                    .await
                {
                    Ok(new_rev) => return Ok(object::with_resource_version(&bytes, new_rev)),
                    Err(rkube_store::Error::Conflict { .. }) => continue,
                    Err(rkube_store::Error::NotFound { .. }) => {
                        return Err(StatusError::not_found(&gr, name));
                    }
                    Err(err) => return Err(internal(err)),
                }
            }
            if options.dry_run {
                return Ok(object::with_resource_version(&object::encode(&obj), rev));
            }
            match self.store.delete(&key, rev).await {
                Ok((del_rev, _)) => {
                    if info.group.is_empty() && info.plural == "services" {
                        self.release(super::update::released(&obj, None)).await;
                    }
                    return Ok(object::with_resource_version(
                        &object::encode(&obj),
                        del_rev,
                    ));
                }
                Err(rkube_store::Error::Conflict { .. }) => continue,
                Err(rkube_store::Error::NotFound { .. }) => {
                    return Err(StatusError::not_found(&gr, name));
                }
                Err(err) => return Err(internal(err)),
            }
        }
    }

    /// The object marked for deletion when it cannot go at once (finalizers,
    /// a grace period, a namespace to empty); `None` when it can go now.
    fn pending_deletion(
        &self,
        info: &ResourceInfo,
        obj: &Value,
        options: &DeleteOptions,
    ) -> Option<Value> {
        let mut marked = obj.clone();
        let already = object::meta_str(obj, "deletionTimestamp").is_some();
        let mut finalizers: Vec<Value> = object::meta(obj)
            .and_then(|m| m.get("finalizers"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let extra = match options.propagation_policy.as_deref() {
            Some("Foreground") => Some("foregroundDeletion"),
            Some("Orphan") => Some("orphan"),
            _ => None,
        };
        if let Some(extra) = extra
            && !finalizers.iter().any(|f| f == extra)
            && !already
        {
            finalizers.push(Value::from(extra));
        }
        let is_namespace = info.group.is_empty() && info.plural == "namespaces";
        let grace = if info.group.is_empty() && info.plural == "pods" {
            let bound = obj["spec"]["nodeName"]
                .as_str()
                .is_some_and(|n| !n.is_empty());
            let phase = obj["status"]["phase"].as_str().unwrap_or("");
            let done = matches!(phase, "Succeeded" | "Failed");
            let grace = options
                .grace_period_seconds
                .or_else(|| obj["spec"]["terminationGracePeriodSeconds"].as_i64())
                .unwrap_or(30);
            if bound && !done { grace.max(0) } else { 0 }
        } else {
            0
        };
        if finalizers.is_empty() && grace == 0 && !has_spec_finalizers(info, obj) {
            return None;
        }
        let meta = object::meta_mut(&mut marked);
        if !already {
            meta.insert("deletionTimestamp".into(), now());
        }
        let current_grace = meta
            .get("deletionGracePeriodSeconds")
            .and_then(Value::as_i64);
        if current_grace.is_none_or(|g| grace < g) {
            meta.insert("deletionGracePeriodSeconds".into(), Value::from(grace));
        }
        if !finalizers.is_empty() {
            meta.insert("finalizers".into(), Value::Array(finalizers));
        }
        if is_namespace {
            marked["status"]["phase"] = Value::from("Terminating");
        }
        Some(marked)
    }
}

/// Whether a namespace still has `spec.finalizers` (the namespace controller removes
/// `kubernetes` once the namespace is empty): until then a deleted namespace stays.
pub(super) fn has_spec_finalizers(info: &ResourceInfo, obj: &Value) -> bool {
    info.group.is_empty()
        && info.plural == "namespaces"
        && obj["spec"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
}
