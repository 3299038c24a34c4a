//! Adoption and release, as upstream's ControllerRefManager does them: a controller owns the
//! objects whose controller reference names it; it adopts orphans its selector matches and
//! releases owned objects its selector no longer matches.

use crate::pods::controller_of;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use rkube_api::labels::{Labels, Selector};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;
use std::sync::Arc;

/// The owner side of a claim.
pub struct Owner<'a> {
    /// The owner's metadata (name, uid, deletionTimestamp).
    pub meta: &'a ObjectMeta,
    /// The owner reference dependents get.
    pub reference: OwnerReference,
    /// What the owner selects.
    pub selector: &'a Selector,
}

fn labels_of(meta: &ObjectMeta) -> &Labels {
    static EMPTY: Labels = Labels::new();
    meta.labels.as_ref().unwrap_or(&EMPTY)
}

/// Returns the candidates `owner` owns after adopting matching orphans and releasing owned
/// objects that no longer match (writing both through `api`). Objects owned by someone else,
/// and objects that vanished meanwhile, are left out.
pub async fn claim<K>(
    api: &Api<K>,
    owner: &Owner<'_>,
    candidates: Vec<Arc<K>>,
) -> Result<Vec<Arc<K>>, crate::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    let owner_uid = owner.meta.uid.as_deref().unwrap_or("");
    let mut owned = Vec::new();
    for obj in candidates {
        let meta = obj.meta();
        let matches = owner.selector.matches(labels_of(meta));
        match controller_of(meta) {
            Some(r) if r.uid == owner_uid => {
                if matches {
                    owned.push(obj);
                } else if owner.meta.deletion_timestamp.is_none() {
                    release(api, meta, owner_uid).await?;
                }
            }
            Some(_) => {}
            None => {
                if !matches
                    || meta.deletion_timestamp.is_some()
                    || owner.meta.deletion_timestamp.is_some()
                {
                    continue;
                }
                let uid = meta.uid.clone().unwrap_or_default();
                let patch = json!({"metadata": {
                    "ownerReferences": [owner.reference],
                    "uid": uid,
                }});
                let name = meta.name.clone().unwrap_or_default();
                match api
                    .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
                    .await
                {
                    Ok(adopted) => owned.push(Arc::new(adopted)),
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(err) => return Err(err.into()),
                }
            }
        }
    }
    Ok(owned)
}

async fn release<K>(api: &Api<K>, meta: &ObjectMeta, owner_uid: &str) -> Result<(), crate::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    let patch = json!({"metadata": {
        "ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
        "uid": meta.uid,
    }});
    let name = meta.name.clone().unwrap_or_default();
    match api
        .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
    {
        Ok(_) => Ok(()),
        // Gone, or already changed: nothing to release.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 || s.code == 422 => Ok(()),
        Err(err) => Err(err.into()),
    }
}
