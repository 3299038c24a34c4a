//! NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods that tolerate the
//! `node.kubernetes.io/unschedulable:NoSchedule` taint.

use k8s_openapi::api::core::v1::Taint;

use crate::framework::labels::{pod_tolerations, tolerations_tolerate};
use crate::framework::{Code, CycleState, FilterPlugin, NodeInfo, Plugin, PodInfo, Status};
use crate::plugins::names::NODE_UNSCHEDULABLE;

/// Upstream's reason for a cordoned node.
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// The taint key a pod tolerates to run on cordoned nodes.
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// The NodeUnschedulable filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NODE_UNSCHEDULABLE
    }
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let cordoned = node
            .node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        if !cordoned {
            return Status::success();
        }
        let taint = Taint {
            key: TAINT_NODE_UNSCHEDULABLE.into(),
            effect: "NoSchedule".into(),
            ..Taint::default()
        };
        if tolerations_tolerate(pod_tolerations(&pod.pod), &taint) {
            Status::success()
        } else {
            Status::new(Code::UnschedulableAndUnresolvable, ERR_REASON_UNSCHEDULABLE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{node, pod};
    use serde_json::json;

    #[test]
    fn filter() {
        let cordoned = node(json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}}));
        let open = node(json!({"metadata": {"name": "n"}, "spec": {"unschedulable": false}}));
        let plain = pod(json!({"metadata": {"name": "p"}}));
        let tol = |t: serde_json::Value| {
            pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [], "tolerations": [t]}}))
        };
        let st = CycleState::new();
        let f = |p: &PodInfo, n: &NodeInfo| NodeUnschedulable.filter(&st, p, n);
        assert!(f(&plain, &open).is_success());
        let s = f(&plain, &cordoned);
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(s.reasons, vec!["node(s) were unschedulable".to_string()]);
        let cases = [
            (
                json!({"key": TAINT_NODE_UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"}),
                true,
            ),
            (
                json!({"key": TAINT_NODE_UNSCHEDULABLE, "operator": "Exists"}),
                true,
            ),
            (json!({"operator": "Exists"}), true),
            (
                json!({"key": TAINT_NODE_UNSCHEDULABLE, "operator": "Exists", "effect": "NoExecute"}),
                false,
            ),
            (
                json!({"key": TAINT_NODE_UNSCHEDULABLE, "value": "x"}),
                false,
            ),
            (json!({"key": TAINT_NODE_UNSCHEDULABLE}), true),
        ];
        for (t, ok) in cases {
            assert_eq!(f(&tol(t.clone()), &cordoned).is_success(), ok, "{t}");
        }
    }
}
