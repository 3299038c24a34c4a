//! NodeAffinity: `spec.nodeSelector` and required node affinity filter nodes; preferred node
//! affinity terms score them (sum of matching weights, normalized to 0..=100).

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{NodeAffinity as V1NodeAffinity, PreferredSchedulingTerm};

use crate::framework::labels::{
    RequiredNodeAffinity, node_selector_term_is_empty, node_selector_term_matches,
};
use crate::framework::{
    Code, CycleState, FilterPlugin, MAX_NODE_SCORE, NodeInfo, Plugin, PodInfo, PreFilterNodes,
    PreFilterPlugin, PreScorePlugin, ScorePlugin, Snapshot, Status, default_normalize_score,
};
use crate::plugins::names::NODE_AFFINITY;

/// Upstream's reason when the node doesn't match the pod's node selector or affinity.
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";
/// Upstream's reason when `metadata.name` field terms select no node at all.
pub const ERR_REASON_CONFLICT: &str = "pod affinity terms conflict";

const PRE_FILTER_KEY: &str = "PreFilterNodeAffinity";
const PRE_SCORE_KEY: &str = "PreScoreNodeAffinity";

/// The NodeAffinity filter and score.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeAffinity;

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NODE_AFFINITY
    }
}

fn node_affinity(pod: &PodInfo) -> Option<&V1NodeAffinity> {
    pod.pod
        .spec
        .as_ref()?
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()
}

/// The node names the required terms pin the pod to through `metadata.name In [..]` field
/// requirements: `None` when some term has no such requirement (any node may match).
fn required_node_names(pod: &PodInfo) -> Option<BTreeSet<String>> {
    let required = node_affinity(pod)?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?;
    if required.node_selector_terms.is_empty() {
        return None;
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    for term in &required.node_selector_terms {
        let mut term_names: Option<BTreeSet<String>> = None;
        for r in term.match_fields.iter().flatten() {
            if r.key == "metadata.name" && r.operator == "In" {
                let set: BTreeSet<String> = r.values.iter().flatten().cloned().collect();
                term_names = Some(match term_names {
                    None => set,
                    Some(prev) => prev.intersection(&set).cloned().collect(),
                });
            }
        }
        names.extend(term_names?);
    }
    Some(names)
}

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, _: &Snapshot) -> Status {
        let has_required = node_affinity(pod)
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .is_some();
        let has_selector = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.node_selector.as_ref())
            .is_some();
        if !has_required && !has_selector {
            return Status::skip();
        }
        state.write(PRE_FILTER_KEY, RequiredNodeAffinity::from_pod(&pod.pod));
        if required_node_names(pod).is_some_and(|n| n.is_empty()) {
            return Status::new(Code::UnschedulableAndUnresolvable, ERR_REASON_CONFLICT);
        }
        Status::success()
    }

    fn pre_filter_nodes(&self, _: &CycleState, pod: &PodInfo) -> Option<PreFilterNodes> {
        required_node_names(pod).filter(|n| !n.is_empty())
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let computed;
        let required = match state.read::<RequiredNodeAffinity>(PRE_FILTER_KEY) {
            Some(r) => r,
            None => {
                computed = RequiredNodeAffinity::from_pod(&pod.pod);
                &computed
            }
        };
        if required.matches(&node.node) {
            Status::success()
        } else {
            Status::new(Code::UnschedulableAndUnresolvable, ERR_REASON_POD)
        }
    }
}

/// The pod's preferred terms that count: non-zero weight, non-empty preference.
fn preferred_terms(pod: &PodInfo) -> Vec<PreferredSchedulingTerm> {
    node_affinity(pod)
        .and_then(|na| {
            na.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .filter(|t| t.weight != 0 && !node_selector_term_is_empty(&t.preference))
        .cloned()
        .collect()
}

impl PreScorePlugin for NodeAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _: &Snapshot,
        _: &[Arc<NodeInfo>],
    ) -> Status {
        let terms = preferred_terms(pod);
        if terms.is_empty() {
            return Status::skip();
        }
        state.write(PRE_SCORE_KEY, terms);
        Status::success()
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let computed;
        let terms = match state.read::<Vec<PreferredSchedulingTerm>>(PRE_SCORE_KEY) {
            Some(t) => t,
            None => {
                computed = preferred_terms(pod);
                &computed
            }
        };
        terms
            .iter()
            .filter(|t| node_selector_term_matches(&t.preference, &node.node) == Some(true))
            .map(|t| i64::from(t.weight))
            .sum()
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        default_normalize_score(MAX_NODE_SCORE, false, scores);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Profile;
    use crate::plugins::testutil::{labeled_node, pod, run_filter, run_score, snapshot};
    use serde_json::{Value, json};

    fn affinity_pod(spec: Value) -> Arc<PodInfo> {
        let mut spec = spec;
        spec["containers"] = json!([]);
        pod(json!({"metadata": {"name": "p"}, "spec": spec}))
    }

    fn required(terms: Value) -> Value {
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}})
    }

    fn expr(key: &str, op: &str, values: Value) -> Value {
        json!({"key": key, "operator": op, "values": values})
    }

    #[test]
    fn filter() {
        let node = || labeled_node("node-1", json!({"zone": "a", "gpu": "true", "cores": "8"}));
        let cases: Vec<(Value, bool)> = vec![
            (json!({}), true),
            (json!({"nodeSelector": {"zone": "a"}}), true),
            (json!({"nodeSelector": {"zone": "b"}}), false),
            (
                json!({"nodeSelector": {"zone": "a", "missing": "x"}}),
                false,
            ),
            (
                required(json!([{"matchExpressions": [expr("zone", "In", json!(["a", "b"]))]}])),
                true,
            ),
            (
                required(json!([{"matchExpressions": [expr("zone", "In", json!(["b"]))]}])),
                false,
            ),
            (
                required(json!([{"matchExpressions": [expr("zone", "NotIn", json!(["b"]))]}])),
                true,
            ),
            (
                required(json!([{"matchExpressions": [expr("zone", "NotIn", json!(["a"]))]}])),
                false,
            ),
            (
                required(json!([{"matchExpressions": [expr("missing", "NotIn", json!(["a"]))]}])),
                true,
            ),
            (
                required(json!([{"matchExpressions": [expr("gpu", "Exists", json!(null))]}])),
                true,
            ),
            (
                required(json!([{"matchExpressions": [expr("gpu", "DoesNotExist", json!(null))]}])),
                false,
            ),
            (
                required(json!([{"matchExpressions": [expr("cores", "Gt", json!(["4"]))]}])),
                true,
            ),
            (
                required(json!([{"matchExpressions": [expr("cores", "Gt", json!(["8"]))]}])),
                false,
            ),
            (
                required(json!([{"matchExpressions": [expr("cores", "Lt", json!(["9"]))]}])),
                true,
            ),
            (
                required(json!([{"matchExpressions": [expr("zone", "Lt", json!(["9"]))]}])),
                false,
            ),
            // invalid: Gt with a non-integer; In with no values; the term never matches
            (
                required(json!([{"matchExpressions": [expr("cores", "Gt", json!(["x"]))]}])),
                false,
            ),
            (
                required(json!([{"matchExpressions": [expr("zone", "In", json!([]))]}])),
                false,
            ),
            // terms are ORed; an invalid or empty term doesn't block another
            (
                required(
                    json!([{"matchExpressions": [expr("zone", "In", json!([]))]},
                             {"matchExpressions": [expr("zone", "In", json!(["a"]))]}]),
                ),
                true,
            ),
            (required(json!([{}])), false),
            (required(json!([])), false),
            // requirements in a term are ANDed
            (
                required(
                    json!([{"matchExpressions": [expr("zone", "In", json!(["a"])), expr("gpu", "In", json!(["false"]))]}]),
                ),
                false,
            ),
            // field selector on the name
            (
                required(
                    json!([{"matchFields": [expr("metadata.name", "In", json!(["node-1"]))]}]),
                ),
                true,
            ),
            (
                required(
                    json!([{"matchFields": [expr("metadata.name", "NotIn", json!(["node-1"]))]}]),
                ),
                false,
            ),
            (
                required(
                    json!([{"matchFields": [expr("metadata.name", "In", json!(["node-1", "node-2"]))]}]),
                ),
                false,
            ),
            // nodeSelector and affinity must both hold
            (
                {
                    let mut v =
                        required(json!([{"matchExpressions": [expr("zone", "In", json!(["a"]))]}]));
                    v["nodeSelector"] = json!({"gpu": "false"});
                    v
                },
                false,
            ),
        ];
        for (spec, ok) in cases {
            let snap = snapshot(vec![node()]);
            let st = run_filter(&NodeAffinity, &affinity_pod(spec.clone()), &snap).unwrap();
            assert_eq!(st[0].is_success(), ok, "{spec}");
            if !ok {
                assert_eq!(st[0].code, Code::UnschedulableAndUnresolvable);
                assert_eq!(st[0].reasons, vec![ERR_REASON_POD.to_string()]);
            }
        }
    }

    #[test]
    fn node_name_pre_filter() {
        let n = |name: &str| {
            crate::plugins::testutil::node(json!({"metadata": {"name": name},
                "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "10"}}}))
        };
        let snap = snapshot(vec![n("a"), n("b"), n("c")]);
        let profile = Profile::default_profile();
        let p = affinity_pod(required(json!([
            {"matchFields": [expr("metadata.name", "In", json!(["a"]))]},
            {"matchFields": [expr("metadata.name", "In", json!(["b"]))]}
        ])));
        let mut st = CycleState::new();
        assert!(profile.run_pre_filters(&mut st, &p, &snap).is_success());
        let names: Vec<String> = st
            .pre_filter_nodes
            .as_ref()
            .unwrap()
            .0
            .iter()
            .cloned()
            .collect();
        assert_eq!(names, vec!["a", "b"]);
        let c = profile.run_filters(&st, &p, &snap.nodes[2]);
        assert_eq!(
            c.reasons,
            vec!["node(s) didn't satisfy plugin(s) [NodeAffinity]".to_string()]
        );
        assert!(profile.run_filters(&st, &p, &snap.nodes[0]).is_success());

        // a term without a name requirement lets every node through
        let p = affinity_pod(required(json!([
            {"matchFields": [expr("metadata.name", "In", json!(["a"]))]},
            {"matchExpressions": [expr("x", "DoesNotExist", json!(null))]}
        ])));
        let mut st = CycleState::new();
        assert!(profile.run_pre_filters(&mut st, &p, &snap).is_success());
        assert!(st.pre_filter_nodes.is_none());

        // conflicting names in one term
        let p = affinity_pod(required(json!([{"matchFields": [
            expr("metadata.name", "In", json!(["a"])), expr("metadata.name", "In", json!(["b"]))
        ]}])));
        let mut st = CycleState::new();
        let s = profile.run_pre_filters(&mut st, &p, &snap);
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(s.reasons, vec![ERR_REASON_CONFLICT.to_string()]);
        assert_eq!(s.plugin, "NodeAffinity");
    }

    #[test]
    fn score() {
        let pref = |w: i32, e: Value| json!({"weight": w, "preference": {"matchExpressions": [e]}});
        let spec = json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            pref(2, expr("foo", "In", json!(["bar"]))),
            pref(4, expr("key", "In", json!(["value"]))),
            pref(5, expr("az", "In", json!(["az1"]))),
            pref(0, expr("foo", "Exists", json!(null))),
        ]}}});
        let p = affinity_pod(spec);
        let snap = snapshot(vec![
            labeled_node("n1", json!({"foo": "bar"})),
            labeled_node("n2", json!({"key": "value"})),
            labeled_node("n3", json!({"foo": "bar", "key": "value", "az": "az1"})),
            labeled_node("n4", json!({})),
        ]);
        // raw 2, 4, 11, 0 -> 200/11 = 18, 400/11 = 36, 100, 0
        assert_eq!(run_score(&NodeAffinity, &p, &snap), vec![18, 36, 100, 0]);
        // no preferred terms: skipped
        assert_eq!(
            run_score(&NodeAffinity, &affinity_pod(json!({})), &snap),
            vec![0, 0, 0, 0]
        );
        let mut st = CycleState::new();
        assert!(
            NodeAffinity
                .pre_score(&mut st, &affinity_pod(json!({})), &snap, &snap.nodes)
                .is_skip()
        );
    }
}
