//! The Endpoints controller ("endpoint"): every Service with a selector gets an Endpoints
//! object of the same name listing the selected pods' addresses, ready ones under `addresses`
//! and the others under `notReadyAddresses`, grouped into subsets by the ports they serve.
//! Services without a selector are left alone (their Endpoints are the user's), and the
//! Endpoints of a deleted Service are deleted when this controller made them.

pub mod members;

use crate::informer::{Informer, key_of, split_key};
use crate::pods;
use crate::queue::WorkQueue;
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::core::v1::{EndpointAddress, EndpointSubset, Endpoints, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use members::{PortKey, is_headless, pod_ip, service_families, should_be_in_endpoints};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// At most this many addresses are published in one Endpoints object.
pub const MAX_CAPACITY: usize = 1000;
/// The annotation marking Endpoints that hold fewer addresses than the Service has.
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// The label marking the Endpoints this controller manages.
pub const MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY`].
pub const CONTROLLER_NAME: &str = "endpoint-controller";
/// The label on the endpoints of a Service without a cluster IP.
pub const HEADLESS: &str = "service.kubernetes.io/headless";

/// The Endpoints controller's state.
pub struct EndpointsController {
    client: kube::Client,
    services: Informer<Service>,
    pods: Informer<Pod>,
    endpoints: Informer<Endpoints>,
}

/// The Endpoints controller, its informer callbacks registered; keys are Service keys.
pub fn controller(ctx: &Context) -> Controller {
    let services = ctx.informers.get::<Service>();
    let pods = ctx.informers.get::<Pod>();
    let endpoints = ctx.informers.get::<Endpoints>();
    let queue = WorkQueue::new();
    {
        let queue = queue.clone();
        services.on_change(move |change| queue.add(key_of(change.object().as_ref())));
    }
    {
        let (queue, services) = (queue.clone(), services.clone());
        pods.on_change(move |change| members::enqueue_services(&queue, &services, change));
    }
    {
        // Recreates deleted Endpoints, repairs edited ones and, from the first list, finds
        // ours whose Service is gone.
        let queue = queue.clone();
        endpoints.on_change(move |change| queue.add(key_of(change.object().as_ref())));
    }
    Controller {
        name: "endpoint",
        queue,
        workers: ctx.options.workers,
        resync: None,
        tasks: Vec::new(),
        reconciler: Arc::new(EndpointsController {
            client: ctx.client.clone(),
            services,
            pods,
            endpoints,
        }),
    }
}

/// Whether this controller made the Endpoints.
pub fn is_managed(ep: &Endpoints) -> bool {
    ep.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY))
        .is_some_and(|v| v == CONTROLLER_NAME)
}

/// The subsets of a Service's Endpoints for the pods it selects: each pod that should be in
/// endpoints with its IP of the Service's family, node and reference, ready (or any, with
/// `publishNotReadyAddresses`) under `addresses`, else under `notReadyAddresses`; the
/// addresses serving the same resolved ports share a subset. Sorted, so equal inputs give
/// equal output.
pub fn subsets(svc: &Service, pods: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let spec = svc.spec.clone().unwrap_or_default();
    let publish = spec.publish_not_ready_addresses.unwrap_or(false);
    let family = service_families(svc)[0];
    let has_ports = spec.ports.as_ref().is_some_and(|p| !p.is_empty());
    let mut by_address: BTreeMap<(String, String, bool), (EndpointAddress, BTreeSet<PortKey>)> =
        BTreeMap::new();
    for pod in pods {
        if !should_be_in_endpoints(pod, publish) {
            continue;
        }
        let Some(ip) = pod_ip(pod, family) else {
            continue;
        };
        let ports: BTreeSet<PortKey> = members::resolved_ports(svc, pod).into_iter().collect();
        // A headless Service may have no ports; otherwise a pod serving none is left out.
        if ports.is_empty() && (has_ports || !is_headless(svc)) {
            continue;
        }
        let ready = publish || pods::is_ready(pod);
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let address = EndpointAddress {
            ip: ip.clone(),
            hostname: members::hostname(pod, svc),
            node_name: members::node_name(pod),
            target_ref: Some(members::target_ref(pod)),
        };
        by_address.insert((ip, uid, ready), (address, ports));
    }
    type Group = (Vec<EndpointAddress>, Vec<EndpointAddress>);
    let mut by_ports: BTreeMap<Vec<PortKey>, Group> = BTreeMap::new();
    for ((_, _, ready), (address, ports)) in by_address {
        let group = by_ports.entry(ports.into_iter().collect()).or_default();
        if ready {
            group.0.push(address);
        } else {
            group.1.push(address);
        }
    }
    by_ports
        .into_iter()
        .map(|(ports, (ready, not_ready))| EndpointSubset {
            addresses: some(ready),
            not_ready_addresses: some(not_ready),
            ports: some(ports.iter().map(PortKey::to_core).collect()),
        })
        .collect()
}

/// Cuts subsets holding more than [`MAX_CAPACITY`] addresses down to it, as upstream does:
/// not-ready addresses go first; each subset keeps a share proportional to its size (rounded
/// up, so the last ones may get less). Returns whether anything was cut.
pub fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let len = |v: &Option<Vec<EndpointAddress>>| v.as_ref().map_or(0, Vec::len);
    let ready: usize = subsets.iter().map(|s| len(&s.addresses)).sum();
    let not_ready: usize = subsets.iter().map(|s| len(&s.not_ready_addresses)).sum();
    if ready + not_ready <= MAX_CAPACITY {
        return false;
    }
    let cut_ready = ready > MAX_CAPACITY;
    let (budget, total) = if cut_ready {
        (MAX_CAPACITY, ready)
    } else {
        (MAX_CAPACITY - ready, not_ready)
    };
    let mut left = budget;
    for subset in subsets.iter_mut() {
        let target = if cut_ready {
            &mut subset.addresses
        } else {
            &mut subset.not_ready_addresses
        };
        let here = len(target);
        let share = (here * budget).div_ceil(total).min(left);
        if let Some(v) = target.as_mut() {
            v.truncate(share);
        }
        left -= len(target);
        if target.as_ref().is_some_and(Vec::is_empty) {
            *target = None;
        }
        if cut_ready {
            subset.not_ready_addresses = None;
        }
    }
    true
}

fn some<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn normalized(subsets: Option<&Vec<EndpointSubset>>) -> Vec<EndpointSubset> {
    subsets
        .into_iter()
        .flatten()
        .map(|s| EndpointSubset {
            addresses: s.addresses.clone().and_then(some),
            not_ready_addresses: s.not_ready_addresses.clone().and_then(some),
            ports: s.ports.clone().and_then(some),
        })
        .collect()
}

/// The Endpoints to write for a Service with a selector, given the current ones; `None` when
/// the current ones are already right. Labels are the Service's plus the managed-by and
/// headless labels; the over-capacity annotation is set exactly when addresses were cut.
pub fn desired(svc: &Service, pods: &[Arc<Pod>], current: Option<&Endpoints>) -> Option<Endpoints> {
    let mut subsets = subsets(svc, pods);
    let truncated = truncate(&mut subsets);
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    labels.insert(MANAGED_BY.to_owned(), CONTROLLER_NAME.to_owned());
    if is_headless(svc) {
        labels.insert(HEADLESS.to_owned(), String::new());
    }
    let mut annotations = current
        .and_then(|c| c.metadata.annotations.clone())
        .unwrap_or_default();
    if truncated {
        annotations.insert(OVER_CAPACITY.to_owned(), "truncated".to_owned());
    } else {
        annotations.remove(OVER_CAPACITY);
    }
    if let Some(cur) = current
        && normalized(cur.subsets.as_ref()) == subsets
        && cur.metadata.labels.clone().unwrap_or_default() == labels
        && cur.metadata.annotations.clone().unwrap_or_default() == annotations
    {
        return None;
    }
    let mut endpoints = current.cloned().unwrap_or_else(|| Endpoints {
        metadata: ObjectMeta {
            name: svc.metadata.name.clone(),
            namespace: svc.metadata.namespace.clone(),
            ..ObjectMeta::default()
        },
        subsets: None,
    });
    endpoints.metadata.labels = Some(labels);
    endpoints.metadata.annotations = (!annotations.is_empty()).then_some(annotations);
    endpoints.subsets = (!subsets.is_empty()).then_some(subsets);
    Some(endpoints)
}

fn is_status(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == code)
}

#[async_trait::async_trait]
impl Reconciler for EndpointsController {
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error> {
        let (ns, name) = split_key(key);
        let api: Api<Endpoints> = Api::namespaced(self.client.clone(), ns);
        let current = self.endpoints.get(key);
        let Some(svc) = self.services.get(key) else {
            if current.as_deref().is_some_and(is_managed) {
                match api.delete(name, &DeleteParams::default()).await {
                    Ok(_) => tracing::debug!(endpoints = key, "deleted with its service"),
                    Err(err) if is_status(&err, 404) => {}
                    Err(err) => return Err(err.into()),
                }
            }
            return Ok(None);
        };
        let Some(pods) = members::selected_pods(&svc, &self.pods) else {
            return Ok(None);
        };
        let Some(endpoints) = desired(&svc, &pods, current.as_deref()) else {
            return Ok(None);
        };
        let params = PostParams::default();
        let written = if current.is_some() {
            api.replace(name, &params, &endpoints).await
        } else {
            api.create(&params, &endpoints).await
        };
        match written {
            // Creating in a namespace being deleted is forbidden: nothing to do.
            Err(err) if current.is_none() && is_status(&err, 403) => Ok(None),
            Err(err) => Err(err.into()),
            Ok(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn pod(name: &str, ip: &str, ready: bool, labels: serde_json::Value) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "labels": labels},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "web", "containerPort": 8080}]}]},
                "status": {"phase": "Running", "podIP": ip,
                           "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
            }))
            .unwrap(),
        )
    }

    fn web_service() -> Service {
        svc(
            json!({"metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web"}},
            "spec": {"clusterIP": "10.43.0.10", "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]}}),
        )
    }

    #[test]
    fn ready_and_not_ready_pods_share_a_subset_by_ports() {
        let pods = [
            pod("b", "10.0.0.2", true, json!({})),
            pod("a", "10.0.0.1", true, json!({})),
            pod("c", "10.0.0.3", false, json!({})),
            pod("d", "", true, json!({})),
        ];
        let subsets = subsets(&web_service(), &pods);
        assert_eq!(subsets.len(), 1);
        let ips = |v: &Option<Vec<EndpointAddress>>| {
            v.iter().flatten().map(|a| a.ip.clone()).collect::<Vec<_>>()
        };
        assert_eq!(ips(&subsets[0].addresses), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.0.0.3"]);
        let port = &subsets[0].ports.as_ref().unwrap()[0];
        assert_eq!((port.name.as_deref(), port.port), (Some("http"), 8080));
        let first = &subsets[0].addresses.as_ref().unwrap()[0];
        assert_eq!(first.node_name.as_deref(), Some("n1"));
        let target = first.target_ref.as_ref().unwrap();
        assert_eq!(
            (target.kind.as_deref(), target.uid.as_deref()),
            (Some("Pod"), Some("uid-a"))
        );
    }

    #[test]
    fn publish_not_ready_addresses_makes_every_pod_ready() {
        let mut s = web_service();
        s.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
        let subsets = subsets(&s, &[pod("c", "10.0.0.3", false, json!({}))]);
        assert_eq!(subsets[0].addresses.as_ref().unwrap().len(), 1);
        assert!(subsets[0].not_ready_addresses.is_none());
    }

    #[test]
    fn pods_resolving_different_ports_get_different_subsets() {
        let mut s = web_service();
        s.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].target_port = None;
        let other: Arc<Pod> = Arc::new(
            serde_json::from_value(json!({
            "metadata": {"name": "x", "uid": "x"}, "spec": {"containers": []},
            "status": {"podIP": "10.0.0.9", "conditions": [{"type": "Ready", "status": "True"}]}}))
            .unwrap(),
        );
        let named = web_service();
        assert_eq!(subsets(&s, std::slice::from_ref(&other)).len(), 1);
        // The named port cannot be found on `x`: it is left out.
        assert!(subsets(&named, &[other]).is_empty());
    }

    #[test]
    fn over_capacity_cuts_not_ready_first_and_proportionally() {
        let addr = |i: usize| EndpointAddress {
            ip: format!("10.0.{}.{}", i / 250, i % 250),
            ..Default::default()
        };
        let many = |from: usize, n: usize| Some((from..from + n).map(addr).collect::<Vec<_>>());
        let mut subsets = vec![
            EndpointSubset {
                addresses: many(0, 600),
                not_ready_addresses: many(600, 300),
                ports: None,
            },
            EndpointSubset {
                addresses: many(900, 200),
                not_ready_addresses: many(1100, 100),
                ports: None,
            },
        ];
        assert!(truncate(&mut subsets));
        let count = |v: &Option<Vec<EndpointAddress>>| v.as_ref().map_or(0, Vec::len);
        assert_eq!(
            count(&subsets[0].addresses) + count(&subsets[1].addresses),
            800
        );
        assert_eq!(count(&subsets[0].not_ready_addresses), 150);
        assert_eq!(count(&subsets[1].not_ready_addresses), 50);
        let mut all_ready = vec![EndpointSubset {
            addresses: many(0, 1200),
            not_ready_addresses: many(1200, 5),
            ports: None,
        }];
        assert!(truncate(&mut all_ready));
        assert_eq!(
            (
                count(&all_ready[0].addresses),
                count(&all_ready[0].not_ready_addresses)
            ),
            (1000, 0)
        );
        let mut small = vec![EndpointSubset {
            addresses: many(0, 10),
            ..Default::default()
        }];
        assert!(!truncate(&mut small));
    }

    #[test]
    fn unchanged_endpoints_are_not_rewritten() {
        let s = web_service();
        let pods = [pod("a", "10.0.0.1", true, json!({}))];
        let first = desired(&s, &pods, None).unwrap();
        let labels = first.metadata.labels.clone().unwrap();
        assert_eq!(labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(
            labels.get(MANAGED_BY).map(String::as_str),
            Some(CONTROLLER_NAME)
        );
        assert!(desired(&s, &pods, Some(&first)).is_none());
        let changed = desired(&s, &[pod("a", "10.0.0.7", true, json!({}))], Some(&first)).unwrap();
        assert_eq!(
            changed.subsets.unwrap()[0].addresses.as_ref().unwrap()[0].ip,
            "10.0.0.7"
        );
    }
}
