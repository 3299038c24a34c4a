//! A pod's binding edited on its encoded form: only the top-level members of the pod, its
//! metadata and its spec are parsed, and its status (small while the pod is pending); the
//! containers, managedFields and the rest are copied as they are. Decoding and re-encoding
//! the whole pod was a tenth of the API server's CPU on a scheduling backlog.

use crate::object;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Members of a JSON object, each kept encoded.
type Members = BTreeMap<String, Box<RawValue>>;

/// What a binding does to a pod as the watch cache holds it.
#[derive(Debug, PartialEq)]
pub(super) enum Edit {
    /// The pod's stored bytes with `spec.nodeName` and `PodScheduled=True` set.
    Bound(Vec<u8>),
    /// The pod is bound already or being deleted: the caller asks the store.
    Refused,
}

/// Binds the pod encoded in `current` (the stored layout, a resourceVersion possibly
/// spliced in) to `node`, at `now`; `None` when the bytes are not a JSON object of that
/// shape (the caller then takes the whole-object path).
pub(super) fn bind(current: &[u8], node: &str, now: &Value) -> Option<Edit> {
    let top: Members = serde_json::from_slice(current).ok()?;
    let mut meta: Members = parse_object(top.get("metadata").map(AsRef::as_ref))?;
    meta.remove("resourceVersion");
    if is_set(meta.get("deletionTimestamp").map(AsRef::as_ref)) {
        return Some(Edit::Refused);
    }
    let mut spec: Members = parse_object(top.get("spec").map(AsRef::as_ref))?;
    if spec
        .get("nodeName")
        .and_then(|n| {
            serde_json::from_str::<Option<String>>(n.get())
                .ok()
                .flatten()
        })
        .is_some_and(|n| !n.is_empty())
    {
        return Some(Edit::Refused);
    }
    spec.insert("nodeName".to_owned(), raw(&Value::from(node))?);
    // A pod without a status would gain the member where an encoded object places it:
    // left to the whole-object path.
    let mut status: Value = serde_json::from_str(top.get("status")?.get()).ok()?;
    set_scheduled(&mut status, now.clone());

    let mut out = Vec::with_capacity(current.len() + 128);
    out.push(b'{');
    let mut first = true;
    for key in ["apiVersion", "kind"] {
        if let Some(value) = top.get(key) {
            object::member(&mut out, &mut first, key, value);
        }
    }
    object::member(&mut out, &mut first, "metadata", &meta);
    for (key, value) in &top {
        match key.as_str() {
            "apiVersion" | "kind" | "metadata" => {}
            "spec" => object::member(&mut out, &mut first, key, &spec),
            "status" => object::member(&mut out, &mut first, key, &status),
            _ => object::member(&mut out, &mut first, key, value),
        }
    }
    out.push(b'}');
    Some(Edit::Bound(out))
}

/// Sets a pod status's `PodScheduled` condition to True at `now`, in place of any earlier
/// one, as a binding does.
pub(super) fn set_scheduled(status: &mut Value, now: Value) {
    let mut conditions: Vec<Value> = status["conditions"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter(|c| c["type"] != "PodScheduled")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    conditions.push(serde_json::json!({
        "type": "PodScheduled", "status": "True",
        "lastProbeTime": null, "lastTransitionTime": now,
    }));
    status["conditions"] = Value::Array(conditions);
}

/// The members of an encoded object (`None` when it is something else).
fn parse_object(value: Option<&RawValue>) -> Option<Members> {
    serde_json::from_str(value?.get()).ok()
}

/// Whether an encoded member holds something other than `null`.
fn is_set(value: Option<&RawValue>) -> bool {
    value.is_some_and(|v| v.get() != "null")
}

fn raw(value: &Value) -> Option<Box<RawValue>> {
    RawValue::from_string(serde_json::to_string(value).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(extra_spec: Value, status: Value, meta: Value) -> Value {
        let mut pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web", "namespace": "default", "uid": "u",
                "labels": {"app": "web"},
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:containers": {}}}}]
            },
            "spec": {"containers": [{"name": "c", "image": "nginx"}], "schedulerName": "default-scheduler"},
            "status": status,
        });
        for (k, v) in extra_spec.as_object().unwrap() {
            pod["spec"][k] = v.clone();
        }
        for (k, v) in meta.as_object().unwrap() {
            pod["metadata"][k] = v.clone();
        }
        pod
    }

    /// What the whole-object path makes of the same binding.
    fn decoded_binding(pod: &Value, node: &str, now: &Value) -> Vec<u8> {
        let mut pod = pod.clone();
        pod["spec"]["nodeName"] = Value::from(node);
        set_scheduled(&mut pod["status"], now.clone());
        object::encode(&pod)
    }

    #[test]
    fn a_binding_gives_the_bytes_the_whole_object_path_gives() {
        let now = json!("2026-11-23T22:00:00Z");
        for status in [
            json!({"phase": "Pending", "qosClass": "Burstable"}),
            json!({"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
                {"type": "Other", "status": "True"}
            ]}),
            json!({}),
        ] {
            let p = pod(json!({"priority": 0}), status, json!({}));
            let stored = object::encode(&p);
            // As the watch cache holds it: a resourceVersion spliced in.
            let cached = object::with_resource_version(&stored, 42);
            let Some(Edit::Bound(bytes)) = bind(&cached, "n1", &now) else {
                panic!("not bound");
            };
            assert_eq!(
                String::from_utf8(bytes).unwrap(),
                String::from_utf8(decoded_binding(&p, "n1", &now)).unwrap()
            );
        }
    }

    #[test]
    fn a_bound_or_deleting_pod_is_refused() {
        let now = json!("2026-11-23T22:00:00Z");
        let bound = object::encode(&pod(json!({"nodeName": "n2"}), json!({}), json!({})));
        assert_eq!(bind(&bound, "n1", &now), Some(Edit::Refused));
        let deleting = object::encode(&pod(
            json!({}),
            json!({}),
            json!({"deletionTimestamp": "2026-11-23T21:00:00Z"}),
        ));
        assert_eq!(bind(&deleting, "n1", &now), Some(Edit::Refused));
        // An empty nodeName is not a binding.
        let empty = object::encode(&pod(json!({"nodeName": ""}), json!({}), json!({})));
        assert!(matches!(bind(&empty, "n1", &now), Some(Edit::Bound(_))));
    }

    #[test]
    fn other_shapes_take_the_slow_path() {
        let now = json!("2026-11-23T22:00:00Z");
        assert_eq!(bind(b"[1]", "n1", &now), None);
        assert_eq!(bind(br#"{"metadata":{"name":"p"}}"#, "n1", &now), None);
    }
}
