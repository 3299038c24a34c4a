//! The part of a stored object that the watch cache indexes, read without building the rest.
//!
//! Every event the cache receives needs the object's name, namespace and labels, and the few
//! fields its kind can be selected by: members of `spec` and `status`, or of other top-level
//! objects (an Event's `involvedObject.uid`, `source.component`), or top-level scalars (a
//! Secret's `type`). Parsing the whole object into a [`Value`] for them allocated every string
//! and map of it (a pod with its managed fields is several kilobytes) on the one task that
//! feeds every watch. Here the parser still checks the whole document but keeps only the
//! scalars at the top level and one level down; arrays and deeper objects are skipped.

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Reads `metadata` (name, namespace, labels), the top-level scalars, and the scalar members
/// of the other top-level objects from an encoded object: what the kinds' selectable fields
/// and the label index read.
pub fn skeleton(encoded: &[u8]) -> Result<Value, serde_json::Error> {
    let Top(obj) = serde_json::from_slice(encoded)?;
    Ok(Value::Object(obj))
}

/// An object's skeleton; anything but a JSON object is an error.
struct Top(Map<String, Value>);

impl<'de> Deserialize<'de> for Top {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Top;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
                let mut out = Map::new();
                let mut meta = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "metadata" {
                        let parsed: Meta = map.next_value()?;
                        if let Some(name) = parsed.name {
                            meta.insert("name".into(), Value::String(name));
                        }
                        if let Some(namespace) = parsed.namespace {
                            meta.insert("namespace".into(), Value::String(namespace));
                        }
                        if !parsed.labels.is_empty() {
                            meta.insert("labels".into(), Value::Object(parsed.labels));
                        }
                    } else if let Some(value) = map.next_value_seed(Shallow::MEMBERS)? {
                        out.insert(key, value);
                    }
                }
                out.insert("metadata".into(), Value::Object(meta));
                Ok(Top(out))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default, deserialize_with = "scalar_members")]
    labels: Map<String, Value>,
}

/// The scalar members of an object; anything else reads as empty.
fn scalar_members<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    match Shallow::MEMBERS.deserialize(d)? {
        Some(Value::Object(members)) => Ok(members),
        _ => Ok(Map::new()),
    }
}

/// Reads one value keeping only scalars: a scalar as it is, an array never, an object as its
/// scalar members when `members` (else never). What is not kept is skipped without being built.
#[derive(Clone, Copy)]
struct Shallow {
    members: bool,
}

impl Shallow {
    const MEMBERS: Shallow = Shallow { members: true };
    const SCALAR: Shallow = Shallow { members: false };
}

impl<'de> DeserializeSeed<'de> for Shallow {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Shallow {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map(Value::Number))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if !self.members {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(None);
        }
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if let Some(value) = map.next_value_seed(Shallow::SCALAR)? {
                out.insert(key, value);
            }
        }
        Ok(Some(Value::Object(out)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_what_the_cache_indexes_and_skips_the_rest() {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web-1",
                "namespace": "default",
                "labels": {"app": "web", "tier": "front"},
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                "ownerReferences": [{"name": "web"}],
            },
            "spec": {
                "nodeName": "node-3",
                "hostNetwork": true,
                "priority": 7,
                "containers": [{"name": "c", "image": "nginx"}],
                "securityContext": {},
            },
            "status": {"phase": "Running", "conditions": [{"type": "Ready"}], "podIP": null},
        });
        let got = skeleton(&serde_json::to_vec(&pod).unwrap()).unwrap();
        assert_eq!(
            got,
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "web-1",
                    "namespace": "default",
                    "labels": {"app": "web", "tier": "front"},
                },
                "spec": {"nodeName": "node-3", "hostNetwork": true, "priority": 7},
                "status": {"phase": "Running", "podIP": null},
            })
        );
    }

    #[test]
    fn arrays_are_skipped_and_top_level_scalars_kept() {
        let obj = json!({"metadata": {"name": "a"}, "spec": ["x", {"y": 1}], "status": "odd"});
        let got = skeleton(&serde_json::to_vec(&obj).unwrap()).unwrap();
        assert_eq!(got, json!({"metadata": {"name": "a"}, "status": "odd"}));
    }

    #[test]
    fn an_events_selectable_fields_are_kept() {
        let event = json!({
            "metadata": {"name": "e", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "uid": "u-1"},
            "source": {"component": "kubelet"},
            "reason": "Started",
            "type": "Normal",
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:00Z"},
        });
        let got = skeleton(&serde_json::to_vec(&event).unwrap()).unwrap();
        assert_eq!(got["involvedObject"]["uid"], "u-1");
        assert_eq!(got["source"]["component"], "kubelet");
        assert_eq!(got["reason"], "Started");
        assert_eq!(got["type"], "Normal");
    }

    #[test]
    fn an_object_without_metadata_has_an_empty_one() {
        let got = skeleton(br#"{"kind":"Thing"}"#).unwrap();
        assert_eq!(got, json!({"kind": "Thing", "metadata": {}}));
    }

    #[test]
    fn a_document_that_is_not_json_is_an_error() {
        assert!(skeleton(b"{\"metadata\": ").is_err());
        assert!(skeleton(b"[1, 2]").is_err());
    }
}
