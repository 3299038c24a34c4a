//! A pod's binding edited on its encoded form: only the top-level members of the pod, its
//! metadata and its spec are parsed, and its status (small while the pod is pending); the
//! containers, managedFields and the rest are copied as they are. Decoding and re-encoding
//! the whole pod was a tenth of the API server's CPU on a scheduling backlog.

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
/// shape (the caller then takes the slow path).
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
    let mut status: Value = match top.get("status") {
        Some(s) => serde_json::from_str(s.get()).ok()?,
        None => Value::Null,
    };
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

    let mut out = Vec::with_capacity(current.len() + 128);
    out.push(b'{');
    let mut first = true;
    let mut member = |out: &mut Vec<u8>, key: &str, value: &dyn erased::Encode| {
        if !first {
            out.push(b',');
        }
        first = false;
        let _ = serde_json::to_writer(&mut *out, key);
        out.push(b':');
        value.encode(out);
    };
    for key in ["apiVersion", "kind"] {
        if let Some(value) = top.get(key) {
            member(&mut out, key, value);
        }
    }
    member(&mut out, "metadata", &meta);
    let with_spec = top.contains_key("spec");
    let with_status = top.contains_key("status");
    for (key, value) in &top {
        match key.as_str() {
            "apiVersion" | "kind" | "metadata" => {}
            "spec" => member(&mut out, key, &spec),
            "status" => member(&mut out, key, &status),
            _ => member(&mut out, key, value),
        }
    }
    // Members the pod did not have, in the order an encoded object would place them.
    if !with_spec || !with_status {
        return None;
    }
    out.push(b'}');
    Some(Edit::Bound(out))
}

/// Encoding for the three kinds of member values, without generics in the closure.
mod erased {
    use super::{Members, RawValue, Value};

    pub(super) trait Encode {
        fn encode(&self, out: &mut Vec<u8>);
    }

    impl Encode for Box<RawValue> {
        fn encode(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(self.get().as_bytes());
        }
    }

    impl Encode for Members {
        fn encode(&self, out: &mut Vec<u8>) {
            let _ = serde_json::to_writer(out, self);
        }
    }

    impl Encode for Value {
        fn encode(&self, out: &mut Vec<u8>) {
            let _ = serde_json::to_writer(out, self);
        }
    }
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
    use crate::object;
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
        let mut conditions: Vec<Value> = pod["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["type"] != "PodScheduled")
            .collect();
        conditions.push(json!({
            "type": "PodScheduled", "status": "True",
            "lastProbeTime": null, "lastTransitionTime": now,
        }));
        pod["status"]["conditions"] = Value::Array(conditions);
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
