//! Integration tests of the workload and node controllers: `rkube server` in-process (API,
//! scheduler, controllers) with simulated nodes running the pods, driven through kube-rs as
//! a user's program would.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::net::Ipv4Addr;
use std::time::Duration;

mod common;
use common::{SimCluster, eventually, merge, pods_of, running_ready};

/// How long a condition may take to come true.
const WAIT: Duration = Duration::from_secs(120);

/// Every controller, `nodes` simulated nodes, node health checked every second with grace
/// period `grace`.
async fn start(nodes: u32, grace: Duration) -> SimCluster {
    common::sim_cluster(nodes, |config| {
        config.controller_options.node_monitor_grace_period = grace;
        config.controller_options.node_monitor_period = Duration::from_secs(1);
    })
    .await
}

fn deployment(name: &str, replicas: i32, image: &str, extra: serde_json::Value) -> Deployment {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": image,
                                   "resources": {"requests": {"cpu": "10m"}}}]}},
        },
    });
    merge(&mut d, extra);
    serde_json::from_value(d).unwrap()
}

/// Waits until the Deployment's rollout is complete as `kubectl rollout status` judges it.
async fn rolled_out(client: &kube::Client, name: &str) -> Deployment {
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    eventually(&format!("deployment {name} rolled out"), || async {
        let d = api.get(name).await.ok()?;
        let status = d.status.clone()?;
        let want = d.spec.as_ref()?.replicas.unwrap_or(1);
        let done = status.observed_generation >= d.metadata.generation
            && status.updated_replicas.unwrap_or(0) == want
            && status.replicas.unwrap_or(0) == want
            && status.available_replicas.unwrap_or(0) == want;
        done.then_some(d)
    })
    .await
}

async fn sets_of(client: &kube::Client, app: &str) -> Vec<ReplicaSet> {
    let api: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    api.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicaset_keeps_replicas_adopts_and_releases() {
    let cluster = start(3, Duration::from_secs(40)).await;
    let client = cluster.client.clone();
    let sets: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    // An orphan that the ReplicaSet will adopt.
    let orphan: Pod = serde_json::from_value(
        json!({"metadata": {"name": "orphan", "labels": {"app": "rs"}},
        "spec": {"containers": [{"name": "c", "image": "pause"}]}}),
    )
    .unwrap();
    pods.create(&PostParams::default(), &orphan).await.unwrap();
    let rs: ReplicaSet = serde_json::from_value(json!({"metadata": {"name": "rs"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "rs"}},
                 "template": {"metadata": {"labels": {"app": "rs"}},
                              "spec": {"containers": [{"name": "c", "image": "pause"}]}}}}))
    .unwrap();
    sets.create(&PostParams::default(), &rs).await.unwrap();
    eventually("4 ready replicas", || async {
        let rs = sets.get("rs").await.ok()?;
        let s = rs.status?;
        (s.ready_replicas == Some(4) && s.available_replicas == Some(4) && s.replicas == 4)
            .then_some(())
    })
    .await;
    let owned = pods_of(&client, "rs").await;
    assert_eq!(
        owned.len(),
        4,
        "the orphan was adopted instead of a fifth pod"
    );
    let adopted = pods.get("orphan").await.unwrap();
    let owner = &adopted.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("ReplicaSet", Some(true))
    );

    // A deleted pod is replaced.
    pods.delete("orphan", &DeleteParams::default())
        .await
        .unwrap();
    eventually("a replacement pod", || async {
        let live: Vec<_> = pods_of(&client, "rs")
            .await
            .into_iter()
            .filter(running_ready)
            .collect();
        (live.len() == 4
            && live
                .iter()
                .all(|p| p.metadata.name.as_deref() != Some("orphan")))
        .then_some(())
    })
    .await;

    // A pod whose labels stop matching is released and replaced.
    let victim = pods_of(&client, "rs").await[0]
        .metadata
        .name
        .clone()
        .unwrap();
    pods.patch(
        &victim,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "other"}}})),
    )
    .await
    .unwrap();
    eventually("the released pod loses its owner", || async {
        let p = pods.get(&victim).await.ok()?;
        p.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
            .then_some(())
    })
    .await;
    eventually("4 matching pods again", || async {
        (pods_of(&client, "rs")
            .await
            .iter()
            .filter(|p| running_ready(p))
            .count()
            == 4)
            .then_some(())
    })
    .await;

    // Scaling down deletes pods.
    sets.patch(
        "rs",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    eventually("one replica", || async {
        let rs = sets.get("rs").await.ok()?;
        let active = pods_of(&client, "rs")
            .await
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .count();
        (rs.status?.replicas == 1 && active == 1).then_some(())
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_rolls_out_scales_and_keeps_history() {
    let cluster = start(3, Duration::from_secs(40)).await;
    let client = cluster.client.clone();
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    let d = deployment(
        "web",
        4,
        "nginx:1",
        json!({"spec": {"revisionHistoryLimit": 1,
        "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}}),
    );
    api.create(&PostParams::default(), &d).await.unwrap();
    let d = rolled_out(&client, "web").await;
    let annotations = d.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("1")
    );
    let conditions = d.status.unwrap().conditions.unwrap();
    let progressing = conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(
        progressing.reason.as_deref(),
        Some("NewReplicaSetAvailable")
    );
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Available" && c.status == "True")
    );

    // New image: a second ReplicaSet takes over; the first is scaled to zero.
    for (revision, image) in [(2, "nginx:2"), (3, "nginx:3")] {
        api.patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec":
            {"containers": [{"name": "c", "image": image}]}}}})),
        )
        .await
        .unwrap();
        let d = rolled_out(&client, "web").await;
        assert_eq!(
            d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
            revision.to_string()
        );
        let pods = eventually("only new pods left", || async {
            let pods: Vec<Pod> = pods_of(&client, "web")
                .await
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            let images: Vec<_> = pods
                .iter()
                .map(|p| {
                    p.spec.as_ref().unwrap().containers[0]
                        .image
                        .clone()
                        .unwrap()
                })
                .collect();
            (pods.len() == 4 && images.iter().all(|i| i == image)).then_some(pods)
        })
        .await;
        assert_eq!(pods.len(), 4);
    }
    // revisionHistoryLimit 1: the new set and one old one.
    let sets = eventually("history trimmed", || async {
        let sets = sets_of(&client, "web").await;
        (sets.len() == 2).then_some(sets)
    })
    .await;
    let mut revisions: Vec<String> = sets
        .iter()
        .map(|rs| {
            rs.metadata.annotations.clone().unwrap()["deployment.kubernetes.io/revision"].clone()
        })
        .collect();
    revisions.sort();
    assert_eq!(revisions, ["2", "3"]);

    // Scaling goes to the current set.
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 6}})),
    )
    .await
    .unwrap();
    rolled_out(&client, "web").await;
    assert_eq!(
        pods_of(&client, "web")
            .await
            .iter()
            .filter(|p| running_ready(p))
            .count(),
        6
    );

    // Paused: template changes wait until resumed.
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": true}})),
    )
    .await
    .unwrap();
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"template": {"spec":
        {"containers": [{"name": "c", "image": "nginx:4"}]}}}})),
    )
    .await
    .unwrap();
    let paused = eventually("the Paused condition", || async {
        let d = api.get("web").await.ok()?;
        let c = d
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Progressing")?
            .clone();
        (c.reason.as_deref() == Some("DeploymentPaused")).then_some(d)
    })
    .await;
    assert_eq!(
        paused.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "3"
    );
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": false}})),
    )
    .await
    .unwrap();
    let d = rolled_out(&client, "web").await;
    assert_eq!(
        d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "4"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_and_progress_deadline() {
    let cluster = start(2, Duration::from_secs(40)).await;
    let client = cluster.client.clone();
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    let d = deployment(
        "re",
        2,
        "app:1",
        json!({"spec": {"strategy": {"type": "Recreate"}}}),
    );
    api.create(&PostParams::default(), &d).await.unwrap();
    rolled_out(&client, "re").await;
    api.patch(
        "re",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"template": {"spec":
        {"containers": [{"name": "c", "image": "app:2"}]}}}})),
    )
    .await
    .unwrap();
    rolled_out(&client, "re").await;
    let images: Vec<String> = pods_of(&client, "re")
        .await
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            p.spec.as_ref().unwrap().containers[0]
                .image
                .clone()
                .unwrap()
        })
        .collect();
    assert_eq!(images, ["app:2", "app:2"]);

    // Pods that can never be scheduled: the rollout times out.
    let stuck = deployment(
        "stuck",
        1,
        "app:1",
        json!({"spec": {"progressDeadlineSeconds": 2,
        "template": {"spec": {"containers": [{"name": "c", "image": "app:1",
            "resources": {"requests": {"cpu": "1000"}}}]}}}}),
    );
    api.create(&PostParams::default(), &stuck).await.unwrap();
    let c = eventually("ProgressDeadlineExceeded", || async {
        let d = api.get("stuck").await.ok()?;
        let c = d
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Progressing")?;
        (c.reason.as_deref() == Some("ProgressDeadlineExceeded")).then_some(c)
    })
    .await;
    assert_eq!(c.status, "False");
    assert_eq!(
        c.message
            .as_deref()
            .map(|m| m.ends_with("has timed out progressing.")),
        Some(true)
    );
    cluster.stop().await;
}

fn inside(ip: &str, cidr: &str) -> bool {
    let (net, prefix) = cidr.split_once('/').unwrap();
    let (ip, net): (Ipv4Addr, Ipv4Addr) = (ip.parse().unwrap(), net.parse().unwrap());
    let mask = u32::MAX << (32 - prefix.parse::<u32>().unwrap());
    u32::from(ip) & mask == u32::from(net) & mask
}

/// The scale scenario of the simulated-nodes issue: 50 nodes, a Deployment of 500 replicas
/// all Running with IPs from their node's range (given by node IPAM), then one node goes
/// silent and its pods are recreated elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_nodes_run_five_hundred_replicas_and_survive_a_node_failure() {
    let cluster = start(50, Duration::from_secs(4)).await;
    let client = cluster.client.clone();
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    // A short toleration of unreachable nodes, so that eviction follows quickly.
    let d = deployment(
        "big",
        500,
        "pause",
        json!({"spec": {"template": {"spec": {"tolerations": [
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2},
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}]}}}}),
    );
    api.create(&PostParams::default(), &d).await.unwrap();
    rolled_out(&client, "big").await;
    let nodes: Api<Node> = Api::all(client.clone());
    let cidrs: std::collections::HashMap<String, String> = nodes
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| (n.metadata.name.unwrap(), n.spec.unwrap().pod_cidr.unwrap()))
        .collect();
    let mut unique: Vec<&String> = cidrs.values().collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 50, "every node has its own range");
    let pods: Vec<Pod> = pods_of(&client, "big").await;
    assert_eq!(pods.iter().filter(|p| running_ready(p)).count(), 500);
    for pod in &pods {
        let node = pod.spec.as_ref().unwrap().node_name.clone().unwrap();
        let ip = pod.status.as_ref().unwrap().pod_ip.clone().unwrap();
        assert!(
            inside(&ip, &cidrs[&node]),
            "{ip} outside {node}'s {}",
            cidrs[&node]
        );
    }
    // One node goes silent.
    let failed = cluster.sims[0].node_names()[7].clone();
    let on_failed = pods
        .iter()
        .filter(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some(&failed))
        .count();
    assert!(on_failed > 0);
    cluster.sims[0].fail_node(&failed).unwrap();
    eventually("the node marked unreachable", || async {
        let n = nodes.get(&failed).await.ok()?;
        let tainted = n
            .spec?
            .taints?
            .iter()
            .any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == "NoExecute");
        tainted.then_some(())
    })
    .await;
    eventually("500 ready pods, none on the failed node", || async {
        let pods = pods_of(&client, "big").await;
        let ready: Vec<_> = pods.iter().filter(|p| running_ready(p)).collect();
        let off = ready
            .iter()
            .all(|p| p.spec.as_ref().unwrap().node_name.as_deref() != Some(&failed));
        (ready.len() == 500 && off).then_some(())
    })
    .await;
    // Heartbeats resume: the node is Ready and untainted again.
    cluster.sims[0].recover_node(&failed).unwrap();
    eventually("the node recovered", || async {
        let n = nodes.get(&failed).await.ok()?;
        let ready = n
            .status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let clean = !n
            .spec?
            .taints
            .unwrap_or_default()
            .iter()
            .any(|t| t.key.starts_with("node.kubernetes.io/"));
        (ready && clean).then_some(())
    })
    .await;
    cluster.stop().await;
}
