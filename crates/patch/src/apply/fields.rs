//! Field sets: which fields of an object a manager owns, as a tree of path elements, with
//! upstream's `FieldsV1` JSON form (`f:spec`, `k:{"name":"web"}`, `v:"a"`, `i:0`, `.`) and
//! its path strings (`.spec.containers[name="web"].image`).

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One step into an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Element {
    /// A member of a map or struct.
    Field(String),
    /// An item of an associative list, by its key fields (canonical JSON of the key map).
    Key(String),
    /// An item of a set, by its value (canonical JSON).
    Value(String),
    /// An item of an atomic list, by index (only seen in stored sets).
    Index(usize),
}

impl Element {
    fn encode(&self) -> String {
        match self {
            Element::Field(f) => format!("f:{f}"),
            Element::Key(k) => format!("k:{k}"),
            Element::Value(v) => format!("v:{v}"),
            Element::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(s: &str) -> Option<Element> {
        let (kind, rest) = s.split_at_checked(2)?;
        Some(match kind {
            "f:" => Element::Field(rest.to_owned()),
            "k:" => Element::Key(rest.to_owned()),
            "v:" => Element::Value(rest.to_owned()),
            "i:" => Element::Index(rest.parse().ok()?),
            _ => return None,
        })
    }

    /// The element as upstream prints it in a path.
    fn display(&self) -> String {
        match self {
            Element::Field(f) => format!(".{f}"),
            Element::Key(k) => {
                let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                    .unwrap_or_default();
                format!("[{}]", parts.join(","))
            }
            Element::Value(v) => format!("[={v}]"),
            Element::Index(i) => format!("[{i}]"),
        }
    }
}

/// A path from the object's root.
pub type FieldPath = Vec<Element>;

/// Upstream's printed form of a path: `.spec.containers[name="web"].image`.
pub fn path_string(path: &[Element]) -> String {
    path.iter().map(Element::display).collect()
}

/// A set of paths, as a tree: a node is a member itself when `member` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<Element, FieldSet>,
}

impl FieldSet {
    /// Whether the set has no paths.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    /// Adds a path.
    pub fn insert(&mut self, path: &[Element]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether the set has `path` as a member.
    pub fn contains(&self, path: &[Element]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Removes a path (not what lies below it); prunes emptied nodes.
    pub fn remove(&mut self, path: &[Element]) {
        match path.split_first() {
            None => self.member = false,
            Some((first, rest)) => {
                if let Some(child) = self.children.get_mut(first) {
                    child.remove(rest);
                    if child.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// Every member path, in order.
    pub fn paths(&self) -> Vec<FieldPath> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut FieldPath, out: &mut Vec<FieldPath>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (element, child) in &self.children {
            prefix.push(element.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The members of `self` not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::default();
        for path in self.paths() {
            if !other.contains(&path) {
                out.insert(&path);
            }
        }
        out
    }

    /// The upstream `fieldsV1` JSON of the set.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".to_owned(), Value::Object(Map::new()));
        }
        for (element, child) in &self.children {
            map.insert(element.encode(), child.to_fields_v1());
        }
        Value::Object(map)
    }

    /// Reads a `fieldsV1` JSON (unknown elements are skipped).
    pub fn from_fields_v1(v: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        let Some(map) = v.as_object() else {
            return set;
        };
        for (key, child) in map {
            if key == "." {
                set.member = true;
                continue;
            }
            if let Some(element) = Element::decode(key) {
                let mut node = FieldSet::from_fields_v1(child);
                if node.children.is_empty() {
                    node.member = true;
                }
                set.children.insert(element, node);
            }
        }
        set
    }
}

/// Canonical JSON of a value (object keys sorted, as serde_json's map keeps them).
pub fn canonical(v: &Value) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trips_with_item_members() {
        let v = json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}},
        });
        let set = FieldSet::from_fields_v1(&v);
        assert_eq!(set.to_fields_v1(), v);
        let strings: Vec<String> = set.paths().iter().map(|p| path_string(p)).collect();
        assert_eq!(
            strings,
            [
                ".metadata.labels.app",
                ".spec.containers[name=\"web\"]",
                ".spec.containers[name=\"web\"].image",
                ".spec.containers[name=\"web\"].name",
            ]
        );
    }

    #[test]
    fn removing_a_path_prunes_empty_parents() {
        let mut set = FieldSet::default();
        let path = vec![Element::Field("data".into()), Element::Field("a".into())];
        set.insert(&path);
        set.remove(&path);
        assert!(set.is_empty());
    }
}
