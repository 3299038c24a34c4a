//! NodePorts: a pod's host ports must be free on the node (`0.0.0.0` conflicts with every IP).

use crate::framework::{
    Code, CycleState, FilterPlugin, NodeInfo, Plugin, PodInfo, PreFilterPlugin, Snapshot, Status,
};
use crate::plugins::names::NODE_PORTS;

/// Upstream's reason for a port conflict.
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// The NodePorts filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NODE_PORTS
    }
}

impl PreFilterPlugin for NodePorts {
    fn pre_filter(&self, _: &mut CycleState, pod: &PodInfo, _: &Snapshot) -> Status {
        if pod.host_ports.is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }
}

/// Whether all of the pod's host ports are free on the node.
pub fn fits(pod: &PodInfo, node: &NodeInfo) -> bool {
    !pod.host_ports
        .iter()
        .any(|hp| node.used_ports.conflicts(hp))
}

impl FilterPlugin for NodePorts {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if fits(pod, node) {
            Status::success()
        } else {
            Status::new(Code::Unschedulable, ERR_REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{labeled_node, pod, run_filter, snapshot, with_pods};
    use serde_json::{Value, json};

    fn port_pod(name: &str, ports: Value) -> std::sync::Arc<PodInfo> {
        pod(json!({"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "ports": ports}]}}))
    }

    #[test]
    fn filter() {
        let existing =
            |ports: Value| with_pods(labeled_node("n", json!({})), &[port_pod("e", ports)]);
        let cases = [
            // (existing ports, wanted ports, fits)
            (
                json!([]),
                json!([{"containerPort": 80, "hostPort": 8080}]),
                true,
            ),
            (
                json!([{"containerPort": 80, "hostPort": 8080}]),
                json!([{"containerPort": 80, "hostPort": 8080}]),
                false,
            ),
            (
                json!([{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}]),
                json!([{"containerPort": 80, "hostPort": 8080}]),
                true,
            ),
            (
                json!([{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}]),
                json!([{"containerPort": 80, "hostPort": 8080}]),
                false,
            ),
            (
                json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}]),
                json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.2"}]),
                true,
            ),
            (
                json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}]),
                json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}]),
                false,
            ),
            (
                json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}]),
                json!([{"containerPort": 80, "hostPort": 8080}]),
                false,
            ),
            (
                json!([{"containerPort": 80, "hostPort": 8080}]),
                json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}]),
                false,
            ),
            (
                json!([{"containerPort": 80, "hostPort": 8080}]),
                json!([{"containerPort": 80, "hostPort": 8081}]),
                true,
            ),
            // container ports without host ports never conflict
            (
                json!([{"containerPort": 80}]),
                json!([{"containerPort": 80}]),
                true,
            ),
        ];
        for (have, want, ok) in cases {
            let snap = snapshot(vec![existing(have.clone())]);
            let statuses = run_filter(&NodePorts, &port_pod("p", want.clone()), &snap).unwrap();
            assert_eq!(statuses[0].is_success(), ok, "have {have} want {want}");
            if !ok {
                assert_eq!(statuses[0].code, Code::Unschedulable);
                assert_eq!(statuses[0].reasons, vec![ERR_REASON.to_string()]);
            }
        }
    }

    #[test]
    fn sidecar_ports_and_removal() {
        let sidecar = pod(json!({"metadata": {"name": "s"}, "spec": {"containers": [],
        "initContainers": [
            {"name": "side", "restartPolicy": "Always", "ports": [{"containerPort": 1, "hostPort": 9000}]},
            {"name": "init", "ports": [{"containerPort": 1, "hostPort": 9001}]}
        ]}}));
        let mut n = with_pods(labeled_node("n", json!({})), &[sidecar]);
        assert_eq!(n.used_ports.len(), 1);
        let want = port_pod("p", json!([{"containerPort": 1, "hostPort": 9000}]));
        assert!(!fits(&want, &n));
        assert!(fits(
            &port_pod("q", json!([{"containerPort": 1, "hostPort": 9001}])),
            &n
        ));
        assert!(n.remove_pod("s"));
        assert!(fits(&want, &n));
        assert!(!n.remove_pod("s"));
    }
}
