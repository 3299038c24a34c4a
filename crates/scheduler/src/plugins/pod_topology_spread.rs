//! PodTopologySpread: `DoNotSchedule` constraints filter nodes whose domain would exceed
//! `maxSkew` (honouring `minDomains`, `nodeAffinityPolicy`, `nodeTaintsPolicy` and
//! `matchLabelKeys`); `ScheduleAnyway` constraints score nodes (fewer matching pods in the
//! node's domains is better).

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::framework::labels::{
    Labels, Operator, RequiredNodeAffinity, Requirement, Selector, find_untolerated_taint,
    is_do_not_schedule_taint, node_taints, pod_labels, pod_tolerations,
};
use crate::framework::{
    Code, CycleState, FilterPlugin, MAX_NODE_SCORE, NodeInfo, Plugin, PodInfo, PreFilterPlugin,
    PreScorePlugin, ScorePlugin, Snapshot, Status,
};
use crate::plugins::names::POD_TOPOLOGY_SPREAD;

#[cfg(test)]
mod tests;

/// Upstream's reason when a node's domain would exceed `maxSkew`.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// Upstream's reason when a node lacks a constraint's topology label.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const PRE_FILTER_KEY: &str = "PreFilterPodTopologySpread";
const PRE_SCORE_KEY: &str = "PreScorePodTopologySpread";
/// Score returned for nodes ignored by scoring (missing topology labels); normalized to 0.
const INVALID_SCORE: i64 = -1;

/// The PodTopologySpread filter and score.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodTopologySpread;

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        POD_TOPOLOGY_SPREAD
    }
}

/// A pod's spread constraint with its selector parsed and defaults applied.
#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    topology_key: String,
    /// `topology_key`, resolved once.
    key: Key,
    selector: Selector,
    min_domains: usize,
    honor_node_affinity: bool,
    honor_node_taints: bool,
}

/// A topology key: the two that default spreading uses (kept on [`NodeInfo`]), or another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Hostname,
    Zone,
    Other,
}

impl Key {
    fn of(topology_key: &str) -> Key {
        match topology_key {
            HOSTNAME_LABEL => Key::Hostname,
            ZONE_LABEL => Key::Zone,
            _ => Key::Other,
        }
    }
}

/// The node's value of the constraint's topology key (`None`: the node lacks it).
fn value<'a>(node: &'a NodeInfo, c: &Constraint) -> Option<&'a str> {
    match c.key {
        Key::Hostname => node.hostname_label.as_deref(),
        Key::Zone => node.zone_label.as_deref(),
        Key::Other => node.labels().get(&c.topology_key).map(String::as_str),
    }
}

impl Constraint {
    fn includes_node(
        &self,
        pod: &PodInfo,
        node: &NodeInfo,
        required: &RequiredNodeAffinity,
    ) -> bool {
        if self.honor_node_affinity && !required.matches(&node.node) {
            return false;
        }
        if self.honor_node_taints
            && find_untolerated_taint(
                node_taints(&node.node),
                pod_tolerations(&pod.pod),
                is_do_not_schedule_taint,
            )
            .is_some()
        {
            return false;
        }
        true
    }
}

/// The pod's constraints with `whenUnsatisfiable == action`.
fn constraints(pod: &PodInfo, action: &str) -> Result<Vec<Constraint>, String> {
    let labels = pod_labels(&pod.pod);
    let mut out = Vec::new();
    let all = pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref());
    for c in all
        .into_iter()
        .flatten()
        .filter(|c| c.when_unsatisfiable == action)
    {
        let mut selector = Selector::from_label_selector(c.label_selector.as_ref())?;
        let keyed: Labels = c
            .match_label_keys
            .iter()
            .flatten()
            .filter_map(|k| labels.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        if !keyed.is_empty() {
            let mut merged = Selector::from_map(&keyed);
            if let Selector::Requirements(reqs) = selector {
                reqs.into_iter().for_each(|r: Requirement| merged.add(r));
            }
            selector = merged;
        }
        out.push(Constraint {
            max_skew: i64::from(c.max_skew),
            topology_key: c.topology_key.clone(),
            key: Key::of(&c.topology_key),
            selector,
            min_domains: c.min_domains.map_or(1, |m| usize::try_from(m).unwrap_or(0)),
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        });
    }
    Ok(out)
}

/// Whether the pod declares any spread constraint at all.
fn has_own_constraints(pod: &PodInfo) -> bool {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref())
        .is_some_and(|c| !c.is_empty())
}

/// Upstream's system default constraints (all ScheduleAnyway) with the pod's default
/// selector; none without a (non-empty) default selector.
fn system_default_constraints(pod: &PodInfo) -> Vec<Constraint> {
    let Some(selector) = pod
        .default_spread_selector
        .clone()
        .filter(|s| !s.is_everything())
    else {
        return Vec::new();
    };
    [(HOSTNAME_LABEL, 3), (ZONE_LABEL, 5)]
        .into_iter()
        .map(|(key, skew)| Constraint {
            max_skew: skew,
            topology_key: key.to_string(),
            key: Key::of(key),
            selector: selector.clone(),
            min_domains: 1,
            honor_node_affinity: true,
            honor_node_taints: false,
        })
        .collect()
}

/// The controller's selector requirements (ReplicaSet/StatefulSet label selectors).
fn owner_requirements(selector: Option<&LabelSelector>) -> Vec<Requirement> {
    match Selector::from_label_selector(selector) {
        Ok(Selector::Requirements(r)) => r,
        _ => Vec::new(),
    }
}

/// Upstream's `DefaultSelector`: the merged selectors of the Services (in the pod's
/// namespace, non-nil selector matching the pod) and of the pod's controlling
/// ReplicationController, ReplicaSet or StatefulSet (found by owner reference). `None` when
/// nothing selects the pod. Set the result on [`PodInfo::default_spread_selector`].
pub fn default_spread_selector<'a>(
    pod: &Pod,
    services: impl IntoIterator<Item = &'a Service>,
    replication_controllers: impl IntoIterator<Item = &'a ReplicationController>,
    replica_sets: impl IntoIterator<Item = &'a ReplicaSet>,
    stateful_sets: impl IntoIterator<Item = &'a StatefulSet>,
) -> Option<Selector> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("");
    let labels = pod_labels(pod);
    let in_ns = |ns: &Option<String>| ns.as_deref().unwrap_or("") == namespace;
    let mut set = Labels::new();
    for svc in services
        .into_iter()
        .filter(|s| in_ns(&s.metadata.namespace))
    {
        let Some(sel) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
            continue;
        };
        if Selector::from_map(sel).matches(labels) {
            set.extend(sel.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    let mut extra: Vec<Requirement> = Vec::new();
    let owner = rkube_api::meta::controller_of(&pod.metadata);
    if let Some(owner) = owner {
        let named = |meta: &ObjectMeta| {
            meta.name.as_deref() == Some(owner.name.as_str()) && in_ns(&meta.namespace)
        };
        match (owner.api_version.as_str(), owner.kind.as_str()) {
            ("v1", "ReplicationController") => {
                let rc = replication_controllers
                    .into_iter()
                    .find(|rc| named(&rc.metadata));
                if let Some(sel) = rc
                    .and_then(|rc| rc.spec.as_ref())
                    .and_then(|s| s.selector.as_ref())
                {
                    set.extend(sel.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            ("apps/v1", "ReplicaSet") => {
                let rs = replica_sets.into_iter().find(|rs| named(&rs.metadata));
                extra = owner_requirements(rs.and_then(|rs| rs.spec.as_ref()).map(|s| &s.selector));
            }
            ("apps/v1", "StatefulSet") => {
                let ss = stateful_sets.into_iter().find(|ss| named(&ss.metadata));
                extra = owner_requirements(ss.and_then(|ss| ss.spec.as_ref()).map(|s| &s.selector));
            }
            _ => {}
        }
    }
    let mut selector = Selector::from_map(&set);
    extra.into_iter().for_each(|r| selector.add(r));
    if selector.is_everything() {
        None
    } else {
        Some(selector)
    }
}

fn has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    constraints.iter().all(|c| value(node, c).is_some())
}

/// Pods on the node in `namespace`, not terminating, selected by `selector`; `at` is the
/// node's position in the snapshot, under which the memo keeps its count.
fn count_matching(at: usize, node: &NodeInfo, selector: &Selector, namespace: &str) -> i64 {
    COUNTS.with(|memo| {
        memo.borrow_mut()
            .counts(selector, namespace)
            .count(at, node, selector, namespace)
    })
}

/// A label the selector requires with one value (`key=value`, or `key in (value)`), if any:
/// a node without a pod so labelled has no match.
fn required_label(selector: &Selector) -> Option<(&str, &str)> {
    let Selector::Requirements(requirements) = selector else {
        return None;
    };
    requirements
        .iter()
        .find_map(|r| match (&r.operator, r.values.len()) {
            (Operator::In, 1) => r.values.first().map(|v| (r.key.as_str(), v.as_str())),
            _ => None,
        })
}

/// Counts a node's pods in `namespace` matched by `selector`, ignoring terminating ones.
fn count_now(node: &NodeInfo, selector: &Selector, namespace: &str) -> i64 {
    if let Some((key, value)) = required_label(selector)
        && !node.may_have_pod_labelled(namespace, key, value)
    {
        return 0;
    }
    node.pods
        .iter()
        .filter(|p| !p.is_terminating() && p.namespace() == namespace)
        .filter(|p| selector.matches(pod_labels(&p.pod)))
        .count() as i64
}

/// How many recent (namespace, selector) pairs keep their per-node counts: pods of many
/// ReplicaSets are scheduled interleaved, and a miss recounts every node's pods.
const MEMO_SELECTORS: usize = 64;

/// One selector's counts by the node's position in the snapshot: (the node's generation,
/// its matching pods then). Positions need no hashing of node names (a pass over 5,000
/// nodes per pod did little else); a position that now holds another node, or the same
/// node changed, has another generation (generations are unique per process, and 0 is
/// none's), so it is counted again. Per topology key, the totals of every domain are kept
/// up to date from the nodes that changed.
#[derive(Default)]
struct NodeCounts {
    nodes: Vec<(u64, i64)>,
    domains: Vec<DomainTotals>,
}

/// The matching pods of every domain of one topology key, over all nodes.
#[derive(Default)]
struct DomainTotals {
    key: String,
    /// By position: (generation, domain, matching pods) as added to `totals`.
    seen: Vec<(u64, usize, i64)>,
    /// The domains (topology values; "" for nodes without the key) and their totals.
    values: Vec<String>,
    totals: Vec<i64>,
}

impl NodeCounts {
    /// The matching pods of the node at position `at`, recounted only when its generation
    /// changed.
    fn count(&mut self, at: usize, node: &NodeInfo, selector: &Selector, namespace: &str) -> i64 {
        if at >= self.nodes.len() {
            self.nodes.resize(at + 1, (0, 0));
        }
        let (generation, n) = self.nodes[at];
        if generation == node.generation {
            return n;
        }
        let n = count_now(node, selector, namespace);
        self.nodes[at] = (node.generation, n);
        n
    }

    /// The matching pods of every domain of `key` over all `nodes`: (domain, total) pairs.
    /// Only nodes whose generation changed since the last call are looked at again.
    fn domain_totals(
        &mut self,
        key: &str,
        nodes: &[Arc<NodeInfo>],
        generations: &[u64],
        selector: &Selector,
        namespace: &str,
    ) -> impl Iterator<Item = (&str, i64)> {
        let at = match self.domains.iter().position(|d| d.key == key) {
            Some(i) => i,
            None => {
                self.domains.push(DomainTotals {
                    key: key.to_owned(),
                    ..DomainTotals::default()
                });
                self.domains.len() - 1
            }
        };
        let mut d = std::mem::take(&mut self.domains[at]);
        // Positions past the last node (nodes removed) no longer count.
        for &(generation, domain, n) in d.seen.iter().skip(nodes.len()) {
            if generation != 0 {
                d.totals[domain] -= n;
            }
        }
        d.seen.resize(nodes.len(), (0, 0, 0));
        // The generations are read side by side; only a changed node is looked at.
        for (position, &current) in generations.iter().enumerate() {
            let (generation, domain, n) = d.seen[position];
            if generation == current {
                continue;
            }
            let node = &nodes[position];
            if generation != 0 {
                d.totals[domain] -= n;
            }
            let value = node.labels().get(key).map_or("", String::as_str);
            let domain = match d.values.iter().position(|v| v == value) {
                Some(i) => i,
                None => {
                    d.values.push(value.to_owned());
                    d.totals.push(0);
                    d.values.len() - 1
                }
            };
            let n = self.count(position, node, selector, namespace);
            d.totals[domain] += n;
            d.seen[position] = (node.generation, domain, n);
        }
        self.domains[at] = d;
        let d = &self.domains[at];
        d.values
            .iter()
            .map(String::as_str)
            .zip(d.totals.iter().copied())
    }
}

/// Per-node counts of matching pods for the last few selectors, valid while the node's
/// generation is unchanged. Consecutive pods of one ReplicaSet ask for the same counts over
/// every node (system default spreading counts a whole zone); between two of them only the
/// node that got the previous pod has changed, so all the others are answered from here.
#[derive(Default)]
struct CountMemo {
    /// Most recent last: (namespace, selector) and its counts.
    entries: Vec<((String, Selector), NodeCounts)>,
}

impl CountMemo {
    /// The counts kept for a selector (made most recent), new and empty when there are none.
    fn counts(&mut self, selector: &Selector, namespace: &str) -> &mut NodeCounts {
        // Most recent first: the usual hit is the last entry.
        let at = self
            .entries
            .iter()
            .rposition(|((ns, sel), _)| ns == namespace && sel == selector);
        match at {
            Some(i) if i + 1 == self.entries.len() => {}
            Some(i) => {
                let entry = self.entries.remove(i);
                self.entries.push(entry);
            }
            None => {
                if self.entries.len() == MEMO_SELECTORS {
                    self.entries.remove(0);
                }
                self.entries.push((
                    (namespace.to_owned(), selector.clone()),
                    NodeCounts::default(),
                ));
            }
        }
        let last = self.entries.len() - 1;
        &mut self.entries[last].1
    }
}

thread_local! {
    /// Per thread: the scheduling loop runs on one task at a time, and a thread-local memo
    /// needs no lock. Generations are unique per process, so a stale entry never matches.
    static COUNTS: std::cell::RefCell<CountMemo> = std::cell::RefCell::default();
}

/// What PreFilter computes for Filter.
#[derive(Debug, Clone)]
struct PreFilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: topology value → matching pods.
    matches: Vec<HashMap<String, i64>>,
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status {
        let constraints = match constraints(pod, "DoNotSchedule") {
            Ok(c) => c,
            Err(e) => return Status::error(format!("get constraints from pod: {e}")),
        };
        if constraints.is_empty() {
            return Status::skip();
        }
        let required = RequiredNodeAffinity::from_pod(&pod.pod);
        let mut matches = vec![HashMap::new(); constraints.len()];
        for (at, node) in snapshot.nodes.iter().enumerate() {
            if !has_all_keys(node, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !c.includes_node(pod, node, &required) {
                    continue;
                }
                let value = value(node, c).unwrap_or_default().to_owned();
                *matches[i].entry(value).or_insert(0) +=
                    count_matching(at, node, &c.selector, pod.namespace());
            }
        }
        state.write(
            PRE_FILTER_KEY,
            PreFilterState {
                constraints,
                matches,
            },
        );
        Status::success()
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
            return Status::error(format!(
                "reading {PRE_FILTER_KEY:?} from cycleState: not found"
            ));
        };
        let labels = pod_labels(&pod.pod);
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = value(node, c) else {
                return Status::new(
                    Code::UnschedulableAndUnresolvable,
                    ERR_REASON_NODE_LABEL_NOT_MATCH,
                );
            };
            let domains = &s.matches[i];
            let min_match = if domains.len() < c.min_domains {
                0
            } else {
                domains
                    .values()
                    .copied()
                    .min()
                    .unwrap_or(i64::from(i32::MAX))
            };
            let self_match = i64::from(c.selector.matches(labels));
            let match_num = domains.get(value).copied().unwrap_or(0);
            if match_num + self_match - min_match > c.max_skew {
                return Status::new(Code::Unschedulable, ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}

/// What PreScore computes for Score: each feasible node's raw score, by the node's
/// generation (unique per node version), so that Score is one lookup per node.
#[derive(Debug, Clone)]
struct PreScoreState {
    /// Weighted matching-pod count of the node's domains; nodes lacking a topology key
    /// the pod requires are absent (ignored).
    scores: foldhash::HashMap<u64, i64>,
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        feasible: &[Arc<NodeInfo>],
    ) -> Status {
        if snapshot.is_empty() {
            return Status::skip();
        }
        // Nodes must have every topology key only for the pod's own constraints; system
        // default spreading still spreads by hostname on nodes without a zone.
        let require_all = has_own_constraints(pod);
        let constraints = if require_all {
            match constraints(pod, "ScheduleAnyway") {
                Ok(c) => c,
                Err(e) => {
                    return Status::error(format!(
                        "obtaining pod's soft topology spread constraints: {e}"
                    ));
                }
            }
        } else {
            system_default_constraints(pod)
        };
        if constraints.is_empty() {
            return Status::skip();
        }
        // Per feasible node: its value of each constraint's key (`None`: the node lacks
        // it), or no values at all when the node is ignored. Looked up once per node.
        let values: Vec<Option<Vec<Option<&str>>>> = feasible
            .iter()
            .map(|node| {
                let values: Vec<Option<&str>> =
                    constraints.iter().map(|c| value(node, c)).collect();
                (!require_all || values.iter().all(Option::is_some)).then_some(values)
            })
            .collect();
        let scored = values.iter().filter(|v| v.is_some()).count();
        // Per constraint (non-hostname keys): the feasible nodes' domains ("" for nodes
        // without the key) → matching pods over every counted node.
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
        for node_values in values.iter().flatten() {
            for (i, c) in constraints.iter().enumerate() {
                if c.key == Key::Hostname {
                    continue;
                }
                let value = node_values[i].unwrap_or("");
                if !counts[i].contains_key(value) {
                    counts[i].insert(value.to_owned(), 0);
                }
            }
        }
        let weights: Vec<f64> = constraints
            .iter()
            .zip(&counts)
            .map(|(c, m)| {
                let size = if c.key == Key::Hostname {
                    scored
                } else {
                    m.len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        let required = RequiredNodeAffinity::from_pod(&pod.pod);
        let mut scores = vec![0.0f64; feasible.len()];
        COUNTS.with(|memo| {
            let mut memo = memo.borrow_mut();
            for (i, c) in constraints.iter().enumerate() {
                // One memo lookup for the whole pass over the nodes.
                let memo = memo.counts(&c.selector, pod.namespace());
                let skew = (c.max_skew - 1) as f64;
                if c.key == Key::Hostname {
                    // A hostname domain is its node: counted for the feasible nodes only.
                    for (at, node) in feasible.iter().enumerate() {
                        if !matches!(&values[at], Some(v) if v[i].is_some()) {
                            continue;
                        }
                        let Some(position) = snapshot.position(node.name()) else {
                            continue;
                        };
                        let n = memo.count(position, node, &c.selector, pod.namespace());
                        scores[at] += n as f64 * weights[i] + skew;
                    }
                    continue;
                }
                if !require_all && !c.honor_node_taints && required.matches_every_node() {
                    // Every node counts (system default spreading, the common case): the
                    // memo's domain totals, which follow only the nodes that changed.
                    let totals = memo.domain_totals(
                        &c.topology_key,
                        &snapshot.nodes,
                        &snapshot.generations,
                        &c.selector,
                        pod.namespace(),
                    );
                    for (value, n) in totals {
                        if let Some(total) = counts[i].get_mut(value) {
                            *total += n;
                        }
                    }
                } else {
                    for (at, node) in snapshot.nodes.iter().enumerate() {
                        if require_all && !has_all_keys(node, &constraints) {
                            continue;
                        }
                        let value = node
                            .labels()
                            .get(&c.topology_key)
                            .map_or("", String::as_str);
                        let Some(total) = counts[i].get_mut(value) else {
                            continue;
                        };
                        if c.includes_node(pod, node, &required) {
                            *total += memo.count(at, node, &c.selector, pod.namespace());
                        }
                    }
                }
                for (at, node_values) in values.iter().enumerate() {
                    if let Some(Some(value)) = node_values.as_ref().map(|v| v[i]) {
                        let n = counts[i].get(value).copied().unwrap_or(0);
                        scores[at] += n as f64 * weights[i] + skew;
                    }
                }
            }
        });
        let scores = feasible
            .iter()
            .zip(&values)
            .zip(scores)
            .filter(|((_, values), _)| values.is_some())
            .map(|((node, _), score)| (node.generation, score.round() as i64))
            .collect();
        state.write(PRE_SCORE_KEY, PreScoreState { scores });
        Status::success()
    }
}

impl ScorePlugin for PodTopologySpread {
    /// Weighted matching-pod count of the node's domains (lower is better before
    /// normalization); ignored nodes give -1, which normalization turns into 0.
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(s) = state.read::<PreScoreState>(PRE_SCORE_KEY) else {
            return 0;
        };
        s.scores
            .get(&node.generation)
            .copied()
            .unwrap_or(INVALID_SCORE)
    }

    fn normalize(&self, state: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        if state.read::<PreScoreState>(PRE_SCORE_KEY).is_none() {
            return;
        }
        let valid = scores.iter().copied().filter(|s| *s != INVALID_SCORE);
        let min = valid.clone().min().unwrap_or(i64::MAX);
        let max = valid.max().unwrap_or(0).max(0);
        for s in scores.iter_mut() {
            *s = if *s == INVALID_SCORE {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                let v = i128::from(MAX_NODE_SCORE)
                    * (i128::from(max) + i128::from(min) - i128::from(*s))
                    / i128::from(max);
                i64::try_from(v).unwrap_or(0)
            };
        }
    }
}
