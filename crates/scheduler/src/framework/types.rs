//! What the plugins see: pods with their precomputed scheduling data, nodes with the pods
//! assigned to them, and the snapshot of all nodes one scheduling cycle works on.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, PodAffinityTerm, WeightedPodAffinityTerm};

use super::labels::{Labels, Selector, pod_labels};
use crate::resources::{Resources, node_allocatable, non_zero_requests, pod_requests};

/// A processed `PodAffinityTerm` (upstream's `framework.AffinityTerm`).
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    /// Namespaces listed by the term; the owning pod's namespace when the term lists none and
    /// has no namespace selector.
    pub namespaces: BTreeSet<String>,
    /// Which pods the term selects.
    pub selector: Selector,
    /// The node label that defines a topology domain.
    pub topology_key: String,
    /// Which namespaces (by their labels) the term covers besides `namespaces`; a missing
    /// selector matches no namespace.
    pub namespace_selector: Selector,
}

impl AffinityTerm {
    fn new(owner: &Pod, term: &PodAffinityTerm) -> Result<AffinityTerm, String> {
        let selector = Selector::from_label_selector(term.label_selector.as_ref())?;
        let namespace_selector = Selector::from_label_selector(term.namespace_selector.as_ref())?;
        let listed = term.namespaces.as_deref().unwrap_or(&[]);
        let namespaces = if listed.is_empty() && term.namespace_selector.is_none() {
            [pod_namespace(owner).to_string()].into_iter().collect()
        } else {
            listed.iter().cloned().collect()
        };
        Ok(AffinityTerm {
            namespaces,
            selector,
            topology_key: term.topology_key.clone(),
            namespace_selector,
        })
    }

    /// Whether `pod` (whose namespace has labels `namespace_labels`) is selected by the term.
    pub fn matches(&self, pod: &Pod, namespace_labels: &Labels) -> bool {
        (self.namespaces.contains(pod_namespace(pod))
            || self.namespace_selector.matches(namespace_labels))
            && self.selector.matches(pod_labels(pod))
    }
}

/// A processed weighted (preferred) affinity term.
#[derive(Debug, Clone)]
pub struct WeightedAffinityTerm {
    /// The term.
    pub term: AffinityTerm,
    /// Its weight (1-100).
    pub weight: i32,
}

/// A pod's host port: (protocol, host IP, port), sanitised as upstream (empty IP → `0.0.0.0`,
/// empty protocol → `TCP`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The host IP, `0.0.0.0` for all.
    pub ip: String,
    /// The host port (> 0).
    pub port: i32,
}

/// The wildcard host IP.
pub const DEFAULT_BIND_ALL_HOST_IP: &str = "0.0.0.0";

/// A pod's namespace ("" when unset).
pub fn pod_namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("")
}

/// The host ports a pod uses: regular containers and restartable (sidecar) init containers.
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    sidecars
        .chain(spec.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|hp| *hp > 0)?;
            let ip = p
                .host_ip
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or(DEFAULT_BIND_ALL_HOST_IP);
            let protocol = p
                .protocol
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or("TCP");
            Some(HostPort {
                protocol: protocol.to_string(),
                ip: ip.to_string(),
                port,
            })
        })
        .collect()
}

/// Host ports in use on a node, by IP (upstream's `HostPortInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPortInfo {
    by_ip: HashMap<String, HashSet<(String, i32)>>,
}

impl HostPortInfo {
    /// Records a port as used.
    pub fn add(&mut self, hp: &HostPort) {
        self.by_ip
            .entry(hp.ip.clone())
            .or_default()
            .insert((hp.protocol.clone(), hp.port));
    }

    /// Releases a port.
    pub fn remove(&mut self, hp: &HostPort) {
        if let Some(set) = self.by_ip.get_mut(&hp.ip) {
            set.remove(&(hp.protocol.clone(), hp.port));
            if set.is_empty() {
                self.by_ip.remove(&hp.ip);
            }
        }
    }

    /// Whether using `hp` would conflict: a wildcard IP conflicts with the same
    /// (protocol, port) on any IP; a specific IP with the same IP or the wildcard.
    pub fn conflicts(&self, hp: &HostPort) -> bool {
        let key = (hp.protocol.clone(), hp.port);
        if hp.ip == DEFAULT_BIND_ALL_HOST_IP {
            return self.by_ip.values().any(|set| set.contains(&key));
        }
        [DEFAULT_BIND_ALL_HOST_IP, hp.ip.as_str()]
            .iter()
            .any(|ip| self.by_ip.get(*ip).is_some_and(|set| set.contains(&key)))
    }

    /// Number of distinct (IP, protocol, port) entries.
    pub fn len(&self) -> usize {
        self.by_ip.values().map(HashSet::len).sum()
    }

    /// Whether no port is in use.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }
}

/// A pod with what scheduling needs precomputed (upstream's `framework.PodInfo`).
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// The pod.
    pub pod: Arc<Pod>,
    /// Its effective requests ([`pod_requests`]).
    pub requests: Resources,
    /// Its requests with scoring's non-zero defaults ([`non_zero_requests`]).
    pub non_zero: Resources,
    /// Required pod affinity terms.
    pub required_affinity_terms: Vec<AffinityTerm>,
    /// Required pod anti-affinity terms.
    pub required_anti_affinity_terms: Vec<AffinityTerm>,
    /// Preferred pod affinity terms.
    pub preferred_affinity_terms: Vec<WeightedAffinityTerm>,
    /// Preferred pod anti-affinity terms.
    pub preferred_anti_affinity_terms: Vec<WeightedAffinityTerm>,
    /// Host ports the pod uses.
    pub host_ports: Vec<HostPort>,
    /// Why some affinity term could not be parsed (invalid selector), if any.
    pub parse_error: Option<String>,
    /// The selector of the Services, ReplicationController, ReplicaSet or StatefulSet that
    /// select/own the pod (upstream's `DefaultSelector`), set by the caller (see
    /// [`crate::plugins::pod_topology_spread::default_spread_selector`]); when set, a pod
    /// without spread constraints is spread with upstream's system default constraints
    /// (hostname maxSkew 3, zone maxSkew 5, ScheduleAnyway). `None` after [`PodInfo::new`].
    pub default_spread_selector: Option<Selector>,
    /// The normalized image names, computed when first asked for (see
    /// [`crate::framework::pod_images`]).
    pub(crate) images: std::sync::OnceLock<Vec<String>>,
    /// Each of its labels as [`label_pair`] of its namespace, key and value.
    pub label_pairs: Vec<u64>,
}

/// A hash of a (namespace, label key, label value) triple: what [`NodeInfo`] counts its pods
/// by, so that a selector asking for one label value can skip nodes without such a pod.
pub fn label_pair(namespace: &str, key: &str, value: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0).hash_one((namespace, key, value))
}

impl PodInfo {
    /// Precomputes a pod's scheduling data; never fails (parse errors land in `parse_error`).
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let mut errors = Vec::new();
        let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let required = |terms: Option<&Vec<PodAffinityTerm>>, errors: &mut Vec<String>| {
            terms
                .into_iter()
                .flatten()
                .filter_map(|t| AffinityTerm::new(&pod, t).map_err(|e| errors.push(e)).ok())
                .collect::<Vec<_>>()
        };
        let preferred = |terms: Option<&Vec<WeightedPodAffinityTerm>>, errors: &mut Vec<String>| {
            terms
                .into_iter()
                .flatten()
                .filter_map(|t| {
                    AffinityTerm::new(&pod, &t.pod_affinity_term)
                        .map(|term| WeightedAffinityTerm {
                            term,
                            weight: t.weight,
                        })
                        .map_err(|e| errors.push(e))
                        .ok()
                })
                .collect::<Vec<_>>()
        };
        let required_affinity_terms = required(
            pa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &mut errors,
        );
        let required_anti_affinity_terms = required(
            paa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &mut errors,
        );
        let preferred_affinity_terms = preferred(
            pa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &mut errors,
        );
        let preferred_anti_affinity_terms = preferred(
            paa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &mut errors,
        );
        let namespace = pod_namespace(&pod);
        let label_pairs = pod_labels(&pod)
            .iter()
            .map(|(k, v)| label_pair(namespace, k, v))
            .collect();
        PodInfo {
            label_pairs,
            requests: pod_requests(&pod),
            non_zero: non_zero_requests(&pod),
            host_ports: host_ports(&pod),
            required_affinity_terms,
            required_anti_affinity_terms,
            preferred_affinity_terms,
            preferred_anti_affinity_terms,
            parse_error: if errors.is_empty() {
                None
            } else {
                Some(errors.join(", "))
            },
            default_spread_selector: None,
            images: std::sync::OnceLock::new(),
            pod,
        }
    }

    /// The pod's UID ("" when unset).
    pub fn uid(&self) -> &str {
        self.pod.metadata.uid.as_deref().unwrap_or("")
    }

    /// The pod's namespace.
    pub fn namespace(&self) -> &str {
        pod_namespace(&self.pod)
    }

    /// Whether the pod has any pod affinity or anti-affinity terms.
    pub fn has_affinity(&self) -> bool {
        !self.required_affinity_terms.is_empty()
            || !self.required_anti_affinity_terms.is_empty()
            || !self.preferred_affinity_terms.is_empty()
            || !self.preferred_anti_affinity_terms.is_empty()
    }

    /// Whether the pod is being deleted.
    pub fn is_terminating(&self) -> bool {
        self.pod.metadata.deletion_timestamp.is_some()
    }
}

/// A node and the pods assigned to it (upstream's `framework.NodeInfo`).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The node.
    pub node: Arc<Node>,
    /// Pods assigned to the node (bound or assumed).
    pub pods: Vec<Arc<PodInfo>>,
    /// Sum of the pods' requests.
    pub requested: Resources,
    /// Sum of the pods' non-zero requests (cpu and memory only).
    pub non_zero_requested: Resources,
    /// The node's allocatable resources.
    pub allocatable: Resources,
    /// Host ports in use.
    pub used_ports: HostPortInfo,
    /// Image sizes in bytes from `status.images`, under every name of each image.
    pub image_sizes: HashMap<String, i64>,
    /// How many of the pods have any affinity or anti-affinity terms.
    pub pods_with_affinity: usize,
    /// How many of the pods have required anti-affinity terms.
    pub pods_with_required_anti_affinity: usize,
    /// Changes whenever the pods change; unique across every NodeInfo of the process, so
    /// per-node results can be memoized by (node, generation).
    pub generation: u64,
    /// The node's `kubernetes.io/hostname` label, kept beside it: topology spreading reads
    /// it for every node of every pod, and a label map lookup compares many long keys.
    pub hostname_label: Option<Arc<str>>,
    /// The node's `topology.kubernetes.io/zone` label, kept the same way.
    pub zone_label: Option<Arc<str>>,
    /// How many of the pods carry each [`label_pair`]. Counting the pods a selector
    /// matches visited every pod of every node; at 150,000 pods that took ~0.2 s for each
    /// pod of a new ReplicaSet, whose pods no node has yet.
    label_pairs: foldhash::HashMap<u64, u32>,
}

/// The next [`NodeInfo::generation`].
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl NodeInfo {
    /// A node without pods.
    pub fn new(node: Arc<Node>) -> NodeInfo {
        let mut image_sizes = HashMap::new();
        for image in node.status.iter().flat_map(|s| s.images.iter().flatten()) {
            for name in image.names.iter().flatten() {
                image_sizes.insert(name.clone(), image.size_bytes.unwrap_or(0));
            }
        }
        let labels = super::labels::node_labels(&node);
        let label = |key: &str| labels.get(key).map(|v| Arc::from(v.as_str()));
        let (hostname_label, zone_label) = (
            label("kubernetes.io/hostname"),
            label("topology.kubernetes.io/zone"),
        );
        NodeInfo {
            hostname_label,
            zone_label,
            allocatable: node_allocatable(&node),
            node,
            pods: Vec::new(),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            used_ports: HostPortInfo::default(),
            image_sizes,
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
            generation: next_generation(),
            label_pairs: foldhash::HashMap::default(),
        }
    }

    /// Whether some pod here may be in `namespace` with label `key` = `value` (false: none
    /// is; true may be a hash collision, so the pods must still be looked at).
    pub fn may_have_pod_labelled(&self, namespace: &str, key: &str, value: &str) -> bool {
        self.label_pairs
            .contains_key(&label_pair(namespace, key, value))
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        self.node.metadata.name.as_deref().unwrap_or("")
    }

    /// The node's labels.
    pub fn labels(&self) -> &Labels {
        super::labels::node_labels(&self.node)
    }

    /// Replaces the node object (allocatable and images are recomputed; pods are kept).
    pub fn set_node(&mut self, node: Arc<Node>) {
        let pods = std::mem::take(&mut self.pods);
        *self = NodeInfo::new(node);
        for p in pods {
            self.add_pod(p);
        }
    }

    /// Adds a pod and accounts for its requests and host ports.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.generation = next_generation();
        self.requested.add(&pod.requests);
        self.non_zero_requested.add(&pod.non_zero);
        for hp in &pod.host_ports {
            self.used_ports.add(hp);
        }
        self.pods_with_affinity += usize::from(pod.has_affinity());
        self.pods_with_required_anti_affinity +=
            usize::from(!pod.required_anti_affinity_terms.is_empty());
        for pair in &pod.label_pairs {
            *self.label_pairs.entry(*pair).or_default() += 1;
        }
        self.pods.push(pod);
    }

    /// Removes the pod with this UID; returns whether it was there.
    pub fn remove_pod(&mut self, uid: &str) -> bool {
        let Some(idx) = self.pods.iter().position(|p| p.uid() == uid) else {
            return false;
        };
        let pod = self.pods.swap_remove(idx);
        self.generation = next_generation();
        self.requested.sub(&pod.requests);
        self.non_zero_requested.sub(&pod.non_zero);
        for hp in &pod.host_ports {
            self.used_ports.remove(hp);
        }
        self.pods_with_affinity -= usize::from(pod.has_affinity());
        self.pods_with_required_anti_affinity -=
            usize::from(!pod.required_anti_affinity_terms.is_empty());
        for pair in &pod.label_pairs {
            if let Some(n) = self.label_pairs.get_mut(pair) {
                *n -= 1;
                if *n == 0 {
                    self.label_pairs.remove(pair);
                }
            }
        }
        true
    }

    /// Pods with required anti-affinity terms.
    pub fn pods_with_required_anti_affinity(&self) -> impl Iterator<Item = &Arc<PodInfo>> {
        let any = self.pods_with_required_anti_affinity > 0;
        self.pods
            .iter()
            .take(if any { usize::MAX } else { 0 })
            .filter(|p| !p.required_anti_affinity_terms.is_empty())
    }
}

/// The nodes (with their pods) one scheduling cycle sees, plus namespace labels for
/// affinity terms with namespace selectors.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// All nodes (shared with the cache while no node changes).
    pub nodes: Arc<Vec<Arc<NodeInfo>>>,
    /// Each node's [`NodeInfo::generation`], by position.
    pub generations: Arc<Vec<u64>>,
    index: Arc<foldhash::HashMap<String, usize>>,
    /// Labels of every namespace, by name (shared with the cache, not copied per cycle).
    pub namespace_labels: Arc<HashMap<String, Labels>>,
}

static NO_LABELS: Labels = BTreeMap::new();

impl Snapshot {
    /// A snapshot of these nodes.
    pub fn new(nodes: Vec<Arc<NodeInfo>>) -> Snapshot {
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name().to_string(), i))
            .collect();
        let generations = nodes.iter().map(|n| n.generation).collect();
        Snapshot::with_index(Arc::new(nodes), Arc::new(generations), Arc::new(index))
    }

    /// A snapshot of these nodes with their name → position index already made (the cache
    /// keeps one, so a cycle does not rebuild it).
    pub fn with_index(
        nodes: Arc<Vec<Arc<NodeInfo>>>,
        generations: Arc<Vec<u64>>,
        index: Arc<foldhash::HashMap<String, usize>>,
    ) -> Snapshot {
        Snapshot {
            nodes,
            generations,
            index,
            namespace_labels: Arc::default(),
        }
    }

    /// Sets the namespace labels (namespace name → labels).
    pub fn with_namespace_labels(self, labels: HashMap<String, Labels>) -> Snapshot {
        self.with_shared_namespace_labels(Arc::new(labels))
    }

    /// Sets the namespace labels from a map shared with the cache.
    pub fn with_shared_namespace_labels(
        mut self,
        labels: Arc<HashMap<String, Labels>>,
    ) -> Snapshot {
        self.namespace_labels = labels;
        self
    }

    /// The position in [`Snapshot::nodes`] of the node with this name.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The node with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.index.get(name).and_then(|i| self.nodes.get(*i))
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A namespace's labels (empty when unknown).
    pub fn labels_of_namespace(&self, namespace: &str) -> &Labels {
        self.namespace_labels.get(namespace).unwrap_or(&NO_LABELS)
    }
}
