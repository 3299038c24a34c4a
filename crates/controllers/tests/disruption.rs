//! Integration test of the disruption controller: the API server in-process with its own
//! controllers off, only the disruption controller run by the test, and a ReplicaSet and
//! pods whose status the test writes itself (no ReplicaSet controller, no kubelet).

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use rkube_controllers::Options;
use serde_json::json;
use std::time::Duration;

mod common;
use common::{create, eventually};

/// How long a condition may take to come true.
const WAIT: Duration = Duration::from_secs(60);

/// A budget's (expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed).
type Counts = (i32, i32, i32, i32);

/// Marks a pod Running, and Ready or not.
async fn set_ready(pods: &Api<Pod>, name: &str, ready: bool) {
    let status = json!({"status": {"phase": "Running",
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

/// A pod on node `n1` labelled `app=<app>`, controlled by `owner` (kind, name, uid).
fn pod(name: &str, app: &str, owner: (&str, &str, &str)) -> serde_json::Value {
    json!({
        "metadata": {"name": name, "labels": {"app": app},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner.0, "name": owner.1,
                                 "uid": owner.2, "controller": true}]},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]}
    })
}

fn the_condition(pdb: &PodDisruptionBudget) -> Option<&Condition> {
    pdb.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "DisruptionAllowed")
}

/// Waits until the budget's status has these counts and a `DisruptionAllowed` condition with
/// `status`/`reason`, for its current generation.
async fn wait_for(
    api: &Api<PodDisruptionBudget>,
    name: &str,
    want: Counts,
    status: &str,
    reason: &str,
) -> PodDisruptionBudget {
    let what = format!("budget {name} at {want:?}, {status} {reason}");
    eventually(&what, || async {
        let pdb = api.get(name).await.ok()?;
        let s = pdb.status.as_ref()?;
        let counts = (
            s.expected_pods,
            s.desired_healthy,
            s.current_healthy,
            s.disruptions_allowed,
        );
        let cond = the_condition(&pdb)?;
        (counts == want
            && cond.status == status
            && cond.reason == reason
            && s.observed_generation == pdb.metadata.generation)
            .then_some(pdb.clone())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_count_expected_desired_and_healthy_pods() {
    let common::Server {
        server,
        client,
        dir: _dir,
    } = common::server(|config| {
        config.scheduler = false;
        config.controllers = false;
    })
    .await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let options = Options {
        controllers: vec!["disruption".to_owned()],
        ..Options::default()
    };
    let controllers = rkube_controllers::spawn(client.clone(), options, false, "test", stopped);

    let sets: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let budgets: Api<PodDisruptionBudget> = Api::default_namespaced(client.clone());

    let nodes: Api<Node> = Api::all(client.clone());
    create(&nodes, json!({"metadata": {"name": "n1"}})).await;
    // A ReplicaSet of 3 (nothing acts on it) and its pods, two of them Ready.
    let rs: ReplicaSet = create(
        &sets,
        json!({"metadata": {"name": "web"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}),
    )
    .await;
    let uid = rs.metadata.uid.clone().unwrap();
    for (i, ready) in [true, true, false].into_iter().enumerate() {
        let name = format!("web-{i}");
        create(&pods, pod(&name, "web", ("ReplicaSet", "web", &uid))).await;
        set_ready(&pods, &name, ready).await;
    }
    // A pod whose controller does not exist.
    create(
        &pods,
        pod("stray", "stray", ("ReplicaSet", "ghost", "no-such-uid")),
    )
    .await;

    let selecting = |app: &str, rule: serde_json::Value| {
        let mut spec = json!({"selector": {"matchLabels": {"app": app}}});
        for (k, v) in rule.as_object().unwrap() {
            spec[k] = v.clone();
        }
        spec
    };
    for (name, spec) in [
        ("min", selecting("web", json!({"minAvailable": 1}))),
        ("max", selecting("web", json!({"maxUnavailable": "50%"}))),
        ("none", selecting("nothing", json!({"minAvailable": 1}))),
        ("ghost", selecting("stray", json!({"maxUnavailable": 1}))),
    ] {
        create(&budgets, json!({"metadata": {"name": name}, "spec": spec})).await;
    }

    // An integer minAvailable counts the pods; a percentage is of the ReplicaSet's scale.
    wait_for(&budgets, "min", (3, 1, 2, 1), "True", "SufficientPods").await;
    wait_for(&budgets, "max", (3, 1, 2, 1), "True", "SufficientPods").await;
    wait_for(&budgets, "none", (0, 1, 0, 0), "False", "InsufficientPods").await;
    // No controller with a scale: nothing allowed, reason SyncFailed with the error.
    let ghost = eventually("budget ghost failed safe", || async {
        let pdb = budgets.get("ghost").await.ok()?;
        let cond = the_condition(&pdb)?;
        (cond.reason == "SyncFailed").then_some(pdb.clone())
    })
    .await;
    let cond = the_condition(&ghost).unwrap();
    assert_eq!(cond.status, "False");
    assert_eq!(cond.message, "found no controllers for pod \"stray\"");
    assert_eq!(ghost.status.as_ref().unwrap().disruptions_allowed, 0);

    // The third pod turns Ready.
    set_ready(&pods, "web-2", true).await;
    wait_for(&budgets, "min", (3, 1, 3, 2), "True", "SufficientPods").await;
    wait_for(&budgets, "max", (3, 1, 3, 2), "True", "SufficientPods").await;

    // The ReplicaSet scales to 5: 50% of 5 may be unavailable (3, rounded up).
    sets.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    wait_for(&budgets, "max", (5, 2, 3, 1), "True", "SufficientPods").await;

    // An eviction recorded in disruptedPods: that pod no longer counts as healthy.
    let now = serde_json::to_value(Time(k8s_openapi::jiff::Timestamp::now())).unwrap();
    budgets
        .patch_status(
            "min",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"disruptedPods": {"web-0": now}}})),
        )
        .await
        .unwrap();
    let min = wait_for(&budgets, "min", (3, 1, 2, 1), "True", "SufficientPods").await;
    let disrupted = min.status.unwrap().disrupted_pods.unwrap_or_default();
    assert_eq!(disrupted.keys().collect::<Vec<_>>(), ["web-0"]);

    // A new minAvailable (a new generation) that the healthy pods no longer exceed.
    budgets
        .patch(
            "min",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minAvailable": 2}})),
        )
        .await
        .unwrap();
    wait_for(&budgets, "min", (3, 2, 2, 0), "False", "InsufficientPods").await;

    // The pod is deleted after its eviction: it leaves disruptedPods and never counts again
    // (whether it lingers while terminating or is gone at once).
    pods.delete("web-0", &DeleteParams::default())
        .await
        .unwrap();
    eventually("web-0 dropped from disruptedPods", || async {
        let pdb = budgets.get("min").await.ok()?;
        let s = pdb.status?;
        (s.disrupted_pods.unwrap_or_default().is_empty()
            && s.current_healthy == 2
            && s.disruptions_allowed == 0)
            .then_some(())
    })
    .await;

    let _ = stop.send(true);
    let _ = controllers.await;
    server.shutdown().await;
}
