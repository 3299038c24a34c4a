//! Uniqueness of `x-kubernetes-list-type: set` and `map` lists, as upstream's
//! `schema/listtype` validation checks it.

use crate::node::{Additional, ListType, Node};
use rkube_api::field::{FieldError, Path};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Validates set and map lists anywhere in `v` (an object described by `n`).
pub(crate) fn validate(n: &Node, v: &Value, path: &Path) -> Vec<FieldError> {
    let mut out = Vec::new();
    if let Value::Object(map) = v {
        object(n, map, path, &mut out);
    }
    out
}

fn object(n: &Node, map: &Map<String, Value>, path: &Path, out: &mut Vec<FieldError>) {
    if let Some(Additional::Schema(schema)) = &n.additional {
        for (k, v) in map {
            value(schema, v, &path.key(k), out);
        }
    }
    for (k, v) in map {
        if let Some(schema) = n.properties.get(k) {
            value(schema, v, &path.child(k), out);
        }
    }
}

fn value(n: &Node, v: &Value, path: &Path, out: &mut Vec<FieldError>) {
    match v {
        Value::Array(items) => array(n, items, path, out),
        Value::Object(map) => object(n, map, path, out),
        _ => {}
    }
}

fn array(n: &Node, items: &[Value], path: &Path, out: &mut Vec<FieldError>) {
    match n.list_type {
        Some(ListType::Set) => {
            let keys: Vec<String> = items.iter().map(canonical).collect();
            for i in first_duplicates(&keys) {
                if let Some(item) = items.get(i) {
                    out.push(FieldError::duplicate(&path.index(i), item.clone()));
                }
            }
        }
        Some(ListType::Map) => list_map(n, items, path, out),
        _ => {}
    }
    if let Some(schema) = &n.items {
        for (i, item) in items.iter().enumerate() {
            value(schema, item, &path.index(i), out);
        }
    }
}

fn list_map(n: &Node, items: &[Value], path: &Path, out: &mut Vec<FieldError>) {
    for (i, item) in items.iter().enumerate() {
        if !item.is_null() && !item.is_object() {
            out.push(FieldError::invalid(
                &path.index(i),
                item.clone(),
                "must be an object for an array of list-type map",
            ));
            return;
        }
    }
    if items.len() <= 1 {
        return;
    }
    // The key of each element: the key fields it has (null elements have none).
    let keys: Vec<Map<String, Value>> = items
        .iter()
        .map(|item| {
            let mut key = Map::new();
            if let Value::Object(obj) = item {
                for field in &n.list_map_keys {
                    if let Some(k) = obj.get(field) {
                        key.insert(field.clone(), k.clone());
                    }
                }
            }
            key
        })
        .collect();
    let canon: Vec<String> = keys
        .iter()
        .map(|k| canonical(&Value::Object(k.clone())))
        .collect();
    for i in first_duplicates(&canon) {
        if let Some(key) = keys.get(i) {
            out.push(FieldError::duplicate(
                &path.index(i),
                Value::Object(key.clone()),
            ));
        }
    }
}

/// The indices where a value shows up for the second time (later repeats are not reported).
fn first_duplicates(keys: &[String]) -> Vec<usize> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut dups = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let times = seen.entry(k.as_str()).or_insert(0);
        *times += 1;
        if *times == 2 {
            dups.push(i);
        }
    }
    dups
}

/// A JSON rendering with sorted keys, so equal values render equally.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", inner.join(","))
        }
        other => other.to_string(),
    }
}
