//! A StatefulSet's PersistentVolumeClaims: one per volumeClaimTemplate and ordinal, named
//! `<claim>-<set>-<n>`, mounted by the pod of that ordinal, and kept or deleted with the set
//! and on scale-down as `persistentVolumeClaimRetentionPolicy` says (through owner
//! references the garbage collector follows, as upstream does).

use super::plan::{ordinal_of, set_name, start_ordinal};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;

/// The claim name of template `claim` for `ordinal`.
pub fn claim_name(claim: &str, set: &str, ordinal: i32) -> String {
    format!("{claim}-{set}-{ordinal}")
}

fn templates(set: &StatefulSet) -> &[PersistentVolumeClaim] {
    set.spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_deref())
        .unwrap_or(&[])
}

/// Mounts the ordinal's claims in the pod: a volume per template (replacing a template
/// volume of the same name).
pub fn add_volumes(set: &StatefulSet, ordinal: i32, spec: &mut PodSpec) {
    for t in templates(set) {
        let name = t.metadata.name.clone().unwrap_or_default();
        let volume = Volume {
            name: name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(&name, set_name(set), ordinal),
                read_only: None,
            }),
            ..Volume::default()
        };
        let volumes = spec.volumes.get_or_insert_with(Vec::new);
        volumes.retain(|v| v.name != name);
        volumes.push(volume);
    }
}

/// The claims the pod of `ordinal` needs: each template's, labelled with the template's
/// labels and the set's matchLabels.
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let ns = set.metadata.namespace.clone();
    let match_labels = set
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    templates(set)
        .iter()
        .map(|t| {
            let name = t.metadata.name.clone().unwrap_or_default();
            let mut labels = t.metadata.labels.clone().unwrap_or_default();
            labels.extend(match_labels.clone());
            PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(claim_name(&name, set_name(set), ordinal)),
                    namespace: ns.clone(),
                    labels: Some(labels),
                    annotations: t.metadata.annotations.clone(),
                    ..ObjectMeta::default()
                },
                spec: t.spec.clone(),
                status: None,
            }
        })
        .collect()
}

/// Whether the claims go when the set is deleted and when it is scaled down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// `whenDeleted: Delete`.
    pub delete_with_set: bool,
    /// `whenScaled: Delete`.
    pub delete_on_scale_down: bool,
}

/// The set's retention policy (Retain for both by default).
pub fn retention(set: &StatefulSet) -> Retention {
    let policy = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let delete = |v: Option<&String>| v.is_some_and(|v| v == "Delete");
    Retention {
        delete_with_set: delete(policy.and_then(|p| p.when_deleted.as_ref())),
        delete_on_scale_down: delete(policy.and_then(|p| p.when_scaled.as_ref())),
    }
}

fn reference(api_version: &str, kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: None,
        block_owner_deletion: None,
    }
}

/// The owner references a claim of `pod` should have (upstream's
/// `updateClaimOwnerRefForSetAndPod`): the set owns it when it goes with the set, the pod
/// when it goes on scale-down and the pod is beyond the replicas (then never the set, so the
/// pod's deletion takes it). `None` when they are right already.
pub fn owner_refs(
    set: &StatefulSet,
    pod: &Pod,
    claim: &PersistentVolumeClaim,
) -> Option<Vec<OwnerReference>> {
    let retention = retention(set);
    let ordinal = ordinal_of(set_name(set), pod.metadata.name.as_deref().unwrap_or(""))?;
    let start = start_ordinal(set);
    let scaled_down = !(start..start + super::plan::replicas(set)).contains(&ordinal);
    let set_ref = reference("apps/v1", "StatefulSet", &set.metadata);
    let pod_ref = reference("v1", "Pod", &pod.metadata);
    let (want_set, want_pod) = match (retention.delete_with_set, retention.delete_on_scale_down) {
        (false, false) => (false, false),
        (true, false) => (true, false),
        (false, true) => (false, scaled_down),
        (true, true) => (!scaled_down, scaled_down),
    };
    let existing = claim.metadata.owner_references.clone().unwrap_or_default();
    let mut refs: Vec<OwnerReference> = existing
        .iter()
        .filter(|r| r.uid != set_ref.uid && r.uid != pod_ref.uid)
        .cloned()
        .collect();
    if want_set {
        refs.push(set_ref);
    }
    if want_pod {
        refs.push(pod_ref);
    }
    let key = |r: &OwnerReference| r.uid.clone();
    let have: BTreeMap<String, ()> = existing.iter().map(|r| (key(r), ())).collect();
    let want: BTreeMap<String, ()> = refs.iter().map(|r| (key(r), ())).collect();
    (have != want).then_some(refs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(policy: serde_json::Value, replicas: i32) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "set-uid"},
            "spec": {"replicas": replicas, "serviceName": "web",
                     "selector": {"matchLabels": {"app": "web"}},
                     "persistentVolumeClaimRetentionPolicy": policy,
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"tier": "db"}},
                         "spec": {"accessModes": ["ReadWriteOnce"]}}]}}))
        .unwrap()
    }

    fn pod(name: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "uid": format!("{name}-uid")}}))
            .unwrap()
    }

    #[test]
    fn claims_are_named_per_ordinal_and_mounted() {
        let s = set(json!({}), 2);
        let claims = claims_for(&s, 1);
        assert_eq!(claims[0].metadata.name.as_deref(), Some("data-web-1"));
        let labels = claims[0].metadata.labels.as_ref().unwrap();
        assert_eq!(
            (labels["app"].as_str(), labels["tier"].as_str()),
            ("web", "db")
        );
        let mut spec = PodSpec {
            volumes: Some(vec![Volume {
                name: "data".to_owned(),
                ..Volume::default()
            }]),
            ..PodSpec::default()
        };
        add_volumes(&s, 1, &mut spec);
        let volumes = spec.volumes.unwrap();
        assert_eq!(volumes.len(), 1);
        assert_eq!(
            volumes[0]
                .persistent_volume_claim
                .as_ref()
                .unwrap()
                .claim_name,
            "data-web-1"
        );
    }

    #[test]
    fn retention_policy_sets_owner_references() {
        let claim = |refs: serde_json::Value| -> PersistentVolumeClaim {
            serde_json::from_value(
                json!({"metadata": {"name": "data-web-1", "ownerReferences": refs}}),
            )
            .unwrap()
        };
        let uids = |refs: Vec<OwnerReference>| refs.into_iter().map(|r| r.uid).collect::<Vec<_>>();
        let none = claim(json!([]));
        // Retain/Retain: nothing.
        assert!(owner_refs(&set(json!({}), 2), &pod("web-1"), &none).is_none());
        // WhenDeleted=Delete: the set owns every claim.
        let s = set(json!({"whenDeleted": "Delete"}), 2);
        assert_eq!(
            uids(owner_refs(&s, &pod("web-1"), &none).unwrap()),
            ["set-uid"]
        );
        // WhenScaled=Delete: the condemned pod owns its claim, instead of the set.
        let s = set(json!({"whenDeleted": "Delete", "whenScaled": "Delete"}), 1);
        let owned_by_set = claim(json!([{"apiVersion": "apps/v1", "kind": "StatefulSet",
            "name": "web", "uid": "set-uid"}]));
        assert_eq!(
            uids(owner_refs(&s, &pod("web-1"), &owned_by_set).unwrap()),
            ["web-1-uid"]
        );
        assert!(owner_refs(&s, &pod("web-0"), &owned_by_set).is_none());
    }
}
