//! Versions of one stored resource: objects are stored in one form and served in the form
//! of the version asked for. Custom resources differ between versions in `apiVersion`
//! only (upstream's `None` conversion); `events.k8s.io/v1` Events are a view of the core
//! Events (upstream's field mapping: `regarding` is `involvedObject`, `note` is `message`,
//! the `deprecated*` fields are the core counters and source).

use crate::kinds::ResourceInfo;
use crate::object;
use bytes::Bytes;
use serde_json::{Map, Value};

/// Field renames between core/v1 and events.k8s.io/v1 Events: (core, events.k8s.io).
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
];

/// Whether the resource is stored in another form than it is served in.
pub fn converts(info: &ResourceInfo) -> bool {
    info.custom || is_events_v1(info)
}

fn is_events_v1(info: &ResourceInfo) -> bool {
    info.group == "events.k8s.io" && info.plural == "events"
}

fn rename(obj: &mut Value, from_index: usize, api_version: &str) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let mut renamed = Map::new();
    for (k, v) in std::mem::take(map) {
        let new = EVENT_FIELDS
            .iter()
            .find(|pair| [pair.0, pair.1][from_index] == k)
            .map_or(k.clone(), |pair| {
                [pair.0, pair.1][1 - from_index].to_owned()
            });
        renamed.insert(new, v);
    }
    *map = renamed;
    map.insert("apiVersion".into(), Value::from(api_version));
}

/// A stored object in the form `info` serves.
pub fn to_served(info: &ResourceInfo, obj: &mut Value) {
    if is_events_v1(info) {
        if obj["apiVersion"] == "v1" {
            rename(obj, 0, "events.k8s.io/v1");
        }
    } else if info.custom
        && let Some(map) = obj.as_object_mut()
    {
        map.insert("apiVersion".into(), Value::from(info.api_version()));
    }
}

/// An events.k8s.io/v1 Event in its stored (core/v1) form; other objects are left alone
/// (custom resources are made their storage version by their schema admission).
pub fn to_stored(info: &ResourceInfo, obj: &mut Value) {
    if is_events_v1(info) && obj["apiVersion"] == "events.k8s.io/v1" {
        rename(obj, 1, "v1");
    }
}

/// Served bytes in the form `info` serves (unchanged when already so).
pub fn served_bytes(info: &ResourceInfo, bytes: Bytes) -> Bytes {
    if !converts(info) {
        return bytes;
    }
    // Stored objects start with their apiVersion (see `object::encode`): an object already
    // in the served version needs no parsing.
    let served_prefix = format!("{{\"apiVersion\":{:?}", info.api_version());
    if bytes.starts_with(served_prefix.as_bytes()) {
        return bytes;
    }
    let Ok(mut obj) = serde_json::from_slice::<Value>(&bytes) else {
        return bytes;
    };
    if obj["apiVersion"].as_str() == Some(info.api_version().as_str()) {
        return bytes;
    }
    to_served(info, &mut obj);
    Bytes::from(object::encode(&obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_convert_both_ways() {
        let info = crate::kinds::find("events.k8s.io", "v1", "events").unwrap();
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "message": "hi", "count": 2,
            "reason": "Started", "reportingComponent": "kubelet"});
        let mut served = core.clone();
        to_served(info, &mut served);
        assert_eq!(served["apiVersion"], "events.k8s.io/v1");
        assert_eq!(served["regarding"]["name"], "p");
        assert_eq!(served["note"], "hi");
        assert_eq!(served["deprecatedCount"], 2);
        assert_eq!(served["reportingController"], "kubelet");
        assert_eq!(served["reason"], "Started");
        to_stored(info, &mut served);
        assert_eq!(served, core);
    }

    #[test]
    fn bytes_already_served_pass_through_and_others_convert() {
        let info = crate::kinds::find("events.k8s.io", "v1", "events").unwrap();
        let v1 = Bytes::from(object::encode(
            &json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "note": "x"}),
        ));
        assert_eq!(served_bytes(info, v1.clone()), v1);
        let core = Bytes::from(object::encode(
            &json!({"apiVersion": "v1", "kind": "Event", "message": "x"}),
        ));
        let served: Value = serde_json::from_slice(&served_bytes(info, core)).unwrap();
        assert_eq!(served["note"], "x");
        assert_eq!(served["apiVersion"], "events.k8s.io/v1");
    }
}
