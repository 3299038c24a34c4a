//! Strategic merge patch against the built-in schema, with exact expected documents.

use rkube_patch::{PatchError, Schema, strategic_merge_patch, strategic_merge_patch_untyped};
use serde_json::{Value, json};

fn smp(
    group: &str,
    version: &str,
    kind: &str,
    doc: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    let schema = Schema::builtin();
    let def = schema
        .definition_for(group, version, kind)
        .unwrap_or_else(|| panic!("no definition for {group}/{version} {kind}"));
    strategic_merge_patch(doc, patch, schema, def)
}

fn pod(doc: &Value, patch: &Value) -> Value {
    smp("", "v1", "Pod", doc, patch).unwrap()
}

fn deployment(doc: &Value, patch: &Value) -> Value {
    smp("apps", "v1", "Deployment", doc, patch).unwrap()
}

fn two_container_pod() -> Value {
    json!({
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {"containers": [
            {"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
            {"name": "log", "image": "busybox"}
        ]}
    })
}

#[test]
fn definitions_are_named_like_upstream_openapi() {
    let schema = Schema::builtin();
    let name = |g: &str, v: &str, k: &str| schema.definition_for(g, v, k).map(|d| d.name());
    assert_eq!(name("", "v1", "Pod"), Some("io.k8s.api.core.v1.Pod"));
    assert_eq!(
        name("apps", "v1", "Deployment"),
        Some("io.k8s.api.apps.v1.Deployment")
    );
    assert_eq!(
        name("rbac.authorization.k8s.io", "v1", "Role"),
        Some("io.k8s.api.rbac.v1.Role")
    );
    assert_eq!(
        name("networking.k8s.io", "v1", "Ingress"),
        Some("io.k8s.api.networking.v1.Ingress")
    );
    assert_eq!(
        name("", "v1", "ConfigMap"),
        Some("io.k8s.api.core.v1.ConfigMap")
    );
    assert_eq!(name("example.com", "v1", "Widget"), None);
    assert_eq!(name("apps", "v1beta1", "Deployment"), None);
    let spec = schema.definition("io.k8s.api.core.v1.PodSpec").unwrap();
    let containers = spec.field("containers").unwrap();
    assert_eq!(containers.merge_key, Some("name"));
    assert_eq!(containers.strategy, "merge");
    assert_eq!(spec.field("volumes").unwrap().strategy, "merge,retainKeys");
    assert_eq!(spec.field("tolerations"), None);
}

#[test]
fn containers_merge_by_name() {
    let patch = json!({"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}});
    assert_eq!(
        pod(&two_container_pod(), &patch),
        json!({
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {"containers": [
                {"name": "app", "image": "nginx:1.26", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                {"name": "log", "image": "busybox"}
            ]}
        })
    );
}

#[test]
fn new_container_goes_first_without_set_element_order_like_upstream() {
    let doc = json!({"spec": {"containers": [{"name": "app", "image": "nginx"}]}});
    let patch = json!({"spec": {"containers": [{"name": "sidecar", "image": "envoy"}]}});
    assert_eq!(
        pod(&doc, &patch)["spec"]["containers"],
        json!([{"name": "sidecar", "image": "envoy"}, {"name": "app", "image": "nginx"}])
    );
}

#[test]
fn new_container_follows_set_element_order() {
    let doc = json!({"spec": {"containers": [{"name": "app", "image": "nginx"}]}});
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{"name": "sidecar", "image": "envoy"}]
    }});
    assert_eq!(
        pod(&doc, &patch),
        json!({"spec": {"containers": [
            {"name": "app", "image": "nginx"},
            {"name": "sidecar", "image": "envoy"}
        ]}})
    );
}

#[test]
fn patch_delete_removes_a_container() {
    let patch = json!({"spec": {"containers": [{"name": "log", "$patch": "delete"}]}});
    assert_eq!(
        pod(&two_container_pod(), &patch)["spec"],
        json!({"containers": [
            {"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"}]}
        ]})
    );
}

#[test]
fn patch_replace_element_replaces_the_list() {
    let patch =
        json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}});
    assert_eq!(
        pod(&two_container_pod(), &patch)["spec"],
        json!({"containers": [{"name": "only", "image": "x"}]})
    );
}

#[test]
fn env_merges_by_name() {
    let doc = json!({"spec": {"containers": [{"name": "app", "env": [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"}
    ]}]}});
    let patch = json!({"spec": {"containers": [{"name": "app",
        "$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
        "env": [
            {"name": "B", "value": null, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "C", "value": "3"}
        ]
    }]}});
    assert_eq!(
        pod(&doc, &patch),
        json!({"spec": {"containers": [{"name": "app", "env": [
            {"name": "A", "value": "1"},
            {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "C", "value": "3"}
        ]}]}})
    );
}

#[test]
fn ports_merge_by_container_port() {
    let doc = json!({"spec": {"containers": [{"name": "app", "ports": [
        {"containerPort": 80, "protocol": "TCP"},
        {"containerPort": 443}
    ]}]}});
    let patch = json!({"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 443, "name": "https"}]}]}});
    assert_eq!(
        pod(&doc, &patch),
        json!({"spec": {"containers": [{"name": "app", "ports": [
            {"containerPort": 80, "protocol": "TCP"},
            {"containerPort": 443, "name": "https"}
        ]}]}})
    );
}

#[test]
fn finalizers_merge_as_an_ordered_set() {
    let doc = json!({"metadata": {"name": "x", "finalizers": ["a", "b"]}});
    let union = pod(&doc, &json!({"metadata": {"finalizers": ["b", "c"]}}));
    assert_eq!(
        union,
        json!({"metadata": {"name": "x", "finalizers": ["a", "b", "c"]}})
    );
    // Upstream puts a new item before the remaining original ones when no order is given.
    let added = pod(&doc, &json!({"metadata": {"finalizers": ["c", "a"]}}));
    assert_eq!(added["metadata"]["finalizers"], json!(["c", "a", "b"]));
    let dup = pod(&doc, &json!({"metadata": {"finalizers": ["a", "a"]}}));
    assert_eq!(dup["metadata"]["finalizers"], json!(["a", "b"]));
}

#[test]
fn delete_from_primitive_list() {
    let doc = json!({"metadata": {"name": "x", "finalizers": ["a", "b", "c"]}});
    let out = pod(
        &doc,
        &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"]}}),
    );
    assert_eq!(
        out,
        json!({"metadata": {"name": "x", "finalizers": ["a", "c"]}})
    );

    // kubectl's shape for ["a","b","c"] -> ["b","c","d"].
    let patch = json!({"metadata": {
        "$setElementOrder/finalizers": ["b", "c", "d"],
        "$deleteFromPrimitiveList/finalizers": ["a"],
        "finalizers": ["d"]
    }});
    assert_eq!(
        pod(&doc, &patch),
        json!({"metadata": {"name": "x", "finalizers": ["b", "c", "d"]}})
    );

    // Deleting from a list the object lacks does not create it.
    let bare = json!({"metadata": {"name": "x"}});
    let out = pod(
        &bare,
        &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
    );
    assert_eq!(out, bare);
}

#[test]
fn set_element_order_reorders_and_is_stripped() {
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "log"}, {"name": "app"}],
        "containers": [{"name": "app", "image": "nginx:1.26"}]
    }});
    assert_eq!(
        pod(&two_container_pod(), &patch)["spec"],
        json!({"containers": [
            {"name": "log", "image": "busybox"},
            {"name": "app", "image": "nginx:1.26", "ports": [{"containerPort": 80, "protocol": "TCP"}]}
        ]})
    );
}

#[test]
fn set_element_order_weaves_in_server_only_items() {
    let doc = json!({"spec": {"containers": [{"name": "a"}, {"name": "x"}, {"name": "b"}]}});
    let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}});
    assert_eq!(
        pod(&doc, &patch)["spec"]["containers"],
        json!([{"name": "x"}, {"name": "b"}, {"name": "a"}])
    );
}

#[test]
fn set_element_order_must_cover_the_patch_list() {
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [{"name": "other", "image": "x"}]
    }});
    let err = smp("", "v1", "Pod", &two_container_pod(), &patch).unwrap_err();
    assert!(
        err.to_string()
            .contains("doesn't match $setElementOrder/ list"),
        "{err}"
    );
}

fn rolling_deployment() -> Value {
    json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "app", "image": "nginx:1.25"},
                    {"name": "sidecar", "image": "envoy:1.30"}
                ]}
            }
        }
    })
}

#[test]
fn retain_keys_switches_deployment_strategy() {
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let out = deployment(&rolling_deployment(), &patch);
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(out["spec"]["replicas"], json!(2));

    // Without the directive the old rollingUpdate stays (plain map merge).
    let plain = deployment(
        &rolling_deployment(),
        &json!({"spec": {"strategy": {"type": "Recreate"}}}),
    );
    assert_eq!(
        plain["spec"]["strategy"],
        json!({"type": "Recreate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );

    // A patched key outside the list is an error.
    let bad = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {}}}});
    let err = smp("apps", "v1", "Deployment", &rolling_deployment(), &bad).unwrap_err();
    assert_eq!(err.to_string(), "invalid patch format of retainKeys");
    assert_eq!(err.status_code(), 400);
}

#[test]
fn retain_keys_in_a_volume_switches_its_source() {
    let doc = json!({"spec": {"volumes": [
        {"name": "data", "emptyDir": {}},
        {"name": "cache", "emptyDir": {"medium": "Memory"}}
    ]}});
    let patch = json!({"spec": {"volumes": [
        {"name": "data", "$retainKeys": ["configMap", "name"], "configMap": {"name": "cfg"}}
    ]}});
    assert_eq!(
        pod(&doc, &patch),
        json!({"spec": {"volumes": [
            {"name": "data", "configMap": {"name": "cfg"}},
            {"name": "cache", "emptyDir": {"medium": "Memory"}}
        ]}})
    );
}

#[test]
fn kubectl_style_image_update_on_a_deployment() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}}});
    assert_eq!(
        deployment(&rolling_deployment(), &patch),
        json!({
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [
                        {"name": "app", "image": "nginx:1.26"},
                        {"name": "sidecar", "image": "envoy:1.30"}
                    ]}
                }
            }
        })
    );
}

#[test]
fn cronjob_job_template_containers_merge() {
    let doc = json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]
    }}}}}});
    let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "b", "image": "z"}]
    }}}}}});
    let out = smp("batch", "v1", "CronJob", &doc, &patch).unwrap();
    assert_eq!(
        out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "x"}, {"name": "b", "image": "z"}])
    );
}

#[test]
fn patch_replace_on_a_map() {
    let patch = json!({"metadata": {"labels": {"$patch": "replace", "app": "web2"}}});
    assert_eq!(
        pod(&two_container_pod(), &patch)["metadata"],
        json!({"name": "web", "labels": {"app": "web2"}})
    );
}

#[test]
fn patch_delete_on_a_map_empties_it() {
    let doc = json!({"spec": {"affinity": {"nodeAffinity": {"x": 1}}, "containers": []}});
    let out = pod(&doc, &json!({"spec": {"affinity": {"$patch": "delete"}}}));
    assert_eq!(out, json!({"spec": {"affinity": {}, "containers": []}}));
}

#[test]
fn labels_null_deletes() {
    let patch = json!({"metadata": {"labels": {"tier": null, "env": "prod", "absent": null}}});
    assert_eq!(
        pod(&two_container_pod(), &patch)["metadata"],
        json!({"name": "web", "labels": {"app": "web", "env": "prod"}})
    );
}

#[test]
fn tolerations_are_replaced_wholesale() {
    let doc = json!({"spec": {"tolerations": [
        {"key": "a", "operator": "Exists"},
        {"key": "b", "operator": "Exists"}
    ]}});
    let patch = json!({"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}});
    assert_eq!(
        pod(&doc, &patch),
        json!({"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}})
    );
}

#[test]
fn unknown_fields_and_kinds_behave_like_merge_patch() {
    let doc = json!({"spec": {"items": [{"name": "a"}, {"name": "b"}], "conf": {"a": 1, "b": 2}}});
    let patch = json!({"spec": {"items": [{"name": "c"}], "conf": {"a": null, "c": 3}}});
    let want = json!({"spec": {"items": [{"name": "c"}], "conf": {"b": 2, "c": 3}}});
    assert!(
        Schema::builtin()
            .definition_for("example.com", "v1", "Widget")
            .is_none()
    );
    assert_eq!(strategic_merge_patch_untyped(&doc, &patch).unwrap(), want);
    // An unknown field of a known kind.
    assert_eq!(pod(&doc, &patch), want);
}

#[test]
fn directives_never_reach_the_result() {
    let doc = json!({"metadata": {"name": "x"}, "spec": {"containers": [{"name": "app"}]}});
    let patch = json!({
        "metadata": {"$setElementOrder/finalizers": ["f"], "finalizers": ["f"], "labels": {"$patch": "merge", "a": "1"}},
        "spec": {
            "$setElementOrder/initContainers": [{"name": "init"}],
            "initContainers": [{
                "name": "init",
                "image": "busybox",
                "$setElementOrder/env": [{"name": "X"}],
                "env": [{"name": "X", "value": "1", "valueFrom": null}],
                "securityContext": {"$patch": "replace", "runAsUser": 1000}
            }],
            "volumes": [{"name": "v", "$retainKeys": ["name", "emptyDir"], "emptyDir": {}}],
            "containers": [{"name": "app", "$deleteFromPrimitiveList/args": ["x"], "resources": {"$patch": "delete"}}]
        }
    });
    assert_eq!(
        pod(&doc, &patch),
        json!({
            "metadata": {"name": "x", "finalizers": ["f"], "labels": {"a": "1"}},
            "spec": {
                "containers": [{"name": "app"}],
                "initContainers": [{
                    "name": "init",
                    "image": "busybox",
                    "env": [{"name": "X", "value": "1"}],
                    "securityContext": {"runAsUser": 1000}
                }],
                "volumes": [{"name": "v", "emptyDir": {}}]
            }
        })
    );
}

#[test]
fn service_ports_merge_by_port() {
    let doc = json!({"spec": {"ports": [
        {"name": "http", "port": 80, "targetPort": 8080},
        {"name": "https", "port": 443}
    ]}});
    let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}});
    assert_eq!(
        smp("", "v1", "Service", &doc, &patch).unwrap(),
        json!({"spec": {"ports": [
            {"name": "http", "port": 80, "targetPort": 9090},
            {"name": "https", "port": 443}
        ]}})
    );
}

#[test]
fn node_status_conditions_and_addresses_merge_by_type() {
    let doc = json!({"status": {
        "conditions": [{"type": "Ready", "status": "False"}, {"type": "MemoryPressure", "status": "False"}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}]
    }});
    let patch = json!({"status": {
        "conditions": [{"type": "Ready", "status": "True"}],
        "addresses": [{"type": "Hostname", "address": "n1.local"}]
    }});
    assert_eq!(
        smp("", "v1", "Node", &doc, &patch).unwrap(),
        json!({"status": {
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1.local"}]
        }})
    );
}

#[test]
fn owner_references_merge_by_uid() {
    let doc = json!({"metadata": {"ownerReferences": [
        {"uid": "1", "name": "a", "kind": "ReplicaSet"},
        {"uid": "2", "name": "b", "kind": "ReplicaSet"}
    ]}});
    let patch = json!({"metadata": {"ownerReferences": [{"uid": "2", "controller": true}]}});
    assert_eq!(
        smp("", "v1", "ConfigMap", &doc, &patch).unwrap(),
        json!({"metadata": {"ownerReferences": [
            {"uid": "1", "name": "a", "kind": "ReplicaSet"},
            {"uid": "2", "name": "b", "kind": "ReplicaSet", "controller": true}
        ]}})
    );
}

#[test]
fn pdb_selector_has_replace_strategy() {
    let doc = json!({"spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "a"}}}});
    let patch =
        json!({"spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}}});
    assert_eq!(
        smp("policy", "v1", "PodDisruptionBudget", &doc, &patch).unwrap(),
        json!({"spec": {"minAvailable": 1, "selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}}})
    );
}

#[test]
fn bad_patches_are_errors() {
    let doc = two_container_pod();
    let err = smp("", "v1", "Pod", &doc, &json!([1])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
    assert_eq!(err.status_code(), 400);

    let err = smp(
        "",
        "v1",
        "Pod",
        &doc,
        &json!({"spec": {"containers": [{"image": "x"}]}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"map: {"image":"x"} does not contain declared merge key: name"#
    );

    let err = smp(
        "",
        "v1",
        "Pod",
        &doc,
        &json!({"metadata": {"labels": {"$patch": "frob"}}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"unknown patch type: frob in map: {"$patch":"frob"}"#
    );

    let err = smp(
        "",
        "v1",
        "Pod",
        &doc,
        &json!({"spec": {"containers": ["app"]}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected a map[string]interface {}, but received a string"
    );

    // A null patch is an empty one.
    assert_eq!(smp("", "v1", "Pod", &doc, &Value::Null).unwrap(), doc);
}
