//! Pods: upstream's defaults (spec, containers, admission-time tolerations
//! and priority), validation, and what an update may change.

use super::{Hooks, Typed};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus, Toleration};
use rkube_api::field::{FieldError, Path};
use rkube_api::validation;
use serde_json::Value;
use std::collections::BTreeSet;

/// The pods strategy.
pub static PODS: Typed<Pod, PodHooks> = Typed::new(PodHooks);

/// Pods' hooks.
#[derive(Debug)]
pub struct PodHooks;

/// The pull policy upstream defaults from an image reference: `Always` for
/// `:latest` or no tag, else `IfNotPresent`.
pub fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn default_container(c: &mut Container) {
    if c.image_pull_policy.is_none() {
        let image = c.image.as_deref().unwrap_or("");
        c.image_pull_policy = Some(default_pull_policy(image).to_owned());
    }
    c.termination_message_path
        .get_or_insert_with(|| "/dev/termination-log".to_owned());
    c.termination_message_policy
        .get_or_insert_with(|| "File".to_owned());
    c.resources.get_or_insert_with(Default::default);
    for port in c.ports.iter_mut().flatten() {
        port.protocol.get_or_insert_with(|| "TCP".to_owned());
    }
}

/// Upstream's defaults for a pod spec (also used in workload templates).
pub fn default_pod_spec(spec: &mut PodSpec) {
    spec.restart_policy
        .get_or_insert_with(|| "Always".to_owned());
    spec.dns_policy
        .get_or_insert_with(|| "ClusterFirst".to_owned());
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.scheduler_name
        .get_or_insert_with(|| "default-scheduler".to_owned());
    spec.security_context.get_or_insert_with(Default::default);
    spec.enable_service_links.get_or_insert(true);
    for c in spec.containers.iter_mut() {
        default_container(c);
    }
    for c in spec.init_containers.iter_mut().flatten() {
        default_container(c);
    }
    for volume in spec.volumes.iter_mut().flatten() {
        if let Some(cm) = volume.config_map.as_mut() {
            cm.default_mode.get_or_insert(0o644);
        }
        if let Some(secret) = volume.secret.as_mut() {
            secret.default_mode.get_or_insert(0o644);
        }
    }
}

/// What upstream's admission adds to every pod: priority, preemption
/// policy and the default not-ready/unreachable tolerations.
fn admit(spec: &mut PodSpec) {
    spec.priority.get_or_insert(0);
    spec.preemption_policy
        .get_or_insert_with(|| "PreemptLowerPriority".to_owned());
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let present = tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some(key) && t.effect.as_deref() == Some("NoExecute"));
        if !present {
            tolerations.push(Toleration {
                key: Some(key.to_owned()),
                operator: Some("Exists".to_owned()),
                effect: Some("NoExecute".to_owned()),
                toleration_seconds: Some(300),
                value: None,
            });
        }
    }
}

/// Upstream's QoS class of a pod.
fn qos_class(spec: &PodSpec) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for c in &spec.containers {
        let resources = c.resources.as_ref();
        let requests = resources.and_then(|r| r.requests.as_ref());
        let limits = resources.and_then(|r| r.limits.as_ref());
        for name in ["cpu", "memory"] {
            let request = requests.and_then(|r| r.get(name));
            let limit = limits.and_then(|l| l.get(name));
            any |= request.is_some() || limit.is_some();
            match (request, limit) {
                (_, None) => guaranteed = false,
                (Some(r), Some(l)) if r != l => guaranteed = false,
                _ => {}
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

fn validate_containers(containers: &[Container], path: &Path, required: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if required && containers.is_empty() {
        errors.push(FieldError::required(path, ""));
    }
    let mut names = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let at = path.index(i);
        if c.name.is_empty() {
            errors.push(FieldError::required(&at.child("name"), ""));
        } else {
            for msg in validation::dns1123_label(&c.name) {
                errors.push(FieldError::invalid(
                    &at.child("name"),
                    Value::from(c.name.clone()),
                    &msg,
                ));
            }
            if !names.insert(c.name.as_str()) {
                errors.push(FieldError::duplicate(
                    &at.child("name"),
                    Value::from(c.name.clone()),
                ));
            }
        }
        if c.image.as_deref().unwrap_or("").trim().is_empty() {
            errors.push(FieldError::required(&at.child("image"), ""));
        }
        for (j, port) in c.ports.iter().flatten().enumerate() {
            if !(1..=65535).contains(&port.container_port) {
                errors.push(FieldError::invalid(
                    &at.child("ports").index(j).child("containerPort"),
                    Value::from(port.container_port),
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
        if let Some(policy) = c.image_pull_policy.as_deref()
            && !["Always", "IfNotPresent", "Never"].contains(&policy)
        {
            errors.push(FieldError::not_supported(
                &at.child("imagePullPolicy"),
                Value::from(policy),
                &["Always", "IfNotPresent", "Never"],
            ));
        }
    }
    errors
}

/// Checks a pod spec (also used for workload templates) under `path`.
pub fn validate_pod_spec(spec: &PodSpec, path: &Path) -> Vec<FieldError> {
    let mut errors = validate_containers(&spec.containers, &path.child("containers"), true);
    if let Some(init) = &spec.init_containers {
        errors.extend(validate_containers(
            init,
            &path.child("initContainers"),
            false,
        ));
    }
    if let Some(policy) = spec.restart_policy.as_deref()
        && !["Always", "OnFailure", "Never"].contains(&policy)
    {
        errors.push(FieldError::not_supported(
            &path.child("restartPolicy"),
            Value::from(policy),
            &["Always", "OnFailure", "Never"],
        ));
    }
    if let Some(policy) = spec.dns_policy.as_deref()
        && !["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"].contains(&policy)
    {
        errors.push(FieldError::not_supported(
            &path.child("dnsPolicy"),
            Value::from(policy),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        ));
    }
    if let Some(seconds) = spec.termination_grace_period_seconds
        && seconds < 0
    {
        errors.push(FieldError::invalid(
            &path.child("terminationGracePeriodSeconds"),
            Value::from(seconds),
            "must be greater than or equal to 0",
        ));
    }
    errors
}

/// A pod spec with the fields an update may change blanked out, so two
/// specs compare equal when only those differ.
fn immutable_part(spec: &PodSpec) -> PodSpec {
    let mut spec = spec.clone();
    for c in spec.containers.iter_mut() {
        c.image = None;
    }
    for c in spec.init_containers.iter_mut().flatten() {
        c.image = None;
    }
    spec.active_deadline_seconds = None;
    spec.tolerations = None;
    spec.termination_grace_period_seconds = None;
    spec
}

impl Hooks<Pod> for PodHooks {
    fn default(&self, pod: &mut Pod) {
        let spec = pod.spec.get_or_insert_with(Default::default);
        default_pod_spec(spec);
        admit(spec);
        let qos = qos_class(spec).to_owned();
        let status = pod.status.get_or_insert_with(PodStatus::default);
        status.phase.get_or_insert_with(|| "Pending".to_owned());
        status.qos_class.get_or_insert(qos);
    }

    fn validate(&self, pod: &Pod) -> Vec<FieldError> {
        match &pod.spec {
            Some(spec) => validate_pod_spec(spec, &Path::new("spec")),
            None => vec![FieldError::required(&Path::new("spec"), "")],
        }
    }

    fn validate_update(&self, new: &Pod, old: &Pod) -> Vec<FieldError> {
        let mut errors = self.validate(new);
        if let (Some(n), Some(o)) = (&new.spec, &old.spec)
            && immutable_part(n) != immutable_part(o)
        {
            errors.push(FieldError::forbidden(
                &Path::new("spec"),
                "pod updates may not change fields other than `spec.containers[*].image`,\
                 `spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,\
                 `spec.tolerations` (only additions to existing tolerations),\
                 `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
            ));
        }
        errors
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
        let spec = &obj["spec"];
        let status = &obj["status"];
        vec![
            ("spec.nodeName", s(&spec["nodeName"])),
            ("spec.restartPolicy", s(&spec["restartPolicy"])),
            ("spec.schedulerName", s(&spec["schedulerName"])),
            ("spec.serviceAccountName", s(&spec["serviceAccountName"])),
            (
                "spec.hostNetwork",
                spec["hostNetwork"].as_bool().unwrap_or(false).to_string(),
            ),
            ("status.phase", s(&status["phase"])),
            ("status.podIP", s(&status["podIP"])),
            ("status.nominatedNodeName", s(&status["nominatedNodeName"])),
        ]
    }

    fn selectable(&self) -> &'static [&'static str] {
        &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(
            default_pull_policy("localhost:5000/nginx:1"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("nginx@sha256:abc"), "IfNotPresent");
    }
}
