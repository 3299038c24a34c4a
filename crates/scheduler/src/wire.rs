//! Pods as the scheduler's watch decodes them: without `metadata.managedFields`, which the
//! scheduler never reads. Upstream's scheduler drops them once decoded; here they are skipped
//! while parsing, since on a typical pod they are two fifths of its JSON and most of its
//! nested maps, and decoding pods is most of the scheduler's start on a backlog.

use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::runtime::watcher::Event;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// A Pod decoded without its managedFields (see the module documentation); the API and
/// the watcher see it as a Pod.
#[derive(Clone, Debug)]
pub struct WirePod(pub Pod);

impl k8s_openapi::Resource for WirePod {
    const API_VERSION: &'static str = <Pod as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <Pod as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <Pod as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <Pod as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str = <Pod as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = <Pod as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::Metadata for WirePod {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.0.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

/// The pod's JSON, field by field; unknown keys (`apiVersion`, `kind`) are skipped.
#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    metadata: Meta,
    spec: Option<PodSpec>,
    status: Option<PodStatus>,
}

/// ObjectMeta's fields but `managedFields`, which serde skips without building it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Meta {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}

impl<'de> Deserialize<'de> for WirePod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Wire {
            metadata: m,
            spec,
            status,
        } = Wire::deserialize(deserializer)?;
        Ok(WirePod(Pod {
            metadata: ObjectMeta {
                annotations: m.annotations,
                creation_timestamp: m.creation_timestamp,
                deletion_grace_period_seconds: m.deletion_grace_period_seconds,
                deletion_timestamp: m.deletion_timestamp,
                finalizers: m.finalizers,
                generate_name: m.generate_name,
                generation: m.generation,
                labels: m.labels,
                managed_fields: None,
                name: m.name,
                namespace: m.namespace,
                owner_references: m.owner_references,
                resource_version: m.resource_version,
                self_link: m.self_link,
                uid: m.uid,
            },
            spec,
            status,
        }))
    }
}

/// The watcher's event with the Pod inside.
pub fn unwrap_event(event: Event<WirePod>) -> Event<Pod> {
    match event {
        Event::Apply(p) => Event::Apply(p.0),
        Event::Delete(p) => Event::Delete(p.0),
        Event::Init => Event::Init,
        Event::InitApply(p) => Event::InitApply(p.0),
        Event::InitDone => Event::InitDone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every ObjectMeta field but managedFields survives, and the rest of the pod decodes as
    /// k8s-openapi decodes it.
    #[test]
    fn a_pod_decodes_as_k8s_openapi_decodes_it_without_managed_fields() {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "annotations": {"a": "b"},
                "creationTimestamp": "2026-11-23T20:45:09Z",
                "deletionGracePeriodSeconds": 30,
                "deletionTimestamp": "2026-11-23T20:46:09Z",
                "finalizers": ["f"],
                "generateName": "web-",
                "generation": 2,
                "labels": {"app": "web"},
                "managedFields": [{
                    "apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kubectl",
                    "operation": "Update", "time": "2026-11-23T20:45:09Z",
                    "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}}}}}
                }],
                "name": "web-1",
                "namespace": "default",
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                    "uid": "u-rs", "controller": true
                }],
                "resourceVersion": "42",
                "selfLink": "/api/v1/namespaces/default/pods/web-1",
                "uid": "u-1"
            },
            "spec": {
                "containers": [{"name": "c", "image": "nginx",
                                "resources": {"requests": {"cpu": "10m"}}}],
                "nodeName": "n1",
                "priority": 7
            },
            "status": {"phase": "Running", "conditions": [{"type": "PodScheduled", "status": "True"}]}
        });
        let mut expected: Pod = serde_json::from_value(pod.clone()).unwrap();
        assert!(expected.metadata.managed_fields.is_some());
        expected.metadata.managed_fields = None;
        let WirePod(decoded) = serde_json::from_value(pod).unwrap();
        assert_eq!(decoded, expected);
    }

    /// A pod with nothing but a name decodes too (every field is optional).
    #[test]
    fn a_bare_pod_decodes() {
        let WirePod(pod) = serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("p"));
        assert!(pod.spec.is_none() && pod.status.is_none());
    }
}
