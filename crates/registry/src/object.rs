//! Objects as JSON: metadata access, and the stored byte layout.
//!
//! Objects are stored without `metadata.resourceVersion` (the store's mod
//! revision is the resource version) and serialized with `apiVersion`,
//! `kind` and `metadata` first. That layout lets [`with_resource_version`]
//! splice the resource version into the bytes without parsing the object,
//! so LIST and WATCH serve shared bytes as they are.

mod skeleton;

pub use skeleton::skeleton;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Map, Value};

/// The object's `metadata` map, if it has one.
pub fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.as_object()
}

/// The object's `metadata` map, created if missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    let map = obj.as_object_mut().expect("objects are JSON objects");
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut().expect("just made an object")
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj)?.get(field)?.as_str()
}

/// `metadata.labels` as (key, value) pairs.
pub fn labels(obj: &Value) -> std::collections::BTreeMap<String, String> {
    meta(obj)
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `metadata.finalizers` is non-empty.
pub fn has_finalizers(obj: &Value) -> bool {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

/// Drops empty `metadata` collections, as Go's `omitempty` does upstream: an emptied
/// `ownerReferences` or `finalizers` reads as absent, not `[]`.
pub fn drop_empty_meta(obj: &mut Value) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for key in [
        "ownerReferences",
        "finalizers",
        "labels",
        "annotations",
        "managedFields",
    ] {
        let empty = match meta.get(key) {
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        if empty {
            meta.remove(key);
        }
    }
}

/// Serializes an object for the store: no resource version, and
/// `apiVersion`, `kind`, `metadata` first.
pub fn encode(obj: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let Some(map) = obj.as_object() else {
        return serde_json::to_vec(obj).unwrap_or_default();
    };
    out.push(b'{');
    let mut first = true;
    for key in ["apiVersion", "kind"] {
        if let Some(value) = map.get(key) {
            member(&mut out, &mut first, key, value);
        }
    }
    if let Some(Value::Object(meta)) = map.get("metadata") {
        member(
            &mut out,
            &mut first,
            "metadata",
            &WithoutResourceVersion(meta),
        );
    }
    for (key, value) in map {
        if !matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            member(&mut out, &mut first, key, value);
        }
    }
    out.push(b'}');
    out
}

/// Writes `"key":value` to a JSON object being written, after a comma unless it is the
/// first member.
pub(crate) fn member(
    out: &mut Vec<u8>,
    first: &mut bool,
    key: &str,
    value: &impl serde::Serialize,
) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, key);
    out.push(b':');
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Metadata as stored: every member but `resourceVersion`, written without cloning the
/// metadata (managedFields and all) to remove it, since every write encodes.
struct WithoutResourceVersion<'a>(&'a serde_json::Map<String, Value>);

impl serde::Serialize for WithoutResourceVersion<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.0.iter().filter(|(k, _)| *k != "resourceVersion") {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Skips one JSON string starting at `at` (which must be `"`); returns the
/// index just after it.
fn skip_string(bytes: &[u8], at: usize) -> Option<usize> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Where the body of the top-level `metadata` object starts (just after its
/// `{`), when `bytes` have the stored layout.
fn metadata_body(bytes: &[u8]) -> Option<usize> {
    let mut at = 1; // after '{'
    for key in [&b"\"apiVersion\":"[..], b"\"kind\":"] {
        if bytes.get(at..at + key.len())? != key {
            return None;
        }
        at = skip_string(bytes, at + key.len())?;
        if bytes.get(at)? != &b',' {
            return None;
        }
        at += 1;
    }
    let key = b"\"metadata\":{";
    (bytes.get(at..at + key.len())? == key).then_some(at + key.len())
}

/// The stored bytes with `metadata.resourceVersion` set to `rv`.
pub fn with_resource_version(stored: &[u8], rv: i64) -> Bytes {
    if let Some(body) = metadata_body(stored) {
        let rv = format!("\"resourceVersion\":\"{rv}\"");
        let mut out = BytesMut::with_capacity(stored.len() + rv.len() + 1);
        out.put_slice(&stored[..body]);
        out.put_slice(rv.as_bytes());
        if stored.get(body) != Some(&b'}') {
            out.put_u8(b',');
        }
        out.put_slice(&stored[body..]);
        return out.freeze();
    }
    // Another layout (e.g. written by another tool): take the slow path.
    match serde_json::from_slice::<Value>(stored) {
        Ok(mut obj) if obj.is_object() => {
            meta_mut(&mut obj).insert("resourceVersion".into(), Value::String(rv.to_string()));
            Bytes::from(serde_json::to_vec(&obj).unwrap_or_default())
        }
        _ => Bytes::copy_from_slice(stored),
    }
}

/// Parses stored bytes into an object with its resource version set.
pub fn decode(stored: &[u8], rv: i64) -> Result<Value, serde_json::Error> {
    let mut obj: Value = serde_json::from_slice(stored)?;
    if obj.is_object() {
        meta_mut(&mut obj).insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_resource_version_is_spliced_into_the_stored_layout() {
        let obj = json!({
            "data": {"metadata": "x"},
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {"name": "a", "resourceVersion": "5"},
        });
        let stored = encode(&obj);
        assert!(!String::from_utf8_lossy(&stored).contains("resourceVersion"));
        let served: Value = serde_json::from_slice(&with_resource_version(&stored, 42)).unwrap();
        assert_eq!(served["metadata"]["resourceVersion"], "42");
        assert_eq!(served["metadata"]["name"], "a");
        assert_eq!(served["data"], json!({"metadata": "x"}));
    }

    #[test]
    fn escaped_quotes_in_the_kind_do_not_confuse_the_splice() {
        let obj = json!({"apiVersion": "v\"1", "kind": "K\\", "metadata": {}});
        let served: Value =
            serde_json::from_slice(&with_resource_version(&encode(&obj), 7)).unwrap();
        assert_eq!(served["metadata"], json!({"resourceVersion": "7"}));
        assert_eq!(served["kind"], "K\\");
    }

    #[test]
    fn other_layouts_take_the_slow_path() {
        let stored = br#"{"metadata":{"name":"a"},"kind":"ConfigMap","apiVersion":"v1"}"#;
        let served: Value = serde_json::from_slice(&with_resource_version(stored, 3)).unwrap();
        assert_eq!(served["metadata"]["resourceVersion"], "3");
    }
}

#[cfg(test)]
mod empty_meta_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emptied_metadata_collections_read_as_absent() {
        let mut obj = json!({"metadata": {"name": "a", "ownerReferences": [], "finalizers": [],
            "labels": {}, "annotations": {"k": "v"}}});
        drop_empty_meta(&mut obj);
        assert_eq!(
            obj,
            json!({"metadata": {"name": "a", "annotations": {"k": "v"}}})
        );
    }
}
