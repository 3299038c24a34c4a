//! Upstream's structural-schema invariants (apiextensions-apiserver `schema/validation.go`,
//! `schema/complete.go` and the list-type rules of the CRD validation).

use crate::compile::Level;
use crate::node::{Additional, ListType, Node, Type};
use rkube_api::field::{FieldError, Path};
use serde_json::{Map, Value, json};

/// Whether `anyOf` is exactly `[{type: integer}, {type: string}]`, the int-or-string exception.
pub(crate) fn is_int_or_string_any_of(any_of: Option<&Value>) -> bool {
    any_of.is_some_and(|v| *v == json!([{"type": "integer"}, {"type": "string"}]))
}

fn type_value(ty: Option<Type>) -> Value {
    Value::String(ty.map(Type::name).unwrap_or_default().to_owned())
}

/// Checks a node with a structural role (not below a logical junctor).
pub(crate) fn check_structural(
    obj: &Map<String, Value>,
    n: &Node,
    path: &Path,
    level: Level,
    errs: &mut Vec<FieldError>,
) {
    if n.ty == Some(Type::Array) && !obj.contains_key("items") {
        errs.push(FieldError::required(
            &path.child("items"),
            "must be specified",
        ));
    }
    if n.additional.is_some() && level == Level::Root {
        errs.push(FieldError::forbidden(
            &path.child("additionalProperties"),
            "must not be used at the root",
        ));
    }
    let restricts_additional = !matches!(n.additional, None | Some(Additional::Allows(true)));
    if !n.properties.is_empty() && restricts_additional {
        errs.push(FieldError::forbidden(
            &path.child("additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if n.int_or_string && n.preserve_unknown {
        errs.push(FieldError::invalid(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if n.int_or_string && n.embedded {
        errs.push(FieldError::invalid(
            &path.child("x-kubernetes-embedded-resource"),
            Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    // A `type` that failed to parse was reported already; do not also call it missing.
    let named_type = obj.get("type").is_some_and(|t| t != "");
    check_type(n, named_type, path, level, errs);
    if n.embedded && n.additional.is_some() {
        errs.push(FieldError::forbidden(
            &path.child("additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    let check_meta = level == Level::Root || n.embedded;
    if check_meta {
        for key in ["kind", "apiVersion"] {
            if let Some(p) = n.properties.get(key)
                && p.ty != Some(Type::String)
            {
                errs.push(FieldError::invalid(
                    &path.child("properties").key(key).child("type"),
                    type_value(p.ty),
                    "must be string",
                ));
            }
        }
    }
    if let Some(meta) = n.properties.get("metadata") {
        let meta_path = path.child("properties").key("metadata");
        if check_meta && meta.ty != Some(Type::Object) {
            errs.push(FieldError::invalid(
                &meta_path.child("type"),
                type_value(meta.ty),
                "must be object",
            ));
        }
        let raw = obj
            .get("properties")
            .and_then(|p| p.get("metadata"))
            .and_then(Value::as_object);
        if level == Level::Root && raw.is_some_and(|m| !root_metadata_allowed(m)) {
            errs.push(FieldError::forbidden(
                &meta_path,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }
    if n.embedded && !n.preserve_unknown && n.properties.is_empty() {
        errs.push(FieldError::required(
            &path.child("properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
    check_list_type(obj, n, path, errs);
}

fn check_type(n: &Node, named_type: bool, path: &Path, level: Level, errs: &mut Vec<FieldError>) {
    let type_path = path.child("type");
    if n.embedded && n.ty != Some(Type::Object) {
        let detail = "must be object if x-kubernetes-embedded-resource is true";
        match n.ty {
            None => errs.push(FieldError::required(&type_path, detail)),
            Some(_) => errs.push(FieldError::invalid(&type_path, type_value(n.ty), detail)),
        }
    } else if n.ty.is_none() && !named_type && !n.int_or_string && !n.preserve_unknown {
        let detail = match level {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(&type_path, detail));
    }
    if level == Level::Root
        && let Some(t) = n.ty
        && t != Type::Object
    {
        errs.push(FieldError::invalid(
            &type_path,
            type_value(Some(t)),
            "must be object at the root",
        ));
    }
}

/// The root's metadata may only be `type: object`, optionally restricting name and generateName.
fn root_metadata_allowed(meta: &Map<String, Value>) -> bool {
    meta.iter().all(|(k, v)| match k.as_str() {
        "type" | "default" => true,
        "properties" => v
            .as_object()
            .is_some_and(|props| props.keys().all(|p| p == "name" || p == "generateName")),
        _ => false,
    })
}

fn check_list_type(obj: &Map<String, Value>, n: &Node, path: &Path, errs: &mut Vec<FieldError>) {
    let keys_path = path.child("x-kubernetes-list-map-keys");
    let items_path = path.child("items");
    match n.list_type {
        Some(ListType::Map) => {
            if n.list_map_keys.is_empty() {
                errs.push(FieldError::required(
                    &keys_path,
                    "must not be empty if x-kubernetes-list-type is map",
                ));
            }
            let Some(items) = &n.items else {
                errs.push(FieldError::required(
                    &items_path,
                    "must have a schema if x-kubernetes-list-type is map",
                ));
                return;
            };
            if items.ty != Some(Type::Object) {
                errs.push(FieldError::invalid(
                    &items_path.child("type"),
                    type_value(items.ty),
                    "must be object if parent array's x-kubernetes-list-type is map",
                ));
                return;
            }
            let keys_value = || json!(n.list_map_keys);
            if n.list_map_keys
                .iter()
                .any(|k| !items.properties.contains_key(k))
            {
                errs.push(FieldError::invalid(
                    &keys_path,
                    keys_value(),
                    "entries must all be names of item properties",
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            if !n.list_map_keys.iter().all(|k| seen.insert(k)) {
                errs.push(FieldError::invalid(
                    &keys_path,
                    keys_value(),
                    "must not contain duplicate entries",
                ));
            }
            for k in &n.list_map_keys {
                if let Some(p) = items.properties.get(k)
                    && p.default.is_none()
                    && !items.required.contains(k)
                {
                    errs.push(FieldError::required(
                        &items_path.child("properties").key(k).child("default"),
                        "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                    ));
                }
            }
        }
        Some(ListType::Set) => {
            let raw_items = obj.get("items");
            let ext = |key: &str| raw_items.and_then(|i| i.get(key)).and_then(Value::as_str);
            match n.items.as_ref().and_then(|i| i.ty) {
                Some(Type::Object) if ext("x-kubernetes-map-type") != Some("atomic") => {
                    errs.push(FieldError::invalid(
                        &items_path.child("x-kubernetes-map-type"),
                        ext("x-kubernetes-map-type").map_or(Value::Null, Value::from),
                        "must be atomic as item of a list with x-kubernetes-list-type=set",
                    ));
                }
                Some(Type::Array) if ext("x-kubernetes-list-type") != Some("atomic") => {
                    errs.push(FieldError::invalid(
                        &items_path.child("x-kubernetes-list-type"),
                        ext("x-kubernetes-list-type").map_or(Value::Null, Value::from),
                        "must be atomic as item of a list with x-kubernetes-list-type=set",
                    ));
                }
                _ => {}
            }
        }
        _ => {
            if !n.list_map_keys.is_empty() {
                errs.push(FieldError::forbidden(
                    &keys_path,
                    "must be empty if x-kubernetes-list-type is not map",
                ));
            }
        }
    }
}

/// Checks a value-validation node below `allOf`/`anyOf`/`oneOf`/`not`.
pub(crate) fn check_nested(
    obj: &Map<String, Value>,
    path: &Path,
    allow_type: bool,
    errs: &mut Vec<FieldError>,
) {
    let mut forbid = |key: &str, detail: &str| {
        if obj.contains_key(key) {
            errs.push(FieldError::forbidden(&path.child(key), detail));
        }
    };
    if !allow_type {
        forbid("type", "must be empty to be structural");
    }
    forbid("additionalProperties", "must be undefined to be structural");
    forbid("default", "must be undefined to be structural");
    forbid("title", "must be empty to be structural");
    forbid("description", "must be empty to be structural");
    forbid("externalDocs", "must be undefined to be structural");
    forbid(
        "x-kubernetes-list-map-keys",
        "must be empty to be structural",
    );
    forbid(
        "x-kubernetes-list-type",
        "must be undefined to be structural",
    );
    forbid(
        "x-kubernetes-map-type",
        "must be undefined to be structural",
    );
    forbid("x-kubernetes-validations", "must be empty to be structural");
    for key in [
        "nullable",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-int-or-string",
    ] {
        if obj.get(key).is_some_and(|v| v != &Value::Bool(false)) {
            errs.push(FieldError::forbidden(
                &path.child(key),
                "must be false to be structural",
            ));
        }
    }
    if obj
        .get("properties")
        .and_then(|p| p.get("metadata"))
        .is_some()
    {
        errs.push(FieldError::forbidden(
            &path.child("properties").key("metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// Every field or array a value validation `v` speaks about must also be specified by the
/// structural node `s`.
pub(crate) fn completeness(
    s: &Node,
    v: &Node,
    s_path: &Path,
    v_path: &Path,
    errs: &mut Vec<FieldError>,
) {
    if let Some(v_items) = &v.items {
        let v_items_path = v_path.child("items");
        match &s.items {
            Some(s_items) => completeness(
                s_items,
                v_items,
                &s_path.child("items"),
                &v_items_path,
                errs,
            ),
            None => errs.push(FieldError::required(
                &s_path.child("items"),
                &format!("because it is defined in {v_items_path}"),
            )),
        }
    }
    for (k, v_prop) in &v.properties {
        let v_prop_path = v_path.child("properties").key(k);
        let s_prop_path = s_path.child("properties").key(k);
        match s.properties.get(k) {
            Some(s_prop) => completeness(s_prop, v_prop, &s_prop_path, &v_prop_path, errs),
            None => errs.push(FieldError::required(
                &s_prop_path,
                &format!("because it is defined in {v_prop_path}"),
            )),
        }
    }
    for (name, list) in [
        ("allOf", &v.all_of),
        ("anyOf", &v.any_of),
        ("oneOf", &v.one_of),
    ] {
        for (i, sub) in list.iter().enumerate() {
            completeness(s, sub, s_path, &v_path.child(name).index(i), errs);
        }
    }
    if let Some(not) = &v.not {
        completeness(s, not, s_path, &v_path.child("not"), errs);
    }
}
