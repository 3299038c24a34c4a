//! Defaulting, as upstream's `schema/defaulting` does it, and the compile-time checks of
//! `default` values.

use crate::node::{Additional, Node};
use crate::{prune, validate};
use rkube_api::field::{FieldError, Path};
use serde_json::Value;

/// Checks and prunes every `default` below `n` (compiled at `path`): a default must not have
/// unknown fields and must validate against its schema. Defaults are stored pruned.
pub(crate) fn check_defaults(n: &mut Node, path: &Path, errs: &mut Vec<FieldError>) {
    check(n, path, true, true, errs);
}

fn check(n: &mut Node, path: &Path, as_resource: bool, validate: bool, errs: &mut Vec<FieldError>) {
    if let Some(original) = n.default.take() {
        let default_path = path.child("default");
        let mut pruned = original.clone();
        if !prune::prune(&mut pruned, n, as_resource).is_empty() {
            errs.push(FieldError::invalid(
                &default_path,
                original.clone(),
                "must not have unknown fields",
            ));
        }
        if validate {
            errs.extend(validate::validate(n, &original, &default_path));
        }
        n.default = Some(pruned);
    }
    let props_path = path.child("properties");
    for (k, p) in n.properties.iter_mut() {
        check(p, &props_path.key(k), false, validate, errs);
    }
    if let Some(items) = n.items.as_deref_mut() {
        check(items, &path.child("items"), false, validate, errs);
    }
    // Like upstream, defaults below additionalProperties are not validated (only pruned).
    if let Some(Additional::Schema(s)) = n.additional.as_mut() {
        check(s, &path.child("additionalProperties"), false, false, errs);
    }
}

fn non_nullable_null(v: &Value, n: &Node) -> bool {
    v.is_null() && !n.nullable
}

/// Drops `null`s of non-nullable fields without a default (upstream's
/// `PruneNonNullableNullsWithoutDefaults`); those with a default get it in [`apply`].
pub(crate) fn drop_nulls(v: &mut Value, n: Option<&Node>) {
    match v {
        Value::Object(map) => {
            map.retain(|k, child| {
                let schema = n.and_then(|n| match n.properties.get(k) {
                    Some(p) => Some(p),
                    None => match &n.additional {
                        Some(Additional::Schema(s)) => Some(&**s),
                        _ => None,
                    },
                });
                if let Some(s) = schema
                    && non_nullable_null(child, s)
                    && s.default.is_none()
                {
                    return false;
                }
                drop_nulls(child, schema);
                true
            });
        }
        Value::Array(items) => {
            let schema = n.and_then(|n| n.items.as_deref());
            for item in items {
                drop_nulls(item, schema);
            }
        }
        _ => {}
    }
}

/// Sets defaults of absent (or non-nullable null) fields, recursively.
pub(crate) fn apply(v: &mut Value, n: &Node) {
    match v {
        Value::Object(map) => {
            for (k, prop) in &n.properties {
                let Some(default) = &prop.default else {
                    continue;
                };
                let missing = map.get(k).is_none_or(|cur| non_nullable_null(cur, prop));
                if missing {
                    map.insert(k.clone(), default.clone());
                }
            }
            for (k, child) in map.iter_mut() {
                if let Some(prop) = n.properties.get(k) {
                    apply(child, prop);
                } else if let Some(Additional::Schema(s)) = &n.additional {
                    fill_null(child, s);
                    apply(child, s);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = n.items.as_deref() {
                for item in items {
                    fill_null(item, s);
                    apply(item, s);
                }
            }
        }
        _ => {}
    }
}

fn fill_null(v: &mut Value, n: &Node) {
    if non_nullable_null(v, n)
        && let Some(d) = &n.default
    {
        *v = d.clone();
    }
}
