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
        let mut out = self.clone();
        out.subtract(other);
        out
    }

    /// Adds every member of `other`.
    pub fn union_with(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (element, child) in &other.children {
            match self.children.get_mut(element) {
                Some(mine) => mine.union_with(child),
                None => {
                    self.children.insert(element.clone(), child.clone());
                }
            }
        }
    }

    /// Removes every member of `other` (not what lies below a member); prunes emptied nodes.
    pub fn subtract(&mut self, other: &FieldSet) {
        if other.member {
            self.member = false;
        }
        for (element, theirs) in &other.children {
            if let Some(mine) = self.children.get_mut(element) {
                mine.subtract(theirs);
                if mine.is_empty() {
                    self.children.remove(element);
                }
            }
        }
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

/// Removes the members of `set` from a `fieldsV1` JSON map in place, keeping upstream's
/// encoding (a member without children is `{}`, one with children carries `"."`). Returns
/// whether anything was removed. Works on the stored JSON so entries a write does not touch
/// are never decoded.
pub fn subtract_from_fields_v1(node: &mut Map<String, Value>, set: &FieldSet) -> bool {
    let mut changed = false;
    for (element, theirs) in &set.children {
        let key = element.encode();
        let Some(Value::Object(child)) = node.get_mut(&key) else {
            continue;
        };
        if child.is_empty() {
            // A member without children.
            if theirs.member {
                node.remove(&key);
                changed = true;
            }
            continue;
        }
        changed |= subtract_from_fields_v1(child, theirs);
        if theirs.member {
            changed |= child.remove(".").is_some();
        }
        match (child.len(), child.contains_key(".")) {
            (0, _) => {
                node.remove(&key);
            }
            (1, true) => child.clear(),
            _ => {}
        }
    }
    changed
}

/// Adds the members of `set` to a `fieldsV1` JSON map in place, in upstream's encoding.
pub fn add_to_fields_v1(node: &mut Map<String, Value>, set: &FieldSet) {
    for (element, theirs) in &set.children {
        let key = element.encode();
        let existed = node.contains_key(&key);
        let Value::Object(child) = node.entry(key).or_insert_with(|| Value::Object(Map::new()))
        else {
            continue;
        };
        let member = theirs.member || (existed && (child.is_empty() || child.contains_key(".")));
        add_to_fields_v1(child, theirs);
        child.remove(".");
        if member && !child.is_empty() {
            child.insert(".".to_owned(), Value::Object(Map::new()));
        }
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
