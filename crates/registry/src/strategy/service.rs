//! Services: defaults, validation, and keeping allocated values on update.
//! (Cluster IPs and node ports are allocated by the storage layer.)

use super::{Hooks, Typed};
use k8s_openapi::api::core::v1::{Service, ServiceSpec, ServiceStatus};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rkube_api::field::{FieldError, Path};
use rkube_api::validation;
use serde_json::Value;
use std::collections::BTreeSet;

/// The services strategy.
pub static SERVICES: Typed<Service, ServiceHooks> = Typed::new(ServiceHooks);

/// Services' hooks.
#[derive(Debug)]
pub struct ServiceHooks;

const TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];

/// Whether the service gets node ports.
pub fn wants_node_ports(spec: &ServiceSpec) -> bool {
    matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"))
}

/// Whether the service gets a cluster IP.
pub fn wants_cluster_ip(spec: &ServiceSpec) -> bool {
    spec.type_.as_deref() != Some("ExternalName") && spec.cluster_ip.as_deref() != Some("None")
}

impl Hooks<Service> for ServiceHooks {
    fn prepare_update(&self, new: &mut Service, old: &Service) {
        let (Some(spec), Some(old)) = (new.spec.as_mut(), old.spec.as_ref()) else {
            return;
        };
        if spec.cluster_ip.as_deref().unwrap_or("").is_empty() && wants_cluster_ip(spec) {
            spec.cluster_ip = old.cluster_ip.clone();
            spec.cluster_ips = old.cluster_ips.clone();
        }
        if wants_node_ports(spec) {
            for port in spec.ports.iter_mut().flatten() {
                if port.node_port.is_none() {
                    port.node_port = old
                        .ports
                        .iter()
                        .flatten()
                        .find(|o| o.port == port.port && o.protocol == port.protocol)
                        .and_then(|o| o.node_port);
                }
            }
        }
    }

    fn default(&self, svc: &mut Service) {
        let spec = svc.spec.get_or_insert_with(Default::default);
        spec.type_.get_or_insert_with(|| "ClusterIP".to_owned());
        spec.session_affinity
            .get_or_insert_with(|| "None".to_owned());
        if spec.type_.as_deref() != Some("ExternalName") {
            spec.internal_traffic_policy
                .get_or_insert_with(|| "Cluster".to_owned());
            spec.ip_families
                .get_or_insert_with(|| vec!["IPv4".to_owned()]);
            spec.ip_family_policy
                .get_or_insert_with(|| "SingleStack".to_owned());
        }
        if wants_node_ports(spec) {
            spec.external_traffic_policy
                .get_or_insert_with(|| "Cluster".to_owned());
        }
        if spec.type_.as_deref() == Some("LoadBalancer") {
            spec.allocate_load_balancer_node_ports.get_or_insert(true);
        }
        if let Some(ip) = spec.cluster_ip.clone()
            && !ip.is_empty()
            && spec.cluster_ips.is_none()
        {
            spec.cluster_ips = Some(vec![ip]);
        }
        for port in spec.ports.iter_mut().flatten() {
            port.protocol.get_or_insert_with(|| "TCP".to_owned());
            port.target_port.get_or_insert(IntOrString::Int(port.port));
        }
        svc.status.get_or_insert_with(|| ServiceStatus {
            load_balancer: Some(Default::default()),
            conditions: None,
        });
    }

    fn validate(&self, svc: &Service) -> Vec<FieldError> {
        let Some(spec) = &svc.spec else {
            return vec![FieldError::required(&Path::new("spec"), "")];
        };
        let path = Path::new("spec");
        let mut errors = Vec::new();
        let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
        if !TYPES.contains(&ty) {
            errors.push(FieldError::not_supported(
                &path.child("type"),
                Value::from(ty),
                &TYPES,
            ));
        }
        let ports = spec.ports.as_deref().unwrap_or(&[]);
        let headless = spec.cluster_ip.as_deref() == Some("None");
        if ports.is_empty() && ty != "ExternalName" && !headless {
            errors.push(FieldError::required(&path.child("ports"), ""));
        }
        if ty == "ExternalName" && spec.external_name.as_deref().unwrap_or("").is_empty() {
            errors.push(FieldError::required(&path.child("externalName"), ""));
        }
        let mut names = BTreeSet::new();
        for (i, port) in ports.iter().enumerate() {
            let at = path.child("ports").index(i);
            match port.name.as_deref() {
                None | Some("") if ports.len() > 1 => {
                    errors.push(FieldError::required(&at.child("name"), ""))
                }
                Some(name) if !name.is_empty() => {
                    for msg in validation::dns1123_label(name) {
                        errors.push(FieldError::invalid(
                            &at.child("name"),
                            Value::from(name),
                            &msg,
                        ));
                    }
                    if !names.insert(name) {
                        errors.push(FieldError::duplicate(&at.child("name"), Value::from(name)));
                    }
                }
                _ => {}
            }
            if !(1..=65535).contains(&port.port) {
                errors.push(FieldError::invalid(
                    &at.child("port"),
                    Value::from(port.port),
                    "must be between 1 and 65535, inclusive",
                ));
            }
            if let Some(protocol) = port.protocol.as_deref()
                && !PROTOCOLS.contains(&protocol)
            {
                errors.push(FieldError::not_supported(
                    &at.child("protocol"),
                    Value::from(protocol),
                    &PROTOCOLS,
                ));
            }
            if let Some(node_port) = port.node_port
                && !wants_node_ports(spec)
                && node_port != 0
            {
                errors.push(FieldError::forbidden(
                    &at.child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
        if let Some(affinity) = spec.session_affinity.as_deref()
            && !["ClientIP", "None"].contains(&affinity)
        {
            errors.push(FieldError::not_supported(
                &path.child("sessionAffinity"),
                Value::from(affinity),
                &["ClientIP", "None"],
            ));
        }
        errors
    }

    fn validate_update(&self, new: &Service, old: &Service) -> Vec<FieldError> {
        let mut errors = self.validate(new);
        let ip = |s: &Service| s.spec.as_ref().and_then(|s| s.cluster_ip.clone());
        let (new_ip, old_ip) = (ip(new), ip(old));
        let keeps_ip = new.spec.as_ref().is_some_and(wants_cluster_ip);
        if keeps_ip && old_ip.as_deref().is_some_and(|ip| !ip.is_empty()) && new_ip != old_ip {
            errors.push(FieldError::invalid(
                &Path::new("spec").child("clusterIP"),
                Value::from(new_ip.unwrap_or_default()),
                "field is immutable",
            ));
        }
        errors
    }

    fn name_errors(&self, name: &str) -> Vec<String> {
        validation::rfc1035_label(name)
    }
}
