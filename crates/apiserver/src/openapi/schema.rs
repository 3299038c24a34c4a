//! OpenAPI schemas of the built-in kinds, derived from the Kubernetes API's protobuf
//! descriptors (field names there are the JSON names).

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Messages whose JSON form is not their protobuf structure.
fn special(full_name: &str) -> Option<Value> {
    let short = full_name.strip_prefix("k8s.io.apimachinery.pkg.")?;
    Some(match short {
        "apis.meta.v1.Time" | "apis.meta.v1.MicroTime" => {
            json!({"type": "string", "format": "date-time"})
        }
        "util.intstr.IntOrString" => json!({"type": "string", "format": "int-or-string"}),
        "api.resource.Quantity" => json!({"type": "string"}),
        "apis.meta.v1.Duration" => json!({"type": "string"}),
        "runtime.RawExtension" | "apis.meta.v1.FieldsV1" => json!({"type": "object"}),
        _ => return None,
    })
}

/// Whether a message is one of the leaf types [`special`] describes.
pub fn is_special(message: &MessageDescriptor) -> bool {
    special(message.full_name()).is_some()
}

/// The OpenAPI definition name of a protobuf message: `io.k8s.api.core.v1.Pod`.
pub fn definition_name(message: &MessageDescriptor) -> String {
    let full = message.full_name();
    match full.strip_prefix("k8s.io.") {
        Some(rest) => {
            format!("io.k8s.{rest}").replace("apiextensions_apiserver", "apiextensions-apiserver")
        }
        None => full.to_owned(),
    }
}

fn reference(message: &MessageDescriptor) -> Value {
    json!({"$ref": format!("#/components/schemas/{}", definition_name(message))})
}

fn scalar(kind: &Kind) -> Value {
    match kind {
        Kind::String => json!({"type": "string"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Uint32 | Kind::Fixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            json!({"type": "integer", "format": "int64"})
        }
        Kind::Double | Kind::Float => json!({"type": "number", "format": "double"}),
        Kind::Bytes => json!({"type": "string", "format": "byte"}),
        Kind::Enum(_) => json!({"type": "string"}),
        Kind::Message(m) => json!({"allOf": [reference(m)]}),
    }
}

fn field_schema(field: &FieldDescriptor, pending: &mut Vec<MessageDescriptor>) -> Value {
    if field.is_map() {
        if let Kind::Message(entry) = field.kind() {
            let value = entry.map_entry_value_field();
            if let Kind::Message(m) = value.kind() {
                pending.push(m);
            }
            let mut item = scalar(&value.kind());
            if let Some(m) = item.get("allOf").and_then(|a| a.get(0)).cloned() {
                item = m;
            }
            return json!({"type": "object", "additionalProperties": item});
        }
        return json!({"type": "object"});
    }
    if let Kind::Message(m) = field.kind() {
        pending.push(m);
    }
    let one = scalar(&field.kind());
    if field.is_list() {
        let item = one
            .get("allOf")
            .and_then(|a| a.get(0))
            .cloned()
            .unwrap_or(one);
        json!({"type": "array", "items": item})
    } else {
        one
    }
}

/// The object schema of a message, queueing the messages it refers to.
fn message_schema(message: &MessageDescriptor, pending: &mut Vec<MessageDescriptor>) -> Value {
    if let Some(schema) = special(message.full_name()) {
        return schema;
    }
    let mut properties = Map::new();
    let patch_meta = rkube_patch::Schema::builtin().definition(&definition_name(message));
    for (key, field) in rkube_protobuf::Codec::builtin().json_fields(message) {
        let mut schema = field_schema(field, pending);
        if let Some(text) =
            rkube_protobuf::description(field.parent_message().full_name(), field.name())
        {
            schema["description"] = Value::from(text);
        }
        if let Some(meta) = patch_meta.and_then(|d| d.field(key)) {
            if let Some(merge_key) = meta.merge_key {
                schema["x-kubernetes-patch-merge-key"] = Value::from(merge_key);
            }
            if !meta.strategy.is_empty() {
                schema["x-kubernetes-patch-strategy"] = Value::from(meta.strategy);
            }
        }
        properties.insert(key.clone(), schema);
    }
    let mut schema = json!({"type": "object", "properties": properties});
    if let Some(text) = rkube_protobuf::description(message.full_name(), "") {
        schema["description"] = Value::from(text);
    }
    schema
}

/// A set of component schemas: the kinds asked for and everything they refer to.
#[derive(Default)]
pub struct Components {
    schemas: BTreeMap<String, Value>,
}

impl Components {
    /// Adds a top-level kind: its message with `apiVersion`, `kind` and its group-version-kind.
    pub fn add_kind(
        &mut self,
        message: &MessageDescriptor,
        group: &str,
        version: &str,
        kind: &str,
    ) {
        let mut pending = Vec::new();
        let mut schema = message_schema(message, &mut pending);
        if let Some(props) = schema["properties"].as_object_mut() {
            props.insert("apiVersion".into(), json!({"type": "string"}));
            props.insert("kind".into(), json!({"type": "string"}));
        }
        schema["x-kubernetes-group-version-kind"] =
            json!([{"group": group, "kind": kind, "version": version}]);
        self.schemas.insert(definition_name(message), schema);
        self.add_all(pending);
    }

    /// Adds a message that is not a kind (e.g. `ObjectMeta`) and what it refers to.
    pub fn add_message(&mut self, message: &MessageDescriptor) {
        self.add_all(vec![message.clone()]);
    }

    fn add_all(&mut self, mut pending: Vec<MessageDescriptor>) {
        while let Some(message) = pending.pop() {
            let name = definition_name(&message);
            if self.schemas.contains_key(&name) {
                continue;
            }
            let schema = message_schema(&message, &mut pending);
            self.schemas.insert(name, schema);
        }
    }

    /// The schemas, keyed by definition name.
    pub fn into_map(self) -> Map<String, Value> {
        self.schemas.into_iter().collect()
    }
}
