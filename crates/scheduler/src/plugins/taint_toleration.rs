//! TaintToleration: NoSchedule/NoExecute taints must be tolerated; untolerated
//! PreferNoSchedule taints lower the score.

use k8s_openapi::api::core::v1::Toleration;

use crate::framework::labels::{
    find_untolerated_taint, is_do_not_schedule_taint, node_taints, pod_tolerations,
    tolerations_tolerate,
};
use crate::framework::{
    Code, CycleState, FilterPlugin, MAX_NODE_SCORE, NodeInfo, Plugin, PodInfo, PreScorePlugin,
    ScorePlugin, Snapshot, Status, default_normalize_score,
};
use crate::plugins::names::TAINT_TOLERATION;
use std::sync::Arc;

const PRE_SCORE_KEY: &str = "PreScoreTaintToleration";

/// The TaintToleration filter and score.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaintToleration;

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        TAINT_TOLERATION
    }
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        match find_untolerated_taint(
            node_taints(&node.node),
            pod_tolerations(&pod.pod),
            is_do_not_schedule_taint,
        ) {
            None => Status::success(),
            Some(taint) => Status::new(
                Code::UnschedulableAndUnresolvable,
                format!(
                    "node(s) had untolerated taint {{{}: {}}}",
                    taint.key,
                    taint.value.as_deref().unwrap_or("")
                ),
            ),
        }
    }
}

/// Tolerations with effect PreferNoSchedule or no effect.
fn prefer_no_schedule_tolerations(pod: &PodInfo) -> Vec<Toleration> {
    pod_tolerations(&pod.pod)
        .iter()
        .filter(|t| {
            matches!(
                t.effect.as_deref(),
                None | Some("") | Some("PreferNoSchedule")
            )
        })
        .cloned()
        .collect()
}

impl PreScorePlugin for TaintToleration {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _: &Snapshot,
        _: &[Arc<NodeInfo>],
    ) -> Status {
        state.write(PRE_SCORE_KEY, prefer_no_schedule_tolerations(pod));
        Status::success()
    }
}

impl ScorePlugin for TaintToleration {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let computed;
        let tolerations = match state.read::<Vec<Toleration>>(PRE_SCORE_KEY) {
            Some(t) => t,
            None => {
                computed = prefer_no_schedule_tolerations(pod);
                &computed
            }
        };
        node_taints(&node.node)
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule" && !tolerations_tolerate(tolerations, t))
            .count() as i64
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [i64]) {
        default_normalize_score(MAX_NODE_SCORE, true, scores);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{node, pod, run_score, snapshot};
    use serde_json::{Value, json};

    fn tainted(name: &str, taints: Value) -> NodeInfo {
        node(json!({"metadata": {"name": name}, "spec": {"taints": taints}}))
    }

    fn tolerating(tols: Value) -> Arc<PodInfo> {
        pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [], "tolerations": tols}}))
    }

    #[test]
    fn filter() {
        let cp = json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
        let cases: Vec<(Value, Value, &str)> = vec![
            (json!([]), json!([]), ""),
            (
                cp.clone(),
                json!([]),
                "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
            ),
            (
                cp.clone(),
                json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]),
                "",
            ),
            (
                json!([{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]),
                json!([]),
                "node(s) had untolerated taint {dedicated: gpu}",
            ),
            (
                json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
                json!([{"key": "dedicated", "value": "gpu"}]),
                "",
            ),
            (
                json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
                json!([{"key": "dedicated", "value": "cpu"}]),
                "node(s) had untolerated taint {dedicated: gpu}",
            ),
            (
                json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
                json!([{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]),
                "node(s) had untolerated taint {dedicated: gpu}",
            ),
            // PreferNoSchedule never filters
            (
                json!([{"key": "soft", "effect": "PreferNoSchedule"}]),
                json!([]),
                "",
            ),
            // the first untolerated taint is reported
            (
                json!([{"key": "a", "effect": "NoSchedule"}, {"key": "b", "value": "1", "effect": "NoSchedule"}]),
                json!([{"key": "a", "operator": "Exists"}]),
                "node(s) had untolerated taint {b: 1}",
            ),
            // an unknown operator tolerates nothing
            (
                cp.clone(),
                json!([{"operator": "Bogus"}]),
                "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
            ),
        ];
        for (taints, tols, want) in cases {
            let s = TaintToleration.filter(
                &CycleState::new(),
                &tolerating(tols.clone()),
                &tainted("n", taints.clone()),
            );
            if want.is_empty() {
                assert!(s.is_success(), "{taints} {tols}: {s:?}");
            } else {
                assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
                assert_eq!(s.reasons, vec![want.to_string()], "{taints} {tols}");
            }
        }
    }

    #[test]
    fn score() {
        let soft = |k: &str| json!({"key": k, "value": "v", "effect": "PreferNoSchedule"});
        let snap = snapshot(vec![
            tainted("n0", json!([])),
            tainted("n1", json!([soft("a")])),
            tainted("n2", json!([soft("a"), soft("b")])),
            tainted(
                "n3",
                json!([soft("a"), soft("b"), {"key": "c", "effect": "NoSchedule"}]),
            ),
        ]);
        assert_eq!(
            run_score(&TaintToleration, &tolerating(json!([])), &snap),
            vec![100, 50, 0, 0]
        );
        // tolerating "a" (no effect = all effects) leaves one intolerable taint on n2/n3
        let p = tolerating(json!([{"key": "a", "operator": "Exists"}]));
        assert_eq!(run_score(&TaintToleration, &p, &snap), vec![100, 100, 0, 0]);
        // a NoSchedule toleration doesn't count for PreferNoSchedule taints
        let p = tolerating(json!([{"key": "a", "operator": "Exists", "effect": "NoSchedule"}]));
        assert_eq!(run_score(&TaintToleration, &p, &snap), vec![100, 50, 0, 0]);
        let p = tolerating(json!([{"operator": "Exists"}]));
        assert_eq!(
            run_score(&TaintToleration, &p, &snap),
            vec![100, 100, 100, 100]
        );
        // three levels: 0, 1, 3 taints -> 100, 100-33, 0
        let snap = snapshot(vec![
            tainted("a", json!([])),
            tainted("b", json!([soft("x")])),
            tainted("c", json!([soft("x"), soft("y"), soft("z")])),
        ]);
        assert_eq!(
            run_score(&TaintToleration, &tolerating(json!([])), &snap),
            vec![100, 67, 0]
        );
    }
}
