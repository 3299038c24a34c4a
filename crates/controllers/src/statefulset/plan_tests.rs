use super::*;
use serde_json::{Value, json};

fn set(replicas: i32, extra: Value) -> StatefulSet {
    let mut v = json!({"metadata": {"name": "web", "namespace": "ns", "uid": "u", "generation": 4},
        "spec": {"replicas": replicas, "serviceName": "svc",
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    if let (Value::Object(spec), Value::Object(extra)) = (&mut v["spec"], extra) {
        spec.extend(extra);
    }
    serde_json::from_value(v).unwrap()
}

fn pod(ordinal: i32, revision: &str, phase: &str, ready: bool) -> Arc<Pod> {
    let conditions = if ready {
        json!([{"type": "Ready", "status": "True"}])
    } else {
        json!([])
    };
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": format!("web-{ordinal}"),
                         "labels": {"app": "web", HASH_LABEL: revision,
                                    POD_NAME_LABEL: format!("web-{ordinal}"),
                                    POD_INDEX_LABEL: ordinal.to_string()}},
            "spec": {"containers": []},
            "status": {"phase": phase, "conditions": conditions}}))
        .unwrap(),
    )
}

fn ready(ordinal: i32, revision: &str) -> Arc<Pod> {
    pod(ordinal, revision, "Running", true)
}

fn now() -> Timestamp {
    "2026-01-01T01:00:00Z".parse().unwrap()
}

fn describe(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| match s {
            Step::Create { ordinal, update } => format!("create {ordinal} {update}"),
            Step::Delete(p) => format!("delete {}", p.metadata.name.as_deref().unwrap()),
            Step::Relabel { ordinal, .. } => format!("relabel {ordinal}"),
        })
        .collect()
}

#[test]
fn ordinals_parse_only_from_set_pod_names() {
    assert_eq!(ordinal_of("web", "web-0"), Some(0));
    assert_eq!(ordinal_of("web", "web-12"), Some(12));
    assert_eq!(ordinal_of("web", "web-01"), None);
    assert_eq!(ordinal_of("web", "web-x"), None);
    assert_eq!(ordinal_of("web", "webby-1"), None);
    assert_eq!(ordinal_of("web", "web-"), None);
}

#[test]
fn new_pods_carry_their_identity() {
    let s = set(
        3,
        json!({"volumeClaimTemplates": [{"metadata": {"name": "data"}}]}),
    );
    let p = new_pod(&s, &s.spec.as_ref().unwrap().template, 2, "web-abc");
    assert_eq!(p.metadata.name.as_deref(), Some("web-2"));
    let labels = p.metadata.labels.as_ref().unwrap();
    assert_eq!(labels[POD_NAME_LABEL], "web-2");
    assert_eq!(labels[POD_INDEX_LABEL], "2");
    assert_eq!(labels[HASH_LABEL], "web-abc");
    let spec = p.spec.as_ref().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("web-2"));
    assert_eq!(spec.subdomain.as_deref(), Some("svc"));
    let claim = spec.volumes.as_ref().unwrap()[0]
        .persistent_volume_claim
        .as_ref()
        .unwrap();
    assert_eq!(claim.claim_name, "data-web-2");
    assert!(identity_matches("web", 2, &p));
}

#[test]
fn ordered_ready_creates_one_at_a_time_and_waits_for_ready() {
    let s = set(3, json!({}));
    assert_eq!(describe(&plan(&s, &[], "r", now())), ["create 0 true"]);
    let starting = [pod(0, "r", "Pending", false)];
    assert!(plan(&s, &starting, "r", now()).is_empty());
    assert_eq!(
        describe(&plan(&s, &[ready(0, "r")], "r", now())),
        ["create 1 true"]
    );
    // Parallel creates every missing pod at once.
    let p = set(3, json!({"podManagementPolicy": "Parallel"}));
    assert_eq!(
        describe(&plan(&p, &starting, "r", now())),
        ["create 1 true", "create 2 true"]
    );
}

#[test]
fn scale_down_goes_from_the_highest_ordinal_one_at_a_time() {
    let s = set(1, json!({}));
    let pods = [ready(0, "r"), ready(1, "r"), ready(2, "r")];
    assert_eq!(describe(&plan(&s, &pods, "r", now())), ["delete web-2"]);
    let mut terminating = (*pods[2]).clone();
    terminating.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now()));
    let waiting = [pods[0].clone(), pods[1].clone(), Arc::new(terminating)];
    assert!(plan(&s, &waiting, "r", now()).is_empty());
    let p = set(1, json!({"podManagementPolicy": "Parallel"}));
    assert_eq!(
        describe(&plan(&p, &pods, "r", now())),
        ["delete web-2", "delete web-1"]
    );
}

#[test]
fn failed_pods_are_replaced() {
    let s = set(2, json!({}));
    let pods = [pod(0, "r", "Failed", false), ready(1, "r")];
    assert_eq!(describe(&plan(&s, &pods, "r", now())), ["delete web-0"]);
}

#[test]
fn rolling_update_respects_the_partition_from_the_highest_ordinal() {
    let s = set(
        3,
        json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}}),
    );
    let old = [ready(0, "old"), ready(1, "old"), ready(2, "old")];
    assert_eq!(describe(&plan(&s, &old, "new", now())), ["delete web-2"]);
    // web-2 updated but not ready yet: wait.
    let pods = [
        old[0].clone(),
        old[1].clone(),
        pod(2, "new", "Running", false),
    ];
    assert!(plan(&s, &pods, "new", now()).is_empty());
    let pods = [old[0].clone(), old[1].clone(), ready(2, "new")];
    assert_eq!(describe(&plan(&s, &pods, "new", now())), ["delete web-1"]);
    // Below the partition, nothing changes.
    let pods = [old[0].clone(), ready(1, "new"), ready(2, "new")];
    assert!(plan(&s, &pods, "new", now()).is_empty());
    // Missing pods below the partition come back at the current revision.
    assert_eq!(
        describe(&plan(&s, &pods[1..], "new", now())),
        ["create 0 false"]
    );
    // maxUnavailable 2 replaces two at once.
    let wide = set(
        3,
        json!({"updateStrategy": {"type": "RollingUpdate",
            "rollingUpdate": {"partition": 0, "maxUnavailable": 2}}}),
    );
    assert_eq!(
        describe(&plan(&wide, &old, "new", now())),
        ["delete web-2", "delete web-1"]
    );
    // OnDelete leaves old pods alone.
    let on_delete = set(3, json!({"updateStrategy": {"type": "OnDelete"}}));
    assert!(plan(&on_delete, &old, "new", now()).is_empty());
}

#[test]
fn status_counts_revisions_and_completes_rollouts() {
    let s = set(3, json!({}));
    let pods = [
        ready(0, "old"),
        ready(1, "new"),
        pod(2, "new", "Pending", false),
    ];
    let st = status(&s, &pods, "old", "new", 0, now());
    assert_eq!(st.replicas, 3);
    assert_eq!(st.ready_replicas, Some(2));
    assert_eq!(st.current_replicas, Some(1));
    assert_eq!(st.updated_replicas, Some(2));
    assert_eq!(st.current_revision.as_deref(), Some("old"));
    assert_eq!(st.observed_generation, Some(4));
    let pods = [ready(0, "new"), ready(1, "new"), ready(2, "new")];
    let st = status(&s, &pods, "old", "new", 1, now());
    assert_eq!(st.current_revision.as_deref(), Some("new"));
    assert_eq!(st.current_replicas, Some(3));
    assert_eq!(st.collision_count, Some(1));
}
