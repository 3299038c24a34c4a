//! Node lifecycle: a node whose Lease (and status) stops being renewed for the grace period
//! gets Ready=Unknown and the `node.kubernetes.io/unreachable` taints (`not-ready` when its
//! kubelet reports NotReady); its pods are marked not ready, and pods that do not tolerate the
//! NoExecute taint are evicted after their tolerationSeconds, so their controllers replace
//! them elsewhere. The taints go when the node reports Ready again.

use crate::informer::Informer;
use crate::queue::WorkQueue;
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use rkube_api::labels::tolerates;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The taint of a node whose kubelet reports NotReady.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint of a node that stopped reporting.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The namespace of node heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// When this controller last saw a node's heartbeat change.
struct Probe {
    lease_renewed: Option<Timestamp>,
    status_heartbeat: Option<Timestamp>,
    seen: Instant,
}

/// The node lifecycle controller's state.
pub struct NodeLifecycle {
    client: kube::Client,
    nodes: Informer<Node>,
    leases: Informer<Lease>,
    pods: Informer<Pod>,
    grace: Duration,
    probes: Mutex<HashMap<String, Probe>>,
    events: crate::events::Recorder,
}

/// The node lifecycle controller: it checks every node each `--node-monitor-period`.
pub fn controller(ctx: &Context) -> Controller {
    Controller {
        name: "nodelifecycle",
        queue: WorkQueue::new(),
        workers: 1,
        resync: Some(("all".to_owned(), ctx.options.node_monitor_period)),
        tasks: Vec::new(),
        reconciler: Arc::new(NodeLifecycle {
            client: ctx.client.clone(),
            nodes: ctx.informers.get::<Node>(),
            leases: ctx.informers.get::<Lease>(),
            pods: ctx.informers.get::<Pod>(),
            grace: ctx.options.node_monitor_grace_period,
            probes: Mutex::default(),
            events: ctx.events.for_component("node-controller"),
        }),
    }
}

fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// The lifecycle taint key (with NoSchedule and NoExecute effects) a node with this Ready
/// status carries: none while Ready or not yet reported.
pub fn condition_taints(ready: Option<&str>) -> Option<&'static str> {
    match ready {
        Some("False") => Some(NOT_READY),
        Some("Unknown") => Some(UNREACHABLE),
        _ => None,
    }
}

/// The node's taints with the lifecycle taints made to match its Ready status.
pub fn desired_taints(node: &Node, now: Timestamp) -> Vec<Taint> {
    let current: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let wanted = condition_taints(ready_condition(node).map(|c| c.status.as_str()));
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| {
            let ours = t.key == NOT_READY || t.key == UNREACHABLE;
            let effect_ours = t.effect == "NoExecute" || t.effect == "NoSchedule";
            !(ours && effect_ours) || Some(t.key.as_str()) == wanted
        })
        .cloned()
        .collect();
    if let Some(key) = wanted {
        for effect in ["NoSchedule", "NoExecute"] {
            if !out.iter().any(|t| t.key == key && t.effect == effect) {
                out.push(Taint {
                    key: key.to_owned(),
                    effect: effect.to_owned(),
                    value: None,
                    time_added: (effect == "NoExecute").then_some(Time(now)),
                });
            }
        }
    }
    out
}

/// When a pod on a node with these NoExecute taints must go: now (`Some(0)`), after some
/// seconds counted from the taint's time, or never (`None`).
pub fn eviction_delay(pod: &Pod, taints: &[Taint]) -> Option<i64> {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[]);
    let mut delay: Option<i64> = None;
    for taint in taints.iter().filter(|t| t.effect == "NoExecute") {
        let matching: Vec<_> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(0);
        }
        // Tolerated forever unless a matching toleration has a limit; the smallest wins.
        if let Some(seconds) = matching.iter().filter_map(|t| t.toleration_seconds).min() {
            delay = Some(delay.map_or(seconds, |d| d.min(seconds)).max(0));
        }
    }
    delay
}

impl NodeLifecycle {
    /// Whether the node's heartbeats stopped for longer than the grace period.
    fn silent(&self, node: &Node, now: Instant) -> bool {
        let name = node.metadata.name.clone().unwrap_or_default();
        let lease_renewed = self
            .leases
            .get_in(NODE_LEASE_NAMESPACE, &name)
            .and_then(|l| l.spec.as_ref()?.renew_time.as_ref().map(|t| t.0));
        let status_heartbeat =
            ready_condition(node).and_then(|c| c.last_heartbeat_time.as_ref().map(|t| t.0));
        let mut probes = self.probes.lock().unwrap_or_else(PoisonError::into_inner);
        let probe = probes.entry(name).or_insert(Probe {
            lease_renewed,
            status_heartbeat,
            seen: now,
        });
        if probe.lease_renewed != lease_renewed || probe.status_heartbeat != status_heartbeat {
            probe.lease_renewed = lease_renewed;
            probe.status_heartbeat = status_heartbeat;
            probe.seen = now;
        }
        now.duration_since(probe.seen) > self.grace
    }

    async fn mark_unknown(&self, node: &Node) -> Result<Node, crate::Error> {
        let now = rkube_api::time::now();
        let mut updated = node.clone();
        let status = updated.status.get_or_insert_with(Default::default);
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        for kind in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
            match conditions.iter_mut().find(|c| c.type_ == kind) {
                Some(c) if c.status == "Unknown" => {}
                Some(c) => {
                    c.status = "Unknown".to_owned();
                    c.reason = Some("NodeStatusUnknown".to_owned());
                    c.message = Some("Kubelet stopped posting node status.".to_owned());
                    c.last_transition_time = Some(Time(now));
                }
                None => conditions.push(NodeCondition {
                    type_: kind.to_owned(),
                    status: "Unknown".to_owned(),
                    reason: Some("NodeStatusNeverUpdated".to_owned()),
                    message: Some("Kubelet never posted node status.".to_owned()),
                    last_transition_time: Some(Time(now)),
                    last_heartbeat_time: None,
                }),
            }
        }
        let name = node.metadata.name.clone().unwrap_or_default();
        let api: Api<Node> = Api::all(self.client.clone());
        let node = api
            .replace_status(&name, &PostParams::default(), &updated)
            .await?;
        self.events.record(
            &node,
            crate::events::EventType::Normal,
            "NodeNotReady",
            format!("Node {name} status is now: NodeNotReady"),
        );
        Ok(node)
    }

    /// Sets Ready=False on the node's pods (their endpoints stop receiving traffic).
    async fn mark_pods_not_ready(&self, node_name: &str) {
        let now = rkube_api::time::now();
        for pod in self.pods.list() {
            let on_node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node_name);
            if !on_node || !crate::pods::is_ready(&pod) {
                continue;
            }
            let Some(mut status) = pod.status.clone() else {
                continue;
            };
            for c in status.conditions.iter_mut().flatten() {
                if c.type_ == "Ready" {
                    c.status = "False".to_owned();
                    c.last_transition_time = Some(Time(now));
                }
            }
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
            let patch = json!({"status": {"conditions": status.conditions}});
            let name = pod.metadata.name.as_deref().unwrap_or("");
            if let Err(err) = api
                .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                tracing::debug!(%err, pod = name, "marking a pod not ready");
            }
        }
    }

    async fn evict(&self, now: Timestamp) {
        let nodes: HashMap<String, Vec<Taint>> = self
            .nodes
            .list()
            .iter()
            .filter_map(|n| {
                let taints: Vec<Taint> = n
                    .spec
                    .as_ref()?
                    .taints
                    .as_ref()?
                    .iter()
                    .filter(|t| t.effect == "NoExecute")
                    .cloned()
                    .collect();
                (!taints.is_empty()).then(|| (n.metadata.name.clone().unwrap_or_default(), taints))
            })
            .collect();
        if nodes.is_empty() {
            return;
        }
        for pod in self.pods.list() {
            let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
                continue;
            };
            let Some(taints) = nodes.get(node) else {
                continue;
            };
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let Some(delay) = eviction_delay(&pod, taints) else {
                continue;
            };
            let since = taints
                .iter()
                .filter_map(|t| t.time_added.as_ref().map(|t| t.0.as_second()))
                .min()
                .unwrap_or(0);
            if now.as_second() < since + delay {
                continue;
            }
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            let name = pod.metadata.name.as_deref().unwrap_or("");
            let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {
                    tracing::info!(pod = %format!("{ns}/{name}"), node, "evicted from a tainted node");
                    self.events.record(
                        pod.as_ref(),
                        crate::events::EventType::Normal,
                        "TaintManagerEviction",
                        format!("Marking for deletion Pod {ns}/{name}"),
                    );
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(err) => tracing::warn!(%err, pod = name, "eviction"),
            }
        }
    }
}

#[async_trait::async_trait]
impl Reconciler for NodeLifecycle {
    async fn sync(&self, _key: &str) -> Result<Option<Duration>, crate::Error> {
        let now = Instant::now();
        let wall = rkube_api::time::now();
        let api: Api<Node> = Api::all(self.client.clone());
        let mut first_err = None;
        for node in self.nodes.list() {
            let name = node.metadata.name.clone().unwrap_or_default();
            let mut node = (*node).clone();
            let ready = ready_condition(&node).map(|c| c.status.clone());
            if self.silent(&node, now) && ready.as_deref() != Some("Unknown") {
                match self.mark_unknown(&node).await {
                    Ok(updated) => {
                        node = updated;
                        self.mark_pods_not_ready(&name).await;
                    }
                    Err(err) => {
                        first_err.get_or_insert(err);
                        continue;
                    }
                }
            }
            let taints = desired_taints(&node, wall);
            let current = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default();
            if taints != current {
                let spec = node.spec.get_or_insert_with(Default::default);
                spec.taints = (!taints.is_empty()).then_some(taints);
                match api.replace(&name, &PostParams::default(), &node).await {
                    Ok(_) => {}
                    // The informer brings the newer node; the next pass retries.
                    Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {}
                    Err(err) => {
                        first_err.get_or_insert(err.into());
                    }
                }
            }
        }
        // Forget nodes that are gone.
        let names: std::collections::HashSet<String> = self
            .nodes
            .list()
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        self.probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|k, _| names.contains(k));
        self.evict(wall).await;
        match first_err {
            Some(err) => Err(err),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(ready: &str, taints: serde_json::Value) -> Node {
        serde_json::from_value(
            json!({"metadata": {"name": "n"}, "spec": {"taints": taints},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}),
        )
        .unwrap()
    }

    #[test]
    fn taints_follow_readiness() {
        let now = rkube_api::time::now();
        let t = desired_taints(
            &node("Unknown", json!([{"key": "x", "effect": "NoSchedule"}])),
            now,
        );
        let keys: Vec<_> = t
            .iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect();
        assert_eq!(
            keys,
            [
                "x:NoSchedule",
                "node.kubernetes.io/unreachable:NoSchedule",
                "node.kubernetes.io/unreachable:NoExecute"
            ]
        );
        let t = desired_taints(&node("False", serde_json::to_value(&t).unwrap()), now);
        let keys: Vec<_> = t
            .iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect();
        assert_eq!(
            keys,
            [
                "x:NoSchedule",
                "node.kubernetes.io/not-ready:NoSchedule",
                "node.kubernetes.io/not-ready:NoExecute"
            ]
        );
        let t = desired_taints(&node("True", serde_json::to_value(&t).unwrap()), now);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn eviction_honours_toleration_seconds() {
        let taint: Taint =
            serde_json::from_value(json!({"key": UNREACHABLE, "effect": "NoExecute"})).unwrap();
        let pod = |tolerations: serde_json::Value| -> Pod {
            serde_json::from_value(json!({"spec": {"containers": [], "tolerations": tolerations}}))
                .unwrap()
        };
        assert_eq!(
            eviction_delay(&pod(json!([])), std::slice::from_ref(&taint)),
            Some(0)
        );
        let p = pod(
            json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]),
        );
        assert_eq!(eviction_delay(&p, std::slice::from_ref(&taint)), Some(300));
        let p = pod(json!([{"operator": "Exists"}]));
        assert_eq!(eviction_delay(&p, std::slice::from_ref(&taint)), None);
    }
}
