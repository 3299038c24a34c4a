//! The ReplicaSet controller: keeps `spec.replicas` pods from the template running, adopting
//! matching orphans and releasing pods that stop matching, deletes the least valuable pods
//! first, creates in slow-start batches, and reports replicas, fullyLabeledReplicas,
//! readyReplicas and availableReplicas.

use crate::claim::{Owner, claim};
use crate::events::{EventType, Recorder};
use crate::expectations::Expectations;
use crate::informer::{Change, Informer, key_of, split_key};
use crate::owned_pods::PodRouter;
use crate::pods::{self, controller_ref};
use crate::queue::WorkQueue;
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams};
use rkube_api::labels::{Labels, Selector};
use std::sync::Arc;
use std::time::Duration;

/// At most this many pods are created or deleted in one sync (upstream's burstReplicas).
pub const BURST_REPLICAS: usize = 500;

/// The ReplicaSet controller's state.
pub struct ReplicaSets {
    client: kube::Client,
    sets: Informer<ReplicaSet>,
    pods: Informer<Pod>,
    expectations: Expectations,
    events: Recorder,
}

fn rs_selector(rs: &ReplicaSet) -> Result<Selector, crate::Error> {
    let selector = rs.spec.as_ref().map(|s| &s.selector);
    Selector::from_label_selector(selector).map_err(crate::Error::Invalid)
}

fn labels(pod: &Pod) -> &Labels {
    rkube_api::labels::pod_labels(pod)
}

/// The ReplicaSet controller, its informer callbacks registered.
pub fn controller(ctx: &Context) -> Controller {
    let sets = ctx.informers.get::<ReplicaSet>();
    let pods = ctx.informers.get::<Pod>();
    pods.add_index(
        crate::informer::BY_CONTROLLER,
        crate::informer::by_controller::<Pod>,
    );
    let queue = WorkQueue::new();
    let expectations = Expectations::default();
    {
        let queue = queue.clone();
        sets.on_change(move |change| match change {
            Change::Added(rs) | Change::Deleted(rs) => queue.add(key_of(rs.as_ref())),
            Change::Updated { new, .. } => queue.add(key_of(new.as_ref())),
        });
    }
    {
        let router = PodRouter {
            queue: queue.clone(),
            owners: sets.clone(),
            expectations: expectations.clone(),
            kind: "ReplicaSet",
            selector: rs_selector,
            min_ready_seconds: |rs: &ReplicaSet| {
                rs.spec
                    .as_ref()
                    .and_then(|s| s.min_ready_seconds)
                    .unwrap_or(0)
            },
        };
        pods.on_change(move |change| router.on_change(change));
    }
    Controller {
        name: "replicaset",
        queue: queue.clone(),
        workers: ctx.options.workers,
        resync: None,
        tasks: Vec::new(),
        reconciler: Arc::new(ReplicaSets {
            client: ctx.client.clone(),
            sets,
            pods,
            expectations,
            events: ctx.events.for_component("replicaset-controller"),
        }),
    }
}

/// Upstream's ranking of pods to delete: the first ones go first (unassigned before assigned,
/// Pending before Unknown before Running, not ready before ready, ready for less time, more
/// restarts, newer).
pub fn deletion_order(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    fn phase_rank(p: &Pod) -> u8 {
        match pods::phase(p) {
            "Pending" | "" => 0,
            "Unknown" => 1,
            "Running" => 2,
            _ => 3,
        }
    }
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let ready_since = |p: &Pod| pods::ready_since(p).flatten();
    pods::is_assigned(a)
        .cmp(&pods::is_assigned(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| pods::is_ready(a).cmp(&pods::is_ready(b)))
        // Ready more recently goes first.
        .then_with(|| ready_since(b).cmp(&ready_since(a)))
        .then_with(|| pods::restarts(b).cmp(&pods::restarts(a)))
        // Newer goes first.
        .then_with(|| created(b).cmp(&created(a)))
}

/// Runs `create` for `count` items in batches of 1, 2, 4, …, stopping after the first batch
/// with a failure; returns how many were attempted and the first error.
pub async fn slow_start_batch<F, Fut>(count: usize, create: F) -> (usize, Option<kube::Error>)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), kube::Error>>,
{
    let mut attempted = 0;
    let mut batch = 1;
    while attempted < count {
        let size = batch.min(count - attempted);
        let results = futures::future::join_all((0..size).map(|_| create())).await;
        attempted += size;
        if let Some(err) = results.into_iter().find_map(Result::err) {
            return (attempted, Some(err));
        }
        batch *= 2;
    }
    (attempted, None)
}

fn now() -> Timestamp {
    rkube_api::time::now()
}

impl ReplicaSets {
    async fn manage(
        &self,
        key: &str,
        rs: &ReplicaSet,
        active: &[Arc<Pod>],
    ) -> Result<(), crate::Error> {
        let spec = rs.spec.as_ref();
        let want = spec.and_then(|s| s.replicas).unwrap_or(1).max(0) as usize;
        let (ns, name) = split_key(key);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        if active.len() < want {
            let missing = (want - active.len()).min(BURST_REPLICAS);
            let Some(template) = spec.and_then(|s| s.template.as_ref()) else {
                return Ok(());
            };
            let owner = controller_ref("apps/v1", "ReplicaSet", &rs.metadata);
            let pod = pods::from_template(template, ns, name, owner);
            self.expectations.expect(key, missing, []);
            let (attempted, err) = slow_start_batch(missing, || async {
                match api.create(&PostParams::default(), &pod).await {
                    Ok(p) => {
                        self.events.record(
                            rs,
                            EventType::Normal,
                            "SuccessfulCreate",
                            format!("Created pod: {}", p.metadata.name.unwrap_or_default()),
                        );
                        Ok(())
                    }
                    Err(err) => {
                        // Never observed: count it as seen so the expectations can be met.
                        self.expectations.creation_observed(key);
                        Err(err)
                    }
                }
            })
            .await;
            if let Some(err) = err {
                // Never attempted: never observed either.
                for _ in attempted..missing {
                    self.expectations.creation_observed(key);
                }
                self.events.record(
                    rs,
                    EventType::Warning,
                    "FailedCreate",
                    format!("Error creating: {err}"),
                );
                return Err(err.into());
            }
        } else if active.len() > want {
            let excess = (active.len() - want).min(BURST_REPLICAS);
            let mut ranked: Vec<&Arc<Pod>> = active.iter().collect();
            ranked.sort_by(|a, b| deletion_order(a, b));
            let victims: Vec<&Arc<Pod>> = ranked.into_iter().take(excess).collect();
            self.expectations.expect(
                key,
                0,
                victims
                    .iter()
                    .map(|p| p.metadata.uid.clone().unwrap_or_default()),
            );
            let mut first_err = None;
            for pod in victims {
                let pod_name = pod.metadata.name.clone().unwrap_or_default();
                match api.delete(&pod_name, &DeleteParams::default()).await {
                    Ok(_) => self.events.record(
                        rs,
                        EventType::Normal,
                        "SuccessfulDelete",
                        format!("Deleted pod: {pod_name}"),
                    ),
                    Err(err) => {
                        self.expectations
                            .deletion_observed(key, pod.metadata.uid.as_deref().unwrap_or(""));
                        if !matches!(&err, kube::Error::Api(s) if s.code == 404) {
                            self.events.record(
                                rs,
                                EventType::Warning,
                                "FailedDelete",
                                format!("Error deleting: {err}"),
                            );
                            first_err.get_or_insert(err);
                        }
                    }
                }
            }
            if let Some(err) = first_err {
                return Err(err.into());
            }
        }
        Ok(())
    }
}

/// The status a ReplicaSet with these owned, active pods reports.
pub fn compute_status(
    rs: &ReplicaSet,
    active: &[Arc<Pod>],
    failure: Option<(&str, String)>,
) -> ReplicaSetStatus {
    let spec = rs.spec.as_ref();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let template_labels = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let now = now();
    let fully_labeled = active
        .iter()
        .filter(|p| {
            let labels = labels(p);
            template_labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
        })
        .count();
    let ready = active.iter().filter(|p| pods::is_ready(p)).count();
    let available = active
        .iter()
        .filter(|p| pods::is_available(p, min_ready, now))
        .count();
    let old = rs.status.clone().unwrap_or_default();
    let mut conditions: Vec<ReplicaSetCondition> = old
        .conditions
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != "ReplicaFailure")
        .collect();
    if let Some((reason, message)) = failure {
        conditions.push(ReplicaSetCondition {
            type_: "ReplicaFailure".to_owned(),
            status: "True".to_owned(),
            reason: Some(reason.to_owned()),
            message: Some(message),
            last_transition_time: Some(Time(now)),
        });
    }
    // Zero counts are omitted, as upstream's JSON does.
    let some = |n: usize| (n > 0).then_some(n as i32);
    ReplicaSetStatus {
        replicas: active.len() as i32,
        fully_labeled_replicas: some(fully_labeled),
        ready_replicas: some(ready),
        available_replicas: some(available),
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
        terminating_replicas: old.terminating_replicas,
    }
}

#[async_trait::async_trait]
impl Reconciler for ReplicaSets {
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error> {
        let Some(rs) = self.sets.get(key) else {
            self.expectations.forget(key);
            return Ok(None);
        };
        let (ns, _) = split_key(key);
        let selector = rs_selector(&rs)?;
        let needs_sync = self.expectations.satisfied(key);
        let candidates: Vec<Arc<Pod>> = self
            .pods
            .owned_or_orphaned(ns, rs.metadata.uid.as_deref().unwrap_or(""))
            .into_iter()
            .filter(|p| pods::is_active(p))
            .collect();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let owner = Owner {
            meta: &rs.metadata,
            reference: controller_ref("apps/v1", "ReplicaSet", &rs.metadata),
            selector: &selector,
        };
        let active = claim(&api, &owner, candidates).await?;
        let mut failure = None;
        let mut result = Ok(());
        if needs_sync
            && rs.metadata.deletion_timestamp.is_none()
            && let Err(err) = self.manage(key, &rs, &active).await
        {
            let want = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) as usize;
            let reason = if active.len() < want {
                "FailedCreate"
            } else {
                "FailedDelete"
            };
            failure = Some((reason, err.to_string()));
            result = Err(err);
        }
        let status = compute_status(&rs, &active, failure.as_ref().map(|(r, m)| (*r, m.clone())));
        if rs.status.as_ref() != Some(&status) {
            let mut updated = (*rs).clone();
            updated.status = Some(status.clone());
            let sets: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
            let name = rs.metadata.name.clone().unwrap_or_default();
            sets.replace_status(&name, &PostParams::default(), &updated)
                .await?;
        }
        result?;
        let min_ready = rs
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        let want = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        if min_ready > 0
            && status.ready_replicas == Some(want)
            && status.available_replicas != Some(want)
        {
            return Ok(Some(Duration::from_secs(min_ready as u64)));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn least_valuable_pods_go_first() {
        let running_ready = pod(
            json!({"metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": "n", "containers": []},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:10Z"}]}}),
        );
        let running_not_ready = pod(
            json!({"metadata": {"name": "b"}, "spec": {"nodeName": "n", "containers": []},
            "status": {"phase": "Running"}}),
        );
        let pending_assigned = pod(
            json!({"metadata": {"name": "c"}, "spec": {"nodeName": "n", "containers": []},
            "status": {"phase": "Pending"}}),
        );
        let unassigned = pod(
            json!({"metadata": {"name": "d"}, "spec": {"containers": []}, "status": {"phase": "Pending"}}),
        );
        let mut all = [
            &running_ready,
            &running_not_ready,
            &unassigned,
            &pending_assigned,
        ];
        all.sort_by(|a, b| deletion_order(a, b));
        let names: Vec<_> = all
            .iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect();
        assert_eq!(names, ["d", "c", "b", "a"]);
    }

    #[tokio::test]
    async fn slow_start_stops_after_a_failed_batch() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let (attempted, err) = slow_start_batch(20, || {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n == 4 {
                    Err(kube::Error::LinesCodecMaxLineLengthExceeded)
                } else {
                    Ok(())
                }
            }
        })
        .await;
        // Batches 1, 2, 4: the failure is in the third batch.
        assert_eq!(attempted, 7);
        assert!(err.is_some());
        let (attempted, err) = slow_start_batch(5, || async { Ok(()) }).await;
        assert_eq!((attempted, err.is_none()), (5, true));
    }

    #[test]
    fn status_counts_ready_and_available() {
        let rs: ReplicaSet =
            serde_json::from_value(json!({"metadata": {"name": "rs", "generation": 3},
            "spec": {"replicas": 2, "minReadySeconds": 0, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b", "c": "d"}}}}}))
            .unwrap();
        let p1 = Arc::new(pod(
            json!({"metadata": {"name": "p1", "labels": {"a": "b", "c": "d"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        ));
        let p2 = Arc::new(pod(
            json!({"metadata": {"name": "p2", "labels": {"a": "b"}}}),
        ));
        let status = compute_status(&rs, &[p1, p2], None);
        assert_eq!(status.replicas, 2);
        assert_eq!(status.fully_labeled_replicas, Some(1));
        assert_eq!(status.ready_replicas, Some(1));
        assert_eq!(status.available_replicas, Some(1));
        assert_eq!(status.observed_generation, Some(3));
    }
}
