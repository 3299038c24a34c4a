//! The bookkeeping of ordinary writes (creates, updates, patches, subresource writes), as
//! upstream's field manager keeps it: the fields a write sets become its manager's `Update`
//! entry and leave every other entry, the fields it removes leave every entry.
//!
//! Built for the write path: only the parts of the object that differ are walked, and the
//! stored `fieldsV1` of entries are edited in place rather than decoded and encoded again.

use super::fields::{add_to_fields_v1, canonical, subtract_from_fields_v1};
use super::{
    Element, FieldPath, FieldSet, ListKind, Manager, Member, Shape, UNOWNED_META, fields_of,
    key_of, walk_object, walk_value,
};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;

/// How many `Update` entries an object keeps; older ones are merged, as upstream does.
pub const MAX_UPDATE_ENTRIES: usize = 10;

/// The manager the oldest `Update` entries are merged into.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

/// What a write does to `metadata.managedFields` by what its body says of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supplied {
    /// Absent (or null): the stored entries stay.
    Omitted,
    /// `[]` or `[{}]`: the entries are cleared.
    Reset,
    /// A list of entries: they replace the stored ones (not through a subresource).
    Given,
}

impl Supplied {
    /// What a write's body (before any server-side change) says of its `managedFields`.
    pub fn of(body: &Value) -> Supplied {
        match body.pointer("/metadata/managedFields") {
            None | Some(Value::Null) => Supplied::Omitted,
            Some(Value::Array(list)) if list.is_empty() => Supplied::Reset,
            Some(Value::Array(list))
                if list.len() == 1 && list[0].as_object().is_some_and(Map::is_empty) =>
            {
                Supplied::Reset
            }
            Some(_) => Supplied::Given,
        }
    }
}

/// What a write changed: the fields it set (added or modified) and those it removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Fields the new object has that the old one lacks or holds with another value.
    pub set: FieldSet,
    /// Fields the old object has that the new one lacks.
    pub removed: FieldSet,
}

impl Changes {
    /// Whether the write changed no owned field.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.removed.is_empty()
    }
}

/// The members of two maps by name: `(name, old value, new value)`.
fn pairs<'v>(
    old: &'v Map<String, Value>,
    new: &'v Map<String, Value>,
) -> impl Iterator<Item = (&'v str, Option<&'v Value>, Option<&'v Value>)> {
    let both = old.iter().map(|(k, o)| (k.as_str(), Some(o), new.get(k)));
    let added = new
        .iter()
        .filter(|(k, _)| !old.contains_key(*k))
        .map(|(k, n)| (k.as_str(), None, Some(n)));
    both.chain(added)
}

/// The fields that differ between `old` and `new`, found by walking only where they differ.
pub fn changes(old: &Value, new: &Value, shape: Shape<'_>) -> Changes {
    let mut out = Changes::default();
    let empty = Map::new();
    let old_map = old.as_object().unwrap_or(&empty);
    let new_map = new.as_object().unwrap_or(&empty);
    let mut path = Vec::new();
    for (k, o, n) in pairs(old_map, new_map) {
        if k == "apiVersion" || k == "kind" || o == n {
            continue;
        }
        path.push(Element::Field(k.to_owned()));
        if k == "metadata" {
            let meta_shape = shape.member("metadata").shape;
            let om = o.and_then(Value::as_object).unwrap_or(&empty);
            let nm = n.and_then(Value::as_object).unwrap_or(&empty);
            for (mk, mo, mn) in pairs(om, nm) {
                if UNOWNED_META.contains(&mk) || mo == mn {
                    continue;
                }
                path.push(Element::Field(mk.to_owned()));
                diff_value(mo, mn, &meta_shape.member(mk), &mut path, &mut out);
                path.pop();
            }
        } else {
            diff_value(o, n, &shape.member(k), &mut path, &mut out);
        }
        path.pop();
    }
    out
}

fn diff_maps(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    shape: Shape<'_>,
    path: &mut FieldPath,
    out: &mut Changes,
) {
    for (k, o, n) in pairs(old, new) {
        if o == n {
            continue;
        }
        path.push(Element::Field(k.to_owned()));
        diff_value(o, n, &shape.member(k), path, out);
        path.pop();
    }
}

fn diff_value(
    old: Option<&Value>,
    new: Option<&Value>,
    member: &Member<'_>,
    path: &mut FieldPath,
    out: &mut Changes,
) {
    match (old, new) {
        (Some(o), Some(n)) if o == n => {}
        (None, None) => {}
        (None, Some(n)) => walk_value(n, member, path, &mut out.set),
        (Some(o), None) => walk_value(o, member, path, &mut out.removed),
        (Some(Value::Object(om)), Some(Value::Object(nm)))
            if !om.is_empty() && !nm.is_empty() && !member.atomic_map =>
        {
            diff_maps(om, nm, member.shape, path, out);
        }
        (Some(Value::Array(oa)), Some(Value::Array(na)))
            if !oa.is_empty() && !na.is_empty() && member.list != ListKind::Atomic =>
        {
            diff_lists(oa, na, member, path, out);
        }
        (Some(o), Some(n)) => {
            // Replaced as a whole (a leaf, an atomic value, a change of type).
            let mut added = FieldSet::default();
            walk_value(n, member, path, &mut added);
            let mut gone = FieldSet::default();
            walk_value(o, member, path, &mut gone);
            gone.subtract(&added);
            out.set.union_with(&added);
            out.removed.union_with(&gone);
        }
    }
}

fn diff_lists(
    old: &[Value],
    new: &[Value],
    member: &Member<'_>,
    path: &mut FieldPath,
    out: &mut Changes,
) {
    match &member.list {
        ListKind::Atomic => {}
        ListKind::Set => {
            for item in new.iter().filter(|i| !old.contains(i)) {
                path.push(Element::Value(canonical(item)));
                out.set.insert(path);
                path.pop();
            }
            for item in old.iter().filter(|i| !new.contains(i)) {
                path.push(Element::Value(canonical(item)));
                out.removed.insert(path);
                path.pop();
            }
        }
        ListKind::Map(keys) => {
            let old_keys: Vec<String> = old.iter().map(|i| key_of(i, keys)).collect();
            let new_keys: Vec<String> = new.iter().map(|i| key_of(i, keys)).collect();
            for (item, key) in new.iter().zip(&new_keys) {
                let before = old_keys.iter().position(|k| k == key).map(|i| &old[i]);
                if before == Some(item) {
                    continue;
                }
                path.push(Element::Key(key.clone()));
                match (before, item) {
                    (Some(Value::Object(om)), Value::Object(nm)) => {
                        diff_maps(om, nm, member.shape, path, out);
                    }
                    // Items that are not objects have no fields of their own to compare.
                    (Some(_), _) => {}
                    (None, _) => {
                        out.set.insert(path);
                        if let Some(m) = item.as_object() {
                            walk_object(m, member.shape, path, &mut out.set);
                        }
                    }
                }
                path.pop();
            }
            for (item, key) in old.iter().zip(&old_keys) {
                if new_keys.contains(key) {
                    continue;
                }
                path.push(Element::Key(key.clone()));
                out.removed.insert(path);
                if let Some(m) = item.as_object() {
                    walk_object(m, member.shape, path, &mut out.removed);
                }
                path.pop();
            }
        }
    }
}

fn take_entries(obj: &mut Value) -> Option<Value> {
    obj.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|meta| meta.remove("managedFields"))
}

fn put_entries(obj: &mut Value, list: Vec<Value>) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Whether a client's list can stand for the object's entries: every entry an object with a
/// manager, an operation and (if any) object `fieldsV1`.
fn well_formed(list: &Value) -> bool {
    list.as_array().is_some_and(|entries| {
        entries.iter().all(|e| {
            e.get("manager").is_some_and(Value::is_string)
                && e.get("operation").is_some_and(Value::is_string)
                && e.get("fieldsV1").is_none_or(Value::is_object)
        })
    })
}

/// Records an ordinary write (an `Update` by `manager`) from `old` to `new` in `new`'s
/// `managedFields`. The entries start from the stored ones, or from the body's
/// (`supplied`, ignored for a subresource); an object without entries (never tracked, or
/// reset by its writer) stays untracked, as upstream. A write that changes nothing leaves
/// the entries as they were, times included.
pub fn track_update(
    old: &Value,
    new: &mut Value,
    shape: Shape<'_>,
    manager: &Manager,
    supplied: Supplied,
    now: &str,
) {
    let body = take_entries(new);
    let stored = old.pointer("/metadata/managedFields");
    let list = match supplied {
        Supplied::Reset if manager.subresource.is_none() => None,
        Supplied::Given
            if manager.subresource.is_none() && body.as_ref().is_some_and(well_formed) =>
        {
            body
        }
        // `new` usually carries a copy of the stored entries already.
        _ if body.as_ref() == stored => body,
        _ => stored.cloned(),
    };
    let mut list = match list {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => return,
    };
    let changes = changes(old, new, shape);
    if !changes.is_empty() {
        record(&mut list, &changes, manager, now);
    }
    put_entries(new, list);
}

/// Records a create by `manager` in `new`'s `managedFields`: it owns every field the object
/// sets. Entries in the body (`supplied`) are kept for what the creator does not set.
pub fn track_create(
    new: &mut Value,
    shape: Shape<'_>,
    manager: &Manager,
    supplied: Supplied,
    now: &str,
) {
    let body = take_entries(new).filter(|b| supplied == Supplied::Given && well_formed(b));
    let mut list = match body {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    if list.is_empty() {
        // The common case: the creator's entry is the only one, encoded in one walk.
        let fields = fields_v1_of(new, shape);
        if fields.as_object().is_some_and(|m| !m.is_empty()) {
            list.push(manager.entry(Value::from(now), fields));
        }
    } else {
        let changes = Changes {
            set: fields_of(new, shape),
            removed: FieldSet::default(),
        };
        record(&mut list, &changes, manager, now);
    }
    put_entries(new, list);
}

/// The `fieldsV1` JSON of every field an object sets: [`fields_of`] encoded, built in one walk.
pub fn fields_v1_of(obj: &Value, shape: Shape<'_>) -> Value {
    let mut root = Map::new();
    let Some(map) = obj.as_object() else {
        return Value::Object(root);
    };
    for (k, v) in map {
        if k == "apiVersion" || k == "kind" {
            continue;
        }
        let node = if k == "metadata"
            && let Some(meta) = v.as_object()
        {
            let meta_shape = shape.member("metadata").shape;
            let mut node = Map::new();
            for (mk, mv) in meta {
                if !UNOWNED_META.contains(&mk.as_str()) {
                    node.insert(format!("f:{mk}"), node_of(mv, &meta_shape.member(mk)));
                }
            }
            if node.is_empty() {
                continue;
            }
            Value::Object(node)
        } else {
            node_of(v, &shape.member(k))
        };
        root.insert(format!("f:{k}"), node);
    }
    Value::Object(root)
}

/// The `fieldsV1` node of a value that is set: `{}` for a leaf, its members otherwise.
fn node_of(v: &Value, member: &Member<'_>) -> Value {
    let mut node = Map::new();
    match v {
        Value::Object(m) if !m.is_empty() && !member.atomic_map => {
            members_of(m, member.shape, &mut node);
        }
        Value::Array(items) if !items.is_empty() => match &member.list {
            ListKind::Atomic => {}
            ListKind::Set => {
                for item in items {
                    node.insert(format!("v:{}", canonical(item)), Value::Object(Map::new()));
                }
            }
            ListKind::Map(keys) => {
                for item in items {
                    let mut item_node = Map::new();
                    if let Some(m) = item.as_object() {
                        members_of(m, member.shape, &mut item_node);
                    }
                    if !item_node.is_empty() {
                        item_node.insert(".".to_owned(), Value::Object(Map::new()));
                    }
                    node.insert(
                        format!("k:{}", key_of(item, keys)),
                        Value::Object(item_node),
                    );
                }
            }
        },
        _ => {}
    }
    Value::Object(node)
}

fn members_of(m: &Map<String, Value>, shape: Shape<'_>, node: &mut Map<String, Value>) {
    for (k, v) in m {
        node.insert(format!("f:{k}"), node_of(v, &shape.member(k)));
    }
}

/// Moves ownership for a write's changes: every entry loses the fields set or removed, the
/// manager's entry gains the fields set (and its time, when it set any).
fn record(list: &mut Vec<Value>, changes: &Changes, manager: &Manager, now: &str) {
    let mut own = None;
    for (i, entry) in list.iter_mut().enumerate() {
        if let Some(Value::Object(fields)) = entry.get_mut("fieldsV1") {
            subtract_from_fields_v1(fields, &changes.set);
            subtract_from_fields_v1(fields, &changes.removed);
        }
        if own.is_none() && manager.identifies(entry) {
            own = Some(i);
        }
    }
    if !changes.set.is_empty() {
        match own {
            Some(i) => {
                let entry = &mut list[i];
                if !entry.get("fieldsV1").is_some_and(Value::is_object) {
                    entry["fieldsV1"] = Value::Object(Map::new());
                }
                if let Some(Value::Object(fields)) = entry.get_mut("fieldsV1") {
                    add_to_fields_v1(fields, &changes.set);
                }
                entry["time"] = Value::from(now);
            }
            None => list.push(manager.entry(Value::from(now), changes.set.to_fields_v1())),
        }
    }
    list.retain(|e| {
        e.get("fieldsV1")
            .is_some_and(|f| f.as_object().is_some_and(|m| !m.is_empty()))
    });
    cap(list);
    sort(list);
}

fn text<'v>(entry: &'v Value, field: &str) -> &'v str {
    entry.get(field).and_then(Value::as_str).unwrap_or("")
}

/// Upstream's order of entries: by operation, time, manager, API version, subresource.
fn order(a: &Value, b: &Value) -> Ordering {
    ["operation", "time", "manager", "apiVersion", "subresource"]
        .iter()
        .map(|f| text(a, f).cmp(text(b, f)))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Puts entries in upstream's order.
pub fn sort(list: &mut [Value]) {
    if !list.is_sorted_by(|a, b| order(a, b).is_le()) {
        list.sort_by(order);
    }
}

/// Merges the oldest `Update` entries beyond [`MAX_UPDATE_ENTRIES`] into one
/// [`ANCIENT_CHANGES`] entry per API version, as upstream does.
fn cap(list: &mut Vec<Value>) {
    let mut updaters: Vec<usize> = (0..list.len())
        .filter(|&i| text(&list[i], "operation") == "Update")
        .collect();
    if updaters.len() <= MAX_UPDATE_ENTRIES {
        return;
    }
    updaters.sort_by(|&a, &b| {
        let (a, b) = (&list[a], &list[b]);
        text(a, "time")
            .cmp(text(b, "time"))
            .then_with(|| order(a, b))
    });
    let mut length = updaters.len();
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut buckets: HashMap<String, usize> = HashMap::new();
    let mut gone = vec![false; list.len()];
    for &i in &updaters {
        if length <= MAX_UPDATE_ENTRIES {
            break;
        }
        let version = text(&list[i], "apiVersion").to_owned();
        let Some(&f) = first.get(&version) else {
            first.insert(version, i);
            continue;
        };
        let bucket = *buckets.entry(version.clone()).or_insert_with(|| {
            let existing = (0..list.len()).find(|&j| {
                !gone[j]
                    && text(&list[j], "manager") == ANCIENT_CHANGES
                    && text(&list[j], "operation") == "Update"
                    && text(&list[j], "apiVersion") == version
                    && text(&list[j], "subresource").is_empty()
            });
            existing.unwrap_or_else(|| {
                let entry = &mut list[f];
                entry["manager"] = Value::from(ANCIENT_CHANGES);
                if let Some(map) = entry.as_object_mut() {
                    map.remove("subresource");
                }
                f
            })
        });
        if bucket == i {
            continue;
        }
        let merged = FieldSet::from_fields_v1(&list[i]["fieldsV1"]);
        if let Some(Value::Object(fields)) = list[bucket].get_mut("fieldsV1") {
            add_to_fields_v1(fields, &merged);
        }
        list[bucket]["time"] = list[i]["time"].clone();
        gone[i] = true;
        length -= 1;
    }
    let mut index = 0;
    list.retain(|_| {
        index += 1;
        !gone[index - 1]
    });
}

#[cfg(test)]
mod tests;
