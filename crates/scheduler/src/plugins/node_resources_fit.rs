//! NodeResourcesFit: the node must have room for the pod's requests; scoring prefers the
//! least allocated nodes (upstream's default `LeastAllocated` strategy, cpu and memory with
//! weight 1, counted with non-zero requests).

use std::sync::Arc;

use crate::framework::{
    Code, CycleState, FilterPlugin, MAX_NODE_SCORE, NodeInfo, Plugin, PodInfo, PreFilterPlugin,
    PreScorePlugin, ScorePlugin, Snapshot, Status,
};
use crate::plugins::names::NODE_RESOURCES_FIT;
use crate::resources::{Resources, is_scalar_resource_name};

/// A resource and its weight in resource scoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceWeight {
    /// Resource name (`cpu`, `memory`, `ephemeral-storage` or a scalar resource).
    pub name: String,
    /// Weight (> 0).
    pub weight: i64,
}

/// Upstream's default scoring resources: cpu and memory, weight 1 each.
pub fn default_resources() -> Vec<ResourceWeight> {
    vec![
        ResourceWeight {
            name: "cpu".into(),
            weight: 1,
        },
        ResourceWeight {
            name: "memory".into(),
            weight: 1,
        },
    ]
}

/// The NodeResourcesFit filter and LeastAllocated score.
#[derive(Debug, Clone)]
pub struct NodeResourcesFit {
    /// Resources scored, with weights.
    pub resources: Vec<ResourceWeight>,
}

impl Default for NodeResourcesFit {
    fn default() -> Self {
        NodeResourcesFit {
            resources: default_resources(),
        }
    }
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NODE_RESOURCES_FIT
    }
}

impl PreFilterPlugin for NodeResourcesFit {
    fn pre_filter(&self, _: &mut CycleState, _: &PodInfo, _: &Snapshot) -> Status {
        // The pod's requests are precomputed in PodInfo.
        Status::success()
    }
}

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let missing =
            pod.requests
                .insufficient(&node.requested, &node.allocatable, node.pods.len());
        if missing.is_empty() {
            Status::success()
        } else {
            Status::with_reasons(
                Code::Unschedulable,
                missing.into_iter().map(|r| r.reason).collect(),
            )
        }
    }
}

/// The pod's request for one resource: non-zero (defaulted) cpu/memory when `non_zero`.
pub(crate) fn pod_request(pod: &PodInfo, resource: &str, non_zero: bool) -> i64 {
    let r: &Resources = if non_zero && matches!(resource, "cpu" | "memory") {
        &pod.non_zero
    } else {
        &pod.requests
    };
    match resource {
        "cpu" => r.milli_cpu,
        "memory" => r.memory,
        "ephemeral-storage" => r.ephemeral_storage,
        other => r.scalar.get(other).copied().unwrap_or(0),
    }
}

/// (allocatable, requested including the pod) for one resource on a node, as upstream's
/// `calculateResourceAllocatableRequest`; (0, 0) means "don't score this resource".
pub(crate) fn allocatable_and_requested(
    node: &NodeInfo,
    resource: &str,
    pod_request: i64,
    use_requested: bool,
) -> (i64, i64) {
    let requested = if use_requested {
        &node.requested
    } else {
        &node.non_zero_requested
    };
    if pod_request == 0 && is_scalar_resource_name(resource) {
        return (0, 0);
    }
    match resource {
        "cpu" => (
            node.allocatable.milli_cpu,
            requested.milli_cpu.saturating_add(pod_request),
        ),
        "memory" => (
            node.allocatable.memory,
            requested.memory.saturating_add(pod_request),
        ),
        "ephemeral-storage" => (
            node.allocatable.ephemeral_storage,
            node.requested.ephemeral_storage.saturating_add(pod_request),
        ),
        other => match node.allocatable.scalar.get(other) {
            Some(alloc) => (
                *alloc,
                node.requested
                    .scalar
                    .get(other)
                    .copied()
                    .unwrap_or(0)
                    .saturating_add(pod_request),
            ),
            None => (0, 0),
        },
    }
}

fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    let score = (i128::from(capacity) - i128::from(requested)) * i128::from(MAX_NODE_SCORE)
        / i128::from(capacity);
    i64::try_from(score).unwrap_or(0)
}

/// Upstream's `leastResourceScorer` over (requested, allocatable) pairs with weights.
pub fn least_allocated_score(pairs: &[(i64, i64, i64)]) -> i64 {
    least_allocated_score_of(pairs.iter().copied())
}

/// [`least_allocated_score`] over an iterator, with no allocation (run per feasible node).
fn least_allocated_score_of(pairs: impl Iterator<Item = (i64, i64, i64)>) -> i64 {
    let mut score = 0i64;
    let mut weight_sum = 0i64;
    for (requested, allocatable, weight) in pairs {
        if allocatable == 0 {
            continue;
        }
        score = score
            .saturating_add(least_requested_score(requested, allocatable).saturating_mul(weight));
        weight_sum = weight_sum.saturating_add(weight);
    }
    if weight_sum == 0 {
        0
    } else {
        score / weight_sum
    }
}

impl PreScorePlugin for NodeResourcesFit {
    fn pre_score(
        &self,
        _: &mut CycleState,
        _: &PodInfo,
        _: &Snapshot,
        _: &[Arc<NodeInfo>],
    ) -> Status {
        Status::success()
    }
}

impl ScorePlugin for NodeResourcesFit {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        least_allocated_score_of(self.resources.iter().map(|r| {
            let req = pod_request(pod, &r.name, true);
            let (alloc, requested) = allocatable_and_requested(node, &r.name, req, false);
            (requested, alloc, r.weight)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{
        reason, req_pod, res_node, run_filter, run_score, snapshot, with_pods,
    };
    use serde_json::{Value, json};

    #[test]
    fn filter() {
        let alloc = json!({"cpu": "2", "memory": "4Gi", "pods": "3", "example.com/gpu": "1"});
        let existing = req_pod("e", json!({"cpu": "1500m", "memory": "1Gi"}));
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (json!({"cpu": "500m"}), vec![]),
            (json!({"cpu": "501m"}), vec!["Insufficient cpu"]),
            (json!({"memory": "3Gi"}), vec![]),
            (json!({"memory": "3073Mi"}), vec!["Insufficient memory"]),
            (
                json!({"cpu": "1", "memory": "4Gi"}),
                vec!["Insufficient cpu", "Insufficient memory"],
            ),
            (json!({"example.com/gpu": "1"}), vec![]),
            (
                json!({"example.com/gpu": "2"}),
                vec!["Insufficient example.com/gpu"],
            ),
            (
                json!({"example.com/other": "1"}),
                vec!["Insufficient example.com/other"],
            ),
            (
                json!({"ephemeral-storage": "1"}),
                vec!["Insufficient ephemeral-storage"],
            ),
            (json!({}), vec![]),
        ];
        for (reqs, want) in cases {
            let snap = snapshot(vec![with_pods(
                res_node("n", alloc.clone()),
                std::slice::from_ref(&existing),
            )]);
            let st = run_filter(
                &NodeResourcesFit::default(),
                &req_pod("p", reqs.clone()),
                &snap,
            )
            .unwrap();
            let want: Vec<String> = want.into_iter().map(String::from).collect();
            assert_eq!(st[0].reasons, want, "{reqs}");
            if !want.is_empty() {
                assert_eq!(st[0].code, Code::Unschedulable);
            }
        }
    }

    #[test]
    fn too_many_pods() {
        let alloc = json!({"cpu": "2", "memory": "4Gi", "pods": "2"});
        let n = with_pods(
            res_node("n", alloc),
            &[req_pod("a", json!({})), req_pod("b", json!({}))],
        );
        let snap = snapshot(vec![n]);
        let st = run_filter(
            &NodeResourcesFit::default(),
            &req_pod("p", json!({"cpu": "5"})),
            &snap,
        )
        .unwrap();
        assert_eq!(
            st[0].reasons,
            vec!["Too many pods".to_string(), "Insufficient cpu".to_string()]
        );
        let st = run_filter(
            &NodeResourcesFit::default(),
            &req_pod("p", json!({})),
            &snap,
        )
        .unwrap();
        assert_eq!(reason(&st[0]), "Too many pods");
        // a node without allocatable pods takes nothing
        let snap = snapshot(vec![res_node("n", json!({"cpu": "1"}))]);
        let st = run_filter(
            &NodeResourcesFit::default(),
            &req_pod("p", json!({})),
            &snap,
        )
        .unwrap();
        assert_eq!(reason(&st[0]), "Too many pods");
    }

    #[test]
    fn least_allocated() {
        // Upstream's table: node1 4000m/10000 and node2 6000m/10000 with no pods; the pod
        // requests 3000m cpu and 5000 memory.
        let pod = req_pod("p", json!({"cpu": "3000m", "memory": "5000"}));
        let snap = snapshot(vec![
            res_node(
                "n1",
                json!({"cpu": "4000m", "memory": "10000", "pods": "10"}),
            ),
            res_node(
                "n2",
                json!({"cpu": "6000m", "memory": "10000", "pods": "10"}),
            ),
        ]);
        // n1: cpu (4000-3000)*100/4000 = 25, mem (10000-5000)*100/10000 = 50 -> 37
        // n2: cpu (6000-3000)*100/6000 = 50, mem 50 -> 50
        assert_eq!(
            run_score(&NodeResourcesFit::default(), &pod, &snap),
            vec![37, 50]
        );

        // non-zero defaults: a best-effort pod counts as 100m / 200Mi.
        let be = req_pod("be", json!({}));
        let snap = snapshot(vec![res_node(
            "n",
            json!({"cpu": "1", "memory": "1000Mi", "pods": "10"}),
        )]);
        // cpu (1000-100)*100/1000 = 90, mem (1000-200)*100/1000 = 80 -> 85
        assert_eq!(
            run_score(&NodeResourcesFit::default(), &be, &snap),
            vec![85]
        );

        // existing best-effort pods count with non-zero requests too; over-commit scores 0.
        let n = with_pods(
            res_node("n", json!({"cpu": "1", "memory": "1000Mi", "pods": "10"})),
            &[req_pod("a", json!({})), req_pod("b", json!({"cpu": "2"}))],
        );
        // cpu 100 + 2000 + 100 > 1000 -> 0; mem 200 + 200 + 200 = 600Mi -> 40 -> (0+40)/2 = 20
        assert_eq!(
            run_score(&NodeResourcesFit::default(), &be, &snapshot(vec![n])),
            vec![20]
        );
    }
}
