//! Helpers for plugin tests: objects from JSON, snapshots, and running one plugin's phases.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::Value;

use crate::framework::{
    CycleState, FilterPlugin, NodeInfo, PodInfo, PreFilterPlugin, PreScorePlugin, ScorePlugin,
    Snapshot, Status,
};

/// A pod from JSON (`metadata.namespace` defaults to "default", uid to the name).
pub fn pod(v: Value) -> Arc<PodInfo> {
    let mut pod: Pod = serde_json::from_value(v).expect("valid pod JSON");
    if pod.metadata.namespace.is_none() {
        pod.metadata.namespace = Some("default".into());
    }
    if pod.metadata.uid.is_none() {
        pod.metadata.uid = pod.metadata.name.clone();
    }
    if pod.spec.is_none() {
        pod.spec = Some(Default::default());
    }
    Arc::new(PodInfo::new(Arc::new(pod)))
}

/// A node from JSON.
pub fn node(v: Value) -> NodeInfo {
    let node: Node = serde_json::from_value(v).expect("valid node JSON");
    NodeInfo::new(Arc::new(node))
}

/// A node with a name and labels.
pub fn labeled_node(name: &str, labels: Value) -> NodeInfo {
    node(serde_json::json!({"metadata": {"name": name, "labels": labels}}))
}

/// A node with pods on it.
pub fn with_pods(mut n: NodeInfo, pods: &[Arc<PodInfo>]) -> NodeInfo {
    for p in pods {
        n.add_pod(p.clone());
    }
    n
}

/// A snapshot of nodes.
pub fn snapshot(nodes: Vec<NodeInfo>) -> Snapshot {
    Snapshot::new(nodes.into_iter().map(Arc::new).collect())
}

/// Runs PreFilter (when it doesn't skip) then Filter on every node; returns each node's status
/// (Success for all when PreFilter skipped), or the PreFilter status if it rejected.
pub fn run_filter<P: PreFilterPlugin + FilterPlugin>(
    p: &P,
    pod: &PodInfo,
    snap: &Snapshot,
) -> Result<Vec<Status>, Status> {
    let mut state = CycleState::new();
    let pre = p.pre_filter(&mut state, pod, snap);
    if pre.is_skip() {
        return Ok(snap.nodes.iter().map(|_| Status::success()).collect());
    }
    if !pre.is_success() {
        return Err(pre);
    }
    Ok(snap
        .nodes
        .iter()
        .map(|n| p.filter(&state, pod, n))
        .collect())
}

/// Runs PreScore, Score on every node of the snapshot (all feasible) and Normalize; a skip
/// gives all zeros.
pub fn run_score<P: PreScorePlugin + ScorePlugin>(
    p: &P,
    pod: &PodInfo,
    snap: &Snapshot,
) -> Vec<i64> {
    run_score_on(p, pod, snap, &snap.nodes)
}

/// Like [`run_score`] with an explicit feasible list.
pub fn run_score_on<P: PreScorePlugin + ScorePlugin>(
    p: &P,
    pod: &PodInfo,
    snap: &Snapshot,
    feasible: &[Arc<NodeInfo>],
) -> Vec<i64> {
    let mut state = CycleState::new();
    let pre = p.pre_score(&mut state, pod, snap, feasible);
    if pre.is_skip() {
        return vec![0; feasible.len()];
    }
    assert!(pre.is_success(), "pre_score failed: {pre:?}");
    let mut scores: Vec<i64> = feasible.iter().map(|n| p.score(&state, pod, n)).collect();
    p.normalize(&state, pod, &mut scores);
    scores
}

/// Short reason of a status: "" for success, else the first reason.
pub fn reason(s: &Status) -> String {
    s.reasons.first().cloned().unwrap_or_default()
}

/// A node with the given allocatable resources.
pub fn res_node(name: &str, alloc: serde_json::Value) -> NodeInfo {
    node(serde_json::json!({"metadata": {"name": name}, "status": {"allocatable": alloc}}))
}

/// A pod with one container requesting `reqs`.
pub fn req_pod(name: &str, reqs: serde_json::Value) -> Arc<PodInfo> {
    pod(serde_json::json!({"metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "resources": {"requests": reqs}}]}}))
}
