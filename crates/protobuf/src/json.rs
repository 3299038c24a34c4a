//! Converts a decoded Kubernetes message into the JSON that Go's `encoding/json` writes for the
//! same object (not the proto3 JSON mapping).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, ReflectMessage, Value as Proto,
};
use serde_json::{Map, Value};

use crate::DecodeError;
use crate::go_fields::{GoFields, Rule};
use crate::time;

const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";
const EXT: &str = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1";

/// Messages whose Go types have their own JSON marshallers.
pub(crate) enum Special {
    Time,
    MicroTime,
    Duration,
    IntOrString,
    Quantity,
    /// Holds raw JSON bytes (`RawExtension`, `FieldsV1`, apiextensions `JSON`).
    RawJson,
    /// A named Go slice wrapped in a message with one `items` field (`ExtraValue`, `Verbs`).
    Items,
    SchemaOrArray,
    SchemaOrBool,
    SchemaOrStringArray,
}

pub(crate) fn special(full_name: &str) -> Option<Special> {
    let (package, name) = full_name.rsplit_once('.')?;
    Some(match (package, name) {
        (META, "Time") => Special::Time,
        (META, "MicroTime") => Special::MicroTime,
        (META, "Duration") => Special::Duration,
        (META, "FieldsV1") => Special::RawJson,
        (META, "Verbs") => Special::Items,
        ("k8s.io.apimachinery.pkg.util.intstr", "IntOrString") => Special::IntOrString,
        ("k8s.io.apimachinery.pkg.api.resource", "Quantity" | "QuantityValue") => Special::Quantity,
        ("k8s.io.apimachinery.pkg.runtime", "RawExtension") => Special::RawJson,
        ("k8s.io.api.authentication.v1" | "k8s.io.api.authorization.v1", "ExtraValue") => {
            Special::Items
        }
        (EXT, "JSON") => Special::RawJson,
        (EXT, "JSONSchemaPropsOrArray") => Special::SchemaOrArray,
        (EXT, "JSONSchemaPropsOrBool") => Special::SchemaOrBool,
        (EXT, "JSONSchemaPropsOrStringArray") => Special::SchemaOrStringArray,
        _ => return None,
    })
}

fn malformed(what: &str, message: &DynamicMessage) -> DecodeError {
    DecodeError::Malformed(format!(
        "invalid {what} in {}",
        message.descriptor().full_name()
    ))
}

/// Converts messages to JSON using the Go field rules.
pub struct Converter<'a> {
    fields: &'a GoFields,
}

impl<'a> Converter<'a> {
    /// A converter over `fields`.
    pub fn new(fields: &'a GoFields) -> Self {
        Converter { fields }
    }

    /// The JSON of a whole message.
    pub fn message(&self, message: &DynamicMessage) -> Result<Value, DecodeError> {
        let descriptor = message.descriptor();
        match special(descriptor.full_name()) {
            Some(kind) => self.special(kind, message),
            None => {
                let mut object = Map::new();
                self.fields_into(message, &mut object)?;
                Ok(Value::Object(object))
            }
        }
    }

    /// Writes the present fields of an ordinary message into `object`.
    pub fn fields_into(
        &self,
        message: &DynamicMessage,
        object: &mut Map<String, Value>,
    ) -> Result<(), DecodeError> {
        let descriptor = message.descriptor();
        let default_rule = Rule::default();
        for (field, value) in message.fields() {
            let rule = self
                .fields
                .get(descriptor.full_name(), field.name())
                .unwrap_or(&default_rule);
            if rule.inline {
                if let Proto::Message(inner) = value {
                    match self.message(inner)? {
                        Value::Object(inner) => object.extend(inner),
                        _ => return Err(malformed("inlined field", message)),
                    }
                }
                continue;
            }
            if !rule.keep && is_zero_scalar(&field, value) {
                continue;
            }
            let key = rule.json.as_deref().unwrap_or(field.name());
            object.insert(key.to_owned(), self.value(value)?);
        }
        Ok(())
    }

    /// The JSON of one value (singular, repeated or map).
    fn value(&self, value: &Proto) -> Result<Value, DecodeError> {
        Ok(match value {
            Proto::Bool(b) => Value::Bool(*b),
            Proto::I32(n) => Value::from(*n),
            Proto::I64(n) => Value::from(*n),
            Proto::U32(n) => Value::from(*n),
            Proto::U64(n) => Value::from(*n),
            Proto::F32(n) => float(f64::from(*n))?,
            Proto::F64(n) => float(*n)?,
            Proto::String(s) => Value::String(s.clone()),
            Proto::Bytes(b) => Value::String(BASE64.encode(b)),
            Proto::EnumNumber(n) => Value::from(*n),
            Proto::Message(m) => self.message(m)?,
            Proto::List(items) => items
                .iter()
                .map(|v| self.value(v))
                .collect::<Result<_, _>>()?,
            Proto::Map(entries) => {
                let mut entries: Vec<(String, &Proto)> =
                    entries.iter().map(|(k, v)| (map_key(k), v)).collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                let mut object = Map::new();
                for (key, value) in entries {
                    object.insert(key, self.value(value)?);
                }
                Value::Object(object)
            }
        })
    }

    fn special(&self, kind: Special, message: &DynamicMessage) -> Result<Value, DecodeError> {
        let get = |name: &str| field_value(message, name);
        match kind {
            Special::Time | Special::MicroTime => {
                let seconds = get("seconds");
                let nanos = get("nanos");
                if seconds.is_none() && nanos.is_none() {
                    // An empty message is Go's zero time, written as null.
                    return Ok(Value::Null);
                }
                let seconds = seconds.and_then(as_i64).unwrap_or(0);
                let nanos = nanos.and_then(as_i64).unwrap_or(0);
                let (seconds, nanos) =
                    time::normalise(seconds, nanos).ok_or_else(|| malformed("time", message))?;
                if seconds == time::GO_ZERO_SECONDS && nanos == 0 {
                    return Ok(Value::Null);
                }
                let micros = matches!(kind, Special::MicroTime).then_some(nanos / 1000);
                time::rfc3339(seconds, micros)
                    .map(Value::String)
                    .ok_or_else(|| malformed("time (year outside of range [0,9999])", message))
            }
            Special::Duration => {
                let nanos = get("duration").and_then(as_i64).unwrap_or(0);
                Ok(Value::String(time::go_duration(nanos)))
            }
            Special::IntOrString => match get("type").and_then(as_i64).unwrap_or(0) {
                0 => Ok(Value::from(get("intVal").and_then(as_i64).unwrap_or(0))),
                1 => Ok(Value::String(
                    get("strVal")
                        .and_then(Proto::as_str)
                        .unwrap_or("")
                        .to_owned(),
                )),
                _ => Err(malformed("IntOrString type", message)),
            },
            Special::Quantity => {
                let s = get("string").and_then(Proto::as_str).unwrap_or("");
                Ok(Value::String(if s.is_empty() { "0" } else { s }.to_owned()))
            }
            Special::RawJson => {
                let raw = message
                    .fields()
                    .find_map(|(_, v)| v.as_bytes().cloned())
                    .unwrap_or_default();
                if raw.is_empty() {
                    return Ok(Value::Null);
                }
                Ok(serde_json::from_slice(&raw)
                    .unwrap_or_else(|_| Value::String(BASE64.encode(&raw))))
            }
            Special::Items => match get("items") {
                Some(v) => self.value(v),
                None => Ok(Value::Array(Vec::new())),
            },
            Special::SchemaOrArray => match (get("jSONSchemas"), get("schema")) {
                (Some(list), _) => self.value(list),
                (None, Some(schema)) => self.value(schema),
                (None, None) => Ok(Value::Null),
            },
            Special::SchemaOrBool => match get("schema") {
                Some(schema) => self.value(schema),
                None => Ok(Value::Bool(
                    get("allows").and_then(Proto::as_bool).unwrap_or(false),
                )),
            },
            Special::SchemaOrStringArray => match (get("property"), get("schema")) {
                (Some(list), _) => self.value(list),
                (None, Some(schema)) => self.value(schema),
                (None, None) => Ok(Value::Null),
            },
        }
    }
}

/// A present field's value by name (`None` when unset, or an empty list).
fn field_value<'m>(message: &'m DynamicMessage, name: &str) -> Option<&'m Proto> {
    message
        .fields()
        .find(|(field, _)| field.name() == name)
        .map(|(_, value)| value)
}

fn as_i64(value: &Proto) -> Option<i64> {
    match value {
        Proto::I32(n) => Some(i64::from(*n)),
        Proto::I64(n) => Some(*n),
        Proto::U32(n) => Some(i64::from(*n)),
        Proto::U64(n) => i64::try_from(*n).ok(),
        _ => None,
    }
}

fn float(n: f64) -> Result<Value, DecodeError> {
    serde_json::Number::from_f64(n)
        .map(Value::Number)
        .ok_or_else(|| DecodeError::Malformed(format!("unsupported value: {n}")))
}

fn map_key(key: &MapKey) -> String {
    match key {
        MapKey::String(s) => s.clone(),
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
    }
}

/// Whether a singular scalar field holds its zero value (which Go's `omitempty` leaves out).
fn is_zero_scalar(field: &FieldDescriptor, value: &Proto) -> bool {
    if field.is_list() || field.is_map() || matches!(field.kind(), Kind::Message(_)) {
        return false;
    }
    match value {
        Proto::Bool(b) => !b,
        Proto::I32(n) | Proto::EnumNumber(n) => *n == 0,
        Proto::I64(n) => *n == 0,
        Proto::U32(n) => *n == 0,
        Proto::U64(n) => *n == 0,
        Proto::F32(n) => *n == 0.0,
        Proto::F64(n) => *n == 0.0,
        Proto::String(s) => s.is_empty(),
        Proto::Bytes(b) => b.is_empty(),
        Proto::Message(_) | Proto::List(_) | Proto::Map(_) => false,
    }
}
