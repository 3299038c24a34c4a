//! Unknown-field detection for `fieldValidation` (Strict and Warn), against the kind's
//! protobuf descriptor.

use prost_reflect::{Kind, MessageDescriptor};
use serde_json::Value;

fn walk(message: &MessageDescriptor, value: &Value, path: &str, top: bool, out: &mut Vec<String>) {
    if super::schema::is_special(message) {
        return;
    }
    let Some(object) = value.as_object() else {
        return;
    };
    let fields = rkube_protobuf::Codec::builtin().json_fields(message);
    for (key, child) in object {
        if top && (key == "apiVersion" || key == "kind") {
            continue;
        }
        let at = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let Some(field) = fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, f)| f.clone())
        else {
            out.push(at);
            continue;
        };
        let Kind::Message(inner) = field.kind() else {
            continue;
        };
        if field.is_map() {
            let value_field = inner.map_entry_value_field();
            if let (Kind::Message(m), Some(entries)) = (value_field.kind(), child.as_object()) {
                for (k, v) in entries {
                    walk(&m, v, &format!("{at}.{k}"), false, out);
                }
            }
        } else if field.is_list() {
            if let Some(items) = child.as_array() {
                for (i, item) in items.iter().enumerate() {
                    walk(&inner, item, &format!("{at}[{i}]"), false, out);
                }
            }
        } else {
            walk(&inner, child, &at, false, out);
        }
    }
}

/// The paths of fields in `object` that its kind does not have, e.g. `spec.replica`.
/// Kinds without a descriptor report none.
pub fn unknown_fields(api_version: &str, kind: &str, object: &Value) -> Vec<String> {
    let Some(message) = rkube_protobuf::Codec::builtin().message_for(api_version, kind) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(&message, object, "", true, &mut out);
    out
}
