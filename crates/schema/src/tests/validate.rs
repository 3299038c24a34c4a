//! Validation of custom objects, with upstream's messages.

use super::{messages, schema, spec_errors, spec_schema};
use rkube_api::field::ErrorType;
use serde_json::json;

#[test]
fn types() {
    let s = spec_schema(json!({
        "replicas": {"type": "integer"},
        "ratio": {"type": "number"},
        "name": {"type": "string"},
        "on": {"type": "boolean"},
        "list": {"type": "array", "items": {"type": "string"}},
        "obj": {"type": "object"},
    }));
    assert!(
        spec_errors(
            &s,
            json!({"replicas": 3, "ratio": 1, "name": "x", "on": true})
        )
        .is_empty()
    );
    assert!(
        spec_errors(
            &s,
            json!({"replicas": 3.0, "ratio": 0.5, "list": [], "obj": {}})
        )
        .is_empty()
    );
    assert_eq!(
        spec_errors(&s, json!({"replicas": "3"})),
        [
            "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""
        ]
    );
    assert_eq!(
        spec_errors(
            &s,
            json!({"replicas": 3.5, "on": "yes", "list": {}, "obj": []})
        ),
        [
            "spec.list: Invalid value: \"object\": spec.list in body must be of type array: \"object\"",
            "spec.obj: Invalid value: \"array\": spec.obj in body must be of type object: \"array\"",
            "spec.on: Invalid value: \"string\": spec.on in body must be of type boolean: \"string\"",
            "spec.replicas: Invalid value: \"number\": spec.replicas in body must be of type integer: \"number\"",
        ]
    );
    assert_eq!(
        spec_errors(&s, json!("nope")),
        ["spec: Invalid value: \"string\": spec in body must be of type object: \"string\""]
    );
    let errs = s.validate(&json!({"spec": {"replicas": "3"}}));
    assert_eq!(errs[0].kind, ErrorType::Invalid);
    assert_eq!(errs[0].field.as_str(), "spec.replicas");
    assert_eq!(errs[0].value, Some(json!("string")));
}

#[test]
fn nulls() {
    let s = spec_schema(json!({
        "name": {"type": "string"},
        "maybe": {"type": "string", "nullable": true},
    }));
    assert_eq!(
        spec_errors(&s, json!({"name": null, "maybe": null})),
        ["spec.name: Invalid value: \"null\": spec.name in body must be of type string: \"null\""]
    );
}

#[test]
fn required() {
    let s = schema(json!({
        "type": "object",
        "required": ["spec"],
        "properties": {"spec": {"type": "object", "required": ["foo", "bar"], "properties": {
            "foo": {"type": "string"}, "bar": {"type": "string"},
        }}},
    }));
    assert_eq!(
        spec_errors(&s, json!({"bar": "x"})),
        ["spec.foo: Required value"]
    );
    assert_eq!(
        messages(&s.validate(&json!({"kind": "X"}))),
        ["spec: Required value"]
    );
}

#[test]
fn enums() {
    let s = spec_schema(json!({
        "color": {"type": "string", "enum": ["red", "green"]},
        "size": {"type": "integer", "enum": [1, 2]},
    }));
    assert!(spec_errors(&s, json!({"color": "red", "size": 2.0})).is_empty());
    assert_eq!(
        spec_errors(&s, json!({"color": "blue", "size": 3})),
        [
            "spec.color: Unsupported value: \"blue\": supported values: \"red\", \"green\"",
            "spec.size: Unsupported value: 3: supported values: \"1\", \"2\"",
        ]
    );
}

#[test]
fn strings() {
    let s = spec_schema(json!({
        "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 3, "maxLength": 5},
    }));
    assert!(spec_errors(&s, json!({"name": "abcd"})).is_empty());
    assert_eq!(
        spec_errors(&s, json!({"name": "ABCD"})),
        ["spec.name: Invalid value: \"ABCD\": spec.name in body should match '^[a-z]+$'"]
    );
    assert_eq!(
        spec_errors(&s, json!({"name": "ab"})),
        ["spec.name: Invalid value: \"ab\": spec.name in body should be at least 3 chars long"]
    );
    // Only the first string failure is reported, as upstream.
    assert_eq!(
        spec_errors(&s, json!({"name": "ABCDEFG"})),
        ["spec.name: Too long: may not be more than 5 bytes"]
    );
    // Lengths count characters, not bytes.
    let s = spec_schema(json!({"name": {"type": "string", "maxLength": 3}}));
    assert!(spec_errors(&s, json!({"name": "äöü"})).is_empty());
}

#[test]
fn numbers() {
    let s = spec_schema(json!({
        "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
        "open": {"type": "integer", "minimum": 0, "maximum": 10,
                 "exclusiveMinimum": true, "exclusiveMaximum": true},
        "ratio": {"type": "number", "minimum": 0.5, "multipleOf": 0.25},
        "step": {"type": "integer", "multipleOf": 5},
    }));
    assert!(
        spec_errors(
            &s,
            json!({"replicas": 0, "open": 5, "ratio": 0.75, "step": 10})
        )
        .is_empty()
    );
    assert_eq!(
        spec_errors(
            &s,
            json!({"replicas": -1, "open": 0, "ratio": 0.3, "step": 7})
        ),
        [
            "spec.open: Invalid value: 0: spec.open in body should be greater than 0",
            "spec.ratio: Invalid value: 0.3: spec.ratio in body should be a multiple of 0.25",
            "spec.ratio: Invalid value: 0.3: spec.ratio in body should be greater than or equal to 0.5",
            "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
            "spec.step: Invalid value: 7: spec.step in body should be a multiple of 5",
        ]
    );
    assert_eq!(
        spec_errors(&s, json!({"replicas": 11, "open": 10})),
        [
            "spec.open: Invalid value: 10: spec.open in body should be less than 10",
            "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
        ]
    );
}

#[test]
fn arrays() {
    let s = spec_schema(json!({
        "items": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "integer"}},
    }));
    assert!(spec_errors(&s, json!({"items": [1, 2]})).is_empty());
    assert_eq!(
        spec_errors(&s, json!({"items": [1, "two", 3]})),
        [
            "spec.items[1]: Invalid value: \"string\": spec.items[1] in body must be of type integer: \"string\""
        ]
    );
    assert_eq!(
        spec_errors(&s, json!({"items": []})),
        ["spec.items: Invalid value: 0: spec.items in body should have at least 1 items"]
    );
    assert_eq!(
        spec_errors(&s, json!({"items": [1, 2, 3, 4]})),
        ["spec.items: Invalid value: 4: must have at most 3 items"]
    );
}

#[test]
fn objects() {
    let s = spec_schema(json!({
        "labels": {"type": "object", "minProperties": 1, "maxProperties": 2,
                   "additionalProperties": {"type": "string"}},
        "closed": {"type": "object", "additionalProperties": false},
    }));
    assert!(spec_errors(&s, json!({"labels": {"a": "x"}, "closed": {}})).is_empty());
    assert_eq!(
        spec_errors(&s, json!({"labels": {"a": 1}})),
        [
            "spec.labels.a: Invalid value: \"integer\": spec.labels.a in body must be of type string: \"integer\""
        ]
    );
    assert_eq!(
        spec_errors(&s, json!({"labels": {}})),
        ["spec.labels: Invalid value: 0: spec.labels in body should have at least 1 properties"]
    );
    assert_eq!(
        spec_errors(&s, json!({"labels": {"a": "1", "b": "2", "c": "3"}})),
        ["spec.labels: Invalid value: 3: must have at most 2 items"]
    );
    assert_eq!(
        spec_errors(&s, json!({"closed": {"x": 1}})),
        ["spec.closed: Invalid value: \"x\": spec.closed.x in body is a forbidden property"]
    );
}

#[test]
fn formats() {
    let s = spec_schema(json!({
        "when": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "id": {"type": "string", "format": "uuid"},
        "data": {"type": "string", "format": "byte"},
        "custom": {"type": "string", "format": "my-own-format"},
        "count": {"type": "integer", "format": "int32"},
    }));
    assert!(
        spec_errors(
            &s,
            json!({
                "when": "2024-05-06T07:08:09Z",
                "day": "2024-05-06",
                "id": "123e4567-e89b-12d3-a456-426614174000",
                "data": "aGVsbG8=",
                "custom": "whatever",
                "count": 7,
            })
        )
        .is_empty()
    );
    assert_eq!(
        spec_errors(
            &s,
            json!({"when": "yesterday", "day": "2024-5-6", "id": "x", "data": "%%"})
        ),
        [
            "spec.data: Invalid value: \"%%\": spec.data in body must be of type byte: \"%%\"",
            "spec.day: Invalid value: \"2024-5-6\": spec.day in body must be of type date: \"2024-5-6\"",
            "spec.id: Invalid value: \"x\": spec.id in body must be of type uuid: \"x\"",
            "spec.when: Invalid value: \"yesterday\": spec.when in body must be of type date-time: \"yesterday\"",
        ]
    );
}

#[test]
fn int_or_string() {
    let s = spec_schema(json!({"port": {"x-kubernetes-int-or-string": true}}));
    assert!(spec_errors(&s, json!({"port": 80})).is_empty());
    assert!(spec_errors(&s, json!({"port": "http"})).is_empty());
    assert_eq!(
        spec_errors(&s, json!({"port": true})),
        [
            "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\""
        ]
    );
}

#[test]
fn preserve_unknown_fields_still_validates_known_fields() {
    let s = spec_schema(json!({
        "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                "properties": {"n": {"type": "integer"}}},
    }));
    assert!(spec_errors(&s, json!({"raw": {"anything": [1, {"x": null}], "n": 1}})).is_empty());
    assert_eq!(
        spec_errors(&s, json!({"raw": {"n": "one"}})),
        [
            "spec.raw.n: Invalid value: \"string\": spec.raw.n in body must be of type integer: \"string\""
        ]
    );
}

#[test]
fn junctors() {
    let s = schema(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
    }}}));
    assert!(spec_errors(&s, json!({"a": "x"})).is_empty());
    assert_eq!(
        spec_errors(&s, json!({"a": "x", "b": "y"})),
        [
            ": Invalid value: \"\": \"spec\" must validate one and only one schema (oneOf). Found 2 valid alternatives"
        ]
    );
    assert_eq!(
        spec_errors(&s, json!({})),
        [
            ": Invalid value: \"\": \"spec\" must validate one and only one schema (oneOf). Found none valid",
            "spec.a: Required value",
        ]
    );
    let s = schema(json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "anyOf": [{"required": ["a"]}, {"required": ["b"]}],
        "allOf": [{"properties": {"a": {"maxLength": 2}}}],
        "not": {"required": ["b"], "properties": {"b": {"enum": ["forbidden"]}}},
    }}}));
    assert!(spec_errors(&s, json!({"b": "ok"})).is_empty());
    assert_eq!(
        spec_errors(&s, json!({})),
        [
            ": Invalid value: \"\": \"spec\" must validate at least one schema (anyOf)",
            "spec.a: Required value",
        ]
    );
    assert_eq!(
        spec_errors(&s, json!({"a": "long"})),
        [
            "spec.a: Too long: may not be more than 2 bytes",
            ": Invalid value: \"\": \"spec\" must validate all the schemas (allOf). None validated",
        ]
    );
    assert_eq!(
        spec_errors(&s, json!({"b": "forbidden"})),
        [": Invalid value: \"\": \"spec\" must not validate the schema (not)"]
    );
}

#[test]
fn list_types() {
    let s = spec_schema(json!({
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "ports": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name", "protocol"],
            "items": {"type": "object", "required": ["name", "protocol"], "properties": {
                "name": {"type": "string"}, "protocol": {"type": "string"},
            }},
        },
    }));
    assert!(
        spec_errors(
            &s,
            json!({
                "tags": ["a", "b"],
                "ports": [{"name": "a", "protocol": "TCP"}, {"name": "a", "protocol": "UDP"}],
            })
        )
        .is_empty()
    );
    assert_eq!(
        spec_errors(
            &s,
            json!({
                "tags": ["a", "b", "a", "a"],
                "ports": [{"name": "a", "protocol": "TCP"}, {"protocol": "TCP", "name": "a"}],
            })
        ),
        [
            "spec.ports[1]: Duplicate value: {\"name\":\"a\",\"protocol\":\"TCP\"}",
            "spec.tags[2]: Duplicate value: \"a\"",
        ]
    );
    assert_eq!(
        spec_errors(&s, json!({"ports": ["x"]})),
        [
            "spec.ports[0]: Invalid value: \"string\": spec.ports[0] in body must be of type object: \"string\"",
            "spec.ports[0]: Invalid value: \"x\": must be an object for an array of list-type map",
        ]
    );
}

#[test]
fn root_metadata_is_not_validated() {
    let s = schema(json!({"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}},
        "spec": {"type": "object"},
    }}));
    let obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "much-too-long"}, "spec": {}});
    assert!(s.validate(&obj).is_empty());
}

#[test]
fn embedded_resources_are_validated_by_their_schema() {
    let s = spec_schema(json!({"template": {
        "type": "object",
        "x-kubernetes-embedded-resource": true,
        "properties": {"kind": {"type": "string"}, "spec": {"type": "object", "properties": {
            "n": {"type": "integer"},
        }}},
    }}));
    assert_eq!(
        spec_errors(&s, json!({"template": {"kind": 1, "spec": {"n": "x"}}})),
        [
            "spec.template.kind: Invalid value: \"integer\": spec.template.kind in body must be of type string: \"integer\"",
            "spec.template.spec.n: Invalid value: \"string\": spec.template.spec.n in body must be of type integer: \"string\"",
        ]
    );
}

#[test]
fn list_types_below_maps_use_key_paths() {
    let s = spec_schema(
        json!({"groups": {"type": "object", "additionalProperties": {
            "type": "array", "x-kubernetes-list-type": "set", "items": {"type": "integer"},
        }}}),
    );
    assert_eq!(
        spec_errors(&s, json!({"groups": {"a": [1, 1]}})),
        ["spec.groups[a][1]: Duplicate value: 1"]
    );
}

#[test]
fn nullable_enums_accept_null() {
    let s = spec_schema(json!({
        "mode": {"type": "string", "enum": ["a"], "nullable": true},
        "strict": {"type": "string", "enum": ["a"]},
    }));
    assert_eq!(
        spec_errors(&s, json!({"mode": null, "strict": null})),
        [
            "spec.strict: Invalid value: \"null\": spec.strict in body must be of type string: \"null\"",
            "spec.strict: Unsupported value: null: supported values: \"a\"",
        ]
    );
}

#[test]
fn schemas_are_cloneable_and_debuggable() {
    let s = spec_schema(json!({"a": {"type": "string"}}));
    let t = s.clone();
    assert!(format!("{t:?}").contains("Schema"));
    assert_eq!(s.raw(), t.raw());
}
