//! The strategic merge patch algorithm: our own implementation of the semantics of upstream's
//! k8s.io/apimachinery/pkg/util/strategicpatch when applying a patch (as the API server does).
//!
//! The original document is consumed and rebuilt; the patch is only read. Every value taken
//! from the patch is "cleaned" on the way in (merged into an empty value of its schema), so
//! directives (`$patch`, `$retainKeys`, `$setElementOrder/…`, `$deleteFromPrimitiveList/…`) and
//! `null`s never reach the result.

use serde_json::{Map, Value};

use crate::PatchError;
use crate::lists::{Slot, merge_primitives, order_slots, upstream_server_window, validate_order};
use crate::schema::{Definition, FieldMeta, Schema};

pub(crate) const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
pub(crate) const SET_ORDER: &str = "$setElementOrder/";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";

/// Applies `patch` to `doc` (an object of definition `def`).
pub(crate) fn apply(
    doc: &Value,
    patch: &Value,
    schema: &Schema,
    def: Option<&Definition>,
) -> Result<Value, PatchError> {
    let patch = match patch {
        Value::Object(patch) => patch,
        // Upstream decodes the patch into a map: `null` decodes to an empty one.
        Value::Null => return Ok(doc.clone()),
        other => {
            return Err(PatchError::Invalid(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(other)
            )));
        }
    };
    let original = match doc {
        Value::Object(doc) => doc.clone(),
        Value::Null => Map::new(),
        _ => return Err(PatchError::Invalid("invalid JSON document".to_owned())),
    };
    Merger { schema }
        .merge_map(original, patch, def)
        .map(Value::Object)
}

struct Merger<'s> {
    schema: &'s Schema,
}

impl Merger<'_> {
    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        patch: &Map<String, Value>,
        def: Option<&Definition>,
    ) -> Result<Map<String, Value>, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            match directive.as_str() {
                Some("replace") => {
                    return self.merge_map(Map::new(), &without_directive(patch), def);
                }
                Some("delete") => return Ok(Map::new()),
                // `merge` is the default anyway (upstream rejects it here; we accept it).
                Some("merge") => {}
                _ => return Err(unknown_patch_type(directive, patch)),
            }
        }
        if let Some(retain) = patch.get(RETAIN_KEYS) {
            retain_keys(&mut original, patch, retain)?;
        }

        // `$setElementOrder/<list>` merges its list itself and then orders it.
        let mut ordered: Vec<&str> = Vec::new();
        for (key, order) in patch {
            if let Some(field) = key.strip_prefix(SET_ORDER) {
                self.set_element_order(&mut original, patch, field, order, def)?;
                ordered.push(field);
            }
        }

        for (key, value) in patch {
            if key == DIRECTIVE
                || key == RETAIN_KEYS
                || key.starts_with(SET_ORDER)
                || key.starts_with(DELETE_FROM)
                || ordered.contains(&key.as_str())
            {
                continue;
            }
            if value.is_null() {
                remove_key(&mut original, key);
                continue;
            }
            let meta = def.and_then(|d| d.field(key));
            match (original.get_mut(key), value) {
                (Some(Value::Object(current)), Value::Object(patch_map)) => {
                    let child = self.schema.child(meta);
                    let base = if meta.is_some_and(|m| m.has_strategy("replace")) {
                        Map::new()
                    } else {
                        std::mem::take(current)
                    };
                    *current = self.merge_map(base, patch_map, child)?;
                }
                (Some(Value::Array(current)), Value::Array(patch_list)) => {
                    let taken = std::mem::take(current);
                    *current = self.merge_field_list(taken, patch_list, meta)?;
                }
                _ => match self.fresh(value, meta)? {
                    Some(fresh) => {
                        original.insert(key.clone(), fresh);
                    }
                    None => remove_key(&mut original, key),
                },
            }
        }

        // Deletions from primitive lists run after the additions of the same patch.
        for (key, value) in patch {
            let Some(field) = key.strip_prefix(DELETE_FROM) else {
                continue;
            };
            if let (Some(Value::Array(current)), Value::Array(remove)) =
                (original.get_mut(field), value)
            {
                current.retain(|item| !remove.iter().any(|r| json_eq(r, item)));
            }
        }
        Ok(original)
    }

    /// A patch value for a field the original lacks (or holds with another type), cleaned.
    /// `None` when the value asks for the field's deletion.
    fn fresh(&self, value: &Value, meta: Option<FieldMeta>) -> Result<Option<Value>, PatchError> {
        Ok(match value {
            Value::Null => None,
            Value::Object(map) => {
                if map.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                    None
                } else {
                    let child = self.schema.child(meta);
                    Some(Value::Object(self.merge_map(Map::new(), map, child)?))
                }
            }
            Value::Array(list) => Some(Value::Array(self.fresh_list(list, meta)?)),
            other => Some(other.clone()),
        })
    }

    /// A patch list taken as the new value: directive elements dropped, objects cleaned.
    fn fresh_list(
        &self,
        list: &[Value],
        meta: Option<FieldMeta>,
    ) -> Result<Vec<Value>, PatchError> {
        let child = self.schema.child(meta);
        let mut out = Vec::with_capacity(list.len());
        for item in list {
            match item {
                Value::Object(map) => {
                    let directive = map.get(DIRECTIVE);
                    if directive.is_none() || directive.and_then(Value::as_str) == Some("merge") {
                        out.push(Value::Object(self.merge_map(Map::new(), map, child)?));
                    }
                }
                other => out.push(other.clone()),
            }
        }
        Ok(out)
    }

    /// Merges a list field according to its strategy (merge, or replace by default).
    fn merge_field_list(
        &self,
        original: Vec<Value>,
        patch: &[Value],
        meta: Option<FieldMeta>,
    ) -> Result<Vec<Value>, PatchError> {
        match meta {
            Some(m) if m.has_strategy("merge") => {
                if original.is_empty() && patch.is_empty() {
                    return Ok(original);
                }
                match m.merge_key {
                    Some(key) => self.merge_keyed(original, patch, key, self.schema.child(meta)),
                    None => Ok(merge_primitives(original, patch)),
                }
            }
            _ => self.fresh_list(patch, meta),
        }
    }

    /// Merges a list of objects by their merge key.
    fn merge_keyed(
        &self,
        mut original: Vec<Value>,
        patch: &[Value],
        key: &str,
        child: Option<&Definition>,
    ) -> Result<Vec<Value>, PatchError> {
        let mut replace = false;
        let mut regular: Vec<&Map<String, Value>> = Vec::new();
        for item in patch {
            let map = item
                .as_object()
                .ok_or_else(|| bad_arg_type("map[string]interface {}", item))?;
            let Some(directive) = map.get(DIRECTIVE) else {
                regular.push(map);
                continue;
            };
            match directive.as_str() {
                Some("delete") => {
                    let value = map.get(key).ok_or_else(|| no_merge_key(map, key))?;
                    original.retain(|o| !has_key_value(o, key, value));
                }
                Some("replace") => replace = true,
                Some("merge") => regular.push(map),
                _ => return Err(unknown_patch_type(directive, map)),
            }
        }
        if replace {
            return regular
                .into_iter()
                .map(|m| self.merge_map(Map::new(), m, child).map(Value::Object))
                .collect();
        }

        let mut slots: Vec<Slot> = Vec::with_capacity(original.len() + regular.len());
        for (i, value) in original.into_iter().enumerate() {
            let server = match value.as_object().and_then(|m| m.get(key)) {
                Some(kv) => slots
                    .iter()
                    .find(|s| has_key_value(&s.value, key, kv))
                    .and_then(|s| s.server)
                    .or(Some(i)),
                None => Some(i),
            };
            slots.push(Slot {
                value,
                server,
                patch: None,
            });
        }
        for (j, item) in regular.into_iter().enumerate() {
            let value = item.get(key).ok_or_else(|| no_merge_key(item, key))?;
            match slots
                .iter_mut()
                .find(|s| has_key_value(&s.value, key, value))
            {
                Some(slot) => {
                    let base = match std::mem::take(&mut slot.value) {
                        Value::Object(map) => map,
                        _ => Map::new(),
                    };
                    slot.value = Value::Object(self.merge_map(base, item, child)?);
                    slot.patch.get_or_insert(j);
                }
                None => slots.push(Slot {
                    value: Value::Object(self.merge_map(Map::new(), item, child)?),
                    server: None,
                    patch: Some(j),
                }),
            }
        }
        Ok(order_slots(slots))
    }

    /// Handles `$setElementOrder/<field>`: merges the field's list (if patched) and orders the
    /// result: listed elements in the listed order, the original's other elements woven in.
    fn set_element_order(
        &self,
        original: &mut Map<String, Value>,
        patch: &Map<String, Value>,
        field: &str,
        order: &Value,
        def: Option<&Definition>,
    ) -> Result<(), PatchError> {
        let bad = || PatchError::Invalid("invalid patch format of setElementOrder list".to_owned());
        let order = order.as_array().ok_or_else(bad)?;
        let meta = def.and_then(|d| d.field(field));
        let key = meta.and_then(|m| m.merge_key);
        let server: Vec<Value> = match original.get(field) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list.clone(),
            Some(other) => return Err(bad_arg_type("[]interface {}", other)),
        };
        let patch_list = match patch.get(field) {
            None => None,
            Some(Value::Array(list)) => Some(list.as_slice()),
            Some(other) => return Err(bad_arg_type("[]interface {}", other)),
        };
        if let Some(list) = patch_list {
            validate_order(list, order, key)?;
        }
        let had_original = matches!(original.get(field), Some(Value::Array(_)));
        let merged = match (had_original, patch_list) {
            (false, None) => return Ok(()),
            (true, None) => server.clone(),
            (false, Some(list)) => self.fresh_list(list, meta)?,
            (true, Some(list)) => self.merge_field_list(server.clone(), list, meta)?,
        };
        let item_key = |v: &Value| -> Option<Value> {
            match key {
                Some(k) => v.as_object().and_then(|m| m.get(k)).cloned(),
                None => Some(v.clone()),
            }
        };
        let position = |list: &[Value], v: &Value| -> Option<usize> {
            let wanted = item_key(v)?;
            list.iter()
                .position(|x| item_key(x).is_some_and(|k| json_eq(&k, &wanted)))
        };
        let server = match (had_original, patch_list, key, meta) {
            (true, Some(list), Some(k), Some(m)) if m.has_strategy("merge") => {
                upstream_server_window(server, list, k)
            }
            _ => server,
        };
        let slots = merged
            .into_iter()
            .map(|value| Slot {
                server: position(&server, &value),
                patch: position(order, &value),
                value,
            })
            .collect();
        original.insert(field.to_owned(), Value::Array(order_slots(slots)));
        Ok(())
    }
}

/// Applies `$retainKeys`: drops the original's keys not listed, after checking that the patch
/// sets no key outside the list.
fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
) -> Result<(), PatchError> {
    let bad = || PatchError::Invalid("invalid patch format of retainKeys".to_owned());
    let list = retain.as_array().ok_or_else(bad)?;
    let listed = |key: &str| list.iter().any(|v| v.as_str() == Some(key));
    for (key, value) in patch {
        let directive = key == DIRECTIVE
            || key == RETAIN_KEYS
            || key.starts_with(SET_ORDER)
            || key.starts_with(DELETE_FROM);
        if !value.is_null() && !directive && !listed(key) {
            return Err(bad());
        }
    }
    original.retain(|key, _| listed(key));
    Ok(())
}

fn without_directive(patch: &Map<String, Value>) -> Map<String, Value> {
    let mut copy = patch.clone();
    remove_key(&mut copy, DIRECTIVE);
    copy
}

/// Removes `key` keeping the other keys' order (also with serde_json's `preserve_order`).
fn remove_key(map: &mut Map<String, Value>, key: &str) {
    if map.contains_key(key) {
        map.retain(|k, _| k != key);
    }
}

pub(crate) fn has_key_value(item: &Value, key: &str, value: &Value) -> bool {
    item.as_object()
        .and_then(|m| m.get(key))
        .is_some_and(|v| json_eq(v, value))
}

/// Equality as upstream sees it after decoding JSON into Go values (numbers are float64).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// The JSON type name as Go's encoding/json words it in unmarshal errors.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The Go type a decoded JSON value has, as `reflect.TypeOf` prints it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

pub(crate) fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Invalid(format!(
        "expected a {expected}, but received a {}",
        go_type(actual)
    ))
}

pub(crate) fn no_merge_key(map: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Unprocessable(format!(
        "map: {} does not contain declared merge key: {key}",
        Value::Object(map.clone())
    ))
}

fn unknown_patch_type(directive: &Value, map: &Map<String, Value>) -> PatchError {
    let shown = match directive {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    PatchError::Invalid(format!(
        "unknown patch type: {shown} in map: {}",
        Value::Object(map.clone())
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::schema::{Definition, Schema, def, merge, merge_retain, obj_with, set};

    /// A made-up type exercising every kind of field.
    static DEFS: &[Definition] = &[def(
        "Item",
        &[
            merge("list", "Item", "name"),
            set("ints"),
            obj_with("rk", "Item", "retainKeys"),
            merge_retain("rkList", "Item", "name"),
            obj_with("swap", "Item", "replace"),
        ],
    )];

    fn apply(doc: Value, patch: Value) -> Value {
        let schema = Schema::from_definitions(DEFS);
        super::apply(&doc, &patch, &schema, schema.definition("Item")).unwrap()
    }

    #[test]
    fn patch_order_wins_over_original_order() {
        let doc = json!({"list": [{"name": 1}, {"name": 2, "v": "b"}, {"name": 3}]});
        let out = apply(
            doc.clone(),
            json!({"list": [{"name": 3, "v": "c"}, {"name": 1, "v": "a"}]}),
        );
        assert_eq!(
            out,
            json!({"list": [{"name": 2, "v": "b"}, {"name": 3, "v": "c"}, {"name": 1, "v": "a"}]})
        );
        let out = apply(doc, json!({"ints": [3, 1]}));
        assert_eq!(out["ints"], json!([3, 1]));
        let out = apply(json!({"ints": [1, 2, 3]}), json!({"ints": [3, 1]}));
        assert_eq!(out["ints"], json!([2, 3, 1]));
    }

    #[test]
    fn deleting_and_adding_with_an_order_uses_upstreams_view_of_the_original() {
        let doc = json!({"list": [{"name": "a"}, {"name": "b", "v": 1}, {"name": "x", "v": 2}]});
        let patch = json!({
            "$setElementOrder/list": [{"name": "b"}, {"name": "c"}],
            "list": [{"name": "c"}, {"name": "a", "$patch": "delete"}]
        });
        assert_eq!(
            apply(doc.clone(), patch)["list"],
            json!([{"name": "b", "v": 1}, {"name": "x", "v": 2}, {"name": "c"}])
        );
        // Without the order directive the new element goes first.
        let patch = json!({"list": [{"name": "c"}, {"name": "a", "$patch": "delete"}]});
        assert_eq!(
            apply(doc, patch)["list"],
            json!([{"name": "c"}, {"name": "b", "v": 1}, {"name": "x", "v": 2}])
        );
    }

    #[test]
    fn primitive_order_with_server_only_items() {
        let doc = json!({"ints": [1, 2, 4]});
        let patch = json!({"$setElementOrder/ints": [1, 2, 3], "ints": [3]});
        assert_eq!(apply(doc, patch), json!({"ints": [1, 2, 3, 4]}));
    }

    #[test]
    fn retain_keys_inside_merged_list_elements() {
        let doc = json!({"rkList": [{"name": "a", "v": 1, "other": "x"}, {"name": "b"}]});
        let patch = json!({"rkList": [{"name": "a", "$retainKeys": ["name", "w"], "w": 2}]});
        assert_eq!(
            apply(doc, patch),
            json!({"rkList": [{"name": "a", "w": 2}, {"name": "b"}]})
        );
        let doc = json!({"rk": {"name": "n", "v": 1}});
        let patch = json!({"rk": {"$retainKeys": ["name"], "v": null}});
        assert_eq!(apply(doc, patch), json!({"rk": {"name": "n"}}));
    }

    #[test]
    fn replace_strategy_map_takes_the_patch() {
        let doc = json!({"swap": {"a": 1, "b": 2}});
        assert_eq!(
            apply(doc, json!({"swap": {"c": 3, "d": null}})),
            json!({"swap": {"c": 3}})
        );
    }

    #[test]
    fn absent_fields_are_created_clean_or_not_at_all() {
        let out = apply(
            json!({}),
            json!({"rk": {"$patch": "delete"}, "list": [{"name": "a", "$patch": "delete"}, {"name": "b", "z": null}]}),
        );
        assert_eq!(out, json!({"list": [{"name": "b"}]}));
        let out = apply(
            json!({"x": "s"}),
            json!({"x": {"$patch": "replace", "y": 1}}),
        );
        assert_eq!(out, json!({"x": {"y": 1}}));
    }

    #[test]
    fn merge_directive_is_accepted() {
        let doc = json!({"list": [{"name": "a", "v": 1}]});
        let patch = json!({"list": [{"name": "a", "$patch": "merge", "w": 2}], "rk": {"$patch": "merge", "v": 3}});
        assert_eq!(
            apply(doc, patch),
            json!({"list": [{"name": "a", "v": 1, "w": 2}], "rk": {"v": 3}})
        );
    }

    #[test]
    fn numbers_compare_like_go_floats() {
        let doc = json!({"list": [{"name": 80, "v": 1}], "ints": [1]});
        let out = apply(
            doc,
            json!({"list": [{"name": 80.0, "w": 2}], "$deleteFromPrimitiveList/ints": [1.0]}),
        );
        assert_eq!(
            out,
            json!({"list": [{"name": 80.0, "v": 1, "w": 2}], "ints": []})
        );
    }

    #[test]
    fn delete_list_for_a_non_merging_list_still_deletes() {
        let out = apply(
            json!({"plain": [1, 2, 3]}),
            json!({"$deleteFromPrimitiveList/plain": [2]}),
        );
        assert_eq!(out, json!({"plain": [1, 3]}));
    }
}
