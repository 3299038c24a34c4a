//! Server-side apply: merging an applied configuration into the live object with field
//! ownership (`metadata.managedFields`), conflicts with other managers, and the removal of
//! fields a manager stops applying; and the ownership bookkeeping of ordinary writes.

mod fields;
mod shape;
mod track;

pub use fields::{Element, FieldPath, FieldSet, path_string};
pub use shape::{ListKind, Member, Shape};
pub use track::{
    ANCIENT_CHANGES, Changes, MAX_UPDATE_ENTRIES, Supplied, changes, track_create, track_update,
};

use fields::canonical;
use serde_json::{Map, Value, json};

/// Metadata fields that are identity or system-owned: never owned by a manager.
const UNOWNED_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Who writes: a manager entry's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manager {
    /// The manager's name (`fieldManager`).
    pub name: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The API version the manager wrote with.
    pub api_version: String,
    /// The subresource written (`status`, `scale`), if any.
    pub subresource: Option<String>,
}

impl Manager {
    /// The manager of an ordinary write (`Update`) with `api_version` through `subresource`.
    pub fn update(name: &str, api_version: &str, subresource: Option<&str>) -> Manager {
        Manager {
            name: name.to_owned(),
            operation: "Update".to_owned(),
            api_version: api_version.to_owned(),
            subresource: subresource.map(str::to_owned),
        }
    }

    /// Whether a stored `managedFields` entry is this manager's: same name, operation and
    /// subresource, and for an `Update` the same API version (an applier keeps one entry
    /// whatever version it applies with, as upstream).
    pub fn identifies(&self, entry: &Value) -> bool {
        let text = |f: &str| entry.get(f).and_then(Value::as_str);
        text("manager") == Some(self.name.as_str())
            && text("operation") == Some(self.operation.as_str())
            && (self.operation == "Apply" || text("apiVersion").unwrap_or("") == self.api_version)
            && text("subresource").filter(|s| !s.is_empty()) == self.subresource.as_deref()
    }

    /// Whether two managers share one entry (see [`Manager::identifies`]).
    fn same(&self, other: &Manager) -> bool {
        self.name == other.name
            && self.operation == other.operation
            && (self.operation == "Apply" || self.api_version == other.api_version)
            && self.subresource == other.subresource
    }

    /// The manager's `managedFields` entry with these fields.
    fn entry(&self, time: Value, fields_v1: Value) -> Value {
        let mut v = json!({
            "manager": self.name,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1,
        });
        if let Some(sub) = &self.subresource {
            v["subresource"] = Value::from(sub.clone());
        }
        v
    }

    /// How upstream names the manager in conflict messages.
    fn printed(&self) -> String {
        let mut out = format!("{:?}", self.name);
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == "Update" {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone)]
struct Entry {
    manager: Manager,
    time: Value,
    fields: FieldSet,
}

fn entries(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            Some(Entry {
                manager: Manager {
                    name: e.get("manager")?.as_str()?.to_owned(),
                    operation: e.get("operation")?.as_str()?.to_owned(),
                    api_version: e["apiVersion"].as_str().unwrap_or("").to_owned(),
                    subresource: e["subresource"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                },
                time: e.get("time").cloned().unwrap_or(Value::Null),
                fields: FieldSet::from_fields_v1(&e["fieldsV1"]),
            })
        })
        .collect()
}

fn store_entries(obj: &mut Value, entries: &[Entry]) {
    let mut list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| e.manager.entry(e.time.clone(), e.fields.to_fields_v1()))
        .collect();
    track::sort(&mut list);
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

fn key_of(item: &Value, keys: &[String]) -> String {
    let mut map = Map::new();
    for k in keys {
        if let Some(v) = item.get(k.as_str()) {
            map.insert(k.clone(), v.clone());
        }
    }
    canonical(&Value::Object(map))
}

/// The fields an object sets, as a manager would own them.
pub fn fields_of(obj: &Value, shape: Shape<'_>) -> FieldSet {
    let mut out = FieldSet::default();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        if k == "apiVersion" || k == "kind" {
            continue;
        }
        let mut path = vec![Element::Field(k.clone())];
        if k == "metadata"
            && let Some(meta) = v.as_object()
        {
            let member = shape.member("metadata");
            for (mk, mv) in meta {
                if UNOWNED_META.contains(&mk.as_str()) {
                    continue;
                }
                path.push(Element::Field(mk.clone()));
                walk_value(mv, &member.shape.member(mk), &mut path, &mut out);
                path.pop();
            }
            continue;
        }
        walk_value(v, &shape.member(k), &mut path, &mut out);
    }
    out
}

fn walk_object(
    obj: &Map<String, Value>,
    shape: Shape<'_>,
    path: &mut FieldPath,
    out: &mut FieldSet,
) {
    for (k, v) in obj {
        path.push(Element::Field(k.clone()));
        walk_value(v, &shape.member(k), path, out);
        path.pop();
    }
}

fn walk_value(v: &Value, member: &Member<'_>, path: &mut FieldPath, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() && !member.atomic_map => {
            walk_object(m, member.shape, path, out);
        }
        Value::Array(items) if !items.is_empty() => match &member.list {
            ListKind::Atomic => out.insert(path),
            ListKind::Set => {
                for item in items {
                    path.push(Element::Value(canonical(item)));
                    out.insert(path);
                    path.pop();
                }
            }
            ListKind::Map(keys) => {
                for item in items {
                    path.push(Element::Key(key_of(item, keys)));
                    out.insert(path);
                    if let Some(m) = item.as_object() {
                        walk_object(m, member.shape, path, out);
                    }
                    path.pop();
                }
            }
        },
        _ => out.insert(path),
    }
}

/// The value at a path, if the object has it.
pub fn value_at<'v>(obj: &'v Value, path: &[Element]) -> Option<&'v Value> {
    let mut node = obj;
    for element in path {
        node = match element {
            Element::Field(f) => node.get(f.as_str())?,
            Element::Index(i) => node.get(*i)?,
            Element::Value(v) => node.as_array()?.iter().find(|i| canonical(i) == *v)?,
            Element::Key(k) => {
                let keys: Map<String, Value> = serde_json::from_str(k).ok()?;
                node.as_array()?
                    .iter()
                    .find(|item| keys.iter().all(|(name, v)| item.get(name) == Some(v)))?
            }
        };
    }
    Some(node)
}

/// Removes the value at a path (a member, or a list item); missing paths are ignored.
fn remove_at(obj: &mut Value, path: &[Element]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut node = obj;
    for element in parent_path {
        let next = match element {
            Element::Field(f) => node.get_mut(f.as_str()),
            Element::Index(i) => node.get_mut(*i),
            Element::Value(v) => node
                .as_array_mut()
                .and_then(|a| a.iter_mut().find(|i| canonical(i) == *v)),
            Element::Key(k) => {
                let keys: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                node.as_array_mut().and_then(|a| {
                    a.iter_mut()
                        .find(|item| keys.iter().all(|(name, v)| item.get(name) == Some(v)))
                })
            }
        };
        match next {
            Some(n) => node = n,
            None => return,
        }
    }
    match last {
        Element::Field(f) => {
            if let Some(m) = node.as_object_mut() {
                m.remove(f.as_str());
            }
        }
        Element::Index(i) => {
            if let Some(a) = node.as_array_mut()
                && *i < a.len()
            {
                a.remove(*i);
            }
        }
        Element::Value(v) => {
            if let Some(a) = node.as_array_mut() {
                a.retain(|i| canonical(i) != *v);
            }
        }
        Element::Key(k) => {
            let keys: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            if let Some(a) = node.as_array_mut() {
                a.retain(|item| !keys.iter().all(|(name, v)| item.get(name) == Some(v)));
            }
        }
    }
}

fn merge(live: &mut Value, applied: &Value, shape: Shape<'_>) {
    let (Some(live_map), Some(applied_map)) = (live.as_object_mut(), applied.as_object()) else {
        *live = applied.clone();
        return;
    };
    for (k, av) in applied_map {
        let member = shape.member(k);
        match live_map.get_mut(k) {
            Some(lv) if lv.is_object() && av.is_object() && !member.atomic_map => {
                merge(lv, av, member.shape);
            }
            Some(Value::Array(lv)) if av.is_array() => match &member.list {
                ListKind::Atomic => *live_map.get_mut(k).expect("present") = av.clone(),
                ListKind::Set => {
                    for item in av.as_array().into_iter().flatten() {
                        if !lv.contains(item) {
                            lv.push(item.clone());
                        }
                    }
                }
                ListKind::Map(keys) => {
                    for item in av.as_array().into_iter().flatten() {
                        let key = key_of(item, keys);
                        match lv.iter_mut().find(|l| key_of(l, keys) == key) {
                            Some(existing) => merge(existing, item, member.shape),
                            None => lv.push(item.clone()),
                        }
                    }
                }
            },
            _ => {
                live_map.insert(k.clone(), av.clone());
            }
        }
    }
}

/// A field another manager owns with a different value than the applied one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager, as upstream prints it (`"kubectl-edit" using apps/v1`).
    pub manager: String,
    /// The field, as upstream prints it (`.spec.replicas`).
    pub field: String,
}

/// Upstream's message for an apply's conflicts.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [one] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager, one.field
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in managers {
        lines.push(format!("conflicts with {manager}:"));
        for c in conflicts.iter().filter(|c| c.manager == manager) {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Applies `applied` (an applied configuration of `manager`) to `live` (`None`: the object
/// does not exist yet). Returns the merged object with its `managedFields`, or the conflicts
/// when other managers own fields it would change and `force` is not set. `reset` names
/// top-level fields the write cannot change (e.g. `status` of a resource with a status
/// subresource): they are neither owned nor merged.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    shape: Shape<'_>,
    manager: &Manager,
    force: bool,
    reset: &[&str],
    now: &str,
) -> Result<Value, Vec<Conflict>> {
    let mut applied = applied.clone();
    if let Some(map) = applied.as_object_mut() {
        for field in reset {
            map.remove(*field);
        }
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
    }
    let empty = json!({});
    let live = live.unwrap_or(&empty);
    let new_set = fields_of(&applied, shape);
    let mut others = entries(live);
    let previous = others
        .iter()
        .position(|e| e.manager.same(manager))
        .map(|i| others.remove(i).fields)
        .unwrap_or_default();
    let mut conflicts = Vec::new();
    for entry in &mut others {
        for path in entry.fields.paths() {
            if !new_set.contains(&path) || !matches!(path.last(), Some(Element::Field(_))) {
                continue;
            }
            if value_at(live, &path) != value_at(&applied, &path) {
                if force {
                    entry.fields.remove(&path);
                } else {
                    conflicts.push(Conflict {
                        manager: entry.manager.printed(),
                        field: path_string(&path),
                    });
                }
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let mut result = live.clone();
    // Fields this manager applied before and no longer does, that nobody else owns, go.
    let gone: Vec<FieldPath> = previous
        .difference(&new_set)
        .paths()
        .into_iter()
        .filter(|path| !others.iter().any(|e| e.fields.contains(path)))
        .collect();
    for path in &gone {
        // Removing a list item removes what lies in it.
        let covered = gone
            .iter()
            .any(|other| other.len() < path.len() && path.starts_with(other));
        if !covered {
            remove_at(&mut result, path);
        }
    }
    merge(&mut result, &applied, shape);
    others.push(Entry {
        manager: manager.clone(),
        time: Value::from(now),
        fields: new_set,
    });
    store_entries(&mut result, &others);
    Ok(result)
}

#[cfg(test)]
mod tests;
