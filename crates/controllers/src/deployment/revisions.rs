//! The ReplicaSets of a Deployment: which one is new (its template equals the Deployment's),
//! the pod-template-hash that names it, revision annotations, and history cleanup.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The label that ties a ReplicaSet and its pods to one template of a Deployment.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// A ReplicaSet's (and its Deployment's) revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet had before a rollback made it current again.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas plus maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

const NOT_COPIED: [&str; 5] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
];

/// The hash of a pod template (with the collision count), encoded as upstream encodes it: a
/// short string of consonants and digits safe in names and label values.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u32::from(*b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    feed(&serde_json::to_vec(template).unwrap_or_default());
    if let Some(count) = collision_count {
        feed(&count.to_le_bytes());
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    hash.to_string()
        .bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

fn without_hash(template: &PodTemplateSpec) -> serde_json::Value {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
        if labels.is_empty()
            && let Some(m) = t.metadata.as_mut()
        {
            m.labels = None;
        }
    }
    serde_json::to_value(t).unwrap_or_default()
}

/// Whether two templates are equal apart from the pod-template-hash label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

/// The ReplicaSet's revision (0 when unset).
pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn created(rs: &ReplicaSet) -> Option<k8s_openapi::jiff::Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Sorts oldest first (creation time, then name).
pub fn sort_oldest_first(sets: &mut [Arc<ReplicaSet>]) {
    sets.sort_by(|a, b| {
        created(a)
            .cmp(&created(b))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// Splits a Deployment's ReplicaSets into the new one (template equal to the Deployment's;
/// the oldest if several) and the others.
pub fn split_new_old(
    d: &Deployment,
    mut sets: Vec<Arc<ReplicaSet>>,
) -> (Option<Arc<ReplicaSet>>, Vec<Arc<ReplicaSet>>) {
    sort_oldest_first(&mut sets);
    let template = d.spec.as_ref().map(|s| &s.template);
    let position = sets.iter().position(|rs| {
        match (template, rs.spec.as_ref().and_then(|s| s.template.as_ref())) {
            (Some(a), Some(b)) => equal_ignore_hash(a, b),
            _ => false,
        }
    });
    match position {
        Some(i) => {
            let new = sets.remove(i);
            (Some(new), sets)
        }
        None => (None, sets),
    }
}

/// The annotations a ReplicaSet of `d` carries: the Deployment's own (apart from the ones
/// the controller manages), the revision (with the history of earlier revisions when a
/// rollback reuses the set), desired and max replicas.
pub fn annotations_for(
    d: &Deployment,
    existing: Option<&BTreeMap<String, String>>,
    new_revision: i64,
    max_surge: i32,
) -> BTreeMap<String, String> {
    let mut out = existing.cloned().unwrap_or_default();
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if !NOT_COPIED.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    let old_revision: i64 = out.get(REVISION).and_then(|r| r.parse().ok()).unwrap_or(0);
    if old_revision < new_revision {
        if old_revision > 0 {
            let history = match out.get(REVISION_HISTORY) {
                Some(h) if !h.is_empty() => format!("{h},{old_revision}"),
                _ => old_revision.to_string(),
            };
            out.insert(REVISION_HISTORY.to_owned(), history);
        }
        out.insert(REVISION.to_owned(), new_revision.to_string());
    }
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    out.insert(DESIRED_REPLICAS.to_owned(), replicas.to_string());
    out.insert(MAX_REPLICAS.to_owned(), (replicas + max_surge).to_string());
    out
}

/// The old ReplicaSets to delete to keep at most `limit` of them (only scaled-down ones,
/// lowest revision first).
pub fn history_to_delete(old: &[Arc<ReplicaSet>], limit: i32) -> Vec<Arc<ReplicaSet>> {
    let mut empty: Vec<Arc<ReplicaSet>> = old
        .iter()
        .filter(|rs| {
            rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0) == 0
                && rs.status.as_ref().map(|s| s.replicas).unwrap_or(0) == 0
                && rs.metadata.deletion_timestamp.is_none()
        })
        .cloned()
        .collect();
    let excess = empty.len().saturating_sub(limit.max(0) as usize);
    empty.sort_by_key(|rs| revision(rs));
    empty.truncate(excess);
    empty
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(image: &str, hash: Option<&str>) -> PodTemplateSpec {
        let mut labels = json!({"app": "web"});
        if let Some(h) = hash {
            labels[POD_TEMPLATE_HASH] = json!(h);
        }
        serde_json::from_value(json!({"metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": image}]}}))
        .unwrap()
    }

    #[test]
    fn hash_is_stable_and_name_safe() {
        let a = template("nginx:1", None);
        let h = template_hash(&a, None);
        assert_eq!(h, template_hash(&a, None));
        assert_ne!(h, template_hash(&template("nginx:2", None), None));
        assert_ne!(h, template_hash(&a, Some(1)));
        assert!(
            h.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert!(equal_ignore_hash(&a, &template("nginx:1", Some(&h))));
        assert!(!equal_ignore_hash(&a, &template("nginx:2", Some(&h))));
    }

    #[test]
    fn rollback_records_revision_history() {
        let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "d",
            "annotations": {"kubernetes.io/change-cause": "x", REVISION: "3"}},
            "spec": {"replicas": 4, "selector": {}, "template": {}}}))
        .unwrap();
        let existing = BTreeMap::from([(REVISION.to_owned(), "1".to_owned())]);
        let a = annotations_for(&d, Some(&existing), 4, 1);
        assert_eq!(a[REVISION], "4");
        assert_eq!(a[REVISION_HISTORY], "1");
        assert_eq!(a["kubernetes.io/change-cause"], "x");
        assert_eq!(a[DESIRED_REPLICAS], "4");
        assert_eq!(a[MAX_REPLICAS], "5");
    }
}
