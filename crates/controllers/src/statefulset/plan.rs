//! The StatefulSet controller's decisions, as pure functions: pod identities (`<set>-<n>`,
//! hostname, subdomain, identity labels), the ordered steps of one sync (create, replace
//! failed, scale down from the highest ordinal, roll from the highest ordinal down to the
//! partition), and the status.

use crate::history::HASH_LABEL;
use crate::pods::{self, controller_ref};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The label naming a stateful pod (for per-pod Services).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label holding a stateful pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The set's name.
pub fn set_name(set: &StatefulSet) -> &str {
    set.metadata.name.as_deref().unwrap_or("")
}

/// `spec.replicas` (default 1).
pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(0)
}

/// The first ordinal (`spec.ordinals.start`, default 0).
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.ordinals.as_ref())
        .and_then(|o| o.start)
        .unwrap_or(0)
        .max(0)
}

/// The ordinal of a pod named `<set>-<n>`, if it is named so.
pub fn ordinal_of(set: &str, pod_name: &str) -> Option<i32> {
    let digits = pod_name.strip_prefix(set)?.strip_prefix('-')?;
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    digits.parse().ok()
}

/// The pod name of an ordinal.
pub fn pod_name(set: &str, ordinal: i32) -> String {
    format!("{set}-{ordinal}")
}

/// The revision (ControllerRevision name) a pod was made from.
pub fn revision_of(pod: &Pod) -> &str {
    crate::history::hash_label(&pod.metadata)
}

/// Whether pods are started and stopped all at once (`Parallel`) instead of in order.
pub fn is_parallel(set: &StatefulSet) -> bool {
    set.spec
        .as_ref()
        .and_then(|s| s.pod_management_policy.as_deref())
        == Some("Parallel")
}

/// Whether the set replaces pods itself (RollingUpdate, the default) rather than OnDelete.
pub fn is_rolling(set: &StatefulSet) -> bool {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

/// The rolling update's partition (ordinals below it keep the current revision).
pub fn partition(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0)
        .max(0)
}

/// How many pods may be unavailable while rolling (at least one; percentages round up).
pub fn max_unavailable(set: &StatefulSet) -> i32 {
    let value = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.as_ref());
    crate::intstr::scaled_value(value, replicas(set), true, "1").max(1)
}

fn min_ready_seconds(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

fn deleting(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn running_and_ready(pod: &Pod) -> bool {
    pods::phase(pod) == "Running" && pods::is_ready(pod)
}

/// Running, ready for minReadySeconds, and not being deleted.
pub fn is_healthy(pod: &Pod, min_ready: i32, now: Timestamp) -> bool {
    !deleting(pod) && running_and_ready(pod) && pods::is_available(pod, min_ready, now)
}

/// The identity labels a pod of `ordinal` carries.
fn identity_labels(set: &str, ordinal: i32) -> [(&'static str, String); 2] {
    [
        (POD_NAME_LABEL, pod_name(set, ordinal)),
        (POD_INDEX_LABEL, ordinal.to_string()),
    ]
}

/// Whether the pod carries its identity labels.
pub fn identity_matches(set: &str, ordinal: i32, pod: &Pod) -> bool {
    let labels = rkube_api::labels::pod_labels(pod);
    identity_labels(set, ordinal)
        .iter()
        .all(|(k, v)| labels.get(*k) == Some(v))
}

/// The pod of `ordinal` from `template` (of revision `revision`): named `<set>-<n>`, with the
/// identity and revision labels, hostname and subdomain, and its claims as volumes.
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, ordinal: i32, revision: &str) -> Pod {
    let name = set_name(set);
    let ns = set.metadata.namespace.as_deref().unwrap_or("");
    let owner = controller_ref("apps/v1", "StatefulSet", &set.metadata);
    let mut pod = pods::from_template(template, ns, name, owner);
    let meta: &mut ObjectMeta = &mut pod.metadata;
    meta.generate_name = None;
    meta.name = Some(pod_name(name, ordinal));
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    for (k, v) in identity_labels(name, ordinal) {
        labels.insert(k.to_owned(), v);
    }
    labels.insert(HASH_LABEL.to_owned(), revision.to_owned());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(pod_name(name, ordinal));
    if let Some(service) = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.as_deref())
        .filter(|s| !s.is_empty())
    {
        spec.subdomain = Some(service.to_owned());
    }
    super::claims::add_volumes(set, ordinal, spec);
    pod
}

/// One step of a sync, in the order they are taken.
#[derive(Debug, Clone)]
pub enum Step {
    /// Create the pod of this ordinal (its claims first), of the update revision or not.
    Create {
        /// The ordinal.
        ordinal: i32,
        /// Whether it gets the update revision (else the current one).
        update: bool,
    },
    /// Delete a pod: failed, condemned by a scale-down, or replaced by the update.
    Delete(Arc<Pod>),
    /// Put the identity labels back on a pod.
    Relabel {
        /// The ordinal.
        ordinal: i32,
        /// The pod.
        pod: Arc<Pod>,
    },
}

/// A set's pods split by ordinal: those in range and those to scale down (highest first).
pub struct Members {
    /// Pods with an ordinal in `[start, start + replicas)`.
    pub in_range: BTreeMap<i32, Arc<Pod>>,
    /// Pods with an ordinal beyond, highest ordinal first.
    pub condemned: Vec<(i32, Arc<Pod>)>,
}

/// Sorts the set's pods by ordinal; pods not named `<set>-<n>` are left out.
pub fn members(set: &StatefulSet, pods: &[Arc<Pod>]) -> Members {
    let (start, end) = (start_ordinal(set), start_ordinal(set) + replicas(set));
    let mut in_range = BTreeMap::new();
    let mut condemned = Vec::new();
    for pod in pods {
        let Some(ordinal) = ordinal_of(set_name(set), pod.metadata.name.as_deref().unwrap_or(""))
        else {
            continue;
        };
        if (start..end).contains(&ordinal) {
            in_range.insert(ordinal, pod.clone());
        } else {
            condemned.push((ordinal, pod.clone()));
        }
    }
    condemned.sort_by_key(|c| std::cmp::Reverse(c.0));
    Members {
        in_range,
        condemned,
    }
}

/// The steps of one sync (upstream's `updateStatefulSet`): missing pods are created and
/// failed ones replaced, then pods beyond the replicas deleted from the highest ordinal, then
/// (RollingUpdate) pods at or above the partition not of `update_revision` deleted from the
/// highest ordinal within maxUnavailable, to come back with the new template. With
/// OrderedReady, the first step that must wait for a pod ends the list.
pub fn plan(
    set: &StatefulSet,
    pods: &[Arc<Pod>],
    update_revision: &str,
    now: Timestamp,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let ordered = !is_parallel(set);
    let min_ready = min_ready_seconds(set);
    let healthy = |p: &Pod| is_healthy(p, min_ready, now);
    let (start, end) = (start_ordinal(set), start_ordinal(set) + replicas(set));
    let m = members(set, pods);
    let first_unhealthy = (start..end)
        .find(|o| m.in_range.get(o).is_none_or(|p| !healthy(p)))
        .map(|o| m.in_range.get(&o).cloned())
        .or_else(|| {
            m.condemned
                .iter()
                .rev()
                .find(|(_, p)| !healthy(p))
                .map(|(_, p)| Some(p.clone()))
        })
        .flatten();
    let rolling = is_rolling(set);
    let partition_ordinal = start + partition(set);
    for ordinal in start..end {
        let Some(pod) = m.in_range.get(&ordinal) else {
            let update = !rolling || ordinal >= partition_ordinal;
            steps.push(Step::Create { ordinal, update });
            if ordered {
                return steps;
            }
            continue;
        };
        if pods::is_terminated(pod) && !deleting(pod) {
            steps.push(Step::Delete(pod.clone()));
            if ordered {
                return steps;
            }
            continue;
        }
        if deleting(pod) || !healthy(pod) {
            if ordered {
                return steps;
            }
            continue;
        }
        if !identity_matches(set_name(set), ordinal, pod) {
            steps.push(Step::Relabel {
                ordinal,
                pod: pod.clone(),
            });
        }
    }
    for (_, pod) in &m.condemned {
        if deleting(pod) {
            if ordered {
                return steps;
            }
            continue;
        }
        let is_first_unhealthy = first_unhealthy
            .as_ref()
            .is_some_and(|f| f.metadata.name == pod.metadata.name);
        if ordered && !healthy(pod) && !is_first_unhealthy {
            return steps;
        }
        steps.push(Step::Delete(pod.clone()));
        if ordered {
            return steps;
        }
    }
    if !rolling {
        return steps;
    }
    let budget = max_unavailable(set);
    let mut unavailable = (start..end)
        .filter(|o| m.in_range.get(o).is_none_or(|p| !healthy(p)))
        .count() as i32;
    for ordinal in (partition_ordinal.max(start)..end).rev() {
        let Some(pod) = m.in_range.get(&ordinal) else {
            continue;
        };
        if revision_of(pod) != update_revision && !deleting(pod) {
            if unavailable >= budget {
                break;
            }
            if healthy(pod) {
                unavailable += 1;
            }
            steps.push(Step::Delete(pod.clone()));
        }
    }
    steps
}

/// The set's status with these pods (upstream's `computeReplicaStatus` and completed
/// rolling updates making the update revision current).
pub fn status(
    set: &StatefulSet,
    pods: &[Arc<Pod>],
    current_revision: &str,
    update_revision: &str,
    collision_count: i32,
    now: Timestamp,
) -> StatefulSetStatus {
    let min_ready = min_ready_seconds(set);
    let m = members(set, pods);
    let all = m
        .in_range
        .values()
        .chain(m.condemned.iter().map(|(_, p)| p));
    let (mut count, mut ready, mut available, mut current, mut updated) = (0, 0, 0, 0, 0);
    for pod in all {
        count += 1;
        if deleting(pod) {
            continue;
        }
        if running_and_ready(pod) {
            ready += 1;
            if pods::is_available(pod, min_ready, now) {
                available += 1;
            }
        }
        if revision_of(pod) == current_revision {
            current += 1;
        }
        if revision_of(pod) == update_revision {
            updated += 1;
        }
    }
    let mut current_revision = current_revision.to_owned();
    if is_rolling(set) && updated == count && ready == count {
        current_revision = update_revision.to_owned();
        current = updated;
    }
    let old = set.status.clone().unwrap_or_default();
    let some = |n: i32| (n > 0).then_some(n);
    StatefulSetStatus {
        replicas: count,
        ready_replicas: some(ready),
        available_replicas: some(available),
        current_replicas: some(current),
        updated_replicas: some(updated),
        current_revision: Some(current_revision),
        update_revision: Some(update_revision.to_owned()),
        observed_generation: set.metadata.generation,
        collision_count: (collision_count > 0).then_some(collision_count),
        conditions: old.conditions,
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
