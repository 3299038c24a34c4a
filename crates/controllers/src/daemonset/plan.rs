//! The DaemonSet controller's decisions, as pure functions: which nodes should run a daemon
//! pod (node selector, required affinity, taints against the tolerations upstream adds),
//! which pods to create and delete on each node, the rolling update within maxUnavailable
//! and maxSurge, and the status.

use crate::history::HASH_LABEL;
use crate::intstr::scaled_value;
use crate::pods;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodTemplateSpec, Toleration,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use rkube_api::labels::{RequiredNodeAffinity, find_untolerated_taint, node_taints};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The deprecated label upstream still puts on daemon pods: the template generation.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// The annotation the API server keeps the template generation in.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// The tolerations every daemon pod gets (upstream's `AddOrUpdateDaemonPodTolerations`): it
/// stays through not-ready and unreachable nodes and runs despite node pressure and
/// cordoning; host-network pods also on nodes whose network is not ready.
pub fn daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let mut keys = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        keys.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    keys.into_iter()
        .map(|(key, effect)| Toleration {
            key: Some(key.to_owned()),
            operator: Some("Exists".to_owned()),
            effect: Some(effect.to_owned()),
            ..Toleration::default()
        })
        .collect()
}

/// Adds the daemon tolerations the template lacks (same key and effect counts as present).
fn add_tolerations(template: &mut PodTemplateSpec) {
    let Some(spec) = template.spec.as_mut() else {
        return;
    };
    let extra = daemon_tolerations(spec.host_network == Some(true));
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for t in extra {
        if !tolerations
            .iter()
            .any(|have| have.key == t.key && have.effect == t.effect)
        {
            tolerations.push(t);
        }
    }
}

/// The template daemon pods of revision `hash` are made from: the DaemonSet's, with the
/// daemon tolerations, the revision hash label and the template generation label.
pub fn pod_template(ds: &DaemonSet, hash: &str) -> PodTemplateSpec {
    let mut template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    add_tolerations(&mut template);
    let meta = template.metadata.get_or_insert_with(Default::default);
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(HASH_LABEL.to_owned(), hash.to_owned());
    if let Some(generation) = ds
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TEMPLATE_GENERATION_ANNOTATION))
    {
        labels.insert(TEMPLATE_GENERATION_LABEL.to_owned(), generation.clone());
    }
    template
}

/// The node-name term daemon pods are bound with: `matchFields metadata.name In [node]`.
fn node_name_term(node: &str) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".to_owned(),
            operator: "In".to_owned(),
            values: Some(vec![node.to_owned()]),
        }]),
        match_expressions: None,
    }
}

/// Pins a pod to `node` the way upstream does: its required node affinity becomes the single
/// node-name term (the node already satisfies the original terms), so the scheduler binds it.
pub fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let mut affinity = affinity.unwrap_or_default();
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![node_name_term(node)],
    });
    affinity
}

/// The node a daemon pod is for: its `nodeName`, or the node its affinity pins it to.
pub fn target_node(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(name);
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.as_ref()?.iter().find_map(|r| {
            let values = r.values.as_deref()?;
            (r.key == "metadata.name" && r.operator == "In" && values.len() == 1)
                .then(|| values[0].as_str())
        })
    })
}

/// Whether a node should run a daemon pod, and whether one already there may keep running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    /// A daemon pod should be on the node.
    pub should_run: bool,
    /// A daemon pod on the node may stay (it tolerates the node's NoExecute taints).
    pub should_continue: bool,
}

/// Upstream's `NodeShouldRunDaemonPod` for a pod made from `template`.
pub fn node_fit(template: &PodTemplateSpec, node: &Node) -> Fit {
    let none = Fit {
        should_run: false,
        should_continue: false,
    };
    let node_name = node.metadata.name.as_deref().unwrap_or("");
    let spec = template.spec.as_ref();
    if let Some(wanted) = spec.and_then(|s| s.node_name.as_deref())
        && !wanted.is_empty()
        && wanted != node_name
    {
        return none;
    }
    let probe = Pod {
        spec: spec.cloned(),
        ..Pod::default()
    };
    if !RequiredNodeAffinity::from_pod(&probe).matches(node) {
        return none;
    }
    let tolerations = spec.and_then(|s| s.tolerations.as_deref()).unwrap_or(&[]);
    let taints = node_taints(node);
    let untolerated = find_untolerated_taint(taints, tolerations, |t| {
        t.effect == "NoSchedule" || t.effect == "NoExecute"
    });
    if untolerated.is_none() {
        return Fit {
            should_run: true,
            should_continue: true,
        };
    }
    let no_execute = find_untolerated_taint(taints, tolerations, |t| t.effect == "NoExecute");
    Fit {
        should_run: false,
        should_continue: no_execute.is_none(),
    }
}

/// Upstream's order of a node's daemon pods: bound before unbound, then oldest first.
pub fn oldest_first(pods: &mut [Arc<Pod>]) {
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    pods.sort_by(|a, b| {
        pods::is_assigned(b)
            .cmp(&pods::is_assigned(a))
            .then_with(|| created(a).cmp(&created(b)))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// A DaemonSet's pods by the node they are for, each node's oldest first; pods for no node
/// are under the empty name.
pub fn by_node(pods: &[Arc<Pod>]) -> BTreeMap<String, Vec<Arc<Pod>>> {
    let mut out: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
    for pod in pods {
        let node = target_node(pod).unwrap_or("").to_owned();
        out.entry(node).or_default().push(pod.clone());
    }
    for pods in out.values_mut() {
        oldest_first(pods);
    }
    out
}

fn hash_of(pod: &Pod) -> &str {
    crate::history::hash_label(&pod.metadata)
}

fn deleting(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// What one sync does to pods.
#[derive(Debug, Default)]
pub struct Actions {
    /// Nodes that get a new daemon pod.
    pub create: Vec<String>,
    /// Pods to delete.
    pub delete: Vec<Arc<Pod>>,
    /// Failed pods to delete (and replace) once their node's backoff allows.
    pub failed: Vec<(String, Arc<Pod>)>,
}

/// Whether the DaemonSet may run two pods on a node during an update (maxSurge > 0).
pub fn allows_surge(ds: &DaemonSet) -> bool {
    rolling_params(ds).is_some_and(|(surge, _)| scaled_value(surge, 100, true, "0") > 0)
}

type Params<'a> = (Option<&'a IntOrString>, Option<&'a IntOrString>);

fn rolling_params(ds: &DaemonSet) -> Option<Params<'_>> {
    let strategy = ds.spec.as_ref()?.update_strategy.as_ref();
    if strategy
        .and_then(|s| s.type_.as_deref())
        .is_some_and(|t| t != "RollingUpdate")
    {
        return None;
    }
    let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
    Some((
        rolling.and_then(|r| r.max_surge.as_ref()),
        rolling.and_then(|r| r.max_unavailable.as_ref()),
    ))
}

/// Creates and deletions that put one daemon pod on every node that should run one and none
/// elsewhere (upstream's `manage`). `nodes` are all nodes; `pods` the DaemonSet's by node.
pub fn manage(
    ds: &DaemonSet,
    template: &PodTemplateSpec,
    nodes: &[Arc<Node>],
    pods: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    now: Timestamp,
) -> Actions {
    let mut actions = Actions::default();
    let surge = allows_surge(ds);
    let min_ready = min_ready_seconds(ds);
    let mut known = std::collections::HashSet::new();
    for node in nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        known.insert(name.clone());
        let fit = node_fit(template, node);
        let on_node = pods.get(&name).map(Vec::as_slice).unwrap_or(&[]);
        if fit.should_run && on_node.is_empty() {
            actions.create.push(name);
        } else if fit.should_continue {
            let mut running = Vec::new();
            for pod in on_node.iter().filter(|p| !deleting(p)) {
                match pods::phase(pod) {
                    "Failed" => actions.failed.push((name.clone(), pod.clone())),
                    "Succeeded" => actions.delete.push(pod.clone()),
                    _ => running.push(pod.clone()),
                }
            }
            if !surge {
                // One pod per node: the oldest stays.
                actions.delete.extend(running.into_iter().skip(1));
                continue;
            }
            let (mut newest, mut oldest) = (None, None);
            for pod in running {
                let slot = if hash_of(&pod) == hash {
                    &mut newest
                } else {
                    &mut oldest
                };
                if slot.is_none() {
                    *slot = Some(pod);
                } else {
                    actions.delete.push(pod);
                }
            }
            if let (Some(new), Some(old)) = (newest, oldest)
                && pods::is_available(&new, min_ready, now)
            {
                actions.delete.push(old);
            }
        } else {
            actions
                .delete
                .extend(on_node.iter().filter(|p| !deleting(p)).cloned());
        }
    }
    // Pods for nodes that no longer exist (or for none at all).
    for (node, on_node) in pods {
        if !known.contains(node) {
            actions
                .delete
                .extend(on_node.iter().filter(|p| !deleting(p)).cloned());
        }
    }
    actions
}

fn min_ready_seconds(ds: &DaemonSet) -> i32 {
    ds.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// The nodes that should run a daemon pod.
pub fn desired_nodes<'a>(template: &PodTemplateSpec, nodes: &'a [Arc<Node>]) -> Vec<&'a str> {
    nodes
        .iter()
        .filter(|n| node_fit(template, n).should_run)
        .map(|n| n.metadata.name.as_deref().unwrap_or(""))
        .collect()
}

/// (maxSurge, maxUnavailable) as pod counts against the desired number of nodes; both zero
/// would stall, so unavailable becomes one.
pub fn budget(ds: &DaemonSet, desired: i32) -> (i32, i32) {
    let Some((surge, unavailable)) = rolling_params(ds) else {
        return (0, 0);
    };
    let surge = scaled_value(surge, desired, true, "0").max(0);
    let unavailable = scaled_value(unavailable, desired, true, "1").max(0);
    if desired > 0 && surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// A node's live pod of the current revision and its live pod of an older one.
type NewAndOld = (Option<Arc<Pod>>, Option<Arc<Pod>>);

/// A node's live new and old pod; `None` when it has more than one of either (manage cleans
/// that up first).
fn new_and_old(pods: &[Arc<Pod>], hash: &str) -> Option<NewAndOld> {
    let (mut new, mut old) = (None, None);
    for pod in pods
        .iter()
        .filter(|p| !deleting(p) && !pods::is_terminated(p))
    {
        let slot = if hash_of(pod) == hash {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(pod.clone());
    }
    Some((new, old))
}

/// The rolling update step (upstream's `rollingUpdate`): without surge, old pods are deleted
/// while at most maxUnavailable nodes lack an available daemon pod (unavailable old pods go
/// regardless); with surge, new pods start beside old ones on at most maxSurge nodes and an
/// old pod goes once its replacement is available.
pub fn rolling_update(
    ds: &DaemonSet,
    template: &PodTemplateSpec,
    nodes: &[Arc<Node>],
    pods: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    now: Timestamp,
) -> Actions {
    let mut actions = Actions::default();
    let desired = desired_nodes(template, nodes);
    let (max_surge, max_unavailable) = budget(ds, desired.len() as i32);
    let min_ready = min_ready_seconds(ds);
    let available = |p: &Pod| pods::is_available(p, min_ready, now);
    let empty = Vec::new();
    if max_surge == 0 {
        let mut unavailable = 0;
        let mut must_replace = Vec::new();
        let mut candidates = Vec::new();
        for node in &desired {
            let Some(pair) = new_and_old(pods.get(*node).unwrap_or(&empty), hash) else {
                unavailable += 1;
                continue;
            };
            match pair {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => {
                    if !available(&new) {
                        unavailable += 1;
                    }
                }
                (None, Some(old)) => {
                    if !available(&old) {
                        // Replaced regardless, and already counts as unavailable.
                        must_replace.push(old);
                        unavailable += 1;
                    } else {
                        candidates.push(old);
                    }
                }
            }
        }
        let room = (max_unavailable - unavailable).clamp(0, candidates.len() as i32) as usize;
        actions.delete = must_replace;
        actions.delete.extend(candidates.into_iter().take(room));
        return actions;
    }
    let mut surged = 0;
    let mut must_surge = Vec::new();
    let mut candidates = Vec::new();
    for node in &desired {
        let Some(pair) = new_and_old(pods.get(*node).unwrap_or(&empty), hash) else {
            continue;
        };
        match pair {
            (_, None) => {}
            (None, Some(old)) => {
                if !available(&old) {
                    must_surge.push(node.to_string());
                } else {
                    candidates.push(node.to_string());
                }
            }
            (Some(new), Some(old)) => {
                if available(&new) {
                    actions.delete.push(old);
                } else {
                    surged += 1;
                }
            }
        }
    }
    let room = (max_surge - surged).clamp(0, candidates.len() as i32) as usize;
    actions.create = must_surge;
    actions.create.extend(candidates.into_iter().take(room));
    actions
}

/// The status of a DaemonSet with these pods (upstream's `updateDaemonSetStatus`): each node
/// that should run a daemon pod counts its oldest one.
pub fn status(
    ds: &DaemonSet,
    template: &PodTemplateSpec,
    nodes: &[Arc<Node>],
    pods: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    collision_count: i32,
    now: Timestamp,
) -> DaemonSetStatus {
    let min_ready = min_ready_seconds(ds);
    let (mut desired, mut scheduled, mut misscheduled) = (0, 0, 0);
    let (mut ready, mut available, mut updated) = (0, 0, 0);
    for node in nodes {
        let name = node.metadata.name.as_deref().unwrap_or("");
        let on_node: Vec<&Arc<Pod>> = pods
            .get(name)
            .into_iter()
            .flatten()
            .filter(|p| !(deleting(p) && pods::is_terminated(p)))
            .collect();
        if node_fit(template, node).should_run {
            desired += 1;
            if let Some(pod) = on_node.first() {
                scheduled += 1;
                if pods::is_ready(pod) {
                    ready += 1;
                    if pods::is_available(pod, min_ready, now) {
                        available += 1;
                    }
                }
                if hash_of(pod) == hash {
                    updated += 1;
                }
            }
        } else if !on_node.is_empty() {
            misscheduled += 1;
        }
    }
    let old = ds.status.clone().unwrap_or_default();
    let some = |n: i32| (n > 0).then_some(n);
    DaemonSetStatus {
        current_number_scheduled: scheduled,
        desired_number_scheduled: desired,
        number_misscheduled: misscheduled,
        number_ready: ready,
        number_available: some(available),
        number_unavailable: some(desired - available),
        updated_number_scheduled: some(updated),
        observed_generation: ds.metadata.generation,
        collision_count: (collision_count > 0).then_some(collision_count),
        conditions: old.conditions,
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
