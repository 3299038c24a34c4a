//! The disruption controller ("disruption"): computes every PodDisruptionBudget's status
//! (policy/v1) as upstream does: the pods its selector matches in its namespace, how many
//! are expected (the pods themselves for an integer `minAvailable`, else the summed scale of
//! their controllers), how many must stay healthy, how many are healthy, how many may be
//! disrupted, the still-pending recorded disruptions and the `DisruptionAllowed` condition.
//! When the status cannot be computed (a pod whose controller has no known scale) it still
//! writes that no disruption is allowed, with reason `SyncFailed`.

pub mod budget;

use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informer, key_of};
use crate::pods::controller_of;
use crate::queue::WorkQueue;
use crate::resources::Resolver;
use crate::{Context, Controller, Reconciler};
use budget::Counts;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use rkube_api::labels::{Selector, pod_labels};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Why a budget's status could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The budget's selector is invalid.
    #[error("invalid selector: {0}")]
    Selector(String),
    /// A matched pod has a controller whose scale is unknown.
    #[error("found no controllers for pod {0:?}")]
    NoController(String),
    /// An API call failed.
    #[error("{0}")]
    Api(#[from] kube::Error),
}

impl SyncError {
    /// Whether this is a write conflict (retried without the fail-safe status).
    fn is_conflict(&self) -> bool {
        matches!(self, SyncError::Api(kube::Error::Api(s)) if s.code == 409)
    }
}

impl From<SyncError> for crate::Error {
    fn from(err: SyncError) -> crate::Error {
        match err {
            SyncError::Api(err) => crate::Error::Api(err),
            other => crate::Error::Invalid(other.to_string()),
        }
    }
}

/// The controller's state; keys are budgets' `namespace/name`.
pub struct Disruption {
    client: kube::Client,
    budgets: Informer<PodDisruptionBudget>,
    pods: Informer<Pod>,
    replica_sets: Informer<ReplicaSet>,
    deployments: Informer<Deployment>,
    stateful_sets: Informer<StatefulSet>,
    resolver: Resolver,
    events: Recorder,
}

/// The budget's pod selector (`None` selects no pod, an empty one every pod of the
/// namespace, as policy/v1 has it).
fn selector(pdb: &PodDisruptionBudget) -> Result<Selector, String> {
    Selector::from_label_selector(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()))
}

/// The keys of the budgets of the pod's namespace whose selector matches it.
fn budgets_of(budgets: &Informer<PodDisruptionBudget>, pod: &Pod) -> Vec<String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let labels = pod_labels(pod);
    budgets
        .list_namespace(ns)
        .iter()
        .filter(|b| selector(b).is_ok_and(|s| s.matches(labels)))
        .map(|b| key_of(b.as_ref()))
        .collect()
}

/// Enqueues the budgets of `ns` whose expected count is their pods' controllers' scale.
fn enqueue_scaled(budgets: &Informer<PodDisruptionBudget>, queue: &WorkQueue, ns: &str) {
    for pdb in budgets.list_namespace(ns) {
        if budget::uses_scale(pdb.spec.as_ref()) {
            queue.add(key_of(pdb.as_ref()));
        }
    }
}

/// Calls [`enqueue_scaled`] when a controller appears, goes, or changes its replicas or its
/// own controller (what the scale of its pods' budgets is computed from).
fn on_controller_change<K: kube::Resource>(
    budgets: &Informer<PodDisruptionBudget>,
    queue: &WorkQueue,
    change: Change<'_, K>,
    replicas: fn(&K) -> Option<i32>,
) {
    if let Change::Updated { old, new } = &change {
        let (before, after): (&K, &K) = (old, new);
        let owner = |o: &K| controller_of(o.meta()).map(|r| r.uid.clone());
        if replicas(before) == replicas(after) && owner(before) == owner(after) {
            return;
        }
    }
    let ns = change.object().meta().namespace.as_deref().unwrap_or("");
    enqueue_scaled(budgets, queue, ns);
}

/// The controller, its informer callbacks registered: budgets on their own changes and on
/// those of the pods they select; budgets that use controllers' scale on changes of
/// ReplicaSets, Deployments and StatefulSets.
pub fn controller(ctx: &Context) -> Controller {
    let budgets = ctx.informers.get::<PodDisruptionBudget>();
    let pods = ctx.informers.get::<Pod>();
    let replica_sets = ctx.informers.get::<ReplicaSet>();
    let deployments = ctx.informers.get::<Deployment>();
    let stateful_sets = ctx.informers.get::<StatefulSet>();
    let queue = WorkQueue::new();
    {
        let queue = queue.clone();
        budgets.on_change(move |change| {
            queue.add(key_of(change.object().as_ref()));
        });
    }
    {
        let (queue, budgets) = (queue.clone(), budgets.clone());
        pods.on_change(move |change| {
            let mut keys = budgets_of(&budgets, change.object());
            if let Change::Updated { old, new } = &change
                && old.metadata.labels != new.metadata.labels
            {
                keys.extend(budgets_of(&budgets, old));
            }
            for key in keys {
                queue.add(key);
            }
        });
    }
    {
        let (queue, budgets) = (queue.clone(), budgets.clone());
        replica_sets.on_change(move |change| {
            on_controller_change(&budgets, &queue, change, |rs: &ReplicaSet| {
                rs.spec.as_ref().and_then(|s| s.replicas)
            })
        });
    }
    {
        let (queue, budgets) = (queue.clone(), budgets.clone());
        deployments.on_change(move |change| {
            on_controller_change(&budgets, &queue, change, |d: &Deployment| {
                d.spec.as_ref().and_then(|s| s.replicas)
            })
        });
    }
    {
        let (queue, budgets) = (queue.clone(), budgets.clone());
        stateful_sets.on_change(move |change| {
            on_controller_change(&budgets, &queue, change, |s: &StatefulSet| {
                s.spec.as_ref().and_then(|s| s.replicas)
            })
        });
    }
    Controller {
        name: "disruption",
        queue,
        workers: ctx.options.workers,
        resync: None,
        tasks: Vec::new(),
        reconciler: Arc::new(Disruption {
            client: ctx.client.clone(),
            budgets,
            pods,
            replica_sets,
            deployments,
            stateful_sets,
            resolver: Resolver::new(ctx.client.clone()),
            events: ctx.events.for_component("controllermanager"),
        }),
    }
}

/// Whether `r` refers to `kind` in one of `groups`.
fn refers_to(r: &OwnerReference, kind: &str, groups: &[&str]) -> bool {
    let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    r.kind == kind && groups.contains(&group)
}

/// Whether the cached object is the one `r` refers to (same uid).
fn same<K: kube::Resource>(obj: Option<Arc<K>>, r: &OwnerReference) -> Option<Arc<K>> {
    obj.filter(|o| o.meta().uid.as_deref() == Some(r.uid.as_str()))
}

/// A controller found for a pod: its uid and its desired replicas.
type Scale = (String, i32);

fn uid_of(meta: &ObjectMeta) -> String {
    meta.uid.clone().unwrap_or_default()
}

impl Disruption {
    /// The controller a pod's controller reference leads to and its scale, tried as upstream's
    /// finders are: a ReplicaSet's Deployment, a ReplicaSet not controlled by a Deployment, a
    /// StatefulSet, then any other kind's `scale` subresource.
    async fn find_scale(&self, r: &OwnerReference, ns: &str) -> Result<Option<Scale>, SyncError> {
        if refers_to(r, "ReplicaSet", &["apps", "extensions"]) {
            let Some(rs) = same(self.replica_sets.get_in(ns, &r.name), r) else {
                return Ok(None);
            };
            return Ok(match controller_of(&rs.metadata) {
                Some(d) if d.kind == "Deployment" => {
                    if !refers_to(d, "Deployment", &["apps", "extensions"]) {
                        return Ok(None);
                    }
                    same(self.deployments.get_in(ns, &d.name), d).map(|d| {
                        let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                        (uid_of(&d.metadata), replicas)
                    })
                }
                _ => {
                    let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    Some((uid_of(&rs.metadata), replicas))
                }
            });
        }
        if refers_to(r, "StatefulSet", &["apps"]) {
            return Ok(same(self.stateful_sets.get_in(ns, &r.name), r).map(|s| {
                let replicas = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                (uid_of(&s.metadata), replicas)
            }));
        }
        let api = self.resolver.api(&r.api_version, &r.kind, ns).await?;
        match api.get_scale(&r.name).await {
            Ok(scale) if scale.metadata.uid.as_deref() == Some(r.uid.as_str()) => {
                let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
                Ok(Some((r.uid.clone(), replicas)))
            }
            Ok(_) => Ok(None),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// The summed scale of the pods' controllers (upstream's `getExpectedScale`), and the
    /// names of the pods without a controller (not counted).
    async fn expected_scale(&self, pods: &[Arc<Pod>]) -> Result<(i32, Vec<String>), SyncError> {
        let mut scales: HashMap<String, i32> = HashMap::new();
        let mut unmanaged = Vec::new();
        for pod in pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let Some(r) = controller_of(&pod.metadata) else {
                unmanaged.push(name);
                continue;
            };
            if scales.contains_key(&r.uid) {
                continue;
            }
            let ns = pod.metadata.namespace.as_deref().unwrap_or("");
            let Some((uid, replicas)) = self.find_scale(r, ns).await? else {
                return Err(SyncError::NoController(name));
            };
            scales.insert(uid, replicas);
        }
        Ok((scales.values().sum(), unmanaged))
    }

    /// Computes and writes the budget's status (upstream's `trySync`); returns when to look
    /// again (when a recorded disruption times out).
    async fn try_sync(
        &self,
        pdb: &PodDisruptionBudget,
        now: Timestamp,
    ) -> Result<Option<Duration>, SyncError> {
        let ns = pdb.metadata.namespace.as_deref().unwrap_or("");
        let selector = selector(pdb).map_err(|err| {
            let message = format!("Failed to get pods: {err}");
            self.events
                .record(pdb, EventType::Warning, "NoPods", message);
            SyncError::Selector(err)
        })?;
        let pods: Vec<Arc<Pod>> = self
            .pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| selector.matches(pod_labels(p)))
            .collect();
        let spec = pdb.spec.as_ref();
        let mut unmanaged = Vec::new();
        let counted = if budget::uses_scale(spec) {
            let (scale, without) = self.expected_scale(&pods).await.inspect_err(|err| {
                self.events.record(
                    pdb,
                    EventType::Warning,
                    "CalculateExpectedPodCountFailed",
                    format!("Failed to calculate the number of expected pods: {err}"),
                );
            })?;
            unmanaged = without;
            Some(scale)
        } else {
            None
        };
        let (expected, desired_healthy) = budget::expected_and_desired(spec, pods.len(), || {
            Ok::<_, SyncError>(counted.unwrap_or(0))
        })?;
        let (disrupted, recheck) = budget::still_disrupted(
            &pods,
            pdb.status.as_ref().and_then(|s| s.disrupted_pods.as_ref()),
            now,
        );
        let counts = Counts {
            current_healthy: budget::healthy(&pods, &disrupted, now),
            desired_healthy,
            expected,
            disrupted,
        };
        if let Some(status) = budget::new_status(pdb, counts, now) {
            // Upstream records these on every sync; here only when the status changes, as
            // these events are not aggregated.
            if pods.is_empty() {
                let message = "No matching pods found".to_owned();
                self.events
                    .record(pdb, EventType::Normal, "NoPods", message);
            }
            if !unmanaged.is_empty() {
                tracing::debug!(budget = %key_of(pdb), pods = ?unmanaged, "unmanaged pods");
                let message = format!(
                    "Pods selected by this PodDisruptionBudget have no controller ({}), so its \
                     status cannot account for them; an integer .spec.minAvailable counts them",
                    unmanaged.join(", ")
                );
                self.events
                    .record(pdb, EventType::Warning, "UnmanagedPods", message);
            }
            self.write_status(pdb, status).await?;
        }
        Ok(recheck.map(|at| now.duration_until(at).unsigned_abs()))
    }

    /// Writes `status` through the budget's `status` subresource (a stale cached copy
    /// conflicts and is retried).
    async fn write_status(
        &self,
        pdb: &PodDisruptionBudget,
        status: PodDisruptionBudgetStatus,
    ) -> Result<(), kube::Error> {
        let ns = pdb.metadata.namespace.as_deref().unwrap_or("");
        let name = pdb.metadata.name.as_deref().unwrap_or("");
        let mut updated = pdb.clone();
        updated.status = Some(status);
        let api: Api<PodDisruptionBudget> = Api::namespaced(self.client.clone(), ns);
        api.replace_status(name, &PostParams::default(), &updated)
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Reconciler for Disruption {
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error> {
        let Some(pdb) = self.budgets.get(key) else {
            return Ok(None);
        };
        let now = rkube_api::time::now();
        let err = match self.try_sync(&pdb, now).await {
            Ok(recheck) => return Ok(recheck),
            Err(err) if err.is_conflict() => return Err(err.into()),
            Err(err) => err,
        };
        tracing::warn!(budget = %key, %err, "failed to sync a PodDisruptionBudget");
        // Fail safe: at least no disruption is allowed.
        let status = budget::fail_safe_status(&pdb, err.to_string(), now);
        if pdb.status.as_ref() != Some(&status) {
            self.write_status(&pdb, status).await?;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner(api_version: &str, kind: &str) -> OwnerReference {
        serde_json::from_value(json!({"apiVersion": api_version, "kind": kind,
            "name": "x", "uid": "u", "controller": true}))
        .unwrap()
    }

    #[test]
    fn controller_references_are_matched_by_group_and_kind() {
        assert!(refers_to(
            &owner("apps/v1", "ReplicaSet"),
            "ReplicaSet",
            &["apps", "extensions"]
        ));
        assert!(refers_to(
            &owner("extensions/v1beta1", "ReplicaSet"),
            "ReplicaSet",
            &["apps", "extensions"]
        ));
        assert!(!refers_to(
            &owner("v1", "ReplicaSet"),
            "ReplicaSet",
            &["apps"]
        ));
        assert!(!refers_to(
            &owner("apps/v1", "DaemonSet"),
            "StatefulSet",
            &["apps"]
        ));
        assert!(refers_to(
            &owner("v1", "ReplicationController"),
            "ReplicationController",
            &[""]
        ));
    }

    #[test]
    fn budgets_select_pods_of_their_namespace_by_selector() {
        let budgets = Informer::<PodDisruptionBudget>::default();
        let pdb = |name: &str, ns: &str, spec: serde_json::Value| {
            serde_json::from_value::<PodDisruptionBudget>(
                json!({"metadata": {"name": name, "namespace": ns, "resourceVersion": "1"},
                "spec": spec}),
            )
            .unwrap()
        };
        budgets.insert_for_test(pdb(
            "web",
            "a",
            json!({"selector": {"matchLabels": {"app": "web"}}}),
        ));
        budgets.insert_for_test(pdb("all", "a", json!({"selector": {}})));
        budgets.insert_for_test(pdb("none", "a", json!({})));
        budgets.insert_for_test(pdb("other", "b", json!({"selector": {}})));
        let pod: Pod = serde_json::from_value(
            json!({"metadata": {"name": "p", "namespace": "a", "labels": {"app": "web"}}}),
        )
        .unwrap();
        let mut keys = budgets_of(&budgets, &pod);
        keys.sort();
        assert_eq!(keys, ["a/all", "a/web"]);
    }
}
