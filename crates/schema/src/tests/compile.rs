//! Compile-time (structural schema) rules.

use super::{base, compile_errors, schema};
use crate::Schema;
use serde_json::{Value, json};

const B: &str = "spec.versions[0].schema.openAPIV3Schema";

fn with_spec(spec: Value) -> Value {
    json!({"type": "object", "properties": {"spec": spec}})
}

#[test]
fn typical_schema_compiles() {
    let s = schema(json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["replicas"],
                "properties": {
                    "replicas": {"type": "integer", "minimum": 0, "default": 1},
                    "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 10},
                    "port": {"x-kubernetes-int-or-string": true},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "anything": {"x-kubernetes-preserve-unknown-fields": true},
                    "items": {"type": "array", "items": {"type": "string"}},
                },
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        },
    }));
    assert_eq!(s.raw()["type"], "object");
    assert_eq!(
        s.node_at(&["spec", "replicas"]),
        Some(&json!({"type": "integer", "minimum": 0, "default": 1}))
    );
    assert_eq!(
        s.node_at(&["spec", "items", "[]"]),
        Some(&json!({"type": "string"}))
    );
    assert_eq!(
        s.node_at(&["spec", "labels", "any"]),
        Some(&json!({"type": "string"}))
    );
    assert_eq!(s.node_at(&["spec", "nope"]), None);
}

#[test]
fn type_is_required() {
    assert_eq!(
        compile_errors(json!({"properties": {}})),
        [format!(
            "{B}.type: Required value: must not be empty at the root"
        )]
    );
    assert_eq!(
        compile_errors(with_spec(json!({"description": "no type"}))),
        [format!(
            "{B}.properties[spec].type: Required value: must not be empty for specified object fields"
        )]
    );
    assert_eq!(
        compile_errors(with_spec(json!({"type": "array", "items": {}}))),
        [format!(
            "{B}.properties[spec].items.type: Required value: must not be empty for specified array items"
        )]
    );
}

#[test]
fn type_must_be_known_and_object_at_root() {
    assert_eq!(
        compile_errors(json!({"type": "string"})),
        [format!(
            "{B}.type: Invalid value: \"string\": must be object at the root"
        )]
    );
    assert_eq!(
        compile_errors(with_spec(json!({"type": "str"}))),
        [format!(
            "{B}.properties[spec].type: Unsupported value: \"str\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\""
        )]
    );
    assert_eq!(
        compile_errors(with_spec(json!({"type": "null"}))),
        [format!(
            "{B}.properties[spec].type: Forbidden: type cannot be set to null, use nullable as an alternative"
        )]
    );
}

#[test]
fn type_exceptions() {
    schema(with_spec(json!({"x-kubernetes-int-or-string": true})));
    schema(with_spec(
        json!({"x-kubernetes-preserve-unknown-fields": true}),
    ));
    schema(with_spec(json!({
        "x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
    })));
    schema(with_spec(json!({
        "x-kubernetes-int-or-string": true,
        "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"pattern": "^x"}],
    })));
    assert_eq!(
        compile_errors(with_spec(json!({
            "x-kubernetes-int-or-string": true,
            "x-kubernetes-preserve-unknown-fields": true,
        }))),
        [format!(
            "{B}.properties[spec].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if x-kubernetes-int-or-string is true"
        )]
    );
    assert_eq!(
        compile_errors(with_spec(
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": false})
        )),
        [format!(
            "{B}.properties[spec].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"
        )]
    );
}

#[test]
fn arrays_need_items() {
    assert_eq!(
        compile_errors(with_spec(json!({"type": "array"}))),
        [format!(
            "{B}.properties[spec].items: Required value: must be specified"
        )]
    );
    assert_eq!(
        compile_errors(with_spec(
            json!({"type": "array", "items": [{"type": "string"}]})
        )),
        [format!(
            "{B}.properties[spec].items: Forbidden: items must be a schema object and not an array"
        )]
    );
}

#[test]
fn properties_and_additional_properties_exclude_each_other() {
    assert_eq!(
        compile_errors(with_spec(json!({
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "additionalProperties": {"type": "string"},
        }))),
        [format!(
            "{B}.properties[spec].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
        )]
    );
    // `additionalProperties: true` next to properties is tolerated, like upstream.
    schema(with_spec(json!({
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "additionalProperties": true,
    })));
    assert_eq!(
        compile_errors(json!({"type": "object", "additionalProperties": {"type": "string"}})),
        [format!(
            "{B}.additionalProperties: Forbidden: must not be used at the root"
        )]
    );
}

#[test]
fn unique_items_and_unsupported_keywords_are_forbidden() {
    assert_eq!(
        compile_errors(with_spec(json!({
            "type": "array", "items": {"type": "string"}, "uniqueItems": true,
        }))),
        [format!(
            "{B}.properties[spec].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
        )]
    );
    assert_eq!(
        compile_errors(with_spec(json!({"$ref": "#/definitions/x"}))),
        [
            format!("{B}.properties[spec].$ref: Forbidden: $ref is not supported"),
            format!(
                "{B}.properties[spec].type: Required value: must not be empty for specified object fields"
            ),
        ]
    );
}

#[test]
fn patterns_must_compile() {
    let errs = compile_errors(with_spec(json!({"type": "string", "pattern": "^[a-z"})));
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with(&format!(
            "{B}.properties[spec].pattern: Invalid value: \"^[a-z\": must be a valid regular expression, but isn't: "
        )),
        "{errs:?}"
    );
    schema(with_spec(
        json!({"type": "string", "pattern": "(?i)^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}),
    ));
}

#[test]
fn root_metadata_is_restricted() {
    schema(json!({"type": "object", "properties": {"metadata": {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}},
    }}}));
    assert_eq!(
        compile_errors(json!({"type": "object", "properties": {"metadata": {
            "type": "object",
            "properties": {"labels": {"type": "object"}},
        }}})),
        [format!(
            "{B}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
        )]
    );
    assert_eq!(
        compile_errors(json!({"type": "object", "properties": {"metadata": {"type": "string"}}})),
        [format!(
            "{B}.properties[metadata].type: Invalid value: \"string\": must be object"
        ),]
    );
    assert_eq!(
        compile_errors(json!({"type": "object", "properties": {"kind": {"type": "integer"}}})),
        [format!(
            "{B}.properties[kind].type: Invalid value: \"integer\": must be string"
        )]
    );
}

#[test]
fn embedded_resources() {
    schema(with_spec(json!({
        "type": "object",
        "x-kubernetes-embedded-resource": true,
        "x-kubernetes-preserve-unknown-fields": true,
    })));
    assert_eq!(
        compile_errors(with_spec(
            json!({"x-kubernetes-embedded-resource": true, "properties": {"a": {"type": "string"}}})
        )),
        [format!(
            "{B}.properties[spec].type: Required value: must be object if x-kubernetes-embedded-resource is true"
        )]
    );
    assert_eq!(
        compile_errors(with_spec(
            json!({"type": "object", "x-kubernetes-embedded-resource": true})
        )),
        [format!(
            "{B}.properties[spec].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"
        )]
    );
}

#[test]
fn junctors_are_value_validation_only() {
    assert_eq!(
        compile_errors(with_spec(json!({
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "anyOf": [{"type": "object", "description": "x", "properties": {"a": {"nullable": true}}}],
        }))),
        [
            format!(
                "{B}.properties[spec].anyOf[0].description: Forbidden: must be empty to be structural"
            ),
            format!(
                "{B}.properties[spec].anyOf[0].properties[a].nullable: Forbidden: must be false to be structural"
            ),
            format!(
                "{B}.properties[spec].anyOf[0].type: Forbidden: must be empty to be structural"
            ),
        ]
    );
    assert_eq!(
        compile_errors(with_spec(json!({
            "type": "object",
            "oneOf": [{"additionalProperties": {"type": "string"}, "default": {}}],
        }))),
        [
            format!(
                "{B}.properties[spec].oneOf[0].additionalProperties: Forbidden: must be undefined to be structural"
            ),
            format!(
                "{B}.properties[spec].oneOf[0].default: Forbidden: must be undefined to be structural"
            ),
        ]
    );
}

#[test]
fn junctors_may_only_speak_about_specified_fields() {
    assert_eq!(
        compile_errors(with_spec(json!({
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "allOf": [{"properties": {"b": {"minLength": 1}}}],
            "not": {"items": {"minLength": 1}},
        }))),
        [
            format!(
                "{B}.properties[spec].items: Required value: because it is defined in {B}.properties[spec].not.items"
            ),
            format!(
                "{B}.properties[spec].properties[b]: Required value: because it is defined in {B}.properties[spec].allOf[0].properties[b]"
            ),
        ]
    );
}

#[test]
fn list_types() {
    let list = |extra: Value| {
        let mut spec = json!({
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
            },
        });
        if let (Some(m), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        compile_errors(with_spec(spec))
    };
    assert!(
        list(json!({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}))
            .is_empty()
    );
    assert_eq!(
        list(json!({"x-kubernetes-list-type": "map"})),
        [format!(
            "{B}.properties[spec].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map"
        )]
    );
    assert_eq!(
        list(json!({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["nope"]})),
        [format!(
            "{B}.properties[spec].x-kubernetes-list-map-keys: Invalid value: [\"nope\"]: entries must all be names of item properties"
        )]
    );
    assert_eq!(
        list(json!({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port"]})),
        [format!(
            "{B}.properties[spec].items.properties[port].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"
        )]
    );
    assert_eq!(
        list(json!({"x-kubernetes-list-type": "bag"})),
        [format!(
            "{B}.properties[spec].x-kubernetes-list-type: Unsupported value: \"bag\": supported values: \"atomic\", \"set\", \"map\""
        )]
    );
    assert_eq!(
        list(json!({"x-kubernetes-list-type": "set"})),
        [format!(
            "{B}.properties[spec].items.x-kubernetes-map-type: Invalid value: null: must be atomic as item of a list with x-kubernetes-list-type=set"
        )]
    );
    assert_eq!(
        list(json!({"x-kubernetes-list-map-keys": ["name"]})),
        [format!(
            "{B}.properties[spec].x-kubernetes-list-map-keys: Forbidden: must be empty if x-kubernetes-list-type is not map"
        )]
    );
}

#[test]
fn defaults_must_validate_and_be_pruned() {
    assert_eq!(
        compile_errors(with_spec(json!({"type": "integer", "default": "three"}))),
        [format!(
            "{B}.properties[spec].default: Invalid value: \"string\":  in body must be of type integer: \"string\""
        )]
    );
    assert_eq!(
        compile_errors(with_spec(json!({
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "default": {"a": "x"},
        }))),
        [format!(
            "{B}.properties[spec].default.a: Invalid value: \"string\": a in body must be of type integer: \"string\""
        )]
    );
    assert_eq!(
        compile_errors(with_spec(json!({
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "default": {"a": 1, "junk": true},
        }))),
        [format!(
            "{B}.properties[spec].default: Invalid value: {{\"a\":1,\"junk\":true}}: must not have unknown fields"
        )]
    );
    // Unknown fields below x-kubernetes-preserve-unknown-fields are fine.
    schema(with_spec(json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "default": {"junk": true},
    })));
}

#[test]
fn bad_input_never_panics() {
    let inputs = [
        json!(null),
        json!(3),
        json!("object"),
        json!([]),
        json!({"type": 3}),
        json!({"type": "object", "properties": []}),
        json!({"type": "object", "properties": {"a": 1}}),
        json!({"type": "object", "properties": {"a": {"type": "array", "items": 7}}}),
        json!({"type": "object", "required": "a", "enum": 3, "minimum": "x", "maxLength": -1}),
        json!({"type": "object", "allOf": {}, "anyOf": [1], "oneOf": [null], "not": 2}),
        json!({"type": "object", "x-kubernetes-list-map-keys": [1], "nullable": "yes"}),
        json!({"type": "object", "properties": {"m": {"type": "number", "multipleOf": -1}}}),
    ];
    for input in inputs {
        let result = Schema::compile(&input, &base());
        if let Ok(s) = result {
            // Whatever compiled must handle any object.
            let mut obj = json!({"m": "x", "spec": [1, {"a": null}]});
            s.prune(&mut obj);
            s.apply_defaults(&mut obj);
            let _ = s.validate(&obj);
        }
    }
}
