//! Dropping fields a schema does not specify, as upstream's `schema/pruning` does.

use crate::node::{Additional, Node};
use serde_json::Value;

/// Prunes `v` by `n`. `as_resource` keeps `apiVersion`, `kind` and `metadata` at this level
/// (the object root, or an `x-kubernetes-embedded-resource`). Returns the pruned field paths.
pub(crate) fn prune(v: &mut Value, n: &Node, as_resource: bool) -> Vec<String> {
    let mut out = Vec::new();
    prune_value(v, Some(n), as_resource || n.embedded, "", &mut out);
    out
}

fn is_meta(key: &str) -> bool {
    matches!(key, "apiVersion" | "kind" | "metadata")
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The schema of a map value below `additionalProperties` (none for a boolean).
fn additional(n: &Node) -> Option<Option<&Node>> {
    match &n.additional {
        Some(Additional::Schema(s)) => Some(Some(s)),
        Some(Additional::Allows(_)) => Some(None),
        None => None,
    }
}

fn prune_value(v: &mut Value, n: Option<&Node>, embedded: bool, path: &str, out: &mut Vec<String>) {
    if let Some(n) = n
        && n.preserve_unknown
    {
        skip_prune(v, n, embedded, path, out);
        return;
    }
    match v {
        Value::Object(map) => {
            let Some(n) = n else {
                out.extend(map.keys().map(|k| child_path(path, k)));
                map.clear();
                return;
            };
            map.retain(|k, child| {
                let child_path = child_path(path, k);
                if embedded && is_meta(k) {
                    return true;
                }
                if let Some(prop) = n.properties.get(k) {
                    prune_value(child, Some(prop), prop.embedded, &child_path, out);
                    true
                } else if let Some(schema) = additional(n) {
                    let emb = schema.is_some_and(|s| s.embedded);
                    prune_value(child, schema, emb, &child_path, out);
                    true
                } else {
                    out.push(child_path);
                    false
                }
            });
        }
        Value::Array(items) => {
            let items_schema = n.and_then(|n| n.items.as_deref());
            let emb = items_schema.is_some_and(|s| s.embedded);
            for (i, item) in items.iter_mut().enumerate() {
                prune_value(item, items_schema, emb, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Below `x-kubernetes-preserve-unknown-fields`: unknown fields stay, specified ones are
/// still pruned by their schemas.
fn skip_prune(v: &mut Value, n: &Node, embedded: bool, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if embedded && is_meta(k) {
                    continue;
                }
                let child_path = child_path(path, k);
                if let Some(prop) = n.properties.get(k) {
                    prune_value(child, Some(prop), prop.embedded, &child_path, out);
                } else if let Some(schema) = additional(n) {
                    let emb = schema.is_some_and(|s| s.embedded);
                    prune_value(child, schema, emb, &child_path, out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(items_schema) = n.items.as_deref() {
                for (i, item) in items.iter_mut().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    skip_prune(item, items_schema, items_schema.embedded, &item_path, out);
                }
            }
        }
        _ => {}
    }
}
