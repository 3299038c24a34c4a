//! RFC 6902 JSON patch and RFC 7386 merge patch.

use rkube_patch::{PatchError, json_patch, merge_patch};
use serde_json::json;

fn pod() -> serde_json::Value {
    json!({
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}
    })
}

#[test]
fn add_replace_remove() {
    let patch = json!([
        {"op": "add", "path": "/metadata/labels/env", "value": "prod"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.26"},
        {"op": "remove", "path": "/metadata/labels/tier"},
        {"op": "add", "path": "/spec/containers/-", "value": {"name": "sidecar", "image": "busybox"}},
        {"op": "test", "path": "/metadata/name", "value": "web"}
    ]);
    let out = json_patch(&pod(), &patch).unwrap();
    assert_eq!(
        out,
        json!({
            "metadata": {"name": "web", "labels": {"app": "web", "env": "prod"}},
            "spec": {"containers": [
                {"name": "app", "image": "nginx:1.26"},
                {"name": "sidecar", "image": "busybox"}
            ]}
        })
    );
}

#[test]
fn move_and_copy() {
    let patch = json!([
        {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copy"},
        {"op": "move", "from": "/metadata/labels/tier", "path": "/metadata/tier"}
    ]);
    let out = json_patch(&pod(), &patch).unwrap();
    assert_eq!(
        out["metadata"],
        json!({"name": "web", "tier": "front", "labels": {"app": "web", "copy": "web"}})
    );
}

#[test]
fn failed_test_is_an_error_and_nothing_is_applied() {
    let patch = json!([
        {"op": "add", "path": "/metadata/labels/env", "value": "prod"},
        {"op": "test", "path": "/metadata/name", "value": "other"}
    ]);
    let err = json_patch(&pod(), &patch).unwrap_err();
    assert!(matches!(err, PatchError::Unprocessable(_)));
    assert_eq!(err.status_code(), 422);
    assert_eq!(
        err.to_string(),
        "testing value /metadata/name failed: test failed"
    );
}

#[test]
fn missing_paths_are_worded_like_upstream() {
    let remove = json!([{"op": "remove", "path": "/metadata/labels/nope"}]);
    assert_eq!(
        json_patch(&pod(), &remove).unwrap_err().to_string(),
        "error in remove for path: '/metadata/labels/nope': Unable to remove nonexistent key: nope: missing value"
    );
    let add = json!([{"op": "add", "path": "/status/phase", "value": "Running"}]);
    assert_eq!(
        json_patch(&pod(), &add).unwrap_err().to_string(),
        "add operation does not apply: doc is missing path: \"/status/phase\": missing value"
    );
    let replace = json!([{"op": "replace", "path": "/status/phase", "value": "Running"}]);
    assert_eq!(
        json_patch(&pod(), &replace).unwrap_err().to_string(),
        "replace operation does not apply: doc is missing path: /status/phase: missing value"
    );
    let index = json!([{"op": "remove", "path": "/spec/containers/5"}]);
    assert_eq!(
        json_patch(&pod(), &index).unwrap_err().to_string(),
        "error in remove for path: '/spec/containers/5': Unable to access invalid index: 5: invalid index referenced"
    );
}

#[test]
fn replace_of_a_missing_member_adds_it_like_upstream() {
    let patch = json!([{"op": "replace", "path": "/metadata/labels/env", "value": "prod"}]);
    let out = json_patch(&pod(), &patch).unwrap();
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "web", "tier": "front", "env": "prod"})
    );
}

#[test]
fn test_of_a_missing_member_against_null_passes() {
    let patch = json!([{"op": "test", "path": "/metadata/namespace", "value": null}]);
    assert_eq!(json_patch(&pod(), &patch).unwrap(), pod());
}

#[test]
fn malformed_patches_are_rejected() {
    let err = json_patch(&pod(), &json!({"op": "add"})).unwrap_err();
    assert_eq!(err.status_code(), 400);
    assert_eq!(
        err.to_string(),
        "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
    );
    let err = json_patch(&pod(), &json!([{"op": "frob", "path": "/a"}])).unwrap_err();
    assert_eq!(err.to_string(), "Unexpected kind: frob");
    let err = json_patch(&pod(), &json!([{"op": "add", "path": "/a"}])).unwrap_err();
    assert!(matches!(err, PatchError::Invalid(_)), "{err:?}");
}

#[test]
fn merge_patch_null_deletes_and_lists_replace() {
    let patch = json!({
        "metadata": {"labels": {"tier": null, "env": "prod"}},
        "spec": {"containers": [{"name": "other"}]}
    });
    assert_eq!(
        merge_patch(&pod(), &patch),
        json!({
            "metadata": {"name": "web", "labels": {"app": "web", "env": "prod"}},
            "spec": {"containers": [{"name": "other"}]}
        })
    );
    assert_eq!(
        merge_patch(&pod(), &json!({"metadata": null, "spec": null})),
        json!({})
    );
}
