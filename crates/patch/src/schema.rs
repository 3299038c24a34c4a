//! The strategic-merge metadata model: definitions, their fields' patch strategies and merge
//! keys, and the lookup of a kind's definition. The data lives in `table.rs` and `kinds.rs`.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::{kinds, table};

/// The strategic-merge metadata (merge keys, patch strategies) of the built-in kinds.
///
/// Definitions are named like upstream's OpenAPI definitions, e.g. `io.k8s.api.core.v1.PodSpec`.
/// Only fields that matter to a strategic merge patch are recorded: nested objects leading to
/// such fields, lists with a `merge` strategy (and their merge key) and fields with a `replace`
/// or `retainKeys` strategy. Every other field behaves as in a JSON merge patch (maps merge,
/// lists are replaced).
pub struct Schema {
    definitions: HashMap<&'static str, &'static Definition>,
    kinds: HashMap<(&'static str, &'static str, &'static str), &'static str>,
}

/// A named definition in the [`Schema`], e.g. `io.k8s.api.core.v1.Pod`.
#[derive(Debug)]
pub struct Definition {
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [Field],
}

/// The patch metadata of one field of a [`Definition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldMeta {
    /// The definition of the field's value (an object) or of its elements (a list of objects),
    /// when the schema records one.
    pub definition: Option<&'static str>,
    /// The merge key of a list of objects with the `merge` strategy, e.g. `name`.
    pub merge_key: Option<&'static str>,
    /// The upstream `x-kubernetes-patch-strategy`, e.g. `merge`, `merge,retainKeys`,
    /// `retainKeys` or `replace`; empty when the field has none.
    pub strategy: &'static str,
}

impl FieldMeta {
    /// Whether the strategy list contains `name` (`merge`, `replace` or `retainKeys`).
    pub fn has_strategy(&self, name: &str) -> bool {
        self.strategy.split(',').any(|s| s == name)
    }
}

/// One field of a definition in the built-in table.
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) meta: FieldMeta,
}

impl Definition {
    /// The definition's name, e.g. `io.k8s.api.core.v1.PodSpec`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The patch metadata of `field`, if the schema records the field.
    pub fn field(&self, field: &str) -> Option<FieldMeta> {
        self.fields.iter().find(|f| f.name == field).map(|f| f.meta)
    }
}

impl Schema {
    /// The schema of the built-in Kubernetes kinds.
    pub fn builtin() -> &'static Schema {
        static BUILTIN: OnceLock<Schema> = OnceLock::new();
        BUILTIN.get_or_init(|| Schema {
            definitions: table::DEFINITIONS.iter().map(|d| (d.name, d)).collect(),
            kinds: kinds::KINDS
                .iter()
                .map(|&(group, version, kind, def)| ((group, version, kind), def))
                .collect(),
        })
    }

    /// The definition of the kind `group/version, Kind=kind` (group "" is core).
    pub fn definition_for(&self, group: &str, version: &str, kind: &str) -> Option<&Definition> {
        let name = self.kinds.get(&(group, version, kind))?;
        self.definition(name)
    }

    /// The definition named `name`, e.g. `io.k8s.api.core.v1.PodSpec`.
    pub fn definition(&self, name: &str) -> Option<&Definition> {
        self.definitions.get(name).copied()
    }

    /// A schema of the given definitions (for tests of the algorithm on made-up types).
    #[cfg(test)]
    pub(crate) fn from_definitions(definitions: &'static [Definition]) -> Schema {
        Schema {
            definitions: definitions.iter().map(|d| (d.name, d)).collect(),
            kinds: HashMap::new(),
        }
    }

    /// The definition of a field's value or elements, if the schema knows it.
    pub(crate) fn child(&self, meta: Option<FieldMeta>) -> Option<&Definition> {
        meta.and_then(|m| m.definition)
            .and_then(|name| self.definition(name))
    }
}

/// A nested object of definition `def`, merged field by field.
pub(crate) const fn obj(name: &'static str, def: &'static str) -> Field {
    field(name, Some(def), None, "")
}

/// A nested object with an explicit patch strategy (`retainKeys` or `replace`).
pub(crate) const fn obj_with(
    name: &'static str,
    def: &'static str,
    strategy: &'static str,
) -> Field {
    field(name, Some(def), None, strategy)
}

/// A list of objects of definition `def` merged by `key`.
pub(crate) const fn merge(name: &'static str, def: &'static str, key: &'static str) -> Field {
    field(name, Some(def), Some(key), "merge")
}

/// A list of objects merged by `key` whose elements also use `$retainKeys`.
pub(crate) const fn merge_retain(
    name: &'static str,
    def: &'static str,
    key: &'static str,
) -> Field {
    field(name, Some(def), Some(key), "merge,retainKeys")
}

/// A list of primitives merged as an ordered set (e.g. `finalizers`).
pub(crate) const fn set(name: &'static str) -> Field {
    field(name, None, None, "merge")
}

const fn field(
    name: &'static str,
    definition: Option<&'static str>,
    merge_key: Option<&'static str>,
    strategy: &'static str,
) -> Field {
    Field {
        name,
        meta: FieldMeta {
            definition,
            merge_key,
            strategy,
        },
    }
}

/// Builds a definition.
pub(crate) const fn def(name: &'static str, fields: &'static [Field]) -> Definition {
    Definition { name, fields }
}

#[cfg(test)]
mod tests {
    use super::Schema;
    use crate::kinds::KINDS;
    use crate::table::DEFINITIONS;

    #[test]
    fn every_kind_has_its_definition() {
        let schema = Schema::builtin();
        for &(group, version, kind, name) in KINDS {
            let def = schema.definition_for(group, version, kind);
            assert_eq!(
                def.map(|d| d.name()),
                Some(name),
                "{group}/{version} {kind}"
            );
            assert!(
                def.unwrap().field("metadata").is_some(),
                "{name} lacks metadata"
            );
            assert!(name.ends_with(&format!(".{version}.{kind}")), "{name}");
        }
    }

    #[test]
    fn definitions_are_unique_and_merge_lists_are_keyed_or_primitive() {
        for (i, d) in DEFINITIONS.iter().enumerate() {
            assert!(
                DEFINITIONS[i + 1..].iter().all(|o| o.name != d.name),
                "{} defined twice",
                d.name
            );
            for f in d.fields {
                let m = f.meta;
                if m.merge_key.is_some() {
                    assert!(
                        m.has_strategy("merge") && m.definition.is_some(),
                        "{}.{}",
                        d.name,
                        f.name
                    );
                }
                if m.has_strategy("merge") && m.merge_key.is_none() {
                    assert!(
                        m.definition.is_none(),
                        "{}.{} lacks a merge key",
                        d.name,
                        f.name
                    );
                }
            }
        }
    }

    #[test]
    fn object_fields_of_kinds_point_at_defined_definitions() {
        let schema = Schema::builtin();
        for d in DEFINITIONS {
            for f in d.fields {
                if matches!(
                    f.name,
                    "metadata" | "spec" | "status" | "template" | "jobTemplate"
                ) {
                    let child = f.meta.definition.unwrap();
                    assert!(
                        schema.definition(child).is_some(),
                        "{}.{} -> {child}",
                        d.name,
                        f.name
                    );
                }
            }
        }
    }
}
