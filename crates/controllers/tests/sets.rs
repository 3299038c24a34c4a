//! Integration tests of the DaemonSet and StatefulSet controllers: `rkube server` in-process
//! (API, scheduler, controllers) with simulated nodes running the pods, driven through
//! kube-rs as a user's program would.

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;
use common::{SimCluster, eventually, pods_of, running_ready, sim_config};

/// How long a condition may take to come true.
const WAIT: Duration = Duration::from_secs(120);

/// Every controller, `nodes` simulated nodes, node health checked every second.
async fn start(nodes: u32) -> SimCluster {
    common::sim_cluster(nodes, |config| {
        config.controller_options.node_monitor_period = Duration::from_secs(1);
    })
    .await
}

fn image(pod: &Pod) -> &str {
    pod.spec.as_ref().unwrap().containers[0]
        .image
        .as_deref()
        .unwrap_or("")
}

/// Live pods of `app` by the node they run on: (node, image).
async fn daemon_pods(client: &kube::Client, app: &str) -> BTreeMap<String, String> {
    pods_of(client, app)
        .await
        .iter()
        .filter(|p| running_ready(p))
        .map(|p| {
            let node = p
                .spec
                .as_ref()
                .unwrap()
                .node_name
                .clone()
                .unwrap_or_default();
            (node, image(p).to_owned())
        })
        .collect()
}

/// Waits until the DaemonSet's rollout is complete as `kubectl rollout status` judges it.
async fn ds_rolled_out(client: &kube::Client, name: &str, desired: i32) -> DaemonSet {
    let api: Api<DaemonSet> = Api::default_namespaced(client.clone());
    eventually(&format!("daemonset {name} rolled out"), || async {
        let ds = api.get(name).await.ok()?;
        let s = ds.status.clone()?;
        let done = s.observed_generation >= ds.metadata.generation
            && s.desired_number_scheduled == desired
            && s.updated_number_scheduled.unwrap_or(0) == desired
            && s.number_available.unwrap_or(0) == desired;
        done.then_some(ds)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_runs_on_eligible_nodes_follows_new_nodes_and_rolls_out() {
    let mut cluster = start(4).await;
    let client = cluster.client.clone();
    let nodes: Api<Node> = Api::all(client.clone());
    // sim-0001 is tainted, sim-0002 doesn't match the node selector.
    let taint =
        json!({"spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}});
    nodes
        .patch("sim-0001", &PatchParams::default(), &Patch::Merge(&taint))
        .await
        .unwrap();
    let relabel = json!({"metadata": {"labels": {"type": "other"}}});
    nodes
        .patch("sim-0002", &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .unwrap();
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {"metadata": {"labels": {"app": "agent"}},
                         "spec": {"nodeSelector": {"type": "sim"},
                                  "containers": [{"name": "c", "image": "agent:1"}]}}}}))
    .unwrap();
    let sets: Api<DaemonSet> = Api::default_namespaced(client.clone());
    sets.create(&PostParams::default(), &ds).await.unwrap();
    ds_rolled_out(&client, "agent", 2).await;
    let placed = daemon_pods(&client, "agent").await;
    assert_eq!(
        placed.keys().collect::<Vec<_>>(),
        ["sim-0000", "sim-0003"],
        "only the eligible nodes run the daemon"
    );
    let pod = &pods_of(&client, "agent").await[0];
    let labels = pod.metadata.labels.as_ref().unwrap();
    assert!(labels.contains_key("controller-revision-hash"));
    let tolerations = pod.spec.as_ref().unwrap().tolerations.as_ref().unwrap();
    assert!(
        tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some("node.kubernetes.io/unschedulable"))
    );

    // A new node gets a daemon pod.
    let extra = rkube_sim::start(client.clone(), sim_config(1, "extra-"))
        .await
        .unwrap();
    cluster.sims.push(extra);
    ds_rolled_out(&client, "agent", 3).await;
    eventually("a daemon pod on the new node", || async {
        daemon_pods(&client, "agent")
            .await
            .contains_key("extra-0000")
            .then_some(())
    })
    .await;

    // A new image rolls out, one node at a time.
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "agent:2"}]}}}});
    sets.patch("agent", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    let done = eventually("every daemon pod on agent:2", || async {
        let ds = sets.get("agent").await.ok()?;
        let s = ds.status.clone()?;
        let placed = daemon_pods(&client, "agent").await;
        let all_new = placed.len() == 3 && placed.values().all(|i| i == "agent:2");
        (all_new
            && s.observed_generation >= ds.metadata.generation
            && s.updated_number_scheduled == Some(3)
            && s.number_available == Some(3))
        .then_some(s)
    })
    .await;
    assert_eq!(done.desired_number_scheduled, 3);
    assert_eq!(done.number_misscheduled, 0);
    let revisions: Api<ControllerRevision> = Api::default_namespaced(client.clone());
    let owned = revisions
        .list(&ListParams::default().labels("app=agent"))
        .await
        .unwrap()
        .items;
    assert_eq!(owned.len(), 2, "one revision per template");
    assert_eq!(owned.iter().map(|r| r.revision).max(), Some(2));

    // A node that stops matching loses its pod.
    nodes
        .patch("sim-0003", &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .unwrap();
    eventually(
        "the daemon pod leaves a node that no longer matches",
        || async {
            let placed = daemon_pods(&client, "agent").await;
            let pods = pods_of(&client, "agent").await;
            let on_3 = pods
                .iter()
                .any(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some("sim-0003"));
            (!on_3 && placed.len() == 2).then_some(())
        },
    )
    .await;
    cluster.stop().await;
}

fn stateful_set(name: &str, replicas: i32, extra: serde_json::Value) -> StatefulSet {
    let mut v = json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": "db:1"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}}]}});
    if let (serde_json::Value::Object(spec), serde_json::Value::Object(extra)) =
        (&mut v["spec"], extra)
    {
        spec.extend(extra);
    }
    serde_json::from_value(v).unwrap()
}

/// What a pod watch saw, in order: `+name` when a pod first appeared (with whether every
/// lower ordinal was ready then) and `-name` when one was deleted.
#[derive(Default)]
struct Seen {
    log: Vec<(String, bool)>,
    ready: BTreeMap<String, bool>,
}

fn watch_pods(client: &kube::Client, app: &str) -> Arc<Mutex<Seen>> {
    use futures::StreamExt;
    use kube::runtime::watcher::{self, Event};
    let seen = Arc::new(Mutex::new(Seen::default()));
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    let config = watcher::Config::default().labels(&format!("app={app}"));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut stream = Box::pin(watcher::watcher(api, config));
        while let Some(event) = stream.next().await {
            let mut seen = log.lock().unwrap();
            match event {
                Ok(Event::Apply(pod) | Event::InitApply(pod)) => {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    if !seen.ready.contains_key(&name) {
                        let earlier_ready = seen
                            .ready
                            .iter()
                            .filter(|(n, _)| n.as_str() < name.as_str())
                            .all(|(_, r)| *r);
                        seen.log.push((format!("+{name}"), earlier_ready));
                    }
                    seen.ready.insert(name, running_ready(&pod));
                }
                Ok(Event::Delete(pod)) => {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    seen.ready.remove(&name);
                    seen.log.push((format!("-{name}"), true));
                }
                _ => {}
            }
        }
    });
    seen
}

async fn sts_status(
    api: &Api<StatefulSet>,
    name: &str,
    ok: impl Fn(&StatefulSet, &k8s_openapi::api::apps::v1::StatefulSetStatus) -> bool,
) -> Option<StatefulSet> {
    let set = api.get(name).await.ok()?;
    let status = set.status.as_ref()?;
    (status.observed_generation >= set.metadata.generation && ok(&set, status)).then_some(set)
}

async fn claim_names(client: &kube::Client) -> Vec<String> {
    let api: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
    let mut names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .filter_map(|c| c.metadata.name)
        .collect();
    names.sort();
    names
}

async fn images(client: &kube::Client, app: &str) -> BTreeMap<String, String> {
    pods_of(client, app)
        .await
        .iter()
        .filter(|p| running_ready(p))
        .map(|p| (p.metadata.name.clone().unwrap(), image(p).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_statefulset_starts_in_order_keeps_claims_scales_down_in_reverse_and_rolls_by_partition()
 {
    let cluster = start(2).await;
    let client = cluster.client.clone();
    let seen = watch_pods(&client, "web");
    let api: Api<StatefulSet> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &stateful_set("web", 3, json!({})))
        .await
        .unwrap();
    eventually("3 ready replicas", || {
        sts_status(&api, "web", |_, s| s.ready_replicas == Some(3))
    })
    .await;
    let pods = pods_of(&client, "web").await;
    let web1 = pods
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("web-1"))
        .unwrap();
    let labels = web1.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "web-1");
    assert_eq!(labels["apps.kubernetes.io/pod-index"], "1");
    assert!(labels["controller-revision-hash"].starts_with("web-"));
    let spec = web1.spec.as_ref().unwrap();
    assert_eq!(
        (spec.hostname.as_deref(), spec.subdomain.as_deref()),
        (Some("web-1"), Some("web"))
    );
    let volume = spec
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "data");
    assert_eq!(
        volume
            .unwrap()
            .persistent_volume_claim
            .as_ref()
            .unwrap()
            .claim_name,
        "data-web-1"
    );
    assert_eq!(
        claim_names(&client).await,
        ["data-web-0", "data-web-1", "data-web-2"]
    );
    let created: Vec<(String, bool)> = seen.lock().unwrap().log.clone();
    assert_eq!(
        created,
        [
            ("+web-0".to_owned(), true),
            ("+web-1".to_owned(), true),
            ("+web-2".to_owned(), true)
        ],
        "each pod is created once the ones before it are ready"
    );

    // Scale down: web-2 goes, then web-1; the claims stay.
    let scale = |n: i32| json!({"spec": {"replicas": n}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&scale(1)))
        .await
        .unwrap();
    eventually("web-1 and web-2 gone", || async {
        let log = seen.lock().unwrap().log.clone();
        (log.iter().filter(|(e, _)| e.starts_with('-')).count() == 2).then_some(())
    })
    .await;
    let deleted: Vec<String> = (seen.lock().unwrap().log.iter())
        .filter(|(e, _)| e.starts_with('-'))
        .map(|(e, _)| e.clone())
        .collect();
    assert_eq!(deleted, ["-web-2", "-web-1"]);
    eventually("1 replica", || {
        sts_status(&api, "web", |_, s| {
            s.replicas == 1 && s.ready_replicas == Some(1)
        })
    })
    .await;
    assert_eq!(claim_names(&client).await.len(), 3, "claims are retained");

    // Back to 3, then a partitioned rolling update touches only web-2.
    api.patch("web", &PatchParams::default(), &Patch::Merge(&scale(3)))
        .await
        .unwrap();
    eventually("3 ready replicas again", || {
        sts_status(&api, "web", |_, s| s.ready_replicas == Some(3))
    })
    .await;
    let update = json!({"spec": {
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
        "template": {"spec": {"containers": [{"name": "c", "image": "db:2"}]}}}});
    api.patch("web", &PatchParams::default(), &Patch::Strategic(&update))
        .await
        .unwrap();
    let set = eventually("web-2 updated (partitioned rollout complete)", || async {
        let set = sts_status(&api, "web", |_, s| {
            s.ready_replicas == Some(3) && s.updated_replicas == Some(1)
        })
        .await?;
        (images(&client, "web")
            .await
            .get("web-2")
            .map(String::as_str)
            == Some("db:2"))
        .then_some(set)
    })
    .await;
    let status = set.status.unwrap();
    assert_ne!(status.current_revision, status.update_revision);
    let now = images(&client, "web").await;
    assert_eq!(
        (now["web-0"].as_str(), now["web-1"].as_str()),
        ("db:1", "db:1")
    );

    // Partition 0 finishes the rollout; the update revision becomes current.
    let finish = json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&finish))
        .await
        .unwrap();
    eventually("rollout complete", || async {
        let set = sts_status(&api, "web", |_, s| {
            s.ready_replicas == Some(3)
                && s.updated_replicas == Some(3)
                && s.current_revision == s.update_revision
        })
        .await?;
        let now = images(&client, "web").await;
        (now.len() == 3 && now.values().all(|i| i == "db:2")).then_some(set)
    })
    .await;
    let revisions: Api<ControllerRevision> = Api::default_namespaced(client.clone());
    let owned = revisions
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    assert_eq!(owned.len(), 2);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_statefulset_starts_together_and_deletes_claims_when_scaled_down() {
    let cluster = start(2).await;
    let client = cluster.client.clone();
    let api: Api<StatefulSet> = Api::default_namespaced(client.clone());
    let set = stateful_set(
        "par",
        3,
        json!({"podManagementPolicy": "Parallel",
               "persistentVolumeClaimRetentionPolicy": {"whenScaled": "Delete", "whenDeleted": "Retain"}}),
    );
    api.create(&PostParams::default(), &set).await.unwrap();
    eventually("3 ready replicas", || {
        sts_status(&api, "par", |_, s| {
            s.ready_replicas == Some(3) && s.current_revision == s.update_revision
        })
    })
    .await;
    assert_eq!(
        claim_names(&client).await,
        ["data-par-0", "data-par-1", "data-par-2"]
    );
    api.patch(
        "par",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    eventually("scaled down with its claims", || async {
        let names: Vec<String> = pods_of(&client, "par")
            .await
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        (names == ["par-0"] && claim_names(&client).await == ["data-par-0"]).then_some(())
    })
    .await;
    cluster.stop().await;
}
