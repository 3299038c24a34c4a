//! OpenAPI v3 documents of custom resources, one per group-version, built from the CRDs'
//! schemas as they are served now: kubectl finds the fields (`explain`, client-side
//! validation) and learns that the server validates fields itself.

use super::schema::Components;
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

fn kind_schema(version: &CustomVersion) -> Value {
    let info = version.info;
    let mut schema = match &version.openapi {
        Value::Object(_) => version.openapi.clone(),
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
        schemas.insert(def.clone(), kind_schema(v));
        schemas.insert(
            list_def.clone(),
            json!({
                "type": "object",
                "required": ["items"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"allOf": [{"$ref": format!("#/components/schemas/{LIST_META}")}]},
                    "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{def}")}},
                },
                "x-kubernetes-group-version-kind": [{"group": info.group, "kind": v.list_kind, "version": info.version}],
            }),
        );
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
