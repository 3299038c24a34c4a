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
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
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
                        if !parsed.labels.0.is_empty() {
                            meta.insert("labels".into(), Value::Object(parsed.labels.0));
                        }
                    } else if let Member(Some(value)) = map.next_value()? {
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

/// A top-level member: a scalar as it is, an object as its scalar members, an array not at
/// all.
struct Member(Option<Value>);

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct One;
        impl<'de> Visitor<'de> for One {
            type Value = Member;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Member, E> {
                Ok(Member(Some(Value::String(v.to_owned()))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Member, E> {
                Ok(Member(Some(Value::Bool(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Member, E> {
                Ok(Member(Some(v.into())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Member, E> {
                Ok(Member(Some(v.into())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Member, E> {
                Ok(Member(serde_json::Number::from_f64(v).map(Value::Number)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Member, E> {
                Ok(Member(Some(Value::Null)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Member, A::Error> {
                let Scalars(members) = Scalars::from_map(map)?;
                Ok(Member(Some(Value::Object(members))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Member, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Member(None))
            }
        }
        deserializer.deserialize_any(One)
    }
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: Scalars,
}

/// The scalar members of a JSON object; anything else (or a value that is not an object)
/// reads as empty.
#[derive(Default)]
struct Scalars(Map<String, Value>);

impl Scalars {
    /// The scalar members of the map being read.
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Scalars, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if let Scalar(Some(value)) = map.next_value()? {
                out.insert(key, value);
            }
        }
        Ok(Scalars(out))
    }
}

impl<'de> Deserialize<'de> for Scalars {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Scalars;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalars, A::Error> {
                Scalars::from_map(map)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalars, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalars::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Scalars, E> {
                Ok(Scalars::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalars, E> {
                Ok(Scalars::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Scalars, E> {
                Ok(Scalars::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Scalars, E> {
                Ok(Scalars::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalars, E> {
                Ok(Scalars::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalars, E> {
                Ok(Scalars::default())
            }
        }
        deserializer.deserialize_any(Members)
    }
}

/// A scalar JSON value, or `None` for an object or array (skipped without being built).
struct Scalar(Option<Value>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct One;
        impl<'de> Visitor<'de> for One {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(Value::String(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(Some(Value::String(v))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(Some(Value::Bool(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.into())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.into())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(serde_json::Number::from_f64(v).map(Value::Number)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(Some(Value::Null)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
        }
        deserializer.deserialize_any(One)
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
