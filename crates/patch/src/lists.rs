//! List helpers of the strategic merge patch: the ordered-set merge of primitive lists and
//! upstream's ordering of merged lists (patch order first, original order woven in).

use serde_json::Value;

use crate::PatchError;
use crate::smp::{DIRECTIVE, SET_ORDER, bad_arg_type, has_key_value, json_eq, no_merge_key};

/// A list element on its way to the merged list, with its positions for ordering.
pub(crate) struct Slot {
    pub(crate) value: Value,
    /// Position in the original list (its first element with the same key).
    pub(crate) server: Option<usize>,
    /// Position among the patch list's (non-directive) elements.
    pub(crate) patch: Option<usize>,
}

/// The original list as upstream sees it when it orders a `$setElementOrder` list merged by
/// key: upstream deletes `$patch: delete` elements in place and appends new elements into the
/// freed tail of the same backing array, so the "original order" it then consults is that
/// array (of the original length), not the list it started from. Reproduced here because it
/// decides where the original's other elements land relative to new ones.
pub(crate) fn upstream_server_window(
    original: Vec<Value>,
    patch: &[Value],
    key: &str,
) -> Vec<Value> {
    let capacity = original.len();
    let mut backing = original;
    let mut len = capacity;
    let mut replace = false;
    for item in patch {
        let Some(map) = item.as_object() else {
            return backing;
        };
        match map.get(DIRECTIVE).and_then(Value::as_str) {
            Some("delete") => {
                let Some(value) = map.get(key) else {
                    return backing;
                };
                while let Some(i) = backing[..len]
                    .iter()
                    .position(|o| has_key_value(o, key, value))
                {
                    for j in i..len - 1 {
                        backing[j] = backing[j + 1].clone();
                    }
                    len -= 1;
                }
            }
            Some("replace") => replace = true,
            _ => {}
        }
    }
    if replace {
        return backing;
    }
    // New elements (not found by key among those kept or already appended) fill the tail.
    let mut appended: Vec<&Value> = Vec::new();
    for item in patch {
        let Some(map) = item.as_object() else {
            continue;
        };
        if map.contains_key(DIRECTIVE)
            && map.get(DIRECTIVE).and_then(Value::as_str) != Some("merge")
        {
            continue;
        }
        let Some(value) = map.get(key) else {
            continue;
        };
        let known = backing[..len.min(capacity)]
            .iter()
            .any(|o| has_key_value(o, key, value))
            || appended.iter().any(|o| has_key_value(o, key, value));
        if known {
            continue;
        }
        if len < capacity {
            backing[len] = item.clone();
        }
        appended.push(item);
        len += 1;
    }
    backing
}

/// Merges a primitive list as an ordered set (union without duplicates).
pub(crate) fn merge_primitives(original: Vec<Value>, patch: &[Value]) -> Vec<Value> {
    let is_directive = |v: &Value| v.as_object().is_some_and(|m| m.contains_key(DIRECTIVE));
    let values: Vec<&Value> = patch.iter().filter(|v| !is_directive(v)).collect();
    if patch
        .iter()
        .any(|v| v.get(DIRECTIVE).and_then(Value::as_str) == Some("replace"))
    {
        return values.into_iter().cloned().collect();
    }
    let mut slots: Vec<Slot> = Vec::with_capacity(original.len() + values.len());
    for (i, value) in original.into_iter().enumerate() {
        if !slots.iter().any(|s| json_eq(&s.value, &value)) {
            slots.push(Slot {
                value,
                server: Some(i),
                patch: None,
            });
        }
    }
    for (j, value) in values.into_iter().enumerate() {
        match slots.iter_mut().find(|s| json_eq(&s.value, value)) {
            Some(slot) => {
                slot.patch.get_or_insert(j);
            }
            None => slots.push(Slot {
                value: value.clone(),
                server: None,
                patch: Some(j),
            }),
        }
    }
    order_slots(slots)
}

/// Upstream's ordering of a merged list: the patched elements keep the patch's order, the
/// others the original's, and the two sequences are woven together by original position.
/// An element new to the list goes before the remaining original-only elements.
pub(crate) fn order_slots(slots: Vec<Slot>) -> Vec<Value> {
    let (mut patched, mut server_only): (Vec<Slot>, Vec<Slot>) =
        slots.into_iter().partition(|s| s.patch.is_some());
    patched.sort_by_key(|s| s.patch);
    server_only.sort_by_key(|s| s.server.unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(patched.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patched.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (Some(l), Some(r)) => matches!((l.server, r.server), (Some(a), Some(b)) if a < b),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next.map(|s| s.value));
    }
    out
}

/// Checks that the patch list's elements appear in the `$setElementOrder` list, in its order.
pub(crate) fn validate_order(
    patch: &[Value],
    order: &[Value],
    key: Option<&str>,
) -> Result<(), PatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut items: Vec<&Value> = Vec::with_capacity(patch.len());
    for item in patch {
        if key.is_some() {
            let map = item
                .as_object()
                .ok_or_else(|| bad_arg_type("map[string]interface {}", item))?;
            if map.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                continue;
            }
        }
        items.push(item);
    }
    let (mut p, mut s) = (0, 0);
    while p < items.len() && s < order.len() {
        if items[p]
            .as_object()
            .is_some_and(|m| m.contains_key(DIRECTIVE))
        {
            p += 1;
            continue;
        }
        let equal = match key {
            None => json_eq(items[p], &order[s]),
            Some(k) => {
                let value = |v: &Value| -> Result<Value, PatchError> {
                    let map = v
                        .as_object()
                        .ok_or_else(|| bad_arg_type("map[string]interface {}", v))?;
                    map.get(k).cloned().ok_or_else(|| no_merge_key(map, k))
                };
                json_eq(&value(items[p])?, &value(&order[s])?)
            }
        };
        if equal {
            p += 1;
        }
        s += 1;
    }
    if p < items.len() {
        return Err(PatchError::Unprocessable(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ORDER} list:\n{}\n",
            Value::Array(patch.to_vec()),
            Value::Array(order.to_vec())
        )));
    }
    Ok(())
}
