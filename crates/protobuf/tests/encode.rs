//! Encoding is the inverse of decoding: every fixture (encoded by Go's protobuf marshaller)
//! decodes to JSON that encodes back to a body decoding to the same JSON — times,
//! quantities, int-or-strings, inlined structs, raw JSON and CRD schemas included.

mod common;

use common::{body, decode, fixture, raw};
use rkube_protobuf::Codec;
use serde_json::json;

fn round_trip(json: &serde_json::Value) {
    let encoded = Codec::builtin().encode(json).unwrap();
    assert!(encoded.starts_with(b"k8s\0"));
    assert_eq!(&decode(&encoded), json);
}

#[test]
fn every_fixture_round_trips() {
    for name in [
        "configmap",
        "cronjob",
        "deployment",
        "ingress",
        "job",
        "namespace",
        "poddisruptionbudget",
        "priorityclass",
        "resourcequota",
        "role",
        "secret",
        "service-clusterip",
        "service-nodeport",
        "serviceaccount",
    ] {
        round_trip(&decode(&fixture(name)));
    }
    for (name, api_version, kind) in [
        ("pod", "v1", "Pod"),
        ("deployment-zero", "apps/v1", "Deployment"),
        ("controllerrevision", "apps/v1", "ControllerRevision"),
        ("crd", "apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("lease", "coordination.k8s.io/v1", "Lease"),
        (
            "subjectaccessreview",
            "authorization.k8s.io/v1",
            "SubjectAccessReview",
        ),
    ] {
        round_trip(&decode(&body(api_version, kind, &raw(name))));
    }
}

#[test]
fn lists_and_statuses_encode() {
    // Items of a protobuf list carry no apiVersion and kind, as upstream's.
    let list = json!({
        "apiVersion": "v1", "kind": "ConfigMapList",
        "metadata": {"resourceVersion": "12", "continue": "abc"},
        "items": [{"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "default", "resourceVersion": "11"},
            "data": {"k": "v"}}],
    });
    let mut expected = list.clone();
    expected["items"][0]
        .as_object_mut()
        .unwrap()
        .remove("apiVersion");
    expected["items"][0].as_object_mut().unwrap().remove("kind");
    assert_eq!(decode(&Codec::builtin().encode(&list).unwrap()), expected);
    let status = json!({"apiVersion": "v1", "kind": "Status", "metadata": {},
        "status": "Failure", "message": "gone", "reason": "Gone", "code": 410});
    assert!(Codec::builtin().encode(&status).is_ok());
    assert!(!Codec::builtin().supports("stable.example.com/v1", "CronTab"));
}
