//! The definitions of `/openapi/v2`: the v3 component schemas in Swagger 2.0 form
//! (`#/definitions/` references) and their gnostic protobuf encoding, which kubectl up to
//! 1.29 reads for `explain`.

use super::v2::wire;
use serde_json::{Map, Value};

/// A v3 component schema in v2 form: references point into `#/definitions/`, and a field
/// that is only a reference (`allOf: [{$ref}]`, v3's way to keep a description beside it)
/// becomes the reference itself.
pub fn to_v2(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        out.insert(
                            "$ref".into(),
                            Value::from(r.replace("#/components/schemas/", "#/definitions/")),
                        );
                    }
                    ("allOf", Value::Array(items))
                        if items.len() == 1 && items[0].get("$ref").is_some() =>
                    {
                        if let Value::Object(inner) = to_v2(&items[0]) {
                            out.extend(inner);
                        }
                    }
                    _ => {
                        out.insert(k.clone(), to_v2(v));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_v2).collect()),
        other => other.clone(),
    }
}

// Field numbers of gnostic's `openapi.v2.Schema` and its helpers.
const SCHEMA_REF: u32 = 1;
const SCHEMA_FORMAT: u32 = 2;
const SCHEMA_DESCRIPTION: u32 = 4;
const SCHEMA_REQUIRED: u32 = 19;
const SCHEMA_ADDITIONAL_PROPERTIES: u32 = 21;
const SCHEMA_TYPE: u32 = 22;
const SCHEMA_ITEMS: u32 = 23;
const SCHEMA_ALL_OF: u32 = 24;
const SCHEMA_PROPERTIES: u32 = 25;
const SCHEMA_VENDOR_EXTENSION: u32 = 31;
const ADDITIONAL_SCHEMA: u32 = 1;
const ADDITIONAL_BOOLEAN: u32 = 2;
const TYPE_VALUE: u32 = 1;
const ITEMS_SCHEMA: u32 = 1;
const PROPERTIES_NAMED: u32 = 1;
const NAMED_NAME: u32 = 1;
const NAMED_VALUE: u32 = 2;
const ANY_YAML: u32 = 2;

/// A JSON value as the YAML gnostic keeps extension values in (JSON is YAML).
fn yaml(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A v2 schema as a gnostic `Schema` message.
pub fn encode_schema(schema: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(map) = schema.as_object() else {
        return out;
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str);
    if let Some(r) = text("$ref") {
        wire::bytes(&mut out, SCHEMA_REF, r.as_bytes());
    }
    if let Some(f) = text("format") {
        wire::bytes(&mut out, SCHEMA_FORMAT, f.as_bytes());
    }
    if let Some(d) = text("description") {
        wire::bytes(&mut out, SCHEMA_DESCRIPTION, d.as_bytes());
    }
    for name in map
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = name.as_str() {
            wire::bytes(&mut out, SCHEMA_REQUIRED, name.as_bytes());
        }
    }
    match map.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut item = Vec::new();
            wire::boolean(&mut item, ADDITIONAL_BOOLEAN, *b);
            wire::bytes(&mut out, SCHEMA_ADDITIONAL_PROPERTIES, &item);
        }
        Some(inner @ Value::Object(_)) => {
            let mut item = Vec::new();
            wire::bytes(&mut item, ADDITIONAL_SCHEMA, &encode_schema(inner));
            wire::bytes(&mut out, SCHEMA_ADDITIONAL_PROPERTIES, &item);
        }
        _ => {}
    }
    if let Some(t) = text("type") {
        let mut item = Vec::new();
        wire::bytes(&mut item, TYPE_VALUE, t.as_bytes());
        wire::bytes(&mut out, SCHEMA_TYPE, &item);
    }
    if let Some(items) = map.get("items").filter(|i| i.is_object()) {
        let mut item = Vec::new();
        wire::bytes(&mut item, ITEMS_SCHEMA, &encode_schema(items));
        wire::bytes(&mut out, SCHEMA_ITEMS, &item);
    }
    for inner in map
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        wire::bytes(&mut out, SCHEMA_ALL_OF, &encode_schema(inner));
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        let mut props = Vec::new();
        for (name, inner) in properties {
            let mut named = Vec::new();
            wire::bytes(&mut named, NAMED_NAME, name.as_bytes());
            wire::bytes(&mut named, NAMED_VALUE, &encode_schema(inner));
            wire::bytes(&mut props, PROPERTIES_NAMED, &named);
        }
        wire::bytes(&mut out, SCHEMA_PROPERTIES, &props);
    }
    for (key, value) in map.iter().filter(|(k, _)| k.starts_with("x-")) {
        let mut any = Vec::new();
        wire::bytes(&mut any, ANY_YAML, yaml(value).as_bytes());
        let mut named = Vec::new();
        wire::bytes(&mut named, NAMED_NAME, key.as_bytes());
        wire::bytes(&mut named, NAMED_VALUE, &any);
        wire::bytes(&mut out, SCHEMA_VENDOR_EXTENSION, &named);
    }
    out
}

/// The document's `definitions` as a gnostic `Definitions` message.
pub fn encode_definitions(definitions: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, schema) in definitions {
        let mut named = Vec::new();
        wire::bytes(&mut named, NAMED_NAME, name.as_bytes());
        wire::bytes(&mut named, NAMED_VALUE, &encode_schema(schema));
        wire::bytes(&mut out, PROPERTIES_NAMED, &named);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_point_into_definitions() {
        let v3 = json!({"properties": {"spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}], "description": "d"}}});
        assert_eq!(
            to_v2(&v3),
            json!({"properties": {"spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec", "description": "d"}}})
        );
    }
}
