//! What both endpoint controllers ask of a Service and its pods: which pods back it, which of
//! their IPs and ports they publish, and which Services a pod change concerns.

use crate::informer::{Change, Informer, key_of};
use crate::pods;
use crate::queue::WorkQueue;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rkube_api::labels::{Selector, pod_labels};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The selector of a Service whose endpoints the controllers manage. `None` for ExternalName
/// Services and Services without a selector (an empty one counts as none, as it does once
/// upstream has stored it): their endpoints are the user's.
pub fn service_selector(svc: &Service) -> Option<Selector> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    spec.selector
        .as_ref()
        .filter(|s| !s.is_empty())
        .map(Selector::from_map)
}

/// The pods of the Service's namespace that its selector matches; `None` when the Service's
/// endpoints are not the controllers' to manage.
pub fn selected_pods(svc: &Service, all: &Informer<Pod>) -> Option<Vec<Arc<Pod>>> {
    let selector = service_selector(svc)?;
    let ns = svc.metadata.namespace.as_deref().unwrap_or("default");
    Some(
        all.list_namespace(ns)
            .into_iter()
            .filter(|p| selector.matches(pod_labels(p)))
            .collect(),
    )
}

/// Upstream's `ShouldPodBeInEndpoints`: the pod has an IP and has not finished; a pod being
/// deleted counts only when `include_terminating`.
pub fn should_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    !pods::is_terminated(pod)
        && !pod_ips(pod).is_empty()
        && (include_terminating || pod.metadata.deletion_timestamp.is_none())
}

/// The pod's IPs (`status.podIPs`, else `status.podIP`).
pub fn pod_ips(pod: &Pod) -> Vec<&str> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let listed: Vec<&str> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|ip| ip.ip.as_str())
        .filter(|ip| !ip.is_empty())
        .collect();
    if !listed.is_empty() {
        return listed;
    }
    status
        .pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
        .into_iter()
        .collect()
}

/// An IP family, as Services and EndpointSlices name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of(ip: &str) -> IpFamily {
        if ip.contains(':') {
            IpFamily::V6
        } else {
            IpFamily::V4
        }
    }

    /// The family named `IPv4` or `IPv6`.
    pub fn from_name(name: &str) -> Option<IpFamily> {
        match name {
            "IPv4" => Some(IpFamily::V4),
            "IPv6" => Some(IpFamily::V6),
            _ => None,
        }
    }

    /// Its name, which is also the EndpointSlice address type.
    pub fn name(self) -> &'static str {
        match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        }
    }
}

/// Whether the Service has no cluster IP (headless).
pub fn is_headless(svc: &Service) -> bool {
    let ip = svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref());
    matches!(ip, None | Some("") | Some("None"))
}

/// The IP families the Service serves: `spec.ipFamilies`, else its cluster IP's, else IPv4
/// (what an API server defaults a single-stack cluster's Services to).
pub fn service_families(svc: &Service) -> Vec<IpFamily> {
    let spec = svc.spec.as_ref();
    let listed: Vec<IpFamily> = spec
        .and_then(|s| s.ip_families.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|f| IpFamily::from_name(f))
        .collect();
    if !listed.is_empty() {
        return listed;
    }
    match spec.and_then(|s| s.cluster_ip.as_deref()) {
        Some(ip) if !is_headless(svc) => vec![IpFamily::of(ip)],
        _ => vec![IpFamily::V4],
    }
}

/// The pod's first IP of `family`.
pub fn pod_ip(pod: &Pod, family: IpFamily) -> Option<String> {
    pod_ips(pod)
        .into_iter()
        .find(|ip| IpFamily::of(ip) == family)
        .map(str::to_owned)
}

/// Upstream's `FindPort`: the port a Service port reaches on this pod. A numeric target port
/// is used as is (none means the Service port); a named one is looked up among the ports of
/// the pod's containers (and sidecars) with the same name and protocol.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match &port.target_port {
        None | Some(IntOrString::Int(0)) => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            let spec = pod.spec.as_ref()?;
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// One port an endpoint serves: a Service port resolved for a pod. Ordered, so that sets of
/// them can group endpoints.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortKey {
    /// The Service port's name (may be empty).
    pub name: String,
    /// The port on the pod.
    pub port: i32,
    /// The protocol.
    pub protocol: String,
    /// The Service port's application protocol.
    pub app_protocol: Option<String>,
}

impl PortKey {
    /// The Service port resolved to `port` on a pod.
    pub fn new(svc_port: &ServicePort, port: i32) -> PortKey {
        PortKey {
            name: svc_port.name.clone().unwrap_or_default(),
            port,
            protocol: svc_port
                .protocol
                .clone()
                .unwrap_or_else(|| "TCP".to_owned()),
            app_protocol: svc_port.app_protocol.clone(),
        }
    }

    /// The key of an EndpointSlice's port.
    pub fn of_slice_port(p: &discovery::EndpointPort) -> PortKey {
        PortKey {
            name: p.name.clone().unwrap_or_default(),
            port: p.port.unwrap_or_default(),
            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
            app_protocol: p.app_protocol.clone(),
        }
    }

    /// As a core/v1 Endpoints port (an empty name omitted).
    pub fn to_core(&self) -> k8s_openapi::api::core::v1::EndpointPort {
        k8s_openapi::api::core::v1::EndpointPort {
            name: (!self.name.is_empty()).then(|| self.name.clone()),
            port: self.port,
            protocol: Some(self.protocol.clone()),
            app_protocol: self.app_protocol.clone(),
        }
    }

    /// As an EndpointSlice port (the name always present, as upstream writes it).
    pub fn to_slice(&self) -> discovery::EndpointPort {
        discovery::EndpointPort {
            name: Some(self.name.clone()),
            port: Some(self.port),
            protocol: Some(self.protocol.clone()),
            app_protocol: self.app_protocol.clone(),
        }
    }
}

/// The Service's ports resolved for `pod`, in the Service's order (ports the pod cannot serve
/// are left out).
pub fn resolved_ports(svc: &Service, pod: &Pod) -> Vec<PortKey> {
    svc.spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .filter_map(|p| find_port(pod, p).map(|n| PortKey::new(p, n)))
        .collect()
}

/// The pod's hostname, published when its `subdomain` names the Service (same namespace).
pub fn hostname(pod: &Pod, svc: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let host = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == svc.metadata.name.as_deref()
        && pod.metadata.namespace == svc.metadata.namespace)
        .then(|| host.to_owned())
}

/// A `Pod` reference to the pod.
pub fn target_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".to_owned()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

/// The pod's node, if it has one.
pub fn node_name(pod: &Pod) -> Option<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty())
}

/// Whether a pod update can change what endpoints publish about it (upstream's
/// `podEndpointsChanged`, which ignores e.g. annotation changes).
pub fn endpoints_changed(old: &Pod, new: &Pod) -> bool {
    let facts = |p: &Pod| {
        let spec = p.spec.as_ref();
        (
            pod_ips(p)
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
            pods::is_ready(p),
            pods::is_terminated(p),
            p.metadata.deletion_timestamp.is_some(),
            spec.and_then(|s| s.node_name.clone()),
            spec.and_then(|s| s.hostname.clone()),
            spec.and_then(|s| s.subdomain.clone()),
        )
    };
    facts(old) != facts(new)
        || old.spec.as_ref().map(|s| &s.containers) != new.spec.as_ref().map(|s| &s.containers)
}

/// The keys of the Services in the pod's namespace that select it.
pub fn services_selecting(services: &Informer<Service>, pod: &Pod) -> BTreeSet<String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    services
        .list_namespace(ns)
        .iter()
        .filter(|svc| service_selector(svc).is_some_and(|s| s.matches(pod_labels(pod))))
        .map(|svc| key_of(svc.as_ref()))
        .collect()
}

/// Queues the Services a pod change concerns: those selecting it before or after.
pub fn enqueue_services(queue: &WorkQueue, services: &Informer<Service>, change: Change<'_, Pod>) {
    let keys = match change {
        Change::Added(pod) | Change::Deleted(pod) => services_selecting(services, pod),
        Change::Updated { old, new } => {
            if old.metadata.labels != new.metadata.labels {
                let mut keys = services_selecting(services, old);
                keys.extend(services_selecting(services, new));
                keys
            } else if endpoints_changed(old, new) {
                services_selecting(services, new)
            } else {
                BTreeSet::new()
            }
        }
    };
    for key in keys {
        queue.add(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn svc_port(v: serde_json::Value) -> ServicePort {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn named_target_ports_resolve_by_name_and_protocol() {
        let p = pod(json!({"spec": {
            "containers": [{"name": "a", "ports": [
                {"name": "http", "containerPort": 8080},
                {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}],
            "initContainers": [{"name": "side", "restartPolicy": "Always",
                                "ports": [{"name": "metrics", "containerPort": 9090}]}]}}));
        let find = |v| find_port(&p, &svc_port(v));
        assert_eq!(find(json!({"port": 80, "targetPort": "http"})), Some(8080));
        assert_eq!(
            find(json!({"port": 53, "targetPort": "dns", "protocol": "UDP"})),
            Some(53)
        );
        assert_eq!(
            find(json!({"port": 53, "targetPort": "dns", "protocol": "TCP"})),
            None
        );
        assert_eq!(
            find(json!({"port": 9, "targetPort": "metrics"})),
            Some(9090)
        );
        assert_eq!(find(json!({"port": 80, "targetPort": "nope"})), None);
        assert_eq!(find(json!({"port": 80, "targetPort": 9376})), Some(9376));
        assert_eq!(find(json!({"port": 80})), Some(80));
    }

    #[test]
    fn pods_without_ip_finished_or_deleted_are_left_out() {
        let running = pod(json!({"status": {"phase": "Running", "podIP": "10.0.0.1"}}));
        let no_ip = pod(json!({"status": {"phase": "Pending"}}));
        let done = pod(json!({"status": {"phase": "Succeeded", "podIP": "10.0.0.2"}}));
        let deleting = pod(
            json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": "Running", "podIP": "10.0.0.3"}}),
        );
        assert!(should_be_in_endpoints(&running, false));
        assert!(!should_be_in_endpoints(&no_ip, true));
        assert!(!should_be_in_endpoints(&done, true));
        assert!(!should_be_in_endpoints(&deleting, false));
        assert!(should_be_in_endpoints(&deleting, true));
    }

    #[test]
    fn families_come_from_the_service_and_pick_the_pod_ip() {
        let svc = |v| serde_json::from_value::<Service>(json!({"spec": v})).unwrap();
        assert_eq!(
            service_families(&svc(json!({"clusterIP": "fd00::1"}))),
            [IpFamily::V6]
        );
        assert_eq!(
            service_families(&svc(json!({"clusterIP": "None"}))),
            [IpFamily::V4]
        );
        assert_eq!(
            service_families(&svc(json!({"ipFamilies": ["IPv6", "IPv4"]}))),
            [IpFamily::V6, IpFamily::V4]
        );
        let p = pod(json!({"status": {"podIP": "10.0.0.1",
            "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::5"}]}}));
        assert_eq!(pod_ip(&p, IpFamily::V6).as_deref(), Some("fd00::5"));
        assert_eq!(pod_ip(&p, IpFamily::V4).as_deref(), Some("10.0.0.1"));
        let empty_selector = svc(json!({"selector": {}}));
        assert!(service_selector(&empty_selector).is_none());
    }
}
