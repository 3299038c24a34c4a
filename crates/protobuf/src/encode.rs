//! Encodes the JSON objects the server works with into Kubernetes protobuf, the inverse of
//! [`crate::json`]: Go JSON names and inlined structs back to proto fields, and the custom
//! forms of `Time`, `IntOrString`, `Quantity`, `RawExtension` and friends back to messages.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage,
    Value as Proto,
};
use serde_json::Value;
use std::collections::HashMap;

use crate::go_fields::{GoFields, Rule};
use crate::json::{Special, special};

/// Why an object could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// No protobuf message is registered for the kind (custom resources, tables).
    #[error("no protobuf message for {api_version}, Kind={kind}")]
    UnknownKind {
        /// The object's `apiVersion`.
        api_version: String,
        /// The object's `kind`.
        kind: String,
    },
    /// A value does not fit its field.
    #[error("cannot encode {field}: {reason}")]
    Value {
        /// The field (message and field name).
        field: String,
        /// What was wrong.
        reason: String,
    },
}

fn bad(field: &FieldDescriptor, reason: &str) -> EncodeError {
    EncodeError::Value {
        field: field.full_name().to_owned(),
        reason: reason.to_owned(),
    }
}

/// Builds messages from JSON using the Go field rules.
pub struct Encoder<'a> {
    fields: &'a GoFields,
}

impl<'a> Encoder<'a> {
    /// An encoder over `fields`.
    pub fn new(fields: &'a GoFields) -> Self {
        Encoder { fields }
    }

    /// The message of `descriptor` holding what `json` says.
    pub fn message(
        &self,
        descriptor: &MessageDescriptor,
        json: &Value,
    ) -> Result<DynamicMessage, EncodeError> {
        let mut message = DynamicMessage::new(descriptor.clone());
        if let Some(kind) = special(descriptor.full_name()) {
            self.special(kind, &mut message, json)?;
            return Ok(message);
        }
        let Some(object) = json.as_object() else {
            return Ok(message);
        };
        let default_rule = Rule::default();
        for field in descriptor.fields() {
            let rule = self
                .fields
                .get(descriptor.full_name(), field.name())
                .unwrap_or(&default_rule);
            if rule.inline {
                if let Kind::Message(inner) = field.kind() {
                    let inner = self.message(&inner, json)?;
                    message.set_field(&field, Proto::Message(inner));
                }
                continue;
            }
            let key = rule.json.as_deref().unwrap_or(field.name());
            match object.get(key) {
                // Go writes a zero time as null and its message as empty.
                Some(Value::Null)
                    if matches!(
                        field.kind(),
                        Kind::Message(ref m) if matches!(special(m.full_name()), Some(Special::Time | Special::MicroTime))
                    ) && !field.is_list() =>
                {
                    if let Kind::Message(m) = field.kind() {
                        message.set_field(&field, Proto::Message(DynamicMessage::new(m)));
                    }
                }
                None | Some(Value::Null) => {}
                Some(value) => {
                    let value = self.field_value(&field, value)?;
                    message.set_field(&field, value);
                }
            }
        }
        Ok(message)
    }

    fn field_value(&self, field: &FieldDescriptor, json: &Value) -> Result<Proto, EncodeError> {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return Err(bad(field, "a map without an entry message"));
            };
            let value_field = entry.map_entry_value_field();
            let mut map = HashMap::new();
            for (k, v) in json.as_object().into_iter().flatten() {
                if v.is_null() {
                    continue;
                }
                map.insert(MapKey::String(k.clone()), self.single(&value_field, v)?);
            }
            return Ok(Proto::Map(map));
        }
        if field.is_list() {
            let items = match json {
                Value::Array(items) => items
                    .iter()
                    .map(|v| self.single(field, v))
                    .collect::<Result<Vec<_>, _>>()?,
                _ => return Err(bad(field, "expected a list")),
            };
            return Ok(Proto::List(items));
        }
        self.single(field, json)
    }

    /// One value of a field's kind (an item, for lists and maps).
    fn single(&self, field: &FieldDescriptor, json: &Value) -> Result<Proto, EncodeError> {
        let int = || -> Result<i64, EncodeError> {
            json.as_i64()
                .or_else(|| json.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .ok_or_else(|| bad(field, "expected an integer"))
        };
        Ok(match field.kind() {
            Kind::Bool => Proto::Bool(
                json.as_bool()
                    .ok_or_else(|| bad(field, "expected a boolean"))?,
            ),
            Kind::String => Proto::String(match json {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            Kind::Bytes => Proto::Bytes(
                BASE64
                    .decode(json.as_str().unwrap_or(""))
                    .map_err(|e| bad(field, &e.to_string()))?
                    .into(),
            ),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                Proto::I32(i32::try_from(int()?).map_err(|e| bad(field, &e.to_string()))?)
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Proto::I64(int()?),
            Kind::Uint32 | Kind::Fixed32 => {
                Proto::U32(u32::try_from(int()?).map_err(|e| bad(field, &e.to_string()))?)
            }
            Kind::Uint64 | Kind::Fixed64 => {
                Proto::U64(u64::try_from(int()?).map_err(|e| bad(field, &e.to_string()))?)
            }
            Kind::Double => Proto::F64(
                json.as_f64()
                    .ok_or_else(|| bad(field, "expected a number"))?,
            ),
            Kind::Float => Proto::F32(
                json.as_f64()
                    .ok_or_else(|| bad(field, "expected a number"))? as f32,
            ),
            Kind::Enum(_) => {
                Proto::EnumNumber(i32::try_from(int()?).map_err(|e| bad(field, &e.to_string()))?)
            }
            Kind::Message(inner) => Proto::Message(self.message(&inner, json)?),
        })
    }

    fn special(
        &self,
        kind: Special,
        message: &mut DynamicMessage,
        json: &Value,
    ) -> Result<(), EncodeError> {
        let descriptor = message.descriptor();
        let set = |message: &mut DynamicMessage, name: &str, value: Proto| {
            if let Some(field) = descriptor.get_field_by_name(name) {
                message.set_field(&field, value);
            }
        };
        match kind {
            Special::Time | Special::MicroTime => {
                if let Some((seconds, nanos)) = json.as_str().and_then(parse_rfc3339) {
                    set(message, "seconds", Proto::I64(seconds));
                    if nanos > 0 {
                        set(message, "nanos", Proto::I32(nanos));
                    }
                }
            }
            Special::Duration => {
                let nanos = json.as_str().and_then(parse_go_duration).unwrap_or(0);
                set(message, "duration", Proto::I64(nanos));
            }
            Special::IntOrString => match json {
                Value::String(s) => {
                    set(message, "type", Proto::I64(1));
                    set(message, "strVal", Proto::String(s.clone()));
                }
                other => {
                    set(message, "type", Proto::I64(0));
                    set(
                        message,
                        "intVal",
                        Proto::I32(other.as_i64().unwrap_or(0) as i32),
                    );
                }
            },
            Special::Quantity => {
                let s = match json {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                set(message, "string", Proto::String(s));
            }
            Special::RawJson => {
                if let Some(field) = descriptor
                    .fields()
                    .find(|f| matches!(f.kind(), Kind::Bytes))
                {
                    let raw = serde_json::to_vec(json).unwrap_or_default();
                    message.set_field(&field, Proto::Bytes(raw.into()));
                }
            }
            Special::Items => {
                if let Some(field) = descriptor.get_field_by_name("items") {
                    let value = self.field_value(&field, json)?;
                    message.set_field(&field, value);
                }
            }
            Special::SchemaOrArray => self.either(message, json, "schema", "jSONSchemas")?,
            Special::SchemaOrStringArray => self.either(message, json, "schema", "property")?,
            Special::SchemaOrBool => match json {
                Value::Bool(b) => set(message, "allows", Proto::Bool(*b)),
                other => {
                    set(message, "allows", Proto::Bool(true));
                    self.either(message, other, "schema", "")?;
                }
            },
        }
        Ok(())
    }

    /// An object goes to `object_field`, a list to `list_field`.
    fn either(
        &self,
        message: &mut DynamicMessage,
        json: &Value,
        object_field: &str,
        list_field: &str,
    ) -> Result<(), EncodeError> {
        let descriptor = message.descriptor();
        let name = if json.is_array() {
            list_field
        } else {
            object_field
        };
        if let Some(field) = descriptor.get_field_by_name(name) {
            let value = self.field_value(&field, json)?;
            message.set_field(&field, value);
        }
        Ok(())
    }
}

/// `(seconds, nanos)` of an RFC 3339 UTC or offset time.
pub fn parse_rfc3339(text: &str) -> Option<(i64, i32)> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |from: usize, to: usize| text.get(from..to)?.parse::<i64>().ok();
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = &text[19..];
    let mut nanos = 0i32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        let padded = format!("{:0<9}", &frac[..digits.min(9)]);
        nanos = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        tz if tz.len() == 6 => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (tz.get(1..3)?.parse::<i64>().ok()? * 3600
                + tz.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some((
        days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        nanos,
    ))
}

/// Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Nanoseconds of a Go duration string (`1h2m3.5s`, `150ms`, `-2s`).
pub fn parse_go_duration(text: &str) -> Option<i64> {
    let (sign, mut rest) = match text.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    Some((sign * total).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_parse() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2026-01-02T03:04:05.123456Z"),
            Some((1_767_323_045, 123_456_000))
        );
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some((0, 0)));
        assert_eq!(parse_go_duration("1h2m3.5s"), Some(3_723_500_000_000));
        assert_eq!(parse_go_duration("150ms"), Some(150_000_000));
        assert_eq!(parse_go_duration("0s"), Some(0));
    }
}
