//! The part of a stored object that the watch cache indexes, read without building the rest.
//!
//! Every event the cache receives needs the object's name, namespace and labels, and the few
//! `spec` and `status` fields its kind can be selected by. Parsing the whole object into a
//! [`Value`] for them allocated every string and map of it (a pod with its managed fields is
//! several kilobytes) on the one task that feeds every watch. Here the parser still checks
//! the whole document but keeps only those parts: nested objects and arrays under `spec` and
//! `status` are skipped, scalar members are kept.

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Reads `{"metadata": {name, namespace, labels}, "spec": {scalars}, "status": {scalars}}`
/// from an encoded object: the shape the kinds' selectable fields and the label index read.
pub fn skeleton(encoded: &[u8]) -> Result<Value, serde_json::Error> {
    let parsed: Parsed = serde_json::from_slice(encoded)?;
    let mut meta = Map::new();
    if let Some(name) = parsed.metadata.name {
        meta.insert("name".into(), Value::String(name));
    }
    if let Some(namespace) = parsed.metadata.namespace {
        meta.insert("namespace".into(), Value::String(namespace));
    }
    if !parsed.metadata.labels.0.is_empty() {
        meta.insert("labels".into(), Value::Object(parsed.metadata.labels.0));
    }
    let mut obj = Map::new();
    obj.insert("metadata".into(), Value::Object(meta));
    for (part, scalars) in [("spec", parsed.spec), ("status", parsed.status)] {
        if let Some(scalars) = scalars {
            obj.insert(part.into(), Value::Object(scalars.0));
        }
    }
    Ok(Value::Object(obj))
}

#[derive(Deserialize)]
struct Parsed {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: Option<Scalars>,
    #[serde(default)]
    status: Option<Scalars>,
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

impl<'de> Deserialize<'de> for Scalars {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Scalars;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalars, A::Error> {
                let mut out = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if let Scalar(Some(value)) = map.next_value()? {
                        out.insert(key, value);
                    }
                }
                Ok(Scalars(out))
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
    fn a_spec_that_is_not_an_object_reads_as_empty() {
        let obj = json!({"metadata": {"name": "a"}, "spec": ["x", {"y": 1}], "status": "odd"});
        let got = skeleton(&serde_json::to_vec(&obj).unwrap()).unwrap();
        assert_eq!(
            got,
            json!({"metadata": {"name": "a"}, "spec": {}, "status": {}})
        );
    }

    #[test]
    fn an_object_without_metadata_has_an_empty_one() {
        let got = skeleton(br#"{"kind":"Thing"}"#).unwrap();
        assert_eq!(got, json!({"metadata": {}}));
    }

    #[test]
    fn a_document_that_is_not_json_is_an_error() {
        assert!(skeleton(b"{\"metadata\": ").is_err());
        assert!(skeleton(b"[1, 2]").is_err());
    }
}
