//! Defaulting.

use super::{schema, spec_schema};
use serde_json::json;

#[test]
fn absent_fields_get_defaults() {
    let s = spec_schema(json!({
        "replicas": {"type": "integer", "default": 1},
        "name": {"type": "string", "default": "x"},
    }));
    let mut obj = json!({"spec": {"name": "given"}});
    s.apply_defaults(&mut obj);
    assert_eq!(obj, json!({"spec": {"replicas": 1, "name": "given"}}));
}

#[test]
fn nulls_get_defaults_unless_nullable() {
    let s = spec_schema(json!({
        "a": {"type": "integer", "default": 1},
        "b": {"type": "integer", "default": 2, "nullable": true},
        "c": {"type": "integer"},
        "d": {"type": "integer", "nullable": true},
    }));
    let mut obj = json!({"spec": {"a": null, "b": null, "c": null, "d": null}});
    s.apply_defaults(&mut obj);
    // Non-nullable nulls without a default are dropped, like upstream.
    assert_eq!(obj, json!({"spec": {"a": 1, "b": null, "d": null}}));
}

#[test]
fn defaults_apply_recursively_inside_defaults() {
    let s = spec_schema(json!({
        "strategy": {
            "type": "object",
            "default": {},
            "properties": {
                "type": {"type": "string", "default": "Rolling"},
                "rolling": {"type": "object", "properties": {
                    "maxSurge": {"type": "integer", "default": 1},
                }},
            },
        },
    }));
    let mut obj = json!({"spec": {}});
    s.apply_defaults(&mut obj);
    assert_eq!(obj, json!({"spec": {"strategy": {"type": "Rolling"}}}));
    let mut obj = json!({"spec": {"strategy": {"rolling": {}}}});
    s.apply_defaults(&mut obj);
    assert_eq!(
        obj,
        json!({"spec": {"strategy": {"type": "Rolling", "rolling": {"maxSurge": 1}}}})
    );
    // No spec, no defaults below it.
    let mut obj = json!({"kind": "X"});
    s.apply_defaults(&mut obj);
    assert_eq!(obj, json!({"kind": "X"}));
}

#[test]
fn array_items_and_map_values_are_defaulted() {
    let s = spec_schema(json!({
        "ports": {"type": "array", "items": {"type": "object", "properties": {
            "protocol": {"type": "string", "default": "TCP"},
        }}},
        "limits": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"unit": {"type": "string", "default": "m"}},
        }},
        "names": {"type": "array", "items": {"type": "string", "default": "anon"}},
    }));
    let mut obj = json!({"spec": {
        "ports": [{"port": 80}, {"protocol": "UDP"}],
        "limits": {"cpu": {}, "mem": {"unit": "Mi"}},
        "names": ["a", null],
    }});
    s.apply_defaults(&mut obj);
    assert_eq!(
        obj,
        json!({"spec": {
            "ports": [{"port": 80, "protocol": "TCP"}, {"protocol": "UDP"}],
            "limits": {"cpu": {"unit": "m"}, "mem": {"unit": "Mi"}},
            "names": ["a", "anon"],
        }})
    );
}

#[test]
fn metadata_is_left_alone() {
    let s = schema(json!({"type": "object", "properties": {
        "metadata": {"type": "object"},
        "spec": {"type": "object", "default": {}},
    }}));
    let mut obj = json!({"metadata": {"name": "x", "labels": null}});
    s.apply_defaults(&mut obj);
    assert_eq!(
        obj,
        json!({"metadata": {"name": "x", "labels": null}, "spec": {}})
    );
}

#[test]
fn defaults_below_preserve_unknown_fields() {
    let s = spec_schema(json!({
        "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
            "mode": {"type": "string", "default": "auto"},
        }},
    }));
    let mut obj = json!({"spec": {"raw": {"other": null}}});
    s.apply_defaults(&mut obj);
    assert_eq!(
        obj,
        json!({"spec": {"raw": {"other": null, "mode": "auto"}}})
    );
}
