//! The node cache: every node with the pods bound to it, fed by watches, plus *assumed* pods —
//! a pod counts on its node from the moment the scheduler picks the node, before the binding
//! is written, so the next pods see the resources it takes. An assumed pod is confirmed when
//! the watch shows it bound, and forgotten if its binding fails. As upstream's scheduler
//! (since kubernetes#106361), a written binding never expires unconfirmed: expiry raced
//! with a watch that lags under load and let the node's resources be counted twice.

use crate::framework::labels::Labels;
use crate::framework::{NodeInfo, PodInfo, Snapshot};
use k8s_openapi::api::core::v1::{Node, Pod};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug)]
struct PodState {
    node: String,
    info: Arc<PodInfo>,
    /// Whether the pod is assumed (chosen here, not yet seen bound by the watch).
    assumed: bool,
}

/// Nodes and their pods, as the scheduler sees them.
#[derive(Default)]
pub struct Cache {
    /// Shared with snapshots: a cycle copies one pointer, and a change copies the list only
    /// while a snapshot still holds it.
    nodes: Arc<Vec<Arc<NodeInfo>>>,
    /// Each node's generation, by position, kept in step with `nodes` (shared the same
    /// way): a pass that looks for changed nodes reads this, not every node.
    generations: Arc<Vec<u64>>,
    /// Node name → position (a fast hash: looked up for every feasible node of a cycle).
    index: foldhash::HashMap<String, usize>,
    /// The index as snapshots share it; rebuilt when nodes come or go.
    shared_index: Option<Arc<foldhash::HashMap<String, usize>>>,
    pods: HashMap<String, PodState>,
    /// Pods bound to nodes the cache has not seen yet.
    waiting: HashMap<String, Vec<Arc<PodInfo>>>,
    /// Bumped on every change; lets callers tell whether the cluster changed.
    generation: u64,
    /// Every namespace's labels (for affinity terms with namespace selectors).
    namespace_labels: Arc<HashMap<String, Labels>>,
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// Whether a pod still holds resources on its node (not finished).
pub fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded" | "Failed"))
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Cache {
        Cache::default()
    }

    /// The change counter.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Adds or replaces a node, keeping its pods.
    pub fn upsert_node(&mut self, node: Arc<Node>) {
        self.generation += 1;
        let name = node.metadata.name.clone().unwrap_or_default();
        let mut info = NodeInfo::new(node);
        match self.index.get(&name) {
            Some(&i) => {
                for pod in &self.nodes[i].pods {
                    info.add_pod(pod.clone());
                }
                Arc::make_mut(&mut self.generations)[i] = info.generation;
                Arc::make_mut(&mut self.nodes)[i] = Arc::new(info);
            }
            None => {
                for pod in self.waiting.remove(&name).unwrap_or_default() {
                    info.add_pod(pod);
                }
                self.index.insert(name, self.nodes.len());
                Arc::make_mut(&mut self.generations).push(info.generation);
                Arc::make_mut(&mut self.nodes).push(Arc::new(info));
                self.shared_index = None;
            }
        }
    }

    /// Removes a node; its pods wait for it to come back.
    pub fn remove_node(&mut self, name: &str) {
        self.generation += 1;
        let Some(i) = self.index.remove(name) else {
            return;
        };
        let removed = Arc::make_mut(&mut self.nodes).swap_remove(i);
        Arc::make_mut(&mut self.generations).swap_remove(i);
        self.shared_index = None;
        if i < self.nodes.len() {
            let moved = self.nodes[i].name().to_owned();
            self.index.insert(moved, i);
        }
        if !removed.pods.is_empty() {
            self.waiting.insert(name.to_owned(), removed.pods.clone());
        }
    }

    fn attach(&mut self, node: &str, info: Arc<PodInfo>) {
        match self.index.get(node) {
            Some(&i) => {
                let node = Arc::make_mut(&mut Arc::make_mut(&mut self.nodes)[i]);
                node.add_pod(info);
                Arc::make_mut(&mut self.generations)[i] = node.generation;
            }
            None => self.waiting.entry(node.to_owned()).or_default().push(info),
        }
    }

    fn detach(&mut self, node: &str, uid: &str) {
        match self.index.get(node) {
            Some(&i) => {
                let node = Arc::make_mut(&mut Arc::make_mut(&mut self.nodes)[i]);
                node.remove_pod(uid);
                Arc::make_mut(&mut self.generations)[i] = node.generation;
            }
            None => {
                if let Some(list) = self.waiting.get_mut(node) {
                    list.retain(|p| p.pod.metadata.uid.as_deref() != Some(uid));
                }
            }
        }
    }

    /// A pod bound to a node, as the watch shows it (added or updated). Confirms an assumed pod;
    /// finished pods free their node's resources.
    pub fn upsert_bound_pod(&mut self, pod: Arc<Pod>) {
        self.generation += 1;
        let uid = uid(&pod);
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        if let Some(old) = self.pods.remove(&uid) {
            self.detach(&old.node, &uid);
        }
        if node.is_empty() || !is_active(&pod) {
            return;
        }
        let info = Arc::new(PodInfo::new(pod));
        self.attach(&node, info.clone());
        self.pods.insert(
            uid,
            PodState {
                node,
                info,
                assumed: false,
            },
        );
    }

    /// A pod is gone (deleted).
    pub fn remove_pod(&mut self, uid: &str) {
        self.generation += 1;
        if let Some(old) = self.pods.remove(uid) {
            self.detach(&old.node, uid);
        }
    }

    /// Counts `pod` on `node` before its binding exists.
    pub fn assume(&mut self, info: Arc<PodInfo>, node: &str) {
        self.generation += 1;
        let uid = info.pod.metadata.uid.clone().unwrap_or_default();
        if let Some(old) = self.pods.remove(&uid) {
            self.detach(&old.node, &uid);
        }
        self.attach(node, info.clone());
        self.pods.insert(
            uid,
            PodState {
                node: node.to_owned(),
                info,
                assumed: true,
            },
        );
    }

    /// The binding of an assumed pod failed: it no longer counts.
    pub fn forget(&mut self, uid: &str) {
        if self.pods.get(uid).is_some_and(|s| s.assumed) {
            self.remove_pod(uid);
        }
    }

    /// A relist of the pods is complete and `seen` holds the uids it listed: pods it did not
    /// list were deleted while the watch was away, and no longer count. That includes
    /// assumed ones: a pod is assumed only once the watch has shown it, so it was created
    /// before the list, which shows every pod still there (bound or not).
    pub fn retain_listed_pods(&mut self, seen: &HashSet<String>) {
        let gone: Vec<String> = self
            .pods
            .iter()
            .filter(|(uid, _)| !seen.contains(uid.as_str()))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in gone {
            self.remove_pod(&uid);
        }
    }

    /// A relist of the nodes is complete and `seen` holds the names it listed: nodes it did
    /// not list were deleted while the watch was away.
    pub fn retain_listed_nodes(&mut self, seen: &HashSet<String>) {
        let gone: Vec<String> = self
            .nodes
            .iter()
            .map(|n| n.name().to_owned())
            .filter(|name| !seen.contains(name))
            .collect();
        for name in gone {
            self.remove_node(&name);
        }
    }

    /// Whether the pod is assumed (chosen here, its binding not yet seen by the watch).
    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|s| s.assumed)
    }

    /// Whether the pod is known (bound or assumed).
    pub fn has_pod(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// The node a known pod is on.
    pub fn node_of(&self, uid: &str) -> Option<&str> {
        self.pods.get(uid).map(|s| s.node.as_str())
    }

    /// The number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// What one scheduling cycle sees.
    pub fn snapshot(&mut self) -> Snapshot {
        let index = self
            .shared_index
            .get_or_insert_with(|| Arc::new(self.index.clone()))
            .clone();
        Snapshot::with_index(self.nodes.clone(), self.generations.clone(), index)
            .with_shared_namespace_labels(self.namespace_labels.clone())
    }

    /// Records a namespace's labels; a change may let pods with namespace-selecting
    /// affinity terms fit. Returns whether anything changed.
    pub fn set_namespace_labels(&mut self, namespace: &str, labels: Labels) -> bool {
        if self.namespace_labels.get(namespace) == Some(&labels) {
            return false;
        }
        self.generation += 1;
        Arc::make_mut(&mut self.namespace_labels).insert(namespace.to_owned(), labels);
        true
    }

    /// Forgets a deleted namespace.
    pub fn remove_namespace(&mut self, namespace: &str) {
        if self.namespace_labels.contains_key(namespace) {
            self.generation += 1;
            Arc::make_mut(&mut self.namespace_labels).remove(namespace);
        }
    }

    /// The pod info of a known pod.
    pub fn pod_info(&self, uid: &str) -> Option<Arc<PodInfo>> {
        self.pods.get(uid).map(|s| s.info.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::pod;
    use serde_json::json;

    fn node(name: &str) -> Arc<Node> {
        Arc::new(serde_json::from_value(json!({"metadata": {"name": name}})).unwrap())
    }

    /// The snapshot's generations are its nodes', position by position.
    fn in_step(cache: &mut Cache) {
        let snapshot = cache.snapshot();
        let actual: Vec<u64> = snapshot.nodes.iter().map(|n| n.generation).collect();
        assert_eq!(*snapshot.generations, actual);
    }

    #[test]
    fn generations_stay_in_step_with_the_nodes() {
        let mut cache = Cache::new();
        for name in ["a", "b", "c"] {
            cache.upsert_node(node(name));
        }
        in_step(&mut cache);
        let held = cache.snapshot();
        cache.assume(pod(json!({"metadata": {"name": "p1"}})), "b");
        in_step(&mut cache);
        assert_ne!(held.generations[1], cache.snapshot().generations[1]);
        cache.assume(pod(json!({"metadata": {"name": "p1"}})), "c");
        in_step(&mut cache);
        cache.remove_node("a");
        in_step(&mut cache);
        cache.upsert_node(node("c"));
        in_step(&mut cache);
        cache.forget("p1");
        in_step(&mut cache);
        cache.upsert_node(node("a"));
        in_step(&mut cache);
    }

    fn bound(name: &str, node: &str) -> Arc<Pod> {
        let info = pod(json!({"metadata": {"name": name}, "spec": {"nodeName": node}}));
        info.pod.clone()
    }

    #[test]
    fn a_relist_drops_what_it_did_not_list() {
        let mut cache = Cache::new();
        for name in ["a", "b"] {
            cache.upsert_node(node(name));
        }
        cache.upsert_bound_pod(bound("kept", "a"));
        cache.upsert_bound_pod(bound("deleted-meanwhile", "a"));
        cache.assume(pod(json!({"metadata": {"name": "binding"}})), "b");
        cache.assume(
            pod(json!({"metadata": {"name": "assumed-then-deleted"}})),
            "b",
        );
        assert!(cache.is_assumed("binding"));
        let listed: HashSet<String> = ["kept".to_owned(), "binding".to_owned()].into();
        cache.retain_listed_pods(&listed);
        assert!(cache.has_pod("kept"));
        assert!(!cache.has_pod("deleted-meanwhile"));
        assert!(
            cache.has_pod("binding"),
            "a listed assumed pod waits for its binding"
        );
        assert!(!cache.has_pod("assumed-then-deleted"));
        let snapshot = cache.snapshot();
        let on = |n: &str| snapshot.nodes[snapshot.position(n).unwrap()].pods.len();
        assert_eq!((on("a"), on("b")), (1, 1));

        cache.retain_listed_nodes(&["b".to_owned()].into());
        assert_eq!(cache.node_count(), 1);
        assert_eq!(cache.snapshot().nodes[0].name(), "b");
    }
}
