//! What server-side apply needs to know of a place in an object: whether a list is atomic,
//! a set, or a map keyed by some of its items' fields, and whether a map is atomic. Built-in
//! kinds answer from the strategic-merge table (merge keys make keyed lists), custom
//! resources from their CRD's schema (`x-kubernetes-list-type` and friends).

use crate::schema::{Definition, Schema};
use serde_json::Value;

/// How a list merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced as a whole.
    Atomic,
    /// Items are unique scalars, owned one by one.
    Set,
    /// Items are objects identified by these fields, owned one by one.
    Map(Vec<String>),
}

/// The shape of one place in an object.
#[derive(Debug, Clone, Copy)]
pub enum Shape<'a> {
    /// A built-in kind's object of this definition (when the table has it).
    Builtin(Option<&'a Definition>),
    /// A custom resource's schema node.
    Custom(&'a Value),
    /// Nothing known: maps merge by key, lists are atomic.
    Unknown,
}

/// What is known of one member of an object.
#[derive(Debug, Clone)]
pub struct Member<'a> {
    /// The shape of the member's value, or of its items for a list.
    pub shape: Shape<'a>,
    /// How the member merges when it is a list.
    pub list: ListKind,
    /// Whether the member, a map, is replaced as a whole.
    pub atomic_map: bool,
}

impl<'a> Member<'a> {
    fn plain(shape: Shape<'a>) -> Member<'a> {
        Member {
            shape,
            list: ListKind::Atomic,
            atomic_map: false,
        }
    }
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

impl<'a> Shape<'a> {
    /// The shape of a built-in kind's objects.
    pub fn builtin(group: &str, version: &str, kind: &str) -> Shape<'static> {
        Shape::Builtin(Schema::builtin().definition_for(group, version, kind))
    }

    /// A member of the object at this place.
    pub fn member(&self, name: &str) -> Member<'a> {
        match self {
            Shape::Builtin(def) => {
                let Some(meta) = def.and_then(|d| d.field(name)) else {
                    return Member::plain(Shape::Builtin(None));
                };
                let list = match (meta.merge_key, meta.has_strategy("merge")) {
                    (Some(key), _) => ListKind::Map(vec![key.to_owned()]),
                    (None, true) if meta.definition.is_none() => ListKind::Set,
                    _ => ListKind::Atomic,
                };
                Member {
                    shape: Shape::Builtin(Schema::builtin().child(Some(meta))),
                    list,
                    atomic_map: false,
                }
            }
            Shape::Custom(node) => {
                if name == "metadata" && node.pointer("/properties/metadata/properties").is_none() {
                    // The root's (and embedded resources') metadata is an ObjectMeta.
                    return Member::plain(Shape::Builtin(
                        Schema::builtin().definition(OBJECT_META),
                    ));
                }
                let child = node
                    .get("properties")
                    .and_then(|p| p.get(name))
                    .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()));
                let Some(child) = child else {
                    return Member::plain(Shape::Unknown);
                };
                let list = match child.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("set") => ListKind::Set,
                    Some("map") => ListKind::Map(
                        child
                            .get("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array)
                            .map(|keys| {
                                keys.iter()
                                    .filter_map(|k| k.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    ),
                    _ => ListKind::Atomic,
                };
                let shape = match child.get("items") {
                    Some(items) if child.get("type").and_then(Value::as_str) == Some("array") => {
                        Shape::Custom(items)
                    }
                    _ => Shape::Custom(child),
                };
                let atomic_map = matches!(
                    child.get("x-kubernetes-map-type").and_then(Value::as_str),
                    Some("atomic")
                );
                Member {
                    shape,
                    list,
                    atomic_map,
                }
            }
            Shape::Unknown => Member::plain(Shape::Unknown),
        }
    }
}
