//! The JSON matches what Go's `encoding/json` writes for the decoded object: pointers and fields
//! without `omitempty` keep their zero values, inlined structs are flattened, and the types with
//! custom marshallers (`Time`, `MicroTime`, `IntOrString`, `Quantity`, `RawExtension`,
//! `FieldsV1`, apiextensions' `JSON*`) take their JSON forms. Objects come from
//! `tests/fixtures/raw/*.txtpb` (encoded by `gen.sh` there).

mod common;

use common::{body, decode, decode_err, field, raw, varint_field};
use serde_json::json;

#[test]
fn pod_zero_values_inlines_times_and_quantities() {
    assert_eq!(
        decode(&body("v1", "Pod", &raw("pod"))),
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "app", "namespace": "demo",
                // Go's metav1.Time writes whole seconds.
                "creationTimestamp": "2024-01-02T03:04:05Z",
                "deletionGracePeriodSeconds": 0,
                "labels": {"tier": "web"},
                "annotations": {"note": ""},
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app-rs",
                    "uid": "0b6a0c5e-1111-2222-3333-444455556666",
                    "controller": true, "blockOwnerDeletion": false
                }],
                "managedFields": [{
                    "manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                    "time": "2000-02-29T00:00:00Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {}}}
                }]
            },
            "spec": {
                "volumes": [
                    {"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420}},
                    {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}
                ],
                "containers": [{
                    "name": "main", "image": "nginx:1.27",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "env": [
                        {"name": "EMPTY"},
                        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {
                            "name": "creds", "key": "password", "optional": false
                        }}}
                    ],
                    "envFrom": [{"configMapRef": {"name": "settings"}}],
                    "resources": {"limits": {"cpu": "500m"}},
                    "livenessProbe": {
                        "httpGet": {"path": "/healthz", "port": "http"},
                        "periodSeconds": 10
                    },
                    "readinessProbe": {"tcpSocket": {"port": 0}},
                    "securityContext": {"runAsUser": 0, "privileged": false}
                }],
                "restartPolicy": "Always",
                "automountServiceAccountToken": false,
                "priority": 0
            },
            "status": {}
        })
    );
}

#[test]
fn deployment_with_zero_replicas() {
    let deployment = decode(&body("apps/v1", "Deployment", &raw("deployment-zero")));
    assert_eq!(deployment["spec"]["replicas"], json!(0));
    assert_eq!(
        deployment["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}})
    );
    assert_eq!(
        deployment["spec"]["selector"],
        json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["idle"]}]})
    );
    // minReadySeconds and paused are plain Go values with omitempty: their zeros are left out.
    assert_eq!(
        deployment["spec"]
            .as_object()
            .map(|s| s.keys().cloned().collect::<Vec<_>>()),
        Some(vec![
            "replicas".to_owned(),
            "selector".to_owned(),
            "strategy".to_owned(),
            "template".to_owned()
        ])
    );
    assert_eq!(deployment["metadata"]["creationTimestamp"], json!(null));
    assert_eq!(deployment.get("status"), None);
}

#[test]
fn lease_micro_times() {
    assert_eq!(
        decode(&body("coordination.k8s.io/v1", "Lease", &raw("lease"))),
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "leader", "namespace": "kube-system"},
            "spec": {
                "holderIdentity": "node-a", "leaseDurationSeconds": 15,
                "acquireTime": "2024-01-02T03:04:05.123456Z",
                "renewTime": "1970-01-01T00:00:00.000000Z",
                "leaseTransitions": 0
            }
        })
    );
}

#[test]
fn controller_revision_raw_extension() {
    assert_eq!(
        decode(&body(
            "apps/v1",
            "ControllerRevision",
            &raw("controllerrevision")
        )),
        json!({
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": "rev", "namespace": "demo"},
            "data": {"spec": {"replicas": 2}},
            "revision": 0
        })
    );
}

#[test]
fn raw_extension_that_is_not_json_is_base64() {
    let mut data = Vec::new();
    field(1, b"\x00\x01not json", &mut data);
    let mut revision = Vec::new();
    field(2, &data, &mut revision);
    let decoded = decode(&body("apps/v1", "ControllerRevision", &revision));
    assert_eq!(decoded["data"], json!("AAFub3QganNvbg=="));
}

#[test]
fn custom_resource_definition_schema() {
    let crd = decode(&body(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &raw("crd"),
    ));
    assert_eq!(
        crd["spec"]["names"],
        json!({"plural": "widgets", "singular": "widget", "kind": "Widget",
               "listKind": "WidgetList"})
    );
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["served"], json!(true));
    assert_eq!(version["storage"], json!(false));
    assert_eq!(
        version["schema"]["openAPIV3Schema"],
        json!({
            "type": "object",
            "required": ["spec"],
            "properties": {
                "spec": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": false,
                    "additionalProperties": true,
                    "properties": {"size": {"type": "integer", "minimum": 1.5, "default": 3}}
                },
                "tags": {
                    "type": "array",
                    "items": {"type": "string"},
                    "x-kubernetes-list-type": "set"
                },
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        })
    );
}

#[test]
fn subject_access_review_extra_values() {
    assert_eq!(
        decode(&body(
            "authorization.k8s.io/v1",
            "SubjectAccessReview",
            &raw("subjectaccessreview")
        )),
        json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "metadata": {},
            "spec": {
                "resourceAttributes": {"namespace": "demo", "verb": "get", "resource": "pods"},
                "user": "alice", "groups": ["devs"],
                "extra": {"scopes": ["a", "b"]}
            }
        })
    );
}

/// A ConfigMap whose metadata's creationTimestamp is `{seconds, nanos}`.
fn configmap_created(seconds: i64, nanos: Option<i32>) -> Vec<u8> {
    let mut time = Vec::new();
    varint_field(1, seconds as u64, &mut time);
    if let Some(nanos) = nanos {
        varint_field(2, nanos as u64, &mut time);
    }
    let mut meta = Vec::new();
    field(8, &time, &mut meta);
    let mut configmap = Vec::new();
    field(1, &meta, &mut configmap);
    body("v1", "ConfigMap", &configmap)
}

#[test]
fn times() {
    let created = |s, n| decode(&configmap_created(s, n))["metadata"]["creationTimestamp"].clone();
    assert_eq!(created(0, None), json!("1970-01-01T00:00:00Z"));
    assert_eq!(created(951_782_400, Some(0)), json!("2000-02-29T00:00:00Z"));
    assert_eq!(
        created(-1, Some(500_000_000)),
        json!("1969-12-31T23:59:59Z")
    );
    // Negative nanos are normalised as Go's time.Unix does.
    assert_eq!(
        created(1_704_164_645, Some(-1)),
        json!("2024-01-02T03:04:04Z")
    );
    // Go's zero time is written as null.
    assert_eq!(created(-62_135_596_800, None), json!(null));
}

#[test]
fn time_out_of_range_is_an_error() {
    let err = decode_err(&configmap_created(253_402_300_800, None));
    assert_eq!(
        err,
        "invalid time (year outside of range [0,9999]) in k8s.io.apimachinery.pkg.apis.meta.v1.Time"
    );
    assert!(!decode_err(&configmap_created(i64::MIN, None)).is_empty());
    assert!(!decode_err(&configmap_created(i64::MAX, Some(1_999_999_999))).is_empty());
}

#[test]
fn int_or_string_with_an_unknown_type_is_an_error() {
    let mut target = Vec::new();
    varint_field(1, 2, &mut target);
    let mut port = Vec::new();
    varint_field(3, 80, &mut port);
    field(4, &target, &mut port);
    let mut spec = Vec::new();
    field(1, &port, &mut spec);
    let mut service = Vec::new();
    field(2, &spec, &mut service);
    assert_eq!(
        decode_err(&body("v1", "Service", &service)),
        "invalid IntOrString type in k8s.io.apimachinery.pkg.util.intstr.IntOrString"
    );
}

#[test]
fn empty_quantity_is_zero() {
    // ResourceQuota spec.hard {"cpu": Quantity{}}.
    let mut entry = Vec::new();
    field(1, b"cpu", &mut entry);
    field(2, b"", &mut entry);
    let mut spec = Vec::new();
    field(1, &entry, &mut spec);
    let mut quota = Vec::new();
    field(2, &spec, &mut quota);
    let decoded = decode(&body("v1", "ResourceQuota", &quota));
    assert_eq!(decoded["spec"], json!({"hard": {"cpu": "0"}}));
}
