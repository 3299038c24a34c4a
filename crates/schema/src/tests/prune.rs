//! Pruning of unknown fields.

use super::{schema, spec_schema};
use serde_json::json;

#[test]
fn unknown_fields_are_dropped_and_reported() {
    let s = spec_schema(json!({"replicas": {"type": "integer"}}));
    let mut obj = json!({
        "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "junk": 1},
        "spec": {"replicas": 1, "foo": {"bar": 1}},
        "status": {"ready": true},
    });
    let mut pruned = s.prune(&mut obj);
    pruned.sort();
    assert_eq!(pruned, ["spec.foo", "status"]);
    assert_eq!(
        obj,
        json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "junk": 1},
               "spec": {"replicas": 1}})
    );
}

#[test]
fn preserve_unknown_fields_keeps_unknown_but_prunes_specified() {
    let s = spec_schema(json!({
        "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
            "known": {"type": "object", "properties": {"a": {"type": "string"}}},
        }},
    }));
    let mut obj =
        json!({"spec": {"raw": {"other": {"deep": [1]}, "known": {"a": "x", "junk": 1}}}});
    assert_eq!(s.prune(&mut obj), ["spec.raw.known.junk"]);
    assert_eq!(
        obj,
        json!({"spec": {"raw": {"other": {"deep": [1]}, "known": {"a": "x"}}}})
    );
}

#[test]
fn preserve_unknown_fields_at_the_root() {
    let s = schema(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    let mut obj = json!({"spec": {"anything": true}, "status": 1});
    assert!(s.prune(&mut obj).is_empty());
    assert_eq!(obj, json!({"spec": {"anything": true}, "status": 1}));
}

#[test]
fn arrays_and_maps_are_pruned_by_their_schemas() {
    let s = spec_schema(json!({
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"},
        }}},
        "labels": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"v": {"type": "string"}},
        }},
    }));
    let mut obj = json!({"spec": {
        "items": [{"name": "a", "junk": 1}, {"name": "b"}],
        "labels": {"x": {"v": "1", "w": "2"}},
    }});
    let mut pruned = s.prune(&mut obj);
    pruned.sort();
    assert_eq!(pruned, ["spec.items[0].junk", "spec.labels.x.w"]);
    assert_eq!(
        obj,
        json!({"spec": {"items": [{"name": "a"}, {"name": "b"}], "labels": {"x": {"v": "1"}}}})
    );
}

#[test]
fn embedded_resources_keep_type_and_object_meta() {
    let s = spec_schema(json!({"template": {
        "type": "object",
        "x-kubernetes-embedded-resource": true,
        "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    }}));
    let mut obj = json!({"spec": {"template": {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"n": 1, "junk": 2}, "status": {},
    }}});
    let mut pruned = s.prune(&mut obj);
    pruned.sort();
    assert_eq!(pruned, ["spec.template.spec.junk", "spec.template.status"]);
    assert_eq!(
        obj,
        json!({"spec": {"template": {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"n": 1},
        }}})
    );
}

#[test]
fn fields_below_nested_objects_without_properties_are_dropped() {
    // An object without properties and without preserve-unknown-fields keeps nothing.
    let s = spec_schema(json!({"opaque": {"type": "object"}}));
    let mut obj = json!({"spec": {"opaque": {"a": 1}}});
    assert_eq!(s.prune(&mut obj), ["spec.opaque.a"]);
    assert_eq!(obj, json!({"spec": {"opaque": {}}}));
}
