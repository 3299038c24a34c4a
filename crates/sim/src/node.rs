//! Simulated nodes without IO: the Node a simulated kubelet registers, its status and
//! heartbeats, its Lease, and the compact state the simulator keeps per node.

use crate::cidr::{self, IpPool, Ipv4Cidr};
use crate::config::{Names, SimConfig};
use crate::pod::time;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

/// The label every simulated node carries (`type=sim`), to tell them apart from real ones.
pub const TYPE_LABEL: (&str, &str) = ("type", "sim");
/// The namespace of node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// The port the nodes claim their (never contacted) kubelet listens on.
pub const KUBELET_PORT: i32 = 10250;

/// What the simulator keeps per node: about 64 bytes, plus 32 bytes of address bitmap for a
/// /24 while pods hold addresses. Names, addresses and labels are derived from the index.
#[derive(Debug, Default)]
pub struct NodeState {
    /// The node's pod range, once known.
    pub pod_cidr: Option<Ipv4Cidr>,
    /// The pod addresses in use.
    pub pool: IpPool,
    /// Failed: no heartbeats, pods frozen.
    pub failed: bool,
    /// Bumped whenever the node's heartbeat timers are re-armed; older timers are stale.
    pub epoch: u32,
    /// `lastTransitionTime` of the node's conditions (when it last became Ready).
    pub ready_since: Option<Timestamp>,
}

/// The labels of node `index`.
pub fn labels(names: &Names, config: &SimConfig, index: u32) -> Value {
    json!({
        "kubernetes.io/hostname": names.name(index),
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/zone": format!("zone-{}", index % config.zones.max(1)),
        TYPE_LABEL.0: TYPE_LABEL.1,
    })
}

/// The Node object node `index` registers with (status follows through `nodes/status`).
pub fn node_object(names: &Names, config: &SimConfig, index: u32) -> Node {
    let value = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": names.name(index),
            "labels": labels(names, config, index),
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {},
    });
    serde_json::from_value(value).unwrap_or_default()
}

/// Upstream's healthy node conditions, as of `now`, in `Ready` since `since`.
pub fn conditions(now: Timestamp, since: Timestamp) -> Value {
    let c = |kind, status, reason, message| {
        json!({
            "type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": time(now), "lastTransitionTime": time(since),
        })
    };
    json!([
        c(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available"
        ),
        c(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure"
        ),
        c(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available"
        ),
        c(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status"
        ),
    ])
}

/// The full status node `index` reports when it registers: resources, conditions,
/// addresses, the kubelet endpoint and system info.
pub fn status_patch(names: &Names, config: &SimConfig, index: u32, now: Timestamp) -> Value {
    let name = names.name(index);
    let r = &config.resources;
    let mut resources = json!({"cpu": r.cpu, "memory": r.memory, "pods": r.pods.to_string()});
    if let Some(storage) = &r.ephemeral_storage {
        resources["ephemeral-storage"] = json!(storage);
    }
    let id = format!("{:032x}", u128::from(index) + 1);
    json!({"status": {
        "capacity": resources,
        "allocatable": resources,
        "conditions": conditions(now, now),
        "addresses": [
            {"type": "InternalIP", "address": cidr::node_ip(index).to_string()},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "nodeInfo": {
            "machineID": id,
            "systemUUID": format!(
                "{}-{}-{}-{}-{}", &id[..8], &id[8..12], &id[12..16], &id[16..20], &id[20..]
            ),
            "bootID": id,
            "kernelVersion": "6.1.0-sim",
            "osImage": "rkube simulated node",
            "containerRuntimeVersion": "sim://0",
            "kubeletVersion": config.kubelet_version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }})
}

/// The heartbeat status patch: the conditions, with `lastHeartbeatTime` now.
pub fn heartbeat_patch(now: Timestamp, since: Timestamp) -> Value {
    json!({"status": {"conditions": conditions(now, since)}})
}

/// The JSON patch giving a node its pod range, only if it has none yet.
pub fn pod_cidr_patch(cidr: Ipv4Cidr) -> Value {
    json!([
        {"op": "test", "path": "/spec/podCIDR", "value": null},
        {"op": "add", "path": "/spec/podCIDR", "value": cidr.to_string()},
        {"op": "add", "path": "/spec/podCIDRs", "value": [cidr.to_string()]},
    ])
}

/// The node's pod range as the API shows it.
pub fn pod_cidr_of(node: &Node) -> Option<Ipv4Cidr> {
    let spec = node.spec.as_ref()?;
    let cidrs = spec.pod_cidrs.iter().flatten().chain(spec.pod_cidr.iter());
    cidrs.filter_map(|c| c.parse().ok()).next()
}

/// The Lease of node `name` (`uid` makes the Node its owner, as upstream's kubelet does).
pub fn lease(name: &str, uid: Option<&str>, duration_seconds: i32, now: Timestamp) -> Lease {
    let mut value = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
        "spec": renewal(name, duration_seconds, now),
    });
    if let Some(uid) = uid {
        value["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "v1", "kind": "Node", "name": name, "uid": uid}]);
    }
    serde_json::from_value(value).unwrap_or_default()
}

fn renewal(name: &str, duration_seconds: i32, now: Timestamp) -> Value {
    json!({
        "holderIdentity": name,
        "leaseDurationSeconds": duration_seconds,
        "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    })
}

/// The merge patch renewing node `name`'s Lease.
pub fn renew_patch(name: &str, duration_seconds: i32, now: Timestamp) -> Value {
    json!({"spec": renewal(name, duration_seconds, now)})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_700_000_000).unwrap()
    }

    #[test]
    fn per_node_state_stays_small() {
        assert!(
            std::mem::size_of::<NodeState>() <= 64,
            "{}",
            std::mem::size_of::<NodeState>()
        );
    }

    #[test]
    fn nodes_are_labelled_and_spread_over_zones() {
        let config = SimConfig {
            nodes: 5,
            zones: 3,
            ..SimConfig::default()
        };
        let names = Names::new(&config.name_prefix, config.nodes);
        let node = node_object(&names, &config, 4);
        let labels = node.metadata.labels.unwrap();
        assert_eq!(node.metadata.name.as_deref(), Some("sim-0004"));
        assert_eq!(labels["kubernetes.io/hostname"], "sim-0004");
        assert_eq!(labels["topology.kubernetes.io/zone"], "zone-1");
        assert_eq!(labels["type"], "sim");
        assert_eq!(labels["kubernetes.io/arch"], "amd64");
    }

    #[test]
    fn the_registration_status_reads_back_as_a_node_status() {
        let config = SimConfig {
            resources: crate::NodeResources {
                ephemeral_storage: Some("100Gi".to_owned()),
                ..Default::default()
            },
            ..SimConfig::default()
        };
        let names = Names::new("sim-", 1);
        let patch = status_patch(&names, &config, 0, now());
        let status: k8s_openapi::api::core::v1::NodeStatus =
            serde_json::from_value(patch["status"].clone()).unwrap();
        let capacity = status.capacity.unwrap();
        assert_eq!(capacity["cpu"].0, "32");
        assert_eq!(capacity["pods"].0, "110");
        assert_eq!(capacity["ephemeral-storage"].0, "100Gi");
        let info = status.node_info.unwrap();
        assert_eq!(info.kubelet_version, "v1.33.0-rkube-sim");
        assert_eq!(info.container_runtime_version, "sim://0");
        let addresses = status.addresses.unwrap();
        assert_eq!(addresses[0].address, "10.255.0.1");
        assert_eq!(addresses[1].address, "sim-0000");
        let ready = status.conditions.unwrap();
        assert_eq!(
            (ready[3].type_.as_str(), ready[3].status.as_str()),
            ("Ready", "True")
        );
    }

    #[test]
    fn leases_are_held_by_their_node() {
        let lease = lease("sim-0000", Some("uid-1"), 40, now());
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("sim-0000"));
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert!(spec.renew_time.is_some());
        assert_eq!(lease.metadata.namespace.as_deref(), Some(LEASE_NAMESPACE));
        assert_eq!(lease.metadata.owner_references.unwrap()[0].uid, "uid-1");
    }

    #[test]
    fn reads_pod_ranges_from_either_field() {
        let node: Node =
            serde_json::from_value(json!({"spec": {"podCIDR": "10.42.3.0/24"}})).unwrap();
        assert_eq!(
            pod_cidr_of(&node).map(|c| c.to_string()).as_deref(),
            Some("10.42.3.0/24")
        );
        assert_eq!(pod_cidr_of(&Node::default()), None);
        let patch = pod_cidr_patch("10.42.1.0/24".parse().unwrap());
        assert_eq!(patch[1]["value"], "10.42.1.0/24");
    }
}
