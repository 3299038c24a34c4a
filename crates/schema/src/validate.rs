//! Validating values against compiled schemas, as kube-openapi's schema validator does, with
//! its results turned into field errors as apiextensions-apiserver does.

use crate::formats;
use crate::node::{Additional, Node};
use crate::number::{self, Num};
use rkube_api::field::{ErrorType, FieldError, Path};
use serde_json::{Map, Value};

/// Where a value sits: its field path and the name kube-openapi uses in messages (relative to
/// the validated root, which matters when validating `default`s).
#[derive(Debug, Clone)]
pub(crate) struct Loc {
    pub(crate) path: Path,
    pub(crate) name: String,
}

impl Loc {
    fn child(&self, key: &str) -> Loc {
        let name = if self.name.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.name)
        };
        Loc {
            path: self.path.child(key),
            name,
        }
    }

    fn index(&self, i: usize) -> Loc {
        Loc {
            path: self.path.index(i),
            name: format!("{}[{i}]", self.name),
        }
    }
}

/// Validates `v` against `n`; errors are rooted at `root` (empty for a custom object).
pub(crate) fn validate(n: &Node, v: &Value, root: &Path) -> Vec<FieldError> {
    let validator = Validator { root };
    let loc = Loc {
        path: root.clone(),
        name: String::new(),
    };
    let mut out = Vec::new();
    validator.value(n, v, &loc, &mut out);
    out
}

/// Upstream's `field.TooMany`, which rkube-api lacks a kind for: the count with "must have at
/// most N items".
fn too_many(path: &Path, actual: usize, max: u64) -> FieldError {
    FieldError {
        kind: ErrorType::Invalid,
        field: path.clone(),
        value: Some(Value::from(actual)),
        detail: format!("must have at most {max} items"),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) => match Num::of(n) {
            Num::Int(_) => "integer",
            Num::Float(_) => "number",
        },
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether two JSON values are equal, numbers compared by value (1 equals 1.0).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (Num::of(x), Num::of(y)) {
            (Num::Int(i), Num::Int(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| json_eq(a, b)))
        }
        _ => a == b,
    }
}

struct Validator<'a> {
    /// Where composite (allOf/anyOf/oneOf/not) errors are reported, as upstream does.
    root: &'a Path,
}

impl Validator<'_> {
    fn value(&self, n: &Node, v: &Value, loc: &Loc, out: &mut Vec<FieldError>) {
        if v.is_null() {
            if !n.nullable {
                if let Some(types) = type_names(n) {
                    out.push(type_error(loc, &types, "null"));
                }
                self.enumeration(n, v, loc, out);
            }
            return;
        }
        self.type_check(n, v, loc, out);
        self.junctors(n, v, loc, out);
        match v {
            Value::String(s) => {
                string(n, s, loc, out);
                if let Some(f) = &n.format
                    && !formats::check(f, s)
                {
                    let detail = format!("{} in body must be of type {f}: {s:?}", loc.name);
                    out.push(FieldError::invalid(&loc.path, v.clone(), &detail));
                }
            }
            Value::Number(num) => number::check(n, v, Num::of(num), loc, out),
            Value::Array(items) => self.array(n, items, loc, out),
            _ => {}
        }
        self.enumeration(n, v, loc, out);
        if let Value::Object(map) = v {
            self.object(n, map, loc, out);
        }
    }

    fn type_check(&self, n: &Node, v: &Value, loc: &Loc, out: &mut Vec<FieldError>) {
        let Some(types) = type_names(n) else {
            return;
        };
        let actual = json_type(v);
        let allows = |t: &str| types.split(',').any(|x| x == t);
        let ok = allows(actual)
            || (actual == "number"
                && allows("integer")
                && v.as_f64().is_some_and(number::is_json_integer))
            || (actual == "integer" && allows("number"));
        if !ok {
            out.push(type_error(loc, &types, actual));
        }
    }

    fn composite(&self, out: &mut Vec<FieldError>, detail: String) {
        out.push(FieldError::invalid(
            self.root,
            Value::String(String::new()),
            &detail,
        ));
    }

    fn junctors(&self, n: &Node, v: &Value, loc: &Loc, out: &mut Vec<FieldError>) {
        let name = &loc.name;
        if !n.any_of.is_empty() {
            let mut best: Option<Vec<FieldError>> = None;
            let mut succeeded = false;
            for sub in &n.any_of {
                let errs = self.sub(sub, v, loc);
                if errs.is_empty() {
                    succeeded = true;
                    break;
                }
                if best.as_ref().is_none_or(|b| errs.len() < b.len()) {
                    best = Some(errs);
                }
            }
            if !succeeded {
                self.composite(
                    out,
                    format!("{name:?} must validate at least one schema (anyOf)"),
                );
                out.extend(best.unwrap_or_default());
            }
        }
        if !n.one_of.is_empty() {
            let mut best: Option<Vec<FieldError>> = None;
            let mut valid = 0usize;
            for sub in &n.one_of {
                let errs = self.sub(sub, v, loc);
                if errs.is_empty() {
                    valid += 1;
                    best = None;
                } else if valid == 0 && best.as_ref().is_none_or(|b| errs.len() < b.len()) {
                    best = Some(errs);
                }
            }
            if valid != 1 {
                let found = if valid == 0 {
                    "Found none valid".to_owned()
                } else {
                    format!("Found {valid} valid alternatives")
                };
                self.composite(
                    out,
                    format!("{name:?} must validate one and only one schema (oneOf). {found}"),
                );
                out.extend(best.unwrap_or_default());
            }
        }
        if !n.all_of.is_empty() {
            let mut valid = 0usize;
            for sub in &n.all_of {
                let errs = self.sub(sub, v, loc);
                if errs.is_empty() {
                    valid += 1;
                }
                out.extend(errs);
            }
            if valid != n.all_of.len() {
                let none = if valid == 0 { ". None validated" } else { "" };
                self.composite(
                    out,
                    format!("{name:?} must validate all the schemas (allOf){none}"),
                );
            }
        }
        if let Some(not) = &n.not
            && self.sub(not, v, loc).is_empty()
        {
            self.composite(out, format!("{name:?} must not validate the schema (not)"));
        }
    }

    fn sub(&self, n: &Node, v: &Value, loc: &Loc) -> Vec<FieldError> {
        let mut errs = Vec::new();
        self.value(n, v, loc, &mut errs);
        errs
    }

    fn array(&self, n: &Node, items: &[Value], loc: &Loc, out: &mut Vec<FieldError>) {
        if let Some(schema) = &n.items {
            for (i, item) in items.iter().enumerate() {
                self.value(schema, item, &loc.index(i), out);
            }
        }
        let len = items.len();
        if let Some(min) = n.min_items
            && (len as u64) < min
        {
            let detail = format!("{} in body should have at least {min} items", loc.name);
            out.push(FieldError::invalid(&loc.path, Value::from(len), &detail));
        }
        if let Some(max) = n.max_items
            && len as u64 > max
        {
            out.push(too_many(&loc.path, len, max));
        }
    }

    fn enumeration(&self, n: &Node, v: &Value, loc: &Loc, out: &mut Vec<FieldError>) {
        let Some(values) = &n.enumeration else {
            return;
        };
        if values.is_empty() || values.iter().any(|e| json_eq(e, v)) {
            return;
        }
        let supported: Vec<String> = values
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        let refs: Vec<&str> = supported.iter().map(String::as_str).collect();
        out.push(FieldError::not_supported(&loc.path, v.clone(), &refs));
    }

    fn object(&self, n: &Node, map: &Map<String, Value>, loc: &Loc, out: &mut Vec<FieldError>) {
        let count = map.len();
        if let Some(min) = n.min_properties
            && (count as u64) < min
        {
            let detail = format!("{} in body should have at least {min} properties", loc.name);
            out.push(FieldError::invalid(&loc.path, Value::from(count), &detail));
            return;
        }
        if let Some(max) = n.max_properties
            && count as u64 > max
        {
            out.push(too_many(&loc.path, count, max));
            return;
        }
        match &n.additional {
            Some(Additional::Allows(false)) => {
                for key in map.keys().filter(|k| !n.properties.contains_key(*k)) {
                    let detail = format!("{}.{key} in body is a forbidden property", loc.name);
                    out.push(FieldError::invalid(
                        &loc.path,
                        Value::String(key.clone()),
                        &detail,
                    ));
                }
            }
            Some(Additional::Schema(schema)) => {
                for (key, value) in map {
                    if !n.properties.contains_key(key) {
                        self.value(schema, value, &loc.child(key), out);
                    }
                }
            }
            _ => {}
        }
        for (key, schema) in &n.properties {
            if let Some(value) = map.get(key) {
                self.value(schema, value, &loc.child(key), out);
            }
        }
        for key in &n.required {
            if !map.contains_key(key) {
                out.push(FieldError::required(&loc.path.child(key), ""));
            }
        }
    }
}

/// The types a node accepts, comma-separated as upstream prints them, if it restricts any.
fn type_names(n: &Node) -> Option<String> {
    if n.int_or_string {
        Some("integer,string".to_owned())
    } else {
        n.ty.map(|t| t.name().to_owned())
    }
}

fn type_error(loc: &Loc, types: &str, actual: &str) -> FieldError {
    let detail = format!("{} in body must be of type {types}: {actual:?}", loc.name);
    FieldError::invalid(&loc.path, Value::String(actual.to_owned()), &detail)
}

/// `maxLength`, `minLength` and `pattern`; like upstream, only the first failure is reported.
fn string(n: &Node, s: &str, loc: &Loc, out: &mut Vec<FieldError>) {
    let len = s.chars().count() as u64;
    if let Some(max) = n.max_length
        && len > max
    {
        out.push(FieldError::too_long(
            &loc.path,
            usize::try_from(max).unwrap_or(usize::MAX),
        ));
        return;
    }
    let value = || Value::String(s.to_owned());
    if let Some(min) = n.min_length
        && len < min
    {
        let detail = format!("{} in body should be at least {min} chars long", loc.name);
        out.push(FieldError::invalid(&loc.path, value(), &detail));
        return;
    }
    if let Some(p) = &n.pattern
        && !p.regex.is_match(s)
    {
        let detail = format!("{} in body should match '{}'", loc.name, p.source);
        out.push(FieldError::invalid(&loc.path, value(), &detail));
    }
}
