use super::*;
use serde_json::{Value, json};

fn ds(extra: Value) -> DaemonSet {
    let mut v = json!({"metadata": {"name": "ds", "generation": 2},
        "spec": {"selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn node(name: &str, labels: Value, spec: Value) -> Arc<Node> {
    Arc::new(
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "spec": spec}))
            .unwrap(),
    )
}

fn pod(name: &str, node: &str, hash: &str, created: &str, ready: bool) -> Arc<Pod> {
    let conditions = if ready {
        json!([{"type": "Ready", "status": "True", "lastTransitionTime": created}])
    } else {
        json!([])
    };
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": created,
                         "labels": {"app": "d", HASH_LABEL: hash}},
            "spec": {"nodeName": node, "containers": []},
            "status": {"phase": "Running", "conditions": conditions}}))
        .unwrap(),
    )
}

fn now() -> Timestamp {
    "2026-01-01T01:00:00Z".parse().unwrap()
}

fn names(pods: &[Arc<Pod>]) -> Vec<&str> {
    pods.iter()
        .map(|p| p.metadata.name.as_deref().unwrap())
        .collect()
}

#[test]
fn eligibility_follows_selector_affinity_and_taints() {
    let d = ds(json!({"spec": {"template": {"spec": {
        "nodeSelector": {"disk": "ssd"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}}}}}}));
    let t = pod_template(&d, "h");
    let fits = |labels: Value, spec: Value| node_fit(&t, &node("n", labels, spec));
    let ok = json!({"disk": "ssd", "zone": "a"});
    assert!(fits(ok.clone(), json!({})).should_run);
    assert!(!fits(json!({"disk": "hdd", "zone": "a"}), json!({})).should_run);
    assert!(!fits(json!({"disk": "ssd", "zone": "c"}), json!({})).should_run);
    // A NoSchedule taint: no new pod, but a running one may stay.
    let tainted = fits(
        ok.clone(),
        json!({"taints": [{"key": "k", "effect": "NoSchedule"}]}),
    );
    assert_eq!(
        tainted,
        Fit {
            should_run: false,
            should_continue: true
        }
    );
    // A NoExecute taint evicts; PreferNoSchedule is ignored.
    let evicting = fits(
        ok.clone(),
        json!({"taints": [{"key": "k", "effect": "NoExecute"}]}),
    );
    assert!(!evicting.should_run && !evicting.should_continue);
    assert!(
        fits(
            ok.clone(),
            json!({"taints": [{"key": "k", "effect": "PreferNoSchedule"}]})
        )
        .should_run
    );
    // The tolerations every daemon pod gets.
    assert!(
        fits(
            ok.clone(),
            json!({"unschedulable": true, "taints": [
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
            {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}]})
        )
        .should_run
    );
    let network = json!({"taints": [{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]});
    assert!(!fits(ok.clone(), network.clone()).should_run);
    let host = pod_template(
        &ds(json!({"spec": {"template": {"spec": {"hostNetwork": true}}}})),
        "h",
    );
    assert!(node_fit(&host, &node("n", json!({}), network)).should_run);
}

#[test]
fn pods_are_pinned_with_a_node_name_field_term() {
    let affinity = pin_to_node(None, "node-1");
    let p: Pod = serde_json::from_value(json!({"spec": {"containers": [],
        "affinity": serde_json::to_value(&affinity).unwrap()}}))
    .unwrap();
    assert_eq!(target_node(&p), Some("node-1"));
    assert!(RequiredNodeAffinity::from_pod(&p).matches(&node("node-1", json!({}), json!({}))));
    assert!(!RequiredNodeAffinity::from_pod(&p).matches(&node("node-2", json!({}), json!({}))));
    let t = pod_template(&ds(json!({})), "abc");
    let labels = t.metadata.unwrap().labels.unwrap();
    assert_eq!(labels[HASH_LABEL], "abc");
    assert_eq!(labels["app"], "d");
}

#[test]
fn manage_creates_missing_and_deletes_surplus_and_misplaced_pods() {
    let d = ds(json!({}));
    let t = pod_template(&d, "h");
    let nodes = vec![
        node("a", json!({}), json!({})),
        node("b", json!({}), json!({})),
        node(
            "c",
            json!({}),
            json!({"taints": [{"key": "k", "effect": "NoExecute"}]}),
        ),
    ];
    let pods = vec![
        pod("b-new", "b", "h", "2026-01-01T00:10:00Z", true),
        pod("b-old", "b", "h", "2026-01-01T00:00:00Z", true),
        pod("c-1", "c", "h", "2026-01-01T00:00:00Z", true),
        pod("gone-1", "gone", "h", "2026-01-01T00:00:00Z", true),
    ];
    let actions = manage(&d, &t, &nodes, &by_node(&pods), "h", now());
    assert_eq!(actions.create, ["a"]);
    let mut deleted = names(&actions.delete);
    deleted.sort();
    assert_eq!(deleted, ["b-new", "c-1", "gone-1"]);
    assert!(actions.failed.is_empty());
}

#[test]
fn failed_pods_are_replaced_and_no_pod_is_added_beside_one_terminating() {
    let d = ds(json!({}));
    let t = pod_template(&d, "h");
    let nodes = vec![node("a", json!({}), json!({}))];
    let mut failed = (*pod("a-1", "a", "h", "2026-01-01T00:00:00Z", false)).clone();
    failed.status.as_mut().unwrap().phase = Some("Failed".to_owned());
    let actions = manage(&d, &t, &nodes, &by_node(&[Arc::new(failed)]), "h", now());
    assert!(actions.create.is_empty());
    assert_eq!(actions.failed.len(), 1);
    let mut terminating = (*pod("a-1", "a", "h", "2026-01-01T00:00:00Z", true)).clone();
    terminating.metadata.deletion_timestamp = terminating.metadata.creation_timestamp.clone();
    let actions = manage(
        &d,
        &t,
        &nodes,
        &by_node(&[Arc::new(terminating)]),
        "h",
        now(),
    );
    assert!(actions.create.is_empty() && actions.delete.is_empty());
}

#[test]
fn rolling_update_stays_within_max_unavailable() {
    let d = ds(json!({"spec": {"updateStrategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1}}}}));
    let t = pod_template(&d, "new");
    let nodes: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| node(n, json!({}), json!({})))
        .collect();
    let t0 = "2026-01-01T00:00:00Z";
    let old: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| pod(&format!("{n}-old"), n, "old", t0, true))
        .collect();
    let actions = rolling_update(&d, &t, &nodes, &by_node(&old), "new", now());
    assert_eq!(actions.delete.len(), 1);
    // One node replaced but its new pod not ready yet: nothing more.
    let mut pods = old[1..].to_vec();
    pods.push(pod("a-new", "a", "new", t0, false));
    let actions = rolling_update(&d, &t, &nodes, &by_node(&pods), "new", now());
    assert!(actions.delete.is_empty());
    // Once it is available, the next one goes; an unready old pod goes regardless.
    let mut pods = vec![
        pod("a-new", "a", "new", t0, true),
        pod("b-old", "b", "old", t0, false),
        pod("c-old", "c", "old", t0, true),
    ];
    let actions = rolling_update(&d, &t, &nodes, &by_node(&pods), "new", now());
    assert_eq!(names(&actions.delete), ["b-old"]);
    pods.pop();
    assert_eq!(budget(&d, 10), (0, 1));
    let pct = ds(json!({"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": "25%"}}}}));
    assert_eq!(budget(&pct, 10), (0, 3));
}

#[test]
fn surge_starts_new_pods_beside_old_ones_and_removes_the_old_when_available() {
    let d = ds(json!({"spec": {"updateStrategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}}}));
    let t = pod_template(&d, "new");
    let nodes: Vec<_> = ["a", "b"]
        .iter()
        .map(|n| node(n, json!({}), json!({})))
        .collect();
    let t0 = "2026-01-01T00:00:00Z";
    let old = vec![
        pod("a-old", "a", "old", t0, true),
        pod("b-old", "b", "old", t0, true),
    ];
    let actions = rolling_update(&d, &t, &nodes, &by_node(&old), "new", now());
    assert_eq!(actions.create, ["a"]);
    let mut pods = old.clone();
    pods.push(pod("a-new", "a", "new", t0, true));
    let actions = rolling_update(&d, &t, &nodes, &by_node(&pods), "new", now());
    assert_eq!(names(&actions.delete), ["a-old"]);
    // manage keeps both while surging, dropping the old once the new is available.
    let managed = manage(&d, &t, &nodes, &by_node(&pods), "new", now());
    assert_eq!(names(&managed.delete), ["a-old"]);
}

#[test]
fn status_counts_the_oldest_pod_per_node() {
    let d = ds(json!({}));
    let t = pod_template(&d, "h");
    let nodes = vec![
        node("a", json!({}), json!({})),
        node("b", json!({}), json!({})),
        node(
            "c",
            json!({}),
            json!({"taints": [{"key": "k", "effect": "NoSchedule"}]}),
        ),
    ];
    let t0 = "2026-01-01T00:00:00Z";
    let pods = vec![
        pod("a-1", "a", "h", t0, true),
        pod("b-1", "b", "old", t0, false),
        pod("c-1", "c", "h", t0, true),
    ];
    let s = status(&d, &t, &nodes, &by_node(&pods), "h", 0, now());
    assert_eq!(s.desired_number_scheduled, 2);
    assert_eq!(s.current_number_scheduled, 2);
    assert_eq!(s.number_misscheduled, 1);
    assert_eq!(s.number_ready, 1);
    assert_eq!(s.number_available, Some(1));
    assert_eq!(s.number_unavailable, Some(1));
    assert_eq!(s.updated_number_scheduled, Some(1));
    assert_eq!(s.observed_generation, Some(2));
}
