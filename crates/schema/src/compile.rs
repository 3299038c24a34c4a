//! Compiling `openAPIV3Schema` into [`Node`]s, checking upstream's structural-schema rules.

use crate::formats;
use crate::node::{Additional, ListType, Node, Pattern, Type};
use crate::structural;
use regex::RegexBuilder;
use rkube_api::field::{FieldError, Path};
use serde_json::{Map, Value};

/// Where in the schema tree a node sits, as upstream's structural validation distinguishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Root,
    Item,
    Field,
}

/// The context a node is compiled in.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    level: Level,
    /// Below `allOf`/`anyOf`/`oneOf`/`not`: value validation only.
    nested: bool,
    /// The int-or-string exception: `anyOf: [{type: integer}, {type: string}]` may name types.
    allow_type: bool,
}

/// Keywords upstream's CRD schemas do not support at all.
const UNSUPPORTED: [&str; 7] = [
    "id",
    "$schema",
    "$ref",
    "definitions",
    "dependencies",
    "patternProperties",
    "additionalItems",
];

/// Compiles a schema tree, collecting every structural error.
pub(crate) fn compile(raw: &Value, base: &Path) -> Result<Node, Vec<FieldError>> {
    let mut c = Compiler { errs: Vec::new() };
    let ctx = Ctx {
        level: Level::Root,
        nested: false,
        allow_type: false,
    };
    let mut root = c.node(raw, base, ctx);
    if !c.errs.is_empty() {
        // Sorted like upstream sorts structural errors, so the order is stable.
        c.errs.sort_by_cached_key(ToString::to_string);
        return Err(c.errs);
    }
    // The root's metadata is ObjectMeta, validated and kept by the caller, never by the schema.
    root.properties.remove("metadata");
    crate::defaults::check_defaults(&mut root, base, &mut c.errs);
    if c.errs.is_empty() {
        Ok(root)
    } else {
        c.errs.sort_by_cached_key(ToString::to_string);
        Err(c.errs)
    }
}

struct Compiler {
    errs: Vec<FieldError>,
}

impl Compiler {
    fn node(&mut self, raw: &Value, path: &Path, ctx: Ctx) -> Node {
        let Some(obj) = raw.as_object() else {
            self.errs.push(FieldError::invalid(
                path,
                raw.clone(),
                "must be a JSON schema object",
            ));
            return Node::default();
        };
        let mut n = Node::default();
        for key in UNSUPPORTED {
            if obj.contains_key(key) {
                self.errs.push(FieldError::forbidden(
                    &path.child(key),
                    &format!("{key} is not supported"),
                ));
            }
        }
        self.parse_type(obj, path, &mut n);
        self.parse_flags(obj, path, &mut n);
        self.parse_limits(obj, path, &mut n);
        self.parse_strings(obj, path, &mut n);
        self.parse_lists(obj, path, &mut n);
        if let Some(d) = obj.get("default")
            && !d.is_null()
        {
            n.default = Some(d.clone());
        }
        self.parse_children(obj, path, ctx, &mut n);
        self.parse_junctors(obj, path, ctx, &mut n);
        if ctx.nested {
            structural::check_nested(obj, path, ctx.allow_type, &mut self.errs);
        } else {
            structural::check_structural(obj, &n, path, ctx.level, &mut self.errs);
            for (name, list) in [
                ("allOf", &n.all_of),
                ("anyOf", &n.any_of),
                ("oneOf", &n.one_of),
            ] {
                for (i, v) in list.iter().enumerate() {
                    let v_path = path.child(name).index(i);
                    structural::completeness(&n, v, path, &v_path, &mut self.errs);
                }
            }
            if let Some(v) = &n.not {
                structural::completeness(&n, v, path, &path.child("not"), &mut self.errs);
            }
        }
        n
    }

    fn parse_type(&mut self, obj: &Map<String, Value>, path: &Path, n: &mut Node) {
        match obj.get("type") {
            None => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => match Type::parse(s) {
                Some(t) => n.ty = Some(t),
                None if s == "null" => self.errs.push(FieldError::forbidden(
                    &path.child("type"),
                    "type cannot be set to null, use nullable as an alternative",
                )),
                None => self.errs.push(FieldError::not_supported(
                    &path.child("type"),
                    Value::String(s.clone()),
                    &["array", "boolean", "integer", "number", "object", "string"],
                )),
            },
            Some(other) => self.bad(path, "type", other, "must be a string"),
        }
    }

    fn parse_flags(&mut self, obj: &Map<String, Value>, path: &Path, n: &mut Node) {
        n.nullable = self.flag(obj, path, "nullable");
        n.int_or_string = self.flag(obj, path, "x-kubernetes-int-or-string");
        n.embedded = self.flag(obj, path, "x-kubernetes-embedded-resource");
        n.exclusive_minimum = self.flag(obj, path, "exclusiveMinimum");
        n.exclusive_maximum = self.flag(obj, path, "exclusiveMaximum");
        n.preserve_unknown = self.flag(obj, path, "x-kubernetes-preserve-unknown-fields");
        if obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
            self.errs.push(FieldError::invalid(
                &path.child("x-kubernetes-preserve-unknown-fields"),
                Value::Bool(false),
                "must be true or undefined",
            ));
        }
        if self.flag(obj, path, "uniqueItems") {
            self.errs.push(FieldError::forbidden(
                &path.child("uniqueItems"),
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            ));
        }
    }

    fn parse_limits(&mut self, obj: &Map<String, Value>, path: &Path, n: &mut Node) {
        n.min_length = self.count(obj, path, "minLength");
        n.max_length = self.count(obj, path, "maxLength");
        n.min_items = self.count(obj, path, "minItems");
        n.max_items = self.count(obj, path, "maxItems");
        n.min_properties = self.count(obj, path, "minProperties");
        n.max_properties = self.count(obj, path, "maxProperties");
        n.minimum = self.number(obj, path, "minimum");
        n.maximum = self.number(obj, path, "maximum");
        n.multiple_of = self.number(obj, path, "multipleOf");
    }

    fn parse_strings(&mut self, obj: &Map<String, Value>, path: &Path, n: &mut Node) {
        match obj.get("pattern") {
            None => {}
            Some(Value::String(p)) if p.is_empty() => {}
            Some(Value::String(p)) => match RegexBuilder::new(p).size_limit(1 << 20).build() {
                Ok(regex) => {
                    n.pattern = Some(Pattern {
                        source: p.clone(),
                        regex,
                    })
                }
                Err(e) => {
                    let reason = e
                        .to_string()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ");
                    self.errs.push(FieldError::invalid(
                        &path.child("pattern"),
                        Value::String(p.clone()),
                        &format!("must be a valid regular expression, but isn't: {reason}"),
                    ));
                }
            },
            Some(other) => self.bad(path, "pattern", other, "must be a string"),
        }
        match obj.get("format") {
            None => {}
            Some(Value::String(f)) => {
                let stringish = matches!(n.ty, None | Some(Type::String)) || n.int_or_string;
                if stringish && formats::is_supported(f) {
                    n.format = Some(f.clone());
                }
            }
            Some(other) => self.bad(path, "format", other, "must be a string"),
        }
        match obj.get("enum") {
            None => {}
            Some(Value::Array(values)) => n.enumeration = Some(values.clone()),
            Some(other) => self.bad(path, "enum", other, "must be an array"),
        }
        n.required = self.strings(obj, path, "required");
    }

    fn parse_lists(&mut self, obj: &Map<String, Value>, path: &Path, n: &mut Node) {
        match obj.get("x-kubernetes-list-type") {
            None => {}
            Some(Value::String(t)) => {
                n.list_type = match t.as_str() {
                    "atomic" => Some(ListType::Atomic),
                    "set" => Some(ListType::Set),
                    "map" => Some(ListType::Map),
                    _ => {
                        self.errs.push(FieldError::not_supported(
                            &path.child("x-kubernetes-list-type"),
                            Value::String(t.clone()),
                            &["atomic", "set", "map"],
                        ));
                        None
                    }
                }
            }
            Some(other) => self.bad(path, "x-kubernetes-list-type", other, "must be a string"),
        }
        n.list_map_keys = self.strings(obj, path, "x-kubernetes-list-map-keys");
        match obj.get("x-kubernetes-map-type") {
            None => {}
            Some(Value::String(t)) if t == "granular" || t == "atomic" => {}
            Some(other) => self.errs.push(FieldError::not_supported(
                &path.child("x-kubernetes-map-type"),
                other.clone(),
                &["granular", "atomic"],
            )),
        }
    }

    fn parse_children(&mut self, obj: &Map<String, Value>, path: &Path, ctx: Ctx, n: &mut Node) {
        let field_ctx = Ctx {
            level: Level::Field,
            allow_type: false,
            ..ctx
        };
        match obj.get("properties") {
            None => {}
            Some(Value::Object(props)) => {
                let props_path = path.child("properties");
                for (k, v) in props {
                    let child = self.node(v, &props_path.key(k), field_ctx);
                    n.properties.insert(k.clone(), child);
                }
            }
            Some(other) => self.bad(path, "properties", other, "must be an object"),
        }
        match obj.get("items") {
            None => {}
            Some(v @ Value::Object(_)) => {
                let item_ctx = Ctx {
                    level: Level::Item,
                    ..field_ctx
                };
                n.items = Some(Box::new(self.node(v, &path.child("items"), item_ctx)));
            }
            Some(Value::Array(_)) => self.errs.push(FieldError::forbidden(
                &path.child("items"),
                "items must be a schema object and not an array",
            )),
            Some(other) => self.bad(path, "items", other, "must be an object"),
        }
        match obj.get("additionalProperties") {
            None => {}
            // Nested additionalProperties is reported by the nested checks.
            Some(_) if ctx.nested => {}
            Some(Value::Bool(b)) => n.additional = Some(Additional::Allows(*b)),
            Some(v @ Value::Object(_)) => {
                let child = self.node(v, &path.child("additionalProperties"), field_ctx);
                n.additional = Some(Additional::Schema(Box::new(child)));
            }
            Some(other) => self.bad(
                path,
                "additionalProperties",
                other,
                "must be a boolean or an object",
            ),
        }
    }

    fn parse_junctors(&mut self, obj: &Map<String, Value>, path: &Path, ctx: Ctx, n: &mut Node) {
        let nested = Ctx {
            nested: true,
            allow_type: false,
            ..ctx
        };
        let skip_any_of = structural::is_int_or_string_any_of(obj.get("anyOf"));
        let skip_first_all_of = match obj.get("allOf") {
            Some(Value::Array(all)) => all
                .first()
                .and_then(Value::as_object)
                .is_some_and(|first| structural::is_int_or_string_any_of(first.get("anyOf"))),
            _ => false,
        };
        n.any_of = self.junctor_list(obj, path, "anyOf", |_| Ctx {
            allow_type: skip_any_of,
            ..nested
        });
        let mut all_of = Vec::new();
        if let Some(list) = self.array(obj, path, "allOf") {
            for (i, v) in list.iter().enumerate() {
                let sub_path = path.child("allOf").index(i);
                if i == 0 && skip_first_all_of {
                    all_of.push(self.int_or_string_all_of(v, &sub_path, nested));
                } else {
                    all_of.push(self.node(v, &sub_path, nested));
                }
            }
        }
        n.all_of = all_of;
        n.one_of = self.junctor_list(obj, path, "oneOf", |_| nested);
        match obj.get("not") {
            None => {}
            Some(v) => n.not = Some(Box::new(self.node(v, &path.child("not"), nested))),
        }
    }

    /// `allOf[0]` of the int-or-string exception: its `anyOf` entries may name types.
    fn int_or_string_all_of(&mut self, raw: &Value, path: &Path, nested: Ctx) -> Node {
        let Some(obj) = raw.as_object() else {
            return self.node(raw, path, nested);
        };
        let mut rest = obj.clone();
        let any_of = rest.remove("anyOf");
        let mut node = self.node(&Value::Object(rest), path, nested);
        if let Some(Value::Array(list)) = any_of {
            let typed = Ctx {
                allow_type: true,
                ..nested
            };
            for (i, v) in list.iter().enumerate() {
                node.any_of
                    .push(self.node(v, &path.child("anyOf").index(i), typed));
            }
        }
        node
    }

    fn junctor_list(
        &mut self,
        obj: &Map<String, Value>,
        path: &Path,
        key: &str,
        ctx: impl Fn(usize) -> Ctx,
    ) -> Vec<Node> {
        let Some(list) = self.array(obj, path, key) else {
            return Vec::new();
        };
        list.iter()
            .enumerate()
            .map(|(i, v)| self.node(v, &path.child(key).index(i), ctx(i)))
            .collect()
    }

    fn array<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        path: &Path,
        key: &str,
    ) -> Option<&'a Vec<Value>> {
        match obj.get(key) {
            None => None,
            Some(Value::Array(list)) => Some(list),
            Some(other) => {
                self.bad(path, key, other, "must be an array");
                None
            }
        }
    }

    fn bad(&mut self, path: &Path, key: &str, value: &Value, detail: &str) {
        self.errs
            .push(FieldError::invalid(&path.child(key), value.clone(), detail));
    }

    fn flag(&mut self, obj: &Map<String, Value>, path: &Path, key: &str) -> bool {
        match obj.get(key) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.bad(path, key, other, "must be a boolean");
                false
            }
        }
    }

    fn count(&mut self, obj: &Map<String, Value>, path: &Path, key: &str) -> Option<u64> {
        let v = obj.get(key)?;
        if let Some(n) = v.as_u64() {
            return Some(n);
        }
        match v.as_f64() {
            Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 => Some(f as u64),
            _ => {
                self.bad(path, key, v, "must be a non-negative integer");
                None
            }
        }
    }

    fn number(&mut self, obj: &Map<String, Value>, path: &Path, key: &str) -> Option<f64> {
        let v = obj.get(key)?;
        match v.as_f64() {
            Some(f) => Some(f),
            None => {
                self.bad(path, key, v, "must be a number");
                None
            }
        }
    }

    fn strings(&mut self, obj: &Map<String, Value>, path: &Path, key: &str) -> Vec<String> {
        let Some(v) = obj.get(key) else {
            return Vec::new();
        };
        let list = v.as_array().map(|list| {
            list.iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        });
        match list {
            Some(Some(strings)) => strings,
            _ => {
                self.bad(path, key, v, "must be an array of strings");
                Vec::new()
            }
        }
    }
}
