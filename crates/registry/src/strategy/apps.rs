//! Workloads with a pod template: deployments, replica sets, stateful
//! sets, daemon sets and jobs.

use super::pod::{default_pod_spec, validate_pod_spec};
use super::{Hooks, Typed};
use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetUpdateStrategy, Deployment, DeploymentStrategy, ReplicaSet,
    RollingUpdateDaemonSet, RollingUpdateDeployment, RollingUpdateStatefulSetStrategy, StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rkube_api::field::{FieldError, Path};
use serde_json::Value;
use std::collections::BTreeMap;

/// The deployments strategy.
pub static DEPLOYMENTS: Typed<Deployment, Workload> = Typed::new(Workload);
/// The replica sets strategy.
pub static REPLICASETS: Typed<ReplicaSet, Workload> = Typed::new(Workload);
/// The stateful sets strategy.
pub static STATEFULSETS: Typed<StatefulSet, Workload> = Typed::new(Workload);
/// The daemon sets strategy.
pub static DAEMONSETS: Typed<DaemonSet, Workload> = Typed::new(Workload);
/// The jobs strategy.
pub static JOBS: Typed<Job, Workload> = Typed::new(Workload);

/// Hooks shared by workloads; per-kind parts come from [`WorkloadKind`].
#[derive(Debug)]
pub struct Workload;

/// What the workload hooks need from a kind.
pub trait WorkloadKind {
    /// The selector, template and replicas, when the spec exists.
    fn parts(&self) -> Option<(Option<&LabelSelector>, &PodTemplateSpec, Option<i32>)>;
    /// Kind-specific defaults (the template's pod spec is defaulted for all).
    fn defaults(&mut self);
    /// The template, to default it.
    fn template_mut(&mut self) -> Option<&mut PodTemplateSpec>;
    /// The restart policies the template may use.
    fn restart_policies(&self) -> &'static [&'static str] {
        &["Always"]
    }
    /// Kind-specific update checks.
    fn validate_update(&self, _old: &Self) -> Vec<FieldError> {
        Vec::new()
    }
    /// Extra field-selector fields.
    fn fields(_obj: &Value) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// Extra field-selector fields supported.
    fn selectable() -> &'static [&'static str] {
        &[]
    }
}

/// Whether a label selector selects these labels (matchLabels and
/// matchExpressions, ANDed).
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or(&[]);
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

fn selector_is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|m| m.is_empty())
}

fn go_map(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    format!("map[string]string{{{}}}", inner.join(", "))
}

impl<K: WorkloadKind + Send + Sync> Hooks<K> for Workload {
    fn default(&self, obj: &mut K) {
        obj.defaults();
        if let Some(template) = obj.template_mut() {
            default_pod_spec(template.spec.get_or_insert_with(Default::default));
        }
    }

    fn validate(&self, obj: &K) -> Vec<FieldError> {
        let spec = Path::new("spec");
        let Some((selector, template, replicas)) = obj.parts() else {
            return vec![FieldError::required(&spec, "")];
        };
        let mut errors = Vec::new();
        if let Some(replicas) = replicas
            && replicas < 0
        {
            errors.push(FieldError::invalid(
                &spec.child("replicas"),
                Value::from(replicas),
                "must be greater than or equal to 0",
            ));
        }
        let labels = template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        match selector {
            None => errors.push(FieldError::required(&spec.child("selector"), "")),
            Some(sel) if selector_is_empty(sel) => errors.push(FieldError::invalid(
                &spec.child("selector"),
                serde_json::to_value(sel).unwrap_or_default(),
                "empty selector is invalid for deployment",
            )),
            Some(sel) if !selects(sel, &labels) => errors.push(FieldError::invalid(
                &spec.child("template").child("metadata").child("labels"),
                Value::from(go_map(&labels)),
                "`selector` does not match template `labels`",
            )),
            Some(_) => {}
        }
        let template_path = spec.child("template").child("spec");
        match &template.spec {
            None => errors.push(FieldError::required(&template_path, "")),
            Some(pod) => {
                errors.extend(validate_pod_spec(pod, &template_path));
                let allowed = obj.restart_policies();
                if let Some(policy) = pod.restart_policy.as_deref()
                    && !allowed.contains(&policy)
                {
                    errors.push(FieldError::not_supported(
                        &template_path.child("restartPolicy"),
                        Value::from(policy),
                        allowed,
                    ));
                }
            }
        }
        errors
    }

    fn validate_update(&self, new: &K, old: &K) -> Vec<FieldError> {
        let mut errors = self.validate(new);
        let selector = |k: &K| k.parts().and_then(|(s, _, _)| s.cloned());
        if selector(new) != selector(old) {
            errors.push(FieldError::invalid(
                &Path::new("spec").child("selector"),
                serde_json::to_value(selector(new)).unwrap_or_default(),
                "field is immutable",
            ));
        }
        errors.extend(new.validate_update(old));
        errors
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        K::fields(obj)
    }

    fn selectable(&self) -> &'static [&'static str] {
        K::selectable()
    }
}

fn quarter() -> IntOrString {
    IntOrString::String("25%".to_owned())
}

impl WorkloadKind for Deployment {
    fn parts(&self) -> Option<(Option<&LabelSelector>, &PodTemplateSpec, Option<i32>)> {
        let s = self.spec.as_ref()?;
        Some((Some(&s.selector), &s.template, s.replicas))
    }
    fn defaults(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.replicas.get_or_insert(1);
        spec.revision_history_limit.get_or_insert(10);
        spec.progress_deadline_seconds.get_or_insert(600);
        let strategy = spec
            .strategy
            .get_or_insert_with(DeploymentStrategy::default);
        let ty = strategy
            .type_
            .get_or_insert_with(|| "RollingUpdate".to_owned());
        if ty == "RollingUpdate" {
            let rolling = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateDeployment::default);
            rolling.max_surge.get_or_insert_with(quarter);
            rolling.max_unavailable.get_or_insert_with(quarter);
        }
    }
    fn template_mut(&mut self) -> Option<&mut PodTemplateSpec> {
        self.spec.as_mut().map(|s| &mut s.template)
    }
}

impl WorkloadKind for ReplicaSet {
    fn parts(&self) -> Option<(Option<&LabelSelector>, &PodTemplateSpec, Option<i32>)> {
        let s = self.spec.as_ref()?;
        Some((Some(&s.selector), s.template.as_ref()?, s.replicas))
    }
    fn defaults(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.replicas.get_or_insert(1);
    }
    fn template_mut(&mut self) -> Option<&mut PodTemplateSpec> {
        self.spec.as_mut().and_then(|s| s.template.as_mut())
    }
    fn fields(obj: &Value) -> Vec<(&'static str, String)> {
        let replicas = obj["status"]["replicas"].as_i64().unwrap_or(0);
        vec![("status.replicas", replicas.to_string())]
    }
    fn selectable() -> &'static [&'static str] {
        &["status.replicas"]
    }
}

impl WorkloadKind for StatefulSet {
    fn parts(&self) -> Option<(Option<&LabelSelector>, &PodTemplateSpec, Option<i32>)> {
        let s = self.spec.as_ref()?;
        Some((Some(&s.selector), &s.template, s.replicas))
    }
    fn defaults(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.replicas.get_or_insert(1);
        spec.revision_history_limit.get_or_insert(10);
        spec.pod_management_policy
            .get_or_insert_with(|| "OrderedReady".to_owned());
        let update = spec
            .update_strategy
            .get_or_insert_with(StatefulSetUpdateStrategy::default);
        if update
            .type_
            .get_or_insert_with(|| "RollingUpdate".to_owned())
            == "RollingUpdate"
        {
            update
                .rolling_update
                .get_or_insert_with(RollingUpdateStatefulSetStrategy::default)
                .partition
                .get_or_insert(0);
        }
        let retention = spec
            .persistent_volume_claim_retention_policy
            .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
        retention
            .when_deleted
            .get_or_insert_with(|| "Retain".to_owned());
        retention
            .when_scaled
            .get_or_insert_with(|| "Retain".to_owned());
    }
    fn template_mut(&mut self) -> Option<&mut PodTemplateSpec> {
        self.spec.as_mut().map(|s| &mut s.template)
    }
}

impl WorkloadKind for DaemonSet {
    fn parts(&self) -> Option<(Option<&LabelSelector>, &PodTemplateSpec, Option<i32>)> {
        let s = self.spec.as_ref()?;
        Some((Some(&s.selector), &s.template, None))
    }
    fn defaults(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.revision_history_limit.get_or_insert(10);
        let update = spec
            .update_strategy
            .get_or_insert_with(DaemonSetUpdateStrategy::default);
        if update
            .type_
            .get_or_insert_with(|| "RollingUpdate".to_owned())
            == "RollingUpdate"
        {
            let rolling = update
                .rolling_update
                .get_or_insert_with(RollingUpdateDaemonSet::default);
            rolling.max_unavailable.get_or_insert(IntOrString::Int(1));
            rolling.max_surge.get_or_insert(IntOrString::Int(0));
        }
    }
    fn template_mut(&mut self) -> Option<&mut PodTemplateSpec> {
        self.spec.as_mut().map(|s| &mut s.template)
    }
}

/// The labels upstream puts on a job's pods and selector.
const JOB_UID_LABELS: [&str; 2] = ["batch.kubernetes.io/controller-uid", "controller-uid"];
const JOB_NAME_LABELS: [&str; 2] = ["batch.kubernetes.io/job-name", "job-name"];

impl WorkloadKind for Job {
    fn parts(&self) -> Option<(Option<&LabelSelector>, &PodTemplateSpec, Option<i32>)> {
        let s = self.spec.as_ref()?;
        Some((s.selector.as_ref(), &s.template, None))
    }
    fn defaults(&mut self) {
        let uid = self.metadata.uid.clone().unwrap_or_default();
        let name = self.metadata.name.clone().unwrap_or_default();
        let spec = self.spec.get_or_insert_with(Default::default);
        if spec.completions.is_none() && spec.parallelism.is_none() {
            spec.completions = Some(1);
        }
        spec.parallelism.get_or_insert(1);
        spec.backoff_limit.get_or_insert(6);
        spec.completion_mode
            .get_or_insert_with(|| "NonIndexed".to_owned());
        spec.suspend.get_or_insert(false);
        spec.manual_selector.get_or_insert(false);
        spec.pod_replacement_policy
            .get_or_insert_with(|| "TerminatingOrFailed".to_owned());
        if spec.manual_selector == Some(false) && spec.selector.is_none() && !uid.is_empty() {
            spec.selector = Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    JOB_UID_LABELS[0].to_owned(),
                    uid.clone(),
                )])),
                match_expressions: None,
            });
            let labels = spec
                .template
                .metadata
                .get_or_insert_with(Default::default)
                .labels
                .get_or_insert_with(Default::default);
            for key in JOB_UID_LABELS {
                labels.insert(key.to_owned(), uid.clone());
            }
            for key in JOB_NAME_LABELS {
                labels.insert(key.to_owned(), name.clone());
            }
        }
    }
    fn template_mut(&mut self) -> Option<&mut PodTemplateSpec> {
        self.spec.as_mut().map(|s| &mut s.template)
    }
    fn restart_policies(&self) -> &'static [&'static str] {
        &["OnFailure", "Never"]
    }
    fn validate_update(&self, old: &Self) -> Vec<FieldError> {
        let template = |j: &Job| j.spec.as_ref().map(|s| s.template.clone());
        if template(self) != template(old) {
            return vec![FieldError::invalid(
                &Path::new("spec").child("template"),
                Value::from("core.PodTemplateSpec{...}"),
                "field is immutable",
            )];
        }
        Vec::new()
    }
    fn fields(obj: &Value) -> Vec<(&'static str, String)> {
        let succeeded = obj["status"]["succeeded"].as_i64().unwrap_or(0);
        vec![("status.successful", succeeded.to_string())]
    }
    fn selectable() -> &'static [&'static str] {
        &["status.successful"]
    }
}
