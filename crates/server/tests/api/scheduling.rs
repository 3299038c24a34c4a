//! The scheduler inside the server: pods get nodes (made by the test), or stay Pending with
//! upstream's reason and message until the cluster changes.

use crate::Cluster;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use std::time::Duration;

pub fn node(name: &str, cpu: &str, zone: &str, taints: Value) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}},
        "spec": {"taints": taints},
        "status": {
            "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }))
    .unwrap()
}

pub fn pod(name: &str, cpu: &str, extra_spec: Value) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox:1.36",
                                          "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "spread"}}, "spec": spec,
    }))
    .unwrap()
}

pub async fn create_nodes(c: &Cluster, nodes: &[Node]) {
    let api: Api<Node> = Api::all(c.client.clone());
    for n in nodes {
        let created = api.create(&PostParams::default(), n).await.unwrap();
        // Status is a subresource: write it the way a kubelet does.
        let mut with_status = created.clone();
        with_status.status = n.status.clone();
        api.replace_status(
            created.metadata.name.as_deref().unwrap(),
            &PostParams::default(),
            &with_status,
        )
        .await
        .unwrap();
    }
}

/// Nodes `a1` in zone a and `b1` in zone b with these CPUs, untainted.
pub async fn two_zones(c: &Cluster, cpu_a: &str, cpu_b: &str) {
    create_nodes(
        c,
        &[
            node("a1", cpu_a, "a", json!([])),
            node("b1", cpu_b, "b", json!([])),
        ],
    )
    .await;
}

/// Waits (up to 20 s) until `check` holds for the pod.
pub async fn wait_pod(api: &Api<Pod>, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
    for _ in 0..200 {
        if let Ok(p) = api.get(name).await
            && check(&p)
        {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "pod {name}: {what} within 20 s; last: {:?}",
        api.get(name).await.map(|p| p.status)
    );
}

/// The node the scheduler nominated for a preempting pod.
pub fn nominated(p: &Pod) -> Option<&str> {
    p.status.as_ref()?.nominated_node_name.as_deref()
}

pub fn node_of(p: &Pod) -> Option<String> {
    p.spec.as_ref().and_then(|s| s.node_name.clone())
}

pub fn scheduled_condition(p: &Pod) -> Option<(String, String, String)> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

#[tokio::test]
async fn pods_go_where_they_fit_or_stay_pending_with_the_reason() {
    let c = Cluster::start().await;
    create_nodes(
        &c,
        &[
            node("n1", "2", "a", json!([])),
            node("n2", "4", "b", json!([])),
        ],
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    pods.create(&PostParams::default(), &pod("fits", "3", json!({})))
        .await
        .unwrap();
    let p = wait_pod(&pods, "fits", "bound", |p| node_of(p).is_some()).await;
    assert_eq!(node_of(&p).as_deref(), Some("n2"), "only n2 has 3 cpus");

    pods.create(&PostParams::default(), &pod("huge", "8", json!({})))
        .await
        .unwrap();
    let p = wait_pod(&pods, "huge", "marked unschedulable", |p| {
        scheduled_condition(p).is_some()
    })
    .await;
    let (status, reason, message) = scheduled_condition(&p).unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "Unschedulable")
    );
    assert!(
        message.starts_with("0/2 nodes are available: 2 Insufficient cpu."),
        "{message}"
    );
    assert!(node_of(&p).is_none());

    // A FailedScheduling event for the pending pod and a Scheduled event for the bound one.
    let events: Api<Event> = Api::namespaced(c.client.clone(), "default");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let list = events.list(&ListParams::default()).await.unwrap();
    let reasons: Vec<(String, String)> = list
        .items
        .iter()
        .map(|e| {
            (
                e.involved_object.name.clone().unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        reasons.contains(&("huge".to_owned(), "FailedScheduling".to_owned())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("fits".to_owned(), "Scheduled".to_owned())),
        "{reasons:?}"
    );

    // A node that fits arrives: the pending pod is retried and bound.
    create_nodes(&c, &[node("big", "16", "a", json!([]))]).await;
    let p = wait_pod(&pods, "huge", "bound after the new node", |p| {
        node_of(p).is_some()
    })
    .await;
    assert_eq!(node_of(&p).as_deref(), Some("big"));
    c.server.shutdown().await;
}

#[tokio::test]
async fn taints_keep_pods_away_unless_tolerated() {
    let c = Cluster::start().await;
    let taint = json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
    create_nodes(
        &c,
        &[
            node("tainted", "8", "a", taint),
            node("plain", "8", "a", json!([])),
        ],
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    for i in 0..4 {
        pods.create(
            &PostParams::default(),
            &pod(&format!("p{i}"), "100m", json!({})),
        )
        .await
        .unwrap();
    }
    for i in 0..4 {
        let p = wait_pod(&pods, &format!("p{i}"), "bound", |p| node_of(p).is_some()).await;
        assert_eq!(node_of(&p).as_deref(), Some("plain"));
    }
    let tolerates = json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
                           "nodeSelector": {"kubernetes.io/hostname": "tainted"}});
    pods.create(&PostParams::default(), &pod("gpu", "100m", tolerates))
        .await
        .unwrap();
    let p = wait_pod(&pods, "gpu", "bound", |p| node_of(p).is_some()).await;
    assert_eq!(node_of(&p).as_deref(), Some("tainted"));

    let no_toleration = json!({"nodeSelector": {"kubernetes.io/hostname": "tainted"}});
    pods.create(&PostParams::default(), &pod("stuck", "100m", no_toleration))
        .await
        .unwrap();
    let p = wait_pod(&pods, "stuck", "marked unschedulable", |p| {
        scheduled_condition(p).is_some()
    })
    .await;
    let message = scheduled_condition(&p).unwrap().2;
    assert!(
        message.starts_with("0/2 nodes are available: "),
        "{message}"
    );
    assert!(
        message.contains("1 node(s) didn't match Pod's node affinity/selector"),
        "{message}"
    );
    assert!(
        message.contains("1 node(s) had untolerated taint {dedicated: gpu}"),
        "{message}"
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn anti_affinity_spreads_replicas_over_zones() {
    let c = Cluster::start().await;
    create_nodes(
        &c,
        &[
            node("a1", "8", "a", json!([])),
            node("a2", "8", "a", json!([])),
            node("b1", "8", "b", json!([])),
            node("c1", "8", "c", json!([])),
        ],
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "spread"}}, "topologyKey": "topology.kubernetes.io/zone"}]}}});
    for i in 0..3 {
        pods.create(
            &PostParams::default(),
            &pod(&format!("r{i}"), "100m", anti.clone()),
        )
        .await
        .unwrap();
    }
    let mut zones = Vec::new();
    for i in 0..3 {
        let p = wait_pod(&pods, &format!("r{i}"), "bound", |p| node_of(p).is_some()).await;
        zones.push(node_of(&p).unwrap()[..1].to_owned());
    }
    zones.sort();
    assert_eq!(zones, vec!["a", "b", "c"], "one replica per zone");
    // A fourth replica has no zone left.
    pods.create(&PostParams::default(), &pod("r3", "100m", anti))
        .await
        .unwrap();
    let p = wait_pod(&pods, "r3", "marked unschedulable", |p| {
        scheduled_condition(p).is_some()
    })
    .await;
    let message = scheduled_condition(&p).unwrap().2;
    assert!(
        message.contains("4 node(s) didn't match pod anti-affinity rules"),
        "{message}"
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn topology_spread_balances_zones() {
    let c = Cluster::start().await;
    two_zones(&c, "8", "8").await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "spread"}}}]});
    for i in 0..6 {
        pods.create(
            &PostParams::default(),
            &pod(&format!("s{i}"), "100m", spread.clone()),
        )
        .await
        .unwrap();
        // One at a time, so each decision sees the previous ones.
        wait_pod(&pods, &format!("s{i}"), "bound", |p| node_of(p).is_some()).await;
    }
    let list = pods.list(&ListParams::default()).await.unwrap();
    let on_a = list
        .items
        .iter()
        .filter(|p| node_of(p).as_deref() == Some("a1"))
        .count();
    assert_eq!(on_a, 3, "maxSkew 1 over two zones: 3 and 3");
    c.server.shutdown().await;
}

#[tokio::test]
async fn higher_priority_pods_preempt_lower_priority_ones() {
    use kube::api::DeleteParams;
    let c = Cluster::start().await;
    create_nodes(&c, &[node("n1", "2", "a", json!([]))]).await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &pod("low", "1500m", json!({"priority": 1})),
    )
    .await
    .unwrap();
    wait_pod(&pods, "low", "bound", |p| node_of(p).is_some()).await;
    pods.create(
        &PostParams::default(),
        &pod("high", "1500m", json!({"priority": 1000})),
    )
    .await
    .unwrap();
    let high = wait_pod(&pods, "high", "nominated", |p| nominated(p) == Some("n1")).await;
    assert!(node_of(&high).is_none());
    let low = wait_pod(&pods, "low", "being evicted", |p| {
        p.metadata.deletion_timestamp.is_some()
    })
    .await;
    let target = low
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "DisruptionTarget");
    assert_eq!(
        target.and_then(|c| c.reason).as_deref(),
        Some("PreemptionByScheduler")
    );
    // The kubelet would now stop the victim and remove it.
    pods.delete(
        "low",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    let high = wait_pod(&pods, "high", "bound after preemption", |p| {
        node_of(p).is_some()
    })
    .await;
    assert_eq!(node_of(&high).as_deref(), Some("n1"));

    // An equal-priority pod cannot preempt: it stays pending, saying why.
    pods.create(
        &PostParams::default(),
        &pod("peer", "1500m", json!({"priority": 1000})),
    )
    .await
    .unwrap();
    let peer = wait_pod(&pods, "peer", "marked unschedulable", |p| {
        scheduled_condition(p).is_some()
    })
    .await;
    let message = scheduled_condition(&peer).unwrap().2;
    assert_eq!(
        message,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.."
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn preemption_spares_pods_a_disruption_budget_protects() {
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    let c = Cluster::start().await;
    two_zones(&c, "2", "2").await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    // No disruption is allowed for `guarded`: controllers are off here, so the budget's status
    // is never computed and allows 0, as upstream's scheduler reads an uncomputed budget.
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(c.client.clone(), "default");
    let budget: PodDisruptionBudget = serde_json::from_value(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "guard"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}},
    }))
    .unwrap();
    budgets
        .create(&PostParams::default(), &budget)
        .await
        .unwrap();
    let mut guarded = pod("guarded", "1500m", json!({"priority": 1}));
    guarded.metadata.labels = Some([("app".to_owned(), "guarded".to_owned())].into());
    // The unguarded pod is the more important one: without the budget it would be spared.
    let mut free = pod("free", "1500m", json!({"priority": 5}));
    free.metadata.labels = Some([("app".to_owned(), "free".to_owned())].into());
    for p in [&guarded, &free] {
        pods.create(&PostParams::default(), p).await.unwrap();
    }
    let free_node = node_of(&wait_pod(&pods, "free", "bound", |p| node_of(p).is_some()).await);
    wait_pod(&pods, "guarded", "bound", |p| node_of(p).is_some()).await;
    let high = pod("high", "1500m", json!({"priority": 1000}));
    pods.create(&PostParams::default(), &high).await.unwrap();
    let high = wait_pod(&pods, "high", "nominated", |p| nominated(p).is_some()).await;
    assert_eq!(nominated(&high), free_node.as_deref());
    wait_pod(&pods, "free", "being evicted", |p| {
        p.metadata.deletion_timestamp.is_some()
    })
    .await;
    let guarded = pods.get("guarded").await.unwrap();
    assert!(guarded.metadata.deletion_timestamp.is_none());
    c.server.shutdown().await;
}
