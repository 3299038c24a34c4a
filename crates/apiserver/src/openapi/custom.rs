//! OpenAPI documents of custom resources, built from the CRDs' schemas as they are served
//! now: a v3 document per group-version, and the definitions `/openapi/v2` adds for them.
//! kubectl finds the fields (`explain`, client-side validation) and learns that the server
//! validates fields itself and takes no strategic merge patch.

use super::schema::Components;
use super::v2_schema::to_v2;
use super::{Document, hash_of, message, paths};
use bytes::Bytes;
use rkube_registry::custom::CustomVersion;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Upstream's definition name of a custom kind: the group reversed, then version and kind
/// (`com.example.stable.v1.CronTab`).
pub fn definition(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// The kind's schema: the CRD's (`base`) with `apiVersion`, `kind` and `metadata`.
fn kind_schema(version: &CustomVersion, base: &Value) -> Value {
    let info = version.info;
    let mut schema = match base {
        Value::Object(_) => base.clone(),
        _ => json!({"type": "object"}),
    };
    let props = schema
        .as_object_mut()
        .map(|m| m.entry("properties").or_insert_with(|| json!({})));
    if let Some(Value::Object(props)) = props {
        props.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}),
        );
        props.insert(
            "kind".into(),
            json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}),
        );
        props.insert(
            "metadata".into(),
            json!({"allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}], "description": "Standard object's metadata."}),
        );
    }
    schema["x-kubernetes-group-version-kind"] =
        json!([{"group": info.group, "kind": info.kind, "version": info.version}]);
    schema
}

/// The list kind's schema, its items of the kind defined as `def`.
fn list_schema(version: &CustomVersion, def: &str) -> Value {
    let info = version.info;
    json!({
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"allOf": [{"$ref": format!("#/components/schemas/{LIST_META}")}]},
            "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{def}")}},
        },
        "x-kubernetes-group-version-kind": [{"group": info.group, "kind": version.list_kind, "version": info.version}],
    })
}

/// A CRD schema in the form upstream publishes it in `/openapi/v2`: what Swagger 2.0 or
/// kubectl's v2 parser cannot take is dropped. Junctors (`allOf`, `anyOf`, `oneOf`, `not`)
/// go; a nullable value loses its type and members; a value that keeps unknown fields loses
/// its members (and an object type); an array without items loses its type; a nullable
/// member is no longer required.
fn v2_form(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = map.clone();
    for junctor in ["allOf", "anyOf", "oneOf", "not"] {
        out.remove(junctor);
    }
    let flag = |m: &Map<String, Value>, key: &str| m.get(key) == Some(&Value::Bool(true));
    if out.remove("nullable") == Some(Value::Bool(true)) {
        for key in ["type", "items", "properties"] {
            out.remove(key);
        }
    }
    if flag(&out, "x-kubernetes-preserve-unknown-fields") {
        out.remove("items");
        out.remove("properties");
        if out.get("type").and_then(Value::as_str) == Some("object") {
            out.remove("type");
        }
    }
    if out.get("type").and_then(Value::as_str) == Some("array") && !out.contains_key("items") {
        out.remove("type");
    }
    let nullable_members: Vec<String> = out
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, member)| member.get("nullable") == Some(&Value::Bool(true)))
        .map(|(name, _)| name.clone())
        .collect();
    let nullable_values = out
        .get("additionalProperties")
        .is_some_and(|a| a.get("nullable") == Some(&Value::Bool(true)));
    if let Some(Value::Array(required)) = out.get_mut("required") {
        if nullable_values {
            required.clear();
        }
        required.retain(|r| {
            !r.as_str()
                .is_some_and(|r| nullable_members.iter().any(|m| m == r))
        });
        if required.is_empty() {
            out.remove("required");
        }
    }
    if let Some(Value::Object(props)) = out.get_mut("properties") {
        for member in props.values_mut() {
            *member = v2_form(member);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner @ Value::Object(_)) = out.get_mut(key) {
            *inner = v2_form(inner);
        }
    }
    Value::Object(out)
}

/// The definitions `/openapi/v2` gives the custom kinds served now (and their lists).
pub fn v2_definitions(versions: &[Arc<CustomVersion>]) -> Map<String, Value> {
    let mut out = Map::new();
    for v in versions {
        let info = v.info;
        let def = definition(info.group, info.version, info.kind);
        let list_def = definition(info.group, info.version, &v.list_kind);
        let kind = kind_schema(v, &v2_form(&v.openapi));
        out.insert(def.clone(), to_v2(&kind));
        out.insert(list_def, to_v2(&list_schema(v, &def)));
    }
    out
}

/// The document of one custom group-version.
pub fn document(versions: &[Arc<CustomVersion>], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&Arc<CustomVersion>> = versions
        .iter()
        .filter(|v| v.info.group == group && v.info.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut components = Components::default();
    for (av, g, v, k) in [
        ("v1", "", "v1", "Status"),
        ("meta.k8s.io/v1", "", "v1", "DeleteOptions"),
        ("autoscaling/v1", "autoscaling", "v1", "Scale"),
    ] {
        if let Some(m) = message(av, k).or_else(|| message("v1", k)) {
            components.add_kind(&m, g, v, k);
        }
    }
    for name in ["ObjectMeta", "ListMeta"] {
        if let Some(m) = message("meta.k8s.io/v1", name) {
            components.add_message(&m);
        }
    }
    let mut schemas = components.into_map();
    let mut paths_map = Map::new();
    for v in served {
        let info = v.info;
        let def = definition(info.group, info.version, info.kind);
        let list_def = definition(info.group, info.version, &v.list_kind);
        schemas.insert(def.clone(), kind_schema(v, &v.openapi));
        schemas.insert(list_def.clone(), list_schema(v, &def));
        for (path, mut item) in paths::resource_paths(info, &def, &list_def) {
            // Custom resources take neither strategic merge patches nor protobuf: kubectl
            // learns from this which patch to send.
            for op in ["post", "put", "patch"] {
                if let Some(content) = item
                    .pointer_mut(&format!("/{op}/requestBody/content"))
                    .and_then(Value::as_object_mut)
                {
                    content.remove("application/strategic-merge-patch+json");
                    content.remove("application/vnd.kubernetes.protobuf");
                    if op == "patch" {
                        content.insert(
                            "application/apply-patch+yaml".into(),
                            json!({"schema": {"type": "object"}}),
                        );
                    }
                }
            }
            paths_map.insert(path, item);
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": paths_map,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        },
    }))
}

/// The served document of one custom group-version, with its hash.
pub fn served(versions: &[Arc<CustomVersion>], group: &str, version: &str) -> Option<Document> {
    let doc = document(versions, group, version)?;
    let body = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
    let hash = hash_of(&body);
    Some(Document { body, hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crontabs() -> Vec<Arc<CustomVersion>> {
        let crd = json!({
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {
                "group": "stable.example.com",
                "scope": "Namespaced",
                "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "listKind": "CronTabList"},
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}}},
                    }}},
                }],
            },
        });
        rkube_registry::custom::versions_of(&crd)
            .into_iter()
            .map(Arc::new)
            .collect()
    }

    #[test]
    fn the_v2_form_drops_what_swagger_2_and_kubectl_cannot_take() {
        let v3 = json!({
            "type": "object",
            "required": ["a", "b", "port"],
            "properties": {
                "a": {"type": "string", "nullable": true, "maxLength": 3},
                "b": {"type": "object", "nullable": false, "properties": {"c": {"type": "integer"}}},
                "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"d": {"type": "string"}}},
                "list": {"type": "array", "x-kubernetes-preserve-unknown-fields": true, "items": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string", "nullable": true}, "required": ["x"]},
            },
        });
        assert_eq!(
            v2_form(&v3),
            json!({
                "type": "object",
                "required": ["b", "port"],
                "properties": {
                    "a": {"maxLength": 3},
                    "b": {"type": "object", "properties": {"c": {"type": "integer"}}},
                    "port": {"x-kubernetes-int-or-string": true},
                    "free": {"x-kubernetes-preserve-unknown-fields": true},
                    "list": {"x-kubernetes-preserve-unknown-fields": true},
                    "labels": {"type": "object", "additionalProperties": {}},
                },
            })
        );
    }

    #[test]
    fn v2_definitions_name_the_kind_and_its_list_and_refer_into_definitions() {
        let defs = v2_definitions(&crontabs());
        let kind = &defs["com.example.stable.v1.CronTab"];
        assert_eq!(
            kind["x-kubernetes-group-version-kind"],
            json!([{"group": "stable.example.com", "kind": "CronTab", "version": "v1"}])
        );
        assert_eq!(
            kind["properties"]["metadata"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert_eq!(
            kind["properties"]["spec"]["properties"]["cronSpec"]["type"],
            "string"
        );
        assert_eq!(
            defs["com.example.stable.v1.CronTabList"]["properties"]["items"]["items"]["$ref"],
            "#/definitions/com.example.stable.v1.CronTab"
        );
    }

    #[test]
    fn the_v2_document_lists_custom_patches_without_strategic_merge() {
        let doc: Value = serde_json::from_slice(
            &super::super::v2::JsonParts::builtin(&Map::new()).with_custom(&crontabs()),
        )
        .unwrap();
        let item =
            &doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"];
        assert_eq!(
            item["patch"]["consumes"],
            json!([
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml"
            ])
        );
        assert_eq!(
            item["patch"]["x-kubernetes-group-version-kind"]["kind"],
            "CronTab"
        );
        assert!(doc["definitions"]["com.example.stable.v1.CronTab"].is_object());
        // Built-in operations keep their patch types unnamed (kubectl knows them).
        let pods = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"];
        assert!(pods["patch"].get("consumes").is_none());
    }
}
