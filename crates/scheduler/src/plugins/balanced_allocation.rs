//! NodeResourcesBalancedAllocation: prefers nodes whose cpu and memory utilisation (with the
//! pod, by actual requests) stay balanced; skipped for pods that request nothing.

use std::sync::Arc;

use crate::framework::{
    CycleState, MAX_NODE_SCORE, NodeInfo, Plugin, PodInfo, PreScorePlugin, ScorePlugin, Snapshot,
    Status,
};
use crate::plugins::names::NODE_RESOURCES_BALANCED_ALLOCATION;
use crate::plugins::node_resources_fit::{
    ResourceWeight, allocatable_and_requested, default_resources, pod_request,
};

/// The BalancedAllocation score.
#[derive(Debug, Clone)]
pub struct BalancedAllocation {
    /// Resources considered (weights are ignored by this scorer).
    pub resources: Vec<ResourceWeight>,
}

impl Default for BalancedAllocation {
    fn default() -> Self {
        BalancedAllocation {
            resources: default_resources(),
        }
    }
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NODE_RESOURCES_BALANCED_ALLOCATION
    }
}

impl BalancedAllocation {
    fn pod_requests(&self, pod: &PodInfo) -> Vec<i64> {
        self.resources
            .iter()
            .map(|r| pod_request(pod, &r.name, false))
            .collect()
    }
}

/// Upstream's `balancedResourceScorer`: `(1 - std) * 100` of the utilisation fractions
/// (capped at 1); two resources use `|f1 - f2| / 2`. Pairs are (requested, allocatable).
pub fn balanced_score(pairs: &[(i64, i64)]) -> i64 {
    balanced_score_of(pairs.iter().copied())
}

/// [`balanced_score`] over an iterator (cloned for the second pass), with no allocation:
/// scoring runs it for every feasible node of every pod.
fn balanced_score_of(pairs: impl Iterator<Item = (i64, i64)> + Clone) -> i64 {
    let fractions = pairs
        .filter(|(_, alloc)| *alloc != 0)
        .map(|(req, alloc)| (req as f64 / alloc as f64).min(1.0));
    let (n, sum) = fractions
        .clone()
        .fold((0usize, 0.0f64), |(n, s), f| (n + 1, s + f));
    let std = match n {
        0 | 1 => 0.0,
        2 => {
            let mut two = fractions;
            let (a, b) = (two.next().unwrap_or(0.0), two.next().unwrap_or(0.0));
            ((a - b) / 2.0).abs()
        }
        n => {
            let mean = sum / n as f64;
            let var = fractions.map(|f| (f - mean) * (f - mean)).sum::<f64>() / n as f64;
            var.sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

impl PreScorePlugin for BalancedAllocation {
    fn pre_score(
        &self,
        _: &mut CycleState,
        pod: &PodInfo,
        _: &Snapshot,
        _: &[Arc<NodeInfo>],
    ) -> Status {
        if self.pod_requests(pod).iter().all(|r| *r == 0) {
            // Best-effort pods are not scored (upstream issue 129138).
            return Status::skip();
        }
        Status::success()
    }
}

impl ScorePlugin for BalancedAllocation {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        // (requested, allocatable) per resource, worked out once: the score reads them twice
        // and runs for every feasible node of every pod. Upstream's defaults are two
        // resources; a configuration with more than the inline room takes the heap.
        const INLINE: usize = 4;
        let mut inline = [(0i64, 0i64); INLINE];
        let mut heap = Vec::new();
        let pairs: &mut [(i64, i64)] = if self.resources.len() <= INLINE {
            &mut inline[..self.resources.len()]
        } else {
            heap.resize(self.resources.len(), (0, 0));
            &mut heap
        };
        let mut requests_anything = false;
        for (pair, r) in pairs.iter_mut().zip(&self.resources) {
            let req = pod_request(pod, &r.name, false);
            requests_anything |= req != 0;
            let (alloc, requested) = allocatable_and_requested(node, &r.name, req, true);
            *pair = (requested, alloc);
        }
        if !requests_anything {
            return 0;
        }
        balanced_score(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{req_pod, res_node, run_score, snapshot, with_pods};
    use serde_json::json;

    #[test]
    fn scores() {
        let p = req_pod("p", json!({"cpu": "3000m", "memory": "5000"}));
        let snap = snapshot(vec![
            res_node("n1", json!({"cpu": "4000m", "memory": "10000"})),
            res_node("n2", json!({"cpu": "6000m", "memory": "10000"})),
        ]);
        // n1: 0.75 vs 0.5 -> std 0.125 -> 87; n2: 0.5 vs 0.5 -> 100
        assert_eq!(
            run_score(&BalancedAllocation::default(), &p, &snap),
            vec![87, 100]
        );

        // existing pods count by actual requests (best-effort adds nothing)
        let n = with_pods(
            res_node("n", json!({"cpu": "10", "memory": "20000"})),
            &[
                req_pod("a", json!({"cpu": "3", "memory": "5000"})),
                req_pod("b", json!({})),
            ],
        );
        // cpu (3000+3000)/10000 = 0.6, mem (5000+5000)/20000 = 0.5 -> std 0.05 -> 95
        assert_eq!(
            run_score(&BalancedAllocation::default(), &p, &snapshot(vec![n])),
            vec![95]
        );

        // fractions cap at 1: cpu 1.0 (over-committed), memory 0.25 -> 1 - 0.375 = 62
        let snap = snapshot(vec![res_node("n", json!({"cpu": "1", "memory": "20000"}))]);
        assert_eq!(
            run_score(&BalancedAllocation::default(), &p, &snap),
            vec![62]
        );
    }

    #[test]
    fn best_effort_skipped() {
        let snap = snapshot(vec![res_node("n", json!({"cpu": "4", "memory": "4Gi"}))]);
        let mut st = CycleState::new();
        let be = req_pod("p", json!({}));
        let s = BalancedAllocation::default().pre_score(&mut st, &be, &snap, &snap.nodes);
        assert!(s.is_skip());
        // only cpu requested: memory fraction 0 -> |0.5 - 0| / 2 = 0.25 -> 75
        let p = req_pod("p", json!({"cpu": "2"}));
        assert_eq!(
            run_score(&BalancedAllocation::default(), &p, &snap),
            vec![75]
        );
    }

    #[test]
    fn three_resources() {
        let ba = BalancedAllocation {
            resources: vec![
                ResourceWeight {
                    name: "cpu".into(),
                    weight: 1,
                },
                ResourceWeight {
                    name: "memory".into(),
                    weight: 1,
                },
                ResourceWeight {
                    name: "example.com/gpu".into(),
                    weight: 1,
                },
            ],
        };
        let p = req_pod(
            "p",
            json!({"cpu": "1", "memory": "1000", "example.com/gpu": "2"}),
        );
        let snap = snapshot(vec![res_node(
            "n",
            json!({"cpu": "4", "memory": "2000", "example.com/gpu": "4"}),
        )]);
        // fractions 0.25, 0.5, 0.5: mean 0.41667, var = (0.02778+0.00694+0.00694)/3 = 0.013889,
        // std 0.11785 -> 88
        assert_eq!(run_score(&ba, &p, &snap), vec![88]);
    }
}
