//! InterPodAffinity: required pod affinity/anti-affinity (and existing pods' anti-affinity
//! against the incoming pod) filter nodes by topology domain; preferred terms (both ways) and
//! existing pods' required affinity score them.

use std::collections::HashMap;
use std::sync::Arc;

use crate::framework::labels::Labels;
use crate::framework::{
    AffinityTerm, Code, CycleState, FilterPlugin, MAX_NODE_SCORE, NodeInfo, Plugin, PodInfo,
    PreFilterPlugin, PreScorePlugin, ScorePlugin, Snapshot, Status, pod_namespace,
};
use crate::plugins::names::INTER_POD_AFFINITY;

#[cfg(test)]
mod tests;

/// Upstream's reason when the incoming pod's required affinity is not satisfied.
pub const ERR_REASON_AFFINITY_RULES_NOT_MATCH: &str = "node(s) didn't match pod affinity rules";
/// Upstream's reason when the incoming pod's required anti-affinity is violated.
pub const ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH: &str =
    "node(s) didn't match pod anti-affinity rules";
/// Upstream's reason when an existing pod's required anti-affinity would be violated.
pub const ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

const PRE_FILTER_KEY: &str = "PreFilterInterPodAffinity";
const PRE_SCORE_KEY: &str = "PreScoreInterPodAffinity";

/// The InterPodAffinity filter and score.
#[derive(Debug, Clone)]
pub struct InterPodAffinity {
    /// Score weight of an existing pod's required affinity term the incoming pod matches
    /// (upstream's `hardPodAffinityWeight`, default 1).
    pub hard_pod_affinity_weight: i64,
    /// Whether existing pods' preferred terms are ignored when the incoming pod has none
    /// (upstream's `ignorePreferredTermsOfExistingPods`, default false).
    pub ignore_preferred_terms_of_existing_pods: bool,
}

impl Default for InterPodAffinity {
    fn default() -> Self {
        InterPodAffinity {
            hard_pod_affinity_weight: 1,
            ignore_preferred_terms_of_existing_pods: false,
        }
    }
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        INTER_POD_AFFINITY
    }
}

/// (topology key, topology value) → count.
type TopologyCounts = HashMap<(String, String), i64>;

fn bump(counts: &mut TopologyCounts, node: &NodeInfo, key: &str, by: i64) {
    if let Some(value) = node.labels().get(key) {
        let e = counts.entry((key.to_string(), value.clone())).or_insert(0);
        *e += by;
        if *e == 0 {
            counts.remove(&(key.to_string(), value.clone()));
        }
    }
}

/// What PreFilter computes for Filter.
#[derive(Debug, Clone, Default)]
struct PreFilterState {
    /// Domains where existing pods' required anti-affinity terms match the incoming pod.
    existing_anti_affinity_counts: TopologyCounts,
    /// Domains with pods matching all of the incoming pod's required affinity terms.
    affinity_counts: TopologyCounts,
    /// Domains with pods matching the incoming pod's required anti-affinity terms.
    anti_affinity_counts: TopologyCounts,
    /// Whether the incoming pod matches all of its own affinity terms.
    self_match: bool,
}

/// Whether `pod` matches every term (false for no terms); namespace selectors are evaluated
/// against the labels of `pod`'s namespace.
fn matches_all(terms: &[AffinityTerm], pod: &PodInfo, snapshot: &Snapshot) -> bool {
    let ns_labels = snapshot.labels_of_namespace(pod_namespace(&pod.pod));
    !terms.is_empty() && terms.iter().all(|t| t.matches(&pod.pod, ns_labels))
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status {
        if let Some(err) = &pod.parse_error {
            return Status::new(
                Code::UnschedulableAndUnresolvable,
                format!("parsing pod: {err}"),
            );
        }
        let ns_labels: &Labels = snapshot.labels_of_namespace(pod.namespace());
        let mut s = PreFilterState::default();
        for node in snapshot.nodes.iter() {
            for existing in node.pods_with_required_anti_affinity() {
                for term in &existing.required_anti_affinity_terms {
                    if term.matches(&pod.pod, ns_labels) {
                        bump(
                            &mut s.existing_anti_affinity_counts,
                            node,
                            &term.topology_key,
                            1,
                        );
                    }
                }
            }
        }
        let affinity = &pod.required_affinity_terms;
        let anti = &pod.required_anti_affinity_terms;
        if affinity.is_empty() && anti.is_empty() {
            if s.existing_anti_affinity_counts.is_empty() {
                return Status::skip();
            }
        } else {
            for node in snapshot.nodes.iter() {
                for existing in &node.pods {
                    if matches_all(affinity, existing, snapshot) {
                        for t in affinity {
                            bump(&mut s.affinity_counts, node, &t.topology_key, 1);
                        }
                    }
                    let existing_ns = snapshot.labels_of_namespace(existing.namespace());
                    for t in anti {
                        if t.matches(&existing.pod, existing_ns) {
                            bump(&mut s.anti_affinity_counts, node, &t.topology_key, 1);
                        }
                    }
                }
            }
            s.self_match = matches_all(affinity, pod, snapshot);
        }
        state.write(PRE_FILTER_KEY, s);
        Status::success()
    }
}

fn satisfies_existing_pods_anti_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    if s.existing_anti_affinity_counts.is_empty() {
        return true;
    }
    !node.labels().iter().any(|(k, v)| {
        s.existing_anti_affinity_counts
            .get(&(k.clone(), v.clone()))
            .is_some_and(|c| *c > 0)
    })
}

fn satisfies_pod_anti_affinity(s: &PreFilterState, pod: &PodInfo, node: &NodeInfo) -> bool {
    if s.anti_affinity_counts.is_empty() {
        return true;
    }
    !pod.required_anti_affinity_terms.iter().any(|t| {
        node.labels().get(&t.topology_key).is_some_and(|v| {
            s.anti_affinity_counts
                .get(&(t.topology_key.clone(), v.clone()))
                .is_some_and(|c| *c > 0)
        })
    })
}

fn satisfies_pod_affinity(s: &PreFilterState, pod: &PodInfo, node: &NodeInfo) -> bool {
    let mut pods_exist = true;
    for t in &pod.required_affinity_terms {
        let Some(v) = node.labels().get(&t.topology_key) else {
            // All topology labels must exist on the node.
            return false;
        };
        if s.affinity_counts
            .get(&(t.topology_key.clone(), v.clone()))
            .copied()
            .unwrap_or(0)
            <= 0
        {
            pods_exist = false;
        }
    }
    // The first pod of a group with affinity to itself may go anywhere the topology exists,
    // as long as no pod in the cluster matches its terms yet.
    pods_exist || (s.affinity_counts.is_empty() && s.self_match)
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
            return Status::error(format!(
                "error reading {PRE_FILTER_KEY:?} from cycleState: not found"
            ));
        };
        if !satisfies_pod_affinity(s, pod, node) {
            return Status::new(
                Code::UnschedulableAndUnresolvable,
                ERR_REASON_AFFINITY_RULES_NOT_MATCH,
            );
        }
        if !satisfies_pod_anti_affinity(s, pod, node) {
            return Status::new(
                Code::Unschedulable,
                ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH,
            );
        }
        if !satisfies_existing_pods_anti_affinity(s, node) {
            return Status::new(
                Code::Unschedulable,
                ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH,
            );
        }
        Status::success()
    }
}

/// topology key → topology value → score.
type TopologyScore = HashMap<String, HashMap<String, i64>>;

fn add_score(scores: &mut TopologyScore, node: &NodeInfo, key: &str, by: i64) {
    if let Some(value) = node.labels().get(key) {
        *scores
            .entry(key.to_string())
            .or_default()
            .entry(value.clone())
            .or_insert(0) += by;
    }
}

impl InterPodAffinity {
    fn process_existing_pod(
        &self,
        scores: &mut TopologyScore,
        pod: &PodInfo,
        existing: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) {
        let existing_ns = snapshot.labels_of_namespace(existing.namespace());
        let incoming_ns = snapshot.labels_of_namespace(pod.namespace());
        for wt in &pod.preferred_affinity_terms {
            if wt.term.matches(&existing.pod, existing_ns) {
                add_score(scores, node, &wt.term.topology_key, i64::from(wt.weight));
            }
        }
        for wt in &pod.preferred_anti_affinity_terms {
            if wt.term.matches(&existing.pod, existing_ns) {
                add_score(scores, node, &wt.term.topology_key, -i64::from(wt.weight));
            }
        }
        if self.hard_pod_affinity_weight > 0 {
            for t in &existing.required_affinity_terms {
                if t.matches(&pod.pod, incoming_ns) {
                    add_score(scores, node, &t.topology_key, self.hard_pod_affinity_weight);
                }
            }
        }
        for wt in &existing.preferred_affinity_terms {
            if wt.term.matches(&pod.pod, incoming_ns) {
                add_score(scores, node, &wt.term.topology_key, i64::from(wt.weight));
            }
        }
        for wt in &existing.preferred_anti_affinity_terms {
            if wt.term.matches(&pod.pod, incoming_ns) {
                add_score(scores, node, &wt.term.topology_key, -i64::from(wt.weight));
            }
        }
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        feasible: &[Arc<NodeInfo>],
    ) -> Status {
        if feasible.is_empty() {
            return Status::skip();
        }
        if let Some(err) = &pod.parse_error {
            return Status::error(format!("failed to parse pod's affinity terms: {err}"));
        }
        let has_constraints = !pod.preferred_affinity_terms.is_empty()
            || !pod.preferred_anti_affinity_terms.is_empty();
        if self.ignore_preferred_terms_of_existing_pods && !has_constraints {
            return Status::skip();
        }
        let mut scores = TopologyScore::new();
        for node in snapshot.nodes.iter() {
            if node.labels().is_empty() || (!has_constraints && node.pods_with_affinity == 0) {
                continue;
            }
            for existing in &node.pods {
                if has_constraints || existing.has_affinity() {
                    self.process_existing_pod(&mut scores, pod, existing, node, snapshot);
                }
            }
        }
        if scores.is_empty() {
            return Status::skip();
        }
        state.write(PRE_SCORE_KEY, scores);
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(scores) = state.read::<TopologyScore>(PRE_SCORE_KEY) else {
            return 0;
        };
        scores
            .iter()
            .filter_map(|(key, values)| node.labels().get(key).and_then(|v| values.get(v)))
            .sum()
    }

    fn normalize(&self, state: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        if state
            .read::<TopologyScore>(PRE_SCORE_KEY)
            .is_none_or(|s| s.is_empty())
        {
            return;
        }
        let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied())
        else {
            return;
        };
        let diff = max - min;
        for s in scores.iter_mut() {
            *s = if diff > 0 {
                (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64
            } else {
                0
            };
        }
    }
}
