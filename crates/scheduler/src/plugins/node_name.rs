//! NodeName: a pod with `spec.nodeName` set only fits that node.

use crate::framework::{Code, FilterPlugin, NodeInfo, Plugin, PodInfo, Status};
use crate::plugins::names::NODE_NAME;

/// Upstream's reason when the node is not the requested one.
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

/// The NodeName filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NODE_NAME
    }
}

/// Whether the pod may run on the node by `spec.nodeName`.
pub fn fits(pod: &PodInfo, node: &NodeInfo) -> bool {
    match pod.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        None | Some("") => true,
        Some(name) => name == node.name(),
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _: &crate::framework::CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if fits(pod, node) {
            Status::success()
        } else {
            Status::new(Code::UnschedulableAndUnresolvable, ERR_REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::CycleState;
    use crate::plugins::testutil::{labeled_node, pod};
    use serde_json::json;

    #[test]
    fn filter() {
        let node = labeled_node("n1", json!({}));
        let cases = [
            (json!({"metadata": {"name": "p"}}), Code::Success),
            (
                json!({"metadata": {"name": "p"}, "spec": {"containers": [], "nodeName": ""}}),
                Code::Success,
            ),
            (
                json!({"metadata": {"name": "p"}, "spec": {"containers": [], "nodeName": "n1"}}),
                Code::Success,
            ),
            (
                json!({"metadata": {"name": "p"}, "spec": {"containers": [], "nodeName": "n2"}}),
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        for (p, want) in cases {
            let s = NodeName.filter(&CycleState::new(), &pod(p.clone()), &node);
            assert_eq!(s.code, want, "{p}");
            if want != Code::Success {
                assert_eq!(s.reasons, vec![ERR_REASON.to_string()]);
            }
        }
    }
}
