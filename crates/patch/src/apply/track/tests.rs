use super::*;
use crate::apply::{apply, conflict_message, path_string};
use serde_json::json;

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-01-01T00:00:05Z";

fn updater(name: &str, subresource: Option<&str>) -> Manager {
    Manager {
        name: name.to_owned(),
        operation: "Update".to_owned(),
        api_version: "v1".to_owned(),
        subresource: subresource.map(str::to_owned),
    }
}

fn pod_shape() -> Shape<'static> {
    Shape::builtin("", "v1", "Pod")
}

/// A pod as a ReplicaSet controller creates it and a kubelet reports it.
fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "web-7d4b9c-x2x7q", "generateName": "web-7d4b9c-", "namespace": "default",
            "uid": "0b5f6c1e-1111-2222-3333-444455556666", "creationTimestamp": T0,
            "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c",
                "uid": "9a9a9a9a-1111-2222-3333-444455556666", "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": {
            "containers": [{
                "name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "env": [{"name": "MODE", "value": "prod"}, {"name": "LEVEL", "value": "info"}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
            }],
            "dnsPolicy": "ClusterFirst", "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0, "restartPolicy": "Always", "schedulerName": "default-scheduler",
            "securityContext": {}, "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ],
            "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            ]}}],
        },
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    })
}

/// The pod running on a node, as a kubelet's status update leaves it.
fn running(mut pod: Value, restarts: i64) -> Value {
    pod["spec"]["nodeName"] = json!("node-1");
    pod["status"] = json!({
        "phase": "Running", "qosClass": "Burstable", "hostIP": "10.0.0.1", "podIP": "10.244.1.7",
        "podIPs": [{"ip": "10.244.1.7"}], "startTime": T0,
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": T0},
            {"type": "Ready", "status": "True", "lastTransitionTime": T1},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": T1},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": T0},
        ],
        "containerStatuses": [{"name": "web", "ready": true, "restartCount": restarts, "started": true,
            "image": "nginx:1.27", "imageID": "docker.io/library/nginx@sha256:abc", "containerID": "containerd://1",
            "state": {"running": {"startedAt": T1}}}],
    });
    pod
}

fn managers(obj: &Value) -> Vec<(String, Option<String>)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or("").to_owned(),
                e["subresource"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn owned(obj: &Value, manager: &str) -> Vec<String> {
    let entry = obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["manager"] == manager)
        .cloned()
        .unwrap_or(Value::Null);
    FieldSet::from_fields_v1(&entry["fieldsV1"])
        .paths()
        .iter()
        .map(|p| path_string(p))
        .collect()
}

fn created() -> Value {
    let mut obj = pod();
    let creator = updater("kube-controller-manager", None);
    track_create(&mut obj, pod_shape(), &creator, Supplied::Omitted, T0);
    obj
}

#[test]
fn a_create_owns_every_field_it_sets_but_identity_and_system_fields() {
    let obj = created();
    let entry = &obj["metadata"]["managedFields"][0];
    assert_eq!(entry["manager"], "kube-controller-manager");
    assert_eq!(entry["operation"], "Update");
    assert_eq!(entry["apiVersion"], "v1");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert_eq!(entry["time"], T0);
    assert!(entry.get("subresource").is_none());
    let paths = owned(&obj, "kube-controller-manager");
    for expected in [
        ".metadata.generateName",
        ".metadata.labels.app",
        ".metadata.ownerReferences[uid=\"9a9a9a9a-1111-2222-3333-444455556666\"]",
        ".spec.containers[name=\"web\"].image",
        ".spec.containers[name=\"web\"].env[name=\"MODE\"].value",
        ".status.phase",
    ] {
        assert!(
            paths.contains(&expected.to_owned()),
            "{expected} in {paths:?}"
        );
    }
    for unowned in [
        ".metadata.name",
        ".metadata.uid",
        ".metadata.creationTimestamp",
    ] {
        assert!(!paths.contains(&unowned.to_owned()));
    }
    // The one-walk encoding is the field set's.
    assert_eq!(
        entry["fieldsV1"],
        crate::apply::fields_of(&pod(), pod_shape()).to_fields_v1()
    );
}

#[test]
fn changes_walk_only_where_the_objects_differ() {
    let old = running(pod(), 0);
    let mut new = running(pod(), 1);
    new["status"]["conditions"][1]["status"] = json!("False");
    new["status"]["podIPs"] = json!([{"ip": "10.244.1.7"}, {"ip": "fd00::7"}]);
    let changes = changes(&old, &new, pod_shape());
    let set: Vec<String> = changes.set.paths().iter().map(|p| path_string(p)).collect();
    assert_eq!(
        set,
        [
            ".status.conditions[type=\"Ready\"].status",
            ".status.containerStatuses",
            ".status.podIPs[ip=\"fd00::7\"]",
            ".status.podIPs[ip=\"fd00::7\"].ip",
        ]
    );
    assert!(changes.removed.is_empty());
    let back = super::changes(&new, &old, pod_shape());
    let removed: Vec<String> = back
        .removed
        .paths()
        .iter()
        .map(|p| path_string(p))
        .collect();
    assert_eq!(
        removed,
        [
            ".status.podIPs[ip=\"fd00::7\"]",
            ".status.podIPs[ip=\"fd00::7\"].ip"
        ]
    );
    assert!(super::changes(&old, &old.clone(), pod_shape()).is_empty());
}

#[test]
fn a_status_update_takes_status_fields_from_the_creator_and_keeps_its_own_entry() {
    let live = created();
    let kubelet = updater("kubelet", Some("status"));
    let mut new = running(live.clone(), 0);
    new["spec"] = live["spec"].clone();
    track_update(
        &live,
        &mut new,
        pod_shape(),
        &kubelet,
        Supplied::Omitted,
        T1,
    );
    assert_eq!(
        managers(&new),
        [
            ("kube-controller-manager".to_owned(), None),
            ("kubelet".to_owned(), Some("status".to_owned()))
        ]
    );
    let kubelet_fields = owned(&new, "kubelet");
    assert!(kubelet_fields.contains(&".status.phase".to_owned()));
    assert!(kubelet_fields.contains(&".status.containerStatuses".to_owned()));
    // qosClass did not change: it stays the creator's.
    assert!(!kubelet_fields.contains(&".status.qosClass".to_owned()));
    let creator_fields = owned(&new, "kube-controller-manager");
    assert!(creator_fields.contains(&".status.qosClass".to_owned()));
    assert!(!creator_fields.contains(&".status.phase".to_owned()));

    // The next status update merges into the same entry.
    let mut again = running(new.clone(), 1);
    again["spec"] = live["spec"].clone();
    track_update(
        &new,
        &mut again,
        pod_shape(),
        &kubelet,
        Supplied::Omitted,
        "2026-01-01T00:01:00Z",
    );
    assert_eq!(managers(&again).len(), 2);
    assert_eq!(
        again["metadata"]["managedFields"][1]["time"],
        "2026-01-01T00:01:00Z"
    );
}

#[test]
fn a_write_that_changes_nothing_keeps_the_entries_and_their_times() {
    let live = created();
    let mut same = live.clone();
    track_update(
        &live,
        &mut same,
        pod_shape(),
        &updater("kubectl-edit", None),
        Supplied::Omitted,
        T1,
    );
    assert_eq!(same, live);
}

#[test]
fn removed_fields_leave_every_manager() {
    let live = created();
    let mut new = live.clone();
    new["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("pod-template-hash");
    track_update(
        &live,
        &mut new,
        pod_shape(),
        &updater("kubectl-label", None),
        Supplied::Omitted,
        T1,
    );
    // A removal alone gives the writer no entry.
    assert_eq!(
        managers(&new),
        [("kube-controller-manager".to_owned(), None)]
    );
    assert!(
        !owned(&new, "kube-controller-manager")
            .contains(&".metadata.labels.pod-template-hash".to_owned())
    );
}

#[test]
fn an_update_then_an_apply_of_another_value_conflicts() {
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    let shape = Shape::builtin("", "v1", "ConfigMap");
    track_create(
        &mut cm,
        shape,
        &updater("kubectl-create", None),
        Supplied::Omitted,
        T0,
    );
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}});
    let applier = Manager {
        name: "kubectl".to_owned(),
        operation: "Apply".to_owned(),
        api_version: "v1".to_owned(),
        subresource: None,
    };
    let err = apply(Some(&cm), &applied, shape, &applier, false, &[], T1).unwrap_err();
    assert_eq!(
        conflict_message(&err),
        "Apply failed with 1 conflict: conflict with \"kubectl-create\" using v1: .data.a"
    );
}

#[test]
fn a_body_can_replace_or_reset_the_entries_but_not_through_a_subresource() {
    let live = created();
    let given = json!([{"manager": "importer", "operation": "Update", "apiVersion": "v1", "time": T0,
        "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}}]);
    let mut new = live.clone();
    new["metadata"]["managedFields"] = given.clone();
    let supplied = Supplied::of(&new);
    assert_eq!(supplied, Supplied::Given);
    track_update(
        &live,
        &mut new,
        pod_shape(),
        &updater("kubectl", None),
        supplied,
        T1,
    );
    assert_eq!(new["metadata"]["managedFields"], given);

    for reset in [json!([]), json!([{}])] {
        let mut new = live.clone();
        new["metadata"]["managedFields"] = reset;
        let supplied = Supplied::of(&new);
        assert_eq!(supplied, Supplied::Reset);
        new["metadata"]["labels"]["extra"] = json!("x");
        track_update(
            &live,
            &mut new,
            pod_shape(),
            &updater("kubectl", None),
            supplied,
            T1,
        );
        assert!(new["metadata"].get("managedFields").is_none());
        // Untracked from then on.
        let mut later = new.clone();
        later["metadata"]["labels"]["more"] = json!("y");
        track_update(
            &new,
            &mut later,
            pod_shape(),
            &updater("kubectl", None),
            Supplied::Omitted,
            T1,
        );
        assert!(later["metadata"].get("managedFields").is_none());
    }

    let mut status = live.clone();
    status["metadata"]["managedFields"] = json!([]);
    status["status"]["phase"] = json!("Running");
    let kubelet = updater("kubelet", Some("status"));
    track_update(
        &live,
        &mut status,
        pod_shape(),
        &kubelet,
        Supplied::Reset,
        T1,
    );
    assert_eq!(managers(&status).len(), 2);
}

#[test]
fn more_than_ten_updaters_merge_the_oldest_into_ancient_changes() {
    let mut cm =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}});
    let shape = Shape::builtin("", "v1", "ConfigMap");
    track_create(
        &mut cm,
        shape,
        &updater("creator", None),
        Supplied::Omitted,
        T0,
    );
    for i in 0..12 {
        let mut new = cm.clone();
        new["data"][format!("k{i}")] = json!("v");
        let time = format!("2026-01-01T00:00:{:02}Z", i + 10);
        track_update(
            &cm,
            &mut new,
            shape,
            &updater(&format!("m{i:02}"), None),
            Supplied::Omitted,
            &time,
        );
        cm = new;
    }
    let names: Vec<String> = managers(&cm).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), MAX_UPDATE_ENTRIES);
    assert_eq!(names[0], ANCIENT_CHANGES);
    assert_eq!(
        names[1..],
        [
            "m03", "m04", "m05", "m06", "m07", "m08", "m09", "m10", "m11"
        ]
    );
    let ancient = owned(&cm, ANCIENT_CHANGES);
    assert_eq!(ancient, [".data.k0", ".data.k1", ".data.k2"]);
    assert_eq!(
        cm["metadata"]["managedFields"][0]["time"],
        "2026-01-01T00:00:12Z"
    );
}

#[test]
fn entries_are_kept_in_upstreams_order() {
    let mut list = vec![
        json!({"manager": "b", "operation": "Update", "time": T1}),
        json!({"manager": "a", "operation": "Update", "time": T1}),
        json!({"manager": "z", "operation": "Update", "time": T0}),
        json!({"manager": "y", "operation": "Apply", "time": T1}),
    ];
    sort(&mut list);
    let names: Vec<&str> = list
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["y", "z", "a", "b"]);
}

#[test]
fn editing_fields_v1_in_place_agrees_with_field_sets() {
    let stored = json!({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:tier": {}}},
        "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}},
        "f:data": {},
    });
    let cases = [
        vec![".metadata.labels.app"],
        vec![".metadata.labels"],
        vec![".metadata.labels.app", ".metadata.labels.tier"],
        vec![
            ".spec.containers[name=\"web\"]",
            ".spec.containers[name=\"web\"].image",
            ".spec.containers[name=\"web\"].name",
        ],
        vec![".data", ".data.x"],
    ];
    let all = FieldSet::from_fields_v1(&stored);
    for case in cases {
        let mut set = FieldSet::default();
        for path in all.paths() {
            if case.contains(&path_string(&path).as_str()) {
                set.insert(&path);
            }
        }
        if case.contains(&".data.x") {
            set.insert(&[Element::Field("data".into()), Element::Field("x".into())]);
        }
        let mut json = stored.as_object().unwrap().clone();
        subtract_from_fields_v1(&mut json, &set);
        assert_eq!(
            Value::Object(json.clone()),
            all.difference(&set).to_fields_v1(),
            "{case:?}"
        );
        add_to_fields_v1(&mut json, &set);
        let mut union = all.difference(&set);
        union.union_with(&set);
        assert_eq!(Value::Object(json), union.to_fields_v1(), "{case:?}");
    }
}

/// Times the write-path bookkeeping on a realistic pod:
/// `cargo test -p rkube-patch --release -- --ignored --nocapture bookkeeping_cost`.
#[test]
#[ignore = "a timing, not a check; run in release"]
fn bookkeeping_cost() {
    use std::time::Instant;
    const N: u32 = 10_000;
    let shape = pod_shape();
    let kubelet = updater("kubelet", Some("status"));
    let time = |label: &str, f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..N {
            f();
        }
        println!(
            "{label}: {:.2} µs per write",
            start.elapsed().as_secs_f64() * 1e6 / f64::from(N)
        );
    };
    time("create (track_create)", &mut || {
        let mut obj = pod();
        track_create(
            &mut obj,
            shape,
            &updater("kube-controller-manager", None),
            Supplied::Omitted,
            T0,
        );
        std::hint::black_box(obj);
    });
    let obj = pod();
    time("  fields_v1_of, pod shape", &mut || {
        std::hint::black_box(fields_v1_of(&obj, shape));
    });
    time("  fields_v1_of, no shape", &mut || {
        std::hint::black_box(fields_v1_of(&obj, Shape::Unknown));
    });
    time("  baseline: the pod's clone alone", &mut || {
        std::hint::black_box(pod());
    });
    let live = created();
    let mut first = running(live.clone(), 0);
    track_update(&live, &mut first, shape, &kubelet, Supplied::Omitted, T1);
    let next = running(first.clone(), 1);
    time("status update (track_update)", &mut || {
        let mut new = next.clone();
        track_update(&first, &mut new, shape, &kubelet, Supplied::Omitted, T1);
        std::hint::black_box(new);
    });
    time("  baseline: the new object's clone alone", &mut || {
        std::hint::black_box(next.clone());
    });
    time("no-op update (track_update)", &mut || {
        let mut new = first.clone();
        track_update(&first, &mut new, shape, &kubelet, Supplied::Omitted, T1);
        std::hint::black_box(new);
    });
}
